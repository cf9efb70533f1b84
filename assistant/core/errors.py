"""The assistant's exception tree: one boundary for every surface.

Foreign errors (Qdrant, LiteLLM, parsing) are wrapped where they enter (the index adapters, the LLM
client, the parsers); only the surfaces turn these into user-facing text. Each class carries what a
surface needs: ``exit_code`` for the CLI contract (1 a user mistake, 2 an environment problem) and
``http_status`` for the HTTP API.
"""

from __future__ import annotations


class AssistantError(Exception):
    """Base of every error the assistant raises on purpose; the message is meant for a user."""

    exit_code = 1
    http_status = 400


class ConfigError(AssistantError):
    """A setting, a command-line option or a prompt file is invalid."""


class InvalidQuery(AssistantError):
    """A question or search query that cannot be searched (empty, too long, a bad date)."""

    http_status = 422


class IngestError(AssistantError):
    """A source record could not be read; names the file and line (or record)."""

    http_status = 422

    def __init__(self, source: str, line: int | None, reason: str) -> None:
        self.source, self.line, self.reason = source, line, reason
        where = f"{source}:{line}" if line is not None else source
        super().__init__(f"{where}: {reason}")


class IndexUnavailable(AssistantError):
    """The vector index cannot be used (locked, unreachable, missing, or failing underneath)."""

    exit_code = 2
    http_status = 503


class ModelUnavailable(AssistantError):
    """A local model (embedder, reranker, LLM weights) is missing or fails verification."""

    exit_code = 2
    http_status = 503


class LLMError(AssistantError):
    """The LLM call failed or timed out (callers fall back to an extractive answer)."""

    exit_code = 2
    http_status = 502


def first_line(exc: BaseException) -> str:
    """The first line of an exception's text, or its type when it has none (for one-line messages)."""
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__
