#!/usr/bin/env python
"""Does the model's probability of declining a list entry tell the right papers of a listing from the others?

Every list question of the dev set (multi) and the user set (list, tune and held out) is retrieved and its papers
chosen as the product does (`choose_papers`); for each chosen paper the embedded model gets exactly the list
entry's prompt (list system prompt, the question, the paper's 3 evidence sentences) and only reads it: the
probability that its reply starts "NOT COVERED", through `ChatModel.opening_probability`:

    ASSISTANT_DATA_DIR=<seed index> python bench/list_decline_scores.py --out list_scores.jsonl

Writes one JSON line per chosen paper (set, question id, its place, gold or not, P(no)); nothing is asserted.
"""
from __future__ import annotations

import argparse
import json
import os
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def list_questions() -> list[tuple[str, dict]]:
    out = []
    for dataset, kind in (("dev", "multi"), ("user", "list")):
        for line in (REPO / "evals" / "datasets" / f"{dataset}.jsonl").read_text().splitlines():
            case = json.loads(line)
            if case["type"] == kind:
                out.append((f"{dataset} {case.get('split', kind)}", case))
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--out", required=True, help="JSON lines written here")
    args = parser.parse_args()
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    from assistant.answer.attribute import DECLINED, list_entry_prompt, select_evidence
    from assistant.core.settings import Settings
    from assistant.engine import Assistant

    bot = Assistant(Settings())
    bot.warm_up()
    chat = bot.chat_model_for(None)
    with open(args.out, "w") as out:
        for name, case in list_questions():
            found = bot.retrieve(case["question"])
            if not found.relevant or not found.listing:
                print(name, case["id"], "not read as a listing" if found.relevant else "abstains", flush=True)
                continue
            evidence = select_evidence(found.query, [(hit, bot._paper_text(hit)) for hit in found.hits], bot.sparse,
                                       bot.sentence_vectors)
            for place, ev in enumerate(sum(bot._choose(found.query, evidence, True), [])):  # stated, nearby
                p = chat.opening_probability(bot.prompts.paper_list_system,
                                             list_entry_prompt(bot.prompts.paper_list_answer, case["question"], ev),
                                             DECLINED)
                row = {"set": name, "id": case["id"], "place": place, "n": ev.n, "title": ev.hit.title,
                       "gold": ev.hit.title in case["gold_titles"], "p_decline": p}
                out.write(json.dumps(row) + "\n")
                out.flush()
                print(name, case["id"], place, row["gold"], round(p, 3) if p is not None else None, flush=True)
    bot.close()


if __name__ == "__main__":
    main()
