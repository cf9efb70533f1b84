"""Pure rendering for the web chat: welcome page, starters, citation panels, traces, chat options.

Kept free of Chainlit so the wording is unit-tested and the handlers in app.py stay a few lines each.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from assistant.core.errors import AssistantError, IndexUnavailable, InvalidQuery
from assistant.core.models import Answer, Citation, CollectionSummary, Paper, Turn
from assistant.surfaces.web.safe import inert_answer, link, literal

_MARKUP = re.compile(r"[<>\[\]()!`*_\\|]")
EMPTY_INDEX = ("The collection is empty. Stop the server, run `assistant ingest data/feeds` (or your own feeds), "
               "then start `assistant serve` again.")


def render_welcome(template: str, summary: CollectionSummary) -> str:
    feeds = ", ".join(f"{literal(label)} ({n})" for label, n in summary.feeds.items()) or "none yet"
    values = {"papers": summary.papers, "with_code": summary.with_code, "feed_count": len(summary.feeds),
              "feeds": feeds}
    text = template
    for key, value in values.items():
        text = text.replace("{" + key + "}", str(value))
    if not summary.papers:
        text += f"\n\n> ⚠️ {EMPTY_INDEX}\n"
    return text


def starter_questions(titles: list[str], count: int = 4) -> list[tuple[str, str]]:
    """Example questions from papers spread across the collection: (button label, question)."""
    # Titles come from the feeds: ones with Markdown or HTML syntax are not turned into clickable questions.
    described = [t for t in titles if ":" in t and len(t.split(":", 1)[1].split()) >= 4 and not _MARKUP.search(t)]
    if not described:
        return []
    step = max(1, len(described) // count)
    starters = []
    for title in described[::step][:count]:
        name, topic = (part.strip() for part in title.split(":", 1))
        topic = topic[0].lower() + topic[1:] if not topic[:2].isupper() else topic
        starters.append((name[:40], f"What does the collection say about {topic.rstrip('.')}?"))
    return starters


def citation_panel(citation: Citation, paper: Paper | None) -> str:
    """The side panel of one cited paper: title, supporting passage, feeds, links, full abstract.

    Everything from the feeds is shown literally (`safe.literal`); links are http(s) only, their URL as text.
    """
    lines = [f"### {literal(citation.title)}", ""]
    if citation.feeds:
        lines.append(f"**Feeds:** {literal(', '.join(citation.feeds))}")
    if code := link(citation.code_url):
        lines.append(f"**Code:** {code}")
    if paper_link := link(citation.url):
        lines.append(f"**Paper:** {paper_link}")
    lines += ["", "**Supporting passage**", "", "> " + literal(citation.snippet).replace("\n", "\n> ")]
    if paper and _squash(paper.abstract) != _squash(citation.snippet):
        lines += ["", "**Abstract**", "", literal(paper.abstract)]
    return "\n".join(lines)


def describe_trace(answer: Answer) -> str:
    """What happened: the standalone query, the papers with their scores, and each stage's time."""
    lines = [f"**Search query:** {literal(answer.query)}", "", "| # | paper | score | cosine | BM25 |",
             "|---|---|---|---|---|"]
    for rank, hit in enumerate(answer.hits, 1):
        lines.append(f"| {rank} | {literal(hit.title)} | {hit.score:.4f} | {_num(hit.dense_score)} "
                     f"| {_num(hit.sparse_score)} |")
    timings = ", ".join(f"{stage} {ms / 1000:.2f} s" if ms >= 1000 else f"{stage} {ms:.0f} ms"
                        for stage, ms in answer.timings_ms.items())
    lines += ["", f"**Model:** {answer.model}" + (" (abstained)" if answer.abstained else ""), f"**Time:** {timings}"]
    if answer.removed_citations:
        lines.append(f"**Removed citations:** {answer.removed_citations} pointed at no retrieved paper")
    return "\n".join(lines)


@dataclass
class ChatOptions:
    k: int
    since: str | None
    until: str | None
    has_code: bool
    model: str | None


def chat_options(values: dict[str, Any], default_k: int) -> ChatOptions:
    """The chat settings panel's values, tolerant of a fresh session (no values yet)."""
    text = {name: (str(values.get(name) or "").strip() or None) for name in ("since", "until", "model")}
    return ChatOptions(k=int(values.get("k") or default_k), since=text["since"], until=text["until"],
                       has_code=bool(values.get("has_code")), model=text["model"])


def history_from_steps(steps: list[dict[str, Any]]) -> list[Turn]:
    """The conversation of a resumed thread, from its persisted user and assistant messages."""
    roles = {"user_message": "user", "assistant_message": "assistant"}
    return [Turn(role=roles[s["type"]], content=s.get("output") or "")
            for s in steps if s.get("type") in roles and (s.get("output") or "").strip()]


def error_text(exc: Exception) -> str:
    """What the chat says instead of a traceback; the text of an unexpected error is not shown (it is logged)."""
    if isinstance(exc, IndexUnavailable):
        return f"The paper index is unavailable: {exc}"
    if isinstance(exc, InvalidQuery):
        return f"I couldn't use that: {exc}"
    if isinstance(exc, AssistantError):
        return f"Sorry, something went wrong: {exc}"
    return "Sorry, something unexpected went wrong on the server; it has been logged. Please try again."


def _squash(text: str) -> str:
    return re.sub(r"\s+", " ", text).strip()


def _num(value: float | None) -> str:
    return "–" if value is None else f"{value:.3f}"


def answer_markdown(answer: Answer) -> str:
    """The message shown for an answer: the verified text (after an abstention, with the nearest papers) made inert."""
    return inert_answer(answer.answer)
