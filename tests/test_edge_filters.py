"""Filters on both index adapters (Edge, and qdrant-client for a server): has-code, feed days, named feeds,
feed counts, dated and yearless feeds; and old Edge shards upgraded on open."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import pytest

from assistant.core.models import FeedSighting, Paper
from assistant.index.base import DENSE, SPARSE, HybridQuery, IndexPoint, SearchFilter, SparseVec, point_id
from assistant.index.edge import INDEXED_FIELDS, EdgeIndex
from ingest.pipeline import chunk_payload

DIM = 8
SHARED_TERM = 7  # every point carries it, so the BM25 prefetch can reach every point too
PAPERS = [  # (paper id, code link, feed days as 'Mon D' dates)
    ("t:radar", "https://github.com/example/glacier-radar", ["Mar 13"]),
    ("t:sonar", None, ["Mar 13", "Mar 14"]),
    ("t:lidar", "https://github.com/example/lidar", ["Mar 14"]),
    ("t:tides", None, ["Mar 17"]),
    ("t:ozone", "https://gitlab.com/example/ozone", ["Mar 17", "Mar 18"]),
    ("t:dunes", None, ["Mar 20"]),
]
WITH_CODE = {pid for pid, code, _ in PAPERS if code}
MONTH_DAY = {"Mar 13": 313, "Mar 14": 314, "Mar 17": 317, "Mar 18": 318, "Mar 20": 320}


def _paper(paper_id: str, code_url: str | None, dates: list[str]) -> Paper:
    return Paper(paper_id=paper_id, title=f"Paper {paper_id}", abstract=f"About {paper_id[2:]}.", code_url=code_url,
                 sightings=[FeedSighting(feed="feed", date=d, day=MONTH_DAY[d]) for d in dates])


def _points() -> list[IndexPoint]:
    """One chunk per paper with the payload ingest writes; random unit vectors, a shared and an own BM25 term."""
    rng = np.random.default_rng(0)
    points = []
    for n, (paper_id, code_url, dates) in enumerate(PAPERS):
        paper = _paper(paper_id, code_url, dates)
        dense = rng.normal(size=DIM).astype(np.float32)
        points.append(IndexPoint(point_id(paper_id, 0), dense / np.linalg.norm(dense),
                                 SparseVec([SHARED_TERM, 100 + n], [1.0, 1.0]),
                                 chunk_payload(paper, 0, paper.abstract, 1)))
    return points


def _found(index: EdgeIndex, flt: SearchFilter) -> set[str]:
    """Papers the real hybrid query returns under the filter; the dense and BM25 lists must obey it too."""
    query = HybridQuery(dense=np.ones(DIM, dtype=np.float32) / np.sqrt(DIM), sparse=SparseVec([SHARED_TERM], [1.0]),
                        limit=50, candidates=50, filter=flt)
    result = index.hybrid_query(query)
    fused, dense, sparse = ({c.payload["paper_id"] for c in chunks}
                            for chunks in (result.fused, result.dense, result.sparse))
    assert dense == sparse == fused, "each source list obeys the same filter"
    return fused


@pytest.fixture(params=["edge", "server"])
def index(request, tmp_path):
    with _open(request.param, tmp_path, _points()) as index:
        yield index


@contextmanager
def _open(kind: str, tmp_path: Path, points: list[IndexPoint]):
    if kind == "edge":
        index = EdgeIndex(tmp_path / "papers", DIM)
    else:
        import warnings

        from qdrant_client import QdrantClient

        from assistant.index.server import ServerIndex

        with warnings.catch_warnings():  # local mode ignores payload indexes, and says so
            warnings.simplefilter("ignore", UserWarning)
            index = ServerIndex(QdrantClient(location=":memory:"), "papers", DIM)
    try:
        index.upsert(points)
        yield index
    finally:
        index.close()


def test_has_code_returns_exactly_the_papers_with_a_code_link(index):
    assert _found(index, SearchFilter()) == {pid for pid, _, _ in PAPERS}
    assert _found(index, SearchFilter(has_code=True)) == WITH_CODE


def test_feed_day_range_returns_papers_seen_on_any_day_in_it(index):
    assert _found(index, SearchFilter(since_day=314, until_day=317)) == {"t:sonar", "t:lidar", "t:tides", "t:ozone"}
    assert _found(index, SearchFilter(since_day=318)) == {"t:ozone", "t:dunes"}
    assert _found(index, SearchFilter(until_day=313)) == {"t:radar", "t:sonar"}
    assert _found(index, SearchFilter(since_day=1201, until_day=1231)) == set()


def test_feed_days_and_has_code_together_keep_only_papers_meeting_both(index):
    assert _found(index, SearchFilter(since_day=314, until_day=317, has_code=True)) == {"t:lidar", "t:ozone"}


def test_named_feeds_every_named_feed_and_feed_counts(index):
    assert _found(index, SearchFilter(days=(313, 320))) == {"t:radar", "t:sonar", "t:dunes"}
    assert _found(index, SearchFilter(all_days=(313, 314))) == {"t:sonar"}
    assert _found(index, SearchFilter(min_feeds=2)) == {"t:sonar", "t:ozone"}
    assert _found(index, SearchFilter(days=(317,), min_feeds=2, has_code=True)) == {"t:ozone"}
    assert index.feed_days() == [313, 314, 317, 318, 320]


@pytest.mark.parametrize("kind", ["edge", "server"])
def test_yearless_and_dated_feeds_meet_either_kind_of_bound(kind, tmp_path):
    """A collection with dated feeds (2023 and 2024) read by 'Mar 13', and yearless feeds by 2024-03-13."""
    dated = []
    for n, point in enumerate(_points()):
        year = 2023 if n % 2 else 2024
        point.payload["feed_days"] = [year * 10000 + d for d in point.payload["feed_days"]]
        dated.append(point)
    with _open(kind, tmp_path / "dated", dated) as index:
        assert index.feed_days() == [2023_0313, 2023_0314, 2023_0317, 2023_0320,
                                     2024_0313, 2024_0314, 2024_0317, 2024_0318]
        years = (2023, 2024)
        assert _found(index, SearchFilter(days=(313,), years=years)) == {"t:radar", "t:sonar"}
        assert _found(index, SearchFilter(since_day=317, until_day=318, years=years)) == {"t:tides", "t:ozone"}
        assert _found(index, SearchFilter(since_day=20240317)) == {"t:ozone"}
    with _open(kind, tmp_path / "yearless", _points()) as index:
        assert _found(index, SearchFilter(since_day=20240313, until_day=20240313)) == {"t:radar", "t:sonar"}


def test_every_field_a_filter_reads_is_indexed(tmp_path):
    import qdrant_edge as qe

    EdgeIndex(tmp_path / "papers", DIM).close()
    shard = qe.EdgeShard.load(str(tmp_path / "papers"))
    try:
        schema = shard.info().payload_schema
    finally:
        shard.close()
    assert {"paper_id", "feed_days", "has_code"} <= set(schema)
    assert all(schema[key].data_type == getattr(qe.PayloadSchemaType, kind) for key, kind in INDEXED_FIELDS)


def _write_old_shard(path: Path) -> None:
    """A shard as an earlier version left it: no has_code index, and the first points (with and without a code
    link) stored without a has_code payload."""
    import qdrant_edge as qe

    config = qe.EdgeConfig(vectors={DENSE: qe.EdgeVectorParams(size=DIM, distance=qe.Distance.Cosine)},
                           sparse_vectors={SPARSE: qe.EdgeSparseVectorParams(modifier=qe.Modifier.Idf)})
    path.mkdir(parents=True)
    shard = qe.EdgeShard.create(str(path), config)
    for key, schema in (("paper_id", qe.PayloadSchemaType.Keyword), ("feed_days", qe.PayloadSchemaType.Integer)):
        shard.update(qe.UpdateOperation.create_field_index(key, schema))
    batch = []
    for n, p in enumerate(_points()):
        payload = {k: v for k, v in p.payload.items() if k != "has_code" or n >= 4}
        vectors = {DENSE: p.dense.tolist(), SPARSE: qe.SparseVector(p.sparse.indices, p.sparse.values)}
        batch.append(qe.Point(p.id, vectors, payload))
    shard.update(qe.UpdateOperation.upsert_points(batch))
    shard.flush()
    shard.close()


def _lacking_has_code(path: Path) -> set[str]:
    import qdrant_edge as qe

    shard = qe.EdgeShard.load(str(path))
    try:
        lacking = qe.Filter(must=[qe.FieldCondition(key="has_code", is_empty=True)])
        records, _ = shard.scroll(qe.ScrollRequest(limit=100, filter=lacking, with_payload=["paper_id"]))
        return {r.payload["paper_id"] for r in records}
    finally:
        shard.close()


def _stored_has_code(index: EdgeIndex) -> dict[str, bool | None]:
    return {row["paper_id"]: row.get("has_code") for row in index._scroll(["paper_id", "has_code"])}


def test_shard_from_the_previous_version_is_upgraded_on_open(tmp_path):
    path = tmp_path / "papers"
    _write_old_shard(path)
    index = EdgeIndex(path, DIM, create=False)
    try:
        assert _stored_has_code(index) == {pid: pid in WITH_CODE for pid, _, _ in PAPERS}
        assert _found(index, SearchFilter(has_code=True)) == WITH_CODE
        assert _found(index, SearchFilter(since_day=317, has_code=True)) == {"t:ozone"}
    finally:
        index.close()
    index = EdgeIndex(path, DIM, create=False)  # a second open finds nothing left to do
    try:
        assert index.count() == len(PAPERS)
        assert _found(index, SearchFilter(has_code=True)) == WITH_CODE
    finally:
        index.close()


# Opens the old shard with the real EdgeIndex, but SIGKILLs itself the moment the upgrade starts its second
# payload backfill: the first backfill is in the WAL, the second never happens, nothing is flushed or closed.
KILLED_UPGRADE = textwrap.dedent("""
    import os, signal, sys, types
    import qdrant_edge as qe
    from assistant.index.edge import EdgeIndex

    real, calls = qe.UpdateOperation, []

    def set_payload_by_filter(*args, **kwargs):
        calls.append(1)
        if len(calls) == 2:
            os.kill(os.getpid(), signal.SIGKILL)
        return real.set_payload_by_filter(*args, **kwargs)

    ops = {name: getattr(real, name) for name in dir(real) if not name.startswith("_")}
    qe.UpdateOperation = types.SimpleNamespace(**{**ops, "set_payload_by_filter": set_payload_by_filter})
    EdgeIndex(sys.argv[1], int(sys.argv[2]), create=False)
""")


def test_upgrade_killed_part_way_is_finished_by_the_next_open(tmp_path):
    path = tmp_path / "papers"
    _write_old_shard(path)
    killed = subprocess.run([sys.executable, "-c", KILLED_UPGRADE, str(path), str(DIM)],
                            capture_output=True, text=True, cwd=Path(__file__).resolve().parents[1], timeout=120)
    assert killed.returncode == -9, killed.stderr
    assert _lacking_has_code(path) == {"t:sonar", "t:tides"}, "killed after the first backfill, before the second"
    index = EdgeIndex(path, DIM, create=False)
    try:
        assert _stored_has_code(index) == {pid: pid in WITH_CODE for pid, _, _ in PAPERS}
        assert _found(index, SearchFilter(has_code=True)) == WITH_CODE
    finally:
        index.close()
