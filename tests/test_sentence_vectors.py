"""Abstract sentence vectors saved by one process's warm-up are read by the next instead of embedded again."""

from __future__ import annotations

import logging

import numpy as np
import pytest

from assistant.answer.attribute import SentenceVectors

GLACIERS = ("Glaciers retreat faster than models predicted. We measure 40 alpine glaciers with drones over ten "
            "years. Melt rates doubled since 2010.")
CORALS = "Coral reefs bleach in warm water. We survey 120 reefs. Recovery takes a decade or more."


class Counting:
    """The shipped embedder, counting the texts it is asked to embed."""

    name = "counting-minilm"

    def __init__(self, embedder) -> None:
        self.embedder, self.texts = embedder, 0

    def embed(self, texts):
        self.texts += len(texts)
        return self.embedder.embed(texts)


@pytest.fixture
def counting(embedder):
    return Counting(embedder)


def test_a_saved_file_is_read_instead_of_embedding_again(counting, tmp_path):
    path = tmp_path / "cache" / "sentences.npz"
    first = SentenceVectors(counting)
    before = first.get([("p1", GLACIERS), ("p2", CORALS)])
    assert counting.texts == 6 and first.save(path) and path.exists()
    assert not first.save(path)  # nothing new since: not written again

    counting.texts = 0
    second = SentenceVectors(counting)
    second.use_file(path)
    after = second.get([("p1", GLACIERS), ("p2", CORALS)])
    assert counting.texts == 0
    for (sentences, vectors), (again, read) in zip(before, after, strict=True):
        assert sentences == again and np.array_equal(vectors, read) and read.dtype == np.float32
    # An edited abstract is embedded again (keyed by its text); the unchanged one is still read.
    edited = GLACIERS.replace("40", "41")
    changed = second.get([("p1", edited), ("p2", CORALS)])
    assert counting.texts == 3 and changed[0][0][1].startswith("We measure 41")
    assert second.save(path)  # something new: written, and it holds the edited abstract too
    third = SentenceVectors(counting)
    third.use_file(path)
    counting.texts = 0
    third.get([("p1", edited)])
    assert counting.texts == 0


def test_a_damaged_file_is_skipped_with_a_warning_and_rewritten(counting, tmp_path, caplog):
    path = tmp_path / "sentences.npz"
    first = SentenceVectors(counting)
    first.get([("p1", GLACIERS)])
    first.save(path)
    path.write_bytes(path.read_bytes()[:200])  # cut short, as by a full disk
    second = SentenceVectors(counting)
    second.use_file(path)
    counting.texts = 0
    with caplog.at_level(logging.WARNING, logger="assistant.answer.attribute"):
        sentences, vectors = second.get([("p1", GLACIERS)])[0]
    assert counting.texts == 3 and len(sentences) == vectors.shape[0] == 3
    assert "not read" in caplog.text and str(path) in caplog.text
    assert second.save(path)  # the file is missing what was embedded: rewritten whole
    third = SentenceVectors(counting)
    third.use_file(path)
    counting.texts = 0
    third.get([("p1", GLACIERS)])
    assert counting.texts == 0


def test_a_missing_file_is_no_error(counting, tmp_path):
    vectors = SentenceVectors(counting)
    vectors.use_file(tmp_path / "nowhere.npz")
    assert len(vectors.get([("p2", CORALS)])[0][0]) == 3 and counting.texts == 3
