"""From hits to the prompt: sources within a token budget, the extractive answer, follow-up helpers."""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from assistant.answer.understand import has_topic, read_filters, topic_words
from assistant.core.models import Hit, Turn
from assistant.core.offline import tiktoken_encoding as _encoding
from assistant.core.text import normalise_title

ABSTAIN_TEXT = ("The collection doesn't cover this: no paper in it is close enough to the question "
                "to answer from its abstract.")
NOT_ANSWERED = ("The collection doesn't cover this: the closest papers were found, but their abstracts do not "
                "answer the question.")
GENERATION_FAILED_NOTE = "Note: the language model failed ({reason}), so here are the most relevant papers instead."


def abstention_text(missing: list[str], nearest: list[Hit], limit: int = 3, reason: str = ABSTAIN_TEXT) -> str:
    """The honest "not covered" answer: why, and the nearest papers offered without citation markers."""
    if missing:
        names = ", ".join(missing)
        text = f"The collection doesn't cover this: none of the papers found is about {names}."
    else:
        text = reason
    if nearest:
        text += "\n\n" + uncited_list("You may mean (not cited, the match is weak):", nearest[:limit])
    return text


NEARBY_HEADING = "Also found, less clearly about this question (not cited):"


def uncited_list(heading: str, hits: Sequence[Hit]) -> str:
    """Papers named without citation markers, a line each with their feeds ("- Title (Mar 13)"): offered, not
    claimed. A follow-up's "those" counts a listing's nearby papers among its own, not an abstention's nearest
    (`named_nearby`, `Assistant._among_those`)."""
    return heading + "\n" + "\n".join(
        f"- {hit.title}" + (f" ({', '.join(hit.feeds)})" if hit.feeds else "") for hit in hits)


_BULLETS = ("- ", "• ", "* ")  # a list line as `uncited_list` writes it, as Slack shows it, as Markdown allows it


def named_nearby(answer: str, titles: Iterable[str]) -> set[str]:
    """Those of ``titles`` an answer names as nearby papers, after NEARBY_HEADING (the lines `uncited_list`
    writes, read back from a conversation's history in any case and with any of the bullets)."""
    lines = [normalise_title(line.lstrip()[2:]) for line in answer.partition(NEARBY_HEADING)[2].splitlines()
             if line.lstrip()[:2] in _BULLETS]
    keys = {title: normalise_title(title) for title in titles}
    return {title for title, key in keys.items() if any(line == key or line.startswith(f"{key} (") for line in lines)}


def count_tokens(text: str, encoding: str = "cl100k_base") -> int:
    return len(_encoding(encoding).encode(text))


@dataclass
class Context:
    text: str
    sources: list[Hit]  # sources[i] is cited as [i + 1]


def assemble_context(hits: list[Hit], budget_tokens: int, encoding: str = "cl100k_base") -> Context:
    """Number the hits as sources until the token budget is spent (the first source always fits, cut if needed)."""
    blocks, sources, used = [], [], 0
    for hit in hits:
        feeds = f" (feeds: {', '.join(hit.feeds)})" if hit.feeds else ""
        block = f"[{len(sources) + 1}] {hit.title}{feeds}\n{hit.snippet}"
        cost = count_tokens(block, encoding)
        if used + cost > budget_tokens:
            if sources:
                break
            block = _encoding(encoding).decode(_encoding(encoding).encode(block)[:budget_tokens])
            cost = budget_tokens
        blocks.append(block)
        sources.append(hit)
        used += cost
    return Context("\n\n".join(blocks), sources)


def format_history(history: list[Turn], max_turns: int = 6) -> str:
    return "\n".join(f"{t.role}: {t.content}" for t in history[-max_turns:])


# Topic words that name what a question is about (question words such as "how" not counted, `_ASKING`): a question
# without a word pointing back needs this many to be searched as typed, and "it" / "they" after this many refer
# inside the question (`leans_back`).
STANDS_ALONE_WORDS = 4

# A question that leans on an earlier one: "Which of those have code?", "And in the Mar 17 feed?", "What did it
# report?". Its own words do not say what it is about.
_LEANS_BACK = re.compile(
    r"^\s*(?:and|also|or|but|so|then|what\s+about|how\s+about|only|just)\b"
    r"|\b(?:(?:those|these|this\s+one|that\s+one|the\s+same|the\s+(?:latter|former))\b"
    # "the first one", "the second paper", "the other two"; not "the first output word" or "the last layer"
    r"|the\s+(?:first|second|third|last|other)(?:\s+(?:ones?|papers?|articles?|works?|stud(?:y|ies)|of|two|three)\b"
    r"|(?=\s*(?:[?.!,;:]|$))))", re.IGNORECASE)
# "it", "they", "their": pointing back unless the question has named its topic before them ("Why do DINOv2 and
# CLIP feature maps show a grid pattern, and how can it be cleaned up?"; "a melody I give it"). "What latency and
# throughput gains did they report?" names three words before "they" and leans back.
_PRONOUN = re.compile(r"\b(?:it|its|they|them|their|theirs)\b", re.IGNORECASE)
_ASKING = frozenset("how why when where who whom whose much many".split())


def leans_back(question: str) -> bool:
    """Whether a question refers to an earlier one instead of naming its topic."""
    if _LEANS_BACK.search(question):
        return True
    pronoun = _PRONOUN.search(question)
    return pronoun is not None and len(topic_words(question[:pronoun.start()], _ASKING)) < STANDS_ALONE_WORDS


_POINTING_BACK = re.compile(
    r"(?<![\w-])(?:those|them|these|they|ones?|of|and|also|only|just|then|so|now|among)(?![\w-])", re.IGNORECASE)


def stands_alone(question: str, feed_days: Sequence[int] = ()) -> bool:
    """Whether a question asked in a conversation names its own topic, so it is searched as typed: no word points
    back, and with its filter words and question words ("how", "why") left out, at least 4 words say what it is
    about ("Which model links a frozen image encoder to Vicuna with one projection layer?" does; "Any code?" and
    "What FID on ImageNet?" lean on the answer before them, as "What did they report?" does)."""
    if leans_back(question):
        return False
    return len(topic_words(read_filters(question, feed_days).query, _ASKING)) >= STANDS_ALONE_WORDS


def only_narrows(question: str, feed_days: Sequence[int] = ()) -> bool:
    """Whether a follow-up only states filters for the papers before it ("Which of those have code?", "And in the
    Mar 17 feed?"): it leans back and has filter words, and without them and its words pointing back no topic."""
    if not leans_back(question):
        return False
    reading = read_filters(question, feed_days)
    if reading.filter.empty and reading.kind is None:
        return False
    return not reading.topic or not has_topic(_POINTING_BACK.sub(" ", reading.query))


def heuristic_standalone(question: str, history: list[Turn]) -> str:
    """Without an LLM, a follow-up is searched together with the previous user question, and with the ones before
    it while each leans on its predecessor: the third question of "Which papers quantize LLMs?" / "Which of those
    have code?" / "And which were in the Mar 17 feed?" keeps the topic and both filters."""
    previous = [t.content for t in history if t.role == "user"]
    return " ".join([*previous[_chain_start(previous):], question]) if previous else question


def topic_question(history: list[Turn]) -> str:
    """The earlier question a chain of follow-ups leans on: the last user question that does not lean back."""
    previous = [t.content for t in history if t.role == "user"]
    return previous[_chain_start(previous)] if previous else ""


def _chain_start(previous: list[str]) -> int:
    start = len(previous) - 1
    while start > 0 and leans_back(previous[start]):
        start -= 1
    return start
