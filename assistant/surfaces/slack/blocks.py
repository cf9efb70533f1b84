"""Slack <-> text: questions out of Slack messages, answers into mrkdwn and Block Kit, threads into turns."""

from __future__ import annotations

import re
from decimal import Decimal
from typing import Any

from slack_sdk.errors import SlackApiError

from assistant.core.errors import AssistantError
from assistant.core.models import Answer, Sources, Turn
from assistant.core.text import safe_url, url_host

PLACEHOLDER = "Searching the papers…"
SORRY = "Sorry, I couldn't answer that: {reason}"
NOT_ANSWERS = (PLACEHOLDER, "Sorry, ", "Ask me a question")  # the bot's messages that are no answer to remember
SECTION_CHARS = 3000  # Block Kit limit of one section's text
SHARE_ACTION, FEEDBACK_UP, FEEDBACK_DOWN = "share_answer", "feedback_up", "feedback_down"


def question_text(slack_text: str, bot_user_id: str | None) -> str:
    """A user's message as a plain question: the bot's mention dropped, links and entities unwrapped."""
    mention = re.escape(bot_user_id) if bot_user_id else r"[UW][A-Z0-9]+"
    text = re.sub(rf"<@{mention}(\|[^>]*)?>", " ", slack_text or "")
    text = re.sub(r"<(?:[^>|]+)\|([^>]+)>", r"\1", text)  # <url|label> and <@U123|name> become their label
    text = re.sub(r"<([^>]+)>", r"\1", text)
    text = text.replace("&lt;", "<").replace("&gt;", ">").replace("&amp;", "&")
    return " ".join(text.split())


