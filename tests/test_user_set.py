"""The user-style set (evals/datasets/user.jsonl): generated, not hand-edited; reworded singles far from their
abstracts; list and filter gold sets that hold what their questions ask for; a held-out third of each type."""

from __future__ import annotations

import json
from collections import Counter

import pytest
from conftest import FEEDS, SEED_PAPERS

from evals import user_set
from evals.dataset import load_dataset
from evals.user_set import (
    MAX_SINGLE_OVERLAP,
    OUTPUT,
    UserSetError,
    bm25_ranks,
    build_cases,
    content_words,
    light_stem,
    load_seed_papers,
    question_overlap,
    render_dataset,
)


@pytest.fixture(scope="module")
def papers():
    return load_seed_papers(FEEDS)


@pytest.fixture(scope="module")
def cases():
    return [json.loads(line) for line in OUTPUT.read_text(encoding="utf-8").splitlines()]


@pytest.fixture(scope="module")
def by_title(papers):
    return {p.title: p for p in papers}


def test_the_committed_file_is_what_the_builder_writes(papers):
    assert OUTPUT.read_text(encoding="utf-8") == render_dataset(build_cases(papers)), \
        "user.jsonl differs from the builder's output: edit evals/user_set.py and run python -m evals.user_set"


def test_it_loads_against_the_seed_papers(papers):
    assert len(papers) == SEED_PAPERS
    loaded = load_dataset(OUTPUT, known_titles=[p.title for p in papers])
    counts = Counter(c.type for c in loaded)
    assert counts["single"] >= 70 and counts["list"] >= 15 and counts["filter"] >= 20
    assert len(loaded) >= 105


def test_ids_follow_the_type(cases):
    prefix = {"single": "u", "list": "l", "filter": "f"}
    for kind, letter in prefix.items():
        ids = [c["id"] for c in cases if c["type"] == kind and "turns" not in c]
        assert ids == [f"{letter}{n:03d}" for n in range(1, len(ids) + 1)]
    conversations = [c["id"] for c in cases if "turns" in c]
    assert conversations == [f"c{n:03d}" for n in range(1, len(conversations) + 1)]


def test_every_single_is_far_from_its_abstract(cases, by_title):
    singles = [c for c in cases if c["type"] == "single"]
    assert len({c["gold_titles"][0] for c in singles}) == len(singles), "one question per paper"
    for case in singles:
        recomputed = question_overlap(case["question"], by_title[case["gold_titles"][0]])
        assert case["overlap"] == round(recomputed, 3) < MAX_SINGLE_OVERLAP, case["id"]


def test_bm25_alone_no_longer_finds_most_singles_first(cases, papers):
    singles = [c for c in cases if c["type"] == "single"]
    ranks = bm25_ranks([c["question"] for c in singles], [c["gold_titles"][0] for c in singles], papers)
    assert sum(rank == 1 for rank in ranks) / len(ranks) <= 0.6


def test_list_cases_name_three_to_ten_papers_with_their_rule(cases):
    lists = [c for c in cases if c["type"] == "list"]
    for case in lists:
        assert 3 <= len(case["gold_titles"]) <= 10, case["id"]
        assert case["rule"] and case["question"].startswith(("Which papers", "What work in the collection"))


def _independently_passes(paper, filters) -> bool:
    """The filters re-read from the paper's sightings, without the builder's code."""
    days = {s.day for s in paper.sightings}
    labels = {s.date for s in paper.sightings}
    month_day = {"Mar 11": 311, "Mar 13": 313, "Mar 14": 314, "Mar 15": 315, "Mar 17": 317, "Aug 20": 820}
    ok = True
    if "feeds" in filters:
        ok &= bool(labels & set(filters["feeds"]))
    if "all_feeds" in filters:
        ok &= set(filters["all_feeds"]) <= labels
    if "min_feeds" in filters:
        ok &= len(labels) >= filters["min_feeds"]
    if "since" in filters:
        ok &= any(day >= month_day[filters["since"]] for day in days)
    if "before" in filters:
        ok &= any(day < month_day[filters["before"]] for day in days)
    if "has_code" in filters:
        ok &= bool(paper.code_url) == filters["has_code"] and (not paper.code_url or "github.com" in paper.code_url)
    return ok


def test_filter_gold_papers_satisfy_their_filters(cases, papers, by_title):
    filters = [c for c in cases if c["type"] == "filter"]
    for case in filters:
        assert case["filters"] and case["rule"], case["id"]
        gold = [by_title[t] for t in case["gold_titles"]]
        assert 1 <= len(gold) <= 15, case["id"]
        assert all(_independently_passes(p, case["filters"]) for p in gold), case["id"]
        if "topic" not in case["rule"]:  # filter alone: every paper that passes is gold
            assert {p.title for p in papers if _independently_passes(p, case["filters"])} == set(case["gold_titles"])


def test_conversation_cases_narrow_a_listing_in_words_and_their_gold_is_its_topic_passing_the_filters(cases):
    conversations = [c for c in cases if "turns" in c]
    assert len(conversations) >= 8 and all(c["type"] == "filter" for c in conversations)
    for case in conversations:
        first, *follow_ups = case["turns"]
        assert first.startswith(("Which papers", "What work in the collection")) and follow_ups, case["id"]
        assert "; and topic " in case["rule"], case["id"]  # the first question's topic, and the filters said since
    assert any(len(c["turns"]) >= 3 for c in conversations), "a chain of follow-ups, not only pairs"


def test_both_splits_for_every_type_about_a_third_held_out(cases):
    for kind in ("single", "list", "filter"):
        splits = Counter(c["split"] for c in cases if c["type"] == kind)
        assert splits["tune"] and splits["heldout"], kind
        assert 0.25 <= splits["heldout"] / sum(splits.values()) <= 0.4, kind


def test_the_builder_refuses_a_single_that_echoes_its_abstract(papers, monkeypatch):
    gptq = "GPTQ: Accurate Post-Training Quantization for Generative Pre-trained Transformers"
    echo = "Which one-shot weight quantization method uses approximate second-order information for GPT models?"
    monkeypatch.setattr(user_set, "SINGLES", [user_set.SINGLES[1], (gptq, echo)])
    with pytest.raises(UserSetError, match=r"u002: overlap 0\.\d+"):
        user_set.build_singles(papers)
    monkeypatch.setattr(user_set, "SINGLES", [(gptq, "How does GPTQ squeeze a chatbot?")])
    with pytest.raises(UserSetError, match="u001: the question names its paper"):
        user_set.build_singles(papers)


def test_content_words_drop_stopwords_and_light_inflections():
    assert light_stem("trained") == light_stem("training") == light_stem("trains") == "train"
    assert light_stem("images") == light_stem("image") == "imag" and light_stem("class") == "class"
    assert content_words("Which of the models were trained on 4 GPUs?") == {"model", "train", "4", "gpu"}
