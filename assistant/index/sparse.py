"""The BM25 sparse encoder: Qdrant Edge's `Bm25` (tokenising, stemming, stopwords), used in both index modes."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol


class SparseEmbedding(Protocol):
    """Term ids and their weights (Qdrant applies the IDF at query time)."""

    indices: Sequence[int]
    values: Sequence[float]


class SparseEncoder(Protocol):
    """Turns a document or a query into BM25 term weights of one shared vocabulary."""

    def embed_document(self, text: str) -> SparseEmbedding: ...
    def embed_query(self, text: str) -> SparseEmbedding: ...


def sparse_encoder() -> SparseEncoder:
    """Qdrant Edge's BM25 with its default settings (measured better here than bm25s with stopwords)."""
    from qdrant_edge import Bm25

    return Bm25()
