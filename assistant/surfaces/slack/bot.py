"""The Slack surface: answers mentions, DMs and the slash command with cited Block Kit messages.

One slack-bolt AsyncApp serves both transports: HTTP (``POST /slack/events`` inside ``assistant serve``)
and Socket Mode (``assistant slack --socket``). Bolt verifies request signatures and acks events before
the listeners run, so answers are produced in background tasks: a "Searching the papers…" message is
posted in the question's thread, then edited in place while the answer streams and once more with the
final blocks. Answers, feedback and handled event ids live in ``<data_dir>/chat.db`` (see slack_store).
"""

from __future__ import annotations

import asyncio
import logging
import re
import time
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager, suppress
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse
from slack_bolt import BoltResponse
from slack_bolt.async_app import AsyncApp
from slack_sdk.errors import SlackApiError
from slack_sdk.http_retry.builtin_async_handlers import AsyncRateLimitErrorRetryHandler
from slack_sdk.web.async_client import AsyncWebClient

from assistant.core.errors import AssistantError, ConfigError
from assistant.core.models import Answer, Delta, Final, Sources, Turn
from assistant.core.settings import Settings
from assistant.engine import AsyncAssistant
from assistant.surfaces.slack.blocks import (
    FEEDBACK_DOWN,
    FEEDBACK_UP,
    PLACEHOLDER,
    SHARE_ACTION,
    SORRY,
    answer_blocks,
    escape,
    failure_reason,
    question_text,
    sources_text,
    thread_turns,
    to_mrkdwn,
)
from assistant.surfaces.slack.store import SlackAnswer, SlackStore

log = logging.getLogger("assistant.slack")



# --- the progress message --------------------------------------------------------------------


class ProgressMessage:
    """The bot's message in the thread: "Searching the papers…", the papers found, the streaming text, the answer."""

    def __init__(self, client: AsyncWebClient, channel: str, ts: str, every: float) -> None:
        self.client, self.channel, self.ts = client, channel, ts
        self.every = every
        self._last = time.monotonic()

    async def show_sources(self, sources: Sources) -> None:
        """Edit in the papers being read at once (before the model writes); the partial text follows later."""
        self._last = time.monotonic()
        try:
            await self.client.chat_update(channel=self.channel, ts=self.ts, text=sources_text(sources))
        except SlackApiError as exc:
            log.warning("sources chat.update failed: %s", exc.response.get("error"))

    async def show_partial(self, text: str) -> None:
        """Edit in the text so far, at most once per `every` seconds; a failed edit only costs a frame."""
        if time.monotonic() - self._last < self.every or not text.strip():
            return
        self._last = time.monotonic()
        try:
            await self.client.chat_update(channel=self.channel, ts=self.ts, text=to_mrkdwn(text) + " …")
        except SlackApiError as exc:
            log.warning("partial chat.update failed: %s", exc.response.get("error"))

    async def finish(self, text: str, blocks: list[dict[str, Any]] | None = None) -> None:
        await self.client.chat_update(channel=self.channel, ts=self.ts, text=text, blocks=blocks)


# --- the bot ---------------------------------------------------------------------------------


