#!/usr/bin/env python
"""Does llama-index's QdrantVectorStore hybrid mode, fed Qdrant Edge's BM25, retrieve as well as our path?

    python bench/llamaindex_hybrid.py [--dataset evals/datasets/dev.jsonl] [--no-diagnostics]

Both sides index the same 301 seed papers, chunked by ``ingest.chunking.chunk_paper`` and embedded with
the same ``MiniLMEmbedder`` in the same batches (so the dense vectors are identical; the script checks
this). Ours is ``Assistant.search(q, k=10)`` on an Edge shard in a temporary folder (dense + BM25
prefetches, weighted RRF in Qdrant). llama-index's is ``QdrantVectorStore(enable_hybrid=True,
sparse_doc_fn/sparse_query_fn = qdrant_edge.Bm25)`` on ``QdrantClient(":memory:")`` with its default
hybrid fusion, queried with ``VectorStoreQuery(mode=HYBRID, similarity_top_k=10, sparse_top_k=40,
hybrid_top_k=10)``. Each system's chunk list is grouped per paper (first occurrence) and scored on the
``single`` dev questions: recall@1/@5/@10 and MRR (rank of the first gold paper, 0 when absent), plus
per-query latency, end to end (query embedding included) and of the store call alone. Queries of all
systems are interleaved so that a change of machine load hits each of them.

Diagnostic rows (skip with --no-diagnostics) change one llama-index setting at a time toward our
configuration, to show where a gap comes from. Nothing under data/ is written.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from assistant.core.offline import apply_offline_defaults  # noqa: E402

apply_offline_defaults()  # before llama-index / litellm / tiktoken are imported

import numpy as np  # noqa: E402
from llama_index.core.schema import TextNode  # noqa: E402
from llama_index.core.vector_stores.types import (  # noqa: E402
    VectorStoreQuery,
    VectorStoreQueryMode,
    VectorStoreQueryResult,
)
from llama_index.vector_stores.qdrant import QdrantVectorStore  # noqa: E402
from qdrant_client import QdrantClient  # noqa: E402
from qdrant_client.http import models as rest  # noqa: E402

from assistant.core.errors import IngestError  # noqa: E402
from assistant.core.models import Chunk, Paper  # noqa: E402
from assistant.core.settings import Settings  # noqa: E402
from assistant.core.text import normalise_title  # noqa: E402
from assistant.engine import Assistant  # noqa: E402
from assistant.index.base import point_id  # noqa: E402
from assistant.index.embedder import MiniLMEmbedder  # noqa: E402
from assistant.index.sparse import sparse_encoder  # noqa: E402
from ingest.chunking import chunk_paper  # noqa: E402
from ingest.dedup import dedupe  # noqa: E402
from ingest.parsers import iter_records  # noqa: E402

FEEDS = ROOT / "data" / "feeds"
DEV_SET = ROOT / "evals" / "datasets" / "dev.jsonl"
WARMUP_QUERY = "How can large language models be compressed for faster inference?"
TOP_PAPERS = 10
NODE_KEYS = ["title", "paper_id"]


# ---------------------------------------------------------------------------------------------
# Corpus, exactly as our ingest reads it


def load_papers(folder: Path) -> tuple[list[Paper], int]:
    """Deduplicated papers of the feed dumps (first-seen order) and the number of rejected records."""
    records, errors = [], 0
    for path in sorted(folder.glob("*.txt")):
        for record in iter_records(path):
            if isinstance(record, IngestError):
                errors += 1
            else:
                records.append(record)
    return list(dedupe(records).values()), errors


def embed_like_ingest(papers: list[Paper], settings: Settings, embedder: MiniLMEmbedder
                      ) -> list[tuple[Paper, Chunk, np.ndarray]]:
    """Chunks with their dense vectors, embedded in the batches ingest.pipeline forms (whole papers until
    at least ``ingest.batch_size`` chunks), so that length-sorted padding and the vectors match ours."""
    out, batch, size = [], [], 0

    def flush() -> None:
        vectors = embedder.embed([chunk.embed_text for _, chunk in batch])
        out.extend((paper, chunk, vec) for (paper, chunk), vec in zip(batch, vectors, strict=True))

    for paper in papers:
        chunks = chunk_paper(paper, settings.ingest)
        batch.extend((paper, chunk) for chunk in chunks)
        size += len(chunks)
        if size >= settings.ingest.batch_size:
            flush()
            batch, size = [], 0
    if batch:
        flush()
    return out


def build_nodes(rows: list[tuple[Paper, Chunk, np.ndarray]]) -> list[TextNode]:
    """One TextNode per chunk: text = embed_text, metadata kept out of the embed/sparse text."""
    return [TextNode(id_=point_id(paper.paper_id, chunk.index), text=chunk.embed_text,
                     metadata={"title": paper.title, "paper_id": paper.paper_id},
                     excluded_embed_metadata_keys=NODE_KEYS, excluded_llm_metadata_keys=NODE_KEYS,
                     embedding=vec.tolist())
            for paper, chunk, vec in rows]


# ---------------------------------------------------------------------------------------------
# llama-index side


def bm25_doc_fn(text_for: Callable[[str], str] = lambda text: text):
    """SparseEncoderCallable: texts -> ([indices per text], [values per text]) from Edge's BM25 (TF part)."""
    bm25 = sparse_encoder()

    def encode(texts: list[str]) -> tuple[list[list[int]], list[list[float]]]:
        vecs = [bm25.embed_document(text_for(text)) for text in texts]
        return [list(v.indices) for v in vecs], [[float(x) for x in v.values] for v in vecs]

    return encode


