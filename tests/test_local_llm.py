"""The embedded GGUF model, reached through LiteLLM as ``local/...`` (real model; small max_tokens)."""

import os

os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")  # before LiteLLM is imported

import asyncio
import hashlib
import math
import time
from pathlib import Path

import litellm
import pytest

from assistant.answer.local import LOCAL_PROVIDER, register_local_llm, verify_gguf
from assistant.answer.local import verify as local_verify
from assistant.core.errors import ModelUnavailable
from assistant.core.settings import LOCAL_MODEL, LLMSettings

REPO = Path(__file__).resolve().parents[1]
GGUF = LLMSettings().gguf_path
MESSAGES = [{"role": "user", "content": "Say hello in one short sentence."}]

needs_model = pytest.mark.skipif(
    not GGUF.is_file(), reason=f"{GGUF} is absent: run scripts/setup_llm.sh to install it"
)


@pytest.fixture
def local_model() -> str:
    register_local_llm(LLMSettings(gguf_path=GGUF))
    return LOCAL_MODEL


@pytest.fixture
def provider_map(monkeypatch: pytest.MonkeyPatch) -> None:
    """Let a test register its own (broken) model without evicting the loaded real one."""
    monkeypatch.setattr(litellm, "custom_provider_map", list(litellm.custom_provider_map))


def _text_of_stream(chunks) -> str:
    return "".join(chunk.choices[0].delta.content or "" for chunk in chunks)


@needs_model
def test_completion_answers_and_reports_usage(local_model: str) -> None:
    response = litellm.completion(model=local_model, messages=MESSAGES, max_tokens=8, temperature=0)

    assert response.choices[0].message.content.strip()
    assert response.usage.prompt_tokens > 5
    assert 1 <= response.usage.completion_tokens <= 8


@needs_model
def test_streaming_completion_yields_text(local_model: str) -> None:
    chunks = list(litellm.completion(model=local_model, messages=MESSAGES, max_tokens=8, stream=True))

    assert _text_of_stream(chunks).strip()
    assert chunks[-1].choices[0].finish_reason in {"stop", "length"}


@needs_model
def test_max_tokens_and_stop_are_respected(local_model: str) -> None:
    messages = [{"role": "user", "content": "Count from 1 to 20, separated by commas."}]

    capped = litellm.completion(model=local_model, messages=messages, max_tokens=3, temperature=0)
    stopped = litellm.completion(model=local_model, messages=messages, max_tokens=12, temperature=0, stop=["3"])

    assert capped.choices[0].finish_reason == "length"
    assert capped.usage.completion_tokens == 3
    assert "2" in stopped.choices[0].message.content
    assert "3" not in stopped.choices[0].message.content


@needs_model
def test_first_token_logprobs_are_the_first_tokens_distribution(local_model: str) -> None:
    """``logprobs`` with ``max_tokens=1`` returns the likeliest first token and its alternatives, OpenAI's shape."""
    messages = [{"role": "system", "content": "If the question is not about cooking, reply with exactly: NOT COVERED"},
                {"role": "user", "content": "How do transformers scale with more parameters?"}]
    response = litellm.completion(model=local_model, messages=messages, max_tokens=1, logprobs=True, top_logprobs=5)
    greedy = litellm.completion(model=local_model, messages=messages, max_tokens=1, temperature=0)

    first = response.choices[0].logprobs.content[0]
    top = [(item.token, item.logprob) for item in first.top_logprobs]
    assert len(top) == 5 and [lp for _, lp in top] == sorted((lp for _, lp in top), reverse=True)
    assert (first.token, first.logprob) == top[0] and response.choices[0].message.content == first.token
    assert response.usage.prompt_tokens > 10 and response.usage.completion_tokens == 1
    assert first.token == greedy.choices[0].message.content == "NOT"  # what generation would have written
    assert 0.5 < sum(math.exp(lp) for _, lp in top) <= 1.0 + 1e-9
    asynchronous = asyncio.run(litellm.acompletion(model=local_model, messages=messages, max_tokens=1,
                                                   logprobs=True, top_logprobs=2))
    assert asynchronous.choices[0].logprobs.content[0].token == "NOT"


@needs_model
def test_the_chat_models_probability_of_an_opening(local_model: str) -> None:
    from assistant.answer.llm import ChatModel

    system = "If the question is not about cooking, reply with exactly: NOT COVERED"
    model = ChatModel(LLMSettings(gguf_path=GGUF))
    off_topic = model.opening_probability(system, "How do transformers scale with more parameters?", "NOT COVERED")
    assert off_topic is not None and 0.5 < off_topic <= 1.0
    assert model.opening_probability(system, "How long should I boil an egg?", "Sure") < 0.1
    assert model.opening_probability(system, "How do transformers scale?", "NOT COVERED", deadline=0.0) is None
    mocked = ChatModel(LLMSettings(model="openai/gpt-4o-mini", num_retries=0), {"mock_response": "NOT COVERED"})
    assert mocked.opening_probability(system, "How do transformers scale?", "NOT COVERED") is None  # no logprobs


