"""The pluggable rerank stage. Every reranker takes the query and fused hits and returns them reordered.

No cross-encoder ships in any package. The embedded default, "blend", joins the fused order with readings
of the question by the shipped embedder (MaxSim over token vectors, the best abstract sentence, the dense
score) and by the paper reader (all-mpnet-base-v2, one vector per paper): users' reworded questions gain
most of their recall@1 here (README). The others are for users who bring a model directory, a rerank
endpoint, or a capable LLM.
"""

from __future__ import annotations

import json
import re
import threading
from collections import OrderedDict
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

    # Passages recur across queries and encoding them dominates the cost: the recent ones are kept (LRU),
    # per embedder model and shared by every reranker of the process (a server, a test run's many engines).
    _caches: dict[str, OrderedDict[str, np.ndarray]] = {}
    _lock = threading.Lock()  # the servers answer two questions at once

    def __init__(self, embedder, cache_size: int = 8192) -> None:
        self._embedder = embedder
        with self._lock:
            self._cache = self._caches.setdefault(getattr(embedder, "name", "") or repr(embedder), OrderedDict())
        self._cache_size = cache_size

    def rerank(self, query: str, hits: list[Hit]) -> list[Hit]:
        return _reordered(hits, self.scores(query, hits))

    def scores(self, query: str, hits: list[Hit]) -> list[float]:
        q = self._embedder.token_vectors(query)
        return [float((q @ self._passage_vectors(passage(h)).T).max(axis=1).mean()) for h in hits]

    def warm(self, passages: list[str]) -> None:
        """Encode passages ahead of the first queries."""
        for text in passages:
            self._passage_vectors(text)

    def _passage_vectors(self, text: str) -> np.ndarray:
        with self._lock:
            vectors = self._cache.get(text)
            if vectors is not None:
                self._cache.move_to_end(text)
                return vectors
        vectors = self._embedder.token_vectors(text)
        with self._lock:
            self._cache[text] = vectors
            while len(self._cache) > self._cache_size:
                self._cache.popitem(last=False)
        return vectors


