"""Kinds of paper asked for in words ("Which papers are surveys?"): read off the question, checked on each
found paper's own title and abstract, shown with the filters, and honest when none is of that kind."""

from __future__ import annotations

import pytest
from conftest import GPTQ_TITLE, make_settings, paper_by_title, write_jsonl

from assistant.answer.attribute import papers_asked_for
from assistant.answer.kinds import KINDS, declares, kind_asked
from assistant.answer.understand import mentions, mentions_asked, read_filters
from assistant.core.models import Turn

SURVEY, BENCHMARK = KINDS
# The seed's surveys: every title saying so, and the one whose abstract says "This survey" (user set l021).
SEED_SURVEYS = 9


@pytest.mark.parametrize(("question", "kind"), [
    ("Which papers in the collection are surveys?", "survey"),
    ("Were there any surveys in the Aug 20 feed?", "survey"),
    ("Is there a survey of transformer inference optimisation?", "survey"),
    ("Any review papers on reinforcement learning?", "survey"),
    ("Are there overviews of diffusion models?", "survey"),
    ("Which papers introduce a new benchmark?", "benchmark"),
    ("Papers that release a dataset for speech synthesis?", "benchmark"),
    # One named paper, a topic, or a use of data: not a kind of paper.
    ("What does the survey on RL for generative AI say about reward models?", None),
    ("How do they use household surveys to predict the next job?", None),
    ("Which papers have survey data from respondents?", None),
    ("Which papers use peer reviews?", None),
    ("Give me an overview of the Aug 20 feed", None),  # what the feed holds: its listing
    ("A quick overview of this week's feeds?", None),
    # The singular word as a modifier, or a part of a paper: no kind either.
    ("Which papers add a review step to LLM agents?", None),
    ("Is there a survey question bank for LLM evaluation?", None),
    ("Which papers give an overview of their method in a figure?", None),
    ("Is there an overview of video generation?", "survey"),
    ("Any survey?", "survey"),
    ("Which papers review diffusion models for video?", "survey"),
    ("Which papers survey 2,000 workers about automation?", None),
    ("Papers that review code written by LLMs?", None),
    ("Are state space models really better than transformers on long-range benchmarks?", None),
    ("Is there a dataset of naturally recorded, improvised spoken dialogue?", None),
    ("How does GPTQ quantize the weights of GPT models?", None),
])
def test_a_question_asking_for_a_kind_of_paper_is_told_from_one_about_a_topic(question, kind):
    found = kind_asked(question)
    assert (found.name if found else None) == kind


def test_a_paper_declares_its_kind_in_its_title_or_its_own_words():
    assert declares(SURVEY, "A Survey of Techniques for Optimizing Transformer Inference", "We review ...")
    assert declares(SURVEY, "Generative AI for Autonomous Driving: Frontiers and Opportunities",
                    "This survey offers a comprehensive synthesis of recent advances.")
    assert not declares(SURVEY, "LABOR-LLM: Language-Based Occupational Representations",
                        "We use nationally representative surveys of workers to predict their next job.")
    assert declares(BENCHMARK, "Long Range Arena: A Benchmark for Efficient Transformers", "...")
    assert declares(BENCHMARK, "Beyond the Imitation Game", "we introduce the Beyond the Imitation Game benchmark")
    assert not declares(BENCHMARK, "GPTQ", "Experiments on standard benchmarks show a 3.25x speed-up.")


def test_the_kind_is_shown_with_the_filters_and_makes_a_listing():
    reading = read_filters("Were there any surveys in the Aug 20 feed?", [313, 820])
    assert reading.said == ["feed Aug 20", "surveys only"] and reading.from_words and reading.kind is SURVEY
    assert read_filters("Which papers are about quantization?", [313]).kind is None


def test_which_papers_are_surveys_lists_every_survey_and_nothing_else(seed, seed_papers):
    found = seed.assistant.retrieve("Which papers in the collection are surveys?")
    assert found.relevant and found.listing and found.filters == ["surveys only"]
    assert len(found.hits) == SEED_SURVEYS
    for hit in found.hits:
        assert declares(SURVEY, hit.title, seed_papers[hit.paper_id].abstract), hit.title
    # The word alone is no evidence: a paper about surveys of workers is not a survey.
    assert not any(hit.title.startswith("LABOR-LLM") for hit in found.hits)


def test_a_kind_with_a_filter_keeps_both(seed):
    found = seed.assistant.retrieve("Which surveys link a GitHub repo?")
    assert found.filters == ["with code", "surveys only"]
    assert found.hits and all(hit.code_url for hit in found.hits)
    assert "Generative AI for Autonomous Driving: Frontiers and Opportunities" in [hit.title for hit in found.hits]


def test_ask_again_without_the_filters_drops_the_kind_too(seed):
    found = seed.assistant.retrieve("Which papers in the collection are surveys?", read_filters=False)
    assert found.filters == [] and any(hit.title.startswith("LABOR-LLM") for hit in found.hits)


def test_no_paper_of_the_kind_among_the_found_ones_is_said_plainly(tmp_path, embedder, sparse, seed_papers):
    from assistant.engine import Assistant

    papers = [paper_by_title(seed_papers, GPTQ_TITLE),
              paper_by_title(seed_papers, "FuseGPT: Learnable Layers Fusion of Generative Pre-trained Transformers")]
    source = write_jsonl(tmp_path / "papers.jsonl", [{"title": p.title, "abstract": p.abstract} for p in papers])
    bot = Assistant(make_settings(tmp_path / "data"), embedder=embedder, sparse=sparse, chat_model=None,
                    create_index=True)
    try:
        bot.ingest([source])
        answer = bot.ask("Which papers are surveys?")
        assert answer.abstained and answer.filters == ["surveys only"] and not answer.citations
        assert answer.answer.startswith('None of the papers found for this question passes "surveys only"')
        assert not bot.ask("Which papers are about quantizing GPT models?").abstained
        # With a topic the papers match, the kind still has to be there: no survey, no answer.
        topical = bot.ask("Any surveys on quantizing GPT models?")
        assert topical.abstained and not topical.citations and topical.answer.startswith("None of the papers")
    finally:
        bot.close()


