#!/usr/bin/env python
"""Does the embedded model's probability of declining a paper tell the right paper from its neighbours?

Each single-paper question of the user set (tune and held out) and the dev set is retrieved as the product
does; for each of the top K papers the model gets exactly the one-paper prompt an answer sends (system
prompt, title and whole abstract, then the question; saved states loaded where present) and we read the
probability that its reply starts "NOT COVERED" (`ChatModel.opening_probability`, as the product reads it):

    ASSISTANT_DATA_DIR=<seed index with llm-states> python bench/decline_scores.py --k 5 --declined-only --out s.jsonl

Writes one JSON line per question (set, gold rank, each paper's P(decline)), then prints per set what the
product's rule does with them: move from the first paper when its P(no) >= --sure to the first of the next papers
(up to --read papers in all) whose P(no) is lower by --margin or more (`--report` prints that for an existing
file). Nothing is asserted.
"""
from __future__ import annotations

import argparse
import json
import os
import time

from readings import single_questions


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--k", type=int, default=3, help="papers scored per question")
    parser.add_argument("--out", required=True, help="JSON lines written here")
    parser.add_argument("--sure", type=float, default=0.5, help="the rule's DECLINE_SURE")
    parser.add_argument("--margin", type=float, default=0.2, help="the rule's DECLINE_MARGIN")
    parser.add_argument("--read", type=int, default=4, help="papers the rule reads (REREAD_PAPERS)")
    parser.add_argument("--lowest", action="store_true",
                        help="move to the lowest P(no) among those read (the sixteenth session's rule), not to the "
                             "first one in retrieval order that is low enough (the product's)")
    parser.add_argument("--report", action="store_true", help="only print the table of an existing --out file")
    parser.add_argument("--declined-only", action="store_true",
                        help="read the other papers only when P(no) >= 0.5 on the first (what the product does)")
    args = parser.parse_args()
    if not args.report:
        score(args)
    report(args.out, args.sure, args.margin, args.read, args.lowest)


def report(path: str, sure: float, margin: float, read: int, lowest: bool = False) -> None:
    """The rule's moves per set: to the right paper, away from it, between wrong ones."""
    rows = [json.loads(line) for line in open(path)]
    print(f"| questions | n | recall@1 | first declined (P(no) >= {sure}) | moved | to the right paper | "
          "away from it | answered paper right, after |")
    print("|---|---|---|---|---|---|---|---|")
    for name in dict.fromkeys(row["set"] for row in rows):
        mine = [row for row in rows if row["set"] == name]
        declined = moved = right = away = after = 0
        for row in mine:
            p = [x for x in row["p_decline"][:read] if x is not None]
            pick = 0
            if p and p[0] >= sure:
                declined += 1
                low = [i for i in range(1, len(p)) if p[i] <= p[0] - margin]
                pick = (min(low, key=lambda i: p[i]) if lowest else low[0]) if low else 0
            moved += pick > 0
            right += pick > 0 and row["gold"] == pick
            away += pick > 0 and row["gold"] == 0
            after += row["gold"] == pick
        print(f"| {name} | {len(mine)} | {sum(row['gold'] == 0 for row in mine) / len(mine):.3f} | {declined} | "
              f"{moved} | {right} | {away} | {after / len(mine):.3f} |")


def score(args: argparse.Namespace) -> None:
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    from assistant.answer.attribute import DECLINED, abstract_of, paper_prompt
    from assistant.core.settings import Settings
    from assistant.engine import Assistant

    bot = Assistant(Settings())
    bot.warm_up()
    chat = bot.chat_model_for(None)
    done = set()
    if os.path.exists(args.out):
        done = {json.loads(line)["question"] for line in open(args.out)}
    with open(args.out, "a") as out:
        for name, case in single_questions():
            if case["question"] in done:
                continue
            hits = bot.retrieve(case["question"], k=args.k).hits[: args.k]
            scores, took = [], []
            for i, hit in enumerate(hits):
                if args.declined_only and i and scores[0] < 0.5:
                    break
                prompt = paper_prompt(bot.prompts.paper_answer, case["question"], hit.title,
                                      abstract_of(hit, bot._abstract(hit)))
                started = time.perf_counter()
                scores.append(chat.opening_probability(bot.prompts.paper_system, prompt, DECLINED))
                took.append(time.perf_counter() - started)
            gold = next((i for i, h in enumerate(hits) if h.title in case["gold_titles"]), -1)
            row = {"set": name, "id": case.get("id"), "question": case["question"], "gold": gold,
                   "titles": [h.title for h in hits], "p_decline": scores, "seconds": took}
            out.write(json.dumps(row) + "\n")
            out.flush()
            print(name, case.get("id"), gold, [round(s, 3) for s in scores], [round(t, 1) for t in took], flush=True)
    bot.close()


if __name__ == "__main__":
    main()
