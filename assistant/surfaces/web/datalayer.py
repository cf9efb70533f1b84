"""Chat history and feedback in SQLite under the data dir, through Chainlit's SQLAlchemy data layer.

Chainlit ships no schema for it, so the tables are created here; the columns follow what 2.12 writes
(its documented schema lacks `steps.autoCollapse`, and every step insert fails without it).
"""

from __future__ import annotations

import asyncio
import base64
import sqlite3
from pathlib import Path
from typing import Any

from chainlit.data.sql_alchemy import SQLAlchemyDataLayer
from chainlit.data.storage_clients.base import BaseStorageClient

SCHEMA = """
CREATE TABLE IF NOT EXISTS users ("id" TEXT PRIMARY KEY, "identifier" TEXT NOT NULL UNIQUE, "metadata" TEXT NOT NULL,
  "createdAt" TEXT);
CREATE TABLE IF NOT EXISTS threads ("id" TEXT PRIMARY KEY, "createdAt" TEXT, "name" TEXT, "userId" TEXT,
  "userIdentifier" TEXT, "tags" TEXT, "metadata" TEXT, FOREIGN KEY ("userId") REFERENCES users("id") ON DELETE CASCADE);
CREATE TABLE IF NOT EXISTS steps ("id" TEXT PRIMARY KEY, "name" TEXT NOT NULL, "type" TEXT NOT NULL,
  "threadId" TEXT NOT NULL, "parentId" TEXT, "streaming" BOOLEAN NOT NULL, "waitForAnswer" BOOLEAN, "isError" BOOLEAN,
  "metadata" TEXT, "tags" TEXT, "input" TEXT, "output" TEXT, "createdAt" TEXT, "command" TEXT, "modes" TEXT,
  "start" TEXT, "end" TEXT, "generation" TEXT, "showInput" TEXT, "language" TEXT, "indent" INT, "defaultOpen" BOOLEAN,
  "autoCollapse" BOOLEAN, FOREIGN KEY ("threadId") REFERENCES threads("id") ON DELETE CASCADE);
CREATE TABLE IF NOT EXISTS elements ("id" TEXT PRIMARY KEY, "threadId" TEXT, "type" TEXT, "url" TEXT,
  "chainlitKey" TEXT, "name" TEXT NOT NULL, "display" TEXT, "objectKey" TEXT, "size" TEXT, "page" INT,
  "language" TEXT, "forId" TEXT, "mime" TEXT, "props" TEXT, "autoPlay" BOOLEAN, "playerConfig" TEXT,
  FOREIGN KEY ("threadId") REFERENCES threads("id") ON DELETE CASCADE);
CREATE TABLE IF NOT EXISTS feedbacks ("id" TEXT PRIMARY KEY, "forId" TEXT NOT NULL, "threadId" TEXT NOT NULL,
  "value" INT NOT NULL, "comment" TEXT, FOREIGN KEY ("threadId") REFERENCES threads("id") ON DELETE CASCADE);
"""


def create_schema(db_path: Path) -> None:
    db_path.parent.mkdir(parents=True, exist_ok=True)
    with sqlite3.connect(db_path) as conn:
        conn.execute("PRAGMA journal_mode=WAL")  # the Slack bot writes its own tables in the same file
        conn.executescript(SCHEMA)


class OrderedDataLayer(SQLAlchemyDataLayer):
    """Chainlit fires a step's create and update as separate tasks; unordered, the empty create can land last
    and wipe the step's output. One lock applies them in call order."""

    _lock: asyncio.Lock | None = None

    async def create_step(self, step_dict):
        if OrderedDataLayer._lock is None:
            OrderedDataLayer._lock = asyncio.Lock()
        async with OrderedDataLayer._lock:
            return await super().create_step(step_dict)


class LocalDataUrlStorage(BaseStorageClient):
    """Element contents (the citation panels) kept in files and served back as data: URLs, so a reloaded or
    resumed chat shows its sources without another HTTP route or a cloud bucket."""

    def __init__(self, root: Path) -> None:
        self.root = root
        root.mkdir(parents=True, exist_ok=True)

    def _path(self, key: str) -> Path:
        return self.root / key.replace("/", "__")

    async def upload_file(self, object_key: str, data: bytes | str, mime: str = "application/octet-stream",
                          overwrite: bool = True, content_disposition: str | None = None) -> dict[str, Any]:
        path = self._path(object_key)
        await asyncio.to_thread(path.write_bytes, data.encode() if isinstance(data, str) else data)
        await asyncio.to_thread(path.with_name(path.name + ".mime").write_text, mime)
        return {"object_key": object_key, "url": await self.get_read_url(object_key)}

    async def get_read_url(self, object_key: str) -> str:
        path = self._path(object_key)
        if not path.exists():
            return ""
        data, mime = path.read_bytes(), path.with_name(path.name + ".mime").read_text()
        if mime.startswith("text/") and "charset" not in mime:
            mime += ";charset=utf-8"  # titles and abstracts carry Greek letters and accents
        return f"data:{mime};base64,{base64.b64encode(data).decode()}"

    async def delete_file(self, object_key: str) -> bool:
        path = self._path(object_key)
        existed = path.exists()
        path.unlink(missing_ok=True)
        path.with_name(path.name + ".mime").unlink(missing_ok=True)
        return existed

    async def close(self) -> None:
        return None


def build_data_layer(db_path: Path, blob_dir: Path) -> OrderedDataLayer:
    create_schema(db_path)
    return OrderedDataLayer(conninfo=f"sqlite+aiosqlite:///{db_path.resolve()}",
                            storage_provider=LocalDataUrlStorage(blob_dir))
