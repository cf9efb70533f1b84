"""Saved llama.cpp states of prompt prefixes: a paper's part of its prompt is read once, then loaded in milliseconds.

A one-paper prompt puts the paper (title and whole abstract) before the question, so everything up to the blank
line before the question is the same for every question about that paper. Reading it takes the embedded model
≈ 9 s on 2 AVX2 cores; its evaluated state (the KV cache, ≈ 12 MB) loads from disk in ≈ 10 ms, after which only the
question's few tokens are read before the first answer token (bench/README.md, "A saved llama.cpp state per
paper").

A state is keyed by the exact prefix text (system prompt included) and the model, so editing a prompt or
changing the model simply misses the old states, which the size cap then evicts. One file per state, written
atomically; a file that does not load is deleted and the prompt is read as usual.
"""

from __future__ import annotations

import hashlib
import logging
import os
import struct
import threading
from pathlib import Path

import numpy as np

from assistant.core.files import write_atomically

log = logging.getLogger(__name__)

_MAGIC = b"ASSISTANT-LLAMA-STATE-1\n"
_SUFFIX = ".state"


class PrefixStates:
    """A folder of saved states, at most ``max_bytes`` in all (the least recently used go first)."""

    def __init__(self, folder: Path, model_key: str, max_bytes: int) -> None:
        self.folder, self.model_key, self.max_bytes = folder, model_key, max_bytes
        self._lock = threading.Lock()

    def key(self, prefix: str) -> str:
        return hashlib.sha256(f"{self.model_key}\0{prefix}".encode()).hexdigest()

    def _path(self, key: str) -> Path:
        return self.folder / f"{key}{_SUFFIX}"

    def has(self, key: str) -> bool:
        return self._path(key).is_file()

    def ids(self, key: str) -> np.ndarray | None:
        """The prefix's token ids alone (its header: a few KB of a ≈ 12 MB file), or None as `load` gives it."""
        return self._read(key, whole=False)

    def load(self, key: str) -> tuple[np.ndarray, bytes] | None:
        """The prefix's token ids and llama.cpp state, or None (absent, or unreadable: then deleted)."""
        return self._read(key, whole=True)

    def _read(self, key: str, whole: bool):
        path = self._path(key)
        head = len(_MAGIC) + 4
        try:
            with path.open("rb") as file:
                data = file.read(head)
                if data.startswith(_MAGIC) and len(data) == head:
                    (count,) = struct.unpack("<I", data[len(_MAGIC):])
                    data += file.read() if whole else file.read(4 * count + 1)  # + 1: a state must follow
        except FileNotFoundError:
            return None
        except OSError as exc:
            log.warning("saved state %s unreadable (%s)", path.name, exc)
            return None
        if not data.startswith(_MAGIC) or len(data) < head:
            self.discard(key, "not a saved state")
            return None
        if len(data) <= head + 4 * count:
            self.discard(key, "truncated")
            return None
        ids = np.frombuffer(data, dtype="<i4", count=count, offset=head)
        if not whole:
            return ids
        try:
            os.utime(path)  # recently used: kept longest by the cap
        except OSError:
            pass
        return ids, data[head + 4 * count:]

    def save(self, key: str, ids: list[int], state: bytes) -> None:
        """Write atomically (a crash leaves the old file or none), then keep the folder under the cap."""
        header = _MAGIC + struct.pack("<I", len(ids)) + np.asarray(ids, dtype="<i4").tobytes()
        write_atomically(self._path(key), lambda out: out.write(header + state))
        self._trim()

    def discard(self, key: str, why: str) -> None:
        log.warning("saved state %s dropped: %s", key[:12], why)
        self._path(key).unlink(missing_ok=True)

    def files(self) -> list[Path]:
        return sorted(self.folder.glob(f"*{_SUFFIX}")) if self.folder.is_dir() else []

    def size(self) -> int:
        return sum(_size(path) for path in self.files())

    def _trim(self) -> None:
        with self._lock:
            entries = []
            for path in self.files():
                try:
                    stat = path.stat()
                except FileNotFoundError:
                    continue
                entries.append((stat.st_mtime, stat.st_size, path))
            total = sum(size for _, size, _ in entries)
            for _, size, path in sorted(entries):
                if total <= self.max_bytes:
                    break
                path.unlink(missing_ok=True)
                total -= size

    def full(self, next_bytes: int) -> bool:
        """Would one more state of about ``next_bytes`` push the folder over the cap?"""
        return self.size() + next_bytes > self.max_bytes


def _size(path: Path) -> int:
    try:
        return path.stat().st_size
    except FileNotFoundError:
        return 0


def prefix_cuts(text: str) -> list[int]:
    """Where a saved prefix may end in a rendered prompt: after each blank line, the last first."""
    cuts, at = [], text.find("\n\n")
    while at != -1:
        cuts.append(at + 2)
        at = text.find("\n\n", at + 2)
    return cuts[::-1]
