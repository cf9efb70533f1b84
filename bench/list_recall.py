#!/usr/bin/env python
"""How many of a "which papers ..." question's gold papers does the search put in its top 10, and what moves it?

    ASSISTANT_DATA_DIR=/tmp/seed-index python bench/list_recall.py

Runs the product's retrieval (`Assistant.retrieve`, the chat model off) for the user set's list and filter
questions (tune and held-out reported apart) and the dev set's multi-paper questions under several settings,
and prints recall@10 (share of the gold set in the first 10 papers, over min(10, |gold|)) per group, and the
share of gold papers among the reranked candidates (the most any ordering of them could reach). Nothing is
asserted; figures in bench/README.md.
"""
from __future__ import annotations

import argparse
import json
import time

import numpy as np
from readings import REPO

VARIANTS = {
    "product default": {},
    "rerank none (fused order)": {"rerank": {"kind": "none"}},
    "reader weight 8 always": {"rerank": {"reader_weight": 8.0}},
    "reader weight 2 always": {"rerank": {"reader_weight": 2.0}},
    "rerank candidates 30": {"rerank": {"candidates": 30}},
    "rerank candidates 40": {"rerank": {"candidates": 40}},
    "prefetch 80 chunks": {"retrieval": {"candidates": 80}},
    "prefetch 80, rerank 40": {"retrieval": {"candidates": 80}, "rerank": {"candidates": 40}},
    "prefetch 80, rerank 40, reader 2": {"retrieval": {"candidates": 80}, "rerank": {"candidates": 40,
                                                                                    "reader_weight": 2.0}},
    "every paper reranked (prefetch 700, rerank 301)": {"retrieval": {"candidates": 700},
                                                        "rerank": {"candidates": 301}},
}


def cases() -> list[tuple[str, dict]]:
    out = []
    for dataset, types in (("user", ("list", "filter")), ("dev", ("multi",))):
        for line in (REPO / "evals" / "datasets" / f"{dataset}.jsonl").read_text().splitlines():
            case = json.loads(line)
            if case["type"] in types and case.get("gold_titles") and "question" in case:
                group = f"{dataset} {case['type']}" + (f" {case['split']}" if dataset == "user" else "")
                out.append((group, case))
    return out


def run(name: str, overrides: dict, asked: list[tuple[str, dict]]) -> None:
    from assistant.core.settings import Settings
    from assistant.engine import Assistant

    settings = Settings(llm={"model": "none"})
    settings = settings.model_copy(update={section: getattr(settings, section).model_copy(update=values)
                                           for section, values in overrides.items()})
    bot = Assistant(settings, chat_model=None)
    rows: dict[str, list[float]] = {}
    took = []
    for group, case in asked:
        started = time.perf_counter()
        found = bot.retrieve(case["question"])
        took.append(time.perf_counter() - started)
        gold = set(case["gold_titles"])
        top = [hit.title for hit in found.hits[:10]]
        rows.setdefault(group, []).append(len(gold & set(top)) / min(10, len(gold)))
    bot.close()
    print(f"| {name} | " + " | ".join(f"{np.mean(r):.3f}" for r in rows.values())
          + f" | {1000 * np.median(took):.0f} |", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--variants", nargs="*", default=list(VARIANTS), help="names of VARIANTS to run")
    args = parser.parse_args()
    asked = cases()
    groups = list(dict.fromkeys(group for group, _ in asked))
    print("| variant | " + " | ".join(f"{g} ({sum(x == g for x, _ in asked)})" for g in groups) + " | p50 ms |")
    print("|---|" + "---|" * (len(groups) + 1))
    for name in args.variants:
        run(name, VARIANTS[name], asked)


if __name__ == "__main__":
    main()