@needs_model
def test_acompletion_answers(local_model: str) -> None:
    response = asyncio.run(litellm.acompletion(model=local_model, messages=MESSAGES, max_tokens=8))

    assert response.choices[0].message.content.strip()


@needs_model
def test_async_streaming_leaves_the_event_loop_free(local_model: str) -> None:
    async def stream_while_ticking() -> tuple[str, int]:
        ticks = 0

        async def ticker() -> None:
            nonlocal ticks
            while True:
                await asyncio.sleep(0.01)
                ticks += 1

        ticking = asyncio.create_task(ticker())
        stream = await litellm.acompletion(model=local_model, messages=MESSAGES, max_tokens=12, stream=True)
        text = "".join([chunk.choices[0].delta.content or "" async for chunk in stream])
        ticking.cancel()
        return text, ticks

    started = time.monotonic()
    text, ticks = asyncio.run(stream_while_ticking())

    assert text.strip()
    # A blocked loop would tick a handful of times at most; a free one ticks every ~10 ms.
    assert ticks >= (time.monotonic() - started) / 0.01 / 4


@needs_model
def test_timeout_interrupts_generation(local_model: str) -> None:
    with pytest.raises(litellm.Timeout, match="timeout"):
        litellm.completion(model=local_model, messages=MESSAGES, max_tokens=16, timeout=0.001)


def test_register_is_idempotent(provider_map: None, tmp_path: Path) -> None:
    settings = LLMSettings(gguf_path=tmp_path / "model.gguf")

    register_local_llm(settings)
    first = [item["custom_handler"] for item in litellm.custom_provider_map if item["provider"] == LOCAL_PROVIDER]
    register_local_llm(settings)
    second = [item["custom_handler"] for item in litellm.custom_provider_map if item["provider"] == LOCAL_PROVIDER]

    assert len(first) == 1
    assert second == first


def test_missing_weights_name_the_fix(provider_map: None, tmp_path: Path) -> None:
    register_local_llm(LLMSettings(gguf_path=tmp_path / "absent.gguf"))

    with pytest.raises(ModelUnavailable, match="not found.*run scripts/setup_llm.sh"):
        litellm.completion(model=LOCAL_MODEL, messages=MESSAGES, max_tokens=4)
    with pytest.raises(ModelUnavailable, match="run scripts/setup_llm.sh"):
        litellm.completion(model=LOCAL_MODEL, messages=MESSAGES, max_tokens=4, stream=True)

    async def stream_async() -> None:
        stream = await litellm.acompletion(model=LOCAL_MODEL, messages=MESSAGES, max_tokens=4, stream=True)
        async for _ in stream:
            pass

    with pytest.raises(ModelUnavailable, match="run scripts/setup_llm.sh"):
        asyncio.run(stream_async())


def test_wrong_weights_are_refused(provider_map: None, tmp_path: Path) -> None:
    fake = tmp_path / "model.gguf"
    fake.write_bytes(b"GGUF" + bytes(4096))
    register_local_llm(LLMSettings(gguf_path=fake))

    with pytest.raises(ModelUnavailable, match="fail verification.*run scripts/setup_llm.sh"):
        litellm.completion(model=LOCAL_MODEL, messages=MESSAGES, max_tokens=4)
    with pytest.raises(ModelUnavailable, match="fail verification"):
        asyncio.run(litellm.acompletion(model=LOCAL_MODEL, messages=MESSAGES, max_tokens=4))
    assert not fake.with_name("model.gguf.sha256-ok").exists()


def test_verification_is_remembered_until_the_file_changes(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    weights = tmp_path / "model.gguf"
    weights.write_bytes(b"weights v1")
    good = hashlib.sha256(b"weights v1").hexdigest()
    verify_gguf(weights, expected_sha256=good)

    # A later process (empty in-memory cache) trusts the sidecar instead of hashing again.
    monkeypatch.setattr(local_verify, "_digests", {})
    monkeypatch.setattr(hashlib, "file_digest", lambda *_: pytest.fail("hashed a file already verified"))
    verify_gguf(weights, expected_sha256=good)
    monkeypatch.undo()

    weights.write_bytes(b"weights v2, tampered")
    with pytest.raises(ModelUnavailable, match="fail verification"):
        verify_gguf(weights, expected_sha256=good)
