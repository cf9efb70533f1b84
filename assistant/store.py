"""The vector index behind one small interface: embedded Qdrant Edge, or a Qdrant server/cluster.

Both adapters store a named dense vector and a named BM25 sparse vector (IDF applied by Qdrant) per
chunk, with deterministic point ids, and answer one hybrid query: dense and sparse prefetches fused
by weighted RRF, plus the raw per-source scores that the abstention decision needs.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

import numpy as np

from assistant.errors import IndexUnavailable
from assistant.settings import Settings

DENSE, SPARSE = "dense", "bm25"
POINT_NAMESPACE = uuid.UUID("6f1c1c0e-5b0a-4c39-9a43-8f5b7d1f0a11")
# Fields a hit needs; the paper's whole record is not fetched per query.
HIT_FIELDS = ["paper_id", "chunk_index", "title", "text", "feeds", "url", "code_url"]


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
    """Optional restrictions on a search: feed day range (YYYYMMDD, year 0 when unknown), code only."""

    since_day: int | None = None
    until_day: int | None = None
    has_code: bool = False

    @property
    def empty(self) -> bool:
        return self.since_day is None and self.until_day is None and not self.has_code


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
    """What the core needs from a vector store."""

    def upsert(self, points: Sequence[IndexPoint]) -> None: ...
    def delete_paper(self, paper_id: str) -> None: ...
    def paper_hashes(self) -> dict[str, str]: ...
    def paper_chunks(self, paper_id: str) -> list[dict[str, Any]]: ...
    def paper_titles(self) -> dict[str, str]: ...
    def paper_summaries(self) -> list[dict[str, Any]]: ...
    def hybrid_query(self, query: HybridQuery) -> HybridResult: ...
    def count(self) -> int: ...
    def close(self) -> None: ...


def sparse_encoder():
    """Qdrant Edge's BM25 (tokenising, stemming, stopwords) for documents and queries, in both modes."""
    from qdrant_edge import Bm25

    return Bm25()


class _PaperLookups:
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


class EdgeIndex(_PaperLookups):
    """Embedded Qdrant Edge shard in a folder; one process may open it at a time."""

    def __init__(self, path, dim: int) -> None:
        import qdrant_edge as qe

        self._qe = qe
        config = qe.EdgeConfig(
            vectors={DENSE: qe.EdgeVectorParams(size=dim, distance=qe.Distance.Cosine)},
            sparse_vectors={SPARSE: qe.EdgeSparseVectorParams(modifier=qe.Modifier.Idf)},
        )
        try:
            if (path / "wal").exists() or (path / "segments").exists():
                self._shard = qe.EdgeShard.load(str(path), config)
            else:
                path.mkdir(parents=True, exist_ok=True)
                self._shard = qe.EdgeShard.create(str(path), config)
                # Per-paper lookups (re-ingest, deletes) and filters would otherwise scan every point.
                for key, schema in (("paper_id", qe.PayloadSchemaType.Keyword),
                                    ("feed_days", qe.PayloadSchemaType.Integer)):
                    self._shard.update(qe.UpdateOperation.create_field_index(key, schema))
        except Exception as exc:  # Edge raises plain Exception with the OS cause in the text
            raise _edge_open_error(path, exc) from exc

    def upsert(self, points: Sequence[IndexPoint]) -> None:
        qe = self._qe
        batch = [
            qe.Point(p.id, {DENSE: p.dense.tolist(), SPARSE: qe.SparseVector(p.sparse.indices, p.sparse.values)},
                     p.payload)
            for p in points
        ]
        if batch:
            self._shard.update(qe.UpdateOperation.upsert_points(batch))

    def delete_paper(self, paper_id: str) -> None:
        self._shard.update(self._qe.UpdateOperation.delete_points_by_filter(self._paper_filter(paper_id)))

    def hybrid_query(self, query: HybridQuery) -> HybridResult:
        qe = self._qe
        flt = self._filter(query.filter)
        dense_q = qe.Query.Nearest(query.dense.tolist(), using=DENSE)
        sparse_q = qe.Query.Nearest(qe.SparseVector(query.sparse.indices, query.sparse.values), using=SPARSE)
        fused = qe.QueryRequest(
            limit=query.limit,
            prefetches=[qe.Prefetch(limit=query.candidates, query=dense_q, filter=flt),
                        qe.Prefetch(limit=query.candidates, query=sparse_q, filter=flt)],
            query=qe.Fusion.Rrf(k=query.rrf_k, weights=list(query.weights)),
            with_payload=HIT_FIELDS,
        )
        singles = [qe.QueryRequest(limit=query.candidates, query=q, filter=flt, with_payload=HIT_FIELDS)
                   for q in (dense_q, sparse_q)]
        results = self._shard.query_batch(qe.QueryBatchRequest([fused, *singles]))
        fused_r, dense_r, sparse_r = ([ScoredChunk(p.payload or {}, p.score) for p in r] for r in results)
        return HybridResult(fused_r, dense_r, sparse_r)

    def count(self) -> int:
        return self._shard.count(self._qe.CountRequest(exact=True))

    def close(self) -> None:
        self._shard.flush()
        self._shard.close()

    def _scroll(self, with_payload, flt=None) -> list[dict[str, Any]]:
        qe, rows, offset = self._qe, [], None
        while True:
            records, offset = self._shard.scroll(
                qe.ScrollRequest(limit=512, offset=offset, filter=flt, with_payload=with_payload))
            rows.extend(r.payload or {} for r in records)
            if offset is None:
                return rows

    def _paper_filter(self, paper_id: str):
        qe = self._qe
        return qe.Filter(must=[qe.FieldCondition(key="paper_id", match=qe.MatchValue(paper_id))])

    def _filter(self, flt: SearchFilter):
        qe = self._qe
        if flt.empty:
            return None
        must = []
        if flt.since_day is not None or flt.until_day is not None:
            must.append(qe.FieldCondition(key="feed_days", range=qe.RangeFloat(gte=flt.since_day, lte=flt.until_day)))
        # Edge 0.9 never matches MatchValue(True) on a bool field, so "has code" is "code_url is not empty".
        must_not = [qe.FieldCondition(key="code_url", is_empty=True)] if flt.has_code else None
        return qe.Filter(must=must or None, must_not=must_not)


