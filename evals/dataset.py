"""Evaluation datasets: one JSON object per line, validated against the papers in the index."""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, Field, ValidationError, model_validator

from assistant.core.errors import AssistantError
from assistant.core.text import normalise_title

# "list": a topic question ("which papers ...") whose gold set is every right paper; "filter": a question
# whose wording states a filter (a feed date, "with code on GitHub"), gold = the papers that pass it.
CaseType = Literal["single", "multi", "unanswerable", "followup", "adversarial", "list", "filter"]
CASE_TYPES: tuple[str, ...] = ("single", "multi", "unanswerable", "followup", "adversarial", "list", "filter")
Split = Literal["tune", "heldout"]


class DatasetError(AssistantError):
    """A dataset line that cannot be evaluated (bad JSON, missing field, unknown gold title)."""


class EvalCase(BaseModel):
    """One question (or conversation) with the papers and facts a correct answer rests on."""

    id: str = Field(min_length=1)
    type: CaseType
    question: str | None = None
    turns: list[str] | None = Field(default=None, description="A conversation; the last turn is evaluated.")
    gold_titles: list[str] = Field(default_factory=list)
    answer_facts: list[str] = Field(default_factory=list)
    expect: str | None = None
    must_not_contain: list[str] = Field(
        default_factory=list, description="Strings whose presence means an injected instruction was obeyed."
    )
    split: Split = Field(default="tune", description="'heldout' cases are kept out of tuning.")
    overlap: float | None = Field(
        default=None, ge=0.0, le=1.0,
        description="Share of the question's content words found in the gold title+abstract (single cases).",
    )
    rule: str | None = Field(default=None, description="How the gold set of a list/filter case was computed.")
    filters: dict | None = Field(
        default=None,
        description="The filter a filter case's question states, e.g. {'feeds': ['Mar 13'], 'has_code': true}.",
    )

    @model_validator(mode="after")
    def _one_question(self) -> EvalCase:
        if (self.question is None) == (self.turns is None):
            raise ValueError("give exactly one of 'question' or 'turns'")
        if self.turns is not None and not self.turns:
            raise ValueError("'turns' is empty")
        if self.type == "followup" and (self.turns is None or len(self.turns) < 2):
            raise ValueError("a followup case needs 'turns' with at least two questions")
        return self

    @property
    def questions(self) -> list[str]:
        return self.turns if self.turns is not None else [self.question or ""]

    @property
    def answerable(self) -> bool:
        return bool(self.gold_titles)


def load_dataset(path: Path, known_titles: Iterable[str] | None = None) -> list[EvalCase]:
    """Parse and check a dataset; any problem is a DatasetError naming the file and line."""
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError) as exc:
        raise DatasetError(f"{path}: cannot read the dataset ({exc.__class__.__name__}: {exc})") from exc
    known = {normalise_title(t) for t in known_titles} if known_titles is not None else None
    cases, seen = [], {}
    for number, line in enumerate(lines, 1):
        if not line.strip():
            continue
        where = f"{path}:{number}"
        try:
            case = EvalCase.model_validate_json(line)
        except ValidationError as exc:
            raise DatasetError(f"{where}: {_first_error(exc)}") from exc
        if case.id in seen:
            raise DatasetError(f"{where}: id {case.id!r} already used on line {seen[case.id]}")
        seen[case.id] = number
        for title in case.gold_titles if known is not None else ():
            if normalise_title(title) not in known:
                raise DatasetError(f"{where}: gold title {title!r} is not a paper in the index")
        cases.append(case)
    if not cases:
        raise DatasetError(f"{path}: the dataset has no cases")
    return cases


def dataset_digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _first_error(exc: ValidationError) -> str:
    error = exc.errors()[0]
    if error["type"] == "json_invalid":
        return f"not valid JSON ({error['ctx'].get('error', 'parse error')})"
    field = ".".join(str(p) for p in error["loc"]) or "case"
    return f"{field}: {error['msg']}"

