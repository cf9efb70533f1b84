#!/usr/bin/env python
"""Build the saved per-paper states of the papers a dataset's answers use, so an eval measures what a server
whose background build has finished answers, without the ≈ 60 min that building all 301 seed papers takes here.

    ASSISTANT_DATA_DIR=/tmp/seed-index python bench/states_for_dataset.py --dataset evals/datasets/dev.jsonl \
        --limit 80

Each selected case's questions are answered without the model (the papers an answer states something about are
chosen before the model is called, so they are the same), in conversation for a follow-up; the cited papers'
states are then built with `Assistant.build_paper_states`. Prints how many, and how long they took.
"""
from __future__ import annotations

import argparse
import time
from pathlib import Path

from assistant.core.models import Turn
from assistant.core.settings import load_settings
from assistant.engine import Assistant
from evals.dataset import load_dataset
from evals.run import select_cases


def build_states_for(conversations: list[list[str]]) -> str:
    """Build the states of the papers these conversations' answers cite; a line saying how many and how long."""
    papers: set[str] = set()
    bot = Assistant(load_settings(), chat_model=None)
    try:
        for questions in conversations:
            history: list[Turn] = []
            for question in questions:
                answer = bot.ask(question, history)
                papers |= {citation.paper_id for citation in answer.citations}
                history += [Turn(role="user", content=question), Turn(role="assistant", content=answer.answer)]
    finally:
        bot.close()
    bot = Assistant(load_settings())
    try:
        started = time.perf_counter()
        report = bot.build_paper_states(sorted(papers))
    finally:
        bot.close()
    return (f"{len(conversations)} conversations cite {len(papers)} papers: {report.built} states built, "
            f"{report.present} there already, {report.skipped} too long, in {time.perf_counter() - started:.0f} s"
            + (f" ({report.stopped})" if report.stopped else ""))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--dataset", type=Path, required=True)
    parser.add_argument("--limit", type=int)
    parser.add_argument("--split", default="all")
    args = parser.parse_args()
    cases = select_cases(load_dataset(args.dataset), limit=args.limit, split=args.split)
    print(build_states_for([case.questions for case in cases]))


if __name__ == "__main__":
    main()
