"""The HTTP API: health probes, /v1 ask, search and paper lookup, and an OpenAI-compatible chat endpoint.

Routes parse, call the shared AsyncAssistant (the core runs in worker threads) and shape the reply. Errors
leave as OpenAI-style JSON, ``{"error": {"message", "type", "param", "code"}}``, through the handlers that
``install_error_handlers(app)`` adds to the app (a router cannot carry exception handlers).
"""

from __future__ import annotations

import asyncio
import hmac
import json
import logging
import re
import time
import uuid
from collections.abc import AsyncIterator
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, FastAPI, Query, Request
from fastapi.exception_handlers import http_exception_handler, request_validation_exception_handler
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, PlainTextResponse, StreamingResponse
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from pydantic import BaseModel, ConfigDict, Field
from starlette.exceptions import HTTPException as StarletteHTTPException

from assistant.answer import MARKER, verify_citations
from assistant.errors import (
    AssistantError,
    ConfigError,
    IndexUnavailable,
    InvalidQuery,
    LLMError,
    ModelUnavailable,
)
from assistant.models import Answer, Citation, Hit, Paper, Turn
from assistant.retrieve import search_filter_from
from assistant.service import AsyncAssistant
from assistant.settings import Settings

log = logging.getLogger(__name__)

MODEL_ALIAS = "paper-assistant"
SOURCES_HEADING = "\n\nSources:\n"
PAPER_COUNT_TTL_S = 30.0


# --- errors --------------------------------------------------------------------------------------


class ApiError(Exception):
    """An error the API answers with ``status`` and an OpenAI-style JSON body."""

    def __init__(self, status: int, message: str, *, param: str | None = None,
                 headers: dict[str, str] | None = None) -> None:
        super().__init__(message)
        self.status, self.message, self.param, self.headers = status, message, param, headers


_CORE_STATUS: list[tuple[type[AssistantError], int]] = [
    (InvalidQuery, 422), (ConfigError, 400), (IndexUnavailable, 503), (ModelUnavailable, 503), (LLMError, 502),
]


def core_status(exc: AssistantError) -> int:
    """The HTTP status of one of the core's errors: the user's mistake (4xx) or the service's state (5xx)."""
    return next((code for cls, code in _CORE_STATUS if isinstance(exc, cls)), 400)


def _error_type(status: int) -> str:
    names = {401: "authentication_error", 403: "permission_error", 404: "not_found_error", 429: "rate_limit_error",
             503: "service_unavailable"}
    return names.get(status, "invalid_request_error" if status < 500 else "server_error")


def error_body(status: int, message: str, param: str | None = None) -> dict[str, Any]:
    """The OpenAI error object every API failure uses (OpenAI clients read ``error.message``)."""
    return {"error": {"message": message, "type": _error_type(status), "param": param, "code": None}}


def _error_response(status: int, message: str, param: str | None = None,
                    headers: dict[str, str] | None = None) -> JSONResponse:
    return JSONResponse(error_body(status, message, param), status_code=status, headers=headers)


def _is_api_path(request: Request) -> bool:
    path = request.url.path
    return path in ("/v1", "/healthz", "/readyz") or path.startswith("/v1/")


async def _on_api_error(request: Request, exc: ApiError) -> JSONResponse:
    return _error_response(exc.status, exc.message, exc.param, exc.headers)


async def _on_core_error(request: Request, exc: AssistantError) -> JSONResponse:
    return _error_response(core_status(exc), str(exc))


async def _on_validation_error(request: Request, exc: RequestValidationError):
    if not _is_api_path(request):  # the Slack endpoint and the web chat keep FastAPI's own shape
        return await request_validation_exception_handler(request, exc)
    problems = []
    for error in exc.errors()[:3]:
        loc = [str(part) for part in error.get("loc", ())]
        if error.get("type") == "json_invalid":  # its loc is a character offset, not a field
            problems.append(("body", f"not valid JSON ({error.get('ctx', {}).get('error', 'decode error')})"))
            continue
        problems.append((".".join(loc[1:]) or ".".join(loc), error.get("msg", "invalid")))
    message = "; ".join(f"{where}: {msg}" if where else msg for where, msg in problems) or "invalid request"
    return _error_response(422, message, problems[0][0] if problems else None)


