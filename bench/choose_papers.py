"""Calibrate which found papers an attributed answer speaks about (assistant/answer/attribute.py: choose_papers).

For every answerable single- and multi-paper case of a dataset it retrieves, selects evidence once, then
sweeps the "close" ratios (the engine uses the rows with close None) and prints citation precision and
recall of the chosen papers against the gold ones (what `assistant eval` scores) per case type.

    ASSISTANT_DATA_DIR=/tmp/evaldata python bench/choose_papers.py [--dataset evals/datasets/dev.jsonl]
"""

from __future__ import annotations

import argparse
from pathlib import Path

from assistant.answer.attribute import Evidence, choose_papers, is_list_question, select_evidence
from assistant.core.settings import load_settings
from assistant.engine import Assistant
from evals.dataset import load_dataset
from evals.runner import Scorer


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dataset", type=Path, default=Path("evals/datasets/dev.jsonl"))
    args = parser.parse_args()
    settings = load_settings()
    engine = Assistant(settings, chat_model=None)
    scorer = Scorer(engine.paper_titles(), engine.prompts.system)
    cases = [c for c in load_dataset(args.dataset, engine.paper_titles().values())
             if c.type in ("single", "multi") and c.answerable]
    rows = []
    for case in cases:
        question = case.questions[-1]
        found = engine.retrieve(question)
        if not found.relevant:
            continue
        evidence = select_evidence(question, [(h, engine._paper_text(h)) for h in found.hits], engine.sparse,
                                   engine.sentence_vectors)
        rows.append((case, question, evidence, scorer.gold_ids(case)))
    listed = sum(is_list_question(q) for c, q, _, _ in rows if c.type == "multi")
    print(f"{len(rows)} cases; list intent: {listed}/{sum(c.type == 'multi' for c, *_ in rows)} multi, "
          f"{sum(is_list_question(q) for c, q, _, _ in rows if c.type == 'single')} single")
    print("| close | list_close | single P | single R | multi P | multi R | papers/answer |")
    print("|---|---|---|---|---|---|---|")
    for close in (0.7, 0.8, 0.85, 0.9, 0.95, 1.01, None):  # None: one-paper questions get the first paper only
        for list_close in (0.6, 0.7, 0.75, 0.8, 0.9):
            stats: dict[str, list[tuple[float, float]]] = {"single": [], "multi": []}
            sizes = []
            for case, question, evidence, gold in rows:
                chosen = {ev.hit.paper_id for ev in choose(question, evidence, settings.llm.list_papers, close,
                                                           list_close)}
                sizes.append(len(chosen))
                stats[case.type].append((len(chosen & gold) / len(chosen), len(chosen & gold) / len(gold)))
            cells = []
            for kind in ("single", "multi"):
                values = stats[kind]
                cells += [f"{sum(p for p, _ in values) / len(values):.3f}",
                          f"{sum(r for _, r in values) / len(values):.3f}"]
            print(f"| {close} | {list_close} | {' | '.join(cells)} | {sum(sizes) / len(sizes):.2f} |")
    engine.close()


def choose(question: str, evidence: list[Evidence], list_most: int, close: float | None, list_close: float):
    """choose_papers, with one-paper questions also taking papers within ``close`` of the first (None: none)."""
    if close is None or is_list_question(question):
        return choose_papers(evidence, True, list_most, list_close)
    return [evidence[0], *[ev for ev in evidence[1:3] if ev.score >= close * evidence[0].score]]


if __name__ == "__main__":
    main()
