#!/usr/bin/env python
"""What a web-chat user waits for, measured in headless Chromium: Enter -> sources -> first answer text -> done.

    python bench/bench_answer_latency.py --data-dir DIR [--questions 20] [--modes attributed,nostates,context]
        [--json F]

For each mode it starts `assistant serve` on the seed index in DIR (ingested there first when empty) with the
configured model (default: the embedded one), waits for the warm-up, then asks the same questions, each in a
fresh chat so no follow-up rewriting happens. Modes: 'attributed' (today's answer: one statement per paper,
each paper's saved llama.cpp state loaded), 'nostates' (the same, reading every paper's prompt whole), 'context'
(the old path: one reply from all sources). Before the 'attributed' mode the states of the papers these
questions' answers use are built (`Assistant.build_paper_states`; the papers found by answering each question
without the model): what `assistant serve` has once its background build is done (all 301 papers, ≈ 60 min on
2 cores), which the servers here do not run, so that nothing else uses the cores. It prints p50/p95 of:

* sources: Enter until the "Reading N papers" list is on screen;
* first text: Enter until the answer message shows its first text (in the attributed mode the paper's
  title, which the system writes before the model is called);
* first model token: the sources' time on screen plus the server's own time from sending them to the model's
  first token (the trace's `first_token` less its `sources`); a question answered without the model has none;
* complete: Enter until the verified answer is shown (the trace gains its "Model:" line).

Each is the page's own clock (`performance.now()`) from the Enter keydown to the first animation frame after
the DOM holds it, recorded by a MutationObserver installed before Enter (Playwright's waits poll every 500 ms
after their first 270 ms, so timing them from Python was up to half a second late).

The questions are drawn across the dev set's types (single, multi, unanswerable, adversarial). Run it on a
quiet machine: it never asserts, it prints figures and the targets of issue 10 (0.5 s, 3 s, 20 s p50).
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import socket
import statistics
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
DEV_SET = REPO / "evals" / "datasets" / "dev.jsonl"
CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
ASSISTANT_MESSAGE = ".step[data-step-type='assistant_message']"
TARGETS_S = {"sources": 0.5, "first_text": 3.0, "first_model_token": 3.0, "complete": 20.0}
MIX = (("single", 12), ("multi", 4), ("unanswerable", 2), ("adversarial", 2))
WARM_QUESTION = "Which paper introduced GPTQ?"


def questions(count: int) -> list[str]:
    """``count`` questions spread over the types in MIX (in dev-set order, every k-th of a type)."""
    rows = [json.loads(line) for line in DEV_SET.read_text(encoding="utf-8").splitlines() if line.strip()]
    total = sum(n for _, n in MIX)
    picked = []
    for kind, share in MIX:
        pool = [r["question"] for r in rows if r["type"] == kind and r.get("question")]
        want = max(1, round(count * share / total))
        step = max(1, len(pool) // want)
        picked += pool[::step][:want]
    return picked[:count]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def assistant_bin() -> str:
    candidate = Path(sys.executable).with_name("assistant")
    return str(candidate) if candidate.exists() else "assistant"


def ensure_index(data_dir: Path) -> None:
    if (data_dir / "qdrant").exists():
        return
    print(f"ingesting {REPO / 'data' / 'feeds'} into {data_dir} ...", flush=True)
    subprocess.run([assistant_bin(), "ingest", str(REPO / "data" / "feeds")], check=True,
                   env={**os.environ, "ASSISTANT_DATA_DIR": str(data_dir)}, stdout=subprocess.DEVNULL)


MODES = {  # mode -> the server's settings
    "attributed": {"ASSISTANT_LLM_ANSWER_MODE": "attributed"},
    "nostates": {"ASSISTANT_LLM_ANSWER_MODE": "attributed", "ASSISTANT_LLM_PAPER_STATES": "false"},
    "context": {"ASSISTANT_LLM_ANSWER_MODE": "context"},
}


def build_states(data_dir: Path, items: list[str]) -> None:
    """Save the states of the papers the questions' answers state something about (and the warm-up question's)."""
    os.environ["ASSISTANT_DATA_DIR"] = str(data_dir)
    from states_for_dataset import build_states_for

    print(f"paper states: {build_states_for([[WARM_QUESTION], *([q] for q in items)])}", flush=True)


class Server:
    def __init__(self, data_dir: Path, mode: str, log: Path) -> None:
        self.port = free_port()
        env = {**os.environ, "ASSISTANT_DATA_DIR": str(data_dir), "ASSISTANT_LLM_STATES_IN_BACKGROUND": "false",
               **MODES[mode]}
        self.log = log
        self.process = subprocess.Popen([assistant_bin(), "serve", "--port", str(self.port)], env=env,
                                        stdout=log.open("wb"), stderr=subprocess.STDOUT)
        deadline = time.monotonic() + 180
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise SystemExit(f"assistant serve exited: {log.read_text()[-2000:]}")
            try:
                with urllib.request.urlopen(f"{self.url}/healthz", timeout=2):
                    return
            except OSError:
                time.sleep(0.5)
        raise SystemExit("assistant serve did not come up in 180 s")

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def wait_warm(self, timeout_s: float) -> float:
        """Seconds until /readyz reports the warm-up finished (raises after ``timeout_s``)."""
        started = time.monotonic()
        while time.monotonic() - started < timeout_s:
            try:
                with urllib.request.urlopen(f"{self.url}/readyz", timeout=5) as response:
                    if json.load(response).get("warm"):
                        return time.monotonic() - started
            except OSError:
                pass
            time.sleep(1)
        raise SystemExit(f"assistant serve did not finish its warm-up in {timeout_s:.0f} s")

    def stop(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(20)
        except subprocess.TimeoutExpired:
            self.process.kill()


# Installed in the page before Enter: the page's own clock at Enter and at the first frame after the DOM first
# holds the sources (or an abstention), the answer message, and the trace's "Model:" line. Playwright's waits,
# used below only to know when to read these, poll every 500 ms once 270 ms have passed (its retry backoff: 20, 50,
# 100, 100, 500 ms): the time they return is up to half a second late.
_WATCH = """(selector) => {
  const marks = window.__marks = {};
  const mark = (name) => {
    if (name in marks || !('enter' in marks)) return;
    marks[name] = -1;
    requestAnimationFrame(() => { marks[name] = performance.now(); });
  };
  document.addEventListener('keydown', (event) => {
    if (event.key === 'Enter' && !('enter' in marks)) marks.enter = performance.now();
  }, true);
  const sources = /Reading \\d+ papers?|doesn't cover/;
  // an element whose text is "Model: <name>...", like the locator below
  const modelLine = ".//*[starts-with(normalize-space(.), 'Model:') and string-length(normalize-space(.)) > 7]";
  const observer = new MutationObserver((records) => {
    if (!('enter' in marks)) return;
    for (const record of records) {
      const nodes = record.type === 'characterData' ? [record.target] : [...record.addedNodes];
      if (nodes.some((node) => sources.test(node.textContent || ''))) mark('sources');
    }
    if (document.querySelector(selector)?.textContent.trim()) mark('first_text');
    if (document.body.textContent.includes('Model:') && document.evaluate(modelLine, document.body, null,
        XPathResult.FIRST_ORDERED_NODE_TYPE, null).singleNodeValue) {
      mark('complete');
    }
    if (['sources', 'first_text', 'complete'].every((name) => name in marks)) observer.disconnect();
  });
  observer.observe(document.body, {childList: true, subtree: true, characterData: true});
}"""
_STAGE_TIME = r"\b{stage} ([\d.]+) (ms|s)\b"


def ask(browser, url: str, question: str, timeout_s: float) -> dict[str, float]:
    """One question in a fresh chat; seconds from Enter to sources, first answer text and the final answer."""
    from playwright.sync_api import TimeoutError as PlaywrightTimeout

    page = browser.new_page(viewport={"width": 1400, "height": 900})
    try:
        page.goto(url)
        page.wait_for_selector("#chat-settings-open-modal", timeout=60_000)  # the chat session is up
        page.fill("#chat-input", question)
        page.evaluate(_WATCH, ASSISTANT_MESSAGE)
        page.keyboard.press("Enter")
        timeout_ms = timeout_s * 1000
        # The trace's "Model:" line appears with the final answer. Anchored: an attributed answer's paragraphs
        # start with the paper's title and a colon, and a title may end in "Model".
        model_line = page.get_by_text(re.compile(r"^Model:\s*\S")).first
        model_line.wait_for(timeout=timeout_ms)
        try:
            page.wait_for_function("() => ['sources', 'first_text', 'complete'].every((k) => window.__marks[k] > 0)",
                                   timeout=5_000)
        except PlaywrightTimeout as exc:
            raise RuntimeError(f"the page never showed all of its stages: {page.evaluate('window.__marks')}") from exc
        marks = page.evaluate("window.__marks")
        seconds = {stage: (marks[stage] - marks["enter"]) / 1000 for stage in ("sources", "first_text", "complete")}
        text = page.locator(ASSISTANT_MESSAGE).last.inner_text()
        trace = model_line.inner_text()  # its paragraph holds the "Time:" line too
        timings = trace[trace.find("Time:"):]
        model_first = None
        if (first := _stage_seconds(timings, "first_token")) is not None:
            # The server's time from its sources to the model's first token, after the sources' time on screen.
            model_first = seconds["sources"] + first - (_stage_seconds(timings, "sources") or 0.0)
        return {**seconds, "first_model_token": model_first, "abstained": "doesn't cover" in text}
    finally:
        page.close()


def _stage_seconds(timings: str, stage: str) -> float | None:
    found = re.search(_STAGE_TIME.format(stage=stage), timings)
    return None if found is None else float(found[1]) / (1000 if found[2] == "ms" else 1)


def summary(values: list[float]) -> dict[str, float | int]:
    return {"p50": round(pct(values, 0.5), 2), "p95": round(pct(values, 0.95), 2),
            "mean": round(statistics.fmean(values), 2), "n": len(values)}


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def run_mode(browser, data_dir: Path, mode: str, items: list[str], timeout_s: float, warm_s: float) -> list[dict]:
    log = Path(f"/tmp/bench_answer_latency_{mode}.log")
    server = Server(data_dir, mode, log)
    try:
        # `assistant serve` embeds every sentence and loads the model in the background (≈ 70 s on 2 cores):
        # questions asked before /readyz says "warm" share the cores with it.
        waited = server.wait_warm(warm_s)
        print(f"  [{mode}] server warm after {waited:.0f} s", flush=True)
        ask(browser, server.url, WARM_QUESTION, timeout_s)  # warm the page bundle
        rows = []
        for i, question in enumerate(items, 1):
            row = ask(browser, server.url, question, timeout_s)
            rows.append({"question": question, **row})
            model_first = f"{row['first_model_token']:.2f} s" if row["first_model_token"] is not None else "-"
            print(f"  [{mode} {i}/{len(items)}] sources {row['sources']:.2f} s, first text {row['first_text']:.2f} s, "
                  f"first model token {model_first}, complete {row['complete']:.2f} s"
                  f"{' (abstained)' if row['abstained'] else ''}", flush=True)
        return rows
    finally:
        server.stop()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data-dir", type=Path, required=True, help="seed index folder (ingested when empty)")
    parser.add_argument("--questions", type=int, default=20)
    parser.add_argument("--modes", default="attributed,nostates,context", help=f"comma list of {', '.join(MODES)}")
    parser.add_argument("--timeout", type=float, default=240.0, help="seconds to wait for one stage")
    parser.add_argument("--warm", type=float, default=300.0, help="most seconds to wait for the server's warm-up")
    parser.add_argument("--json", type=Path, help="also write the rows and figures here")
    args = parser.parse_args()
    from playwright.sync_api import sync_playwright

    ensure_index(args.data_dir)
    items = questions(args.questions)
    if "attributed" in args.modes.split(","):
        build_states(args.data_dir, items)
    results: dict[str, list[dict]] = {}
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox", "--disable-gpu"])
        for mode in args.modes.split(","):
            print(f"mode {mode}: {len(items)} questions", flush=True)
            results[mode] = run_mode(browser, args.data_dir, mode, items, args.timeout, args.warm)
        browser.close()
    figures = {mode: {stage: summary([r[stage] for r in rows if r[stage] is not None]) for stage in TARGETS_S}
               for mode, rows in results.items()}
    print(f"\nEnter -> ... in headless Chromium, {len(items)} questions, load average {os.getloadavg()[0]:.2f}")
    print("| stage | target p50 | " + " | ".join(f"{m} p50 | {m} p95" for m in figures) + " |")
    print("|---|---|" + "---|---|" * len(figures))
    for stage, target in TARGETS_S.items():
        cells = " | ".join(f"{f[stage]['p50']:.2f} s | {f[stage]['p95']:.2f} s (n={f[stage]['n']})"
                           for f in figures.values())
        print(f"| {stage} | {target:g} s | {cells} |")
    for mode, rows in results.items():
        print(f"{mode}: abstained on {sum(r['abstained'] for r in rows)}/{len(rows)}")
    if args.json:
        args.json.write_text(json.dumps({"figures": figures, "rows": results}, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
