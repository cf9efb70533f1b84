"""`assistant serve`: one ASGI process owning the index, serving the HTTP API, the Slack endpoint and the web chat.

Routes are registered before Chainlit is mounted at "/": a mount at the root catches every path added after it.
"""

from __future__ import annotations

import logging
import threading
from contextlib import asynccontextmanager

from fastapi import FastAPI

from assistant.core.errors import first_line
from assistant.core.settings import Settings
from assistant.engine import Assistant, AsyncAssistant
from assistant.surfaces import access
from assistant.surfaces.http.errors import ApiBodyLimit

log = logging.getLogger(__name__)


class AssistantApp(FastAPI):
    """FastAPI with the API's JSON 413 outside FastAPI's own (plain-text) body limiter."""

    def build_middleware_stack(self):
        return ApiBodyLimit(super().build_middleware_stack(), self.state.settings.api.max_body_bytes)


def create_app(settings: Settings, service: AsyncAssistant, *, web: bool = True) -> FastAPI:
    """The FastAPI app around one shared AsyncAssistant (closed when the app shuts down)."""
    from assistant.surfaces.http import openai, routes
    from assistant.surfaces.http.errors import install_error_handlers
    from assistant.surfaces.slack import bot as slack_bot

    @asynccontextmanager
    async def lifespan(app: FastAPI):
        try:
            yield
        finally:
            await slack_bot.shutdown(app)
            service.close()

    app = AssistantApp(title="Paper assistant", version="0.1.0", lifespan=lifespan,
                       description="Cited answers from a collection of paper abstracts.",
                       max_body_size=settings.api.max_body_bytes, docs_url=None, redoc_url=None, openapi_url=None)
    app.state.service = service
    app.state.settings = settings
    app.include_router(routes.router)
    app.include_router(openai.router)
    app.include_router(routes.docs_router(app))
    install_error_handlers(app)
    slack_bot.mount_slack(app, settings, service)
    if web:
        from assistant.surfaces.web.mount import mount_web

        mount_web(app, settings, service)
    return app


def warm_up(engine: Assistant) -> None:
    """The engine's warm-up, then its missing per-paper states (stopped when the engine closes)."""
    engine.warm_up()
    if engine.settings.llm.paper_states and engine.settings.llm.states_in_background:
        try:
            engine.build_paper_states()
        except Exception as exc:  # noqa: BLE001 (a missing model or closed index: answers say so themselves)
            log.warning("paper states: not built (%s)", first_line(exc))


def serve(settings: Settings, *, web: bool = True) -> None:
    """Open the index (a locked or missing one fails here, in one line), then serve until interrupted."""
    import uvicorn

    service = AsyncAssistant(Assistant(settings), settings.server.max_concurrent_answers)
    app = create_app(settings, service, web=web)
    # While the server starts: every paper's sentences and chunks embedded, the chat model loaded (about 70 s on 2
    # cores for the seed papers, 35 s once the sentence vectors are saved; /readyz says "warm" after);
    # then each paper's saved model state built, while no answer is being written (build_paper_states).
    threading.Thread(target=warm_up, args=(service.engine,), name="warm-up", daemon=True).start()
    print(f"serving on http://{settings.server.host}:{settings.server.port}/ (web chat), /v1 (API), "
          f"/docs (OpenAPI){', /slack/events' if settings.slack.bot_token else ''}", flush=True)
    for line in access.describe(settings, web=web):
        print(f"access: {line}", flush=True)
    uvicorn.run(app, host=settings.server.host, port=settings.server.port, log_level="warning", ws="wsproto")
