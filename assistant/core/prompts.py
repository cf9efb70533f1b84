"""Prompt templates, loaded and validated once at start-up."""

from __future__ import annotations

import string
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

from assistant.core.errors import ConfigError

REQUIRED_SLOTS = {
    "system": set(),
    "answer": {"context", "question"},
    "condense": {"history", "question"},
    "paper_system": set(),
    "paper_answer": {"question", "title", "abstract"},
    "paper_list_system": set(),
    "paper_list_answer": {"question", "title", "evidence"},
}


@dataclass(frozen=True)
class Prompts:
    system: str  # the whole-context answer ("context" answer mode)
    answer: str
    condense: str
    paper_system: str  # one paper's statement from its abstract ("attributed" answer mode)
    paper_answer: str
    paper_list_system: str  # one listed paper's sentence from its 3 evidence sentences ("which papers ...")
    paper_list_answer: str


def load_prompts(directory: Path | None = None) -> Prompts:
    """Read every template in REQUIRED_SLOTS; a missing file or slot is a start-up error."""
    return Prompts(**{name: load_template(name, slots, directory) for name, slots in REQUIRED_SLOTS.items()})


def load_template(name: str, slots: set[str], directory: Path | None = None) -> str:
    """One template `name`.txt that must use exactly `slots`; anything else is a ConfigError naming the file."""
    path = (directory or Path(str(resources.files("prompts")))) / f"{name}.txt"
    if not path.is_file():
        raise ConfigError(f"prompt template {path} is missing")
    text = path.read_text(encoding="utf-8")
    try:
        found = {field for _, field, _, _ in string.Formatter().parse(text) if field is not None}
    except ValueError as exc:
        raise ConfigError(f"prompt template {path} is malformed: {exc}") from exc
    if missing := slots - found:
        names = ", ".join(sorted("{" + slot + "}" for slot in missing))
        raise ConfigError(f"prompt template {path} lacks the slot(s) {names}")
    if extra := found - slots:
        raise ConfigError(f"prompt template {path} has unknown slot(s) {', '.join(sorted(extra))}")
    return text.strip()
