"""Pure rendering for the web chat: welcome page, starters, citation panels, traces, chat options.

Kept free of Chainlit so the wording is unit-tested and the handlers in app.py stay a few lines each.
"""

from __future__ import annotations

import collections
import re
from dataclasses import dataclass
from typing import Any

from assistant.core.errors import AssistantError, IndexUnavailable, InvalidQuery
from assistant.core.models import Answer, Citation, CollectionSummary, Paper, SentenceCheck, Sources, Turn
from assistant.surfaces.web.safe import inert_answer, link, literal

_TOPIC_STOPWORDS = set(
    "a an the of for and with in on to via from by at as is are be its their towards toward using based large "
    "model models learning language data new efficient through into your you we our can do does how what when "
    "not all one any more less beyond vs versus comprehensive survey study".split())
_ADJECTIVE = ("ed", "ive", "al", "ic", "ous", "able")
_MARKUP = re.compile(r"[<>\[\]()!`*_\\|]")
WITHOUT_FILTER = "ask_without_filter"  # the action under an answer whose question stated a filter
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


def collection_line(summary: CollectionSummary) -> str:
    """The landing page's one line about the collection: papers, feeds and their dates, code links."""
    if not summary.papers:
        return "Paper assistant: the collection is empty. Run `assistant ingest` with your feeds first."
    labels = list(summary.feeds)
    span = f" ({labels[0]} – {labels[-1]})" if len(labels) > 1 else f" ({labels[0]})" if labels else ""
    return (f"Paper assistant: cited answers from {summary.papers} paper abstracts in {len(labels)} "
            f"feed{'s' if len(labels) != 1 else ''}{span}, {summary.with_code} with code.")


def starter_questions(titles: list[str], count: int = 4) -> list[tuple[str, str]]:
    """Questions about the collection's most common topics: (button label, question).

    A topic is a two-word phrase that starts several titles' worth of papers ("latent diffusion", "time
    series"); topics sharing a word with one already chosen are skipped, so the starters cover the collection.
    """
    counts, forms = collections.Counter(), {}
    for title in titles:
        if _MARKUP.search(title):  # titles come from the feeds: no markup in a clickable question
            continue
        words = re.findall(r"[a-z][a-z0-9\-]+", title.lower())
        phrases = {}
        for first, second in zip(words, words[1:], strict=False):
            # A topic ends in a noun: "image generation", not "generative pre-trained".
            if first not in _TOPIC_STOPWORDS and second not in _TOPIC_STOPWORDS and not second.endswith(_ADJECTIVE):
                phrases[f"{first} {second.removesuffix('s')}"] = f"{first} {second}"
        counts.update(phrases.keys())
        for key, form in phrases.items():
            forms.setdefault(key, collections.Counter())[form] += 1
    chosen: list[str] = []
    for key, papers in counts.most_common():
        if papers < 2 or len(chosen) == count:
            break
        if not set(key.split()) & {w for c in chosen for w in c.split()}:
            chosen.append(key)
    starters = []
    for key in chosen:
        topic = max(forms[key], key=lambda form: (form.endswith("s"), forms[key][form]))  # "vision transformers"
        starters.append((topic[0].upper() + topic[1:], f"Which papers in the collection work on {topic}?"))
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
    if citation.evidence:  # the abstract's sentences the answer's sentences were checked against
        lines += ["", "**What the answer rests on**", ""] + [f"> {literal(s)}" for s in citation.evidence]
    else:
        lines += ["", "**Supporting passage**", "", "> " + literal(citation.snippet).replace("\n", "\n> ")]
    if paper and _squash(paper.abstract) != _squash(citation.snippet):
        abstract = literal(paper.abstract)
        for sentence in citation.evidence:  # highlighted where it stands in the abstract
            abstract = abstract.replace(literal(sentence), f"**{literal(sentence)}**", 1)
        lines += ["", "**Abstract**", "", abstract]
    return "\n".join(lines)


def describe_sources(sources: Sources) -> str:
    """The papers the answer is being written from, with their most relevant sentences (shown before it)."""
    lines = [f"**Reading {len(sources.papers)} papers** for: {literal(sources.query)}", ""]
    if sources.filters:
        lines[-1:] = ["", f"**Filter:** {literal('; '.join(sources.filters))}", ""]
    for paper in sources.papers:
        feeds = f" ({literal(', '.join(paper.feeds))})" if paper.feeds else ""
        lines.append(f"{paper.n}. **{literal(paper.title)}**{feeds}")
        if paper.snippet:
            lines.append(f"   > {literal(paper.snippet)}")
    return "\n".join(lines)


def describe_trace(answer: Answer, sources: Sources | None = None) -> str:
    """What happened: the papers read (with their sentences), the query, the scores, each stage's time."""
    lines = [describe_sources(sources), ""] if sources else []
    lines += [f"**Search query:** {literal(answer.query)}", ""]
    if answer.filters:
        lines += [f"**Filter:** {literal('; '.join(answer.filters))}", ""]
    lines += ["| # | paper | score | cosine | BM25 |", "|---|---|---|---|---|"]
    for rank, hit in enumerate(answer.hits, 1):
        lines.append(f"| {rank} | {literal(hit.title)} | {hit.score:.4f} | {_num(hit.dense_score)} "
                     f"| {_num(hit.sparse_score)} |")
    timings = ", ".join(f"{stage} {ms / 1000:.2f} s" if ms >= 1000 else f"{stage} {ms:.0f} ms"
                        for stage, ms in answer.timings_ms.items())
    lines += ["", f"**Model:** {answer.model}" + (" (abstained)" if answer.abstained else ""), f"**Time:** {timings}"]
    if answer.removed_citations:
        lines.append(f"**Removed citations:** {answer.removed_citations} pointed at no retrieved paper")
    for check in answer.sentences:
        if not check.supported:
            lines.append(f"**Removed sentence:** {literal(check.text)} ({literal(check.reason or 'unsupported')})")
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
    """The message shown for an answer: the verified text (after an abstention, with the nearest papers) made inert,
    and how many generated sentences were removed as unsupported."""
    text = inert_answer(answer.answer)
    if answer.unsupported_removed:
        text += f"\n\n_{_removed(answer.unsupported_removed)}_"
    return text


def streaming_text(raw: str, unsupported: list[SentenceCheck]) -> str:
    """The answer while it is written: the model's text so far, and a note per sentence found unsupported."""
    notes = [f"_Removed: \u201c{literal(check.text)}\u201d ({literal(check.reason or 'unsupported')})_"
             for check in unsupported]
    return "\n\n".join([inert_answer(raw), *notes])


def _removed(count: int) -> str:
    sentences = "sentence was" if count == 1 else "sentences were"
    return f"{count} generated {sentences} removed: not supported by the abstract cited."


def without_filter_label(filters_read: list[str]) -> str:
    """The removable chip under an answer whose question stated a filter: what clicking it drops."""
    return f"✕ {'; '.join(filters_read)} (ask again without this filter)"
