"""The pluggable rerank stage. Every reranker takes the query and fused hits and returns them reordered.

No cross-encoder ships in any package, so the embedded default is "none" (measured: see README);
the others are for users who bring a model directory, a rerank endpoint, or a capable LLM.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Protocol

import numpy as np

from assistant.core.errors import ConfigError, LLMError, ModelUnavailable
from assistant.core.models import Hit
from assistant.core.settings import RerankSettings


class Reranker(Protocol):
    name: str

    def rerank(self, query: str, hits: list[Hit]) -> list[Hit]: ...


def _reordered(hits: list[Hit], scores) -> list[Hit]:
    ranked = sorted(zip(hits, scores, strict=True), key=lambda pair: -pair[1])
    return [hit.model_copy(update={"score": float(score)}) for hit, score in ranked]


def passage(hit: Hit) -> str:
    return f"{hit.title}\n{hit.snippet}"


class NoReranker:
    """Keep the fused order."""

    name = "none"

    def rerank(self, query: str, hits: list[Hit]) -> list[Hit]:
        return hits


class MaxSimReranker:
    """Late interaction over the embedder's token vectors (ColBERT-style MaxSim, averaged over query tokens)."""

    name = "maxsim"

    def __init__(self, embedder, cache_size: int = 4096) -> None:
        self._embedder = embedder
        self._cache: dict[str, np.ndarray] = {}  # passages recur across queries; encoding them dominates the cost
        self._cache_size = cache_size

    def rerank(self, query: str, hits: list[Hit]) -> list[Hit]:
        q = self._embedder.token_vectors(query)
        scores = [float((q @ self._passage_vectors(passage(h)).T).max(axis=1).mean()) for h in hits]
        return _reordered(hits, scores)

    def _passage_vectors(self, text: str) -> np.ndarray:
        if text not in self._cache:
            if len(self._cache) >= self._cache_size:
                self._cache.pop(next(iter(self._cache)))
            self._cache[text] = self._embedder.token_vectors(text)
        return self._cache[text]


class CrossEncoderReranker:
    """An ONNX cross-encoder from a directory holding `model.onnx` and `tokenizer.json` (ms-marco shape)."""

    name = "cross-encoder"

    def __init__(self, directory: Path, max_tokens: int = 512) -> None:
        import onnxruntime as ort
        from tokenizers import Tokenizer

        model, tokenizer = directory / "model.onnx", directory / "tokenizer.json"
        if not model.is_file() or not tokenizer.is_file():
            raise ModelUnavailable(f"cross-encoder directory {directory} needs model.onnx and tokenizer.json")
        self._session = ort.InferenceSession(str(model), providers=["CPUExecutionProvider"])
        self._inputs = {i.name for i in self._session.get_inputs()}
        self._tokenizer = Tokenizer.from_file(str(tokenizer))
        self._tokenizer.no_padding()
        self._tokenizer.enable_truncation(max_tokens)

    def rerank(self, query: str, hits: list[Hit]) -> list[Hit]:
        if not hits:
            return hits
        encodings = self._tokenizer.encode_batch([(query, passage(h)) for h in hits])
        width = max(len(e.ids) for e in encodings)
        arrays = {name: np.zeros((len(hits), width), dtype=np.int64)
                  for name in ("input_ids", "attention_mask", "token_type_ids")}
        for row, enc in enumerate(encodings):
            n = len(enc.ids)
            arrays["input_ids"][row, :n] = enc.ids
            arrays["attention_mask"][row, :n] = 1
            arrays["token_type_ids"][row, :n] = enc.type_ids
        (logits,) = self._session.run(None, {k: v for k, v in arrays.items() if k in self._inputs})[:1]
        return _reordered(hits, np.asarray(logits).reshape(len(hits), -1)[:, -1])


class LiteLLMReranker:
    """A hosted or self-served reranker through `litellm.rerank` (Cohere, Jina, Voyage, Infinity, TEI ...)."""

    name = "litellm"

    def __init__(self, model: str, api_base: str | None = None) -> None:
        self._model, self._api_base = model, api_base

    def rerank(self, query: str, hits: list[Hit]) -> list[Hit]:
        import litellm

        if not hits:
            return hits
        try:
            response = litellm.rerank(model=self._model, query=query, documents=[passage(h) for h in hits],
                                      top_n=len(hits), api_base=self._api_base)
        except Exception as exc:
            raise LLMError(f"rerank call to {self._model} failed: {str(exc).splitlines()[0]}") from exc
        scores = [float("-inf")] * len(hits)
        for item in response.results:
            scores[item["index"]] = item["relevance_score"]
        return _reordered(hits, scores)


class LLMListwiseReranker:
    """Asks the configured chat model to order the candidates; unknown ids in its reply are ignored."""

    name = "llm"
    PROMPT = ("Rank the passages by how well they answer the question. Reply with JSON only: "
              '{{"ranking": [passage numbers, best first]}}.\n\nQuestion: {question}\n\n{passages}')

    def __init__(self, complete) -> None:
        self._complete = complete  # callable(prompt) -> text, so tests pass a fake

    def rerank(self, query: str, hits: list[Hit]) -> list[Hit]:
        listing = "\n\n".join(f"[{i}] {passage(h)[:600]}" for i, h in enumerate(hits, 1))
        reply = self._complete(self.PROMPT.format(question=query, passages=listing))
        order = _parse_ranking(reply, len(hits))
        scores = [0.0] * len(hits)
        for rank, number in enumerate(order):
            scores[number - 1] = float(len(hits) - rank)
        return _reordered(hits, scores)


def _parse_ranking(reply: str, n: int) -> list[int]:
    try:
        numbers = json.loads(reply[reply.index("{"): reply.rindex("}") + 1])["ranking"]
    except (ValueError, KeyError, TypeError):
        numbers = re.findall(r"\d+", reply)
    seen: list[int] = []
    for value in numbers:
        number = int(value)
        if 1 <= number <= n and number not in seen:
            seen.append(number)
    return seen


def build_reranker(settings: RerankSettings, *, embedder=None, complete=None) -> Reranker:
    """The reranker the settings ask for."""
    if settings.kind == "none":
        return NoReranker()
    if settings.kind == "maxsim":
        return MaxSimReranker(embedder)
    if not settings.model and settings.kind in ("cross-encoder", "litellm"):
        raise ConfigError(f"ASSISTANT_RERANK_MODEL is required for rerank kind '{settings.kind}'")
    if settings.kind == "cross-encoder":
        return CrossEncoderReranker(Path(settings.model))
    if settings.kind == "litellm":
        return LiteLLMReranker(settings.model, settings.api_base)
    return LLMListwiseReranker(complete)
