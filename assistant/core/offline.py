"""Offline switches, applied once at process start-up (CLI entry, app factory, tests).

They must be set before LiteLLM, tiktoken or huggingface_hub are imported: LiteLLM otherwise fetches
a price table at import, tiktoken downloads its BPE files, and the hub client tries the network.
"""

from __future__ import annotations

import importlib.util
import os
from functools import lru_cache
from pathlib import Path


def tiktoken_cache_dir() -> str | None:
    """The BPE files llama-index-core ships (cl100k_base among them), found without importing it."""
    spec = importlib.util.find_spec("llama_index.core")
    if spec is None or not spec.submodule_search_locations:
        return None
    path = Path(next(iter(spec.submodule_search_locations))) / "_static" / "tiktoken_cache"
    return str(path) if path.is_dir() else None


def apply_offline_defaults() -> None:
    """Set the environment switches that keep every library off the network (user values win)."""
    os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    cache = tiktoken_cache_dir()
    if cache:
        os.environ.setdefault("TIKTOKEN_CACHE_DIR", cache)


@lru_cache(maxsize=4)
def tiktoken_encoding(name: str):
    """A tiktoken encoding loaded from the shipped BPE files, whoever calls first (CLI, tests, a library user)."""
    apply_offline_defaults()
    import tiktoken

    return tiktoken.get_encoding(name)
