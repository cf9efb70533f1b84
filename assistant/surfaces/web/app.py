"""Chainlit handlers of the web chat (loaded by `mount_chainlit`); each is a few lines over the shared engine."""

from __future__ import annotations

import asyncio
import logging

import chainlit as cl
from chainlit.input_widget import Select, Slider, Switch, TextInput

from assistant.answer.retrieve import search_filter_from
from assistant.core.errors import AssistantError
from assistant.core.models import Answer, Final, Sentence, Sources, Turn
from assistant.surfaces import access
from assistant.surfaces.web import views
from assistant.surfaces.web.datalayer import build_data_layer
from assistant.surfaces.web.runtime import current

log = logging.getLogger(__name__)
runtime = current()

if access.web_is_public(runtime.settings):

    @cl.header_auth_callback
    async def single_user(headers) -> cl.User:
        # History and resume need a signed-in user; on a public chat everyone is the one local user.
        return cl.User(identifier="local", metadata={"role": "user"})

else:  # a credential is configured: only a login opens the chat (no header auth is registered)

    @cl.password_auth_callback
    async def login(username: str, password: str) -> cl.User | None:
        valid = access.web_login_ok(username, password, runtime.settings)
        return cl.User(identifier=username, metadata={"role": "user"}) if valid else None


@cl.data_layer
def data_layer():
    return build_data_layer(runtime.settings.chat_db, runtime.root / "elements")


@cl.set_starters
async def starters(user=None):
    return [cl.Starter(label=label, message=message) for label, message in runtime.starters]


def settings_widgets(values: dict) -> list:
    model = values.get("model") if values.get("model") in runtime.models else runtime.models[0]
    return [
        Slider(id="k", label="Papers to use", initial=values.get("k") or runtime.settings.retrieval.top_k,
               min=1, max=10, step=1),
        TextInput(id="since", label="Only papers in feeds from (e.g. Mar 13 or 2024-03-13)",
                  initial=values.get("since") or ""),
        TextInput(id="until", label="Only papers in feeds until", initial=values.get("until") or ""),
        Switch(id="has_code", label="Only papers with code", initial=bool(values.get("has_code"))),
        Select(id="model", label="Language model ('none' answers with extracted sentences)", values=runtime.models,
               initial_value=model),
    ]


@cl.on_chat_start
async def start():
    cl.user_session.set("history", [])
    await cl.ChatSettings(settings_widgets({})).send()
    if not runtime.summary.papers:
        await cl.Message(content=views.EMPTY_INDEX).send()


@cl.on_chat_resume
async def resume(thread):
    history = views.history_from_steps(thread.get("steps") or [])
    cl.user_session.set("history", [turn.model_dump() for turn in history])
    await cl.ChatSettings(settings_widgets(cl.user_session.get("chat_settings") or {})).send()


@cl.on_message
async def on_message(message: cl.Message):
    await answer_question(message.content)


@cl.action_callback(views.WITHOUT_FILTER)
async def ask_without_filter(action: cl.Action):
    """The removable filter: the same question again, searched as typed (its filter words not read)."""
    await action.remove()
    question = str(action.payload.get("question") or "")
    history = cl.user_session.get("history") or []
    if history[-2:-1] == [{"role": "user", "content": question}]:
        history = history[:-2]  # asked again in place of the filtered answer, not as its follow-up
        cl.user_session.set("history", history)
    await answer_question(question, read_filters=False)


async def answer_question(question: str, *, read_filters: bool = True) -> None:
    options = views.chat_options(cl.user_session.get("chat_settings") or {}, runtime.settings.retrieval.top_k)
    history = [Turn(**turn) for turn in cl.user_session.get("history") or []]
    # Open from the start: the papers show in it as soon as they are found, before the model writes.
    trace = cl.Step(name="Search and answer", type="tool", default_open=True)
    await trace.send()
    reply = cl.Message(content="")  # created after the step so the trace shows above the answer
    try:
        search_filter = search_filter_from(options.since, options.until, options.has_code)
        answer, sources = await stream_answer(reply, trace, question, history, options, search_filter, read_filters)
    except Exception as exc:  # the chat shows one polite line; an unexpected error's traceback goes to the log
        if not isinstance(exc, AssistantError):
            log.exception("web chat: unexpected error answering %r", question[:200])
        trace.output = "failed"
        await trace.update()
        await cl.Message(content=views.error_text(exc)).send()
        return
    trace.output = views.describe_trace(answer, sources)
    await trace.update()
    if answer.filters_read:  # a chip to drop the filter the question's words stated
        reply.actions = [cl.Action(name=views.WITHOUT_FILTER, payload={"question": question},
                                   label=views.without_filter_label(answer.filters_read), icon="x")]
    await send_answer(reply, answer)
    history += [Turn(role="user", content=question), Turn(role="assistant", content=answer.answer)]
    cl.user_session.set("history", [turn.model_dump() for turn in history])


async def stream_answer(reply: cl.Message, trace: cl.Step, question: str, history: list[Turn],
                        options: views.ChatOptions, search_filter,
                        read_filters: bool = True) -> tuple[Answer, Sources | None]:
    raw, unsupported, sources = "", [], None
    async for event in runtime.service.events(question, history, options.k, search_filter, options.model,
                                              read_filters=read_filters):
        if isinstance(event, Final):
            return event.answer, sources
        if isinstance(event, Sources):
            sources = event
            trace.output = views.describe_sources(event)
            await trace.update()
            continue
        if isinstance(event, Sentence):
            if event.check.supported:
                continue
            unsupported.append(event.check)  # shown at once: the reader sees it is not part of the answer
        else:
            raw += event.text
        # Re-rendered whole each time, so no image or link of the model's ever shows half-made.
        await reply.stream_token(views.streaming_text(raw, unsupported), is_sequence=True)
    raise AssistantError("the answer ended without a result")


async def send_answer(reply: cl.Message, answer: Answer) -> None:
    """Replace the streamed text by the verified one and attach one side panel per cited paper."""
    reply.content = views.answer_markdown(answer)
    if not answer.abstained:
        papers = await asyncio.gather(*(runtime.service.paper(c.paper_id) for c in answer.citations))
        reply.elements = [cl.Text(name=f"[{c.n}]", content=views.citation_panel(c, paper), display="side")
                          for c, paper in zip(answer.citations, papers, strict=True)]
    await reply.send()
