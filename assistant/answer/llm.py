"""The chat model, always reached through LiteLLM (via llama-index's LiteLLM integration)."""

from __future__ import annotations

import math
import queue
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from assistant.core.errors import LLMError, first_line
from assistant.core.offline import apply_offline_defaults
from assistant.core.settings import LLMSettings

NO_LLM = "none"
TOP_LOGPROBS = 20  # first tokens read by opening_probability (OpenAI allows up to 20)


class ChatModel:
    """Streams chat completions for one LiteLLM model string, with timeout, retries and fallbacks.

    ``extra`` goes straight to ``litellm.completion`` (tests pass ``mock_response`` there).
    """

    def __init__(self, settings: LLMSettings, extra: dict[str, Any] | None = None) -> None:
        apply_offline_defaults()  # before LiteLLM is imported: it fetches a price table otherwise
        import litellm
        from llama_index.llms.litellm import LiteLLM

        litellm.suppress_debug_info = True  # its "Give Feedback / Get Help" banner went to stdout (breaking --json)
        self.name, self.timeout = settings.model, settings.timeout
        if self.embedded:
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

    @property
    def embedded(self) -> bool:
        """Whether this is the embedded GGUF model (``local/...``), run by llama.cpp on this machine's CPU."""
        return self.name.startswith("local/")

    def stream(self, system: str, user: str, *, deadline: float | None = None, **overrides: Any) -> Iterator[str]:
        """Yield text deltas; any failure becomes an LLMError. ``overrides`` go to this call only.

        One deadline (``timeout`` seconds, or the earlier ``deadline`` in ``time.monotonic()`` terms when an
        answer makes several calls) bounds the whole reply, retries and fallbacks included: the provider runs
        in a worker thread and a hung endpoint is abandoned when time is up. A stream that ends without the
        model's finish signal was cut, and is an error too, never a short answer.
        """
        from llama_index.core.llms import ChatMessage

        messages = [ChatMessage(role="system", content=system), ChatMessage(role="user", content=user)]
        deadline = min(time.monotonic() + self.timeout, deadline or float("inf"))
        items, stop = queue.SimpleQueue(), threading.Event()

        def pump() -> None:
            finished = False
            try:
                for chunk in self._llm.stream_chat(messages, **overrides):
                    if stop.is_set():
                        return
                    finished = finished or _finish_reason(chunk.raw) is not None
                    if chunk.delta:
                        items.put(chunk.delta)
                items.put(_End(finished))
            except Exception as exc:  # a missing local model, too: the caller falls back to cited papers
                items.put(exc)

        threading.Thread(target=pump, name="llm-stream", daemon=True).start()
        try:
            while True:
                item = self._next(items, deadline)
                if isinstance(item, _End):
                    if not item.finished:
                        raise LLMError(f"{self.name}: the reply stream ended before the model finished")
                    return
                if isinstance(item, Exception):
                    raise LLMError(f"{self.name}: {first_line(item)}") from item
                yield item
        finally:
            stop.set()  # the worker stops at its next chunk; a local model stops generating

    def _next(self, items: queue.SimpleQueue, deadline: float) -> Any:
        """The provider's next item, or an LLMError once the deadline has passed (even while items keep coming:
        a retried stream re-sends its first deltas)."""
        remaining = deadline - time.monotonic()
        try:
            if remaining <= 0:
                raise queue.Empty
            return items.get(timeout=remaining)
        except queue.Empty:
            raise LLMError(f"{self.name}: no complete reply within the {self.timeout:g} s timeout") from None

    def complete(self, system: str, user: str, **overrides: Any) -> str:
        return "".join(self.stream(system, user, **overrides))

    def opening_probability(self, system: str, user: str, opening: str, *,
                            deadline: float | None = None) -> float | None:
        """The probability that the reply starts with ``opening`` ("NOT COVERED": the model's own no), read from its
        first token's ``top_logprobs`` (one token generated; the embedded model only reads the prompt). None when
        the provider gives no log-probabilities (LiteLLM's mock_response, some endpoints) or fails or the time is
        up: the caller then goes on without it."""
        from llama_index.core.llms import ChatMessage

        remaining = min(self.timeout, (float("inf") if deadline is None else deadline) - time.monotonic())
        if remaining <= 0:
            return None
        messages = [ChatMessage(role="system", content=system), ChatMessage(role="user", content=user)]
        try:
            raw = self._llm.chat(messages, max_tokens=1, temperature=0, logprobs=True, top_logprobs=TOP_LOGPROBS,
                                 timeout=remaining).raw
            top = raw["choices"][0]["logprobs"]["content"][0]["top_logprobs"]
            found = [(_field(item, "token"), _field(item, "logprob")) for item in top]
        except Exception:  # noqa: BLE001 - an optional reading: any failure means "not known"
            return None
        return sum(math.exp(logprob) for token, logprob in found if token.strip() and opening.startswith(token.strip()))


@dataclass
class _End:
    finished: bool  # the provider sent a finish_reason (stop, length, ...)


def _field(item: Any, name: str) -> Any:
    return item[name] if isinstance(item, dict) else getattr(item, name)


def _finish_reason(raw: Any) -> str | None:
    """The finish_reason of a streamed LiteLLM chunk (an object or a dict), None while the reply goes on."""
    try:
        choice = raw["choices"][0] if isinstance(raw, dict) else raw.choices[0]
        return choice["finish_reason"] if isinstance(choice, dict) else choice.finish_reason
    except (AttributeError, IndexError, KeyError, TypeError):
        return None


def build_chat_model(settings: LLMSettings, extra: dict[str, Any] | None = None) -> ChatModel | None:
    """The configured chat model, or None for extractive answers (ASSISTANT_LLM_MODEL=none)."""
    if settings.model.strip().lower() == NO_LLM:
        return None
    return ChatModel(settings, extra)


__all__ = ["NO_LLM", "ChatModel", "build_chat_model"]
