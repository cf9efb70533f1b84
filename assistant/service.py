"""The async face of the core for the servers (web chat, Slack, HTTP API).

Model and index calls are blocking, so they run in worker threads; an answer's deltas cross back to
the event loop through a queue. A semaphore bounds how many answers generate at once.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import AsyncIterator
from typing import Any

from assistant.core import Assistant
from assistant.models import Answer, CollectionSummary, Hit, Paper, Turn
from assistant.store import SearchFilter

_DONE = object()


class _Failure:
    def __init__(self, exc: BaseException) -> None:
        self.exc = exc


class AsyncAssistant:
    """Wraps one `Assistant` for async callers; every surface of `assistant serve` shares one instance."""

    def __init__(self, core: Assistant, max_concurrent_answers: int = 2, *, owns_core: bool = True) -> None:
        self.core = core
        self._owns_core = owns_core  # tests share one seed index between apps and must not have it closed
        self._answer_slots = asyncio.Semaphore(max_concurrent_answers)

    @property
    def settings(self):
        return self.core.settings

    async def search(self, query: str, k: int | None = None, search_filter: SearchFilter | None = None) -> list[Hit]:
        return await asyncio.to_thread(self.core.search, query, k, search_filter)

    async def paper(self, paper_id: str) -> Paper | None:
        return await asyncio.to_thread(self.core.paper, paper_id)

    async def count(self) -> int:
        """Points (chunks) in the index."""
        return await asyncio.to_thread(self.core.index.count)

    async def summary(self) -> CollectionSummary:
        return await asyncio.to_thread(self.core.summary)

    async def answer_stream(self, question: str, history: list[Turn] | None = None, k: int | None = None,
                            search_filter: SearchFilter | None = None,
                            model: str | None = None) -> AsyncIterator[str | Answer]:
        """Text deltas, then the final Answer; the core's errors are raised here, in the caller's task."""
        async with self._answer_slots:
            loop, queue, stop = asyncio.get_running_loop(), asyncio.Queue(), threading.Event()

            def send(item: Any) -> None:
                loop.call_soon_threadsafe(queue.put_nowait, item)

            def work() -> None:
                stream = None
                try:
                    stream = self.core.answer_stream(question, history, k, search_filter, model)
                    for item in stream:
                        if stop.is_set():  # the client went away: stop between tokens
                            break
                        send(item)
                except Exception as exc:  # handed to the caller's task, which reports it
                    send(_Failure(exc))
                finally:
                    if stream is not None:
                        stream.close()
                    send(_DONE)

            worker = asyncio.ensure_future(asyncio.to_thread(work))
            try:
                while (item := await queue.get()) is not _DONE:
                    if isinstance(item, _Failure):
                        raise item.exc
                    yield item
            finally:
                stop.set()
                del worker  # it ends at the next token; the slot frees now so a new question is not held up

    async def ask(self, question: str, history: list[Turn] | None = None, k: int | None = None,
                  search_filter: SearchFilter | None = None, model: str | None = None) -> Answer:
        final = None
        async for item in self.answer_stream(question, history, k, search_filter, model):
            if isinstance(item, Answer):
                final = item
        assert final is not None
        return final

    def close(self) -> None:
        if self._owns_core:
            self.core.close()
