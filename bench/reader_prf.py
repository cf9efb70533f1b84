#!/usr/bin/env python
"""Would pseudo-relevance feedback on the paper reader find a reworded question's paper first more often?

    ASSISTANT_DATA_DIR=/tmp/seed-index python bench/reader_prf.py

Issue 12 lists dense pseudo-relevance feedback among the candidates. For each single-paper question (user set
tune and held-out, dev singles) the product's blend orders the top 20 hybrid candidates; the question's reader
vector is then moved toward the mean reader vector of the first ``m`` papers of that order (Rocchio:
q' = q + beta * mean, normalised), the candidates' reader cosines are read again with q', and the blend is
run once more with the new reading in the reader's place (same weights and rule). Prints recall@1 and
recall@5 per set for each (m, beta). Nothing is asserted; figures in bench/README.md.
"""
from __future__ import annotations

import numpy as np
from readings import single_questions


def main() -> None:
    from mpnet_reading import engine, reader_lead

    from assistant.answer.rerank import _dense_scores, _ranks
    from assistant.answer.retrieve import retrieve_hits
    from assistant.answer.understand import search_text

    settings, bot = engine()
    rows = []  # (set, gold index, readings (MaxSim, sentence, dense), coverage, q, paper vectors)
    for name, case in single_questions():
        text = search_text(case["question"])
        hits = retrieve_hits(text, index=bot.index, embedder=bot.embedder, sparse=bot.sparse,
                             settings=settings.retrieval).hits[: settings.rerank.candidates]
        vectors = bot.index.paper_vectors([hit.paper_id for hit in hits])
        matrix = np.stack([vectors[hit.paper_id] for hit in hits]).astype(np.float32)
        readings = (bot.reranker.maxsim.scores(text, hits), bot._best_sentence_scores(text, hits),
                    _dense_scores(hits))
        gold = next((i for i, h in enumerate(hits) if h.title == case["gold_titles"][0]), -1)
        rows.append((name, gold, readings, bot._coverage(text, hits), bot.reader.query_vector(text),
                     matrix))
    bot.close()

    def blend(readings, reader, coverage):
        base = 1.0 / (10 + np.arange(len(reader)))
        for scores in readings:
            base = base + 0.5 / (10 + _ranks(scores))
        weight = 8.0 if coverage < 0.3 or reader_lead((*readings, reader)) >= 0.1 else 0.5
        return np.argsort(-(base + weight / (10 + _ranks(reader))), kind="stable")

    groups = list(dict.fromkeys(row[0] for row in rows))
    print("| m | beta | " + " | ".join(f"{g} ({sum(r[0] == g for r in rows)}) r@1 / r@5" for g in groups) + " |")
    print("|---|---|" + "---|" * len(groups))
    for m, beta in [(0, 0.0), *((m, b) for m in (1, 2, 3, 5) for b in (0.25, 0.5, 1.0))]:
        found = {g: ([], []) for g in groups}
        for name, gold, readings, coverage, q, matrix in rows:
            order = blend(readings, matrix @ q, coverage)
            if m:
                moved = q + beta * matrix[order[:m]].mean(axis=0)
                order = blend(readings, matrix @ (moved / np.linalg.norm(moved)), coverage)
            found[name][0].append(gold >= 0 and order[0] == gold)
            found[name][1].append(gold >= 0 and gold in order[:5])
        print(f"| {m} | {beta} | " + " | ".join(f"{np.mean(a):.3f} / {np.mean(b):.3f}" for a, b in found.values())
              + " |", flush=True)


if __name__ == "__main__":
    main()
