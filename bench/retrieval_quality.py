"""Measure retrieval variants and the abstention rule on the dev questions (no LLM).

    python bench/retrieval_quality.py [--data-dir DIR] [--dataset evals/datasets/dev.jsonl]

Prints recall@1/@5/@10 and MRR of single-paper questions for dense only, BM25 only, RRF with several
weight pairs, and each embedded reranker; then the abstention rule's confusion on answerable vs
unanswerable questions. The dev set drives the choice of defaults in settings.py (see README).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from assistant.core.offline import apply_offline_defaults  # noqa: E402

apply_offline_defaults()

from assistant.answer.rerank import MaxSimReranker, NoReranker  # noqa: E402
from assistant.answer.retrieve import group_by_paper, retrieve_hits  # noqa: E402
from assistant.core.models import Hit  # noqa: E402
from assistant.core.settings import Settings  # noqa: E402
from assistant.core.text import normalise_title  # noqa: E402
from assistant.engine import Assistant  # noqa: E402
from assistant.index.base import HybridResult  # noqa: E402


def load_cases(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


def rank_of(gold: set[str], hits: list[Hit]) -> int | None:
    for rank, hit in enumerate(hits, 1):
        if normalise_title(hit.title) in gold:
            return rank
    return None


def summarise(ranks: list[int | None]) -> dict[str, float]:
    n = len(ranks)
    return {
        "r@1": sum(r == 1 for r in ranks) / n,
        "r@5": sum(r is not None and r <= 5 for r in ranks) / n,
        "r@10": sum(r is not None and r <= 10 for r in ranks) / n,
        "mrr": sum(1 / r for r in ranks if r) / n,
    }


def single_source(result: HybridResult, which: str) -> list[Hit]:
    chunks = result.dense if which == "dense" else result.sparse
    return group_by_paper(HybridResult(fused=chunks, dense=result.dense, sparse=result.sparse))


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--data-dir", type=Path, default=Path("data"))
    parser.add_argument("--dataset", type=Path, default=ROOT / "evals/datasets/dev.jsonl")
    parser.add_argument("--skip-maxsim", action="store_true", help="MaxSim costs seconds per query on 2 cores.")
    parser.add_argument("--dump", type=Path, help="Write each case's abstention evidence as JSON here.")
    args = parser.parse_args()
    settings = Settings(data_dir=args.data_dir)
    bot = Assistant(settings, chat_model=None, create_index=True)
    if bot.index.count() == 0:
        bot.ingest([ROOT / "data/feeds"])
    cases = load_cases(args.dataset)
    singles = [c for c in cases if c["type"] == "single"]
    rs = settings.retrieval

    variants: dict[str, list[int | None]] = {}
    raw: dict[str, HybridResult] = {}
    from assistant.index.base import HybridQuery, SparseVec

    queries = {}
    for case in singles:
        q = case["question"]
        sp = bot.sparse.embed_query(q)
        queries[case["id"]] = (bot.embedder.embed([q])[0], SparseVec(list(sp.indices), list(sp.values)))
        raw[case["id"]] = bot.index.hybrid_query(HybridQuery(*queries[case["id"]], limit=rs.candidates,
                                                             candidates=rs.candidates))
    for name in ("dense", "sparse"):
        variants[f"{name} only"] = [rank_of({normalise_title(t) for t in c["gold_titles"]},
                                            single_source(raw[c["id"]], name)) for c in singles]
    for weights in [(1.0, 1.0), (1.5, 1.0), (2.0, 1.0), (3.0, 1.0), (1.0, 1.5), (1.0, 2.0)]:
        ranks = []
        for case in singles:
            result = bot.index.hybrid_query(HybridQuery(*queries[case["id"]], limit=rs.candidates,
                                                        candidates=rs.candidates, weights=weights, rrf_k=rs.rrf_k))
            ranks.append(rank_of({normalise_title(t) for t in case["gold_titles"]}, group_by_paper(result)))
        variants[f"rrf dense={weights[0]} bm25={weights[1]}"] = ranks
    default_weights = (rs.dense_weight, rs.sparse_weight)
    rerankers = [NoReranker()] + ([] if args.skip_maxsim else [MaxSimReranker(bot.embedder)])
    for reranker in rerankers:
        ranks, started = [], time.perf_counter()
        for case in singles:
            found = retrieve_hits(case["question"], index=bot.index, embedder=bot.embedder, sparse=bot.sparse,
                                  settings=rs, weights=default_weights)
            head = found.hits[: settings.rerank.candidates]
            hits = reranker.rerank(case["question"], head) + found.hits[len(head):]
            ranks.append(rank_of({normalise_title(t) for t in case["gold_titles"]}, hits))
        per_query = (time.perf_counter() - started) * 1000 / len(singles)
        variants[f"hybrid + rerank {reranker.name} ({per_query:.0f} ms/q)"] = ranks
        print(f"  measured {reranker.name}", flush=True)

    print(f"single-paper questions: {len(singles)}")
    print(f"{'variant':48} {'r@1':>6} {'r@5':>6} {'r@10':>6} {'mrr':>6}")
    for name, ranks in variants.items():
        m = summarise(ranks)
        print(f"{name:48} {m['r@1']:6.3f} {m['r@5']:6.3f} {m['r@10']:6.3f} {m['mrr']:6.3f}")

    print("\nabstention evidence (best cosine, query-term coverage of the top paper):")
    rows = []
    for case in cases:
        question = case.get("question") or case["turns"][0]
        found = retrieve_hits(question, index=bot.index, embedder=bot.embedder, sparse=bot.sparse, settings=rs)
        should_answer = bool(case["gold_titles"])
        rows.append((case["id"], case["type"], should_answer, found.best_dense, found.coverage, found.relevant,
                     found.hits[0].sparse_score if found.hits else None))
    for label, want in (("answerable", True), ("unanswerable", False)):
        group = [r for r in rows if r[2] == want]
        answered = sum(r[5] for r in group)
        print(f"  {label:13} n={len(group):3}  answered={answered:3}  abstained={len(group) - answered:3}")
    print("  unanswerable that were answered / answerable that abstained:")
    for r in rows:
        if r[2] != r[5]:
            print(f"    {r[0]:5} {r[1]:12} cos={r[3]:.3f} cov={r[4]:.2f}")
    if args.dump:
        keys = ("id", "type", "answerable", "best_dense", "coverage", "relevant", "best_sparse")
        args.dump.write_text(json.dumps([dict(zip(keys, r, strict=True)) for r in rows], indent=1))
    bot.close()


if __name__ == "__main__":
    main()
