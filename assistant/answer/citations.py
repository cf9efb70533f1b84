"""Citation markers: the model's [n] mapped to the numbered sources, unknown numbers removed."""

from __future__ import annotations

import re

from assistant.core.models import Citation, Hit, SentenceCheck

MARKER = re.compile(r"\[(\d+(?:\s*[,;–-]\s*\d+)*)\]")


def marker_numbers(group: str) -> list[int]:
    parts = [int(p) for p in re.findall(r"\d+", group)]
    if re.search(r"[–-]", group) and len(parts) == 2 and 0 < parts[1] - parts[0] < 10:
        return list(range(parts[0], parts[1] + 1))
    return parts


def citation_of(hit: Hit, n: int, snippet: str | None = None) -> Citation:
    """The found paper as source [n], with ``snippet`` (default: its best chunk) as the text shown for it."""
    return Citation(n=n, paper_id=hit.paper_id, title=hit.title, url=hit.url, code_url=hit.code_url,
                    feeds=hit.feeds, snippet=hit.snippet if snippet is None else snippet)


def verify_citations(text: str, sources: list[Hit]) -> tuple[str, list[Citation], int]:
    """Rewrite markers as [n][m], drop those that point at no source, and list the cited papers.

    Returns the cleaned text, the citations in order of first use, and how many markers were dropped.
    """
    removed = 0
    cited: dict[int, Citation] = {}

    def replace(match: re.Match) -> str:
        nonlocal removed
        kept = []
        for n in marker_numbers(match.group(1)):
            if 1 <= n <= len(sources):
                kept.append(n)
                if n not in cited:
                    cited[n] = citation_of(sources[n - 1], n)
            else:
                removed += 1
        return "".join(f"[{n}]" for n in dict.fromkeys(kept))

    cleaned = MARKER.sub(replace, text)
    cleaned = re.sub(r"[ \t]+([.,;:])", r"\1", cleaned).strip()
    return cleaned, list(cited.values()), removed


def unusable_reply(text: str, sources: list[Hit]) -> str | None:
    """Why a finished model reply cannot be shown as an answer (empty, or citing none of the sources), else None."""
    if not text.strip():
        return "the model returned an empty reply"
    if not verify_citations(text, sources)[1]:
        return "the model's reply cited none of the sources"
    return None


def with_evidence(citations: list[Citation], checks: list[SentenceCheck]) -> list[Citation]:
    """Each citation with the abstract sentences that support the answer sentences citing it."""
    evidence: dict[int, list[str]] = {}
    for check in checks:
        if check.supported and check.evidence:
            for n in check.cited:
                evidence.setdefault(n, []).append(check.evidence)
    return [c.model_copy(update={"evidence": list(dict.fromkeys(evidence.get(c.n, [])))}) for c in citations]