def bm25_query_fn():
    bm25 = sparse_encoder()

    def encode(texts: list[str]) -> tuple[list[list[int]], list[list[float]]]:
        vecs = [bm25.embed_query(text) for text in texts]
        return [list(v.indices) for v in vecs], [[float(x) for x in v.values] for v in vecs]

    return encode


def weighted_rrf(weights: tuple[float, float], k: int):
    """A HybridFusionCallable doing what our Edge query does: Qdrant's weighted RRF, which scales the rank,
    not the score: sum over sources of 1 / (rank / weight + k - 1), rank from 1 (as qdrant-client's
    hybrid.fusion.reciprocal_rank_fusion; checked against an Edge shard)."""
    def fuse(dense_result: VectorStoreQueryResult, sparse_result: VectorStoreQueryResult,
             top_k: int = 10, **_) -> VectorStoreQueryResult:
        scores: dict[str, float] = {}
        nodes = {}
        for weight, result in zip(weights, (dense_result, sparse_result), strict=True):
            for rank, node in enumerate(result.nodes or [], 1):
                nodes.setdefault(node.node_id, node)
                scores[node.node_id] = scores.get(node.node_id, 0.0) + 1 / (rank / weight + k - 1)
        best = sorted(scores, key=scores.__getitem__, reverse=True)[:top_k]
        return VectorStoreQueryResult(nodes=[nodes[i] for i in best], similarities=[scores[i] for i in best],
                                      ids=best)

    return fuse


@dataclass
class LlamaVariant:
    name: str
    store: QdrantVectorStore
    dense_top_k: int = 10
    sparse_top_k: int = 40
    hybrid_top_k: int = 10

    def query(self, question: str, vector: list[float]) -> VectorStoreQueryResult:
        return self.store.query(VectorStoreQuery(
            query_embedding=vector, query_str=question, similarity_top_k=self.dense_top_k,
            sparse_top_k=self.sparse_top_k, hybrid_top_k=self.hybrid_top_k, mode=VectorStoreQueryMode.HYBRID))


def make_store(client: QdrantClient, collection: str, nodes: list[TextNode] | None, *, idf: bool = False,
               doc_fn=None, fusion=None) -> QdrantVectorStore:
    store = QdrantVectorStore(
        client=client, collection_name=collection, enable_hybrid=True,
        sparse_doc_fn=doc_fn or bm25_doc_fn(), sparse_query_fn=bm25_query_fn(), hybrid_fusion_fn=fusion,
        sparse_config=rest.SparseVectorParams(modifier=rest.Modifier.IDF) if idf else None)
    if nodes:
        store.add(nodes)
    return store


def papers_of(result: VectorStoreQueryResult) -> list[str]:
    """Titles in result order, one per paper (its first chunk)."""
    seen: dict[str, str] = {}
    for node in result.nodes or []:
        seen.setdefault(node.metadata["paper_id"], node.metadata["title"])
    return list(seen.values())


# ---------------------------------------------------------------------------------------------
# Scoring


@dataclass
class Row:
    name: str
    ranks: list[int | None] = field(default_factory=list)
    papers: list[int] = field(default_factory=list)
    total_ms: list[float] = field(default_factory=list)
    store_ms: list[float] = field(default_factory=list)


def rank_of(gold: set[str], titles: list[str]) -> int | None:
    for rank, title in enumerate(titles, 1):
        if normalise_title(title) in gold:
            return rank
    return None


