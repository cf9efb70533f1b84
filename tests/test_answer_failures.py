"""A failed generation is never dressed as an answer: cut stream, empty or uncited reply, hung endpoint.

Each gives the cited extractive answer with a note and ``generation_failed``; a hung endpoint falls back
within the one configured timeout (retries included). The endpoints are local stubs speaking OpenAI's API.
"""

from __future__ import annotations

import json
import socket
import struct
import threading
import time

import pytest

from assistant.answer.llm import ChatModel
from assistant.core.settings import LLMSettings
from assistant.engine import Assistant

QUESTION = "How can a 175-billion-parameter GPT model be quantized to 3 or 4 bits per weight in a few GPU hours?"


class StubEndpoint:
    """A loopback OpenAI-compatible endpoint that misbehaves: 'hang' never answers, 'cut' drops the stream."""

    def __init__(self, mode: str) -> None:
        self.mode, self.connections = mode, 0
        self._sock = socket.create_server(("127.0.0.1", 0))
        self.url = f"http://127.0.0.1:{self._sock.getsockname()[1]}/v1"
        self._open: list[socket.socket] = []
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self) -> None:
        while True:
            try:
                conn, _ = self._sock.accept()
            except OSError:
                return
            self.connections += 1
            self._open.append(conn)
            if self.mode == "cut":
                threading.Thread(target=self._cut, args=(conn,), daemon=True).start()

    def _cut(self, conn: socket.socket) -> None:
        conn.recv(65536)
        chunk = {"id": "c1", "object": "chat.completion.chunk", "created": 0, "model": "m",
                 "choices": [{"index": 0, "delta": {"role": "assistant", "content": "GPTQ quantizes weights [1]"},
                              "finish_reason": None}]}
        conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nConnection: close\r\n\r\n"
                     + f"data: {json.dumps(chunk)}\n\n".encode())
        time.sleep(0.2)
        # A reset, as when the server or a proxy dies mid-reply: no finish_reason, no [DONE]. (A clean close
        # without [DONE] is turned by LiteLLM into a synthetic "stop"; that one cannot be told apart.)
        conn.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        conn.close()

    def close(self) -> None:
        self._sock.close()
        for conn in self._open:
            conn.close()


def engine_with(seed, model_settings: LLMSettings, extra: dict | None = None) -> Assistant:
    base = seed.assistant
    return Assistant(seed.settings.model_copy(update={"llm": model_settings}), index=base.index,
                     embedder=base.embedder, sparse=base.sparse, chat_model=ChatModel(model_settings, extra))


def assert_fallback(answer, reason: str) -> None:
    assert answer.generation_failed and not answer.abstained
    assert answer.answer.startswith("Note: the language model failed") and reason in answer.answer
    assert answer.citations and "[1]" in answer.answer  # the extractive answer, cited
    assert "Sources consulted" not in answer.answer


@pytest.mark.parametrize(("mode", "reply", "reason"), [
    ("attributed", " \n ", "empty reply"),  # LiteLLM takes "" as no mock at all
    ("context", " \n ", "empty reply"),
    ("attributed", "]]} 4 ## [1]", "not a sentence"),  # malformed
    ("context", "Lorem ipsum dolor sit amet, quantization.", "cited none"),  # in 'attributed' the marker is ours
], ids=["empty-attributed", "empty-context", "malformed-attributed", "uncited-context"])
def test_an_empty_malformed_or_uncited_reply_gives_the_cited_fallback(seed, mode, reply, reason):
    settings = LLMSettings(model="openai/gpt-4o-mini", num_retries=0, timeout=30, answer_mode=mode)
    answer = engine_with(seed, settings, {"mock_response": reply}).ask(QUESTION)
    assert_fallback(answer, reason)


# The cut text carries a valid [1]: only noticing the cut keeps it from passing as a short answer.
@pytest.mark.parametrize(("mode", "reason"), [("cut", "openai/gpt-4o-mini: "),
                                              ("hang", "within the 5 s timeout")])
def test_a_cut_stream_or_a_hung_endpoint_falls_back_within_the_one_timeout(seed, mode, reason):
    endpoint = StubEndpoint(mode)
    try:
        settings = LLMSettings(model="openai/gpt-4o-mini", api_base=endpoint.url, api_key="sk-test", num_retries=2,
                               timeout=5, condense="heuristic")
        started = time.monotonic()
        answer = engine_with(seed, settings).ask(QUESTION)
        elapsed = time.monotonic() - started
    finally:
        endpoint.close()
    assert_fallback(answer, reason)
    assert endpoint.connections >= 1
    # One deadline for the whole reply: before, each of 3 attempts could wait the full timeout.
    assert elapsed < 5 + 5, (elapsed, answer.timings_ms)


def test_a_stream_that_ends_without_the_models_finish_signal_is_an_error_not_a_short_answer():
    from types import SimpleNamespace

    from assistant.core.errors import LLMError

    class CutProvider:
        def stream_chat(self, messages, **overrides):
            yield SimpleNamespace(delta="GPTQ quantizes", raw={"choices": [{"finish_reason": None}]})

    model = ChatModel(LLMSettings(model="openai/gpt-4o-mini", timeout=5))
    model._llm = CutProvider()
    with pytest.raises(LLMError, match="ended before the model finished"):
        list(model.stream("system", "user"))
