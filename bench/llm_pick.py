#!/usr/bin/env python
"""Can the embedded chat model pick, among the blend's top candidates, the paper a reworded question means?

Each single-paper question of the user set (tune and held out) and the first 40 of the dev set is retrieved as
the product does (hybrid search, blend rerank); the model (Qwen2.5-Coder-1.5B Q4_K_M, llama.cpp, 2 threads)
is shown the question and the top K titles lettered A, B, ... and answers with one letter:

    ASSISTANT_DATA_DIR=/tmp/seed-index python bench/llm_pick.py --k 4 [--first-sentence]

Prints recall@1 of the blend and of the model's pick per set, how many questions the pick fixed and broke,
and the pick's p50 seconds. Nothing is asserted; figures in bench/README.md.
"""
from __future__ import annotations

import argparse
import os
import time

import numpy as np
from mpnet_reading import engine
from readings import single_questions

LETTERS = "ABCDEFGH"
SYSTEM = "You match a user's question to the research paper it describes."


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--k", type=int, default=4, help="candidates shown (at most 8)")
    parser.add_argument("--first-sentence", action="store_true", help="show each abstract's first sentence too")
    parser.add_argument("--dev", type=int, default=40, help="dev single questions to include")
    args = parser.parse_args()
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    from llama_cpp import Llama

    settings, bot = engine()
    llm = Llama(model_path=str(settings.llm.gguf_path), n_ctx=2048, n_threads=2, flash_attn=True, verbose=False)
    rows = []
    for name, case in single_questions():
        if name == "dev single" and sum(row[0] == name for row in rows) >= args.dev:
            continue
        hits = bot.retrieve(case["question"], k=args.k).hits[: args.k]
        lines = [f"{LETTERS[i]}. {h.title}" + (f" — {bot._abstract(h).split('. ')[0][:160]}"
                                                 if args.first_sentence else "") for i, h in enumerate(hits)]
        prompt = (f"Question: {case['question']}\n\nPapers:\n" + "\n".join(lines)
                  + "\n\nWhich paper is the question about? Answer with the letter only.")
        started = time.perf_counter()
        reply = llm.create_chat_completion(messages=[{"role": "system", "content": SYSTEM},
                                                     {"role": "user", "content": prompt}],
                                           max_tokens=2, temperature=0)
        took = time.perf_counter() - started
        letter = reply["choices"][0]["message"]["content"].strip()[:1].upper()
        pick = LETTERS.find(letter) if letter else -1
        gold = next((i for i, h in enumerate(hits) if h.title == case["gold_titles"][0]), -1)
        rows.append((name, gold, pick, took))
    print(f"| set | questions | blend r@1 | model's pick r@1 | fixed | broke | gold in top {args.k} | pick p50 s |")
    print("|---|---|---|---|---|---|---|---|")
    for name in dict.fromkeys(row[0] for row in rows):
        mine = [row for row in rows if row[0] == name]
        print(f"| {name} | {len(mine)} | {np.mean([g == 0 for _, g, _, _ in mine]):.3f} | "
              f"{np.mean([g >= 0 and p == g for _, g, p, _ in mine]):.3f} | "
              f"{sum(g > 0 and p == g for _, g, p, _ in mine)} | {sum(g == 0 and p != 0 for _, g, p, _ in mine)} | "
              f"{np.mean([g >= 0 for _, g, _, _ in mine]):.3f} | {np.median([t for *_, t in mine]):.1f} |")
    bot.close()


if __name__ == "__main__":
    main()
