"""The `assistant` command as a user runs it: JSON contracts, one-line errors, exit codes, locked index.

Every command runs in a subprocess with its own data dir (the embedded index allows one process).
"""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest
from conftest import GPTQ_TITLE, assert_clean_failure, assistant_command, paper_by_title, run_cli, write_jsonl

from assistant.core.models import Paper
from assistant.index.edge import EdgeIndex

CORPUS_TITLES = [GPTQ_TITLE, "Pointer Networks", "A ConvNet for the 2020s",
                 "Long Range Arena: A Benchmark for Efficient Transformers"]
QUESTION = "How can a 175-billion-parameter GPT model be quantized to 3 or 4 bits per weight?"
INGEST_KEYS = {"papers_seen", "papers_new", "papers_updated", "papers_unchanged", "chunks_written", "errors"}
SEARCH_KEYS = {"rank", "paper_id", "title", "score", "snippet", "feeds"}
ASK_KEYS = {"answer", "citations", "abstained", "model", "timings_ms"}
CITATION_KEYS = {"n", "paper_id", "title", "feeds"}


def record(paper: Paper, n: int) -> dict:
    return {"title": paper.title, "abstract": paper.abstract, "url": f"https://arxiv.org/abs/2401.0000{n}",
            "date": "2024-03-13"}


@pytest.fixture(scope="module")
def corpus_dir(tmp_path_factory, seed_papers) -> tuple[Path, dict]:
    """A data dir holding four seed papers, ingested through the CLI; returns it and the ingest JSON."""
    root = tmp_path_factory.mktemp("cli-corpus")
    source = write_jsonl(root / "papers.jsonl",
                         [record(paper_by_title(seed_papers, t), n) for n, t in enumerate(CORPUS_TITLES)])
    result = run_cli("ingest", "--json", str(source), data_dir=root / "data")
    assert result.code == 0, result.stderr
    return root / "data", result.json()


def test_ingest_json_has_exactly_the_contract_keys(corpus_dir):
    _, report = corpus_dir
    assert set(report) == INGEST_KEYS
    assert report["papers_seen"] == report["papers_new"] == len(CORPUS_TITLES)
    assert report["papers_updated"] == report["papers_unchanged"] == 0
    assert report["chunks_written"] >= len(CORPUS_TITLES)
    assert report["errors"] == []


def test_search_json_lists_ranked_papers_with_the_contract_fields(corpus_dir):
    data_dir, _ = corpus_dir
    result = run_cli("search", "quantize GPT weights to 3 bits", "-k", "3", "--json", data_dir=data_dir)
    assert result.code == 0, result.stderr
    rows = result.json()
    assert isinstance(rows, list) and len(rows) == 3
    for row in rows:
        assert set(row) == SEARCH_KEYS
        assert isinstance(row["paper_id"], str) and isinstance(row["snippet"], str) and row["snippet"]
        assert row["feeds"] == ["2024-03-13"]
    assert [row["rank"] for row in rows] == [1, 2, 3]
    assert rows[0]["title"] == GPTQ_TITLE
    scores = [row["score"] for row in rows]
    assert scores == sorted(scores, reverse=True)


def test_ask_prints_the_sources_before_the_answer(corpus_dir):
    data_dir, _ = corpus_dir
    result = run_cli("ask", QUESTION, data_dir=data_dir)
    assert result.code == 0, result.stderr
    sources, _, answer = result.stdout.partition("The most relevant papers in the collection:")
    assert sources.startswith("Reading ") and f"[1] {GPTQ_TITLE}" in sources  # listed before any answer text
    assert "[1]" in answer


def test_ask_json_has_answer_citations_and_timings(corpus_dir):
    data_dir, _ = corpus_dir
    result = run_cli("ask", QUESTION, "--json", data_dir=data_dir)
    assert result.code == 0, result.stderr
    answer = result.json()
    assert ASK_KEYS <= set(answer)
    assert answer["abstained"] is False and answer["model"] == "none"
    assert isinstance(answer["answer"], str) and "[1]" in answer["answer"]
    assert answer["citations"], answer
    for citation in answer["citations"]:
        assert CITATION_KEYS <= set(citation)
        assert isinstance(citation["n"], int) and f"[{citation['n']}]" in answer["answer"]
        assert citation["url"].startswith("https://arxiv.org/abs/") and citation["feeds"] == ["2024-03-13"]
    assert answer["citations"][0]["title"] == GPTQ_TITLE
    assert answer["timings_ms"]["total"] > 0


# --- malformed inputs: one line per problem, the valid records still stored --------------------

