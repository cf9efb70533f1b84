"""Answers over the seed index: verified citations, abstention, LLM failure fallback, extractive mode, follow-ups.

Only the LLM's wording is faked (LiteLLM `mock_response`, never on the network); retrieval is real.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from conftest import GPTQ_TITLE, make_settings, quoted_after

from assistant.answer.context import (
    ABSTAIN_TEXT,
    NEARBY_HEADING,
    heuristic_standalone,
    leans_back,
    only_narrows,
    stands_alone,
    uncited_list,
)
from assistant.answer.llm import ChatModel
from assistant.answer.understand import day_label
from assistant.core.models import Answer, Delta, Sources, Turn
from assistant.core.settings import LLMSettings
from assistant.engine import BEYOND_THOSE, NO_POPULARITY, Assistant

QUESTION = "How can a 175-billion-parameter GPT model be quantized to 3 or 4 bits per weight in a few GPU hours?"
MOCK_MODEL = "openai/gpt-4o-mini"
FIXTURES = Path(__file__).resolve().parent / "fixtures"


def with_llm(seed, mock_response, answer_mode: str = "attributed") -> Assistant:
    """An assistant on the shared seed index whose chat model replies with `mock_response`."""
    llm = LLMSettings(model=MOCK_MODEL, num_retries=0, timeout=30, answer_mode=answer_mode)
    chat = ChatModel(llm, extra={"mock_response": mock_response})
    bot = seed.assistant
    return Assistant(seed.settings.model_copy(update={"llm": llm}), index=bot.index, embedder=bot.embedder,
                     sparse=bot.sparse, chat_model=chat)


def assert_cites_only_retrieved(answer: Answer) -> None:
    retrieved = {h.paper_id for h in answer.hits}
    assert answer.citations, answer.answer
    assert {c.paper_id for c in answer.citations} <= retrieved
    for citation in answer.citations:
        assert f"[{citation.n}]" in answer.answer


def test_llm_answer_keeps_valid_markers_and_drops_invented_ones(seed):
    """In the 'context' answer mode the model places the markers: an unknown one is dropped and counted."""
    reply = "GPTQ quantizes the weights one layer at a time using second-order information [1]. It runs on Mars [9]."
    answer = with_llm(seed, reply, "context").ask(QUESTION)
    assert not answer.abstained and not answer.generation_failed
    assert answer.model == MOCK_MODEL
    assert answer.removed_citations == 1
    assert "[9]" not in answer.answer and "[1]" in answer.answer
    assert [c.n for c in answer.citations] == [1]
    assert answer.citations[0].title == GPTQ_TITLE
    assert_cites_only_retrieved(answer)
    search_ids = [h.paper_id for h in seed.assistant.search(QUESTION)]
    assert answer.citations[0].paper_id in search_ids


def test_the_attributed_answer_sets_its_own_markers(seed):
    """In the default mode the model's markers are ignored: the system marks each sentence with its paper."""
    reply = "GPTQ quantizes the weights one layer at a time using second-order information [3]. It runs on Mars [9]."
    answer = with_llm(seed, reply).ask(QUESTION)
    statement = (f"{GPTQ_TITLE}: GPTQ quantizes the weights one layer at a time using second-order "
                 "information [1]. It runs on Mars [1].")  # the paper named by the system, first
    abstract = seed.assistant.paper(answer.citations[0].paper_id).abstract
    assert all(quote in abstract for quote in quoted_after(answer.answer, statement))  # then what it left out
    assert answer.removed_citations == 0 and [c.title for c in answer.citations] == [GPTQ_TITLE]


@pytest.mark.parametrize("mode", ["attributed", "context"])
def test_streaming_yields_text_before_the_final_answer(seed, mode):
    items = list(with_llm(seed, "GPTQ does this [1].", mode).answer_stream(QUESTION))
    assert isinstance(items[-1], Answer)
    assert all(isinstance(item, str) for item in items[:-1]) and "".join(items[:-1]).startswith("GPTQ")
    if mode == "context":
        assert items[-1].answer == "GPTQ does this [1]."
    else:  # the statement the system names and marks, then the evidence it left out, quoted
        assert quoted_after(items[-1].answer, f"{GPTQ_TITLE}: GPTQ does this [1].")


def test_llm_reply_without_markers_is_not_passed_off_as_a_cited_answer(seed):
    answer = with_llm(seed, "GPTQ quantizes weights to 3 or 4 bits.", "context").ask(QUESTION)
    assert answer.generation_failed and "cited none of the sources" in answer.answer
    assert "Sources consulted" not in answer.answer  # no filler citations the model did not make
    assert_cites_only_retrieved(answer)  # the extractive fallback, cited