async def _on_http_error(request: Request, exc: StarletteHTTPException):
    if not _is_api_path(request):
        return await http_exception_handler(request, exc)
    return _error_response(exc.status_code, str(exc.detail), headers=getattr(exc, "headers", None))


async def _on_unexpected_error(request: Request, exc: Exception):
    log.exception("unhandled error on %s", request.url.path)
    if not _is_api_path(request):
        return PlainTextResponse("Internal Server Error", status_code=500)
    return _error_response(500, f"internal error ({type(exc).__name__}); the server log has the details")


def install_error_handlers(app: FastAPI) -> None:
    """Make /v1 failures (ours, the core's, FastAPI's own 401/404/413/422) answer in the OpenAI error shape."""
    app.add_exception_handler(ApiError, _on_api_error)
    app.add_exception_handler(AssistantError, _on_core_error)
    app.add_exception_handler(RequestValidationError, _on_validation_error)
    app.add_exception_handler(StarletteHTTPException, _on_http_error)
    app.add_exception_handler(Exception, _on_unexpected_error)


# --- request plumbing ----------------------------------------------------------------------------


def get_service(request: Request) -> AsyncAssistant:
    return request.app.state.service


def get_settings(request: Request) -> Settings:
    return request.app.state.settings


Service = Annotated[AsyncAssistant, Depends(get_service)]
AppSettings = Annotated[Settings, Depends(get_settings)]
_bearer = HTTPBearer(auto_error=False, description="One of ASSISTANT_API_KEYS (not needed when none is set).")


async def require_api_key(settings: AppSettings,
                          credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)]) -> None:
    """Let a request through when no key is configured or its bearer token is one of the keys."""
    if not settings.api.keys:
        return
    token = (credentials.credentials if credentials else "").encode()
    # Every key is compared (no early exit), each in constant time: timing reveals neither key nor match.
    matches = [hmac.compare_digest(token, key.get_secret_value().encode()) for key in settings.api.keys]
    if credentials is None or not any(matches):
        raise ApiError(401, "missing or invalid API key: send the header `Authorization: Bearer <key>`",
                       headers={"WWW-Authenticate": "Bearer"})


def check_question(text: str, field: str, settings: Settings) -> str:
    """The question if it is non-blank and within ``api.max_question_chars``, else a 422 naming the field."""
    limit = settings.api.max_question_chars
    if not text.strip():
        raise ApiError(422, f"{field} is empty: type what you want to know", param=field)
    if len(text) > limit:
        raise ApiError(422, f"{field} is too long: {len(text)} characters, the limit is {limit}", param=field)
    return text


def model_choice(name: str | None) -> str | None:
    """None (the configured model) for the alias or nothing; else a LiteLLM model string for this request."""
    return None if not name or name.strip() in ("", MODEL_ALIAS) else name.strip()


# --- request and response models -----------------------------------------------------------------


class AskRequest(BaseModel):
    """A question, with the conversation so far and optional search filters."""

    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [
        {"question": "How can GPT models be quantized to 3 or 4 bits after training?", "k": 5}]})

    question: str = Field(min_length=1, description="What you want to know (at most api.max_question_chars).")
    history: list[Turn] = Field(default_factory=list, description="Earlier turns; follow-ups are rewritten with it.")
    k: int | None = Field(None, ge=1, le=50, description="Papers retrieved to answer from (default retrieval.top_k).")
    since: str | None = Field(None, description="Only papers seen in feeds on/after this date ('Mar 13', 2024-03-13).")
    until: str | None = Field(None, description="Only papers seen in feeds on/before this date.")
    has_code: bool = Field(False, description="Only papers with a code link.")
    model: str | None = Field(None, max_length=200, description="LiteLLM model for this answer only; 'none' answers "
                                                                "extractively; default the configured model.")


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


