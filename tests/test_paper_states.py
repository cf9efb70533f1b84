"""Saved per-paper llama.cpp states: the store, the runner loading them (same text, fewer tokens read), the
engine building them for its papers and yielding to answers, and the `assistant states` command."""

from __future__ import annotations

import os
import threading
from pathlib import Path

import pytest
from conftest import GPTQ_TITLE, assert_clean_failure, paper_by_title, run_cli, write_jsonl

from assistant.answer.local import register_local_llm
from assistant.answer.local.runner import generation_request
from assistant.answer.local.states import PrefixStates, prefix_cuts
from assistant.answer.paper_states import QUESTION_MARK, build_prompt_states, build_states, paper_messages
from assistant.core.models import Paper
from assistant.core.settings import LOCAL_MODEL, LLMSettings

GGUF = LLMSettings().gguf_path
needs_model = pytest.mark.skipif(not GGUF.is_file(), reason=f"{GGUF} is absent: run scripts/setup_llm.sh")
SYSTEM = "You state what one research paper says, using only its abstract."
TEMPLATE = 'Abstract of "{title}":\n{abstract}\n\nQuestion: {question}'
PAPER = Paper(paper_id="2210.17323", title="GPTQ", abstract=(
    "We present GPTQ, a new one-shot weight quantization method based on approximate second-order information. "
    "GPTQ can quantize GPT models with 175 billion parameters in approximately four GPU hours, reducing the "
    "bitwidth down to 3 or 4 bits per weight, with negligible accuracy degradation."))


# --- the store -------------------------------------------------------------------------------------------


def test_a_state_round_trips_and_a_damaged_file_is_dropped(tmp_path: Path) -> None:
    states = PrefixStates(tmp_path, "model", max_bytes=10**6)
    key = states.key("system\n\nAbstract\n\n")
    assert not states.has(key) and states.load(key) is None
    states.save(key, [5, 6, 7], b"kv-cache")
    ids, data = states.load(key)
    assert ids.tolist() == [5, 6, 7] and data == b"kv-cache"
    assert states.ids(key).tolist() == [5, 6, 7]  # the header alone
    assert states.key("system\n\nAbstract\n\n") == key != PrefixStates(tmp_path, "other model", 1).key(
        "system\n\nAbstract\n\n")  # another model (or llama.cpp build) never loads it
    path = next(tmp_path.glob("*.state"))
    path.write_bytes(path.read_bytes()[:30])  # cut inside its token ids
    assert states.load(key) is None and not path.exists()
    path.write_bytes(b"not a state at all")
    assert states.load(key) is None and not path.exists()
    assert list(tmp_path.iterdir()) == []  # no temporary file left behind


def test_the_cap_drops_the_least_recently_used_states(tmp_path: Path) -> None:
    states = PrefixStates(tmp_path, "model", max_bytes=300)  # each file: 132 bytes
    for n, name in enumerate(["a", "b"]):
        states.save(states.key(name), [1], bytes(100))
        os.utime(tmp_path / f"{states.key(name)}.state", (1000 + n, 1000 + n))
    assert states.load(states.key("a")) is not None  # a used now: b is the oldest
    states.save(states.key("c"), [1], bytes(100))
    assert [states.has(states.key(name)) for name in "abc"] == [True, False, True]
    assert states.size() <= 300 and states.full(100) and not states.full(10)


def test_a_prefix_may_end_after_any_blank_line_the_longest_tried_first() -> None:
    text = "sys\n\nAbstract of x:\nabc.\n\nQuestion: q"
    assert [text[:cut] for cut in prefix_cuts(text)] == ["sys\n\nAbstract of x:\nabc.\n\n", "sys\n\n"]
    assert prefix_cuts("no blank line") == []


# --- the builder's loop (a stand-in model: the loop's decisions are the point) ---------------------------


class ScriptedModel:
    """save_prefix answers from a script; records which papers it was asked about."""

    def __init__(self, outcomes: list[str]) -> None:
        self.outcomes, self.asked = outcomes, []
        self.states = PrefixStates(Path("/nonexistent"), "m", max_bytes=2**20)

    def save_prefix(self, messages, before, pause) -> str:
        self.asked.append(messages[1]["content"].split('"')[1])
        return "yielded" if pause() else self.outcomes.pop(0)