def test_off_topic_question_abstains_without_citations(seed):
    answer = seed.assistant.ask("best onion soup recipe")
    assert answer.abstained, [(h.title, h.dense_score) for h in answer.hits[:3]]
    assert answer.citations == []
    assert answer.answer.startswith(ABSTAIN_TEXT) and "You may mean" in answer.answer


@pytest.mark.parametrize("failure", ["exception", "unreachable"])
def test_failing_llm_falls_back_to_cited_papers_with_a_note(seed, failure):
    if failure == "exception":
        bot = with_llm(seed, Exception("provider exploded"))
    else:  # a server that refuses connections: port 9 (discard) on loopback is closed
        settings = LLMSettings(model=MOCK_MODEL, api_base="http://127.0.0.1:9/v1", api_key="test", num_retries=0,
                               timeout=20)
        base = seed.assistant
        bot = Assistant(seed.settings, index=base.index, embedder=base.embedder, sparse=base.sparse,
                        chat_model=ChatModel(settings))
    answer = bot.ask(QUESTION)
    assert answer.generation_failed
    assert not answer.abstained
    assert answer.answer.startswith("Note: the language model failed")
    assert_cites_only_retrieved(answer)
    assert answer.citations[0].title == GPTQ_TITLE


def test_extractive_answer_without_llm_cites_numbered_papers(seed):
    answer = seed.assistant.ask(QUESTION)
    assert answer.model == "none" and not answer.abstained and not answer.generation_failed
    assert "[1]" in answer.answer
    assert answer.citations[0].title == GPTQ_TITLE
    assert GPTQ_TITLE in answer.answer
    assert_cites_only_retrieved(answer)


REPQUANT_TITLE = ("RepQuant: Towards Accurate Post-Training Quantization of Large Transformer Models via Scale "
                  "Reparameterization")


@pytest.mark.parametrize("model", ["none", "mock"])
def test_a_question_naming_two_papers_is_answered_from_each(seed, model):
    """'Compare GPTQ and RepQuant' was a one-paper answer about GPTQ: the paper retrieval ranked first."""
    bot = seed.assistant if model == "none" else with_llm(seed, "It quantizes the weights after training.")
    answer = bot.ask("Compare RepQuant and GPTQ")
    assert not answer.abstained and not answer.generation_failed
    assert [c.title for c in answer.citations] == [REPQUANT_TITLE, GPTQ_TITLE]  # in the order the question names them
    assert answer.answer.index(REPQUANT_TITLE) < answer.answer.index(GPTQ_TITLE)
    for citation in answer.citations:
        assert f"[{citation.n}]" in answer.answer


def test_a_name_no_found_paper_mentions_is_said_before_the_answer_about_the_rest(seed):
    """'Compare GPTQ and AWQ' was answered about GPTQ with no word on AWQ, which no paper in the seed mentions."""
    events = list(with_llm(seed, "It quantizes the weights after training.").events("Compare GPTQ and AWQ"))
    texts = [event.text for event in events if isinstance(event, Delta)]
    assert texts[0] == "None of the papers found mentions AWQ.\n\n"  # first, before any paper's statement
    answer = events[-1].answer
    assert answer.answer.startswith("None of the papers found mentions AWQ.\n\n" + GPTQ_TITLE)
    assert not answer.abstained and [c.title for c in answer.citations] == [GPTQ_TITLE]
    assert seed.assistant.retrieve(QUESTION).unmentioned == []  # names every found abstract has: no note


def test_how_cited_or_popular_a_paper_is_is_said_to_be_unknown_not_searched(seed):
    """'Which paper is the most cited?' was searched, and answered with whichever abstract said 'cited'."""
    bot = with_llm(seed, "It quantizes the weights after training.")
    events = list(bot.events("Which paper is the most cited?"))
    assert not any(isinstance(event, Sources) for event in events)
    answer = events[-1].answer
    assert answer.answer.startswith(NO_POPULARITY) and answer.abstained and not answer.citations
    assert answer.model == "none"
    # With a topic, the note comes first and the topic is answered (searched without the popularity words).
    events = list(bot.events("How often is GPTQ cited?"))
    texts = [event.text for event in events if isinstance(event, Delta)]
    assert texts[0].startswith(NO_POPULARITY)
    answer = events[-1].answer
    assert answer.answer.startswith(NO_POPULARITY) and not answer.abstained
    assert [c.title for c in answer.citations] == [GPTQ_TITLE]