def escape(text: str) -> str:
    """Slack's three control characters, escaped for mrkdwn."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def to_mrkdwn(markdown: str) -> str:
    """The Markdown an LLM writes, as Slack mrkdwn: *bold*, _italic_, <url|links>, bullets, headings."""
    text = escape(markdown)
    text = re.sub(r"^(\s*)[*-] ", "\\1• ", text, flags=re.M)
    text = re.sub(r"^#{1,6}\s+(.+?)\s*#*$", r"**\1**", text, flags=re.M)
    text = re.sub(r"(?<![*\w])\*(?![\s*])([^*\n]+?)(?<![\s*])\*(?![*\w])", r"_\1_", text)
    text = re.sub(r"\*\*(?!\s)(.+?)(?<!\s)\*\*", r"*\1*", text)
    text = re.sub(r"__(?!\s)(.+?)(?<!\s)__", r"*\1*", text)
    text = re.sub(r"~~(.+?)~~", r"~\1~", text)
    # Links keep their host in view: the model's label could otherwise disguise where a click leads.
    return re.sub(r"\[([^\]\n]+)\]\((https?://[^)\s]+)\)", lambda m: f"<{m[2]}|{_label(m[1])} ({url_host(m[2])})>",
                  text)


def _label(text: str) -> str:
    return text.replace("|", "¦")  # a pipe would end a link's label early


def _link(url: str | None, label: str) -> str:
    """A Slack link for an http(s) URL (label escaped); the bare label for anything else."""
    label = _label(escape(label))
    checked = safe_url(url)
    return f"<{checked}|{label}>" if checked else label


def _split(text: str, limit: int = SECTION_CHARS) -> list[str]:
    """Text cut at paragraph or line ends into pieces that fit one section."""
    parts, rest = [], text.strip()
    while len(rest) > limit:
        cut = max(rest.rfind("\n", 0, limit), rest.rfind(" ", 0, limit))
        cut = cut if cut > limit // 2 else limit
        parts.append(rest[:cut].rstrip())
        rest = rest[cut:].lstrip()
    return [*parts, rest] if rest else parts or [" "]


def _section(text: str) -> dict[str, Any]:
    return {"type": "section", "text": {"type": "mrkdwn", "text": text}}


def _button(text: str, action_id: str, value: str, style: str | None = None) -> dict[str, Any]:
    button = {"type": "button", "text": {"type": "plain_text", "text": text, "emoji": True},
              "action_id": action_id, "value": value}
    return {**button, "style": style} if style else button


def source_lines(answer: Answer) -> list[str]:
    """One mrkdwn line per cited paper: [n] linked title — feed dates — code link."""
    lines = []
    for c in answer.citations:
        parts = [f"[{c.n}] {_link(c.url, c.title)}"]
        if c.feeds:
            parts.append(escape(", ".join(c.feeds)))
        if c.code_url:
            parts.append(f"<{c.code_url}|code>")
        lines.append(" — ".join(parts))
    return lines


def answer_blocks(answer: Answer, answer_id: str, *, shareable: bool = False,
                  asked: tuple[str, str] | None = None) -> list[dict[str, Any]]:
    """The Block Kit message of an answer: text with [n] markers, its sources, feedback (and share) buttons.

    An abstention lists the nearest papers as suggestions, without markers. ``asked`` = (user id, question)
    heads a shared slash-command answer so the channel sees what was asked.
    """
    blocks = [_section(f"<@{asked[0]}> asked: *{escape(asked[1])}*")] if asked else []
    blocks += [_section(part) for part in _split(to_mrkdwn(answer.answer))]
    if answer.abstained:
        nearest = " · ".join(_link(h.url, h.title) for h in answer.hits[:3])
        if nearest:
            blocks.append({"type": "context", "elements": [{"type": "mrkdwn", "text": f"You may mean: {nearest}"}]})
    lines = source_lines(answer)
    for start in range(0, len(lines), 10):  # a context block holds at most 10 elements
        blocks.append({"type": "context",
                       "elements": [{"type": "mrkdwn", "text": line} for line in lines[start:start + 10]]})
    buttons = [_button("👍 Helpful", FEEDBACK_UP, answer_id), _button("👎 Not helpful", FEEDBACK_DOWN, answer_id)]
    if shareable:
        buttons.insert(0, _button("Share to channel", SHARE_ACTION, answer_id, style="primary"))
    blocks.append({"type": "actions", "block_id": "answer_actions", "elements": buttons})
    return blocks


def _ts(value: str) -> Decimal:
    return Decimal(value)  # ts strings have 16 significant digits: floats would round neighbours together


def thread_turns(messages: list[dict[str, Any]], *, before_ts: str, bot_user_id: str | None,
                 bot_id: str | None, asked: dict[str, str] | None = None, limit: int = 12) -> list[Turn]:
    """A Slack thread (conversations.replies, oldest first) as conversation history before one message.

    The bot's messages become assistant turns (progress and apology messages are skipped), other people's
    user turns with the mention stripped; other bots are ignored; the last ``limit``
    turns are kept. ``asked`` maps the ts of a shared answer
    to its question, so a thread under a shared slash-command answer still starts with a user turn.
    """
    turns: list[Turn] = []
    for message in messages:
        if _ts(message["ts"]) >= _ts(before_ts) or message.get("subtype") not in (None, "thread_broadcast",
                                                                                   "bot_message"):
            continue
        text = message.get("text") or ""
        ours = bool(message.get("user") and message.get("user") == bot_user_id) or (
            bool(message.get("bot_id")) and message.get("bot_id") == bot_id)
        if ours:
            if text.startswith(NOT_ANSWERS):
                continue
            if asked and message["ts"] in asked and (not turns or turns[-1].role != "user"):
                turns.append(Turn(role="user", content=asked[message["ts"]]))
            turns.append(Turn(role="assistant", content=text))
        elif not message.get("bot_id") and (question := question_text(text, bot_user_id)):
            turns.append(Turn(role="user", content=question))
    return turns[-limit:]


def failure_reason(exc: BaseException) -> str:
    """One line a Slack user can read; details of unexpected errors stay in the server log."""
    if isinstance(exc, AssistantError):
        return (str(exc).strip().splitlines() or [type(exc).__name__])[0]
    if isinstance(exc, SlackApiError):
        return f"Slack refused the reply ({exc.response.get('error', 'unknown error')})"
    return "an unexpected error happened on the server (it is in the server log)"


def sources_text(sources: Sources) -> str:
    """The progress message while the model writes: the papers being read, each with its link."""
    only = f" ({'; '.join(sources.filters)})" if sources.filters else ""
    lines = [f"{PLACEHOLDER} reading {len(sources.papers)} papers{only}:"]
    lines += [f"[{paper.n}] {_link(paper.url, paper.title)}" for paper in sources.papers]
    return "\n".join(lines)
