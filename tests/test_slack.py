"""The Slack bot end to end: signed requests through slack-bolt into the FastAPI app, answers from the seed index.

Slack's Web API is a real local HTTP server (aiohttp) recording every call; the LLM is LiteLLM's
`mock_response`. Bolt acks before listeners run, so each test waits for the calls it expects.
"""

from __future__ import annotations

import asyncio
import json
import sqlite3
import time
import urllib.parse
from collections.abc import Callable
from contextlib import asynccontextmanager
from typing import Any

import httpx
import pytest
from aiohttp import web
from conftest import GPTQ_TITLE, make_settings
from slack_sdk.signature import SignatureVerifier

from assistant.answer.llm import ChatModel
from assistant.core.errors import ConfigError, IndexUnavailable
from assistant.core.models import Answer, Citation, Hit
from assistant.core.settings import LLMSettings, Settings, SlackSettings
from assistant.engine import Assistant, AsyncAssistant
from assistant.surfaces.http.app import create_app
from assistant.surfaces.slack import blocks as slack_blocks
from assistant.surfaces.slack import bot as slack_bot

SECRET = "8f742231b10e8888abcd99yyyzzz85a5"
QUESTION = "How can a 175-billion-parameter GPT model be quantized to 3 or 4 bits per weight in a few GPU hours?"
FOLLOW_UP = "What speed-up did they report?"
MOCK_MODEL = "openai/gpt-4o-mini"
WAIT = 120.0  # generous: the machine is shared; nothing here asserts on time


@pytest.fixture(autouse=True)
def _clean_env(monkeypatch):
    # aiohttp would send the stub's calls through a proxy; SLACK_CLIENT_* would switch bolt to OAuth mode.
    for name in ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "http_proxy", "https_proxy", "all_proxy",
                 "SLACK_CLIENT_ID", "SLACK_CLIENT_SECRET", "SLACK_SIGNING_SECRET", "SLACK_BOT_TOKEN"):
        monkeypatch.delenv(name, raising=False)


# --- a stand-in for Slack's Web API -----------------------------------------------------------


