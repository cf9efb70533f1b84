"""The chat model, always reached through LiteLLM (via llama-index's LiteLLM integration)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from assistant.core.errors import LLMError
from assistant.core.offline import apply_offline_defaults
from assistant.core.settings import LLMSettings

NO_LLM = "none"


class ChatModel:
    """Streams chat completions for one LiteLLM model string, with timeout, retries and fallbacks.

    ``extra`` goes straight to ``litellm.completion`` (tests pass ``mock_response`` there).
    """

    def __init__(self, settings: LLMSettings, extra: dict[str, Any] | None = None) -> None:
        apply_offline_defaults()  # before LiteLLM is imported: it fetches a price table otherwise
        from llama_index.llms.litellm import LiteLLM

        self.name = settings.model
        if settings.model.startswith("local/"):
            from assistant.answer.local import register_local_llm

            register_local_llm(settings)
        kwargs: dict[str, Any] = {"timeout": settings.timeout, **settings.extra, **(extra or {})}
        if settings.fallbacks:
            kwargs["fallbacks"] = settings.fallbacks
        if settings.api_base:
            kwargs["api_base"] = settings.api_base
        if settings.api_key:
            kwargs["api_key"] = settings.api_key.get_secret_value()
        self._llm = LiteLLM(model=settings.model, temperature=settings.temperature, max_tokens=settings.max_tokens,
                            max_retries=settings.num_retries, additional_kwargs=kwargs)

    def stream(self, system: str, user: str, **overrides: Any) -> Iterator[str]:
        """Yield text deltas; any provider error becomes an LLMError. ``overrides`` go to this call only."""
        from llama_index.core.llms import ChatMessage

        messages = [ChatMessage(role="system", content=system), ChatMessage(role="user", content=user)]
        try:
            for chunk in self._llm.stream_chat(messages, **overrides):
                if chunk.delta:
                    yield chunk.delta
        except Exception as exc:  # a missing local model, too: the caller falls back to cited papers
            raise LLMError(f"{self.name}: {str(exc).splitlines()[0] if str(exc) else type(exc).__name__}") from exc

    def complete(self, system: str, user: str) -> str:
        return "".join(self.stream(system, user))


def build_chat_model(settings: LLMSettings, extra: dict[str, Any] | None = None) -> ChatModel | None:
    """The configured chat model, or None for extractive answers (ASSISTANT_LLM_MODEL=none)."""
    if settings.model.strip().lower() == NO_LLM:
        return None
    return ChatModel(settings, extra)


__all__ = ["NO_LLM", "ChatModel", "build_chat_model"]
