"""The HTTP API's own routes: health probes, /v1 ask, search and paper lookup.

Routes parse, call the shared AsyncAssistant (the engine runs in worker threads) and shape the reply.
The OpenAI-compatible routes are in `openai.py`.
"""

from __future__ import annotations

import time
from typing import Annotated, Literal

from fastapi import APIRouter, Depends, Query, Request
from pydantic import BaseModel, ConfigDict, Field

from assistant.answer.retrieve import search_filter_from
from assistant.core.models import Answer, Hit, Paper, Turn
from assistant.surfaces.http.deps import AppSettings, Service, check_question, model_choice, require_api_key
from assistant.surfaces.http.errors import ApiError

PAPER_COUNT_TTL_S = 30.0


class AskRequest(BaseModel):
    """A question, with the conversation so far and optional search filters."""

    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [
        {"question": "How can GPT models be quantized to 3 or 4 bits after training?", "k": 5}]})

    question: str = Field(min_length=1, description="What you want to know (at most max_question_chars).")
    history: list[Turn] = Field(default_factory=list, description="Earlier turns; follow-ups are rewritten with it.")
    k: int | None = Field(None, ge=1, le=50, description="Papers retrieved to answer from (default retrieval.top_k).")
    since: str | None = Field(None, description="Only papers seen in feeds on/after this date ('Mar 13', 2024-03-13).")
    until: str | None = Field(None, description="Only papers seen in feeds on/before this date.")
    has_code: bool = Field(False, description="Only papers with a code link.")
    read_filters: bool = Field(True, description="Read filters stated in the question ('in the Mar 13 feed', 'with "
                                                 "code'); false searches the question as typed.")
    model: str | None = Field(None, max_length=200, description="One of GET /v1/models for this answer only ('none' "
                                                                "answers extractively); default the configured model.")


class SearchResult(BaseModel):
    """One ranked paper (the CLI's `search --json` row, plus links)."""

    rank: int
    paper_id: str
    title: str
    score: float
    snippet: str
    feeds: list[str]
    url: str | None = None
    code_url: str | None = None

    @classmethod
    def from_hit(cls, rank: int, hit: Hit) -> SearchResult:
        return cls(rank=rank, paper_id=hit.paper_id, title=hit.title, score=round(hit.score, 6), snippet=hit.snippet,
                   feeds=hit.feeds, url=hit.url, code_url=hit.code_url)


class Health(BaseModel):
    status: Literal["ok"] = "ok"


class Readiness(BaseModel):
    status: Literal["ready"] = "ready"
    papers: int = Field(description="Papers in the index.")
    model: str = Field(description="The configured chat model ('none': extractive answers).")
    warm: bool = Field(description="The warm-up after start has finished (every abstract's sentences embedded, "
                                   "the chat model loaded): answers before it take longer, not fail.")


router = APIRouter()
v1 = APIRouter(prefix="/v1", dependencies=[Depends(require_api_key)],
               responses={401: {"description": "Missing or wrong API key (only when ASSISTANT_API_KEYS is set)."}})


@router.get("/healthz", response_model=Health, tags=["probes"])
async def healthz() -> Health:
    """Liveness: the process answers."""
    return Health()


@router.get("/readyz", response_model=Readiness, tags=["probes"],
            responses={503: {"description": "The index is empty or unreachable."}})
async def readyz(request: Request, service: Service) -> Readiness:
    """Readiness: the index holds papers to answer from."""
    cached = getattr(request.app.state, "api_paper_count", None)
    if cached and time.monotonic() - cached[0] < PAPER_COUNT_TTL_S:
        papers = cached[1]
    else:
        try:
            papers = (await service.summary()).papers
        except Exception as exc:  # a probe reports "not ready", it does not crash
            raise ApiError(503, f"index unavailable: {str(exc).splitlines()[0] if str(exc) else exc!r}") from exc
        if papers:  # an empty index is re-checked at once: ingest may be running against a Qdrant server
            request.app.state.api_paper_count = (time.monotonic(), papers)
    if not papers:
        raise ApiError(503, "index is empty: run `assistant ingest FEEDS` (e.g. data/feeds) first")
    return Readiness(papers=papers, model=service.model_name, warm=service.warmed)


@v1.post("/ask", response_model=Answer, tags=["answers"],
         responses={422: {"description": "Empty or too long question, bad date."},
                    503: {"description": "Index or model unavailable."}})
async def ask(body: AskRequest, service: Service, settings: AppSettings) -> Answer:
    """Answer a question from the abstracts, citing the papers used (`hits` are not returned)."""
    check_question(body.question, "question", settings)
    search_filter = search_filter_from(body.since, body.until, body.has_code)
    return await service.ask(body.question, body.history, body.k, search_filter, model_choice(body.model),
                             read_filters=body.read_filters)


@v1.get("/search", response_model=list[SearchResult], tags=["search"])
async def search(service: Service, settings: AppSettings,
                 q: Annotated[str, Query(min_length=1, description="What to search for.")],
                 k: Annotated[int | None, Query(ge=1, le=50, description="Papers to return.")] = None,
                 since: Annotated[str | None, Query(description="Seen in feeds on/after ('Mar 13').")] = None,
                 until: Annotated[str | None, Query(description="Seen in feeds on/before.")] = None,
                 has_code: Annotated[bool, Query(description="Only papers with a code link.")] = False,
                 ) -> list[SearchResult]:
    """Ranked papers for a query (hybrid retrieval, then rerank)."""
    check_question(q, "q", settings)
    hits = await service.search(q, k, search_filter_from(since, until, has_code))
    return [SearchResult.from_hit(rank, hit) for rank, hit in enumerate(hits, 1)]


@v1.get("/papers/{paper_id:path}", response_model=Paper, tags=["search"],
        responses={404: {"description": "No paper with this id."}})
async def paper(paper_id: str, service: Service) -> Paper:
    """The stored record of one paper ('arxiv:2210.17323', 't:<hash>')."""
    found = await service.paper(paper_id)
    if found is None:
        raise ApiError(404, f"no paper with id {paper_id!r}: ids come from /v1/search or the citations",
                       param="paper_id")
    return found


router.include_router(v1)


def docs_router(app) -> APIRouter:
    """/openapi.json and /docs behind the same credential as /v1 (they describe every route)."""
    from fastapi.openapi.docs import get_swagger_ui_html
    from fastapi.responses import HTMLResponse, JSONResponse

    docs = APIRouter(dependencies=[Depends(require_api_key)], include_in_schema=False)

    @docs.get("/openapi.json")
    async def openapi() -> JSONResponse:
        return JSONResponse(app.openapi())

    @docs.get("/docs")
    async def swagger() -> HTMLResponse:
        return get_swagger_ui_html(openapi_url="/openapi.json", title="Paper assistant API")

    return docs
