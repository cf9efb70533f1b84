"""Building the embedded model's saved per-paper states (assistant/answer/local/states.py) for a collection.

Each paper's prompt is its title and whole abstract, then the question (`paper_prompt`); the part before the
question is read once per paper and saved, so a later answer on that paper reads only the question before its
first token. `assistant serve` runs this in the background after its warm-up, and `assistant states` at once;
either way it yields to answers: an answer waits at most one 16-token slice of reading (≈ 0.3 s on 2 cores).
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from assistant.answer.attribute import paper_prompt
from assistant.core.models import Paper

log = logging.getLogger(__name__)

QUESTION_MARK = "\x00the question\x00"  # stands for the question while the prompt's paper part is cut out
IDLE_WAIT = 0.5  # seconds between looks while answers are being written


@dataclass
class StatesReport:
    built: int = 0  # read and saved now
    present: int = 0  # saved before
    skipped: int = 0  # cannot be saved (too long for the context)
    stopped: str | None = None  # why it ended before the last paper, if it did


def paper_messages(system: str, template: str, paper: Paper, question: str = QUESTION_MARK) -> list[dict[str, str]]:
    """The chat messages of one paper's prompt, exactly as an answer sends them."""
    return [{"role": "system", "content": system},
            {"role": "user", "content": paper_prompt(template, question, paper.title, paper.abstract)}]


def build_prompt_states(model, systems: Iterable[str]) -> int:
    """Save the state of each system prompt's part of its prompts, up to where the user's message starts (the
    model's own chat template decides where), so that an answer whose system prompt the context does not hold
    (a listing after a one-paper answer) loads it instead of reading it (≈ 110 tokens, ≈ 2 s on 2 cores).
    Returns how many were built now; none when the saved states are off."""
    built = 0
    for system in systems:
        messages = [{"role": "system", "content": system}, {"role": "user", "content": QUESTION_MARK}]
        built += model.save_prefix(messages, QUESTION_MARK, lambda: False, exact=True) == "built"
    return built


def build_states(papers: Iterable[Paper], system: str, template: str, model, busy: Callable[[], bool],
                 stop: threading.Event | None = None, done: Callable[[Paper], None] | None = None) -> StatesReport:
    """Save the state of each paper's prompt up to its question, waiting while ``busy()`` (answers in flight).

    ``model`` is the embedded `LocalChatModel`; ``stop`` ends the work between slices (server shutdown).
    """
    report, stop, started = StatesReport(), stop or threading.Event(), time.perf_counter()
    for paper in papers:
        while (outcome := model.save_prefix(paper_messages(system, template, paper), QUESTION_MARK,
                                            lambda: busy() or stop.is_set())) == "yielded" and not stop.is_set():
            stop.wait(IDLE_WAIT)  # an answer is being written: look again shortly
        if stop.is_set():
            report.stopped = "stopped"
            break
        if outcome == "off":
            report.stopped = "saved states are off (ASSISTANT_LLM_PAPER_STATES, ASSISTANT_LLM_STATES_MAX_MB)"
            break
        if outcome == "full":
            report.stopped = f"the states' disk cap ({model.states.max_bytes // 2**20} MB) is reached"
            break
        report.built += outcome == "built"
        report.present += outcome == "present"
        report.skipped += outcome == "unfit"
        if done:
            done(paper)
    log.info("paper states: %d built, %d there already, %d skipped in %.0f s%s", report.built, report.present,
             report.skipped, time.perf_counter() - started, f" ({report.stopped})" if report.stopped else "")
    return report
