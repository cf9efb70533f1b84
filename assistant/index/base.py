"""The index's vocabulary: points, queries, filters, results, and the `PaperIndex` protocol both adapters meet.

Both adapters (`edge.EdgeIndex`, `server.ServerIndex`) store a named dense vector and a named BM25 sparse
vector (IDF applied by Qdrant) per chunk, with deterministic point ids, and answer one hybrid query:
dense and sparse prefetches fused by weighted RRF, plus the raw per-source scores that the abstention
decision needs. Every error of the engine underneath leaves an adapter as `IndexUnavailable`.
"""

from __future__ import annotations

import base64
import functools
import uuid
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol, TypeVar

import numpy as np

from assistant.core.errors import AssistantError, IndexUnavailable, first_line

DENSE, SPARSE = "dense", "bm25"
POINT_NAMESPACE = uuid.UUID("6f1c1c0e-5b0a-4c39-9a43-8f5b7d1f0a11")
# Fields a hit needs; the paper's whole record is not fetched per query.
HIT_FIELDS = ["paper_id", "chunk_index", "title", "text", "feeds", "url", "code_url"]
# Chunk 0's payload carries the paper reader's vector of title + abstract (float16, base64: 2 KB for 768-d).
# A payload field, not a named vector, so an index written before it needs no new schema: `assistant ingest`
# fills it in for the papers that lack it. The field is named by the model's build recipe, so vectors of an
# older build (recipe 1's were wrong on CPUs without AVX-512 VNNI) are left unread and replaced by the next ingest.
READER_RECIPE = 2  # the build recipe of `assistant.index.mpnet_build` (see RECIPE there)
READER_FIELD = f"paper_vector_r{READER_RECIPE}"


def encode_vector(vector: np.ndarray) -> str:
    return base64.b64encode(np.asarray(vector, dtype="<f2").tobytes()).decode("ascii")


def decode_vector(text: str) -> np.ndarray:
    return np.frombuffer(base64.b64decode(text), dtype="<f2").astype(np.float32)


def point_id(paper_id: str, chunk_index: int) -> str:
    """Deterministic id, so re-ingest overwrites in place and parallel ingest shards never collide."""
    return str(uuid.uuid5(POINT_NAMESPACE, f"{paper_id}#{chunk_index}"))


@dataclass
class SparseVec:
    indices: list[int]
    values: list[float]


@dataclass
class IndexPoint:
    id: str
    dense: np.ndarray
    sparse: SparseVec
    payload: dict[str, Any]


@dataclass
class SearchFilter:
    """Optional restrictions on a search: a feed-day range, named feed days, code only.

    Days are YYYYMMDD, with year 0 when the feed gave none ('Mar 13' is 313). A bound with a year also
    matches yearless feeds by month and day, and a yearless bound matches dated feeds of every year in
    ``years`` (the collection's, filled in by the engine), so '--since 2024-03-13' finds the 'Mar 13' feed.
    """

    since_day: int | None = None
    until_day: int | None = None
    has_code: bool = False
    days: tuple[int, ...] = ()  # a paper seen on any of these feed days passes (a named feed: "the Mar 13 feed")
    all_days: tuple[int, ...] = ()  # ... seen on every one of these ("in both the Mar 13 and Mar 17 feeds")
    min_feeds: int = 0  # ... seen on at least this many feed days ("in at least four feeds")
    years: tuple[int, ...] = ()

    @property
    def empty(self) -> bool:
        return (self.since_day is None and self.until_day is None and not self.has_code and not self.days
                and not self.all_days and self.min_feeds < 2)

    def day_groups(self) -> list[list[tuple[int, int]]]:
        """Stored-day ranges a paper's ``feed_days`` must meet: any range of each group, every group."""
        groups = []
        if self.since_day is not None or self.until_day is not None:
            groups.append(_span_ranges(self.since_day, self.until_day, self.years))
        if self.days:
            groups.append(sorted({r for day in self.days for r in _span_ranges(day, day, self.years)}))
        groups.extend(_span_ranges(day, day, self.years) for day in self.all_days)
        return groups


FIRST_MD, LAST_MD = 101, 1231


def _span_ranges(lo: int | None, hi: int | None, years: Sequence[int]) -> list[tuple[int, int]]:
    """The stored days from lo to hi (either open), as ranges over yearless and dated days alike."""
    if lo and hi and lo >= 10000 > hi:
        hi += lo // 10000 * 10000  # a yearless bound takes the other bound's year
    elif lo and hi and hi >= 10000 > lo:
        lo += hi // 10000 * 10000
    lo_md, hi_md = (lo % 10000 if lo else FIRST_MD), (hi % 10000 if hi else LAST_MD)
    if lo and hi and lo >= 10000 and hi - lo >= 10000:
        ranges = [(FIRST_MD, LAST_MD)]  # a year or more: every month-day
    elif lo_md <= hi_md:
        ranges = [(lo_md, hi_md)]
    else:  # across the year's end: Dec 20 .. Jan 5
        ranges = [(lo_md, LAST_MD), (FIRST_MD, hi_md)]
    if (lo or 0) >= 10000 or (hi or 0) >= 10000:
        ranges.append((lo or 10000 + FIRST_MD, hi or 99990000 + LAST_MD))
    else:
        for year in sorted(set(years)):
            start = year * 10000
            ranges.append((start + lo_md, start + hi_md) if lo_md <= hi_md
                          else (start + lo_md, start + 10000 + hi_md))
    return ranges


