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
from assistant.core.offline import apply_offline_defaults
from assistant.core.settings import Settings

# Python runs this before any submodule a library user imports first (``assistant.answer.local`` imports
# LiteLLM, which fetches a price table at import unless the switch is already set); none of the above
# imports LiteLLM, tiktoken or huggingface_hub.
apply_offline_defaults()

__all__ = [
    "Answer", "AssistantError", "Chunk", "Citation", "ConfigError", "FeedSighting", "Hit", "IndexUnavailable",
    "IngestError", "IngestReport", "InvalidQuery", "LLMError", "ModelUnavailable", "Paper", "Settings", "Turn",
]
