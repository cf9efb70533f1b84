"""What the embedder benches share: the single-paper questions they score and the recall@1 table of blends.

A case is (set name, index of the gold paper among the candidates or -1, readings, coverage); readings are
the blend's MaxSim, best-sentence and dense-score lists followed by the candidate embedder's cosines, and
coverage is the share of the question's BM25 terms in the first candidate (the blend's "reworded" test).
A blend is a tuple of weights, or a function of the coverage and the readings giving one. Imports the product
only inside its functions, so the embed step can import it in another venv.
"""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
SETS = (("user", ("tune", "heldout")), ("dev", ("single",)))


def single_questions() -> list[tuple[str, dict]]:
    """(set name, case) for the user set's tune and held-out single questions and the dev set's singles."""
    out = []
    for dataset, groups in SETS:
        for line in (REPO / "evals" / "datasets" / f"{dataset}.jsonl").read_text().splitlines():
            case = json.loads(line)
            group = case.get("split") if dataset == "user" else case["type"]
            if case["type"] == "single" and group in groups:
                out.append((f"{dataset} {group}", case))
    return out


def print_recall_at_1(cases: list[tuple[str, int, tuple, float]], blends: dict, candidates: int) -> None:
    """One row per blend (weights in the order of each case's readings; fused order weight 1, RRF k 10)."""
    from assistant.answer.rerank import _ranks  # the product's tie rule; imported here, not where embed runs

    groups = list(dict.fromkeys(case[0] for case in cases))
    print(f"\nrecall@1 of single-paper questions (top {candidates} reranked)")
    print("| blend | " + " | ".join(f"{g} ({sum(case[0] == g for case in cases)})" for g in groups) + " |")
    print("|---|" + "---|" * len(groups))
    for label, blend in blends.items():
        found = {g: [] for g in groups}
        for name, gold, readings, coverage in cases:
            weights = blend(coverage, readings) if callable(blend) else blend
            total = 1.0 / (10 + np.arange(len(readings[0])))
            for weight, scores in zip(weights, readings, strict=True):
                if weight:
                    total = total + weight / (10 + _ranks(scores))
            found[name].append(gold >= 0 and int(np.argsort(-total, kind="stable")[0]) == gold)
        print(f"| {label} | " + " | ".join(f"{np.mean(found[g]):.3f}" for g in groups) + " |")


def blend_cases(bot, settings, *cosines) -> list[tuple[str, int, tuple, float]]:
    """Each question's top candidates with the blend's three readings and each ``cosines(question, hits)``."""
    from assistant.answer.rerank import _dense_scores
    from assistant.answer.retrieve import retrieve_hits
    from assistant.answer.understand import search_text

    cases = []
    for name, case in single_questions():
        text = search_text(case["question"])
        hits = retrieve_hits(text, index=bot.index, embedder=bot.embedder, sparse=bot.sparse,
                             settings=settings.retrieval).hits[: settings.rerank.candidates]
        readings = (bot.reranker.maxsim.scores(text, hits), bot._best_sentence_scores(text, hits),
                    _dense_scores(hits), *(reading(case["question"], hits) for reading in cosines))
        gold = next((i for i, h in enumerate(hits) if h.title == case["gold_titles"][0]), -1)
        cases.append((name, gold, readings, bot._coverage(text, hits)))
    return cases