class SlackStub:
    """Answers the Web API methods the bot uses and response_url POSTs, recording (method, params) of each."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, dict[str, Any]]] = []
        self.threads: dict[tuple[str, str], list[dict[str, Any]]] = {}
        self.socket_envelopes: list[dict[str, Any]] = []  # sent to a Socket Mode client after its hello
        self.socket_acks: list[dict[str, Any]] = []
        self._posted = 0

    async def start(self) -> None:
        app = web.Application()
        app.router.add_route("*", "/api/{method}", self._api)
        app.router.add_post("/response_url/{key}", self._response_url)
        app.router.add_get("/socket", self._socket)
        self._runner = web.AppRunner(app)
        await self._runner.setup()
        await web.TCPSite(self._runner, "127.0.0.1", 0).start()
        host, port = self._runner.addresses[0][:2]
        self.url = f"http://{host}:{port}"

    async def stop(self) -> None:
        await self._runner.cleanup()

    async def _params(self, request: web.Request) -> dict[str, Any]:
        params: dict[str, Any] = dict(request.query)
        if request.content_type == "application/json":
            params.update(await request.json())
        elif request.can_read_body:
            params.update(await request.post())
        return params

    async def _api(self, request: web.Request) -> web.Response:
        method, params = request.match_info["method"], await self._params(request)
        self.calls.append((method, params))
        if method == "auth.test":
            return web.json_response({"ok": True, "url": "https://t.slack.com/", "team": "T", "user": "paperbot",
                                      "team_id": "T111", "user_id": "UBOT", "bot_id": "BBOT",
                                      "is_enterprise_install": False})
        if method == "chat.postMessage":
            self._posted += 1
            ts = f"{1700001000 + self._posted}.000100"
            return web.json_response({"ok": True, "channel": params["channel"], "ts": ts,
                                      "message": {"text": params.get("text"), "ts": ts, "bot_id": "BBOT"}})
        if method == "chat.update":
            return web.json_response({"ok": True, "channel": params["channel"], "ts": params["ts"]})
        if method == "conversations.replies":
            messages = self.threads.get((params["channel"], params["ts"]), [])
            return web.json_response({"ok": True, "messages": messages, "has_more": False,
                                      "response_metadata": {"next_cursor": ""}})
        if method == "apps.connections.open":
            return web.json_response({"ok": True, "url": self.url.replace("http://", "ws://") + "/socket"})
        if method == "chat.postEphemeral":
            return web.json_response({"ok": True, "message_ts": "1700009999.000100"})
        return web.json_response({"ok": False, "error": "unknown_method"})

    async def _response_url(self, request: web.Request) -> web.Response:
        self.calls.append((f"response_url/{request.match_info['key']}", await request.json()))
        return web.Response(text="ok")

    async def _socket(self, request: web.Request) -> web.WebSocketResponse:
        socket = web.WebSocketResponse()
        await socket.prepare(request)
        await socket.send_json({"type": "hello", "num_connections": 1, "connection_info": {"app_id": "A111"}})
        for envelope in self.socket_envelopes:
            await socket.send_json(envelope)
        async for message in socket:
            self.socket_acks.append(json.loads(message.data))
        return socket

    def made(self, method: str, **match: Any) -> list[dict[str, Any]]:
        """Params of the recorded calls of a method whose params include `match`."""
        return [p for m, p in self.calls if m == method and all(p.get(k) == v for k, v in match.items())]


# --- signed requests ----------------------------------------------------------------------------


def signed_headers(body: str, content_type: str, *, secret: str = SECRET, age: int = 0) -> dict[str, str]:
    timestamp = str(int(time.time()) - age)
    signature = SignatureVerifier(secret).generate_signature(timestamp=timestamp, body=body)
    return {"X-Slack-Request-Timestamp": timestamp, "X-Slack-Signature": signature, "Content-Type": content_type}


def event_body(event: dict[str, Any], event_id: str) -> str:
    return json.dumps({"token": "x", "team_id": "T111", "api_app_id": "A111", "type": "event_callback",
                       "event_id": event_id, "event_time": 1700000000, "event": event,
                       "authorizations": [{"team_id": "T111", "user_id": "UBOT", "is_bot": True,
                                           "is_enterprise_install": False}]})


def mention(text: str, ts: str, *, thread_ts: str | None = None, channel: str = "C1") -> dict[str, Any]:
    event = {"type": "app_mention", "user": "U1", "text": text, "ts": ts, "channel": channel, "event_ts": ts,
             "team": "T111"}
    return {**event, "thread_ts": thread_ts} if thread_ts else event


def direct_message(text: str, ts: str, **extra: Any) -> dict[str, Any]:
    return {"type": "message", "channel_type": "im", "user": "U1", "text": text, "ts": ts, "channel": "D1",
            "event_ts": ts, **extra}


def block_action(action_id: str, value: str, *, response_url: str, message_ts: str | None = None) -> dict[str, Any]:
    """A button click; without message_ts it was on an ephemeral message (which Slack sends without `message`)."""
    container = {"type": "message", "channel_id": "C1", "is_ephemeral": message_ts is None,
                 "message_ts": message_ts or "1700000050.000100"}
    payload = {"type": "block_actions", "team": {"id": "T111", "domain": "t"}, "api_app_id": "A111", "token": "x",
               "user": {"id": "U2", "username": "bob", "team_id": "T111"}, "trigger_id": "1.2.abc",
               "response_url": response_url,
               "container": container, "channel": {"id": "C1", "name": "general"},
               "actions": [{"type": "button", "action_id": action_id, "block_id": "answer_actions", "value": value,
                            "action_ts": "1700000060.1"}]}
    if message_ts:
        payload["message"] = {"type": "message", "ts": message_ts, "text": "answer", "bot_id": "BBOT"}
    return payload


class Rig:
    """The ASGI app with the Slack bot mounted, an HTTP client on it, and the stub Web API."""

    def __init__(self, app, client: httpx.AsyncClient, stub: SlackStub, settings: Settings) -> None:
        self.app, self.client, self.stub, self.settings = app, client, stub, settings

    async def send_event(self, event: dict[str, Any], event_id: str, **headers: str) -> httpx.Response:
        body = event_body(event, event_id)
        return await self.client.post("/slack/events", content=body,
                                      headers={**signed_headers(body, "application/json"), **headers})

    async def send_form(self, fields: dict[str, str]) -> httpx.Response:
        body = urllib.parse.urlencode(fields)
        return await self.client.post("/slack/events", content=body,
                                      headers=signed_headers(body, "application/x-www-form-urlencoded"))

    async def click(self, payload: dict[str, Any]) -> httpx.Response:
        return await self.send_form({"payload": json.dumps(payload)})

    async def command(self, text: str, response_key: str = "cmd") -> httpx.Response:
        return await self.send_form({
            "token": "x", "team_id": "T111", "team_domain": "t", "channel_id": "C1", "channel_name": "general",
            "user_id": "U1", "user_name": "alice", "command": self.settings.slack.command, "text": text,
            "api_app_id": "A111", "trigger_id": "1.2.cmd",
            "response_url": f"{self.stub.url}/response_url/{response_key}"})

    def db(self, sql: str, *args: Any) -> list[sqlite3.Row]:
        with sqlite3.connect(self.settings.data_dir / "chat.db") as conn:
            conn.row_factory = sqlite3.Row
            return conn.execute(sql, args).fetchall()


async def wait_for(found: Callable[[], Any], what: str, timeout: float = WAIT) -> Any:
    """Poll until `found()` returns something truthy (the listeners run after the HTTP ack)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if result := found():
            return result
        await asyncio.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}")