class ContentPart(BaseModel):
    model_config = ConfigDict(extra="allow")

    type: str
    text: str | None = None


class ChatMessage(BaseModel):
    model_config = ConfigDict(extra="allow")

    role: str = Field(description="user and assistant messages are read; system/developer/tool ones are ignored.")
    content: str | list[ContentPart] | None = None

    @property
    def text(self) -> str:
        if isinstance(self.content, list):
            return "".join(part.text or "" for part in self.content if part.type == "text")
        return self.content or ""


class StreamOptions(BaseModel):
    model_config = ConfigDict(extra="allow")

    include_usage: bool = False


class ChatCompletionRequest(BaseModel):
    """OpenAI's chat request; sampling fields (temperature, max_tokens, ...) are accepted and ignored."""

    model_config = ConfigDict(extra="allow", json_schema_extra={"examples": [
        {"model": MODEL_ALIAS, "messages": [{"role": "user", "content": "Which papers speed up LLM inference?"}]}]})

    model: str = Field("", max_length=200, description=f"'{MODEL_ALIAS}' (or empty) for the configured model, "
                                                         "else a LiteLLM model string for this request.")
    messages: list[ChatMessage] = Field(min_length=1, description="The last user message is the question.")
    stream: bool = False
    stream_options: StreamOptions | None = None
    k: int | None = Field(None, ge=1, le=50, description="Extension: papers to answer from.")
    since: str | None = Field(None, description="Extension: only papers seen in feeds on/after this date.")
    until: str | None = Field(None, description="Extension: only papers seen in feeds on/before this date.")
    has_code: bool = Field(False, description="Extension: only papers with a code link.")


class CompletionMessage(BaseModel):
    role: Literal["assistant"] = "assistant"
    content: str


class CompletionChoice(BaseModel):
    index: int = 0
    message: CompletionMessage
    finish_reason: Literal["stop"] = "stop"
    logprobs: None = None


class Usage(BaseModel):
    prompt_tokens: int
    completion_tokens: int
    total_tokens: int

    @classmethod
    def of(cls, answer: Answer) -> Usage:
        prompt, completion = answer.tokens.get("prompt", 0), answer.tokens.get("completion", 0)
        return cls(prompt_tokens=prompt, completion_tokens=completion, total_tokens=prompt + completion)


class ChatCompletion(BaseModel):
    """OpenAI's `chat.completion`, plus the verified citations and whether the assistant abstained."""

    id: str
    object: Literal["chat.completion"] = "chat.completion"
    created: int
    model: str
    choices: list[CompletionChoice]
    usage: Usage
    citations: list[Citation] = Field(description="The papers the [n] markers of the content refer to.")
    abstained: bool = Field(description="True when no paper in the collection is close enough to answer.")


class ModelCard(BaseModel):
    id: str
    object: Literal["model"] = "model"
    created: int = 0
    owned_by: str = MODEL_ALIAS


class ModelList(BaseModel):
    object: Literal["list"] = "list"
    data: list[ModelCard]


# --- citations that survive streaming ------------------------------------------------------------

_PLACEHOLDER_SOURCE = [Hit(paper_id="", title="", score=0.0, snippet="")]
_OPEN_MARKER = re.compile(r"\[[\d\s,;–-]*\Z")  # a "[" at the end that more text may still turn into a marker


