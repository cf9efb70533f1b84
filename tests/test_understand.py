"""Filters said in words: read off the question, applied on the real index, shown back to the user."""

from __future__ import annotations

import pytest
from conftest import make_settings

from assistant.answer.understand import (
    about_collection,
    asking_part,
    asks_popularity,
    combine,
    describe,
    read_filters,
    search_text,
)
from assistant.index.base import SearchFilter

SEED_DAYS = [311, 313, 314, 317, 820]  # the demo feeds: Mar 11, 13, 14, 17 and Aug 20, no year


@pytest.mark.parametrize(("question", "query", "expected"), [
    ("Which papers in the Mar 13 feed are about generating speech or audio?",
     "Which papers are about generating speech or audio?", SearchFilter(days=(313,))),
    ("Super-resolution papers from the March 14th feed?", "Super-resolution papers?", SearchFilter(days=(314,))),
    ("Anything since mid-March on video generation?", "Anything on video generation?", SearchFilter(since_day=315)),
    ("robotics before Mar 14", "robotics", SearchFilter(until_day=313)),
    ("anything after Mar 13 on agents", "anything on agents", SearchFilter(since_day=314)),
    ("agents between Mar 12 and Mar 15", "agents", SearchFilter(since_day=312, until_day=315)),
    ("what came out in early March about RL?", "what came out about RL?", SearchFilter(since_day=301, until_day=310)),
    ("Papers with code on GitHub about time series?", "Papers about time series?", SearchFilter(has_code=True)),
    ("Which surveys link a GitHub repo?", "Which surveys?", SearchFilter(has_code=True)),
    ("quantization in the latest feed", "quantization", SearchFilter(days=(820,))),
    ("diffusion in the first feed", "diffusion", SearchFilter(days=(311,))),
    ("vision papers from last week", "vision papers", SearchFilter(since_day=814, until_day=820)),
    ("Which papers showed up in both the Mar 11 and the Aug 20 feeds?",  # no topic: the whole question is kept
     "Which papers showed up in both the Mar 11 and the Aug 20 feeds?", SearchFilter(all_days=(311, 820))),
    ("LLM papers in at least four different feeds", "LLM papers", SearchFilter(min_feeds=4)),
    ("video papers that appeared in all five feeds", "video papers that appeared", SearchFilter(min_feeds=5)),
    ("diffusion papers from 2024-03-13 onwards", "diffusion papers", SearchFilter(since_day=20240313)),
])
def test_filter_words_become_a_filter_and_leave_the_topic(question, query, expected):
    reading = read_filters(question, SEED_DAYS)
    assert reading.query == query
    assert reading.filter == expected


@pytest.mark.parametrize("question", [
    "papers on code generation with LLMs",
    "LLM papers that may help with math",
    "Which models have code generation abilities?",
    "How does GPTQ quantize weights?",
    "What is the latest method for video generation?",
    "Is there a paper from Meta on early fusion?",
])
def test_topic_words_that_look_like_filters_are_left_alone(question):
    reading = read_filters(question, SEED_DAYS)
    assert reading.filter.empty and reading.query == question and reading.said == []


def test_relative_words_need_feeds_and_a_question_of_only_filters_keeps_its_words():
    assert read_filters("quantization in the latest feed", []).filter.empty  # nothing to count from
    reading = read_filters("What's in the Mar 13 feed?", SEED_DAYS)
    assert reading.filter == SearchFilter(days=(313,)) and not reading.topic
    assert reading.query == "What's in the Mar 13 feed?"  # no topic left: search with the whole question
    assert read_filters("Papers with code that were in at least four feeds?", SEED_DAYS).topic is False
    assert read_filters("Quantization papers in the Mar 13 feed?", SEED_DAYS).topic is True


def test_a_question_that_is_only_a_filter_is_answered_from_the_papers_passing_it(seed):
    answer = seed.assistant.ask("Which papers were in all five feeds?")
    assert answer.filters == ["in at least 5 feeds"] and not answer.abstained
    assert answer.hits and all(len(hit.feeds) == 5 for hit in answer.hits)


