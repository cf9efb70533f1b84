"""llama.cpp generation for the embedded model: one GGUF loaded once, one generation at a time.

Streams run in a worker thread, so the generation lock is released even when a consumer stops listening,
and an event loop only ever awaits a queue.
"""

from __future__ import annotations

import asyncio
import atexit
import logging
import queue
import threading
import time
import weakref
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import litellm
from litellm.types.utils import GenericStreamingChunk

from assistant.answer.local.verify import GGUF_SHA256, LOCAL_PROVIDER, SETUP_HINT, LocalModelUnavailable, verify_gguf

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class GenerationRequest:
    """One generation, in llama.cpp's terms."""

    model: str
    messages: list[dict[str, str]]
    sampling: dict[str, Any]
    stop: list[str]
    timeout: float | None
    deadline: float | None  # time.monotonic()


def _plain_messages(messages: list[dict[str, Any]]) -> list[dict[str, str]]:
    """OpenAI-style messages with string content (the chat template expects strings)."""
    plain = []
    for message in messages:
        content = message.get("content")
        if isinstance(content, list):
            content = "".join(part.get("text", "") for part in content if part.get("type") == "text")
        plain.append({"role": message["role"], "content": content or ""})
    return plain


def _timeout_seconds(timeout: Any) -> float | None:
    if isinstance(timeout, int | float):
        return float(timeout)
    return getattr(timeout, "read", None)  # httpx.Timeout


def generation_request(model: str, messages: list, optional_params: dict, timeout: Any) -> GenerationRequest:
    params = optional_params
    stop = params.get("stop") or []
    seconds = _timeout_seconds(timeout)
    sampling = {
        "max_tokens": params.get("max_tokens") or params.get("max_completion_tokens"),
        # llama.cpp's chat defaults; create_completion's own (temperature 0.8) are meant for raw text.
        "temperature": params["temperature"] if params.get("temperature") is not None else 0.2,
        "top_p": params["top_p"] if params.get("top_p") is not None else 0.95,
        "seed": params.get("seed"),
        "presence_penalty": params.get("presence_penalty") or 0.0,
        "frequency_penalty": params.get("frequency_penalty") or 0.0,
    }
    return GenerationRequest(
        model=model,
        messages=_plain_messages(messages),
        sampling=sampling,
        stop=[stop] if isinstance(stop, str) else list(stop),
        timeout=seconds,
        deadline=time.monotonic() + seconds if seconds else None,
    )


def _chunk(text: str) -> GenericStreamingChunk:
    return {"text": text, "is_finished": False, "finish_reason": "", "usage": None, "index": 0, "tool_use": None}


