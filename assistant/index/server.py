"""A Qdrant server or cluster through qdrant-client (``ASSISTANT_QDRANT_URL``); any number of processes share it."""

from __future__ import annotations

from collections.abc import Sequence
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


class ServerIndex(PaperLookups):
    """A Qdrant server or cluster through qdrant-client; any number of processes may share it."""

    def __init__(self, client, collection: str, dim: int, *, create: bool = True,
                 location: str = "the Qdrant server") -> None:
        from qdrant_client import models

        self._client, self._m, self._collection = client, models, collection
        self.location = location
        try:
            exists = client.collection_exists(collection)
            if not exists and create:
                client.create_collection(
                    collection,
                    vectors_config={DENSE: models.VectorParams(size=dim, distance=models.Distance.COSINE)},
                    sparse_vectors_config={SPARSE: models.SparseVectorParams(modifier=models.Modifier.IDF)},
                )
                for key, schema in (("paper_id", "keyword"), ("feed_days", "integer"), ("has_code", "bool")):
                    client.create_payload_index(collection, key, field_schema=schema)
        except Exception as exc:
            raise IndexUnavailable(f"cannot reach {location}: {first_line(exc)}") from exc
        if not exists and not create:
            raise IndexUnavailable(f"{location} has no collection {collection!r}: run `assistant ingest FEEDS` first")

    @translated("store points")
    def upsert(self, points: Sequence[IndexPoint]) -> None:
        m = self._m
        batch = [m.PointStruct(id=p.id, payload=p.payload, vector={
            DENSE: p.dense.tolist(), SPARSE: m.SparseVector(indices=p.sparse.indices, values=p.sparse.values)})
            for p in points]
        if batch:
            self._client.upsert(self._collection, batch, wait=True)

    @translated("delete a paper")
    def delete_paper(self, paper_id: str) -> None:
        selector = self._m.FilterSelector(filter=self._paper_filter(paper_id))
        self._client.delete(self._collection, points_selector=selector)

    @translated("search")
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

    @translated("read feed days")
    def feed_days(self) -> list[int]:
        """Every feed day stored (YYYYMMDD, year 0 when unknown), in order; a facet over the payload index."""
        found = self._client.facet(self._collection, key="feed_days", limit=100_000, exact=True)
        return sorted(int(hit.value) for hit in found.hits)

    @translated("count points")
    def count(self) -> int:
        return self._client.count(self._collection, exact=True).count

    @translated("close")
    def close(self) -> None:
        self._client.close()

    @translated("read payloads")
    def _scroll(self, with_payload, flt=None) -> list[dict[str, Any]]:
        rows, offset = [], None
        while True:
            records, offset = self._client.scroll(self._collection, scroll_filter=flt, limit=512, offset=offset,
                                                  with_payload=with_payload)
            rows.extend(r.payload or {} for r in records)
            if offset is None:
                return rows

    @translated("store a paper vector")
    def set_paper_vector(self, paper_id: str, vector: np.ndarray) -> None:
        m = self._m
        first = m.Filter(must=[m.FieldCondition(key="paper_id", match=m.MatchValue(value=paper_id)),
                               self._first_chunk()])
        self._client.set_payload(self._collection, {READER_FIELD: encode_vector(vector)},
                                 points=m.FilterSelector(filter=first), wait=True)

    def _paper_filter(self, paper_id: str):
        m = self._m
        return m.Filter(must=[m.FieldCondition(key="paper_id", match=m.MatchValue(value=paper_id))])

    def _first_chunk(self):
        return self._m.FieldCondition(key="chunk_index", match=self._m.MatchValue(value=0))

    def _first_chunks_filter(self, paper_ids: list[str]):
        m = self._m
        return m.Filter(must=[m.FieldCondition(key="paper_id", match=m.MatchAny(any=paper_ids)), self._first_chunk()])

    def _lacking_vector_filter(self):
        m = self._m
        return m.Filter(must=[self._first_chunk(), m.IsEmptyCondition(is_empty=m.PayloadField(key=READER_FIELD))])

    def _filter(self, flt: SearchFilter):
        m = self._m
        if flt.empty:
            return None
        must: list[Any] = []
        for ranges in flt.day_groups():
            must.append(m.Filter(should=[m.FieldCondition(key="feed_days", range=m.Range(gte=lo, lte=hi))
                                         for lo, hi in ranges]))
        if flt.min_feeds > 1:
            must.append(m.FieldCondition(key="feed_days", values_count=m.ValuesCount(gte=flt.min_feeds)))
        if flt.has_code:
            must.append(m.FieldCondition(key="has_code", match=m.MatchValue(value=True)))
        return m.Filter(must=must)
