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
import atexit
import hashlib
import json
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
from litellm import CustomLLM
from litellm.types.utils import GenericStreamingChunk, ModelResponse

from assistant.errors import ModelUnavailable
from assistant.settings import LLMSettings

__all__ = ["GGUF_SHA256", "LOCAL_PROVIDER", "LocalModelUnavailable", "register_local_llm", "verify_gguf"]

LOCAL_PROVIDER = "local"
GGUF_SHA256 = "cc324af070c2ecbfd324a30884d2f951a7ff756aba85cb811a6ec436933bb046"
SETUP_HINT = "run scripts/setup_llm.sh"

log = logging.getLogger(__name__)


class LocalModelUnavailable(ModelUnavailable, litellm.APIConnectionError):
    """ModelUnavailable that crosses LiteLLM intact.

    LiteLLM re-raises its own exception types unchanged and rewraps any other one, so this is also an
    ``APIConnectionError`` (which keeps LiteLLM's retries and fallbacks working).
    """

    def __init__(self, message: str, model: str = "") -> None:
        litellm.APIConnectionError.__init__(self, message=message, llm_provider=LOCAL_PROVIDER, model=model)
        self.message = message

    def __str__(self) -> str:
        return self.message


# ---------------------------------------------------------------------------------------------
# Verification of the weights


_digests: dict[tuple[str, int, int], str] = {}  # (path, size, mtime_ns) -> sha256, for this process


def _sidecar(path: Path) -> Path:
    return path.with_name(path.name + ".sha256-ok")


def _file_key(path: Path) -> tuple[str, int, int]:
    stat = path.stat()
    return str(path.resolve()), stat.st_size, stat.st_mtime_ns


def _recorded_digest(path: Path, key: tuple[str, int, int]) -> str | None:
    try:
        record = json.loads(_sidecar(path).read_text())
    except (OSError, ValueError):
        return None
    if isinstance(record, dict) and [record.get("path"), record.get("size"), record.get("mtime_ns")] == list(key):
        return record.get("sha256")
    return None


def _record_digest(path: Path, key: tuple[str, int, int], digest: str) -> None:
    record = {"path": key[0], "size": key[1], "mtime_ns": key[2], "sha256": digest}
    tmp = _sidecar(path).with_name(_sidecar(path).name + ".tmp")
    try:
        tmp.write_text(json.dumps(record) + "\n")
        tmp.replace(_sidecar(path))
    except OSError as exc:  # a read-only models dir only costs a re-hash in the next process
        log.debug("could not record the verified digest of %s: %s", path, exc)


def verify_gguf(path: Path, expected_sha256: str = GGUF_SHA256) -> None:
    """Raise ModelUnavailable unless ``path`` exists and has the expected sha256 (hashed once per file version)."""
    try:
        key = _file_key(path)
    except FileNotFoundError:
        raise LocalModelUnavailable(f"Local model weights not found at {path}; {SETUP_HINT}") from None
    digest = _digests.get(key) or _recorded_digest(path, key)
    if digest is None:
        started = time.perf_counter()
        with path.open("rb") as f:
            digest = hashlib.file_digest(f, "sha256").hexdigest()
        log.info("sha256 of %s computed in %.1f s", path, time.perf_counter() - started)
        if digest == expected_sha256:
            _record_digest(path, key, digest)
    _digests[key] = digest
    if digest != expected_sha256:
        raise LocalModelUnavailable(
            f"Local model weights at {path} fail verification (sha256 {digest[:12]}…, expected "
            f"{expected_sha256[:12]}…); refusing to load them: {SETUP_HINT}"
        )


# ---------------------------------------------------------------------------------------------
# The model


@dataclass(frozen=True)
class _Request:
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


def _request(model: str, messages: list, optional_params: dict, timeout: Any) -> _Request:
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
    return _Request(
        model=model,
        messages=_plain_messages(messages),
        sampling=sampling,
        stop=[stop] if isinstance(stop, str) else list(stop),
        timeout=seconds,
        deadline=time.monotonic() + seconds if seconds else None,
    )