GOOD = [{"title": "Tidal Kelp Forests as Carbon Sinks", "abstract": "We measure carbon uptake of kelp forests."},
        {"title": "Glacier Melt Forecasting with Radar", "abstract": "We forecast glacier melt from radar data."}]
MISSING_ABSTRACT = [{"title": "Desert Beetle Fog Harvesting", "abstract": "Beetles harvest fog on their backs."},
                    {"title": "A Record Without Its Abstract"},
                    {"title": "Volcanic Ash Dispersion Models", "abstract": "We model ash plumes after eruptions."}]
UTF8_LINES = [b'{"title": "Coral Reef Acoustics", "abstract": "Healthy reefs sound louder at night."}',
              b'{"title": "Broken \xff Encoding", "abstract": "This line is not UTF-8."}',
              b'{"title": "Mangrove Root Hydraulics", "abstract": "Mangrove roots filter salt water."}']
VALID_RECORDS = 6  # GOOD (2) + MISSING_ABSTRACT lines 1 and 3 + UTF8_LINES lines 1 and 3
# file name -> the line the error must name (None: a problem with the whole file)
BAD_FILES = {"image.jsonl": None, "empty.jsonl": None, "missing_abstract.jsonl": 2, "no_title.csv": 1,
             "bad_utf8.jsonl": 2}