def test_what_a_papers_record_holds_is_answered_from_the_record_without_the_model(seed, tmp_path, embedder, sparse):
    """'Does GPTQ have code?' and 'Who wrote GPTQ?' were answered with GPTQ's abstract, which says neither."""
    events = list(with_llm(seed, "It quantizes the weights after training.").events("Does GPTQ have code?"))
    answer = events[-1].answer
    assert answer.answer.splitlines()[:2] == [f"{GPTQ_TITLE} [1]", "- Code: https://github.com/IST-DASLab/gptq"]
    assert answer.model == "none" and "quantizes the weights" not in answer.answer  # no model call
    assert [c.title for c in answer.citations] == [GPTQ_TITLE] and answer.filters == []  # asked, not a filter
    assert isinstance(events[0], Sources) and [p.title for p in events[0].papers] == [GPTQ_TITLE]
    who = seed.assistant.ask("Who wrote GPTQ?").answer
    assert who.splitlines()[1] == "- Authors: not in its record (the feed lists none)"  # the seed feeds have none
    # A question about the paper's content is answered from its abstract as before.
    assert "- Code:" not in seed.assistant.ask("How does GPTQ quantize weights?").answer
    # An arXiv metadata record has authors and a date.
    engine = Assistant(make_settings(tmp_path / "data"), embedder=embedder, sparse=sparse, chat_model=None,
                       create_index=True)
    try:
        engine.ingest([FIXTURES / "arxiv_snapshot_sample.jsonl"])
        lines = engine.ask("Who are the authors of GPTQ, and when was it published?").answer.splitlines()
        assert lines[1] == "- Authors: Elias Frantar, Saleh Ashkboos, Torsten Hoefler, Dan Alistarh"
        assert lines[2].startswith("- Published: 2022-")
    finally:
        engine.close()


def test_the_paper_a_question_names_by_its_title_goes_first(seed):
    """'Who wrote GPTQ?' ranked a survey of GPT models above GPTQ (the dense and reader readings preferred it)."""
    found = seed.assistant.retrieve("Who wrote GPTQ?")
    assert found.hits[0].title == GPTQ_TITLE
    both = seed.assistant.retrieve("How does RepQuant differ from GPTQ?")
    assert [hit.title for hit in both.hits[:2]] == [REPQUANT_TITLE, GPTQ_TITLE]


@pytest.mark.parametrize("rewrite", ["What speed-up did they report?", "  what speed up did they report  ", " "])
def test_a_condensation_that_keeps_the_follow_up_as_typed_joins_the_previous_question(seed, rewrite):
    """The embedded model sometimes returns the follow-up unchanged: "they" would then be searched for alone."""
    history = [Turn(role="user", content=QUESTION), Turn(role="assistant", content="GPTQ does it [1].")]
    follow_up = "What speed-up did they report?"
    assert with_llm(seed, rewrite).standalone_query(follow_up, history) == f"{QUESTION} {follow_up}"


def test_a_condensation_longer_than_the_questions_it_stands_for_joins_them(seed):
    """The embedded model copied the previous answer as the 'standalone query' (dev f004): 140 words of quotes."""
    answer = ("GPTQ quantizes each layer with second-order information [1]. \u201cIt can quantize GPT models with "
              "175 billion parameters in approximately four GPU hours, reducing the bitwidth down to 3 or 4 bits "
              "per weight, with negligible accuracy degradation relative to the uncompressed baseline.\u201d [1]")
    history = [Turn(role="user", content=QUESTION), Turn(role="assistant", content=answer)]
    follow_up = "What speed-up did they report?"
    assert with_llm(seed, answer).standalone_query(follow_up, history) == f"{QUESTION} {follow_up}"
    shorter = "What speed-up did GPTQ report?"  # a rewrite naming the paper stays what is searched
    assert with_llm(seed, shorter).standalone_query(follow_up, history) == shorter


def test_a_new_question_naming_its_own_topic_is_searched_as_typed_without_the_model(seed):
    """The embedded model's rewrite of a second question took 1.4-9 s before its sources could show."""
    history = [Turn(role="user", content=QUESTION), Turn(role="assistant", content="GPTQ does it [1].")]
    new = "How does RepQuant reparameterize the quantizer scales of large transformer models?"
    bot = with_llm(seed, "A rewrite nobody should search")
    assert bot.standalone_query(new, history) == new
    assert bot.ask(new, history=history).hits[0].title == REPQUANT_TITLE
    # One that leans back, or names too little to stand alone, is still rewritten by the model.
    assert bot.standalone_query("What FID on ImageNet?", history) == "A rewrite nobody should search"