class SlackBot:
    """The bolt app and its listeners over one AsyncAssistant and one SlackStore."""

    def __init__(self, settings: Settings, service: AsyncAssistant, *, socket_mode: bool = False) -> None:
        self.settings, self.service = settings, service
        self.store = SlackStore(settings.chat_db)
        self._tasks: set[asyncio.Task] = set()
        self.bolt = build_bolt_app(settings, socket_mode=socket_mode)
        self.bolt.middleware(self.drop_duplicate_events)
        self.bolt.event("app_mention")(self.on_mention)
        self.bolt.event("message")(self.on_message)
        self.bolt.command(settings.slack.command)(ack=self.ack_command, lazy=[self.answer_command])
        self.bolt.action(SHARE_ACTION)(self.on_share)
        self.bolt.action(re.compile(f"^({FEEDBACK_UP}|{FEEDBACK_DOWN})$"))(self.on_feedback)

    # Listeners: bolt injects the arguments by name.

    async def drop_duplicate_events(self, body, next, logger) -> BoltResponse | None:
        """Answer each event once: Slack redelivers an event (same event_id) it thinks was lost."""
        event_id = body.get("event_id")
        try:
            first = not event_id or await self.store.claim_event(event_id)
        except Exception:  # a broken store must not make the bot deaf; the in-memory check still ran
            logger.exception("could not record Slack event %s", event_id)
            first = True
        if not first:
            logger.info("Slack event %s already handled: duplicate delivery ignored", event_id)
            return BoltResponse(status=200, body="")
        await next()
        return None

    async def on_mention(self, event, client, context) -> None:
        """@mention in a channel (events are acked by bolt before this runs)."""
        if event.get("bot_id") or event.get("subtype"):
            return
        await self.answer_in_thread(client, context, event, source="mention")

    async def on_message(self, event, client, context) -> None:
        """Direct messages; bot messages, edits and other subtypes (incl. our own chat.update echoes) are skipped."""
        if event.get("channel_type") != "im" or event.get("bot_id") or event.get("subtype"):
            return
        await self.answer_in_thread(client, context, event, source="dm")

    async def ack_command(self, ack, command) -> None:
        """Slash command: ack within 3 s with a progress note (or the reason the question is refused)."""
        question = question_text(command.get("text", ""), None)
        problem = self.question_problem(question)
        await ack(response_type="ephemeral", text=problem or f"{PLACEHOLDER} (“{escape(question)}”)")

    async def answer_command(self, command, respond) -> None:
        """The slash command's answer, ephemeral with a share button, through the command's response_url."""
        question = question_text(command.get("text", ""), None)
        if self.question_problem(question):
            return  # the ack already said why
        async with self.tracked():
            try:
                answer = await self.service.ask(question)
            except Exception as exc:
                if not isinstance(exc, AssistantError):
                    log.exception("slash command answer failed")
                await respond(response_type="ephemeral", text=SORRY.format(reason=failure_reason(exc)))
                return
            record = SlackAnswer(id=uuid.uuid4().hex, source="command", user=command["user_id"], question=question,
                                 answer=answer, channel=command.get("channel_id"))
            await self.save(record)
            await respond(response_type="ephemeral", text=to_mrkdwn(answer.answer),
                          blocks=answer_blocks(answer, record.id, shareable=True))

    async def on_share(self, ack, action, body, client, respond) -> None:
        """"Share to channel": post the stored answer publicly, then remove the ephemeral copy."""
        await ack()
        record = await self.store.answer(action["value"])
        if record is None:
            await respond(response_type="ephemeral", replace_original=False,
                          text="Sorry, I no longer have that answer; please ask again.")
            return
        channel = (body.get("channel") or {}).get("id") or body["container"]["channel_id"]
        try:
            posted = await client.chat_postMessage(
                channel=channel,  # the text is what the thread's history reads back, so it carries the answer
                text=f"<@{record.user}> asked: {escape(record.question)}\n\n{to_mrkdwn(record.answer.answer)}",
                blocks=answer_blocks(record.answer, record.id, asked=(record.user, record.question)),
                unfurl_links=False, unfurl_media=False)  # links in abstracts are not fetched on anyone's behalf
        except SlackApiError as exc:
            await respond(response_type="ephemeral", replace_original=False,
                          text=f"Sorry, I couldn't share that ({exc.response.get('error')}); "
                               "invite me to the channel first (/invite).")
            return
        await self.store.set_posted(record.id, channel, posted["ts"])
        await respond(delete_original=True)

    async def on_feedback(self, ack, action, body, client, respond) -> None:
        """👍/👎 on an answer: stored with the answer; the clicker gets a private thank-you."""
        await ack()
        value = "up" if action["action_id"] == FEEDBACK_UP else "down"
        await self.store.save_feedback(action["value"], body["user"]["id"], value)
        container = body.get("container") or {}
        thanks = "Thanks for the feedback!"
        if container.get("is_ephemeral") or not container.get("message_ts"):
            await respond(response_type="ephemeral", replace_original=False, text=thanks)
            return
        message = body.get("message") or {}
        await client.chat_postEphemeral(channel=container["channel_id"], user=body["user"]["id"], text=thanks,
                                        thread_ts=message.get("thread_ts") or container["message_ts"])

    # The work behind the listeners.

    def question_problem(self, question: str) -> str | None:
        """Why a question is refused before any work (empty, too long), or None."""
        limit = self.settings.max_question_chars
        if not question:
            return (f"Ask me a question about the papers, e.g. “which papers quantize LLMs to 4 bits?” "
                    f"(mention me, DM me, or use {self.settings.slack.command}).")
        if len(question) > limit:
            return (f"Sorry, that question is too long ({len(question)} characters; the limit is {limit}). "
                    "Please shorten it.")
        return None

    async def answer_in_thread(self, client: AsyncWebClient, context, event: dict[str, Any], *, source: str) -> None:
        """Answer a mention or DM in its thread, with the thread's earlier messages as history."""
        async with self.tracked():
            channel, ts = event["channel"], event["ts"]
            thread_ts = event.get("thread_ts") or ts
            question = question_text(event.get("text", ""), context.bot_user_id)
            if problem := self.question_problem(question):
                await client.chat_postMessage(channel=channel, thread_ts=thread_ts, text=problem)
                return
            placeholder = await client.chat_postMessage(channel=channel, thread_ts=thread_ts, text=PLACEHOLDER)
            progress = ProgressMessage(client, channel, placeholder["ts"], self.settings.slack.update_every_s)
            try:
                history = await self.thread_history(client, context, channel, thread_ts, before_ts=ts)
                answer = await self.stream_answer(question, history, progress)
                record = SlackAnswer(id=uuid.uuid4().hex, source=source, user=event.get("user", ""),
                                     question=question, answer=answer, channel=channel, thread_ts=thread_ts,
                                     ts=placeholder["ts"])
                await self.save(record)
                await progress.finish(to_mrkdwn(answer.answer), answer_blocks(answer, record.id))
            except asyncio.CancelledError:  # shutdown: leave an explanation, not a message stuck on "Searching"
                with suppress(Exception):
                    await asyncio.wait_for(progress.finish(SORRY.format(reason="the server is restarting, please "
                                                                               "ask again in a minute")), 3)
                raise
            except Exception as exc:
                if not isinstance(exc, AssistantError | SlackApiError):
                    log.exception("Slack answer failed")
                await progress.finish(SORRY.format(reason=failure_reason(exc)))

    async def thread_history(self, client: AsyncWebClient, context, channel: str, thread_ts: str, *,
                             before_ts: str) -> list[Turn]:
        """The thread so far as turns; a thread that cannot be read (scope missing) just gives no history."""
        if thread_ts == before_ts:
            return []
        messages: list[dict[str, Any]] = []
        try:
            cursor = None
            for _ in range(10):  # 1000 messages is more history than any answer uses
                page = await client.conversations_replies(channel=channel, ts=thread_ts, limit=100, cursor=cursor)
                messages += page.get("messages") or []
                cursor = (page.get("response_metadata") or {}).get("next_cursor")
                if not cursor:
                    break
        except SlackApiError as exc:
            log.warning("conversations.replies failed (%s): answering without the thread's history",
                        exc.response.get("error"))
            return []
        ours = [m["ts"] for m in messages if (m.get("bot_id") and m.get("bot_id") == context.bot_id)
                or (m.get("user") and m.get("user") == context.bot_user_id)]
        asked = await self.store.questions_for(channel, ours)
        return thread_turns(messages, before_ts=before_ts, bot_user_id=context.bot_user_id, bot_id=context.bot_id,
                            asked=asked, limit=self.settings.slack.history_turns)

    async def stream_answer(self, question: str, history: list[Turn], progress: ProgressMessage) -> Answer:
        text, final = "", None
        async for event in self.service.events(question, history):
            if isinstance(event, Final):
                final = event.answer
            elif isinstance(event, Sources):
                await progress.show_sources(event)
            elif isinstance(event, Delta):  # a Sentence verdict changes nothing: the final answer replaces the text
                text += event.text
                await progress.show_partial(text)
        assert final is not None
        return final

    async def save(self, record: SlackAnswer) -> None:
        try:
            await self.store.save_answer(record)
        except Exception:  # the user still gets the answer; only the feedback link to it is lost
            log.exception("could not store Slack answer %s", record.id)

    @asynccontextmanager
    async def tracked(self) -> AsyncIterator[None]:
        """Register the running answer so shutdown can stop it instead of leaving it to die mid-request."""
        task = asyncio.current_task()
        if task is not None:
            self._tasks.add(task)
        try:
            yield
        finally:
            self._tasks.discard(task)

    async def close(self) -> None:
        """Stop answers still running, then close the store."""
        tasks = [t for t in self._tasks if t is not asyncio.current_task()]
        for task in tasks:
            task.cancel()
        if tasks:
            await asyncio.wait(tasks, timeout=5)
        await self.store.close()


