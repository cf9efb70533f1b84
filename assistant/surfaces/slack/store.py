"""The Slack bot's memory in SQLite: answers given, feedback on them, and event ids already handled.

The tables are prefixed ``slack_`` because the file (``<data_dir>/chat.db``) is shared with the web chat's
data layer; WAL mode lets both write without blocking each other's readers. sqlite3 calls are short but
blocking, so every call runs in a worker thread, one at a time on one connection.
"""

from __future__ import annotations

import asyncio
import json
import sqlite3
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Literal, TypeVar

from assistant.core.models import Answer, Citation, Hit

T = TypeVar("T")

SCHEMA = """
CREATE TABLE IF NOT EXISTS slack_answers (
    id TEXT PRIMARY KEY,
    source TEXT NOT NULL,          -- 'mention', 'dm' or 'command'
    channel TEXT,
    thread_ts TEXT,
    ts TEXT,                       -- the bot's message; NULL while a slash-command answer is only ephemeral
    user TEXT NOT NULL,
    question TEXT NOT NULL,
    query TEXT NOT NULL,           -- the standalone query the engine searched
    answer TEXT NOT NULL,
    citations TEXT NOT NULL,       -- JSON list of Citation
    nearest TEXT NOT NULL,         -- JSON list of the nearest papers shown with an abstention
    abstained INTEGER NOT NULL,
    model TEXT NOT NULL,
    created TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS slack_answers_message ON slack_answers (channel, ts);
CREATE TABLE IF NOT EXISTS slack_feedback (
    answer_id TEXT NOT NULL,
    user TEXT NOT NULL,
    value TEXT NOT NULL CHECK (value IN ('up', 'down')),
    created TEXT NOT NULL,
    PRIMARY KEY (answer_id, user)  -- a second click replaces the user's earlier verdict
);
CREATE TABLE IF NOT EXISTS slack_events (
    event_id TEXT PRIMARY KEY,
    received REAL NOT NULL
);
"""


def _now_iso() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


@dataclass
class SlackAnswer:
    """One answer the bot gave in Slack, as stored (enough to render it again when it is shared)."""

    id: str
    source: Literal["mention", "dm", "command"]
    user: str
    question: str
    answer: Answer
    channel: str | None = None
    thread_ts: str | None = None
    ts: str | None = None
    created: str = field(default_factory=_now_iso)


class SlackStore:
    """Slack Q&A, feedback and the ids of events already answered, in ``slack_*`` tables of one SQLite file."""

    def __init__(self, path: Path, event_ttl: float = 7 * 24 * 3600.0) -> None:
        self.path = path
        self.event_ttl = event_ttl  # Slack retries for minutes only; a week leaves room for clock and restarts
        self._conn: sqlite3.Connection | None = None
        self._lock = threading.Lock()
        self._seen: dict[str, float] = {}
        self._closed = False

    async def _call(self, work: Callable[[sqlite3.Connection], T]) -> T:
        return await asyncio.to_thread(self._locked, work)

    def _locked(self, work: Callable[[sqlite3.Connection], T]) -> T:
        with self._lock:
            if self._closed:
                raise RuntimeError("the Slack store is closed")
            if self._conn is None:
                self._conn = self._open()
            with self._conn:  # one transaction per call
                return work(self._conn)

    def _open(self) -> sqlite3.Connection:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        conn = sqlite3.connect(self.path, timeout=10, check_same_thread=False)
        conn.row_factory = sqlite3.Row
        conn.execute("PRAGMA journal_mode=WAL")
        conn.executescript(SCHEMA)
        return conn

    async def claim_event(self, event_id: str) -> bool:
        """True the first time an event id is seen (memory, then SQLite across restarts); False for a duplicate."""
        now = time.time()
        if event_id in self._seen:
            return False
        # Marked before the first await, so a duplicate arriving while SQLite answers is caught here.
        self._seen[event_id] = now
        if len(self._seen) > 10_000:
            self._seen = {k: t for k, t in self._seen.items() if now - t < self.event_ttl}

        def insert(conn: sqlite3.Connection) -> bool:
            conn.execute("DELETE FROM slack_events WHERE received < ?", (now - self.event_ttl,))
            cursor = conn.execute("INSERT OR IGNORE INTO slack_events (event_id, received) VALUES (?, ?)",
                                  (event_id, now))
            return cursor.rowcount == 1

        return await self._call(insert)

    async def save_answer(self, record: SlackAnswer) -> None:
        answer = record.answer
        nearest = answer.hits[:3] if answer.abstained else []
        row = (record.id, record.source, record.channel, record.thread_ts, record.ts, record.user, record.question,
               answer.query, answer.answer, json.dumps([c.model_dump() for c in answer.citations]),
               json.dumps([h.model_dump() for h in nearest]), int(answer.abstained), answer.model, record.created)
        await self._call(lambda conn: conn.execute(
            "INSERT OR REPLACE INTO slack_answers (id, source, channel, thread_ts, ts, user, question, query, answer,"
            " citations, nearest, abstained, model, created) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)", row))

    async def answer(self, answer_id: str) -> SlackAnswer | None:
        """A stored answer by id (None when unknown)."""
        row = await self._call(lambda conn: conn.execute(
            "SELECT * FROM slack_answers WHERE id = ?", (answer_id,)).fetchone())
        return _record(row) if row else None

    async def set_posted(self, answer_id: str, channel: str, ts: str) -> None:
        """Record where an answer was posted publicly (a shared slash-command answer)."""
        await self._call(lambda conn: conn.execute(
            "UPDATE slack_answers SET channel = ?, ts = ? WHERE id = ?", (channel, ts, answer_id)))

    async def questions_for(self, channel: str, message_ts: list[str]) -> dict[str, str]:
        """The questions behind the bot's messages in a channel, by message ts."""
        if not message_ts:
            return {}
        marks = ", ".join("?" * len(message_ts))
        rows = await self._call(lambda conn: conn.execute(
            f"SELECT ts, question FROM slack_answers WHERE channel = ? AND ts IN ({marks})",
            (channel, *message_ts)).fetchall())
        return {row["ts"]: row["question"] for row in rows}

    async def save_feedback(self, answer_id: str, user: str, value: Literal["up", "down"]) -> None:
        await self._call(lambda conn: conn.execute(
            "INSERT OR REPLACE INTO slack_feedback (answer_id, user, value, created) VALUES (?, ?, ?, ?)",
            (answer_id, user, value, _now_iso())))

    async def close(self) -> None:
        await asyncio.to_thread(self._close)

    def _close(self) -> None:
        with self._lock:
            self._closed = True
            if self._conn is not None:
                self._conn.close()
                self._conn = None


def _record(row: sqlite3.Row) -> SlackAnswer:
    answer = Answer(answer=row["answer"], abstained=bool(row["abstained"]), model=row["model"], query=row["query"],
                    citations=[Citation.model_validate(c) for c in json.loads(row["citations"])],
                    hits=[Hit.model_validate(h) for h in json.loads(row["nearest"])])
    return SlackAnswer(id=row["id"], source=row["source"], user=row["user"], question=row["question"], answer=answer,
                       channel=row["channel"], thread_ts=row["thread_ts"], ts=row["ts"], created=row["created"])