def test_a_question_of_only_filters_lists_every_paper_passing_them_not_the_first_ten(seed, seed_papers):
    passing = {pid for pid, paper in seed_papers.items() if len(paper.feeds) >= 4}
    assert len(passing) > 10, "the seed must have more such papers than a listing's default 10"
    answer = seed.assistant.ask("Which papers kept coming back, in at least four different feeds?")
    assert {citation.paper_id for citation in answer.citations} == passing
    assert answer.answer.startswith(f"The {len(passing)} papers that pass the filter (in at least 4 feeds):")
    capped = seed.settings.model_copy(update={"retrieval": seed.settings.retrieval.model_copy(
        update={"filter_papers": 5})})
    from assistant.engine import Assistant

    bot = Assistant(capped, index=seed.assistant.index, embedder=seed.assistant.embedder,
                    sparse=seed.assistant.sparse, chat_model=None)
    short = bot.ask("Which papers kept coming back, in at least four different feeds?")
    assert len(short.citations) == 5
    assert short.answer.startswith("5 of the papers that pass the filter (in at least 4 feeds); more pass it")


def test_filters_are_described_in_plain_words():
    flt = SearchFilter(since_day=315, until_day=20240320, days=(313,), min_feeds=2, has_code=True)
    assert describe(flt) == ["feed Mar 13", "feeds from Mar 15 to Mar 20, 2024", "in at least 2 feeds", "with code"]


def test_the_callers_filter_wins_where_it_says_something():
    read = SearchFilter(days=(313,), has_code=True)
    assert combine(SearchFilter(since_day=314), read) == SearchFilter(since_day=314, has_code=True)
    assert combine(SearchFilter(has_code=True), SearchFilter(days=(313,))) == SearchFilter(days=(313,), has_code=True)
    assert combine(None, read) == read


def test_dated_and_yearless_days_match_each_other():
    # A dated bound also reads yearless feeds by month and day.
    assert SearchFilter(since_day=20240313, until_day=20240313).day_groups() == [
        [(313, 313), (20240313, 20240313)]]
    # A yearless day reads dated feeds of every year the collection has.
    assert SearchFilter(days=(313,), years=(2023, 2024)).day_groups() == [
        [(313, 313), (20230313, 20230313), (20240313, 20240313)]]
    # Across the year's end, and two named feeds a paper must both be in.
    assert SearchFilter(since_day=1220, until_day=105).day_groups() == [[(1220, 1231), (101, 105)]]
    assert SearchFilter(all_days=(311, 820)).day_groups() == [[(311, 311)], [(820, 820)]]


# On the real seed index, through the engine every surface calls.

def test_a_feed_named_in_the_question_restricts_the_answer_and_is_shown(seed):
    answer = seed.assistant.ask("Which papers in the Mar 13 feed are about quantization?")
    assert answer.filters == ["feed Mar 13"]
    assert answer.query == "Which papers are about quantization?"
    assert answer.hits and all("Mar 13" in hit.feeds for hit in answer.hits)
    assert not answer.abstained


def test_with_code_in_words_keeps_only_papers_with_a_code_link(seed):
    hits = seed.assistant.search("post-training quantization of GPT models with code on GitHub", k=10)
    assert hits and all(hit.code_url for hit in hits)
    unfiltered = seed.assistant.search("post-training quantization of GPT models", k=10)
    assert any(not hit.code_url for hit in unfiltered), "the filter must have something to remove"


def test_a_dated_since_finds_the_yearless_feeds(seed):
    hits = seed.assistant.search("transformer", k=10, search_filter=SearchFilter(since_day=20240313,
                                                                                 until_day=20240313))
    assert hits and all("Mar 13" in hit.feeds for hit in hits)


def test_a_paper_in_both_named_feeds_and_in_many_feeds(seed):
    both = seed.assistant.search("Which papers showed up in both the Mar 11 and the Aug 20 feeds?", k=20)
    assert both and all({"Mar 11", "Aug 20"} <= set(hit.feeds) for hit in both)
    many = seed.assistant.search("language model papers in at least four different feeds", k=20)
    assert many and all(len(hit.feeds) >= 4 for hit in many)


def test_a_feed_the_collection_lacks_gets_an_honest_answer_naming_the_feeds(seed):
    answer = seed.assistant.ask("Which papers in the Mar 12 feed are about quantization?")
    assert answer.abstained and not answer.citations
    assert "passes the filter (feed Mar 12)" in answer.answer
    assert "Mar 11, Mar 13, Mar 14, Mar 17, Aug 20" in answer.answer


def test_reading_filters_can_be_switched_off(seed, embedder, sparse):
    from assistant.engine import Assistant

    settings = make_settings(seed.settings.data_dir, retrieval={"understand_filters": False})
    # The seed index is open in this process: share it rather than opening the folder twice.
    bot = Assistant(settings, index=seed.assistant.index, embedder=embedder, sparse=sparse, chat_model=None)
    reading = bot.understand("Which papers in the Mar 13 feed are about quantization?")
    assert reading.filter.empty and reading.query == "Which papers in the Mar 13 feed are about quantization?"
    reading = bot.understand("quantization", SearchFilter(has_code=True))
    assert reading.filter.has_code and reading.query == "quantization" and not reading.from_words


