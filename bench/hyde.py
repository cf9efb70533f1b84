#!/usr/bin/env python
"""Would a hypothetical abstract written by the embedded chat model (HyDE) find a reworded question's paper?

A user who does not know a paper's words asks "a one-shot picture maker from a slow many-pass denoiser";
the abstract says "one-step diffusion distillation". The chat model may know the field's words: it writes
the title and opening of an abstract that would answer the question, and the paper reader (mpnet) reads
that text instead of, or beside, the question. Two steps:

    ASSISTANT_DATA_DIR=/tmp/seed-index python bench/hyde.py generate --out /tmp/hyde.json [--style query]
    ASSISTANT_DATA_DIR=/tmp/seed-index python bench/hyde.py score --out /tmp/hyde.json

``generate`` writes each single-paper question's hypothetical abstract (the user set's tune and held-out
questions, the first ``--dev`` of the dev set; Qwen2.5-Coder-1.5B Q4_K_M, llama.cpp, 2 threads,
temperature 0) with its seconds, or with ``--style query`` a few-shot rewrite of the question as a short search
query in the field's terms; it resumes a partial file. ``score`` prints recall@1 of the product's blend
with the reader reading the question, the generated text, or both, and recall@20 of the hybrid search
run on the question with the generated text appended (does the gold paper enter the candidates?).
Nothing is asserted; figures in bench/README.md.
"""
from __future__ import annotations

import argparse
import json
import os
import time
from pathlib import Path

import numpy as np
from mpnet_reading import engine
from readings import blend_cases, print_recall_at_1, single_questions

SYSTEM = "You are an expert machine learning researcher who knows the field's technical vocabulary."
ASK = ("A reader asks: {question}\n\nWrite the title and the first two sentences of the abstract of a research "
       "paper that answers this, in the technical terms such a paper would use. No preamble.")


# --style query: a few-shot rewrite into the field's words, short (24 tokens), instead of an abstract.
REWRITE = ("Rewrite a layperson's question about machine learning research as a short search query in the technical "
           "terms papers use. Reply with the query only.")
SHOTS = (("How do I make a chatbot smaller so it runs on my laptop without retraining it?",
          "post-training quantization and pruning of large language models"),
         ("Can a computer draw a picture from a sentence I type?", "text-to-image generation with diffusion models"),
         ("Is there a way to turn speech into text for meetings as it is spoken?",
          "streaming automatic speech recognition"))


def messages(question: str, style: str) -> list[dict]:
    if style == "abstract":
        return [{"role": "system", "content": SYSTEM}, {"role": "user", "content": ASK.format(question=question)}]
    shots = [turn for q, a in SHOTS for turn in ({"role": "user", "content": q}, {"role": "assistant", "content": a})]
    return [{"role": "system", "content": REWRITE}, *shots, {"role": "user", "content": question}]


def questions(dev: int) -> list[tuple[str, dict]]:
    out, seen = [], 0
    for name, case in single_questions():
        if name == "dev single":
            seen += 1
            if seen > dev:
                continue
        out.append((name, case))
    return out


def generate(out: Path, dev: int, max_tokens: int, style: str) -> None:
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    from llama_cpp import Llama

    settings, bot = engine()
    bot.close()
    llm = Llama(model_path=str(settings.llm.gguf_path), n_ctx=1024, n_threads=2, flash_attn=True, verbose=False)
    done = json.loads(out.read_text()) if out.exists() else {}
    for _, case in questions(dev):
        question = case["question"]
        if question in done:
            continue
        started = time.perf_counter()
        reply = llm.create_chat_completion(messages=messages(question, style), max_tokens=max_tokens, temperature=0)
        done[question] = {"text": reply["choices"][0]["message"]["content"].strip(),
                          "seconds": time.perf_counter() - started,
                          "tokens": reply["usage"]["completion_tokens"]}
        out.write_text(json.dumps(done, indent=1))
    seconds = [row["seconds"] for row in done.values()]
    print(f"{len(done)} hypothetical abstracts; p50 {np.median(seconds):.1f} s, p95 {np.percentile(seconds, 95):.1f} s")


