"""The BM25 sparse encoder: Qdrant Edge's `Bm25` (tokenising, stemming, stopwords), used in both index modes."""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol


class SparseEmbedding(Protocol):
    """Term ids and their weights (Qdrant applies the IDF at query time)."""

    indices: Sequence[int]
    values: Sequence[float]


class SparseEncoder(Protocol):
    """Turns a document or a query into BM25 term weights of one shared vocabulary."""

    def embed_document(self, text: str) -> SparseEmbedding: ...
    def embed_query(self, text: str) -> SparseEmbedding: ...
    def search_query(self, text: str) -> SparseEmbedding:
        text = singular_acronyms(text)
        query = self._bm25.embed_query(text)
        terms = dict(zip(query.indices, query.values, strict=True))
        if plurals := " ".join(f"{word}s" for word in _ACRONYM.findall(text)):
            twins = self._bm25.embed_query(plurals)
            for index, value in zip(twins.indices, twins.values, strict=True):
                terms.setdefault(index, value)
        return Terms(list(terms), list(terms.values()))


def sparse_encoder() -> SparseEncoder:
    """Qdrant Edge's BM25 with its default settings (measured better here than bm25s with stopwords), reading
    acronym plurals as their singular."""
    return Bm25Terms()