@pytest.mark.parametrize(("question", "alone"), [
    ("Which model hooks a frozen image encoder up to Vicuna with a single projection layer?", True),
    ("How does GPTQ compare with RepQuant on 3-bit weights?", True),
    ("What did they report?", False),  # points back
    # "it" after the question has named its topic refers inside it; before that, to the answer before
    ("Why do feature maps show a grid pattern, and how can it be removed?", True),
    ("Is there a music generator that makes a melody I give it come back and develop?", True),
    ("What latency and throughput gains did they report?", False),
    ("How does it compare with GPTQ on 3-bit weights?", False),
    # an ordinal that picks from the answer before leans back; one that says what it counts does not
    ("Can a small helper model read the prompt so that the first output word comes sooner on a phone?", True),
    ("How does the second paper evaluate its pruned language models?", False),
    ("Which dataset did the first one use for its image benchmarks?", False),
    ("Which method picks the samples for distilling diffusion models into one step?", True),  # not "the same"
    ("Any code?", False),  # a filter, no topic
    ("What FID on ImageNet?", False),  # too little of a topic: about the paper before
    ("Why and how much faster was training?", False),  # question words name no topic
    ("Only papers from the Mar 17 feed about diffusion transformers?", False),
])
def test_which_questions_in_a_conversation_stand_alone(question, alone):
    assert stands_alone(question) is alone


def test_a_real_condensation_is_searched_as_written(seed):
    history = [Turn(role="user", content=QUESTION), Turn(role="assistant", content="GPTQ does it [1].")]
    rewrite = "What speed-up did GPTQ report for 3-bit GPT models?"
    assert with_llm(seed, f'"{rewrite}"\nextra line').standalone_query("What speed-up did they report?",
                                                                     history) == rewrite


def test_follow_up_question_retrieves_the_paper_under_discussion(seed):
    history = [Turn(role="user", content=QUESTION),
               Turn(role="assistant", content="GPTQ quantizes each layer with second-order information [1].")]
    answer = seed.assistant.ask("What speed-up did they report?", history=history)
    assert not answer.abstained
    assert answer.hits[0].title == GPTQ_TITLE
    assert answer.citations[0].title == GPTQ_TITLE


def test_a_chain_of_follow_ups_keeps_the_topic_and_every_filter_said_on_the_way(seed):
    """Without a model, "And which of them were in the Mar 17 feed?" after "Which of those have code?" was searched
    as those two follow-ups alone: the topic was lost and the answer abstained."""
    history: list[Turn] = []
    for question in ("Which papers quantize large language models after training?", "Which of those have code?"):
        answer = seed.assistant.ask(question, history=history)
        history += [Turn(role="user", content=question), Turn(role="assistant", content=answer.answer)]
    third = seed.assistant.ask("And which of them were in the Mar 17 feed?", history=history)
    assert not third.abstained
    assert third.query.startswith("Which papers quantize large language models after training?")
    assert sorted(third.filters) == ["feed Mar 17", "with code"]
    assert GPTQ_TITLE in [c.title for c in third.citations]
    assert all(hit.code_url and "Mar 17" in hit.feeds for hit in third.hits)


def test_which_of_those_lists_the_previous_answers_papers_that_pass_then_the_new_ones(seed):
    """"Which of those have code?" had searched the topic again with the filter and listed papers the user had not
    been shown as if they were "those" (after a listing on speech, one on long text generation): the answer now
    lists the previous answer's papers that pass, then, under a heading of their own, new ones that do. The papers
    a listing names uncited after its answer (nearby) are the previous answer's too."""
    question = "Which papers quantize large language models after training?"
    first = seed.assistant.ask(question)
    # The answer as a listing with a nearby paper gives it: one of the topic's candidates with code, named uncited
    # (which of its papers the reader puts in that band is not what this tests).
    cited = {c.paper_id for c in first.citations}
    candidates = seed.assistant.retrieve(question, seed.assistant._those_depth()).hits
    nearby = [next(hit for hit in candidates if hit.code_url and hit.paper_id not in cited)]
    said = first.answer.partition(NEARBY_HEADING)[0].rstrip() + "\n\n" + uncited_list(NEARBY_HEADING, nearby)
    shown = cited | {nearby[0].paper_id}
    history = [Turn(role="user", content=question), Turn(role="assistant", content=said)]
    with_code = {c.paper_id for c in first.citations if c.code_url} | {nearby[0].paper_id}
    assert len(shown) > 2 and 0 < len(with_code) < len(shown)
    narrowed = seed.assistant.ask("Which of those have code?", history)
    assert not narrowed.abstained and narrowed.filters == ["with code"]
    assert narrowed.answer.startswith(f"{len(with_code)} of the {len(shown)} papers in the previous answer pass")
    those, _, new = narrowed.answer.partition(BEYOND_THOSE)
    by_n = {c.n: c for c in narrowed.citations}
    assert {by_n[n].paper_id for n in markers(those)} == with_code
    assert all(by_n[n].paper_id not in shown and by_n[n].code_url for n in markers(new))
    # Those that pass are all counted even when fewer hits are asked for than they are.
    one = seed.assistant.ask("Which of those have code?", history, k=1)
    assert one.answer.startswith(narrowed.answer.splitlines()[0])
    assert with_code <= {c.paper_id for c in one.citations}

    # Slack shows our list lines with bullets: its thread history names the same papers.
    bulleted = [history[0], Turn(role="assistant", content=said.replace("\n- ", "\n• "))]
    assert seed.assistant.ask("Which of those have code?", bulleted).answer == narrowed.answer

    feeds = [c.feeds for c in first.citations] + [hit.feeds for hit in nearby]
    missed = [day for day in seed.assistant.feed_days() if not any(day_label(day) in f for f in feeds)]
    if missed:  # a feed none of the listed papers was seen in
        none = seed.assistant.ask(f"Which of them were in the {day_label(missed[0])} feed?", history)
        assert none.answer.startswith(f"None of the {len(shown)} papers in the previous answer passes the filter")
        assert not shown & {c.paper_id for c in none.citations}

    # Without the previous answer's text (a client sending only the questions) the topic is searched with the filter.
    alone = seed.assistant.ask("Which of those have code?", [Turn(role="user", content=question)])
    assert alone.citations and all(c.code_url for c in alone.citations)
    assert "previous answer" not in alone.answer