def final_update(stub: SlackStub, channel: str, ts: str | None = None) -> dict[str, Any] | None:
    """The last edit of a bot message that carries the answer's blocks or an apology."""
    match = {"channel": channel, **({"ts": ts} if ts else {})}
    done = [p for p in stub.made("chat.update", **match) if p.get("blocks") or p["text"].startswith("Sorry")]
    return done[-1] if done else None


def slack_settings(base: Settings, data_dir, stub: SlackStub, **tunables) -> Settings:
    slack = SlackSettings(bot_token="xoxb-test", signing_secret=SECRET, api_base=f"{stub.url}/api/", **tunables)
    llm = base.llm.model_copy(update={"condense": "heuristic"})  # the follow-up's query shows its first question
    return base.model_copy(update={"slack": slack, "data_dir": data_dir, "llm": llm})


def seed_service(seed, settings: Settings, reply: str) -> AsyncAssistant:
    chat = ChatModel(LLMSettings(model=MOCK_MODEL, num_retries=0, timeout=30), extra={"mock_response": reply})
    core = seed.assistant
    return AsyncAssistant(Assistant(settings, index=core.index, embedder=core.embedder, sparse=core.sparse,
                                    chat_model=chat), owns_engine=False)


class BrokenCore:
    """A core whose index fails the way a locked embedded Qdrant does."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings

    def events(self, *args, **kwargs):
        raise IndexUnavailable("the paper index is locked by another process")
        yield  # a generator, like the real engine's

    def close(self) -> None:
        pass


@asynccontextmanager
async def slack_rig(make_service: Callable[[Settings], AsyncAssistant], data_dir, stub: SlackStub | None = None,
                    base: Settings | None = None, **tunables):
    own_stub = stub is None
    if own_stub:
        stub = SlackStub()
        await stub.start()
    settings = slack_settings(base or make_settings(data_dir), data_dir, stub, **tunables)
    app = create_app(settings, make_service(settings), web=False)
    transport = httpx.ASGITransport(app=app)
    try:
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
            yield Rig(app, client, stub, settings)
    finally:
        await slack_bot.shutdown(app)
        if own_stub:
            await stub.stop()


def run(scenario) -> None:
    asyncio.run(scenario)


def blocks_text(blocks: list[dict[str, Any]]) -> str:
    return json.dumps(blocks, ensure_ascii=False)


def buttons(blocks: list[dict[str, Any]]) -> dict[str, str]:
    """action_id -> value of every button in the message."""
    return {e["action_id"]: e["value"] for b in blocks if b["type"] == "actions" for e in b["elements"]}


# --- the tests ----------------------------------------------------------------------------------


def test_mention_gets_one_threaded_answer_with_cited_paper_and_feedback_buttons(seed, tmp_path):
    async def scenario():
        async with slack_rig(lambda s: seed_service(seed, s, "GPTQ quantizes weights layer by layer [1]."),
                             tmp_path, base=seed.settings) as rig:
            response = await rig.send_event(mention(f"<@UBOT> {QUESTION}", "1700000000.000100"), "Ev1")
            assert response.status_code == 200
            final = await wait_for(lambda: final_update(rig.stub, "C1"), "the answer")
            posted = rig.stub.made("chat.postMessage", channel="C1")
            assert len(posted) == 1, posted
            assert posted[0]["thread_ts"] == "1700000000.000100"
            assert posted[0]["text"] == slack_blocks.PLACEHOLDER
            assert final["ts"] == "1700001001.000100"  # the placeholder, edited in place
            first_edit = rig.stub.made("chat.update", channel="C1")[0]  # the papers, before any answer text
            assert "reading" in first_edit["text"] and GPTQ_TITLE in first_edit["text"] and "[1]" in first_edit["text"]
            assert "[1]" in final["blocks"][0]["text"]["text"] and "GPTQ" in final["blocks"][0]["text"]["text"]
            assert GPTQ_TITLE in blocks_text(final["blocks"])
            ids = buttons(final["blocks"])
            assert set(ids) == {"feedback_up", "feedback_down"} and ids["feedback_up"] == ids["feedback_down"]
            row = rig.db("SELECT * FROM slack_answers WHERE id = ?", ids["feedback_up"])[0]
            assert (row["channel"], row["thread_ts"], row["ts"], row["user"]) == (
                "C1", "1700000000.000100", "1700001001.000100", "U1")
            assert row["question"] == QUESTION and row["model"] == MOCK_MODEL
            assert json.loads(row["citations"])[0]["title"] == GPTQ_TITLE

    run(scenario())


def test_redelivered_event_is_answered_once_even_after_a_restart(seed, tmp_path):
    def service(settings):
        return seed_service(seed, settings, "GPTQ quantizes weights layer by layer [1].")

    async def scenario():
        stub = SlackStub()
        await stub.start()
        try:
            event = mention(f"<@UBOT> {QUESTION}", "1700000000.000100")
            async with slack_rig(service, tmp_path, stub, base=seed.settings) as rig:
                assert (await rig.send_event(event, "EvSame")).status_code == 200
                await wait_for(lambda: final_update(stub, "C1"), "the answer")
                retry = await rig.send_event(event, "EvSame", **{"X-Slack-Retry-Num": "1",
                                                                 "X-Slack-Retry-Reason": "http_timeout"})
                assert retry.status_code == 200
            async with slack_rig(service, tmp_path, stub, base=seed.settings) as restarted:  # same chat.db
                retry = await restarted.send_event(event, "EvSame", **{"X-Slack-Retry-Num": "2"})
                assert retry.status_code == 200
                # A new question, sent after the retries, is answered: by then a duplicate reply would show.
                await restarted.send_event(mention("<@UBOT> what is GPTQ?", "1700000200.000100"), "EvOther")
                await wait_for(lambda: stub.made("chat.update", ts="1700001002.000100"), "the second answer")
            assert len(stub.made("chat.postMessage", thread_ts="1700000000.000100")) == 1
        finally:
            await stub.stop()

    run(scenario())


def test_unsigned_forged_and_stale_requests_are_rejected(tmp_path):
    async def scenario():
        async with slack_rig(lambda s: AsyncAssistant(BrokenCore(s), owns_engine=False), tmp_path) as rig:
            body = event_body(mention("<@UBOT> hi", "1700000000.000100"), "EvBad")
            forged = await rig.client.post("/slack/events", content=body,
                                           headers=signed_headers(body, "application/json", secret="wrong"))
            stale = await rig.client.post("/slack/events", content=body,
                                          headers=signed_headers(body, "application/json", age=600))
            unsigned = await rig.client.post("/slack/events", content=body,
                                             headers={"Content-Type": "application/json"})
            assert [forged.status_code, stale.status_code, unsigned.status_code] == [401, 401, 401]
            challenge = json.dumps({"token": "x", "challenge": "c123", "type": "url_verification"})
            verified = await rig.client.post("/slack/events", content=challenge,
                                             headers=signed_headers(challenge, "application/json"))
            assert verified.json() == {"challenge": "c123"}
            assert rig.stub.calls == []  # nothing was answered

    run(scenario())


def test_follow_up_in_a_thread_is_answered_with_the_threads_first_question(seed, tmp_path):
    async def scenario():
        async with slack_rig(lambda s: seed_service(seed, s, "They report a 3x speed-up over FP16 [1]."),
                             tmp_path, base=seed.settings) as rig:
            parent, follow_up = "1700000000.000100", "1700000300.000100"
            rig.stub.threads[("C1", parent)] = [
                {"type": "message", "user": "U1", "text": f"<@UBOT> {QUESTION}", "ts": parent, "thread_ts": parent},
                {"type": "message", "user": "UBOT", "bot_id": "BBOT", "ts": "1700000010.000100", "thread_ts": parent,
                 "text": "GPTQ quantizes weights layer by layer with second-order information [1]."},
                {"type": "message", "user": "U1", "text": f"<@UBOT> {FOLLOW_UP}", "ts": follow_up,
                 "thread_ts": parent},
            ]
            await rig.send_event(mention(f"<@UBOT> {FOLLOW_UP}", follow_up, thread_ts=parent), "EvFollow")
            final = await wait_for(lambda: final_update(rig.stub, "C1"), "the follow-up answer")
            assert rig.stub.made("conversations.replies", channel="C1", ts=parent)
            assert [p["thread_ts"] for p in rig.stub.made("chat.postMessage")] == [parent]
            assert GPTQ_TITLE in blocks_text(final["blocks"])
            row = rig.db("SELECT question, query FROM slack_answers")[0]
            assert row["question"] == FOLLOW_UP
            assert QUESTION in row["query"] and FOLLOW_UP in row["query"]  # searched with the thread's question

    run(scenario())


def test_slash_command_answers_privately_then_shares_and_takes_feedback(seed, tmp_path):
    async def scenario():
        async with slack_rig(lambda s: seed_service(seed, s, "GPTQ quantizes weights layer by layer [1]."),
                             tmp_path, base=seed.settings) as rig:
            ack = await rig.command(QUESTION)
            assert ack.status_code == 200 and ack.json()["response_type"] == "ephemeral"
            reply = (await wait_for(lambda: rig.stub.made("response_url/cmd"), "the ephemeral answer"))[-1]
            assert reply["response_type"] == "ephemeral"
            assert GPTQ_TITLE in blocks_text(reply["blocks"])
            answer_id = buttons(reply["blocks"])["share_answer"]
            assert rig.stub.made("chat.postMessage") == []  # nothing public yet

            await rig.click(block_action("share_answer", answer_id, response_url=f"{rig.stub.url}/response_url/share"))
            shared = (await wait_for(lambda: rig.stub.made("chat.postMessage", channel="C1"), "the shared answer"))[0]
            assert "thread_ts" not in shared
            assert QUESTION in shared["text"] and GPTQ_TITLE in blocks_text(shared["blocks"])
            assert "share_answer" not in buttons(shared["blocks"])
            await wait_for(lambda: rig.stub.made("response_url/share", delete_original=True), "the private copy gone")

            await rig.click(block_action("feedback_down", answer_id, response_url=f"{rig.stub.url}/response_url/fb",
                                         message_ts="1700001001.000100"))
            stored = await wait_for(lambda: rig.db("SELECT * FROM slack_feedback WHERE answer_id = ?", answer_id),
                                    "the stored feedback")
            assert (stored[0]["user"], stored[0]["value"]) == ("U2", "down")
            row = rig.db("SELECT source, channel, ts, question FROM slack_answers WHERE id = ?", answer_id)[0]
            assert tuple(row) == ("command", "C1", "1700001001.000100", QUESTION)
            await wait_for(lambda: rig.stub.made("chat.postEphemeral", user="U2"), "the thank-you")

    run(scenario())


def test_direct_messages_are_answered_streaming_and_bot_messages_ignored(seed, tmp_path, monkeypatch):

    async def scenario():
        # update_every_s=0: edit in every delta, so the partial text shows
        async with slack_rig(lambda s: seed_service(seed, s, "GPTQ quantizes weights layer by layer [1]."),
                             tmp_path, base=seed.settings, update_every_s=0.0) as rig:
            await rig.send_event(direct_message("echo of my own answer", "1700000001.000100",
                                                user="UBOT", bot_id="BBOT"), "EvSelf")
            await rig.send_event(direct_message("another bot talking", "1700000002.000100", bot_id="BOTHER",
                                                subtype="bot_message"), "EvOtherBot")
            await rig.send_event(direct_message("edited", "1700000003.000100", subtype="message_changed"), "EvEdit")
            await rig.send_event(direct_message(QUESTION, "1700000004.000100"), "EvHuman")
            final = await wait_for(lambda: final_update(rig.stub, "D1"), "the DM answer")
            assert GPTQ_TITLE in blocks_text(final["blocks"])
            edits = rig.stub.made("chat.update", channel="D1")
            assert "reading" in edits[0]["text"]  # first the papers, then the streamed text
            partial = edits[1]
            assert partial["text"].endswith(" …") and not partial.get("blocks")
            assert final["text"].startswith(partial["text"].removesuffix(" …"))  # the streamed text so far
            assert edits[-1] is final
            posted = rig.stub.made("chat.postMessage")
            assert [(p["channel"], p["thread_ts"]) for p in posted] == [("D1", "1700000004.000100")]
            assert rig.db("SELECT source FROM slack_answers")[0]["source"] == "dm"

    run(scenario())


def test_failures_and_oversized_questions_get_a_polite_reply(tmp_path):
    async def scenario():
        async with slack_rig(lambda s: AsyncAssistant(BrokenCore(s), owns_engine=False), tmp_path) as rig:
            await rig.send_event(mention(f"<@UBOT> {QUESTION}", "1700000000.000100"), "EvBroken")
            final = await wait_for(lambda: final_update(rig.stub, "C1"), "the apology")
            assert final["text"] == ("Sorry, I couldn't answer that: the paper index is locked by another process")
            assert rig.stub.made("chat.postMessage")[0]["thread_ts"] == "1700000000.000100"

            too_long = "why " * rig.settings.max_question_chars
            await rig.send_event(mention(f"<@UBOT> {too_long}", "1700000100.000100"), "EvLong")
            refusal = await wait_for(lambda: rig.stub.made("chat.postMessage", thread_ts="1700000100.000100"),
                                     "the refusal")
            assert "too long" in refusal[0]["text"]

            ack = await rig.command(QUESTION)
            assert ack.json()["response_type"] == "ephemeral"
            apology = await wait_for(lambda: rig.stub.made("response_url/cmd"), "the slash apology")
            assert apology[0]["text"].startswith("Sorry, I couldn't answer that: the paper index is locked")
            assert "too long" in (await rig.command(too_long)).json()["text"]

    run(scenario())


def test_socket_mode_receives_events_over_the_websocket_and_answers_in_thread(tmp_path):
    async def scenario():
        stub = SlackStub()
        await stub.start()
        payload = json.loads(event_body(mention(f"<@UBOT> {QUESTION}", "1700000000.000100"), "EvSocket"))
        stub.socket_envelopes = [{"envelope_id": "env-1", "type": "events_api", "accepts_response_payload": False,
                                  "retry_attempt": 0, "retry_reason": "", "payload": payload}]
        settings = make_settings(tmp_path, slack={"bot_token": "xoxb-test", "app_token": "xapp-test",
                                                  "api_base": f"{stub.url}/api/"})
        running = asyncio.create_task(slack_bot.serve_socket_mode(
            settings, AsyncAssistant(BrokenCore(settings), owns_engine=False)))
        try:
            final = await wait_for(lambda: final_update(stub, "C1"), "the in-thread reply")
            assert final["text"].startswith("Sorry, I couldn't answer that: the paper index is locked")
            assert stub.made("chat.postMessage", thread_ts="1700000000.000100")
            assert {"envelope_id": "env-1"}.items() <= stub.socket_acks[0].items()  # acked to Slack
        finally:
            running.cancel()
            await asyncio.gather(running, return_exceptions=True)
            await stub.stop()

    run(scenario())


def test_slack_settings_missing_give_a_clear_503_and_config_error(tmp_path):
    async def scenario():
        settings = make_settings(tmp_path)
        app = create_app(settings, AsyncAssistant(BrokenCore(settings), owns_engine=False), web=False)
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t") as client:
            response = await client.post("/slack/events", content="{}")
        assert response.status_code == 503
        assert "ASSISTANT_SLACK_BOT_TOKEN" in response.json()["error"]
        await slack_bot.shutdown(app)

    run(scenario())
    with pytest.raises(ConfigError, match="ASSISTANT_SLACK_APP_TOKEN"):
        slack_bot.run_socket_mode(make_settings(tmp_path, slack={"bot_token": "xoxb-x"}))
    with pytest.raises(ConfigError, match="ASSISTANT_SLACK_BOT_TOKEN"):
        slack_bot.run_socket_mode(make_settings(tmp_path, slack={"app_token": "xapp-x"}))


def test_blocks_render_markdown_sources_and_abstentions_for_slack():
    citation = Citation(n=1, paper_id="arxiv:2210.17323", title="GPTQ: A|B", url="https://arxiv.org/abs/2210.17323",
                        code_url="https://github.com/IST-DASLab/gptq", feeds=["Mar 13", "Mar 14"])
    answer = Answer(answer="**GPTQ** is *fast* & small [1].\n- one\n[repo](https://x.org/a)", citations=[citation],
                    model="m")
    blocks = slack_blocks.answer_blocks(answer, "a1")
    assert blocks[0]["text"]["text"] == "*GPTQ* is _fast_ &amp; small [1].\n• one\n<https://x.org/a|repo (x.org)>"
    assert blocks[1]["elements"][0]["text"] == ("[1] <https://arxiv.org/abs/2210.17323|GPTQ: A¦B> — Mar 13, Mar 14 — "
                                                "<https://github.com/IST-DASLab/gptq|code>")
    hit = Hit(paper_id="p", title="Onion <soups>", score=0.1, snippet="s", url="https://u")
    abstained = Answer(answer="The collection doesn't cover this.", abstained=True, model="m", hits=[hit])
    text = blocks_text(slack_blocks.answer_blocks(abstained, "a2"))
    assert "You may mean: <https://u|Onion &lt;soups&gt;>" in text and "[1]" not in text

    turns = slack_blocks.thread_turns([
        {"ts": "1.1", "user": "U1", "text": "<@UBOT> first &amp; foremost"},
        {"ts": "1.2", "user": "UBOT", "bot_id": "BBOT", "text": slack_blocks.PLACEHOLDER},
        {"ts": "1.3", "user": "UBOT", "bot_id": "BBOT", "text": "an answer [1]"},
        {"ts": "1.4", "bot_id": "BOTHER", "text": "noise"},
        {"ts": "1.5", "user": "U1", "text": "<@UBOT> now"},
    ], before_ts="1.5", bot_user_id="UBOT", bot_id="BBOT")
    assert [(t.role, t.content) for t in turns] == [("user", "first & foremost"), ("assistant", "an answer [1]")]
