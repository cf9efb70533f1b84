"""Shared fixtures: the real models, one seed ingest per session, and helpers to run the CLI.

The offline switches are applied before anything imports LiteLLM, tiktoken or the hub client.
The seed corpus is embedded once (the slow part of the suite) into a temporary data dir; tests
that change an index use their own small corpus, or restore the seed index before they return.
"""

from __future__ import annotations

from assistant.core.offline import apply_offline_defaults

apply_offline_defaults()

import json  # noqa: E402
import os  # noqa: E402
import re  # noqa: E402
import subprocess  # noqa: E402
import sys  # noqa: E402
from dataclasses import dataclass  # noqa: E402
from pathlib import Path  # noqa: E402

import pytest  # noqa: E402

from assistant.core.models import IngestReport, Paper  # noqa: E402
from assistant.core.settings import Settings  # noqa: E402

# A developer's own ASSISTANT_* variables (a Qdrant URL, a hosted model) must not leak into the suite.
for _name in [name for name in os.environ if name.startswith("ASSISTANT_")]:
    del os.environ[_name]

REPO = Path(__file__).resolve().parents[1]
FEEDS = REPO / "data" / "feeds"
DEV_SET = REPO / "evals" / "datasets" / "dev.jsonl"
SEED_PAPERS = 301
GPTQ_TITLE = "GPTQ: Accurate Post-Training Quantization for Generative Pre-trained Transformers"


def pytest_collection_modifyitems(items):
    """Tests on the seed index share one full ingest: mark them `slow` so `-m "not slow"` skips it."""
    for item in items:
        if "seed" in getattr(item, "fixturenames", ()):
            item.add_marker(pytest.mark.slow)


def make_settings(data_dir: Path, **overrides) -> Settings:
    """Settings for a test: no .env file, an explicit data dir, extractive answers unless overridden."""
    overrides.setdefault("llm", {"model": "none"})
    return Settings(_env_file=None, data_dir=data_dir, **overrides)


@pytest.fixture(scope="session")
def embedder():
    from assistant.index.embedder import MiniLMEmbedder

    return MiniLMEmbedder()


@pytest.fixture(scope="session")
def sparse():
    from assistant.index.sparse import sparse_encoder

    return sparse_encoder()


@dataclass
class SeedIndex:
    """The one Assistant over the seed feeds, and what its first ingest reported."""

    assistant: object
    report: IngestReport
    settings: Settings


@pytest.fixture(scope="session")
def seed(tmp_path_factory, embedder, sparse) -> SeedIndex:
    from assistant.engine import Assistant

    settings = make_settings(tmp_path_factory.mktemp("seed-data"))
    bot = Assistant(settings, embedder=embedder, sparse=sparse, chat_model=None, create_index=True)
    report = bot.ingest([FEEDS])
    yield SeedIndex(bot, report, settings)
    bot.close()


@pytest.fixture(scope="session")
def seed_papers() -> dict[str, Paper]:
    """The seed feeds parsed and merged the way ingest does it (paper_id -> Paper)."""
    from ingest import dedupe, iter_records, iter_source_files

    records = [r for path in iter_source_files([FEEDS]) for r in iter_records(path) if isinstance(r, Paper)]
    return dedupe(records)


def paper_by_title(papers: dict[str, Paper], title: str) -> Paper:
    return next(p for p in papers.values() if p.title == title)


def quoted_after(text: str, statement: str) -> list[str]:
    """The abstract sentences an attributed answer quotes after the model's ``statement`` (what it left out of
    the evidence); fails unless the text is that statement followed by nothing but such marked quotes."""
    assert text.startswith(statement), text
    rest = text[len(statement):]
    quotes = re.findall(r" “([^”]+)” \[(\d+)\]", rest)
    assert "".join(f" “{quote}” [{n}]" for quote, n in quotes) == rest, rest
    return [quote for quote, _ in quotes]


def write_jsonl(path: Path, records: list[dict]) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in records), encoding="utf-8")
    return path


# --- the command line, as a user runs it ------------------------------------------------------


def assistant_command() -> list[str]:
    script = Path(sys.executable).with_name("assistant")
    return [str(script)] if script.exists() else [sys.executable, "-m", "assistant"]


@dataclass
class CliResult:
    code: int
    stdout: str
    stderr: str

    def json(self):
        return json.loads(self.stdout)


def run_cli(*args: str, data_dir: Path, env: dict[str, str] | None = None, timeout: float = 600) -> CliResult:
    """Run `assistant ARGS` in a subprocess with its own data dir and the extractive model."""
    full_env = {k: v for k, v in os.environ.items() if not k.startswith("ASSISTANT_")}
    full_env.update({"ASSISTANT_DATA_DIR": str(data_dir), "ASSISTANT_LLM_MODEL": "none", **(env or {})})
    done = subprocess.run([*assistant_command(), *args], capture_output=True, text=True, env=full_env,
                          cwd=data_dir.parent, timeout=timeout)
    return CliResult(done.returncode, done.stdout, done.stderr)


def assert_clean_failure(result: CliResult, code: int) -> list[str]:
    """The contract for a failed command: the exit code, no traceback, and non-empty one-line messages."""
    assert result.code == code, (result.code, result.stdout, result.stderr)
    assert "Traceback" not in result.stderr and "Traceback" not in result.stdout, result.stderr
    return [line for line in result.stderr.splitlines() if line.strip()]