def _chunk(text: str) -> GenericStreamingChunk:
    return {"text": text, "is_finished": False, "finish_reason": "", "usage": None, "index": 0, "tool_use": None}


class _LocalChatModel:
    """One GGUF, loaded lazily once; one generation at a time (a llama.cpp context is not re-entrant)."""

    def __init__(self, gguf_path: Path, n_ctx: int, n_threads: int, expected_sha256: str = GGUF_SHA256) -> None:
        self.gguf_path, self.n_ctx, self.n_threads = gguf_path, n_ctx, n_threads
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
            llm = Llama(model_path=str(self.gguf_path), n_ctx=self.n_ctx, n_threads=self.n_threads, verbose=False)
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

    def stream(self, request: _Request, cancelled: threading.Event) -> Iterator[GenericStreamingChunk]:
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

    def complete(self, request: _Request, cancelled: threading.Event) -> tuple[str, GenericStreamingChunk]:
        """The whole answer and the closing chunk (finish_reason, usage)."""
        *pieces, last = self.stream(request, cancelled)
        return "".join(piece["text"] for piece in pieces), last

    @staticmethod
    def _timeout(request: _Request, when: str) -> litellm.Timeout:
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


def _stream_in_thread(produce: Callable[[threading.Event], Iterator]) -> Iterator[GenericStreamingChunk]:
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


async def _astream_in_thread(
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


def _on_event_loop() -> bool:
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return False
    return True


# ---------------------------------------------------------------------------------------------
# The LiteLLM provider


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

    def __init__(self, model: _LocalChatModel) -> None:
        super().__init__()
        self.local_model = model

    def completion(  # type: ignore[override]
        self, model: str, messages: list, model_response: ModelResponse, optional_params: dict, timeout=None, **_: Any
    ) -> ModelResponse:
        request = _request(model, messages, optional_params, timeout)
        text, last = self.local_model.complete(request, threading.Event())
        return _fill(model_response, model, text, last)

    def streaming(  # type: ignore[override]
        self, model: str, messages: list, optional_params: dict, timeout=None, **_: Any
    ) -> Iterator[GenericStreamingChunk]:
        request = _request(model, messages, optional_params, timeout)
        # Load now: LiteLLM rewraps errors raised once a stream has started, hiding ModelUnavailable.
        self.local_model.load()
        return _stream_in_thread(lambda cancelled: self.local_model.stream(request, cancelled))

    async def acompletion(  # type: ignore[override]
        self, model: str, messages: list, model_response: ModelResponse, optional_params: dict, timeout=None, **_: Any
    ) -> ModelResponse:
        request = _request(model, messages, optional_params, timeout)
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
        request = _request(model, messages, optional_params, timeout)
        # LiteLLM calls this from a worker thread (acompletion runs its dispatch in an executor): load
        # there, so ModelUnavailable is raised before the stream starts. On an event loop, defer the
        # (possibly seconds-long) load to a thread instead.
        load = self.local_model.load
        if not _on_event_loop():
            load()
            load = None
        return _astream_in_thread(lambda cancelled: self.local_model.stream(request, cancelled), load)


_registry_lock = threading.Lock()


def register_local_llm(settings: LLMSettings) -> None:
    """Route every ``local/...`` LiteLLM model string to ``settings.gguf_path`` (idempotent; loads lazily)."""
    path = settings.gguf_path.expanduser().resolve()
    with _registry_lock:
        for item in litellm.custom_provider_map:
            handler = item["custom_handler"]
            if item["provider"] == LOCAL_PROVIDER and isinstance(handler, LocalLLMHandler):
                current = handler.local_model
                if (current.gguf_path, current.n_ctx, current.n_threads) == (path, settings.n_ctx, settings.n_threads):
                    return
        handler = LocalLLMHandler(_LocalChatModel(path, settings.n_ctx, settings.n_threads))
        others = [item for item in litellm.custom_provider_map if item["provider"] != LOCAL_PROVIDER]
        litellm.custom_provider_map = [*others, {"provider": LOCAL_PROVIDER, "custom_handler": handler}]