def build_bolt_app(settings: Settings, *, socket_mode: bool = False) -> AsyncApp:
    """The bolt AsyncApp; its Web API client points at settings.slack.api_base when set (tests use a stub)."""
    slack = settings.slack
    token = slack.bot_token.get_secret_value() if slack.bot_token else None
    client = AsyncWebClient(token=token, base_url=slack.api_base) if slack.api_base else AsyncWebClient(token=token)
    client.retry_handlers.append(AsyncRateLimitErrorRetryHandler(max_retry_count=2))  # chat.update bursts
    secret = slack.signing_secret.get_secret_value() if slack.signing_secret else ""
    # Socket Mode requests come over an authenticated websocket and carry no signature to verify.
    return AsyncApp(name="paper-assistant", client=client, signing_secret=secret,
                    request_verification_enabled=not socket_mode, logger=log)


# --- the entry points server.py and cli.py call --------------------------------------------------


def mount_slack(app: FastAPI, settings: Settings, service: AsyncAssistant) -> None:
    """Add POST /slack/events; unconfigured, the route answers 503 saying which settings are missing.

    The 503 (rather than no route) gives whoever pastes the URL into Slack's settings a reason instead of
    the web chat's 404 page, and keeps Chainlit's root mount from claiming the path.
    """
    slack = settings.slack
    missing = [name for name, value in (("ASSISTANT_SLACK_BOT_TOKEN", slack.bot_token),
                                        ("ASSISTANT_SLACK_SIGNING_SECRET", slack.signing_secret)) if not value]
    if missing:
        message = f"Slack is not configured: set {' and '.join(missing)}"

        @app.post("/slack/events", include_in_schema=False)
        async def slack_not_configured() -> JSONResponse:
            return JSONResponse({"error": message}, status_code=503)

        return

    from slack_bolt.adapter.fastapi.async_handler import AsyncSlackRequestHandler

    bot = SlackBot(settings, service)
    handler = AsyncSlackRequestHandler(bot.bolt)
    app.state.slack = bot

    @app.post("/slack/events", include_in_schema=False, max_body_size=settings.slack.max_body_bytes)
    async def slack_events(request: Request):
        return await handler.handle(request)


