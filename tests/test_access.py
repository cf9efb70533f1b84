"""One access policy for the whole server: the API, its docs and the web chat ask once any credential exists."""

from __future__ import annotations

import asyncio
import os

import httpx
import pytest
from conftest import FEEDS, make_settings, run_cli
from test_web_e2e import CHROMIUM, Server

from assistant.surfaces.http.app import create_app

KEY, PASSWORD = "k-" + "7" * 30, "correct horse battery"


class NoEngine:
    """Enough of the async engine for routes that never reach it (auth and docs fail or answer first)."""

    model_name, offered_models = "none", ["none"]

    def close(self) -> None:
        pass


def statuses(settings, requests: list[tuple[str, str, dict]]) -> list[int]:
    async def run():
        app = create_app(settings, NoEngine(), web=False)
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t") as http:
            return [(await http.request(method, path, headers=headers)).status_code
                    for method, path, headers in requests]

    return asyncio.run(run())


PROTECTED = [("GET", "/openapi.json"), ("GET", "/docs"), ("GET", "/v1/models")]


@pytest.mark.parametrize("configured", [{"api": {"keys": [KEY]}}, {"web": {"password": PASSWORD}}],
                         ids=["api keys", "web password"])
def test_once_any_credential_exists_the_api_and_its_docs_want_one(tmp_path, configured):
    settings = make_settings(tmp_path, **configured)
    secret = KEY if "api" in configured else PASSWORD
    anonymous = statuses(settings, [(m, p, {}) for m, p in PROTECTED])
    wrong = statuses(settings, [(m, p, {"Authorization": "Bearer nope"}) for m, p in PROTECTED])
    right = statuses(settings, [(m, p, {"Authorization": f"Bearer {secret}"}) for m, p in PROTECTED])
    assert anonymous == wrong == [401, 401, 401]
    assert right == [200, 200, 200]
    assert statuses(settings, [("GET", "/healthz", {})]) == [200]  # probes stay open for load balancers


def test_with_no_credential_everything_is_open_and_the_log_says_so(tmp_path):
    from assistant.surfaces import access

    settings = make_settings(tmp_path)
    assert statuses(settings, [(m, p, {}) for m, p in PROTECTED]) == [200, 200, 200]
    assert any("web chat /: open" in line for line in access.describe(settings, web=True))
    guarded = make_settings(tmp_path, api={"keys": [KEY]})
    assert access.describe(guarded, web=True) == [
        "HTTP API /v1 and /docs, /openapi.json: needs a bearer credential",
        "web chat /: needs a login (the web password, or an API key as the password)"]


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    data_dir = tmp_path_factory.mktemp("access") / "data"
    assert run_cli("ingest", str(next(FEEDS.glob("000_*.txt"))), data_dir=data_dir).code == 0
    return data_dir


def serve_with(corpus, **extra: str) -> Server:
    env = {k: v for k, v in os.environ.items() if not k.startswith("ASSISTANT_")}
    env.update({"ASSISTANT_DATA_DIR": str(corpus), "ASSISTANT_LLM_MODEL": "none", **extra})
    return Server(corpus, env).start()


@pytest.mark.skipif(not os.path.exists(CHROMIUM), reason="the web chat tests run with the browser tests")
def test_the_web_chat_asks_for_a_login_once_api_keys_exist(corpus):
    server = serve_with(corpus, ASSISTANT_API_KEYS=KEY)
    try:
        with httpx.Client(base_url=server.url, timeout=30) as http:
            header = http.post("/auth/header")  # Chainlit's header login hands a session to anyone when enabled
            by_key = http.post("/login", data={"username": "alice", "password": KEY})
            wrong = http.post("/login", data={"username": "alice", "password": "guess"})
        log = (corpus.parent / "serve.log").read_text()
    finally:
        server.stop()
    assert header.status_code == 400 and "access_token" not in header.text
    assert by_key.status_code == 200 and wrong.status_code == 401
    assert "access: web chat /: needs a login" in log


@pytest.mark.skipif(not os.path.exists(CHROMIUM), reason="the web chat tests run with the browser tests")
def test_a_public_web_chat_is_the_operators_explicit_choice(corpus):
    server = serve_with(corpus, ASSISTANT_API_KEYS=KEY, ASSISTANT_WEB_PUBLIC="true")
    try:
        with httpx.Client(base_url=server.url, timeout=30) as http:
            header = http.post("/auth/header")
            api = http.get("/v1/models")
        log = (corpus.parent / "serve.log").read_text()
    finally:
        server.stop()
    assert header.status_code == 200 and api.status_code == 401
    assert "access: web chat /: open (ASSISTANT_WEB_PUBLIC=true)" in log
