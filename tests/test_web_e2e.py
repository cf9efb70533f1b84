"""The web chat end to end: `assistant serve` in a subprocess, driven by headless Chromium (Debian's build).

The LLM's wording is LiteLLM's mock_response (it cites [1], and a [7] that must be removed); retrieval,
citations, the data layer, feedback and resume are all real. A screenshot is kept in tests/artifacts/.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import time
import urllib.request
from pathlib import Path

import pytest
from conftest import FEEDS, GPTQ_TITLE, assistant_command, run_cli

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
ARTIFACTS = Path(__file__).resolve().parent / "artifacts"
MOCK_ANSWER = ("GPTQ quantizes GPT weights to 3-4 bits in one shot using approximate second-order information [1]. "
               "It runs generative inference of a 175B model on a single GPU [1][7].")
QUESTION = "Is there a one-shot way to quantize a 175B GPT model to 3 or 4 bits so it runs on one GPU?"
ASSISTANT_MESSAGE = ".step[data-step-type='assistant_message']"

pytestmark = pytest.mark.skipif(not Path(CHROMIUM).exists(),
                                reason="needs Debian's chromium (scripts/test.sh installs it)")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class Server:
    """`assistant serve` on a free port over a data dir; restartable (history must survive it)."""

    def __init__(self, data_dir: Path, env: dict[str, str]) -> None:
        self.data_dir, self.env, self.port, self.process = data_dir, env, free_port(), None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> Server:
        log = open(self.data_dir.parent / "serve.log", "ab")  # noqa: SIM115 - lives as long as the process
        self.process = subprocess.Popen([*assistant_command(), "serve", "--port", str(self.port)], env=self.env,
                                        cwd=self.data_dir.parent, stdout=log, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            assert self.process.poll() is None, (self.data_dir.parent / "serve.log").read_text()[-2000:]
            try:
                with urllib.request.urlopen(f"{self.url}/healthz", timeout=2) as response:
                    if response.status == 200:
                        return self
            except OSError:
                time.sleep(0.5)
        raise AssertionError("assistant serve did not come up in 120 s")

    def stop(self) -> None:
        if self.process and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(15)
            except subprocess.TimeoutExpired:
                self.process.kill()


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    data_dir = tmp_path_factory.mktemp("web") / "data"
    assert run_cli("ingest", str(next(FEEDS.glob("000_*.txt"))), data_dir=data_dir).code == 0
    env = {k: v for k, v in os.environ.items() if not k.startswith("ASSISTANT_")}
    env.update({"ASSISTANT_DATA_DIR": str(data_dir), "ASSISTANT_LLM_MODEL": "openai/gpt-4o-mini",
                "ASSISTANT_LLM_EXTRA": json.dumps({"mock_response": MOCK_ANSWER}), "ASSISTANT_LLM_NUM_RETRIES": "0",
                "ASSISTANT_LLM_CONDENSE": "heuristic"})  # the mock cannot rewrite follow-ups
    running = Server(data_dir, env).start()
    yield running
    running.stop()


@pytest.fixture(scope="module")
def browser():
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=CHROMIUM, args=[
            "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update"])
        yield chromium
        chromium.close()


def open_page(browser, url: str, outside: list[str]):
    page = browser.new_page(viewport={"width": 1400, "height": 900})
    page.on("request", lambda r: outside.append(r.url) if not r.url.startswith(
        ("http://127.0.0.1", "ws://127.0.0.1", "data:", "blob:")) else None)
    page.goto(url)
    page.wait_for_selector("#chat-input", timeout=60_000)
    # The settings button appears once the chat session has started on the server: typing earlier is lost.
    page.wait_for_selector("#chat-settings-open-modal", timeout=60_000)
    return page


def test_ask_cite_feedback_reload_and_restart(server, browser):
    outside: list[str] = []
    page = open_page(browser, server.url, outside)
    assert page.locator("#starters button").count() == 4

    page.fill("#chat-input", QUESTION)
    page.keyboard.press("Enter")
    answer = page.locator(ASSISTANT_MESSAGE).last
    answer.locator("a.element-link").first.wait_for(timeout=90_000)
    text = answer.inner_text()
    assert "second-order information" in text and "[7]" not in text  # the unknown marker was removed
    assert page.locator("#side-view-content").count() == 0  # the panel waits for a click

    answer.locator("a.element-link", has_text="[1]").first.click()
    panel = page.locator("#side-view-content")
    panel.wait_for(timeout=10_000)
    assert GPTQ_TITLE in panel.inner_text(timeout=10_000)
    assert "second-order information" in panel.inner_text()  # the abstract itself
    assert "What the answer rests on" in panel.inner_text()
    # The abstract sentence supporting the answer's sentence is highlighted where it stands in the abstract.
    # (Chainlit renders Markdown bold as a span.font-bold, not <strong>.)
    highlighted = panel.locator("strong, b, .font-bold").filter(has_text="second-order")
    assert "approximate second-order information" in highlighted.first.inner_text()
    assert "Mar 13" in panel.inner_text() and "github.com/IST-DASLab/gptq" in panel.inner_text()

    page.locator("button.positive-feedback-off").last.click()
    page.locator("[role=dialog] textarea").fill("exactly the paper I meant")
    page.locator("#submit-feedback").click()
    page.locator("button.positive-feedback-on").last.wait_for(timeout=10_000)
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "web_chat.png"), full_page=True)
    page.locator("[id='step-Search and answer']").click()  # the trace: query, papers, timings
    assert "Search query" in page.locator(".step").filter(has_text="Search query").last.inner_text(timeout=10_000)

    page.reload()
    assert_thread_restored(page)

    page = open_page(browser, server.url, outside)  # a new chat, then back to the old one from the history
    page.locator("#thread-history a[href^='/thread/']").first.click()
    assert_thread_restored(page)
    assert outside == []  # nothing fetched from the internet


def assert_thread_restored(page) -> None:
    answer = page.locator(ASSISTANT_MESSAGE).filter(has_text="second-order information").last
    answer.wait_for(timeout=60_000)
    assert answer.locator("a.element-link", has_text="[1]").count() >= 1  # citations survive the reload
    page.locator("button.positive-feedback-on").last.wait_for(timeout=20_000)


def test_abstention_offers_nearest_papers_uncited(server, browser):
    page = open_page(browser, server.url, [])
    page.fill("#chat-input", "What is the best hydration for a sourdough rye loaf?")
    page.keyboard.press("Enter")
    answer = page.locator(ASSISTANT_MESSAGE).filter(has_text="doesn't cover this").last
    answer.wait_for(timeout=90_000)
    answer.get_by_text("You may mean").wait_for(timeout=10_000)
    assert answer.locator("a.element-link").count() == 0


def test_a_filter_read_from_the_question_is_a_chip_that_asks_again_without_it(server, browser):
    page = open_page(browser, server.url, [])
    page.fill("#chat-input", "Which quantization papers have code on GitHub?")
    page.keyboard.press("Enter")
    page.locator(ASSISTANT_MESSAGE).last.locator("a.element-link").first.wait_for(timeout=90_000)
    page.locator("[id='step-Search and answer']").last.click()  # the trace folds once the answer is in
    traces = page.locator(".step").filter(has_text="Reading")
    assert "Filter: with code" in traces.last.inner_text(timeout=10_000)
    chip = page.locator("button").filter(has_text="ask again without this filter")
    assert "with code" in chip.inner_text(timeout=10_000)
    chip.click()
    page.locator(ASSISTANT_MESSAGE).nth(1).locator("a.element-link").first.wait_for(timeout=90_000)
    assert page.locator("button").filter(has_text="ask again without this filter").count() == 0
    page.locator("[id='step-Search and answer']").last.click()
    page.locator(".step").filter(has_text="Reading").filter(has_not_text="Filter:").last.wait_for(timeout=10_000)
    second = traces.last.inner_text(timeout=10_000)
    assert "Reading" in second and "Filter:" not in second  # searched as typed: no filter this time


def test_follow_up_uses_the_conversation(server, browser):
    page = open_page(browser, server.url, [])
    page.fill("#chat-input", QUESTION)
    page.keyboard.press("Enter")
    page.locator(ASSISTANT_MESSAGE).last.locator("a.element-link").first.wait_for(timeout=90_000)
    page.fill("#chat-input", "How long does it take them?")
    page.keyboard.press("Enter")
    page.locator(ASSISTANT_MESSAGE).nth(1).locator("a.element-link").first.wait_for(timeout=90_000)
    page.locator("[id='step-Search and answer']").last.click()
    trace = page.locator(".step").filter(has_text="Search query").last.inner_text(timeout=10_000)
    assert "quantize" in trace and "How long does it take them?" in trace  # searched with the first question


def test_the_page_is_ours_name_logo_collection_and_topic_starters(server, browser):
    page = open_page(browser, server.url, [])
    starters = page.locator("#starters button").all_inner_texts()
    with urllib.request.urlopen(f"{server.url}/logo?theme=light", timeout=10) as logo:
        svg = logo.read().decode()
    with urllib.request.urlopen(f"{server.url}/favicon", timeout=10) as favicon:
        icon_type = favicon.headers["Content-Type"]
    assert "Paper assistant" in svg and icon_type.startswith("image/svg")
    assert page.title() == "Paper assistant"
    line = page.locator("#collection-line").inner_text(timeout=10_000)
    assert line.startswith("Paper assistant: cited answers from") and "1 feed (Mar 13)" in line, line
    assert len(starters) >= 2 and all(len(label.split()) >= 2 for label in starters), starters
    page.locator("#starters button").first.click()  # a starter is a real question about a collection topic
    question = page.locator(".step[data-step-type='user_message']").first.inner_text(timeout=30_000)
    assert question.startswith("Which papers in the collection work on")


@pytest.fixture(scope="module")
def slow_model_server(server):
    """The same index, with a model that takes 6 s to answer: what a reader sees meanwhile is the point."""
    env = {**server.env, "ASSISTANT_LLM_EXTRA": json.dumps({"mock_response": MOCK_ANSWER, "mock_delay": 6})}
    server.stop()  # one process owns the embedded index
    running = Server(server.data_dir, env).start()
    yield running
    running.stop()
    server.start()


def test_the_papers_show_before_the_answer_is_written(slow_model_server, browser):
    page = open_page(browser, slow_model_server.url, [])
    page.fill("#chat-input", QUESTION)
    started = time.monotonic()
    page.keyboard.press("Enter")
    page.get_by_text("Reading").first.wait_for(timeout=20_000)
    sources_seen = time.monotonic() - started
    trace = page.locator(".step").filter(has_text="Reading").first.inner_text()
    assert "GPTQ" in trace and "single GPU" in trace, trace  # the paper and its most relevant sentences
    assert page.locator(ASSISTANT_MESSAGE).filter(has_text="second-order information [1]").count() == 0
    page.locator(ASSISTANT_MESSAGE).last.locator("a.element-link").first.wait_for(timeout=90_000)
    assert time.monotonic() - started > sources_seen + 3  # the answer came seconds after the papers showed