async def shutdown(app: FastAPI) -> None:
    """Stop running answers and close the Slack store (nothing to do when Slack is off)."""
    bot: SlackBot | None = getattr(app.state, "slack", None)
    if bot is not None:
        await bot.close()


def run_socket_mode(settings: Settings) -> None:
    """`assistant slack --socket`: open the engine and answer over Socket Mode until interrupted."""
    slack = settings.slack
    missing = [name for name, value in (("ASSISTANT_SLACK_BOT_TOKEN", slack.bot_token),
                                        ("ASSISTANT_SLACK_APP_TOKEN", slack.app_token)) if not value]
    if missing:
        raise ConfigError(f"Socket Mode needs {' and '.join(missing)} (xoxb-… bot token, xapp-… app-level token "
                          "with connections:write)")
    from assistant.engine import Assistant

    service = AsyncAssistant(Assistant(settings), settings.server.max_concurrent_answers)
    try:
        asyncio.run(serve_socket_mode(settings, service))
    finally:
        service.close()


async def serve_socket_mode(settings: Settings, service: AsyncAssistant) -> None:
    """Connect to Slack by Socket Mode and answer until cancelled (the web client's base URL applies here too)."""
    from slack_bolt.adapter.socket_mode.async_handler import AsyncSocketModeHandler

    bot = SlackBot(settings, service, socket_mode=True)
    handler = AsyncSocketModeHandler(bot.bolt, settings.slack.app_token.get_secret_value())
    try:
        await handler.connect_async()
        print(f"Slack bot connected by Socket Mode (slash command {settings.slack.command}); Ctrl-C stops it",
              flush=True)
        await asyncio.Event().wait()
    finally:
        await handler.close_async()
        await bot.close()
