#!/usr/bin/env python
"""Does the embedded model's probability of declining a paper tell the right paper from its neighbours?

Each single-paper question of the user set (tune and held out) and the dev set is retrieved as the product
does; for each of the top K papers the model gets exactly the one-paper prompt an answer sends (system
prompt, title and whole abstract, then the question; saved states loaded where present) and we read the
probability that its first token is the decline word's ("NOT"):

    ASSISTANT_DATA_DIR=<seed index with llm-states> python bench/decline_scores.py --k 3 --out scores.jsonl

Writes one JSON line per question (set, gold rank, each paper's P(decline)), then prints how often the paper
with the lowest P(decline) is the right one, against retrieval's first. Nothing is asserted.
"""
from __future__ import annotations

import argparse
import json
import os
import time

import numpy as np
from readings import single_questions


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--k", type=int, default=3, help="papers scored per question")
    parser.add_argument("--out", required=True, help="JSON lines written here")
    args = parser.parse_args()
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    from assistant.answer.attribute import abstract_of, paper_prompt
    from assistant.answer.local.runner import _shared
    from assistant.core.settings import Settings
    from assistant.engine import Assistant

    settings = Settings()
    bot = Assistant(settings)
    bot.warm_up()
    from assistant.answer.local.provider import local_chat_model

    model = local_chat_model()
    model.load()
    llm = model._llm
    decline = llm.tokenize(b"NOT", add_bos=False, special=False)[0]
    n_vocab = llm.n_vocab()
    done = set()
    if os.path.exists(args.out):
        done = {json.loads(line)["question"] for line in open(args.out)}
    with open(args.out, "a") as out:
        for name, case in single_questions():
            if case["question"] in done:
                continue
            hits = bot.retrieve(case["question"], k=args.k).hits[: args.k]
            scores, took = [], []
            for hit in hits:
                messages = [{"role": "system", "content": bot.prompts.paper_system},
                            {"role": "user", "content": paper_prompt(bot.prompts.paper_answer, case["question"],
                                                                     hit.title, abstract_of(hit, bot._abstract(hit)))}]
                started = time.perf_counter()
                rendered = model._formatter(messages=messages)
                prompt = llm.tokenize(rendered.prompt.encode(), add_bos=not rendered.added_special, special=True)
                model._restore_prefix(llm, rendered.prompt, prompt, model._content_start(messages, rendered.prompt))
                llm.n_tokens = min(_shared(llm.input_ids[: llm.n_tokens], prompt), len(prompt) - 1)
                llm.eval(prompt[llm.n_tokens:])
                logits = np.ctypeslib.as_array(llm._ctx.get_logits(), shape=(n_vocab,)).astype(np.float64)
                probs = np.exp(logits - logits.max())
                probs /= probs.sum()
                scores.append(float(probs[decline]))
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
