"""Embedded Qdrant Edge: Qdrant's engine in this process, one shard in a folder; one process may open it."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from assistant.core.errors import IndexUnavailable, first_line
from assistant.index.base import (
    DENSE,
    HIT_FIELDS,
    READER_FIELD,
    SPARSE,
    HybridQuery,
    HybridResult,
    IndexPoint,
    PaperLookups,
    ScoredChunk,
    SearchFilter,
    encode_vector,
    translated,
)

MISSING_HINT = "run `assistant ingest FEEDS` first, or point ASSISTANT_DATA_DIR at the folder that holds the index"
# Every field a filter or a per-paper lookup reads: an unindexed field is read from each point's stored payload.
INDEXED_FIELDS = (("paper_id", "Keyword"), ("feed_days", "Integer"), ("has_code", "Bool"))


class EdgeIndex(PaperLookups):
    """Embedded Qdrant Edge shard in a folder; ``create=False`` refuses to start a new, empty one."""

    def __init__(self, path: Path, dim: int, *, create: bool = True) -> None:
        import qdrant_edge as qe

        self._qe, self.path = qe, Path(path)
        self.location = f"the index at {self.path}"
        config = qe.EdgeConfig(
            vectors={DENSE: qe.EdgeVectorParams(size=dim, distance=qe.Distance.Cosine)},
            sparse_vectors={SPARSE: qe.EdgeSparseVectorParams(modifier=qe.Modifier.Idf)},
        )
        exists = (self.path / "wal").exists() or (self.path / "segments").exists()
        if not exists and not create:
            raise IndexUnavailable(f"no index at {self.path}: {MISSING_HINT}")
        try:
            if exists:
                self._shard = qe.EdgeShard.load(str(self.path), config)
            else:
                self.path.mkdir(parents=True, exist_ok=True)
                self._shard = qe.EdgeShard.create(str(self.path), config)
        except Exception as exc:  # Edge raises plain Exception with the OS cause in the text
            raise _open_error(self.path, exc) from exc
        self._upgrade()

    @translated("upgrade its payload indexes")
    def _upgrade(self) -> None:
        """Bring a shard written by an earlier version to today's shape (a no-op on a current one).

        Each step is one WAL-logged operation that only touches what is still missing, so a process
        killed part-way leaves a shard that the next open finishes upgrading.
        """
        qe = self._qe
        indexed = self._shard.info().payload_schema
        for key, schema in INDEXED_FIELDS:
            if key not in indexed:
                self._shard.update(qe.UpdateOperation.create_field_index(key, getattr(qe.PayloadSchemaType, schema)))
        lacking = qe.FieldCondition(key="has_code", is_empty=True)
        if not self._shard.count(qe.CountRequest(exact=True, filter=qe.Filter(must=[lacking]))):
            return
        # The ingest payload's rule, bool(code_url): a stored code_url is a validated link or null, never "".
        no_code = qe.FieldCondition(key="code_url", is_empty=True)
        for has_code, flt in ((True, qe.Filter(must=[lacking], must_not=[no_code])),
                              (False, qe.Filter(must=[lacking, no_code]))):
            self._shard.update(qe.UpdateOperation.set_payload_by_filter(flt, {"has_code": has_code}))

    @translated("store points")
    def upsert(self, points: Sequence[IndexPoint]) -> None:
        qe = self._qe
        batch = [
            qe.Point(p.id, {DENSE: p.dense.tolist(), SPARSE: qe.SparseVector(p.sparse.indices, p.sparse.values)},
                     p.payload)
            for p in points
        ]
        if batch:
            self._shard.update(qe.UpdateOperation.upsert_points(batch))

    @translated("delete a paper")
    def delete_paper(self, paper_id: str) -> None:
        self._shard.update(self._qe.UpdateOperation.delete_points_by_filter(self._paper_filter(paper_id)))

    @translated("search")
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

    @translated("read feed days")
    def feed_days(self) -> list[int]:
        """Every feed day stored (YYYYMMDD, year 0 when unknown), in order; read from the payload index."""
        qe = self._qe
        found = self._shard.facet(qe.FacetRequest(key="feed_days", limit=100_000, exact=True))
        return sorted(int(hit.value) for hit in found.hits)

    @translated("count points")
    def count(self) -> int:
        return self._shard.count(self._qe.CountRequest(exact=True))

    @translated("close")
    def close(self) -> None:
        self._shard.flush()
        self._shard.close()

    @translated("read payloads")
    def _scroll(self, with_payload, flt=None) -> list[dict[str, Any]]:
        qe, rows, offset = self._qe, [], None
        while True:
            records, offset = self._shard.scroll(
                qe.ScrollRequest(limit=512, offset=offset, filter=flt, with_payload=with_payload))
            rows.extend(r.payload or {} for r in records)
            if offset is None:
                return rows

    @translated("store a paper vector")
    def set_paper_vector(self, paper_id: str, vector: np.ndarray) -> None:
        qe = self._qe
        first = qe.Filter(must=[qe.FieldCondition(key="paper_id", match=qe.MatchValue(paper_id)), self._first_chunk()])
        self._shard.update(qe.UpdateOperation.set_payload_by_filter(first, {READER_FIELD: encode_vector(vector)}))

    def _paper_filter(self, paper_id: str):
        qe = self._qe
        return qe.Filter(must=[qe.FieldCondition(key="paper_id", match=qe.MatchValue(paper_id))])

    def _first_chunk(self):
        return self._qe.FieldCondition(key="chunk_index", match=self._qe.MatchValue(0))

    def _first_chunks_filter(self, paper_ids: list[str]):
        qe = self._qe
        return qe.Filter(must=[qe.FieldCondition(key="paper_id", match=qe.MatchAny(paper_ids)), self._first_chunk()])

    def _lacking_vector_filter(self):
        qe = self._qe
        return qe.Filter(must=[self._first_chunk(), qe.FieldCondition(key=READER_FIELD, is_empty=True)])

    def _filter(self, flt: SearchFilter):
        qe = self._qe
        if flt.empty:
            return None
        must: list[Any] = []
        for ranges in flt.day_groups():
            must.append(qe.Filter(should=[qe.FieldCondition(key="feed_days", range=qe.RangeFloat(gte=lo, lte=hi))
                                          for lo, hi in ranges]))
        if flt.min_feeds > 1:
            must.append(qe.FieldCondition(key="feed_days", values_count=qe.ValuesCount(gte=flt.min_feeds)))
        if flt.has_code:
            # Edge 0.9's binding reads a Python bool as an integer (bool subclasses int), so MatchValue(True)
            # looks for has_code == 1 and matches nothing; numpy's bool is no int to it and arrives as a bool.
            must.append(qe.FieldCondition(key="has_code", match=qe.MatchValue(np.True_)))
        return qe.Filter(must=must)


def _open_error(path: Path, exc: Exception) -> IndexUnavailable:
    text = str(exc)
    if "WouldBlock" in text or "lock" in text.lower():
        return IndexUnavailable(
            f"the index at {path} is open in another process (is `assistant serve` running?): "
            "use that server's HTTP API, stop it, or set ASSISTANT_QDRANT_URL to a Qdrant server"
        )
    return IndexUnavailable(f"cannot open the index at {path}: {first_line(exc)}")