def markers(text: str) -> set[int]:
    return {int(n) for n in re.findall(r"\[(\d+)\]", text)}


def test_a_follow_up_that_only_narrows_is_not_rewritten_and_a_rewrite_keeps_the_filter_words_typed(seed):
    """The embedded model rewrote "Which of those have code?" as the previous answer's titles, dropping the filter."""
    history = [Turn(role="user", content="Which papers quantize large language models after training?"),
               Turn(role="assistant", content="GPTQ [1] and SliceGPT [2] and RepQuant [3] ...")]
    bot = with_llm(seed, "GPTQ, SliceGPT, RepQuant")  # the model's rewrite: no word of the filter left
    assert bot.standalone_query("Which of those have code?", history) == (
        "Which papers quantize large language models after training? Which of those have code?")
    assert only_narrows("And which of them were in the Mar 17 feed?") and not only_narrows("What did they report?")
    answer = bot.ask("Which of them use diffusion models, with code on GitHub?", history)  # a topic: rewritten
    assert answer.query == "GPTQ, SliceGPT, RepQuant"
    assert answer.filters == ["with code"] and all(hit.code_url for hit in answer.hits)
    filtered = [Turn(role="user", content="Which papers in the Mar 17 feed are about quantization?"),
                Turn(role="assistant", content="SliceGPT [1] ...")]
    new_topic = with_llm(seed, "GPTQ post-training quantization").ask("What is GPTQ?", filtered)
    assert new_topic.filters == [], "a question that does not lean back inherits no filter"


def test_a_follow_up_is_joined_back_only_to_the_last_question_that_names_its_topic():
    turns = [Turn(role="user", content=q) for q in ("Which papers quantize LLMs?", "Which papers generate video?",
                                                    "Which of those have code?")]
    assert heuristic_standalone("And from March?", turns) == (
        "Which papers generate video? Which of those have code? And from March?")
    assert heuristic_standalone("What about speech?", turns[:1]) == "Which papers quantize LLMs? What about speech?"
    assert not leans_back("Which papers generate video?") and leans_back("What did they report?")


def test_the_question_limit_applies_to_what_the_user_typed_not_to_the_condensed_follow_up(seed):
    from assistant.core.errors import InvalidQuery

    base = seed.assistant
    settings = seed.settings.model_copy(update={"max_question_chars": len(QUESTION),
                                                "llm": seed.settings.llm.model_copy(update={"condense": "heuristic"})})
    engine = Assistant(settings, index=base.index, embedder=base.embedder, sparse=base.sparse, chat_model=None)
    history = [Turn(role="user", content=QUESTION), Turn(role="assistant", content="GPTQ does it [1].")]
    follow_up = engine.ask("And how fast is it on one GPU?", history)  # condensed: longer than the limit
    assert not follow_up.abstained and len(follow_up.query) > len(QUESTION)
    with pytest.raises(InvalidQuery, match="too long"):
        engine.ask(QUESTION + "?")
    with pytest.raises(InvalidQuery, match="too long"):
        engine.search(QUESTION + "?")