def test_the_answer_tells_the_filters_its_words_stated_from_those_set_and_can_skip_reading_them(seed):
    question = "Quantization papers that have released code?"
    read = seed.assistant.ask(question)
    assert read.filters == read.filters_read == ["with code"] and read.query == "Quantization papers?"
    set_only = seed.assistant.ask("Which papers are about quantization?", search_filter=SearchFilter(has_code=True))
    assert set_only.filters == ["with code"] and set_only.filters_read == []
    typed = seed.assistant.ask(question, read_filters=False)
    assert typed.filters == typed.filters_read == [] and typed.query == question
    hits = seed.assistant.search(question, read_filters=False)
    assert hits != seed.assistant.search(question)  # the filter words were searched as words, not applied


def test_the_sources_event_carries_the_filter_and_every_surface_shows_it(seed):
    from assistant.core.models import Sources
    from assistant.surfaces.cli import _sources_text
    from assistant.surfaces.slack.blocks import sources_text
    from assistant.surfaces.web.views import describe_sources

    events = list(seed.assistant.events("Quantization papers that have released code?"))
    sources = next(event for event in events if isinstance(event, Sources))
    assert sources.filters == ["with code"] and sources.query == "Quantization papers?"
    assert all(paper.code_url for paper in sources.papers)
    assert "**Filter:** with code" in describe_sources(sources)
    assert _sources_text(sources).startswith(f"Reading {len(sources.papers)} papers (with code):")
    assert f"reading {len(sources.papers)} papers (with code):" in sources_text(sources)


def test_a_listing_reads_more_papers_than_a_one_answer_question(seed):
    listing = seed.assistant.retrieve("Which papers are about video generation?")
    assert listing.listing and len(listing.hits) == seed.settings.retrieval.list_k
    filtered = seed.assistant.retrieve("Time series papers from the Aug 20 feed?")
    assert filtered.listing and all("Aug 20" in hit.feeds for hit in filtered.hits)
    single = seed.assistant.retrieve("How does GPTQ quantize the weights of GPT models?")
    assert not single.listing and len(single.hits) == seed.settings.retrieval.top_k
    assert len(seed.assistant.retrieve("Which papers are about video generation?", k=3).hits) == 3  # k given wins


def test_words_about_the_collection_are_not_searched_for():
    assert search_text("Which papers in the collection are surveys?") == "are surveys?"
    assert search_text("What work in the collection deals with medicine or health care?") == (
        "deals with medicine or health care?")
    assert search_text("Medical papers?") == "Medical?"
    assert search_text("Are there any papers on video generation?") == "on video generation?"
    # A topic that is all such words, or a question without them, is searched as it is.
    assert search_text("papers?") == "papers?"
    assert search_text("How does GPTQ quantize GPT models?") == "How does GPTQ quantize GPT models?"


def test_a_broad_list_question_about_the_collection_is_answered_not_abstained(seed):
    found = seed.assistant.retrieve("Which papers in the collection are surveys?")
    assert found.relevant and found.query == "Which papers in the collection are surveys?"
    assert sum("Survey" in hit.title for hit in found.hits) == 8  # and the 9th says so in its abstract


# A pasted thread with the question at its end: its chatter is neither searched nor read for filters.
THREAD = """Hi, pasting our team thread for context, sorry it is long.

Priya: the lidar detector is a sparse-convolution model and it keeps missing the 10 Hz budget on the
in-vehicle board; profiling shows voxelization and the sparse conv backbone take most of the time.
Marco: the calibration rig is booked Thursday, please label the bags from last week before then, and the
cafeteria is closed on Friday. The quarterly review moved to Mar 13, slides due the week before.
Jonas: every transformer we tried was about 3x slower than sparse conv because point clouds are irregular
and the windows need padding. Who borrowed the torque wrench from the cabinet next to the 3D printer?
Aylin: GPU quota resets on the 1st; file requests by Wednesday and stop leaving notebooks running.

{ask}"""


def test_a_long_message_is_searched_by_the_part_that_asks():
    ask = ("So my actual question: is there a point-cloud transformer that runs in real time on edge GPUs and "
           "beats sparse-convolution detectors on Waymo?")
    assert asking_part(THREAD.format(ask=ask)) == ask[len("So my actual question: "):]
    plain = "Is there a point-cloud transformer that beats sparse convolution in speed on Waymo?"
    assert asking_part(THREAD.format(ask=plain)) == plain  # no marker: its last paragraph asking something
    short = THREAD.format(ask="Any ideas?")  # a last paragraph of a few words takes the one before along
    assert asking_part(short).startswith("Priya: the lidar") and asking_part(short).endswith("Any ideas?")
    assert asking_part("Which papers quantize LLMs? My question: which of them has code?") == (
        "Which papers quantize LLMs? My question: which of them has code?")  # short messages are kept whole
    no_question = THREAD.format(ask="Please find me something on this.")
    assert asking_part(no_question) == no_question


