"""llama.cpp generation for the embedded model: one GGUF loaded once, one generation at a time.

Streams run in a worker thread, so the generation lock is released even when a consumer stops listening,
and an event loop only ever awaits a queue.
"""

from __future__ import annotations

import asyncio
import atexit
import contextlib
import ctypes
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

from assistant.answer.local.states import PrefixStates, prefix_cuts
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
        self._waiting = 0  # generations waiting for the lock (save_prefix yields to them), under _count_lock
        self._count_lock = threading.Lock()
        self._llm: Any = None
        self._formatter: Any = None
        self.states: PrefixStates | None = None
        self.states_loaded = 0  # prompts whose prefix came from a saved state (tests, benchmarks)

    def use_states(self, folder: Path | None, max_bytes: int) -> None:
        """Load and save prompt-prefix states in ``folder`` (None: never)."""
        if folder is None:
            self.states = None
            return
        from importlib.metadata import version

        model = f"{self.expected_sha256}:llama-cpp-python {version('llama-cpp-python')}:{self.n_ctx}:{self.flash_attn}"
        self.states = PrefixStates(folder, model, max_bytes)

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
        atexit.register(_close_at_exit, weakref.ref(llm), self._generate_lock)
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

        with self._prepared(request) as (llm, rendered, prompt):
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
        if timed_out:
            raise self._timeout(request, f"after {completion_tokens} generated tokens")
        usage = {
            "prompt_tokens": len(prompt),
            "completion_tokens": completion_tokens,
            "total_tokens": len(prompt) + completion_tokens,
        }
        yield {**_chunk(""), "is_finished": True, "finish_reason": finish_reason, "usage": usage}

    @contextlib.contextmanager
    def _prepared(self, request: GenerationRequest) -> Iterator[tuple[Any, Any, list[int]]]:
        """Hold the model for ``request`` (waiting at most until its deadline): yields llama.cpp, the rendered chat
        prompt and its tokens, with the longest saved prefix state loaded."""
        wait = max(0.0, request.deadline - time.monotonic()) if request.deadline is not None else -1
        self._count_waiting(+1)
        try:
            acquired = self._generate_lock.acquire(timeout=wait)
        finally:
            self._count_waiting(-1)
        if not acquired:
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
            self._restore_prefix(llm, rendered.prompt, prompt, self._content_start(request.messages, rendered.prompt))
            yield llm, rendered, prompt
        finally:
            self._generate_lock.release()

    def first_token_logprobs(self, request: GenerationRequest, top: int) -> tuple[list[tuple[str, float]], int]:
        """The ``top`` likeliest first tokens of the reply and their log-probabilities, most likely first, and the
        prompt's length in tokens.

        Reads the prompt (from its saved prefix state where there is one) and no further: the model's own
        yes/no ("NOT COVERED" or an answer) as a probability, at the cost of reading the prompt only.
        """
        self.load()
        import numpy as np

        with self._prepared(request) as (llm, _rendered, prompt):
            llm.n_tokens = min(_shared(llm.input_ids[: llm.n_tokens], prompt), len(prompt) - 1)
            llm.eval(prompt[llm.n_tokens:])  # the last token's logits are llama.cpp's only ones kept
            logits = np.ctypeslib.as_array(llm._ctx.get_logits(), shape=(llm.n_vocab(),)).astype(np.float64)
        logprobs = logits - logits.max()
        logprobs -= np.log(np.exp(logprobs).sum())
        best = np.argsort(-logprobs)[:top]
        return [(self._token_text(llm, int(token)), float(logprobs[token])) for token in best], len(prompt)

    def _count_waiting(self, change: int) -> None:
        with self._count_lock:
            self._waiting += change

    def _content_start(self, messages: list[dict[str, str]], text: str) -> int | None:
        """Where the last message's own words start in ``text`` (its rendering): everything before, the system
        prompt and the role headers, is the same for every question of a kind (its state: save_prefix, exact)."""
        if self.states is None or not messages:
            return None
        marked = self._formatter(messages=[*messages[:-1], {**messages[-1], "content": _CONTENT_MARK}]).prompt
        at = marked.find(_CONTENT_MARK)
        return at if at > 0 and text.startswith(marked[:at]) else None

    def _restore_prefix(self, llm: Any, text: str, prompt: list[int], content_start: int | None = None) -> None:
        """Load the saved state of the longest saved prefix of ``prompt`` (``text`` rendered) that is longer than
        what the context holds already; llama.cpp then reads only the rest. The prefixes tried end at a blank line
        (a paper's part of its prompt) or at ``content_start`` (the system prompt's). Anything wrong: read as
        usual."""
        if self.states is None:
            return
        held = _shared(llm.input_ids[: llm.n_tokens], prompt)
        cuts = prefix_cuts(text)
        if content_start is not None:
            cuts = sorted({*cuts, content_start}, reverse=True)
        for cut in cuts:
            key = self.states.key(text[:cut])
            if (ids := self.states.ids(key)) is None:  # absent (most cut points) or unreadable
                continue
            if len(ids) <= held:
                return  # the context holds that much already (the same paper's previous question)
            if len(ids) >= len(prompt) or _shared(ids, prompt) != len(ids):
                self.states.discard(key, "its tokens are not a prefix of the prompt")
                continue
            if (saved := self.states.load(key)) is None:
                continue
            ids, state = saved
            import llama_cpp

            buffer = (ctypes.c_uint8 * len(state)).from_buffer_copy(state)
            if llama_cpp.llama_state_set_data(llm._ctx.ctx, buffer, len(state)) != len(state):
                llm.reset()
                self.states.discard(key, "llama.cpp did not accept it")
                return
            llm.input_ids[: len(ids)] = ids
            llm.n_tokens = len(ids)
            llm._requires_eval = True  # the logits are not restored: llama.cpp re-reads the last shared token
            self.states_loaded += 1
            return

    def save_prefix(self, messages: list[dict[str, str]], before: str, pause: Callable[[], bool], *,
                    exact: bool = False) -> str:
        """Read the rendered prompt up to the blank line before ``before`` (``exact``: up to ``before`` itself)
        and save its state (see states.py).

        Returns "built", "present" (saved before), "yielded" (a generation waits for the model, or ``pause()``
        said so: checked between slices of 16 tokens, so an answer waits at most one slice; never waits for the
        model itself), "full" (the disk cap is reached), "unfit" (no blank line before ``before``, or too long
        for the context) or "off" (no states folder).
        """
        if self.states is None:
            return "off"
        self.load()
        if not self._generate_lock.acquire(blocking=False):
            return "yielded"
        try:
            llm, rendered = self._llm, self._formatter(messages=messages)
            text = rendered.prompt
            at = text.find(before)
            cut = at if exact and at > 0 else text.rfind("\n\n", 0, at) + 2 if at > 0 else 0
            if cut < 2:
                return "unfit"
            key = self.states.key(text[:cut])
            if self.states.has(key):
                return "present"
            prefix = llm.tokenize(text[:cut].encode("utf-8"), add_bos=not rendered.added_special, special=True)
            if len(prefix) >= self.n_ctx:
                return "unfit"
            if self.states.full(_STATE_BYTES_PER_TOKEN * len(prefix)):
                return "full"
            held = _shared(llm.input_ids[: llm.n_tokens], prefix)
            llm.n_tokens = min(held, len(prefix) - 1)  # eval() drops the cells past n_tokens
            while llm.n_tokens < len(prefix):
                if pause() or self._waiting:
                    return "yielded"
                llm.eval(prefix[llm.n_tokens: llm.n_tokens + _SLICE])
            import llama_cpp

            size = llama_cpp.llama_state_get_size(llm._ctx.ctx)
            buffer = (ctypes.c_uint8 * size)()
            written = llama_cpp.llama_state_get_data(llm._ctx.ctx, buffer, size)
            self.states.save(key, prefix, bytes(buffer)[:written])
            return "built"
        finally:
            self._generate_lock.release()

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


_CONTENT_MARK = "\x00content\x00"  # stands for the last message's words while its prompt's start is found
_SLICE = 16  # tokens read at a time by save_prefix between checks for a waiting answer
_STATE_BYTES_PER_TOKEN = 30_000  # Qwen2.5-1.5B's K and V in f16, 28 layers x 2 x 256 values (an estimate for the cap)


def _shared(held: Any, prompt: Any) -> int:
    """How many leading tokens the two sequences share."""
    n = 0
    for a, b in zip(held, prompt, strict=False):
        if a != b:
            break
        n += 1
    return n


def _close_at_exit(llm_ref: weakref.ref, busy: threading.Lock) -> None:
    llm = llm_ref()
    if llm is not None and busy.acquire(timeout=5):  # not under a daemon thread still reading (save_prefix)
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
