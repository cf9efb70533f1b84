"""Vectors and the store: the embedder, the BM25 encoder, and the Qdrant adapters behind `PaperIndex`."""

from __future__ import annotations

from assistant.core.settings import Settings
from assistant.index.base import PaperIndex


def open_index(settings: Settings, dim: int, *, create: bool = False) -> PaperIndex:
    """The server index when ASSISTANT_QDRANT_URL is set, else the embedded Edge shard in the data dir.

    Only ``create=True`` (ingest) starts a new empty index; anything else refuses a missing one, naming where it looked.
    """
    if settings.qdrant.url:
        from qdrant_client import QdrantClient

        from assistant.index.server import ServerIndex

        key = settings.qdrant.api_key.get_secret_value() if settings.qdrant.api_key else None
        client = QdrantClient(url=settings.qdrant.url, api_key=key, timeout=int(settings.qdrant.timeout))
        return ServerIndex(client, settings.qdrant.collection, dim, create=create,
                           location=f"the Qdrant server at {settings.qdrant.url}")
    from assistant.index.edge import EdgeIndex

    return EdgeIndex(settings.qdrant_path, dim, create=create)


__all__ = ["open_index"]