def _edge_open_error(path, exc: Exception) -> IndexUnavailable:
    text = str(exc)
    if "WouldBlock" in text or "lock" in text.lower():
        return IndexUnavailable(
            f"the index at {path} is open in another process (is `assistant serve` running?): "
            "use that server's HTTP API, stop it, or set ASSISTANT_QDRANT_URL to a Qdrant server"
        )
    return IndexUnavailable(f"cannot open the index at {path}: {text.splitlines()[0] if text else exc!r}")


class ServerIndex(_PaperLookups):
    """A Qdrant server or cluster through qdrant-client; any number of processes may share it."""

    def __init__(self, client, collection: str, dim: int) -> None:
        from qdrant_client import models

        self._client, self._m, self._collection = client, models, collection
        try:
            if not client.collection_exists(collection):
                client.create_collection(
                    collection,
                    vectors_config={DENSE: models.VectorParams(size=dim, distance=models.Distance.COSINE)},
                    sparse_vectors_config={SPARSE: models.SparseVectorParams(modifier=models.Modifier.IDF)},
                )
                for key, schema in (("paper_id", "keyword"), ("feed_days", "integer"), ("has_code", "bool")):
                    client.create_payload_index(collection, key, field_schema=schema)
        except Exception as exc:
            raise IndexUnavailable(f"cannot reach the Qdrant server: {str(exc).splitlines()[0]}") from exc

    def upsert(self, points: Sequence[IndexPoint]) -> None:
        m = self._m
        batch = [m.PointStruct(id=p.id, payload=p.payload, vector={
            DENSE: p.dense.tolist(), SPARSE: m.SparseVector(indices=p.sparse.indices, values=p.sparse.values)})
            for p in points]
        if batch:
            self._client.upsert(self._collection, batch, wait=True)

    def delete_paper(self, paper_id: str) -> None:
        selector = self._m.FilterSelector(filter=self._paper_filter(paper_id))
        self._client.delete(self._collection, points_selector=selector)

    def hybrid_query(self, query: HybridQuery) -> HybridResult:
        m = self._m
        flt = self._filter(query.filter)
        sparse = m.SparseVector(indices=query.sparse.indices, values=query.sparse.values)
        prefetch = [m.Prefetch(query=query.dense.tolist(), using=DENSE, limit=query.candidates, filter=flt),
                    m.Prefetch(query=sparse, using=SPARSE, limit=query.candidates, filter=flt)]
        requests = [
            m.QueryRequest(prefetch=prefetch, limit=query.limit, with_payload=HIT_FIELDS,
                           query=m.RrfQuery(rrf=m.Rrf(k=query.rrf_k, weights=list(query.weights)))),
            m.QueryRequest(query=query.dense.tolist(), using=DENSE, limit=query.candidates, filter=flt,
                           with_payload=HIT_FIELDS),
            m.QueryRequest(query=sparse, using=SPARSE, limit=query.candidates, filter=flt, with_payload=HIT_FIELDS),
        ]
        responses = self._client.query_batch_points(self._collection, requests)
        fused, dense, sparse_r = ([ScoredChunk(p.payload or {}, p.score) for p in r.points] for r in responses)
        return HybridResult(fused, dense, sparse_r)

    def count(self) -> int:
        return self._client.count(self._collection, exact=True).count

    def close(self) -> None:
        self._client.close()

    def _scroll(self, with_payload, flt=None) -> list[dict[str, Any]]:
        rows, offset = [], None
        while True:
            records, offset = self._client.scroll(self._collection, scroll_filter=flt, limit=512, offset=offset,
                                                  with_payload=with_payload)
            rows.extend(r.payload or {} for r in records)
            if offset is None:
                return rows

    def _paper_filter(self, paper_id: str):
        m = self._m
        return m.Filter(must=[m.FieldCondition(key="paper_id", match=m.MatchValue(value=paper_id))])

    def _filter(self, flt: SearchFilter):
        m = self._m
        if flt.empty:
            return None
        must: list[Any] = []
        if flt.since_day is not None or flt.until_day is not None:
            must.append(m.FieldCondition(key="feed_days", range=m.Range(gte=flt.since_day, lte=flt.until_day)))
        if flt.has_code:
            must.append(m.FieldCondition(key="has_code", match=m.MatchValue(value=True)))
        return m.Filter(must=must)


def open_index(settings: Settings, dim: int) -> PaperIndex:
    """The server index when ASSISTANT_QDRANT_URL is set, else the embedded Edge shard."""
    if settings.qdrant.url:
        from qdrant_client import QdrantClient

        key = settings.qdrant.api_key.get_secret_value() if settings.qdrant.api_key else None
        client = QdrantClient(url=settings.qdrant.url, api_key=key, timeout=int(settings.qdrant.timeout))
        return ServerIndex(client, settings.qdrant.collection, dim)
    return EdgeIndex(settings.qdrant_path, dim)


def batched(items: Iterable, size: int) -> Iterable[list]:
    batch: list = []
    for item in items:
        batch.append(item)
        if len(batch) == size:
            yield batch
            batch = []
    if batch:
        yield batch
