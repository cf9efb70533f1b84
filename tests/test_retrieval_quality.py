"""Retrieval quality with the real models (MiniLM ONNX + Edge BM25) on reworded dev questions."""

from __future__ import annotations

import json
import re

import pytest
from conftest import DEV_SET

# Words too common to tell a question's topic; everything else of four or more letters is distinctive.
STOPWORDS = frozenset("""
about above after again against also among another because been before being below between both could
does doing down during each every from further have having here into itself just more most much must other
over same should some such than that their theirs them then there these they this those through under until
very what when where which while whom with within without would your yours make made using used based toward
towards across
""".split())


def distinctive_words(text: str) -> set[str]:
    return {w.rstrip("s") for w in re.findall(r"[a-z]+", text.lower()) if len(w) >= 4 and w not in STOPWORDS}


def reworded_questions(limit: int = 20) -> list[dict]:
    """The first `single` dev questions that share no distinctive word with their gold title (file order)."""
    rows = [json.loads(line) for line in DEV_SET.read_text(encoding="utf-8").splitlines() if line.strip()]
    picked = [r for r in rows if r["type"] == "single"
              and not distinctive_words(r["question"]) & distinctive_words(" ".join(r["gold_titles"]))]
    return picked[:limit]


@pytest.fixture(scope="module")
def gold_ranks(seed) -> dict[str, int | None]:
    """1-based rank of the gold paper in the top 10 for each reworded question (None when absent)."""
    ranks = {}
    for row in reworded_questions():
        titles = [h.title for h in seed.assistant.search(row["question"], k=10)]
        gold = row["gold_titles"][0]
        ranks[row["id"]] = titles.index(gold) + 1 if gold in titles else None
    return ranks


def test_selection_is_twenty_reworded_single_questions():
    picked = reworded_questions()
    assert len(picked) == 20 and len({r["id"] for r in picked}) == 20
    assert all(r["type"] == "single" and len(r["gold_titles"]) == 1 for r in picked)


def test_gold_paper_is_in_the_top5_for_at_least_18_of_20_reworded_questions(gold_ranks):
    # 19 with the fused order alone; the blend rerank (the default) moves two to ranks 6 and 7 while it lifts
    # the user set's single-question recall@5 from 0.741 to 0.862 (README, "Measured choices").
    misses = {qid: rank for qid, rank in gold_ranks.items() if rank is None or rank > 5}
    print(f"top-5 misses (id: rank in top 10): {misses}")
    assert len(misses) <= 2, misses


def test_gold_paper_is_in_the_top10_for_every_reworded_question(gold_ranks):
    misses = [qid for qid, rank in gold_ranks.items() if rank is None]
    print(f"top-10 misses: {misses}")
    assert misses == []


def test_unrelated_short_texts_are_not_similar(embedder):
    """MiniLM puts unrelated sentences near 0 cosine; counting padding tokens in the mean pulls them to ~0.7."""
    vectors = embedder.embed(["best onion soup recipe", "post-training quantization of GPT weights to 3 bits"])
    assert float(vectors[0] @ vectors[1]) < 0.3
