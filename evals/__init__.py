"""The offline evaluation harness: datasets, metrics, runs through the engine, reports.

`evaluate` is the one entry point the CLI's `assistant eval` calls.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from assistant.core.errors import ConfigError
from assistant.core.settings import Settings
from evals.dataset import CASE_TYPES, EvalCase
from evals.report import metric_table, write_report
from evals.run import EvalOptions, EvalReport, check_gate, run_eval

__all__ = ["CASE_TYPES", "EvalOptions", "EvalOutcome", "evaluate", "metric_table"]


@dataclass
class EvalOutcome:
    report: EvalReport
    paths: list[Path]
    gate_failures: list[str]


def evaluate(settings: Settings, dataset: Path, options: EvalOptions, out_dir: Path, gate: Path | None = None,
             progress: Callable[[str, int], Callable[[EvalCase], None]] | None = None) -> EvalOutcome:
    """Run the dataset, write report.json/.md and plots to ``out_dir``, and check the gate file if given."""
    if unknown := [t for t in options.types if t not in CASE_TYPES]:
        raise ConfigError(f"--types: unknown type(s) {', '.join(unknown)}; choose from {', '.join(CASE_TYPES)}")
    report = run_eval(settings, dataset, options, progress)
    paths = write_report(report, out_dir)
    return EvalOutcome(report, paths, check_gate(report, gate) if gate else [])