def pct(values: list[float], q: float) -> float:
    data = sorted(values)
    pos = (len(data) - 1) * q / 100
    lo, hi = int(pos), min(int(pos) + 1, len(data) - 1)
    return data[lo] + (data[hi] - data[lo]) * (pos - lo)


def print_table(rows: list[Row], n: int) -> None:
    head = (f"{'system':62} {'r@1':>6} {'r@5':>6} {'r@10':>6} {'MRR':>6} {'pap/q':>6} "
            f"{'p50 ms':>7} {'p95 ms':>7} {'store p50':>9} {'store p95':>9}")
    print(head)
    print("-" * len(head))
    for row in rows:
        r = row.ranks
        print(f"{row.name:62} {sum(x == 1 for x in r) / n:6.3f} {sum(bool(x) and x <= 5 for x in r) / n:6.3f} "
              f"{sum(bool(x) and x <= 10 for x in r) / n:6.3f} {sum(1 / x for x in r if x) / n:6.3f} "
              f"{statistics.mean(row.papers):6.1f} {statistics.median(row.total_ms):7.1f} "
              f"{pct(row.total_ms, 95):7.1f} {statistics.median(row.store_ms):9.1f} {pct(row.store_ms, 95):9.1f}")


def timed(fn, sink: list[float]):
    def wrapper(*args, **kwargs):
        start = time.perf_counter()
        try:
            return fn(*args, **kwargs)
        finally:
            sink.append((time.perf_counter() - start) * 1000)

    return wrapper