class LocalChatModel:
    """One GGUF, loaded lazily once; one generation at a time (a llama.cpp context is not re-entrant)."""

    def __init__(self, gguf_path: Path, n_ctx: int, n_threads: int, expected_sha256: str = GGUF_SHA256, *,
                 flash_attn: bool = True) -> None:
        self.gguf_path, self.n_ctx, self.n_threads, self.flash_attn = gguf_path, n_ctx, n_threads, flash_attn
        self.expected_sha256 = expected_sha256
        self._load_lock = threading.Lock()
        self._generate_lock = threading.Lock()
        self._llm: Any = None
        self._formatter: Any = None

    def load(self) -> None:
        """Verify and load the weights unless done already; raise ModelUnavailable if that cannot work."""
        with self._load_lock:
            if self._llm is None:
                self._llm, self._formatter = self._open()

    def _open(self) -> tuple[Any, Any]:
        verify_gguf(self.gguf_path, self.expected_sha256)
        try:
            from llama_cpp import Llama
            from llama_cpp.llama_chat_format import Jinja2ChatFormatter
        except ImportError as exc:
            raise LocalModelUnavailable(f"llama-cpp-python is not importable ({exc}); {SETUP_HINT}") from exc
        started = time.perf_counter()
        try:
            llm = Llama(model_path=str(self.gguf_path), n_ctx=self.n_ctx, n_threads=self.n_threads,
                        flash_attn=self.flash_attn, verbose=False)
        except ValueError as exc:
            raise LocalModelUnavailable(f"llama.cpp cannot load {self.gguf_path} ({exc}); {SETUP_HINT}") from exc
        template = llm.metadata.get("tokenizer.chat_template")
        if not template:
            raise LocalModelUnavailable(f"{self.gguf_path} carries no chat template; {SETUP_HINT}")
        eos, bos = llm.token_eos(), llm.token_bos()
        # The GGUF's own template, rendered here rather than inside create_chat_completion, so the
        # prompt's token count (usage) is known and generation can be stopped between tokens.
        formatter = Jinja2ChatFormatter(
            template=template,
            eos_token=self._token_text(llm, eos),
            bos_token=self._token_text(llm, bos),
            stop_token_ids=[eos],
        )
        # Free llama.cpp before interpreter teardown, when Llama.__del__ would fail noisily.
        atexit.register(_close_at_exit, weakref.ref(llm))
        log.info("loaded %s in %.1f s", self.gguf_path.name, time.perf_counter() - started)
        return llm, formatter

    @staticmethod
    def _token_text(llm: Any, token: int) -> str:
        return llm.detokenize([token], special=True).decode("utf-8", errors="ignore") if token != -1 else ""

    def stream(self, request: GenerationRequest, cancelled: threading.Event) -> Iterator[GenericStreamingChunk]:
        """Generate token by token; the last chunk carries finish_reason and usage.

        Holds the generation lock until exhausted, so callers run it to the end (see ``_pump``).
        """
        self.load()
        from llama_cpp import StoppingCriteriaList

        timed_out = False

        def interrupted(_input_ids: Any, _logits: Any) -> bool:
            nonlocal timed_out
            timed_out = request.deadline is not None and time.monotonic() > request.deadline
            return timed_out or cancelled.is_set()

        wait = max(0.0, request.deadline - time.monotonic()) if request.deadline is not None else -1
        if not self._generate_lock.acquire(timeout=wait):
            raise self._timeout(request, "waiting for the previous generation to finish")
        try:
            llm = self._llm
            rendered = self._formatter(messages=request.messages)
            prompt = llm.tokenize(rendered.prompt.encode("utf-8"), add_bos=not rendered.added_special, special=True)
            if len(prompt) >= self.n_ctx:
                raise litellm.ContextWindowExceededError(
                    message=f"prompt of {len(prompt)} tokens does not fit the local model's {self.n_ctx}-token context",
                    model=request.model,
                    llm_provider=LOCAL_PROVIDER,
                )
            stop = rendered.stop if isinstance(rendered.stop, list) else [rendered.stop] if rendered.stop else []
            finish_reason, completion_tokens = "stop", 0
            # Prompt evaluation happens before the first token and cannot be interrupted.
            for piece in llm.create_completion(
                prompt=prompt,
                stop=request.stop + stop,
                stopping_criteria=StoppingCriteriaList([interrupted, *(rendered.stopping_criteria or [])]),
                stream=True,
                **request.sampling,
            ):
                choice = piece["choices"][0]
                if choice["finish_reason"] is not None:
                    finish_reason = choice["finish_reason"]
                    continue
                completion_tokens += 1  # llama.cpp streams one chunk per generated token
                if choice["text"]:
                    yield _chunk(choice["text"])
        finally:
            self._generate_lock.release()
        if timed_out:
            raise self._timeout(request, f"after {completion_tokens} generated tokens")
        usage = {
            "prompt_tokens": len(prompt),
            "completion_tokens": completion_tokens,
            "total_tokens": len(prompt) + completion_tokens,
        }
        yield {**_chunk(""), "is_finished": True, "finish_reason": finish_reason, "usage": usage}

    def complete(self, request: GenerationRequest, cancelled: threading.Event) -> tuple[str, GenericStreamingChunk]:
        """The whole answer and the closing chunk (finish_reason, usage)."""
        *pieces, last = self.stream(request, cancelled)
        return "".join(piece["text"] for piece in pieces), last

    @staticmethod
    def _timeout(request: GenerationRequest, when: str) -> litellm.Timeout:
        return litellm.Timeout(
            message=f"local model exceeded its {request.timeout:g} s timeout {when}",
            model=request.model,
            llm_provider=LOCAL_PROVIDER,
        )


def _close_at_exit(llm_ref: weakref.ref) -> None:
    llm = llm_ref()
    if llm is not None:
        llm.close()


# ---------------------------------------------------------------------------------------------
# Streams run in a worker thread: the generation lock is then released even when a consumer stops
# listening, and an event loop only ever awaits a queue.

_END = object()


def _pump(
    produce: Callable[[threading.Event], Iterator[GenericStreamingChunk]],
    cancelled: threading.Event,
    put: Callable[[object], None],
) -> None:
    try:
        for chunk in produce(cancelled):
            put(chunk)
        put(_END)
    except BaseException as exc:  # handed to the consumer, which re-raises it
        put(exc)


def _start_pump(produce: Callable, cancelled: threading.Event, put: Callable[[object], None]) -> None:
    threading.Thread(target=_pump, args=(produce, cancelled, put), name="local-llm", daemon=True).start()


def stream_in_thread(produce: Callable[[threading.Event], Iterator]) -> Iterator[GenericStreamingChunk]:
    items: queue.SimpleQueue = queue.SimpleQueue()
    cancelled = threading.Event()
    _start_pump(produce, cancelled, items.put)
    try:
        while (item := items.get()) is not _END:
            if isinstance(item, BaseException):
                raise item
            yield item
    finally:
        cancelled.set()


async def astream_in_thread(
    produce: Callable[[threading.Event], Iterator], load: Callable[[], None] | None
) -> AsyncIterator[GenericStreamingChunk]:
    if load is not None:
        await asyncio.to_thread(load)
    loop = asyncio.get_running_loop()
    items: asyncio.Queue = asyncio.Queue()
    cancelled = threading.Event()

    def put(item: object) -> None:
        try:
            loop.call_soon_threadsafe(items.put_nowait, item)
        except RuntimeError:  # the loop is closed: nobody listens any more
            cancelled.set()

    _start_pump(produce, cancelled, put)
    try:
        while (item := await items.get()) is not _END:
            if isinstance(item, BaseException):
                raise item
            yield item
    finally:
        cancelled.set()


def on_event_loop() -> bool:
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return False
    return True