def test_a_pasted_threads_dates_are_not_filters_and_its_question_finds_the_paper(seed):
    question = THREAD.format(ask="So my actual question: is there a published point-cloud transformer that is "
                                 "faster than sparse-convolution detectors like CenterPoint on Waymo?")
    answer = seed.assistant.ask(question)
    assert answer.filters == [], "'from last week' and 'Mar 13' in the chatter must not filter the feeds"
    assert answer.query.startswith("is there a published point-cloud transformer")
    assert answer.hits[0].title.startswith("FlatFormer")
    assert not answer.abstained


@pytest.mark.parametrize("question, about", [
    ("How many papers are in the collection?", True),
    ("How many papers are in the Aug 20 feed?", True),
    ("What feeds do you have?", True),
    ("What topics does the collection cover?", True),
    ("What can I ask?", True),
    ("What can you do with it?", False),  # a follow-up about the paper under discussion
    ("How many papers use diffusion?", False),  # a topic: searched, and listed
    ("Which papers in the collection are surveys?", False),
    ("Is there anything in the collection on RL?", False),
    ("Which papers came out this week?", False),  # only filters: the papers passing them are the answer
    ("Which papers were in all five feeds?", False),
])
def test_a_question_about_the_collection_itself_is_told_from_one_about_papers(question, about):
    assert about_collection(question, [20240311, 20240313, 20240820]) is about


def test_a_question_about_the_collection_is_answered_from_its_counts_not_from_a_paper(seed, seed_papers):
    """'How many papers are in the collection?' was answered with the abstract of 'An Image is Worth 32 Tokens'."""
    answer = seed.assistant.ask("How many papers are in the collection?")
    assert not answer.abstained and answer.citations == [] and answer.hits == []
    feeds = {label for paper in seed_papers.values() for label in paper.feeds}
    assert answer.answer.startswith(f"The collection holds {len(seed_papers)} papers from {len(feeds)} feed(s): ")
    for label in feeds:
        count = sum(label in paper.feeds for paper in seed_papers.values())
        assert f"{label} ({count})" in answer.answer
    with_code = sum(bool(paper.code_url) for paper in seed_papers.values())
    assert f"{with_code} of them link to code" in answer.answer
    # With a topic it is a question about papers: a listing, cited.
    topic = seed.assistant.ask("How many papers use diffusion?")
    assert len(topic.citations) > 1 and "The collection holds" not in topic.answer


def test_the_newest_papers_on_a_topic_are_listed_most_recent_first(seed):
    """'What's the newest paper on text-to-video?' listed the topic's papers in retrieval order, oldest feed first."""
    from assistant.core.dates import label_order
    from assistant.engine import NEWEST_FIRST

    answer = seed.assistant.ask("What's the newest paper on text-to-video?")
    assert answer.answer.startswith(NEWEST_FIRST) and answer.filters == []
    assert len(answer.citations) > 1
    newest = [max(label_order(label)[0] for label in c.feeds) for c in answer.citations]
    assert newest == sorted(newest, reverse=True) and newest[0] > newest[-1]
    assert "newest" not in search_text("What's the newest paper on text-to-video?")
    # "The latest feed" is a filter, not an order.
    assert not seed.assistant.ask("What did the latest feed have on 3D generation?").answer.startswith(NEWEST_FIRST)


@pytest.mark.parametrize(("question", "asks"), [
    ("Which paper is the most cited?", "only"),
    ("Which papers are most influential?", "only"),
    ("Rank them by citations", "only"),
    ("What is the most cited paper on diffusion?", "topic"),
    ("How often is GPTQ cited?", "topic"),
    ("How many citations does GPTQ have?", "topic"),
    # questions with the words in another sense
    ("How many times faster is GPTQ?", ""),
    ("Which papers verify citations in LLM answers?", ""),
])
def test_a_question_about_citation_counts_or_popularity_is_recognised(question, asks):
    assert asks_popularity(question) == asks


def test_popularity_words_are_not_searched():
    assert search_text("What is the most cited paper on diffusion?").split()[-1] == "diffusion?"
    assert "cited" not in search_text("What is the most cited paper on diffusion?")
