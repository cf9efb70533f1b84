"""The one rule every surface applies to a question before any work: not blank, not longer than the limit."""

from __future__ import annotations

from assistant.core.errors import InvalidQuery


def check_question(text: str, limit: int, field: str = "the question") -> str:
    """The question unchanged, or an InvalidQuery saying what is wrong with ``field``."""
    if not text.strip():
        raise InvalidQuery(f"{field} is empty: type what you want to know")
    if len(text) > limit:
        raise InvalidQuery(f"{field} is too long: {len(text)} characters, the limit is {limit}")
    return text
