"""The embedded model's weights: found, and their sha256 checked once before the first load.

The GGUF comes from an unknown publisher, so a file whose hash differs is refused. A verified hash is
remembered in a ``<gguf>.sha256-ok`` sidecar so later processes skip hashing 1.1 GB.
"""

from __future__ import annotations

import hashlib
import json
import logging
import time
from pathlib import Path

import litellm

from assistant.core.errors import ModelUnavailable
from assistant.core.files import write_atomically

LOCAL_PROVIDER = "local"
GGUF_SHA256 = "cc324af070c2ecbfd324a30884d2f951a7ff756aba85cb811a6ec436933bb046"
SETUP_HINT = "run scripts/setup_llm.sh"

log = logging.getLogger(__name__)


class LocalModelUnavailable(ModelUnavailable, litellm.APIConnectionError):
    """ModelUnavailable that crosses LiteLLM intact.

    LiteLLM re-raises its own exception types unchanged and rewraps any other one, so this is also an
    ``APIConnectionError`` (which keeps LiteLLM's retries and fallbacks working).
    """

    def __init__(self, message: str, model: str = "") -> None:
        litellm.APIConnectionError.__init__(self, message=message, llm_provider=LOCAL_PROVIDER, model=model)
        self.message = message

    def __str__(self) -> str:
        return self.message



_digests: dict[tuple[str, int, int], str] = {}  # (path, size, mtime_ns) -> sha256, for this process


def _sidecar(path: Path) -> Path:
    return path.with_name(path.name + ".sha256-ok")


def _file_key(path: Path) -> tuple[str, int, int]:
    stat = path.stat()
    return str(path.resolve()), stat.st_size, stat.st_mtime_ns


def _recorded_digest(path: Path, key: tuple[str, int, int]) -> str | None:
    try:
        record = json.loads(_sidecar(path).read_text())
    except (OSError, ValueError):
        return None
    if isinstance(record, dict) and [record.get("path"), record.get("size"), record.get("mtime_ns")] == list(key):
        return record.get("sha256")
    return None


def _record_digest(path: Path, key: tuple[str, int, int], digest: str) -> None:
    record = {"path": key[0], "size": key[1], "mtime_ns": key[2], "sha256": digest}
    try:
        write_atomically(_sidecar(path), lambda out: out.write((json.dumps(record) + "\n").encode()))
    except OSError as exc:  # a read-only models dir only costs a re-hash in the next process
        log.debug("could not record the verified digest of %s: %s", path, exc)


def verify_gguf(path: Path, expected_sha256: str = GGUF_SHA256) -> None:
    """Raise ModelUnavailable unless ``path`` exists and has the expected sha256 (hashed once per file version)."""
    try:
        key = _file_key(path)
    except FileNotFoundError:
        raise LocalModelUnavailable(f"Local model weights not found at {path}; {SETUP_HINT}") from None
    digest = _digests.get(key) or _recorded_digest(path, key)
    if digest is None:
        started = time.perf_counter()
        with path.open("rb") as f:
            digest = hashlib.file_digest(f, "sha256").hexdigest()
        log.info("sha256 of %s computed in %.1f s", path, time.perf_counter() - started)
        if digest == expected_sha256:
            _record_digest(path, key, digest)
    _digests[key] = digest
    if digest != expected_sha256:
        raise LocalModelUnavailable(
            f"Local model weights at {path} fail verification (sha256 {digest[:12]}…, expected "
            f"{expected_sha256[:12]}…); refusing to load them: {SETUP_HINT}"
        )
