"""The paper reader: one vector per paper from a stronger embedder than the search's, read at rerank time.

Users ask in their own words. Within the top 20 candidates, all-mpnet-base-v2's cosine between the question
and a paper's title + abstract finds the paper a reworded question means far more often than MiniLM's
readings (bench/README.md). It is too slow to embed every chunk for the search itself (about 6 papers/s
here against MiniLM's 24 chunks/s), so ingest stores one vector per paper in its first chunk's payload and
the blend rerank reads the candidates' vectors back (`PaperIndex.paper_vectors`).
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from assistant.core.errors import ModelUnavailable
from assistant.core.models import Hit, Paper
from assistant.core.settings import EmbedSettings
from assistant.index.embedder import MpnetEmbedder
from assistant.index.mpnet_build import OLDER_RECIPE, is_current

SETUP_HINT = "run scripts/setup.sh (it builds the model), or set ASSISTANT_EMBED_PAPER_READER=false"


def paper_text(paper: Paper) -> str:
    return f"{paper.title}. {paper.abstract}"


class PaperReader:
    """Loads the model on first use (a process's engines share it); refuses at once if it is not installed."""

    _models: dict[Path, MpnetEmbedder] = {}
    _lock = threading.Lock()
    # The answer reads the rerank's question again (`Assistant._reader_sure`): its vector is kept, not recomputed.
    _queries: OrderedDict[tuple[Path, str], np.ndarray] = OrderedDict()

    def __init__(self, settings: EmbedSettings) -> None:
        self._settings, self._dir = settings, settings.reader_dir
        if not (self._dir / "model.onnx").is_file():
            raise ModelUnavailable(f"the paper reader's model is not in {self._dir}: {SETUP_HINT}")
        if not is_current(self._dir):
            raise ModelUnavailable(f"the paper reader in {self._dir} {OLDER_RECIPE}: {SETUP_HINT}")

    @property
    def model(self) -> MpnetEmbedder:
        with self._lock:
            if self._dir not in self._models:
                self._models[self._dir] = MpnetEmbedder(self._dir, self._settings)
            return self._models[self._dir]

    def embed_papers(self, papers: Sequence[Paper]) -> np.ndarray:
        return self.model.embed([paper_text(p) for p in papers])

    def scores(self, query: str, hits: list[Hit], vectors: dict[str, np.ndarray]) -> list[float] | None:
        """Each hit's cosine with the question; a hit without a stored vector ranks below the others; None when
        no hit has one (an index ingested before the reader, or by a run with it off)."""
        if not vectors:
            return None
        q = self.query_vector(query)
        return [float(q @ vectors[h.paper_id]) if h.paper_id in vectors else -np.inf for h in hits]

    def query_vector(self, query: str) -> np.ndarray:
        """The question's vector; the last 256 questions' are kept (a rerank and the answer read the same one)."""
        key = (self._dir, query)
        with self._lock:
            if key in self._queries:
                self._queries.move_to_end(key)
                return self._queries[key]
        vector = self.model.embed_query(query)
        with self._lock:
            self._queries[key] = vector
            while len(self._queries) > 256:
                self._queries.popitem(last=False)
        return vector


def paper_reader(settings: EmbedSettings) -> PaperReader | None:
    return PaperReader(settings) if settings.paper_reader else None
