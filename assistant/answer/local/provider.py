"""The embedded chat model (a GGUF run by llama.cpp in this process), served as a LiteLLM provider.

``register_local_llm(settings.llm)`` routes every ``local/...`` model string to the configured GGUF,
so the rest of the code only ever speaks LiteLLM (``completion``/``acompletion``, streaming or not).
The weights come from an unknown publisher: the file's sha256 is checked once before the first load
(and remembered in a ``<gguf>.sha256-ok`` sidecar so later processes skip hashing 1.1 GB).

Import this module after the process has set its offline switches (``LITELLM_LOCAL_MODEL_COST_MAP``):
it imports LiteLLM.
"""


from __future__ import annotations

import asyncio
import threading
from collections.abc import AsyncIterator, Iterator
from typing import Any

import litellm
from litellm import CustomLLM
from litellm.types.utils import (
    ChatCompletionTokenLogprob,
    ChoiceLogprobs,
    GenericStreamingChunk,
    ModelResponse,
    TopLogprob,
)

from assistant.answer.local.runner import (
    GenerationRequest,
    LocalChatModel,
    astream_in_thread,
    generation_request,
    on_event_loop,
    stream_in_thread,
)
from assistant.answer.local.verify import LOCAL_PROVIDER
from assistant.core.settings import LLMSettings

__all__ = ["LocalLLMHandler", "local_chat_model", "register_local_llm"]


def _first_token(local: LocalChatModel, request: GenerationRequest, model_response: ModelResponse,
                 optional_params: dict) -> ModelResponse:
    """A reply of one token with its ``top_logprobs`` alternatives (OpenAI's shape): the likeliest first token."""
    ranked, prompt_tokens = local.first_token_logprobs(request, max(1, int(optional_params.get("top_logprobs") or 1)))
    token, logprob = ranked[0]
    model_response.choices[0].logprobs = ChoiceLogprobs(content=[ChatCompletionTokenLogprob(
        token=token, logprob=logprob, top_logprobs=[TopLogprob(token=t, logprob=lp) for t, lp in ranked])])
    return _fill(model_response, request.model, token, {**_ONE_TOKEN, "usage": {
        "prompt_tokens": prompt_tokens, "completion_tokens": 1, "total_tokens": prompt_tokens + 1}})


def _wants_logprobs(optional_params: dict) -> bool:
    """Whether the call asks for the first token's probabilities: ``logprobs`` with ``max_tokens=1`` (the only
    logprobs the embedded model gives; with more tokens the flag is ignored)."""
    return bool(optional_params.get("logprobs")) and optional_params.get("max_tokens") == 1


_ONE_TOKEN = {"text": "", "is_finished": True, "finish_reason": "length", "index": 0, "tool_use": None}


def _fill(model_response: ModelResponse, model: str, text: str, last: GenericStreamingChunk) -> ModelResponse:
    model_response.choices[0].message.content = text  # type: ignore[union-attr]
    model_response.choices[0].finish_reason = last["finish_reason"]
    model_response.model = model
    model_response.usage = litellm.Usage(**last["usage"])  # type: ignore[attr-defined]
    return model_response


class LocalLLMHandler(CustomLLM):
    """LiteLLM's entry points for the embedded model; every ``local/<name>`` runs the same GGUF.

    LiteLLM calls these with keyword arguments only; the ones not named here are ignored.
    """

    def __init__(self, model: LocalChatModel) -> None:
        super().__init__()
        self.local_model = model

    def completion(  # type: ignore[override]
        self, model: str, messages: list, model_response: ModelResponse, optional_params: dict, timeout=None, **_: Any
    ) -> ModelResponse:
        request = generation_request(model, messages, optional_params, timeout)
        if _wants_logprobs(optional_params):
            return _first_token(self.local_model, request, model_response, optional_params)
        text, last = self.local_model.complete(request, threading.Event())
        return _fill(model_response, model, text, last)

    def streaming(  # type: ignore[override]
        self, model: str, messages: list, optional_params: dict, timeout=None, **_: Any
    ) -> Iterator[GenericStreamingChunk]:
        request = generation_request(model, messages, optional_params, timeout)
        # Load now: LiteLLM rewraps errors raised once a stream has started, hiding ModelUnavailable.
        self.local_model.load()
        return stream_in_thread(lambda cancelled: self.local_model.stream(request, cancelled))

    async def acompletion(  # type: ignore[override]
        self, model: str, messages: list, model_response: ModelResponse, optional_params: dict, timeout=None, **_: Any
    ) -> ModelResponse:
        request = generation_request(model, messages, optional_params, timeout)
        if _wants_logprobs(optional_params):
            return await asyncio.to_thread(_first_token, self.local_model, request, model_response, optional_params)
        cancelled = threading.Event()
        try:
            text, last = await asyncio.to_thread(self.local_model.complete, request, cancelled)
        except asyncio.CancelledError:
            cancelled.set()  # the worker thread stops at its next token and frees the model
            raise
        return _fill(model_response, model, text, last)

    def astreaming(  # type: ignore[override]
        self, model: str, messages: list, optional_params: dict, timeout=None, **_: Any
    ) -> AsyncIterator[GenericStreamingChunk]:
        request = generation_request(model, messages, optional_params, timeout)
        # LiteLLM calls this from a worker thread (acompletion runs its dispatch in an executor): load
        # there, so ModelUnavailable is raised before the stream starts. On an event loop, defer the
        # (possibly seconds-long) load to a thread instead.
        load = self.local_model.load
        if not on_event_loop():
            load()
            load = None
        return astream_in_thread(lambda cancelled: self.local_model.stream(request, cancelled), load)


_registry_lock = threading.Lock()


def register_local_llm(settings: LLMSettings) -> LocalChatModel:
    """Route every ``local/...`` LiteLLM model string to ``settings.gguf_path`` (idempotent; loads lazily).

    The same weights and context keep the loaded model; only where its saved states live follows ``settings``.
    """
    path = settings.gguf_path.expanduser().resolve()
    with _registry_lock:
        model = local_chat_model()
        if model is None or (model.gguf_path, model.n_ctx, model.n_threads, model.flash_attn) != (
                path, settings.n_ctx, settings.n_threads, settings.flash_attn):
            model = LocalChatModel(path, settings.n_ctx, settings.n_threads, flash_attn=settings.flash_attn)
            others = [item for item in litellm.custom_provider_map if item["provider"] != LOCAL_PROVIDER]
            litellm.custom_provider_map = [*others, {"provider": LOCAL_PROVIDER,
                                                     "custom_handler": LocalLLMHandler(model)}]
        on = settings.paper_states and settings.states_dir is not None and settings.states_max_mb > 0
        model.use_states(settings.states_dir if on else None, settings.states_max_mb * 1024 * 1024)
        return model


def local_chat_model() -> LocalChatModel | None:
    """The embedded model every ``local/...`` string runs, once registered."""
    for item in litellm.custom_provider_map:
        if item["provider"] == LOCAL_PROVIDER and isinstance(item["custom_handler"], LocalLLMHandler):
            return item["custom_handler"].local_model
    return None
