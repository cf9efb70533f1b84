"""Text forms shared by ingest, retrieval and evaluation."""

from __future__ import annotations

import re
import unicodedata

_WHITESPACE_RE = re.compile(r"\s+")


def normalise_title(s: str) -> str:
    """NFKC-normalise, case-fold and collapse whitespace: the form titles are compared in."""
    return _WHITESPACE_RE.sub(" ", unicodedata.normalize("NFKC", s or "").casefold()).strip()


def safe_url(url: str | None) -> str | None:
    """The URL if it is an absolute http(s) link with a host, else None: no javascript:, data: or relative links."""
    from urllib.parse import urlsplit

    text = (url or "").strip()
    if not text or any(ch.isspace() or ord(ch) < 32 for ch in text):
        return None
    try:
        parts = urlsplit(text)
    except ValueError:
        return None
    return text if parts.scheme.lower() in ("http", "https") and parts.hostname else None


def url_host(url: str) -> str:
    """The host a link goes to, shown next to it so a reader sees where a click leads."""
    from urllib.parse import urlsplit

    return urlsplit(url).hostname or ""
