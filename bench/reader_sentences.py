#!/usr/bin/env python
"""Would the paper reader find the paper a reworded question means more often reading abstract sentences?

Today the reader (all-mpnet-base-v2, int8 ONNX) holds one vector per paper: title + abstract. A question
that asks about one finding of a long abstract may read closer to one of its sentences than to the whole.
This embeds every seed abstract's sentences with the product's reader (once, cached in ``--work``), then
reranks each single-paper question's top 20 hybrid candidates with the blend's readings plus:

- ``sentence``: the reader's best cosine with any of the paper's sentences (title counted as one);
- ``top2``: the mean of its two best sentence cosines;
- ``clauses``: the question cut at commas and clause words, each part's best sentence cosine, averaged
  (a paper must read close to every part of the question, not one word of it).

    ASSISTANT_DATA_DIR=/tmp/seed-index python bench/reader_sentences.py --work /tmp/rs

Prints recall@1 per set (user tune, user held out, dev single) for each blend; nothing is asserted.
"""
from __future__ import annotations

import argparse
import re
import time
from pathlib import Path

import numpy as np
from mpnet_reading import engine, reader_lead
from readings import print_recall_at_1, single_questions

CLAUSE = re.compile(r"[,;:?]|\b(?:and|so|so that|with|without|while|by|instead of|rather than|but|or|which|that)\b",
                    re.I)


def clauses(question: str) -> list[str]:
    parts = [p.strip() for p in CLAUSE.split(question) if p and len(p.split()) >= 3]
    return parts or [question]


def sentence_vectors(bot, work: Path) -> dict[str, np.ndarray]:
    from assistant.answer.attribute import abstract_sentences

    cache = work / "sentences.npz"
    if cache.is_file():
        stored = np.load(cache, allow_pickle=True)
        return dict(zip(stored["ids"], stored["vectors"], strict=True))
    texts: list[str] = []
    spans: dict[str, tuple[int, int]] = {}
    for row in bot.index.paper_summaries():
        paper = bot.paper(row["paper_id"])
        sentences = [paper.title, *(abstract_sentences(paper.abstract) or [paper.abstract])]
        spans[paper.paper_id] = (len(texts), len(texts) + len(sentences))
        texts.extend(sentences)
    started = time.perf_counter()
    vectors = bot.reader.model.embed(texts)
    print(f"embedded {len(texts)} sentences of {len(spans)} papers in {time.perf_counter() - started:.0f} s")
    out = {pid: vectors[a:b] for pid, (a, b) in spans.items()}
    work.mkdir(parents=True, exist_ok=True)
    np.savez(cache, ids=np.array(list(out)), vectors=np.array(list(out.values()), dtype=object))
    return out


def cases(bot, settings, sentences):
    from assistant.answer.rerank import _dense_scores
    from assistant.answer.retrieve import retrieve_hits
    from assistant.answer.understand import search_text

    out = []
    for name, case in single_questions():
        text = search_text(case["question"])
        hits = retrieve_hits(text, index=bot.index, embedder=bot.embedder, sparse=bot.sparse,
                             settings=settings.retrieval).hits[: settings.rerank.candidates]
        q = bot.reader.model.embed_query(case["question"])
        parts = [bot.reader.model.embed_query(p) for p in clauses(case["question"])]
        best, top2, clause = [], [], []
        for hit in hits:
            cos = sentences[hit.paper_id] @ q
            best.append(float(cos.max()))
            top2.append(float(np.sort(cos)[-2:].mean()))
            clause.append(float(np.mean([(sentences[hit.paper_id] @ p).max() for p in parts])))
        readings = (bot.reranker.maxsim.scores(text, hits), bot._best_sentence_scores(text, hits),
                    _dense_scores(hits), bot._reader_scores(case["question"], hits), best, top2, clause)
        gold = next((i for i, h in enumerate(hits) if h.title == case["gold_titles"][0]), -1)
        out.append((name, gold, readings, bot._coverage(text, hits)))
    return out


def rule(extra: int, weight: float, decides: bool = True):
    """The product's blend (reader 8 when reworded or leading by 0.1, else 0.5) plus reading ``extra``
    (4: sentence, 5: top2, 6: clauses) at ``weight``, or at 8 in the reader's place when it decides."""
    def blend(coverage, readings):
        lead = reader_lead(readings[:4]) >= 0.1
        weights = [0.5, 0.5, 0.5, 8.0 if coverage < 0.3 or lead else 0.5, 0.0, 0.0, 0.0]
        if decides and weights[3] == 8.0:
            weights[3], weights[extra] = 8.0 - weight, weight
        elif not decides:
            weights[extra] = weight
        return tuple(weights)
    return blend


BLENDS = {
    "product's blend": rule(4, 0.0),
    **{f"+ {name} {w} (always)": rule(i, w, decides=False) for i, name in ((4, "sentence"), (5, "top2"),
                                                                             (6, "clauses")) for w in (0.5, 2.0)},
    **{f"decider: paper {8 - w} + {name} {w}": rule(i, w) for i, name in ((4, "sentence"), (5, "top2"),
                                                                            (6, "clauses")) for w in (2.0, 4.0, 8.0)},
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--work", type=Path, required=True, help="folder for the cached sentence vectors")
    args = parser.parse_args()
    settings, bot = engine()
    found = cases(bot, settings, sentence_vectors(bot, args.work))
    print_recall_at_1(found, BLENDS, settings.rerank.candidates)
    bot.close()


if __name__ == "__main__":
    main()
