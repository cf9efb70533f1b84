#!/usr/bin/env python
"""What does the embedded model do with each paper a listing states, and is that a filter worth trusting?

Every list question of the dev set (multi) and the user set (list, tune and held out) is answered through the
product's event stream (`Assistant.events`, the embedded model, the attributed path). Each listed paper is then
"stated" (a supported sentence of the model's), "unsupported" (its statement failed the support check: the
product quotes the paper instead) or "declined" (the model said the evidence does not answer), and gold or not.
It writes one JSON line per question and prints, per set, how often each outcome was a right paper and the
listings' mean precision / recall of what the answer cited, of what it cited or named uncited after the listing
(its nearby papers, `split_listing`), and under three policies for declined papers: dropped, kept quoted, and
keeping only stated papers.

    ASSISTANT_DATA_DIR=<seed index> python bench/list_entries.py --out entries.jsonl
    python bench/list_entries.py --report --out entries.jsonl

A run answers with whatever the product does at the time, so the policy lines are a simulation over one run's
outcomes ("current" is what that run answered). Nothing is asserted.
"""
from __future__ import annotations

import argparse
import json
import os
from collections import Counter, defaultdict

from list_decline_scores import REPO, list_questions


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--out", required=True, help="JSON lines written here")
    parser.add_argument("--report", action="store_true", help="only print the tables of an existing --out file")
    parser.add_argument("--ids", default="", help="only these question ids, comma-separated (default: all)")
    args = parser.parse_args()
    if not args.report:
        answer(args.out, {i for i in args.ids.split(",") if i})
    report(args.out)


def answer(path: str, ids: set[str]) -> None:
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    from assistant.answer.context import named_nearby
    from assistant.core.models import Delta, Final, Sentence, Sources
    from assistant.core.settings import Settings
    from assistant.engine import Assistant

    bot = Assistant(Settings())
    bot.warm_up()
    with open(path, "w") as out:
        for name, case in list_questions():
            if ids and case["id"] not in ids:
                continue
            titles, final, entries = [], None, []
            for event in bot.events(case["question"]):
                if isinstance(event, Sources):
                    titles = sorted((paper.title for paper in event.papers), key=len, reverse=True)
                elif isinstance(event, Delta):
                    # Each listed paper's statement starts with a delta of its title alone (`_write_per_paper`).
                    title = next((t for t in titles if event.text.lstrip("\n") == f"{t}: "), None)
                    if title is not None:
                        entries.append({"title": title, "gold": title in case["gold_titles"], "text": "",
                                        "supported": []})
                    elif entries:
                        entries[-1]["text"] += event.text
                elif isinstance(event, Sentence) and entries:
                    entries[-1]["supported"].append(event.check.supported)
                elif isinstance(event, Final):
                    final = event.answer
            for entry in entries:
                entry["outcome"] = ("stated" if any(entry["supported"]) else "unsupported" if entry["supported"]
                                    else "declined")
            cited = sorted(c.title for c in final.citations) if final else []
            # Papers named uncited after the listing (`split_listing`), read back as a follow-up reads them.
            nearby = sorted(named_nearby(final.answer, titles)) if final else []
            row = {"set": name, "id": case["id"], "gold": len(case["gold_titles"]), "entries": entries,
                   "cited": cited, "nearby": nearby}
            out.write(json.dumps(row) + "\n")
            out.flush()
            print(name, case["id"], [(e["outcome"][0], int(e["gold"])) for e in entries], flush=True)
    bot.close()


POLICIES = {
    "current (the run's answer)": None,
    "current, nearby papers named": "named",
    "declined dropped": lambda e: e["outcome"] != "declined",
    "declined kept, quoted": lambda e: True,
    "only stated papers": lambda e: e["outcome"] == "stated",
}


def report(path: str) -> None:
    rows = [json.loads(line) for line in open(path)]
    outcomes = defaultdict(Counter)
    for row in rows:
        for place, entry in enumerate(row["entries"]):
            outcomes[row["set"]][(entry["outcome"], "first" if place == 0 else "later", entry["gold"])] += 1
    print("| set | outcome | first paper: right / wrong | later papers: right / wrong |\n|---|---|---|---|")
    for name, counts in outcomes.items():
        for outcome in ("stated", "unsupported", "declined"):
            cells = [f"{counts[(outcome, place, True)]} / {counts[(outcome, place, False)]}"
                     for place in ("first", "later")]
            print(f"| {name} | {outcome} | {' | '.join(cells)} |")
    gold_titles = {case["id"]: set(case["gold_titles"]) for _, case in list_questions()}
    print("\n| policy | " + " | ".join(f"{name}: P / R (n)" for name in outcomes) + " |")
    print("|---|" + "---|" * len(outcomes))
    for policy, keep in POLICIES.items():
        cells = []
        for name in outcomes:
            p, r = [], []
            for row in (row for row in rows if row["set"] == name and row["entries"]):
                if keep == "named":  # cited or named uncited: what the reader is shown
                    listed = row["cited"] + row.get("nearby", [])
                elif keep is None or not any(e["outcome"] == "stated" for e in row["entries"]):
                    listed = row["cited"]  # nothing stated: all quoted or abstained, whatever the policy
                else:
                    listed = [e["title"] for e in row["entries"] if keep(e)]
                if listed:
                    right = len(set(listed) & gold_titles[row["id"]])
                    p.append(right / len(listed))
                    r.append(right / row["gold"])
            cells.append(f"{sum(p) / len(p):.3f} / {sum(r) / len(r):.3f} ({len(p)})" if p else "-")
        print(f"| {policy} | " + " | ".join(cells) + " |")
    print(f"\n(questions: {len(rows)}; datasets in {REPO / 'evals' / 'datasets'})")


if __name__ == "__main__":
    main()
