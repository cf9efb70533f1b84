"""Search filters on the embedded Qdrant Edge index at scale: synthetic points, real `EdgeIndex.hybrid_query`.

Builds a shard in a temporary folder per size, with random unit dense vectors of the embedder's dimension,
BM25-like sparse vectors (Zipf-distributed term ids, weights of Edge's `Bm25`) and the payload ingest writes
(`ingest.pipeline.chunk_payload`: two chunks per paper, ~40% of papers with a code link, 1-3 feed days spread
over 30 days). Then it times the product's hybrid query (the retrieval settings' candidates, weights and RRF
constant) unfiltered, with a feed-date range, with has-code, and with both, interleaved over the same queries,
and prints p50/p95 and each filter's ratio to the unfiltered query. It asserts nothing on time; it does check
that every hit meets its filter. See bench/README.md.

    python bench/bench_filters.py                          # 20 000 and 200 000 points, 50 queries each
    python bench/bench_filters.py --points 20000 --queries 100
    python bench/bench_filters.py --old-code-filter        # also time the old is_empty(code_url) has-code filter
"""

from __future__ import annotations

import argparse
import copy
import os
import resource
import shutil
import sys
import tempfile
import time
from collections.abc import Iterator
from importlib import metadata
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from assistant.core.models import FeedSighting, Paper  # noqa: E402
from assistant.core.settings import RetrievalSettings  # noqa: E402
from assistant.index.base import HybridQuery, IndexPoint, SearchFilter, SparseVec, point_id  # noqa: E402
from assistant.index.edge import EdgeIndex  # noqa: E402
from assistant.index.embedder import DIM  # noqa: E402
from ingest.pipeline import chunk_payload  # noqa: E402

CHUNKS_PER_PAPER = 2  # the seed corpus averages about two ~200-token chunks per abstract
CODE_SHARE = 0.4
FEED_DAYS = [300 + d for d in range(1, 31)]  # 'Mar 1' .. 'Mar 30', as feed dates without a year are stored
VOCABULARY = 30_000
DOC_TERMS, QUERY_TERMS = (40, 80), (2, 6)  # distinct BM25 terms per chunk / per query
WINDOW_DAYS = 7  # the feed-date filter asks for one week
WORDS = ("model data training language learning image video diffusion agent reasoning benchmark token "
         "attention transformer generation retrieval sparse dense latent policy reward scaling quantization "
         "evaluation dataset robust efficient inference alignment multimodal vision audio graph").split()


class OldCodeFilterIndex(EdgeIndex):
    """The has-code filter as it was before issue 12: ``code_url`` not empty, a field with no payload index."""

    def _filter(self, flt: SearchFilter):
        qe = self._qe
        if flt.empty:
            return None
        must = []
        if flt.since_day is not None or flt.until_day is not None:
            must.append(qe.FieldCondition(key="feed_days", range=qe.RangeFloat(gte=flt.since_day, lte=flt.until_day)))
        must_not = [qe.FieldCondition(key="code_url", is_empty=True)] if flt.has_code else None
        return qe.Filter(must=must or None, must_not=must_not)


def term_ids(rng: np.random.Generator) -> np.ndarray:
    """A fixed random id per vocabulary word: Edge's Bm25 hashes words to 32-bit ids the same way."""
    return rng.choice(2**31, size=VOCABULARY, replace=False)


def zipf_terms(rng: np.random.Generator, ids: np.ndarray, count: int) -> list[int]:
    """``count`` distinct term ids, frequent words more likely (rank-frequency ~ 1/rank)."""
    weights = 1.0 / np.arange(1, VOCABULARY + 1)
    picked = rng.choice(VOCABULARY, size=count, replace=False, p=weights / weights.sum())
    return [int(i) for i in ids[picked]]


def unit_vectors(rng: np.random.Generator, n: int, dim: int) -> np.ndarray:
    vecs = rng.standard_normal((n, dim), dtype=np.float32)
    return vecs / np.linalg.norm(vecs, axis=1, keepdims=True)


