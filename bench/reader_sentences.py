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

Prints recall@1 per set (user tune, user held out, dev single) for each blend, then for a learned blend:
a listwise linear model (softmax over the candidates) over each reading's z-score, rank term and gap to the
best, trained on the tune and dev questions (5-fold cross-validated on tune). Nothing is asserted.
"""
from __future__ import annotations

import argparse
import re
import time
from pathlib import Path

import numpy as np
from mpnet_reading import engine, reader_lead
from readings import blend_cases, print_recall_at_1

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
    """The blend's readings, the product reader's paper cosine, then the three sentence readings."""
    model = bot.reader.model

    def cosines(question: str, hits) -> list[np.ndarray]:  # per hit: each sentence's cosine with the question
        q = bot.reader.query_vector(question)
        return [sentences[hit.paper_id] @ q for hit in hits]

    def clause(question: str, hits) -> list[float]:
        parts = [model.embed_query(p) for p in clauses(question)]
        return [float(np.mean([(sentences[hit.paper_id] @ p).max() for p in parts])) for hit in hits]

    return blend_cases(bot, settings, bot._reader_scores,
                       lambda question, hits: [float(c.max()) for c in cosines(question, hits)],
                       lambda question, hits: [float(np.sort(c)[-2:].mean()) for c in cosines(question, hits)],
                       clause)


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


def _features(readings, coverage: float, which: tuple[int, ...]) -> np.ndarray:
    from assistant.answer.rerank import _ranks

    n = len(readings[0])
    columns = [10 / (10 + np.arange(n))]
    for j in which:
        s = np.asarray(readings[j], dtype=float)
        s = np.where(np.isfinite(s), s, np.min(s[np.isfinite(s)]) - 0.1)
        z, rank = (s - s.mean()) / (s.std() + 1e-6), 10 / (10 + _ranks(s))
        columns += [z, rank, s - s.max()]
        if j == 3:  # the reader, also gated by the product's coverage rule
            columns += [z * (coverage < 0.3), rank * (coverage < 0.3)]
    return np.stack(columns, axis=1)


def _train(xs, golds, l2: float, steps: int = 400, rate: float = 0.1) -> np.ndarray:
    w = np.zeros(xs[0].shape[1])
    w[0] = 1.0
    for _ in range(steps):
        grad = np.zeros_like(w)
        for x, gold in zip(xs, golds, strict=True):
            if gold >= 0:
                p = np.exp(x @ w - (x @ w).max())
                grad += x.T @ (p / p.sum()) - x[gold]
        w -= rate * (grad / len(xs) + l2 * w)
    return w


def learned(found) -> None:
    """Recall@1 of the learned blend per reading set and L2, and its 5-fold cross-validation on tune."""
    def rows(names, which):
        picked = [(_features(r, c, which), g) for n, g, r, c in found if n in names]
        return [x for x, _ in picked], [g for _, g in picked]

    def hit(w, x, gold):
        return gold >= 0 and int(np.argmax(x @ w)) == gold

    print("\nlearned blend: readings (0 MaxSim, 1 sentence, 2 dense, 3 reader, 4 sentence, 5 top2, 6 clauses)")
    print("| readings | L2 | user tune | user heldout | dev single | tune 5-fold |\n|---|---|---|---|---|---|")
    for which in ((0, 1, 2, 3), (0, 1, 2, 3, 4), (0, 1, 2, 3, 6), (0, 1, 2, 3, 4, 5, 6)):
        for l2 in (0.001, 0.01, 0.1):
            w = _train(*rows({"user tune", "dev single"}, which), l2)
            recall = [np.mean([hit(w, x, g) for x, g in zip(*rows({name}, which), strict=True)])
                      for name in ("user tune", "user heldout", "dev single")]
            tune, dev = rows({"user tune"}, which), rows({"dev single"}, which)
            folds = []
            for fold in range(5):
                rest = [i for i in range(len(tune[0])) if i % 5 != fold]
                w = _train([tune[0][i] for i in rest] + dev[0], [tune[1][i] for i in rest] + dev[1], l2)
                folds += [hit(w, tune[0][i], tune[1][i]) for i in range(fold, len(tune[0]), 5)]
            print(f"| {which} | {l2} | " + " | ".join(f"{v:.3f}" for v in (*recall, np.mean(folds))) + " |")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--work", type=Path, required=True, help="folder for the cached sentence vectors")
    args = parser.parse_args()
    settings, bot = engine()
    found = cases(bot, settings, sentence_vectors(bot, args.work))
    print_recall_at_1(found, BLENDS, settings.rerank.candidates)
    learned(found)
    bot.close()


if __name__ == "__main__":
    main()
