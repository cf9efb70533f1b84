"""From hits to a cited answer: context within a token budget, citation checks, extractive fallback."""

from __future__ import annotations

import re
from dataclasses import dataclass

from assistant.models import Citation, Hit, Turn
from assistant.offline import tiktoken_encoding as _encoding

ABSTAIN_TEXT = ("The collection doesn't cover this: no paper in it is close enough to the question "
                "to answer from its abstract.")
GENERATION_FAILED_NOTE = "Note: the language model failed ({reason}), so here are the most relevant papers instead."
MARKER = re.compile(r"\[(\d+(?:\s*[,;–-]\s*\d+)*)\]")
SENTENCE = re.compile(r"(?<=[.!?])\s+(?=[A-Z0-9])")


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


def _marker_numbers(group: str) -> list[int]:
    parts = [int(p) for p in re.findall(r"\d+", group)]
    if re.search(r"[–-]", group) and len(parts) == 2 and 0 < parts[1] - parts[0] < 10:
        return list(range(parts[0], parts[1] + 1))
    return parts


def verify_citations(text: str, sources: list[Hit]) -> tuple[str, list[Citation], int]:
    """Rewrite markers as [n][m], drop those that point at no source, and list the cited papers.

    Returns the cleaned text, the citations in order of first use, and how many markers were dropped.
    """
    removed = 0
    cited: dict[int, Citation] = {}

    def replace(match: re.Match) -> str:
        nonlocal removed
        kept = []
        for n in _marker_numbers(match.group(1)):
            if 1 <= n <= len(sources):
                kept.append(n)
                if n not in cited:
                    hit = sources[n - 1]
                    cited[n] = Citation(n=n, paper_id=hit.paper_id, title=hit.title, url=hit.url,
                                        code_url=hit.code_url, feeds=hit.feeds, snippet=hit.snippet)
            else:
                removed += 1
        return "".join(f"[{n}]" for n in dict.fromkeys(kept))

    cleaned = MARKER.sub(replace, text)
    cleaned = re.sub(r"[ \t]+([.,;:])", r"\1", cleaned).strip()
    return cleaned, list(cited.values()), removed


def key_sentences(query_terms: set[int], hit: Hit, sparse, limit: int = 2) -> list[str]:
    """The snippet's sentences sharing the most BM25 terms with the query, in their original order."""
    sentences = [s.strip() for s in SENTENCE.split(hit.snippet) if s.strip()]
    scored = [(len(query_terms & set(sparse.embed_document(s).indices)), i) for i, s in enumerate(sentences)]
    best = sorted(sorted(scored, key=lambda pair: (-pair[0], pair[1]))[:limit], key=lambda pair: pair[1])
    return [sentences[i] for _, i in best]


def extractive_answer(query_terms: set[int], sources: list[Hit], sparse, max_papers: int = 3) -> str:
    """A cited answer without an LLM: the top papers and their most relevant sentences."""
    lines = ["The most relevant papers in the collection:"]
    for n, hit in enumerate(sources[:max_papers], 1):
        lines.append(f"- {hit.title} [{n}]: {' '.join(key_sentences(query_terms, hit, sparse))}")
    return "\n".join(lines)


def format_history(history: list[Turn], max_turns: int = 6) -> str:
    return "\n".join(f"{t.role}: {t.content}" for t in history[-max_turns:])


def heuristic_standalone(question: str, history: list[Turn]) -> str:
    """Without an LLM, a follow-up is searched together with the previous user question."""
    previous = [t.content for t in history if t.role == "user"]
    return f"{previous[-1]} {question}" if previous else question