def write_malformed_inputs(folder: Path) -> list[Path]:
    folder.mkdir()
    write_jsonl(folder / "good.jsonl", GOOD)
    (folder / "image.jsonl").write_bytes(b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" + bytes(range(256)) * 8)
    (folder / "empty.jsonl").write_bytes(b"")
    write_jsonl(folder / "missing_abstract.jsonl", MISSING_ABSTRACT)
    (folder / "no_title.csv").write_text("name,abstract\nSome paper,Some abstract\n", encoding="utf-8")
    (folder / "bad_utf8.jsonl").write_bytes(b"\n".join(UTF8_LINES) + b"\n")
    return [folder / "good.jsonl", *(folder / name for name in BAD_FILES)]


@pytest.fixture(scope="module")
def malformed_json_run(tmp_path_factory):
    root = tmp_path_factory.mktemp("malformed-json")
    files = write_malformed_inputs(root / "inputs")
    result = run_cli("ingest", "--json", *map(str, files), data_dir=root / "data")
    return result, root


@pytest.mark.parametrize("name", list(BAD_FILES))
def test_each_malformed_file_gives_one_error_naming_file_and_line(malformed_json_run, name):
    result, root = malformed_json_run
    assert_clean_failure(result, 1)
    errors = [e for e in result.json()["errors"] if Path(e.split(":")[0]).name == name]
    assert len(errors) == 1, result.json()["errors"]
    error = errors[0]
    assert "\n" not in error
    path = str(root / "inputs" / name)
    line = BAD_FILES[name]
    if line is None:
        assert error.startswith(f"{path}: ") and len(error) > len(path) + 5
    else:
        assert error.startswith(f"{path}:{line}: ")


def test_valid_records_of_a_run_with_bad_files_are_stored(malformed_json_run):
    result, root = malformed_json_run
    report = result.json()
    assert len(report["errors"]) == len(BAD_FILES)
    assert report["papers_new"] == report["papers_seen"] == VALID_RECORDS
    found = run_cli("search", "ash plumes after volcanic eruptions", "-k", "1", "--json", data_dir=root / "data")
    assert found.code == 0 and found.json()[0]["title"] == "Volcanic Ash Dispersion Models"


def test_malformed_files_without_json_print_one_stderr_line_each(tmp_path):
    files = write_malformed_inputs(tmp_path / "inputs")
    result = run_cli("ingest", *map(str, files), data_dir=tmp_path / "data")
    lines = assert_clean_failure(result, 1)
    assert len(lines) == len(BAD_FILES), lines
    for name, line in BAD_FILES.items():
        where = f"{tmp_path / 'inputs' / name}" + (f":{line}:" if line else ":")
        assert sum(text.startswith(f"error: {where}") for text in lines) == 1, (name, lines)
    assert f"{VALID_RECORDS} new" in result.stdout


def test_missing_path_is_one_line_and_exit_1(tmp_path):
    missing = tmp_path / "nowhere" / "papers.jsonl"
    result = run_cli("ingest", str(missing), data_dir=tmp_path / "data")
    lines = assert_clean_failure(result, 1)
    assert len(lines) == 1 and str(missing) in lines[0]


# --- environment problems and settings ----------------------------------------------------------


def test_locked_index_says_another_process_holds_it_and_exits_2(tmp_path):
    data_dir = tmp_path / "data"
    holder = EdgeIndex(data_dir / "qdrant" / "papers", 384)
    try:
        result = run_cli("search", "x", data_dir=data_dir)
    finally:
        holder.close()
    lines = assert_clean_failure(result, 2)
    assert len(lines) == 1, lines
    assert "another process" in lines[0] and "serve" in lines[0]


def test_config_show_masks_secrets(tmp_path):
    secrets = {"ASSISTANT_QDRANT_API_KEY": "s3cret-qdrant", "ASSISTANT_LLM_API_KEY": "s3cret-llm"}
    result = run_cli("config", "show", data_dir=tmp_path / "data", env=secrets)
    assert result.code == 0, result.stderr
    assert "s3cret" not in result.stdout and "s3cret" not in result.stderr
    shown = json.loads(result.stdout)
    assert shown["qdrant"]["api_key"] and shown["llm"]["api_key"]  # set, but masked
    assert shown["data_dir"] == str(tmp_path / "data") and shown["llm"]["model"] == "none"


def test_empty_question_is_a_one_line_user_error(tmp_path):
    result = run_cli("search", "   ", data_dir=tmp_path / "data")
    lines = assert_clean_failure(result, 1)
    assert lines == ["error: the question is empty: type what you want to know"]


def test_a_missing_index_is_an_error_naming_where_it_looked_not_a_new_empty_one(tmp_path):
    data_dir = tmp_path / "nowhere"
    for command in (["search", "quantization"], ["ask", "what is GPTQ?"]):
        lines = assert_clean_failure(run_cli(*command, data_dir=data_dir), 2)
        assert len(lines) == 1 and str(data_dir / "qdrant" / "papers") in lines[0]
        assert "assistant ingest" in lines[0]
    assert not data_dir.exists(), "a search must not create an index"


def test_state_defaults_to_one_per_user_folder_whatever_the_working_directory(tmp_path):
    env = {"XDG_DATA_HOME": str(tmp_path / "xdg")}
    full_env = {k: v for k, v in os.environ.items() if not k.startswith("ASSISTANT_")} | env
    shown = []
    for cwd in (tmp_path, tmp_path / "elsewhere"):
        cwd.mkdir(exist_ok=True)
        done = subprocess.run([*assistant_command(), "config", "show"], capture_output=True, text=True,
                              env=full_env, cwd=cwd, timeout=120)
        assert done.returncode == 0, done.stderr
        shown.append(json.loads(done.stdout)["paths"])
    home = tmp_path / "xdg" / "paper-assistant"
    assert shown[0] == shown[1]
    assert shown[0]["data_dir"] == str(home) and shown[0]["index"] == str(home / "qdrant" / "papers")
    assert shown[0]["model"] == str(home / "models" / "qwen2.5-coder-1.5b-instruct-q4_k_m.gguf")


def test_an_unexpected_error_is_one_line_and_its_traceback_goes_to_the_error_log(tmp_path, monkeypatch):
    from typer.testing import CliRunner

    from assistant.surfaces import cli

    class Broken:
        def search(self, *args, **kwargs):
            return 1 / 0

        def close(self):
            pass

    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path))
    monkeypatch.setattr(cli, "_engine", lambda *args, **kwargs: Broken())
    result = CliRunner().invoke(cli.app, ["search", "quantization"])
    log = tmp_path / "paper-assistant" / "errors.log"
    assert result.exit_code == 2
    assert result.output.strip().splitlines() == [
        f"error: unexpected ZeroDivisionError: division by zero (traceback in {log})"]
    assert "Traceback" in log.read_text() and "1 / 0" in log.read_text()


def test_the_web_chat_shows_no_internals_of_an_unexpected_error():
    from assistant.core.errors import InvalidQuery
    from assistant.surfaces.web.views import error_text

    assert "secret path /etc" not in error_text(RuntimeError("secret path /etc"))
    assert error_text(RuntimeError("x")).startswith("Sorry, something unexpected went wrong")
    assert error_text(InvalidQuery("the question is too long")) == "I couldn't use that: the question is too long"


def test_the_question_limit_applies_to_the_cli_too(tmp_path):
    result = run_cli("ask", "why " * 10, data_dir=tmp_path / "data", env={"ASSISTANT_MAX_QUESTION_CHARS": "20"})
    assert assert_clean_failure(result, 1) == [
        "error: the question is too long: 40 characters, the limit is 20"]
