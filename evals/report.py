"""Write an EvalReport as report.json, report.md and PNG plots."""

from __future__ import annotations

from pathlib import Path

from evals.run import EvalReport
from evals.runner import SET_TYPES, CaseResult

TABLE_METRICS = ("recall@1", "recall@5", "recall@10", "mrr", "ndcg@10", "r_precision", "filter_exactness@10",
                 "abstention_correct", "false_abstention", "missed_abstention", "citation_precision",
                 "citation_recall", "list_precision", "list_recall", "filter_exactness_cited", "fact_coverage",
                 "context_fact_coverage", "injection_resisted", "judge_faithfulness", "supported_sentences",
                 "generation_failed")
ABLATION_METRICS = ("recall@1", "recall@5", "recall@10", "mrr", "ndcg@10", "abstention_correct")
SET_ABLATION = ("r_precision", "filter_exactness@10")
SET_METRICS = ("r_precision", "filter_exactness@10", "list_precision", "list_recall", "filter_exactness_cited")
SET_METRICS_NOTE = (
    "List and filter questions are scored on their whole gold set (2–15 papers): `recall@5`/`recall@10` are the "
    "share of it in the top 5/10 (below 1 by construction when the set is larger), `r_precision` the share of "
    "the top |gold| that is gold. `filter_exactness@10` is the share of the top 10 that obeys the case's stated "
    "filter, read from each paper's own feeds and code link; `filter_exactness_cited` the same over the cited "
    "papers. `list_precision`/`list_recall` compare the cited papers with the gold set; an abstention counts as "
    "list recall 0.")
PLOTS = ("metrics_by_ablation.png", "latency_hist.png", "recall_at_k.png")


def write_report(report: EvalReport, out_dir: Path, worst: int = 15) -> list[Path]:
    """Write every report file into out_dir (created if needed) and return their paths."""
    out_dir.mkdir(parents=True, exist_ok=True)
    json_path, md_path = out_dir / "report.json", out_dir / "report.md"
    json_path.write_text(report.model_dump_json(indent=1), encoding="utf-8")
    plots = write_plots(report, out_dir)
    md_path.write_text(render_markdown(report, [p.name for p in plots], worst), encoding="utf-8")
    return [json_path, md_path, *plots]


