"""The assistant's exception tree.

Foreign errors (Qdrant, LiteLLM, parsing) are wrapped where they enter the core; only the surfaces
turn these into user-facing text. ``exit_code`` follows the CLI contract: 1 for a user mistake,
2 for an environment problem.
"""

from __future__ import annotations


class AssistantError(Exception):
    """Base of every error the assistant raises on purpose; the message is meant for a user."""

    exit_code = 1


class ConfigError(AssistantError):
    """A setting or a prompt file is invalid."""


class InvalidQuery(AssistantError):
    """A question or search query that cannot be searched (empty, only whitespace)."""


class IngestError(AssistantError):
    """A source record could not be read; names the file and line (or record)."""

    def __init__(self, source: str, line: int | None, reason: str) -> None:
        self.source, self.line, self.reason = source, line, reason
        where = f"{source}:{line}" if line is not None else source
        super().__init__(f"{where}: {reason}")


class IndexUnavailable(AssistantError):
    """The vector index cannot be opened (locked, unreachable, missing)."""

    exit_code = 2


class ModelUnavailable(AssistantError):
    """A local model (embedder, reranker, LLM weights) is missing or fails verification."""

    exit_code = 2


class LLMError(AssistantError):
    """The LLM call failed or timed out (callers fall back to an extractive answer)."""

    exit_code = 2