# ---------------------------------------------------------------------------------------------


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dataset", type=Path, default=DEV_SET)
    parser.add_argument("--no-diagnostics", action="store_true", help="Only the two rows the comparison is about.")
    parser.add_argument("--dump", type=Path, help="Write each question's gold rank per system as JSON here.")
    args = parser.parse_args()

    def log(msg: str) -> None:
        print(f"[{time.strftime('%H:%M:%S')} load {os.getloadavg()[0]:.1f}] {msg}", file=sys.stderr, flush=True)

    cases = [json.loads(line) for line in args.dataset.read_text(encoding="utf-8").splitlines() if line.strip()]
    singles = [c for c in cases if c["type"] == "single"]
    load_start = os.getloadavg()

    with tempfile.TemporaryDirectory(prefix="li-hybrid-") as tmp:
        settings = Settings(data_dir=Path(tmp))
        embedder = MiniLMEmbedder(settings.embed)
        bot = Assistant(settings, embedder=embedder, chat_model=None, create_index=True)
        try:
            # --- ours
            log("our ingest of data/feeds ...")
            report = bot.ingest([FEEDS])
            log(f"ours: {report.papers_seen} papers, {report.chunks_written} chunks, {len(report.errors)} errors")
            ours = Row("ours: Edge dense+BM25 prefetch 40/40, weighted RRF 2:1 k=60")
            ours_store: list[float] = []
            captured = {}
            hybrid_query = bot.index.hybrid_query

            def capture(query):
                captured["result"] = result = hybrid_query(query)
                return result

            bot.index.hybrid_query = timed(capture, ours_store)  # instance attribute, the class is untouched

            # --- llama-index
            log("parsing, chunking and embedding for llama-index ...")
            papers, errors = load_papers(FEEDS)
            rows = embed_like_ingest(papers, settings, embedder)
            nodes = build_nodes(rows)
            log(f"llama-index: {len(papers)} papers, {len(nodes)} nodes, {errors} rejected records")
            client = QdrantClient(location=":memory:")
            start = time.perf_counter()
            default_store = make_store(client, "li_default", nodes)
            log(f"QdrantVectorStore.add: {time.perf_counter() - start:.1f} s")
            variants = [LlamaVariant("llama-index hybrid, defaults (relative-score fusion a=0.5)", default_store)]
            if not args.no_diagnostics:
                rs = settings.retrieval
                idf_store = make_store(client, "li_idf", nodes, idf=True)
                paper_text = {chunk.embed_text: f"{paper.title}\n{paper.abstract}" for paper, chunk, _ in rows}
                paper_store = make_store(client, "li_idf_paper", nodes, idf=True,
                                         doc_fn=bm25_doc_fn(lambda text: paper_text.get(text, text)),
                                         fusion=weighted_rrf((rs.dense_weight, rs.sparse_weight), rs.rrf_k))
                variants += [
                    LlamaVariant("  diag: + IDF modifier on the sparse vector", idf_store),
                    LlamaVariant("  diag: + IDF + dense top 40", idf_store, dense_top_k=rs.candidates),
                    LlamaVariant("  diag: + IDF + dense top 40 + weighted RRF 2:1", make_store(
                        client, "li_idf", None, idf=True,
                        fusion=weighted_rrf((rs.dense_weight, rs.sparse_weight), rs.rrf_k)),
                        dense_top_k=rs.candidates),
                    LlamaVariant("  diag: + IDF + dense 40 + RRF 2:1 + paper-scope BM25", paper_store,
                                 dense_top_k=rs.candidates),
                ]
            li_rows = [Row(v.name) for v in variants]
            dense_check = DenseCheck(client, "li_default", default_store.dense_vector_name)

            # --- warm-up, then interleaved timed queries
            bot.search(WARMUP_QUERY, k=TOP_PAPERS)
            for variant in variants:
                variant.query(WARMUP_QUERY, embedder.embed([WARMUP_QUERY])[0].tolist())
            ours_store.clear()
            log(f"querying {len(singles)} single questions ...")
            for case in singles:
                gold = {normalise_title(t) for t in case["gold_titles"]}
                q = case["question"]
                start = time.perf_counter()
                hits = bot.search(q, k=TOP_PAPERS)
                ours.total_ms.append((time.perf_counter() - start) * 1000)
                ours.ranks.append(rank_of(gold, [h.title for h in hits]))
                ours.papers.append(len(hits))
                for variant, row in zip(variants, li_rows, strict=True):
                    start = time.perf_counter()
                    vector = embedder.embed([q])[0].tolist()
                    store_start = time.perf_counter()
                    result = variant.query(q, vector)
                    titles = papers_of(result)
                    end = time.perf_counter()
                    row.total_ms.append((end - start) * 1000)
                    row.store_ms.append((end - store_start) * 1000)
                    row.ranks.append(rank_of(gold, titles))
                    row.papers.append(len(titles))
                dense_check.compare(vector, captured["result"])
            ours.store_ms = ours_store
        finally:
            bot.close()

    print(f"\n{len(singles)} single-paper dev questions; {len(papers)} papers, {len(nodes)} chunks on both sides; "
          f"load average {load_start[0]:.1f} at start, {os.getloadavg()[0]:.1f} at end (2 cores)")
    print(f"identical dense vectors: top dense chunk agrees on {dense_check.same_top}/{dense_check.n} queries, "
          f"max |cosine diff| {dense_check.max_diff:.2e}\n")
    print_table([ours, *li_rows], len(singles))
    if args.dump:
        args.dump.write_text(json.dumps({row.name.strip(): dict(zip([c["id"] for c in singles], row.ranks, strict=True))
                                         for row in [ours, *li_rows]}, indent=1))
    print("""
r@k / MRR: rank of the first gold paper after grouping chunks per paper (first occurrence); MRR counts 0
when the gold paper is not in the list. pap/q: papers per answer (ours: k=10 papers from 40 fused chunks;
llama-index: the papers among hybrid_top_k=10 chunks). p50/p95: whole query incl. the MiniLM query
embedding and grouping; store: ours EdgeIndex.hybrid_query (fused + dense + sparse lists in one batch),
llama-index QdrantVectorStore.query (BM25 query encoding, query_batch_points on qdrant-client's local
mode, fusion in Python).
Fusion: llama-index's default hybrid_fusion_fn is relative_score_fusion (min-max normalise each list,
0.5*dense + 0.5*sparse, alpha=0.5), not RRF; ours is Qdrant's weighted RRF, sum of 1/(rank/w + k - 1)
with w = 2 (dense), 1 (BM25), k = 60; the diag RRF rows compute that same formula in Python.
Its dense list is only similarity_top_k=10 long, and with custom sparse functions (no fastembed model)
it creates the sparse vector without Qdrant's IDF modifier, while Edge's Bm25 emits TF-only weights
that rely on it.""")


class DenseCheck:
    """Checks that both sides hold the same dense vectors: the top dense chunk and its cosine agree."""

    def __init__(self, client: QdrantClient, collection: str, using: str) -> None:
        self.client, self.collection, self.using = client, collection, using
        self.n, self.same_top, self.max_diff = 0, 0, 0.0

    def compare(self, vector: list[float], ours) -> None:
        theirs = self.client.query_points(self.collection, query=vector, using=self.using, limit=1,
                                          with_payload=["paper_id"]).points
        if not theirs or not ours.dense:
            return
        self.n += 1
        top = ours.dense[0]
        self.same_top += theirs[0].id == point_id(top.payload["paper_id"], top.payload["chunk_index"])
        self.max_diff = max(self.max_diff, abs(theirs[0].score - top.score))


if __name__ == "__main__":
    main()
