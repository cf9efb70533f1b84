"""Text forms shared by ingest, retrieval and evaluation."""

from __future__ import annotations

import re
import unicodedata

_WHITESPACE_RE = re.compile(r"\s+")


def normalise_title(s: str) -> str:
    """NFKC-normalise, case-fold and collapse whitespace: the form titles are compared in."""
    return _WHITESPACE_RE.sub(" ", unicodedata.normalize("NFKC", s or "").casefold()).strip()
