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
    def search_query(self, text: str) -> SparseEmbedding: ...


@dataclass(frozen=True)
class Terms:
    indices: list[int]
    values: list[float]


# The stemmer leaves an acronym's plural alone: "LLMs" and "LLM" were two unrelated terms, so "LLM inference"
# matched no abstract that says "LLMs" (most of them). A word with two capitals and a final lowercase "s" is
# read as its singular on both sides: "LLMs", "GANs", "ViTs", "ResNets" -> "LLM", "GAN", "ViT", "ResNet".
_ACRONYM_PLURAL = re.compile(r"(?<![\w-])([A-Z][A-Za-z0-9]*[A-Z][A-Za-z0-9]*?)s(?![\w])")
_ACRONYM = re.compile(r"(?<![\w-])[A-Z][A-Za-z0-9]*[A-Z][A-Za-z0-9]*(?![\w])")


def singular_acronyms(text: str) -> str:
    """The text with each acronym's plural read as its singular ("LLMs" -> "LLM")."""
    return _ACRONYM_PLURAL.sub(r"\1", text)


class Bm25Terms:
    """Qdrant Edge's BM25 reading acronym plurals as their singular (documents and queries alike).

    `search_query` is what the index is searched with: the query's terms plus each acronym's plural, because
    an index ingested before acronyms were read this way stores "LLMs" as it was written.
    """

    def __init__(self) -> None:
        from qdrant_edge import Bm25

        self._bm25 = Bm25()

    def embed_document(self, text: str) -> SparseEmbedding:
        return self._bm25.embed_document(singular_acronyms(text))

    def embed_query(self, text: str) -> SparseEmbedding:
        return self._bm25.embed_query(singular_acronyms(text))

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
