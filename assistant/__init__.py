"""Research-paper Q&A assistant: cited answers from a collection of abstracts."""

from assistant.core.errors import (
    AssistantError,
    ConfigError,
    IndexUnavailable,
    IngestError,
    InvalidQuery,
    LLMError,
    ModelUnavailable,
)
from assistant.core.models import Answer, Chunk, Citation, FeedSighting, Hit, IngestReport, Paper, Turn
from assistant.core.settings import Settings

__all__ = [
    "Answer", "AssistantError", "Chunk", "Citation", "ConfigError", "FeedSighting", "Hit", "IndexUnavailable",
    "IngestError", "IngestReport", "InvalidQuery", "LLMError", "ModelUnavailable", "Paper", "Settings", "Turn",
]