def synthetic_points(n_points: int, dim: int, rng: np.random.Generator, ids: np.ndarray,
                     batch: int = 2_000) -> Iterator[list[IndexPoint]]:
    """Batches of points shaped like ingest's: two chunks per paper, payload from `chunk_payload`."""
    points: list[IndexPoint] = []
    for paper_n in range(n_points // CHUNKS_PER_PAPER):
        days = sorted(rng.choice(FEED_DAYS, size=int(rng.integers(1, 4)), replace=False).tolist())
        code = f"https://github.com/example/repo-{paper_n}" if rng.random() < CODE_SHARE else None
        paper = Paper(paper_id=f"t:{paper_n:07d}", title=f"Synthetic paper {paper_n}", abstract="",
                      url=f"https://arxiv.org/abs/{paper_n}", code_url=code,
                      sightings=[FeedSighting(feed=f"daily-{d}", date=f"Mar {d - 300}", day=d) for d in days])
        dense = unit_vectors(rng, CHUNKS_PER_PAPER, dim)
        for chunk in range(CHUNKS_PER_PAPER):
            text = " ".join(rng.choice(WORDS, size=150))
            terms = zipf_terms(rng, ids, int(rng.integers(*DOC_TERMS)))
            weights = rng.choice([1.64, 2.07, 2.29], size=len(terms), p=[0.8, 0.15, 0.05]).tolist()  # tf 1, 2, 3
            points.append(IndexPoint(point_id(paper.paper_id, chunk), dense[chunk], SparseVec(terms, weights),
                                     chunk_payload(paper, chunk, text, CHUNKS_PER_PAPER)))
            if len(points) == batch:
                yield points
                points = []
    if points:
        yield points


def build(path: Path, n_points: int, dim: int, seed: int, index_class: type[EdgeIndex]) -> tuple[EdgeIndex, float]:
    rng = np.random.default_rng(seed)
    ids = term_ids(rng)
    index = index_class(path, dim)
    start = time.perf_counter()
    for done, batch in enumerate(synthetic_points(n_points, dim, rng, ids), 1):
        index.upsert(batch)
        if done % 10 == 0:
            print(f"  {done * len(batch):,} points stored", file=sys.stderr)
    index._shard.flush()
    return index, time.perf_counter() - start


def queries(n: int, dim: int, seed: int, settings: RetrievalSettings) -> list[tuple[HybridQuery, int]]:
    """Random queries in the product's shape (as `retrieve_hits` builds them), each with a feed-week start day."""
    rng = np.random.default_rng(seed + 1)
    ids = term_ids(np.random.default_rng(seed))  # the documents' vocabulary
    out = []
    for dense in unit_vectors(rng, n, dim):
        terms = zipf_terms(rng, ids, int(rng.integers(*QUERY_TERMS)))
        query = HybridQuery(dense=dense, sparse=SparseVec(terms, [1.0] * len(terms)),
                            limit=settings.candidates, candidates=settings.candidates,
                            weights=(settings.dense_weight, settings.sparse_weight), rrf_k=settings.rrf_k)
        out.append((query, int(rng.integers(FEED_DAYS[0], FEED_DAYS[-1] - WINDOW_DAYS + 2))))
    return out


def filters(since: int, old: bool) -> dict[str, SearchFilter]:
    until = since + WINDOW_DAYS - 1
    kinds = {"unfiltered": SearchFilter(), "feed date": SearchFilter(since_day=since, until_day=until),
             "has code": SearchFilter(has_code=True),
             "both": SearchFilter(since_day=since, until_day=until, has_code=True)}
    if old:
        kinds |= {"has code, old": SearchFilter(has_code=True),
                  "both, old": SearchFilter(since_day=since, until_day=until, has_code=True)}
    return kinds


def meets(payload: dict, flt: SearchFilter) -> bool:
    """Whether a hit obeys its filter, read from the hit's own fields (feed labels 'Mar 7' are day 307)."""
    if flt.has_code and not payload.get("code_url"):
        return False
    days = [300 + int(label.split()[1]) for label in payload.get("feeds") or []]
    lo, hi = flt.since_day or 0, flt.until_day or 10**9
    return (flt.since_day is None and flt.until_day is None) or any(lo <= d <= hi for d in days)


def time_filters(index: EdgeIndex, old_index: EdgeIndex | None, qs: list[tuple[HybridQuery, int]],
                 warmup: int = 5) -> dict[str, dict[str, float]]:
    """Each query under every filter in turn (interleaved, so load changes hit all alike); ms per kind."""
    times: dict[str, list[float]] = {}
    hits: dict[str, list[int]] = {}
    for n, (query, since) in enumerate(qs):
        for kind, flt in filters(since, old_index is not None).items():
            target = old_index if kind.endswith(", old") else index
            query.filter = flt
            start = time.perf_counter()
            result = target.hybrid_query(query)
            elapsed = time.perf_counter() - start
            bad = [c for c in result.fused if not meets(c.payload, flt)]
            if bad:
                raise SystemExit(f"{kind}: a hit breaks its filter: {bad[0].payload.get('paper_id')}")
            if n >= warmup:
                times.setdefault(kind, []).append(elapsed * 1000)
                hits.setdefault(kind, []).append(len(result.fused))
    return {kind: {"p50": float(np.percentile(t, 50)), "p95": float(np.percentile(t, 95)),
                   "hits": float(np.mean(hits[kind]))} for kind, t in times.items()}


def report(n_points: int, build_s: float, info: dict, stats: dict[str, dict[str, float]]) -> None:
    base = stats["unfiltered"]
    print(f"\n{n_points:,} points (dim {info['dim']}), "
          f"built in {build_s:.0f} s; segments {info['segments']}, indexed vectors {info['indexed']}, "
          f"load {info['load']}, peak RSS {info['rss']:.0f} MiB")
    print("| filter | p50 ms | p95 ms | p50 / unfiltered | p95 / unfiltered | hits |")
    print("|---|---|---|---|---|---|")
    for kind, s in stats.items():
        print(f"| {kind} | {s['p50']:.1f} | {s['p95']:.1f} | {s['p50'] / base['p50']:.2f}× | "
              f"{s['p95'] / base['p95']:.2f}× | {s['hits']:.0f} |")


def run(n_points: int, args: argparse.Namespace, settings: RetrievalSettings) -> None:
    tmp = Path(tempfile.mkdtemp(prefix="bench-filters-"))
    try:
        print(f"building {n_points:,} points in {tmp}", file=sys.stderr)
        index, build_s = build(tmp / "papers", n_points, args.dim, args.seed, EdgeIndex)
        old_index = None
        if args.old_code_filter:
            # Same shard, second view: an Edge folder may be open once per process, so the old filter borrows it.
            old_index = copy.copy(index)
            old_index.__class__ = OldCodeFilterIndex
        shard_info = index._shard.info()
        stats = time_filters(index, old_index, queries(args.queries + 5, args.dim, args.seed, settings))
        info = {"dim": args.dim, "segments": shard_info.segments_count, "indexed": shard_info.indexed_vectors_count,
                "load": " ".join(f"{x:.2f}" for x in os.getloadavg()),
                "rss": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}
        report(n_points, build_s, info, stats)
        index.close()
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--points", type=int, nargs="+", default=[20_000, 200_000], help="index sizes to measure")
    parser.add_argument("--queries", type=int, default=50, help="timed queries per filter (after 5 warm-up ones)")
    parser.add_argument("--dim", type=int, default=DIM, help="dense dimension (the embedder's by default)")
    parser.add_argument("--seed", type=int, default=12)
    parser.add_argument("--old-code-filter", action="store_true",
                        help="also time the has-code filter as it was before issue 12 (is_empty on code_url)")
    args = parser.parse_args()
    print(f"qdrant-edge-py {metadata.version('qdrant-edge-py')}, {os.cpu_count()} CPUs; "
          f"hybrid query as the product sends it: {RetrievalSettings().candidates} candidates per prefetch, "
          f"fused + dense + BM25 lists in one batch")
    settings = RetrievalSettings()
    for n_points in args.points:
        run(n_points, args, settings)


if __name__ == "__main__":
    main()