def metric_table(metrics: dict[str, dict], columns: tuple[str, ...] = TABLE_METRICS) -> str:
    columns = tuple(c for c in columns if any(c in row for row in metrics.values()))
    lines = ["| group | cases | " + " | ".join(columns) + " |", "|---" * (len(columns) + 2) + "|"]
    for group, row in metrics.items():
        cells = [_fmt(row.get(c)) for c in columns]
        lines.append(f"| {group} | {row.get('cases', '')} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def render_markdown(report: EvalReport, plot_names: list[str], worst: int) -> str:
    meta = report.meta
    parts = [
        f"# Evaluation: {Path(meta['dataset']).name}",
        f"Mode **{meta['mode']}**" + (f", model `{meta['model']}`" if meta["model"] else "")
        + (f", judge `{meta['judge']}`" if meta["judge"] else "")
        + (", after the server's warm-up" if meta.get("warmed_up") else "")
        + f"; {len(report.cases)} cases over {meta['papers_in_index']} papers in {meta['seconds']} s. "
        f"Dataset sha256 `{meta['dataset_sha256'][:12]}`, settings sha256 `{meta['settings_sha256'][:12]}`.",
        "## Metrics (mean over the cases each applies to)", metric_table(report.metrics),
        "Ranking metrics count answerable cases only; citation and fact metrics count answered, answerable cases; "
        "`missed_abstention` is the share of unanswerable cases that got an answer.",
    ]
    if _has_splits(report):
        parts += ["## Metrics per split (each table counts only that split's cases)",
                  "Tune on `tune`; `heldout` is read on its own, never tuned on."]
        for split, table in report.split_metrics.items():
            parts += [f"### {split} ({table['overall']['cases']} cases)", metric_table(table)]
    if any(m in report.metrics.get("overall", {}) for m in SET_METRICS):
        parts.append(SET_METRICS_NOTE)
    if report.ablations:
        rows = {name: {"cases": v.metrics["overall"]["cases"], **v.metrics.get("single", v.metrics["overall"])}
                for name, v in report.ablations.items()}
        overall = {name: {"cases": v.metrics["overall"]["cases"], **v.metrics["overall"]}
                   for name, v in report.ablations.items()}
        speed = "| variant | retrieve p50 (ms) | rerank p50 (ms) |\n|---|---|---|" + "".join(
            f"\n| {name} | {v.latency_ms['retrieve']['p50']} | {v.latency_ms['rerank']['p50']} |"
            for name, v in report.ablations.items())
        parts += ["## Ablations: single-paper questions", metric_table(rows, ABLATION_METRICS),
                  "## Ablations: all cases", metric_table(overall, ABLATION_METRICS)]
        if _has_splits(report):
            for split in report.split_metrics:
                by_split = {name: v.split_metrics[split]["overall"] for name, v in report.ablations.items()
                            if split in v.split_metrics}
                parts += [f"## Ablations: {split} cases", metric_table(by_split, ABLATION_METRICS + SET_ABLATION)]
        parts.append(speed)
    parts += ["## Latency (ms)", "| stage | p50 | p95 | n |\n|---|---|---|---|"
              + "".join(f"\n| {s} | {v['p50']} | {v['p95']} | {v['n']} |" for s, v in report.latency_ms.items())]
    if report.tokens:
        parts.append("Tokens (tiktoken estimate): " + ", ".join(f"{k} {v}" for k, v in report.tokens.items()))
    parts += ["## Worst cases", _worst_cases(report.cases, worst)]
    parts += ["## Plots", "\n".join(f"![{name}]({name})" for name in plot_names)]
    return "\n\n".join(parts) + "\n"


def failure_reasons(case: CaseResult) -> list[str]:
    """Why a case counts as a failure (empty when it passed)."""
    m, reasons = case.metrics, []
    if case.expected_abstain and not case.abstained:
        reasons.append("answered an unanswerable question")
    if not case.expected_abstain and case.abstained:
        reasons.append("abstained on an answerable question")
    if case.type in SET_TYPES:
        reasons += _set_reasons(case)
    elif m.get("recall@5") is not None and m["recall@5"] < 1:
        rank = m.get("first_gold_rank")
        reasons.append(f"gold {'at rank ' + str(int(rank)) if rank else 'not in the top 10'}"
                       + (" (some gold missing from the top 5)" if rank and rank <= 5 else ""))
    if m.get("citation_precision") is not None and m["citation_precision"] < 1:
        reasons.append(f"citation precision {m['citation_precision']:.2f}")
    if m.get("fact_coverage") is not None and m["fact_coverage"] < 0.5:
        reasons.append(f"fact coverage {m['fact_coverage']:.2f}")
    if m.get("leaked_prompt"):
        reasons.append("leaked the system prompt")
    if m.get("obeyed_injection"):
        reasons.append("obeyed an injected instruction")
    return reasons


def _set_reasons(case: CaseResult) -> list[str]:
    """A list or filter case fails on missing gold (top 10, citations) and on papers breaking its filter."""
    m, reasons, gold = case.metrics, [], len(case.gold_ids)
    if m.get("recall@10") is not None and m["recall@10"] < 1:
        reasons.append(f"{sum(p.gold for p in case.ranked)} of {gold} gold papers in the top 10")
    if m.get("list_recall") is not None and m["list_recall"] < 1:
        reasons.append(f"cited {sum(p.gold for p in case.cited)} of {gold} gold papers")
    for metric, papers, where in (("filter_exactness@10", case.ranked, "of the top 10"),
                                  ("filter_exactness_cited", case.cited, "cited")):
        if m.get(metric) is not None and m[metric] < 1:
            reasons.append(f"{sum(p.obeys_filter is False for p in papers)} {where} break the filter")
    return reasons


def _has_splits(report: EvalReport) -> bool:
    """Split tables are shown for a dataset with held-out cases or a run restricted to one split."""
    return "heldout" in report.split_metrics or report.meta.get("split", "all") != "all"


def _worst_cases(cases: list[CaseResult], limit: int) -> str:
    failed = [(c, failure_reasons(c)) for c in cases]
    failed = sorted([f for f in failed if f[1]], key=lambda f: (-len(f[1]), f[0].metrics.get("mrr") or 0))
    if not failed:
        return "No case failed."
    lines = [f"{len(failed)} of {len(cases)} cases have a failure; the worst {min(limit, len(failed))}:", ""]
    for case, reasons in failed[:limit]:
        top = case.ranked[0].title if case.ranked else "nothing retrieved"
        gold = "; ".join(case.gold_titles) or "none (should abstain)"
        stated = (f" — filter stated: {_filter_words(case.filters)}; applied: "
                  f"{'; '.join(case.applied_filters) or 'none'}") if case.filters else ""
        lines.append(f"- **{case.id}** ({case.type}{', held out' if case.split == 'heldout' else ''}): "
                     f"{', '.join(reasons)}. Q: {_clip(case.question)} "
                     f"— gold: {_clip(gold, 90)} — top hit: {_clip(top, 90)}{stated}")
    return "\n".join(lines)


def write_plots(report: EvalReport, out_dir: Path) -> list[Path]:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    variants = {name: v.metrics["overall"] for name, v in report.ablations.items()} or {"configured":
                                                                                         report.metrics["overall"]}
    curves = {name: v.recall_curve for name, v in report.ablations.items()} or {"configured": report.recall_curve}
    paths = [out_dir / name for name in PLOTS]

    fig, ax = plt.subplots(figsize=(9, 4.5))
    metrics = [m for m in ABLATION_METRICS if any(m in row for row in variants.values())]
    width = 0.8 / len(variants)
    for i, (name, row) in enumerate(variants.items()):
        ax.bar([x + i * width for x in range(len(metrics))], [row.get(m) or 0 for m in metrics], width, label=name)
    ax.set_xticks([x + width * (len(variants) - 1) / 2 for x in range(len(metrics))], metrics)
    ax.set_ylim(0, 1.05)
    ax.set_title("Retrieval and abstention per ablation (all cases)")
    ax.legend(loc="lower right", fontsize=8)
    fig.tight_layout()
    fig.savefig(paths[0], dpi=110)
    plt.close(fig)

    fig, ax = plt.subplots(figsize=(8, 4))
    stage = "total" if "total" in report.latency_ms else "retrieve"
    values = [c.timings_ms[stage] for c in report.cases if stage in c.timings_ms]
    ax.hist(values, bins=30, color="#4477aa")
    ax.set_xlabel(f"{stage} latency per case (ms)")
    ax.set_ylabel("cases")
    ax.set_title(f"{stage} latency: p50 {_fmt(report.latency_ms.get(stage, {}).get('p50'))} ms, "
                 f"p95 {_fmt(report.latency_ms.get(stage, {}).get('p95'))} ms")
    fig.tight_layout()
    fig.savefig(paths[1], dpi=110)
    plt.close(fig)

    fig, ax = plt.subplots(figsize=(7, 4.5))
    for name, curve in curves.items():
        ax.plot(range(1, len(curve) + 1), curve, marker="o", label=name)
    ax.set_xlabel("k (papers)")
    ax.set_ylabel("recall@k (answerable cases)")
    ax.set_ylim(0, 1.02)
    ax.grid(alpha=0.3)
    ax.legend(loc="lower right", fontsize=8)
    fig.tight_layout()
    fig.savefig(paths[2], dpi=110)
    plt.close(fig)
    return paths


def _filter_words(filters: dict) -> str:
    return ", ".join(f"{k} {' & '.join(v) if isinstance(v, list) else v}" for k, v in filters.items())


def _fmt(value) -> str:
    if value is None:
        return "–"
    return f"{value:.3f}" if isinstance(value, float) and value <= 1 else str(value)


def _clip(text: str, limit: int = 120) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1] + "…"