def test_the_builder_waits_while_answers_are_written_and_counts_each_paper(monkeypatch) -> None:
    monkeypatch.setattr("assistant.answer.paper_states.IDLE_WAIT", 0.01)
    papers = [Paper(paper_id=str(n), title=f"P{n}", abstract="A.") for n in range(4)]
    model, busy = ScriptedModel(["built", "present", "unfit", "built"]), iter([True, True, False] + [False] * 9)
    report = build_states(papers, SYSTEM, TEMPLATE, model, lambda: next(busy))
    assert model.asked == ["P0", "P0", "P0", "P1", "P2", "P3"]  # P0 retried until no answer was in flight
    assert (report.built, report.present, report.skipped, report.stopped) == (2, 1, 1, None)
    full = build_states(papers, SYSTEM, TEMPLATE, ScriptedModel(["built", "full"]), lambda: False)
    assert full.built == 1 and "cap (1 MB) is reached" in full.stopped
    stop = threading.Event()
    stop.set()
    assert build_states(papers, SYSTEM, TEMPLATE, ScriptedModel([]), lambda: False, stop).stopped == "stopped"


def test_the_prompt_an_answer_sends_is_the_built_prefix_then_the_question() -> None:
    built = paper_messages(SYSTEM, TEMPLATE, PAPER)[1]["content"]
    asked = paper_messages(SYSTEM, TEMPLATE, PAPER, "How many bits?")[1]["content"]
    cut = built.rindex("\n\n", 0, built.index(QUESTION_MARK)) + 2
    assert asked[:cut] == built[:cut] and asked[cut:] == "Question: How many bits?"


# --- the embedded model ----------------------------------------------------------------------------------


def _answer(model, question: str) -> str:
    request = generation_request(LOCAL_MODEL, paper_messages(SYSTEM, TEMPLATE, PAPER, question),
                                 {"temperature": 0, "max_tokens": 24}, 300)
    return model.complete(request, threading.Event())[0]


def _clobber(model) -> None:
    """Another prompt in the context, as after an answer on another paper."""
    model.complete(generation_request(LOCAL_MODEL, [{"role": "user", "content": "Hi"}], {"max_tokens": 1}, 300),
                   threading.Event())


