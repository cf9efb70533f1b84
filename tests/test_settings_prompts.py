"""Settings from the environment, and prompt templates validated at start-up."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from importlib import resources
from pathlib import Path

import pytest
from conftest import assert_clean_failure, make_settings, run_cli

from assistant.core.errors import ConfigError
from assistant.core.settings import Settings
from assistant.engine import Assistant

SHIPPED_PROMPTS = Path(str(resources.files("prompts")))


def test_environment_variables_reach_the_nested_settings(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # no stray .env
    monkeypatch.setenv("ASSISTANT_LLM_MODEL", "openai/gpt-4o-mini")
    monkeypatch.setenv("ASSISTANT_DATA_DIR", str(tmp_path / "state"))
    monkeypatch.setenv("ASSISTANT_QDRANT_URL", "http://qdrant.internal:6333")
    monkeypatch.setenv("ASSISTANT_RETRIEVAL_TOP_K", "7")
    settings = Settings()
    assert settings.llm.model == "openai/gpt-4o-mini"
    assert settings.data_dir == tmp_path / "state"
    assert settings.qdrant.url == "http://qdrant.internal:6333"
    assert settings.retrieval.top_k == 7


def test_dotenv_file_in_the_working_directory_is_read(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / ".env").write_text("ASSISTANT_LLM_MODEL=none\nASSISTANT_QDRANT_COLLECTION=demo\n", encoding="utf-8")
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "xdg"))
    settings = Settings()
    assert settings.llm.model == "none"
    assert settings.qdrant_path == tmp_path / "xdg" / "paper-assistant" / "qdrant" / "demo"


def test_defaults_are_embedded_and_offline(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "xdg"))
    settings = Settings()
    assert settings.qdrant.url is None
    assert settings.llm.model.startswith("local/")
    home = tmp_path / "xdg" / "paper-assistant"
    assert settings.data_dir == home and settings.llm.gguf_path.parent == home / "models"


def test_importing_the_local_model_module_first_keeps_litellm_off_the_network(tmp_path):
    """A library user's first import can be any module; the package sets the offline switches before it."""
    env = {k: v for k, v in os.environ.items()
           if k not in ("LITELLM_LOCAL_MODEL_COST_MAP", "TIKTOKEN_CACHE_DIR", "HF_HUB_OFFLINE")}
    code = ("import os, assistant.answer.local; "
            "print(os.environ['LITELLM_LOCAL_MODEL_COST_MAP'], os.environ['HF_HUB_OFFLINE'], "
            "os.path.isdir(os.environ['TIKTOKEN_CACHE_DIR']))")
    done = subprocess.run([sys.executable, "-c", code], env=env, cwd=tmp_path, capture_output=True, text=True,
                          timeout=120)
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["True", "1", "True"]
    assert "model cost map" not in done.stderr


def test_relative_paths_a_user_sets_are_made_absolute_once(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("ASSISTANT_DATA_DIR", "state")
    settings = Settings()
    assert settings.data_dir == tmp_path / "state"
    monkeypatch.chdir("/")
    assert settings.resolved_paths()["index"] == str(tmp_path / "state" / "qdrant" / "papers")


def prompts_with(tmp_path: Path, name: str, text: str) -> Path:
    folder = tmp_path / "prompts"
    shutil.copytree(SHIPPED_PROMPTS, folder, ignore=shutil.ignore_patterns("*.py", "__pycache__"))
    (folder / name).write_text(text, encoding="utf-8")
    return folder


@pytest.mark.parametrize(("name", "text", "slot"), [
    ("answer.txt", "Sources: (none)\n\nQuestion: {question}\n", "{context}"),
    ("answer.txt", "Sources:\n{context}\n", "{question}"),
    ("condense.txt", "Conversation:\n{history}\n", "{question}"),
])
def test_prompt_missing_a_slot_fails_at_construction_naming_the_file(tmp_path, embedder, sparse, name, text, slot):
    settings = make_settings(tmp_path / "data", prompts_dir=prompts_with(tmp_path, name, text))
    with pytest.raises(ConfigError) as caught:
        Assistant(settings, embedder=embedder, sparse=sparse, chat_model=None)
    message = str(caught.value)
    assert str(tmp_path / "prompts" / name) in message and slot in message


def test_missing_prompt_file_fails_at_construction(tmp_path, embedder, sparse):
    folder = prompts_with(tmp_path, "answer.txt", "{context}{question}")
    (folder / "system.txt").unlink()
    with pytest.raises(ConfigError, match="system.txt"):
        Assistant(make_settings(tmp_path / "data", prompts_dir=folder), embedder=embedder, sparse=sparse,
                  chat_model=None)


def test_cli_reports_a_broken_prompt_in_one_line(tmp_path):
    folder = prompts_with(tmp_path, "answer.txt", "Question: {question}\n")
    result = run_cli("ask", "anything", data_dir=tmp_path / "data", env={"ASSISTANT_PROMPTS_DIR": str(folder)})
    lines = assert_clean_failure(result, 1)
    assert len(lines) == 1 and "answer.txt" in lines[0] and "{context}" in lines[0]
