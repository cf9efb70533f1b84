"""The Qdrant server adapter, exercised against qdrant-client's in-memory mode with real vectors.

The same ingest and retrieval code runs on it as on the embedded Edge index.
"""

from __future__ import annotations

import pytest
from conftest import write_jsonl
from qdrant_client import QdrantClient

from assistant.answer.retrieve import retrieve_hits
from assistant.core.settings import IngestSettings, RetrievalSettings
from assistant.index.base import HybridQuery, SearchFilter, SparseVec
from assistant.index.server import ServerIndex
from ingest.pipeline import ingest_paths

PAPERS = [
    {"title": "Tidal Kelp Forests as Carbon Sinks", "date": "2024-03-11",
     "abstract": "We measure how much carbon coastal kelp forests take up and bury in deep-sea sediments."},
    {"title": "Glacier Melt Forecasting with Radar", "date": "2024-03-13",
     "abstract": "Ground-penetrating radar surveys let us forecast seasonal glacier melt a month ahead.",
     "code_url": "https://github.com/example/glacier-radar"},
    {"title": "Volcanic Ash Dispersion Models", "date": "2024-03-17",
     "abstract": "We simulate how volcanic ash plumes spread through the atmosphere after large eruptions."},
]


@pytest.fixture
def server_index(tmp_path, embedder, sparse):
    index = ServerIndex(QdrantClient(location=":memory:"), "papers", embedder.dim)
    source = write_jsonl(tmp_path / "papers.jsonl", PAPERS)
    report = ingest_paths([source], index, embedder, sparse, IngestSettings())
    assert report.errors == [] and report.papers_new == len(PAPERS)
    yield index
    index.close()


def search(index, embedder, sparse, query, search_filter=None, weights=None):
    return retrieve_hits(query, index=index, embedder=embedder, sparse=sparse, settings=RetrievalSettings(),
                         search_filter=search_filter, weights=weights)


def test_upserted_points_are_counted_and_hashed_per_paper(server_index):
    hashes = server_index.paper_hashes()
    assert len(hashes) == len(PAPERS) and all(len(h) == 32 for h in hashes.values())
    assert server_index.count() == len(PAPERS)  # short abstracts: one chunk each


def test_hybrid_query_fuses_dense_and_bm25_results(server_index, embedder, sparse):
    found = search(server_index, embedder, sparse, "volcanic ash plumes after eruptions")
    assert found.relevant
    assert found.hits[0].title == "Volcanic Ash Dispersion Models"
    assert {h.title for h in found.hits} == {p["title"] for p in PAPERS}
    top = found.hits[0]
    assert top.dense_score is not None and top.sparse_score is not None and top.fused_score > 0


def test_weighted_fusion_lets_one_source_dominate(server_index, embedder, sparse):
    """Dense points at the kelp paper, BM25 at the ash paper; the weights decide which comes first."""
    dense = embedder.embed(["kelp forests bury carbon"])[0]
    terms = sparse.embed_query("volcanic ash eruptions")
    query_sparse = SparseVec(list(terms.indices), list(terms.values))

    def first_title(weights):
        result = server_index.hybrid_query(HybridQuery(dense=dense, sparse=query_sparse, limit=3, candidates=3,
                                                       weights=weights))
        assert result.dense and result.sparse
        return result.fused[0].payload["title"]

    assert first_title((1.0, 0.0)) == "Tidal Kelp Forests as Carbon Sinks"
    assert first_title((0.0, 1.0)) == "Volcanic Ash Dispersion Models"


def test_filters_restrict_hits_to_code_and_dates(server_index, embedder, sparse):
    with_code = search(server_index, embedder, sparse, "forecasting", SearchFilter(has_code=True))
    assert [h.title for h in with_code.hits] == ["Glacier Melt Forecasting with Radar"]
    since = search(server_index, embedder, sparse, "forecasting", SearchFilter(since_day=20240313))
    assert {h.title for h in since.hits} == {"Glacier Melt Forecasting with Radar", "Volcanic Ash Dispersion Models"}


def test_delete_paper_removes_its_points_from_search_and_hashes(server_index, embedder, sparse):
    ash = next(pid for pid, _ in server_index.paper_hashes().items()
               if server_index.paper_chunks(pid)[0]["title"] == "Volcanic Ash Dispersion Models")
    server_index.delete_paper(ash)
    assert ash not in server_index.paper_hashes()
    assert server_index.paper_chunks(ash) == []
    assert server_index.count() == len(PAPERS) - 1
    found = search(server_index, embedder, sparse, "volcanic ash plumes after eruptions")
    assert ash not in {h.paper_id for h in found.hits}


def test_reingest_into_server_index_updates_in_place(server_index, embedder, sparse, tmp_path):
    same = ingest_paths([tmp_path / "papers.jsonl"], server_index, embedder, sparse, IngestSettings())
    assert (same.papers_new, same.papers_updated, same.papers_unchanged) == (0, 0, len(PAPERS))
    source = write_jsonl(tmp_path / "again.jsonl", PAPERS)
    again = ingest_paths([source], server_index, embedder, sparse, IngestSettings())
    # Another file is another sighting of the same papers: an update in place, never a second copy.
    assert (again.papers_new, again.papers_updated) == (0, len(PAPERS))
    assert server_index.count() == len(PAPERS)