@dataclass
class ScoredChunk:
    payload: dict[str, Any]
    score: float


@dataclass
class HybridResult:
    """Fused chunk ranking plus each source's own scored list (cosine, BM25)."""

    fused: list[ScoredChunk]
    dense: list[ScoredChunk] = field(default_factory=list)
    sparse: list[ScoredChunk] = field(default_factory=list)


@dataclass
class HybridQuery:
    dense: np.ndarray
    sparse: SparseVec
    limit: int
    candidates: int
    weights: tuple[float, float] = (1.0, 1.0)
    rrf_k: int = 60
    filter: SearchFilter = field(default_factory=SearchFilter)


class PaperIndex(Protocol):
    """What the engine needs from a vector store."""

    def upsert(self, points: Sequence[IndexPoint]) -> None: ...
    def delete_paper(self, paper_id: str) -> None: ...
    def paper_hashes(self) -> dict[str, str]: ...
    def paper_chunks(self, paper_id: str) -> list[dict[str, Any]]: ...
    def paper_vectors(self, paper_ids: Sequence[str]) -> dict[str, np.ndarray]: ...
    def papers_without_vectors(self) -> list[str]: ...
    def set_paper_vector(self, paper_id: str, vector: np.ndarray) -> None: ...
    def paper_titles(self) -> dict[str, str]: ...
    def paper_summaries(self) -> list[dict[str, Any]]: ...
    def feed_days(self) -> list[int]: ...
    def hybrid_query(self, query: HybridQuery) -> HybridResult: ...
    def count(self) -> int: ...
    def close(self) -> None: ...



Method = TypeVar("Method", bound=Callable[..., Any])


def translated(action: str) -> Callable[[Method], Method]:
    """Turn any error of the engine under an adapter method into `IndexUnavailable` naming the index and action.

    The adapter's ``location`` says which index failed ("the index at data/qdrant/papers", "the Qdrant
    server at http://..."), so the user sees where to look; the original error stays chained.
    """

    def wrap(method: Method) -> Method:
        @functools.wraps(method)
        def guarded(self, *args, **kwargs):
            try:
                return method(self, *args, **kwargs)
            except AssistantError:
                raise
            except Exception as exc:
                raise IndexUnavailable(f"{self.location} failed to {action}: {first_line(exc)}") from exc

        return guarded  # type: ignore[return-value]

    return wrap


class PaperLookups:
    """Per-paper reads shared by both adapters, on top of their `_scroll` and `_paper_filter`."""

    def paper_hashes(self) -> dict[str, str]:
        return {p["paper_id"]: p["content_hash"] for p in self._scroll(["paper_id", "content_hash"])}

    def paper_titles(self) -> dict[str, str]:
        """paper_id -> title for every paper in the index."""
        return {p["paper_id"]: p["title"] for p in self._scroll(["paper_id", "title"])}

    def paper_summaries(self) -> list[dict[str, Any]]:
        """One {paper_id, title, feeds, code_url} per paper, in id order."""
        rows = self._scroll(["paper_id", "title", "feeds", "code_url"])
        return sorted({r["paper_id"]: r for r in rows}.values(), key=lambda r: r["paper_id"])

    def paper_chunks(self, paper_id: str) -> list[dict[str, Any]]:
        return sorted(self._scroll(True, self._paper_filter(paper_id)), key=lambda p: p["chunk_index"])

    def paper_vectors(self, paper_ids: Sequence[str]) -> dict[str, np.ndarray]:
        """paper_id -> the paper reader's vector, for those of ``paper_ids`` that have one."""
        if not paper_ids:
            return {}
        rows = self._scroll(["paper_id", READER_FIELD], self._first_chunks_filter(list(paper_ids)))
        return {r["paper_id"]: decode_vector(r[READER_FIELD]) for r in rows if r.get(READER_FIELD)}

    def papers_without_vectors(self) -> list[str]:
        """Ids of the stored papers whose reader vector is missing (stored before the reader existed)."""
        return sorted({r["paper_id"] for r in self._scroll(["paper_id"], self._lacking_vector_filter())})


def batched(items: Iterable, size: int) -> Iterable[list]:
    batch: list = []
    for item in items:
        batch.append(item)
        if len(batch) == size:
            yield batch
            batch = []
    if batch:
        yield batch
