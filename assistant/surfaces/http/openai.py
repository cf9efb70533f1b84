"""The OpenAI-compatible face: /v1/models and /v1/chat/completions (streaming or not), with citations.

The text carries [n] markers and a trailing "Sources" list, so a plain chat client shows what they mean;
the response's ``citations`` field carries the same papers as data.
"""

from __future__ import annotations

import json
import re
import time
import uuid
from collections.abc import AsyncIterator
from typing import Any, Literal

from fastapi import APIRouter, Depends
from fastapi.responses import StreamingResponse
from pydantic import BaseModel, ConfigDict, Field

from assistant.answer.citations import MARKER, verify_citations
from assistant.answer.retrieve import search_filter_from
from assistant.core.errors import AssistantError
from assistant.core.models import Answer, AnswerEvent, Citation, Delta, Final, Hit, Sources, Turn
from assistant.surfaces.http.deps import (
    MODEL_ALIAS,
    AppSettings,
    Service,
    check_question,
    model_choice,
    require_api_key,
)
from assistant.surfaces.http.errors import ApiError, error_body

SOURCES_HEADING = "\n\nSources:\n"

router = APIRouter(prefix="/v1", dependencies=[Depends(require_api_key)],
                   responses={401: {"description": "Missing or wrong API key (only when ASSISTANT_API_KEYS is set)."}})


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
                                                         "else one of GET /v1/models for this request.")
    messages: list[ChatMessage] = Field(min_length=1, description="The last user message is the question.")
    stream: bool = False
    stream_options: StreamOptions | None = None
    k: int | None = Field(None, ge=1, le=50, description="Extension: papers to answer from.")
    since: str | None = Field(None, description="Extension: only papers seen in feeds on/after this date.")
    until: str | None = Field(None, description="Extension: only papers seen in feeds on/before this date.")
    has_code: bool = Field(False, description="Extension: only papers with a code link.")
    read_filters: bool = Field(True, description="Extension: false searches the question as typed, without the "
                                                 "filters its words state ('in the Mar 13 feed').")


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


_PLACEHOLDER_SOURCE = [Hit(paper_id="", title="", score=0.0, snippet="")]
_OPEN_MARKER = re.compile(r"\[[\d\s,;–-]*\Z")  # a "[" at the end that more text may still turn into a marker


class CitationStream:
    """Turns the engine's raw answer deltas into deltas whose [n] markers all survive citation checks.

    Why: the core checks markers only when generation ends (a marker past the last source is dropped, "[1, 2]"
    becomes "[1][2]", spaces before punctuation go), and a streamed delta cannot be taken back. How many
    sources the model saw is unknown until then, but source [1] always exists in an answer (the first hit
    always fits the context). So each delta re-runs the engine's own `verify_citations` on the raw text up to
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


async def completion_events(first: AnswerEvent, stream: AsyncIterator[AnswerEvent], meta: dict[str, Any],
                            include_usage: bool) -> AsyncIterator[str]:
    """SSE lines of one streamed answer: role (with the papers being read), content deltas, the Sources list
    with citations, [DONE].

    The first chunk carries ``sources`` (an extension OpenAI clients ignore): the numbered papers and their most
    relevant sentences, before the model writes. Knowing how many there are lets every valid marker stream.
    """
    papers = first.papers if isinstance(first, Sources) else []
    markers, answer = CitationStream(known_sources=len(papers)), None
    try:
        yield _sse(_chunk(meta, {"role": "assistant", "content": ""},
                          sources=[p.model_dump(mode="json") for p in papers]))
        item = first
        while True:
            if isinstance(item, Final):
                answer = item.answer
            elif isinstance(item, Delta) and (text := markers.feed(item.text)):
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
        yield _sse(error_body(exc.http_status, str(exc)))
    finally:
        await stream.aclose()  # a client that went away stops the generation between tokens
    yield "data: [DONE]\n\n"


@router.get("/models", response_model=ModelList, tags=["openai"])
async def models(service: Service) -> ModelList:
    """Models a chat client may pick: the alias of the configured model, then the offered ones (web.models)."""
    names = dict.fromkeys([MODEL_ALIAS, *service.offered_models])
    return ModelList(data=[ModelCard(id=name) for name in names])


@router.post("/chat/completions", response_model=ChatCompletion, tags=["openai"],
         responses={200: {"content": {"text/event-stream": {}},
                          "description": "A chat.completion, or chat.completion.chunk events when stream is true."}})
async def chat_completions(body: ChatCompletionRequest, service: Service, settings: AppSettings):
    """OpenAI-compatible chat: the answer with [n] markers, a Sources list, and `citations`."""
    question, history = conversation(body.messages)
    check_question(question, "messages: the last user message", settings)
    search_filter, model = search_filter_from(body.since, body.until, body.has_code), model_choice(body.model)
    meta = {"id": f"chatcmpl-{uuid.uuid4().hex}", "created": int(time.time()),
            "model": model or service.model_name}
    if not body.stream:
        answer = await service.ask(question, history, body.k, search_filter, model, read_filters=body.read_filters)
        message = CompletionMessage(content=answer.answer + sources_text(answer.citations))
        return ChatCompletion(**{**meta, "model": answer.model}, choices=[CompletionChoice(message=message)],
                              usage=Usage.of(answer), citations=answer.citations, abstained=answer.abstained)
    stream = service.events(question, history, body.k, search_filter, model, read_filters=body.read_filters)
    first = await anext(stream)  # errors before the first event (bad date, index down) keep their HTTP status
    include_usage = bool(body.stream_options and body.stream_options.include_usage)
    return StreamingResponse(completion_events(first, stream, meta, include_usage), media_type="text/event-stream",
                             headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"})