def score(out: Path, dev: int) -> None:
    from assistant.answer.retrieve import retrieve_hits
    from assistant.answer.understand import search_text

    written = {q: row["text"] for q, row in json.loads(out.read_text()).items()}
    settings, bot = engine()
    asked = {case["question"] for _, case in questions(dev)} & set(written)

    def reading(form):
        def cosines(question, hits):
            if question not in asked:
                return [0.0] * len(hits)
            return bot._reader_scores(form(question), hits)
        return cosines

    cases = blend_cases(bot, settings, bot._reader_scores, reading(lambda q: written[q]),
                        reading(lambda q: f"{q} {written[q]}"))
    kept = [c for c, (_, case) in zip(cases, single_questions(), strict=True) if case["question"] in asked]

    from mpnet_reading import reader_lead

    def product(coverage, readings, extra=(0.0, 0.0)):
        weight = 8.0 if coverage < 0.3 or reader_lead(readings[:4]) >= 0.1 else 0.5
        return (0.5, 0.5, 0.5, weight, *extra)

    def instead(slot):  # the reader's weight moved from the question's reading to the generated text's
        def weights(coverage, readings):
            base = product(coverage, readings)
            return (*base[:3], 0.0, *(base[3] if i == slot else 0.0 for i in (0, 1)))
        return weights

    blends = {
        "product default (reader reads the question)": product,
        "reader reads the generated text instead": instead(0),
        "reader reads question + generated text instead": instead(1),
        **{f"default + generated text {w}": (lambda c, r, w=w: product(c, r, (w, 0.0))) for w in (1, 2, 4, 8)},
        **{f"default + question + generated text {w}": (lambda c, r, w=w: product(c, r, (0.0, w)))
           for w in (1, 2, 4, 8)},
        "generated text alone": (0.0, 0.0, 0.0, 0.0, 1000.0, 0.0),
        "question alone (reader)": (0.0, 0.0, 0.0, 1000.0, 0.0, 0.0),
    }
    print_recall_at_1(kept, blends, settings.rerank.candidates)

    print("\nrecall@20 of the hybrid search (is the gold paper among the reranked candidates?)")
    print("| set | question | question + generated text |")
    print("|---|---|---|")
    rows: dict[str, list[tuple[bool, bool]]] = {}
    for name, case in questions(dev):
        if case["question"] not in asked:
            continue
        found = []
        for text in (case["question"], f"{case['question']} {written[case['question']]}"):
            hits = retrieve_hits(search_text(text), index=bot.index, embedder=bot.embedder, sparse=bot.sparse,
                                 settings=settings.retrieval).hits[: settings.rerank.candidates]
            found.append(any(h.title == case["gold_titles"][0] for h in hits))
        rows.setdefault(name, []).append(tuple(found))
    for name, got in rows.items():
        print(f"| {name} ({len(got)}) | {np.mean([a for a, _ in got]):.3f} | {np.mean([b for _, b in got]):.3f} |")
    bot.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("step", choices=("generate", "score"))
    parser.add_argument("--out", type=Path, required=True, help="JSON of the hypothetical abstracts")
    parser.add_argument("--dev", type=int, default=40, help="dev single questions to include")
    parser.add_argument("--style", choices=("abstract", "query"), default="abstract",
                        help="generate: a hypothetical abstract (HyDE) or a few-shot rewrite as a search query")
    parser.add_argument("--max-tokens", type=int, help="default: 80 for an abstract, 24 for a query")
    args = parser.parse_args()
    if args.step == "generate":
        generate(args.out, args.dev, args.max_tokens or (80 if args.style == "abstract" else 24), args.style)
    else:
        score(args.out, args.dev)


if __name__ == "__main__":
    main()