@needs_model
def test_a_loaded_state_is_the_one_read_and_a_damaged_one_falls_back(tmp_path: Path) -> None:
    """A loaded state answers exactly as the context it was saved from. (Not always as the same prompt read in one
    go: llama.cpp's arithmetic differs slightly with how tokens are batched, as with any reused prefix.)"""
    model = register_local_llm(LLMSettings(states_dir=tmp_path))
    question = "How long does quantizing a 175-billion-parameter model take?"
    _clobber(model)
    read_whole = _answer(model, question)
    assert model.save_prefix(paper_messages(SYSTEM, TEMPLATE, PAPER), QUESTION_MARK, lambda: False) == "built"
    assert model.save_prefix(paper_messages(SYSTEM, TEMPLATE, PAPER), QUESTION_MARK, lambda: False) == "present"
    state = next(tmp_path.glob("*.state"))
    from_the_saved_context = _answer(model, question)  # the paper's part still in the context: nothing loaded
    _clobber(model)
    loaded = model.states_loaded
    assert _answer(model, question) == from_the_saved_context
    assert model.states_loaded == loaded + 1
    assert all("four GPU hours" in text for text in (read_whole, from_the_saved_context))
    # A state llama.cpp refuses (cut short on disk): dropped, and the prompt read as usual.
    state.write_bytes(state.read_bytes()[: state.stat().st_size // 2])
    _clobber(model)
    assert _answer(model, question) == read_whole
    assert model.states_loaded == loaded + 1 and not state.exists()
    # Asked to pause, the builder leaves nothing half-written.
    assert model.save_prefix(paper_messages(SYSTEM, TEMPLATE, PAPER), QUESTION_MARK, lambda: True) == "yielded"
    assert not list(tmp_path.glob("*.state"))
    register_local_llm(LLMSettings(states_max_mb=0, states_dir=tmp_path))
    assert model.save_prefix(paper_messages(SYSTEM, TEMPLATE, PAPER), QUESTION_MARK, lambda: False) == "off"


@needs_model
def test_a_system_prompts_state_serves_every_question_under_it_and_a_papers_state_comes_first(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    model = register_local_llm(LLMSettings(states_dir=tmp_path))
    assert build_prompt_states(model, [SYSTEM]) == 1
    assert build_prompt_states(model, [SYSTEM]) == 0  # saved before
    model.save_prefix(paper_messages(SYSTEM, TEMPLATE, PAPER), QUESTION_MARK, lambda: False)
    assert len(list(tmp_path.glob("*.state"))) == 2
    served, load = [], model.states.load

    def load_and_note(key: str):
        if (found := load(key)) is not None:
            served.append(len(found[0]))  # the saved prefix's length in tokens
        return found

    monkeypatch.setattr(model.states, "load", load_and_note)
    listing = [{"role": "system", "content": SYSTEM}, {"role": "user", "content": (
        "Question: Which papers quantize language models?\n\nEvidence from the abstract of \"GPTQ\":\n"
        "- GPTQ can quantize GPT models with 175 billion parameters in approximately four GPU hours.")}]
    _clobber(model)
    model.complete(generation_request(LOCAL_MODEL, listing, {"max_tokens": 8, "temperature": 0}, 300),
                   threading.Event())
    _clobber(model)
    _answer(model, "How long does quantizing take?")
    # The listing loaded the system prompt's state (its prompt has no saved paper part); the paper's question loaded
    # the paper's, the longer one, which holds the system prompt too.
    assert len(served) == 2 and served[0] < served[1]
    register_local_llm(LLMSettings(states_max_mb=0, states_dir=tmp_path))
    assert build_prompt_states(model, [SYSTEM]) == 0  # saved states off: nothing


@needs_model
def test_the_engine_builds_its_papers_states_and_answers_load_them(seed, seed_papers, tmp_path: Path) -> None:
    from assistant.answer.llm import ChatModel
    from assistant.engine import Assistant

    llm = LLMSettings(temperature=0, states_dir=tmp_path, timeout=300)
    base = seed.assistant
    bot = Assistant(seed.settings.model_copy(update={"llm": llm}), index=base.index, embedder=base.embedder,
                    sparse=base.sparse, chat_model=ChatModel(llm))
    gptq = paper_by_title(seed_papers, GPTQ_TITLE)
    report = bot.build_paper_states([gptq.paper_id])
    assert (report.built, report.present, report.stopped) == (1, 0, None)
    assert bot.build_paper_states([gptq.paper_id]).present == 1
    model = register_local_llm(llm)
    _clobber(model)
    loaded = model.states_loaded
    answer = bot.ask("How can a GPT model with 175 billion parameters be quantized to 3 or 4 bits in a few hours?")
    assert answer.citations[0].title == GPTQ_TITLE and not answer.generation_failed, answer.answer
    assert model.states_loaded == loaded + 1  # the answer's prompt began with exactly the saved prefix


def test_states_command_builds_nothing_for_a_hosted_or_absent_model(tmp_path: Path) -> None:
    data = tmp_path / "data"
    feed = write_jsonl(tmp_path / "one.jsonl", [{"paper_id": "2401.00001", "title": "A paper",
                                                  "abstract": "It does one thing well."}])
    assert run_cli("ingest", str(feed), data_dir=data).code == 0
    result = run_cli("states", data_dir=data)  # the suite's CLI runs with ASSISTANT_LLM_MODEL=none
    assert assert_clean_failure(result, 1) == ["error: the chat model is not the embedded one: nothing to save"]


@needs_model
def test_states_command_saves_every_papers_state(tmp_path: Path) -> None:
    data = tmp_path / "data"
    feed = write_jsonl(tmp_path / "two.jsonl", [
        {"paper_id": "2401.00001", "title": "Sparse attention for long inputs",
         "abstract": "We make attention sparse. It reads inputs 8 times longer at the same cost."},
        {"paper_id": "2401.00002", "title": "Faster diffusion sampling",
         "abstract": "We sample diffusion models in 4 steps. Quality matches 50-step samplers."}])
    assert run_cli("ingest", str(feed), data_dir=data).code == 0
    env = {"ASSISTANT_LLM_MODEL": LOCAL_MODEL}
    first = run_cli("states", "--json", data_dir=data, env=env)
    assert first.code == 0, first.stderr
    assert (first.json()["built"], first.json()["folder"]) == (2, str(data / "llm-states"))
    assert len(list((data / "llm-states").glob("*.state"))) == 4  # and the answers' two system prompts
    again = run_cli("states", data_dir=data, env=env)
    assert again.code == 0 and again.stdout.startswith("0 paper states saved now, 2 saved before"), again.stdout