def test_a_question_of_only_a_kind_or_a_filter_is_answered_by_the_listing_not_the_model(seed, seed_papers):
    from test_support import with_reply

    bot = with_reply(seed, "These are surveys of reinforcement learning [1].")  # would be wrong if it were used
    answer = bot.ask("Which papers in the collection are surveys?")
    assert not answer.abstained and answer.model == "none" and not answer.sentences
    assert answer.answer.startswith("The 9 papers that pass the filter (surveys only):")
    assert "reinforcement learning [1]" not in answer.answer
    assert len(answer.citations) == SEED_SURVEYS  # every survey, not the first few with close evidence
    for citation in answer.citations:
        assert f"{citation.title} [{citation.n}]" in answer.answer
        assert declares(SURVEY, citation.title, seed_papers[citation.paper_id].abstract)
    feed = bot.ask("Which papers were in all five feeds?")
    assert feed.model == "none" and feed.citations and all(len(hit.feeds) == 5 for hit in feed.hits)
    # A topic besides the kind is the model's to answer.
    assert bot.ask("Any surveys on reinforcement learning for generative models?").model != "none"


def test_which_papers_mention_a_name_lists_every_paper_saying_it_and_quotes_where(seed, seed_papers):
    """'Which papers mention ImageNet?' listed the 6 closest of the 41 papers whose abstracts say it."""
    saying = {pid for pid, paper in seed_papers.items() if mentions("ImageNet", f"{paper.title}. {paper.abstract}")}
    assert len(saying) > 10  # a scan of every seed abstract: more than a listing's 10
    found = seed.assistant.retrieve("Which papers mention ImageNet?")
    assert found.relevant and found.by_filter and found.filters == found.filters_read == ['mentions "ImageNet"']
    assert {hit.paper_id for hit in found.hits} == saying
    assert not seed.assistant.retrieve("Which papers mention ImageNet?", read_filters=False).by_filter  # as typed
    # "Which of those have code?" counts every paper of that listing (the 41st was lost to a 40-paper search)
    listed = seed.assistant.ask("Which papers mention ImageNet?")
    history = [Turn(role="user", content="Which papers mention ImageNet?"),
               Turn(role="assistant", content=listed.answer)]
    those = seed.assistant.ask("Which of those have code?", history=history)
    with_code = [pid for pid in saying if seed_papers[pid].code_url]
    assert those.answer.startswith(f"{len(with_code)} of the {len(saying)} papers in the previous answer pass")
    assert {c.paper_id for c in those.citations} == set(with_code)
    answer = seed.assistant.ask("Which papers in the Mar 14 feed mention ImageNet?")
    assert answer.filters == ["feed Mar 14", 'mentions "ImageNet"']
    assert answer.citations and all("Mar 14" in c.feeds for c in answer.citations)
    assert {c.paper_id for c in answer.citations} == {pid for pid in saying if "Mar 14" in seed_papers[pid].feeds}
    # A name no abstract says gets no listing; with more asked than the name, the listing keeps only its sayers.
    assert not seed.assistant.retrieve('Which papers mention "Hyena Hierarchy"?').relevant
    found = seed.assistant.retrieve("Which papers use GPT-4 as a judge?")
    assert found.hits and not found.by_filter
    assert all(mentions("GPT-4", f"{h.title}. {seed_papers[h.paper_id].abstract}") for h in found.hits)


@pytest.mark.parametrize(("question", "asked"), [
    ("Which papers mention ImageNet?", ("ImageNet", "?")),
    ("Which papers mention Mamba?", ("Mamba", "?")),  # after "mention", any capitalised word is a name
    ("What work evaluates on COCO?", ("COCO", "?")),
    ("Which papers were evaluated on MS MARCO?", ("MS MARCO", "?")),
    ("Which papers compare against Stable Diffusion?", ("Stable Diffusion", "?")),
    ('Which papers mention "world model"?', ("world model", "?")),
    ("Which papers use GPT-4 as a judge?", ("GPT-4", "as a judge?")),
    # an everyday word after "use" is a topic, not a name
    ("Which papers use diffusion?", None),
    ("Which papers use Diffusion?", None),
    ("How does GPTQ use the Hessian?", None),
])
def test_the_name_a_question_asks_to_be_mentioned(question, asked):
    assert mentions_asked(question) == asked


def test_a_listing_states_as_many_papers_as_asked_for(seed):
    """'Give me 3 papers that mention ImageNet' listed all 41, and 'Name two papers …' up to six."""
    answer = seed.assistant.ask("Give me 3 papers that mention ImageNet")
    assert len(answer.citations) == 3
    assert answer.answer.startswith('3 of the papers that pass the filter (mentions "ImageNet"), as many as asked')
    answer = seed.assistant.ask("Name two papers that prune vision transformers")
    assert len(answer.citations) == 2
    assert len(seed.assistant.ask("Which papers prune vision transformers?").citations) > 2  # no number: the gate


@pytest.mark.parametrize(("question", "n"), [
    ("Give me three papers on video generation with code.", 3),
    ("Show me the top 5 papers about RL", 5),
    ("List 3 papers with code", 3),
    ("Give me a few papers on speech", 3),
    ("Which papers use ImageNet?", None),
    ("Find 0 papers", None),
])
def test_how_many_papers_a_question_asks_for(question, n):
    assert papers_asked_for(question) == n