class CitationStream:
    """Turns the core's raw answer deltas into deltas whose [n] markers all survive citation checks.

    Why: the core checks markers only when generation ends (a marker past the last source is dropped, "[1, 2]"
    becomes "[1][2]", spaces before punctuation go), and a streamed delta cannot be taken back. How many
    sources the model saw is unknown until then, but source [1] always exists in an answer (the first hit
    always fits the context). So each delta re-runs the core's own `verify_citations` on the raw text up to
    the first marker naming anything but [1] (or a marker still being typed, or trailing spaces) and sends
    what is new; the rest is held and sent from the final Answer. Concatenated, the deltas are exactly
    `Answer.answer`, so every [n] in them is in `Answer.citations`. The cost: after the model's first [2]
    the text arrives in one piece at the end; a core that told the surfaces how many sources the model saw
    (``known_sources``) would let every valid marker stream at once.
    """

    def __init__(self, known_sources: int = 1) -> None:
        self.raw = ""
        self.sent = ""
        self._sources = _PLACEHOLDER_SOURCE * max(1, known_sources)

    def feed(self, delta: str) -> str:
        """The text that can be sent now for this raw delta (often empty while a marker is pending)."""
        self.raw += delta
        cleaned = verify_citations(self._settled(self.raw), self._sources)[0]
        if not cleaned.startswith(self.sent):  # never contradict what was sent; the end sorts it out
            return ""
        new, self.sent = cleaned[len(self.sent):], cleaned
        return new

    def finish(self, answer: Answer) -> str:
        """The rest of the verified answer; after a mid-answer LLM failure, a break and the whole fallback."""
        # By default the sent text only carries [1], which every fallback answer cites too.
        rest = answer.answer[len(self.sent):] if answer.answer.startswith(self.sent) else "\n\n" + answer.answer
        self.sent += rest
        return rest

    def _settled(self, raw: str) -> str:
        cut = len(raw)
        if opened := _OPEN_MARKER.search(raw):
            cut = opened.start()
        for marker in MARKER.finditer(raw, 0, cut):
            if verify_citations(marker.group(0), self._sources)[2]:  # names a source not known to exist
                cut = marker.start()
                break
        return raw[:cut].rstrip()  # trailing spaces may yet precede punctuation (dropped) or end the answer


def sources_text(citations: list[Citation]) -> str:
    """The trailing "Sources:" list that makes a plain chat client show what [n] means."""
    if not citations:
        return ""
    lines = [f"[{c.n}] {c.title}" + (f" ({c.url})" if c.url else "") + (f" — code: {c.code_url}" if c.code_url else "")
             for c in sorted(citations, key=lambda c: c.n)]
    return SOURCES_HEADING + "\n".join(lines)


def conversation(messages: list[ChatMessage]) -> tuple[str, list[Turn]]:
    """The question (the last user message) and the turns before it; system messages are not trusted."""
    # A chat UI's system prompt ("You are a helpful assistant") must not replace the assistant's own
    # grounded prompts, and it is an injection route; so only user and assistant turns are read.
    turns = [Turn(role=m.role, content=m.text.split(SOURCES_HEADING)[0] if m.role == "assistant" else m.text)
             for m in messages if m.role in ("user", "assistant")]
    last_user = max((i for i, turn in enumerate(turns) if turn.role == "user"), default=None)
    if last_user is None:
        raise ApiError(422, "messages has no user message: the last user message is the question", param="messages")
    return turns[last_user].content, turns[:last_user]


def _sse(payload: dict[str, Any]) -> str:
    return f"data: {json.dumps(payload, ensure_ascii=False)}\n\n"


def _chunk(meta: dict[str, Any], delta: dict[str, Any], finish_reason: str | None = None,
           **extra: Any) -> dict[str, Any]:
    return {**meta, "object": "chat.completion.chunk",
            "choices": [{"index": 0, "delta": delta, "finish_reason": finish_reason, "logprobs": None}], **extra}