class BlendReranker:
    """The fused order joined by four readings of the question against each paper, fused by weighted RRF
    (fused order weight 1): with the shipped embedder, MaxSim over its best chunk's token vectors, the best
    cosine with any of its abstract sentences, and its best chunk's cosine from the dense search itself;
    with the paper reader (all-mpnet-base-v2), the cosine with its title + abstract (`reader_scores`, None
    when no candidate has a stored vector: that reading is then left out).

    Users ask in their own words; the fused order leans on the abstract's (BM25). Measured on the user set's
    tune questions (one gold paper each) and the dev set, candidates = top 20 of the hybrid search:
    recall@1 0.410 -> 0.500 and @5 0.718 -> 0.846 on users' wording, dev 0.978 unchanged (MaxSim alone at
    weight 1 would give 0.538 there but cost dev 1.6 points; README). The dense reading at weight 0.5 took
    the tune questions' recall@1 from 0.474 to 0.538 (held-out 0.579 -> 0.632) for 1.1 points of dev
    (0.978 -> 0.967): within the top 20, BM25's pull toward the abstract's words is what misleads a
    reworded question, and the dense score is the reading that ignores them. The paper reader decides when
    the question is ``reworded`` (its first candidate holds under 30 % of its BM25 terms: weight 8) and only
    nudges otherwise (0.5): tune recall@1 0.538 -> 0.705, held-out 0.632 -> 0.711, dev 0.967 unchanged; at
    one weight for all questions, 2, it gave 0.641 / 0.632 and cost dev a point (README).
    """

    name = "blend"

    def __init__(self, embedder, sentence_scores, maxsim_weight: float = 0.5, sentence_weight: float = 0.5,
                 rrf_k: int = 10, dense_weight: float = 0.5, reader_scores=None, reader_weight: float = 0.0,
                 reworded=None, reworded_reader_weight: float | None = None, reader_lead: float | None = None) -> None:
        self.maxsim = MaxSimReranker(embedder)
        self._sentence_scores = sentence_scores  # callable(query, hits) -> best sentence cosine per hit
        self._reader_scores = reader_scores  # callable(query, hits) -> reader cosine per hit, or None
        self._weights = (maxsim_weight, sentence_weight, dense_weight)
        self._reader_weight = reader_weight
        # The reader's weight is ``reworded_reader_weight`` when ``reworded(query, hits)`` says the question is in
        # other words than its best candidate's, or when the reader's favourite reads at least ``reader_lead``
        # closer to the question than the favourite of the other readings.
        self._reworded, self._reworded_weight, self._lead = reworded, reworded_reader_weight, reader_lead
        self._k = rrf_k

    def warm(self, passages: list[str]) -> None:
        if self._weights[0]:
            self.maxsim.warm(passages)

    def rerank(self, query: str, hits: list[Hit]) -> list[Hit]:
        if len(hits) < 2:
            return hits
        readings = (lambda: self.maxsim.scores(query, hits), lambda: self._sentence_scores(query, hits),
                    lambda: _dense_scores(hits))
        score = 1.0 / (self._k + np.arange(len(hits)))
        for weight, scores in zip(self._weights, readings, strict=True):
            if weight:
                score += weight / (self._k + _ranks(scores()))
        reader = self._reader_scores(query, hits) if self._reader_scores else None
        if reader is not None:
            weight = self._reworded_weight if self._reader_decides(query, hits, reader, score) else self._reader_weight
            if weight:
                score += weight / (self._k + _ranks(reader))
        return _reordered(hits, score)

    def _reader_decides(self, query: str, hits: list[Hit], reader: list[float], score: np.ndarray) -> bool:
        if self._reworded_weight is None:
            return False
        if self._reworded and self._reworded(query, hits):
            return True
        others = reader[int(np.argmax(score))]  # the other readings' favourite (ties: the fused order's first)
        return self._lead is not None and np.isfinite(others) and max(reader) - others >= self._lead


def _dense_scores(hits: list[Hit]) -> list[float]:
    """Each hit's best chunk cosine from the dense search; a hit only BM25 found ranks below all of those."""
    return [-np.inf if hit.dense_score is None else hit.dense_score for hit in hits]


def _ranks(scores) -> np.ndarray:
    """0 for the highest score, 1 for the next ...; ties keep their order."""
    order = np.argsort(-np.asarray(scores, dtype=np.float64), kind="stable")
    ranks = np.empty(len(order))
    ranks[order] = np.arange(len(order))
    return ranks


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


def build_reranker(settings: RerankSettings, *, embedder=None, complete=None, sentence_scores=None,
                   reader_scores=None, coverage=None) -> Reranker:
    """The reranker the settings ask for; ``coverage(query, hits)`` is the share of the query's terms in the
    first hit (blend: below ``reworded_coverage`` the question is read as reworded)."""
    if settings.kind == "none":
        return NoReranker()
    if settings.kind == "blend":
        reworded = (lambda query, hits: coverage(query, hits) < settings.reworded_coverage) if coverage else None
        return BlendReranker(embedder, sentence_scores, settings.maxsim_weight, settings.sentence_weight,
                             settings.blend_k, settings.dense_weight, reader_scores, settings.reader_weight,
                             reworded, settings.reworded_reader_weight, settings.reader_lead)
    if settings.kind == "maxsim":
        return MaxSimReranker(embedder)
    if not settings.model and settings.kind in ("cross-encoder", "litellm"):
        raise ConfigError(f"ASSISTANT_RERANK_MODEL is required for rerank kind '{settings.kind}'")
    if settings.kind == "cross-encoder":
        return CrossEncoderReranker(Path(settings.model))
    if settings.kind == "litellm":
        return LiteLLMReranker(settings.model, settings.api_base)
    return LLMListwiseReranker(complete)