async def completion_events(first: str | Answer, stream: AsyncIterator[str | Answer], meta: dict[str, Any],
                            include_usage: bool) -> AsyncIterator[str]:
    """SSE lines of one streamed answer: role, content deltas, the Sources list with citations, [DONE]."""
    markers, answer = CitationStream(), None
    try:
        yield _sse(_chunk(meta, {"role": "assistant", "content": ""}))
        item = first
        while True:
            if isinstance(item, Answer):
                answer = item
            elif text := markers.feed(item):
                yield _sse(_chunk(meta, {"content": text}))
            try:
                item = await anext(stream)
            except StopAsyncIteration:
                break
        rest = markers.finish(answer) + sources_text(answer.citations)
        yield _sse(_chunk(meta, {"content": rest}, "stop", abstained=answer.abstained,
                          citations=[c.model_dump(mode="json") for c in answer.citations]))
        if include_usage:
            yield _sse({**meta, "object": "chat.completion.chunk", "choices": [],
                        "usage": Usage.of(answer).model_dump()})
    except AssistantError as exc:  # headers are sent: OpenAI clients raise APIError on an error event
        yield _sse(error_body(core_status(exc), str(exc)))
    finally:
        await stream.aclose()  # a client that went away stops the generation between tokens
    yield "data: [DONE]\n\n"


# --- routes --------------------------------------------------------------------------------------

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
            papers = await asyncio.to_thread(lambda: len(service.core.index.paper_hashes()))
        except Exception as exc:  # a probe reports "not ready", it does not crash
            raise ApiError(503, f"index unavailable: {str(exc).splitlines()[0] if str(exc) else exc!r}") from exc
        if papers:  # an empty index is re-checked at once: ingest may be running against a Qdrant server
            request.app.state.api_paper_count = (time.monotonic(), papers)
    if not papers:
        raise ApiError(503, "index is empty: run `assistant ingest FEEDS` (e.g. data/feeds) first")
    return Readiness(papers=papers, model=service.core.model_name)


@v1.post("/ask", response_model=Answer, tags=["answers"],
         responses={422: {"description": "Empty or too long question, bad date."},
                    503: {"description": "Index or model unavailable."}})
async def ask(body: AskRequest, service: Service, settings: AppSettings) -> Answer:
    """Answer a question from the abstracts, citing the papers used (`hits` are not returned)."""
    check_question(body.question, "question", settings)
    search_filter = search_filter_from(body.since, body.until, body.has_code)
    return await service.ask(body.question, body.history, body.k, search_filter, model_choice(body.model))


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


@v1.get("/models", response_model=ModelList, tags=["openai"])
async def models(service: Service, settings: AppSettings) -> ModelList:
    """Models a chat client may pick: the alias of the configured model, the model itself, and web.models."""
    names = dict.fromkeys([MODEL_ALIAS, service.core.model_name, *settings.web.models])
    return ModelList(data=[ModelCard(id=name) for name in names])


@v1.post("/chat/completions", response_model=ChatCompletion, tags=["openai"],
         responses={200: {"content": {"text/event-stream": {}},
                          "description": "A chat.completion, or chat.completion.chunk events when stream is true."}})
async def chat_completions(body: ChatCompletionRequest, service: Service, settings: AppSettings):
    """OpenAI-compatible chat: the answer with [n] markers, a Sources list, and `citations`."""
    question, history = conversation(body.messages)
    check_question(question, "messages: the last user message", settings)
    search_filter, model = search_filter_from(body.since, body.until, body.has_code), model_choice(body.model)
    meta = {"id": f"chatcmpl-{uuid.uuid4().hex}", "created": int(time.time()),
            "model": model or service.core.model_name}
    if not body.stream:
        answer = await service.ask(question, history, body.k, search_filter, model)
        message = CompletionMessage(content=answer.answer + sources_text(answer.citations))
        return ChatCompletion(**{**meta, "model": answer.model}, choices=[CompletionChoice(message=message)],
                              usage=Usage.of(answer), citations=answer.citations, abstained=answer.abstained)
    stream = service.answer_stream(question, history, body.k, search_filter, model)
    first = await anext(stream)  # errors before the first token (bad date, index down) keep their HTTP status
    include_usage = bool(body.stream_options and body.stream_options.include_usage)
    return StreamingResponse(completion_events(first, stream, meta, include_usage), media_type="text/event-stream",
                             headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"})


router.include_router(v1)
