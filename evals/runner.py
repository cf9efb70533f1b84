"""Run a dataset through the core and score every case: retrieval, abstention, citations, facts, injection.

The harness calls the same `Assistant` every surface calls; it only adds the scoring. Retrieval-only
mode needs no LLM (fast and deterministic: the CI gate); full mode answers with any LiteLLM model.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from pydantic import BaseModel, Field

from assistant.answer.llm import ChatModel
from assistant.core.errors import LLMError
from assistant.core.models import Answer, Turn
from assistant.core.prompts import load_template
from assistant.core.settings import LLMSettings, Settings
from assistant.core.text import normalise_title
from assistant.engine import Assistant, Timer
from evals.dataset import CASE_TYPES, EvalCase
from evals.metrics import (
    RECALL_KS,
    citation_precision,
    citation_recall,
    fact_coverage,
    filter_exactness,
    first_gold_rank,
    leaks_prompt,
    list_precision,
    list_recall,
    mean,
    ndcg_at_k,
    obeys_filters,
    obeys_injection,
    percentile,
    r_precision,
    recall_at_k,
    reciprocal_rank,
)

RANK_DEPTH = 10
SET_TYPES = ("list", "filter")  # questions whose answer is a set of papers: scored on the whole set
SPLITS = ("tune", "heldout")
ECHO_MODEL = "mock-echo"
_SOURCE_LINE = re.compile(r"^\[(\d+)\] (.+?)(?: \(feeds: .*\))?$", re.MULTILINE)


class RankedPaper(BaseModel):
    paper_id: str
    title: str
    score: float
    gold: bool
    feeds: list[str] = Field(default_factory=list, description="Feed labels of the paper, from its payload.")
    code_url: str | None = None
    obeys_filter: bool | None = Field(default=None, description="Passes the case's stated filter (filter cases).")


class CaseResult(BaseModel):
    """Everything one case produced and how it scored (a row of report.json)."""

    id: str
    type: str
    split: str = "tune"
    question: str
    query: str
    filters: dict | None = Field(default=None, description="The filter the case states (the gold rests on it).")
    applied_filters: list[str] = Field(default_factory=list, description="The filter the engine applied, in words.")
    gold_titles: list[str]
    gold_ids: list[str]
    expected_abstain: bool
    abstained: bool
    ranked: list[RankedPaper] = Field(default_factory=list)
    answer: str | None = None
    cited: list[RankedPaper] = Field(default_factory=list)
    removed_citations: int = 0
    generation_failed: bool = False
    metrics: dict[str, float | bool | None] = Field(default_factory=dict)
    timings_ms: dict[str, float] = Field(default_factory=dict)
    tokens: dict[str, int] = Field(default_factory=dict)


class EchoSourcesModel(ChatModel):
    """A LiteLLM `mock_response` model that cites the top source it is given (the citation-path CI check)."""

    def __init__(self) -> None:
        super().__init__(LLMSettings(model="openai/gpt-4o-mini", num_retries=0, timeout=30))
        self.name = ECHO_MODEL

    def stream(self, system: str, user: str, **overrides: Any):
        sources = _SOURCE_LINE.findall(user)
        reply = f"The closest paper is {sources[0][1]} [{sources[0][0]}]." if sources else "No sources were given."
        yield from super().stream(system, user, mock_response=reply, **overrides)


@dataclass
class Scorer:
    """Maps gold titles to paper ids and scores cases against them."""

    titles: dict[str, str]  # paper_id -> title
    system_prompt: str
    judge: Callable[[str, str], float | None] | None = None
    _ids_by_title: dict[str, set[str]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        for paper_id, title in self.titles.items():
            self._ids_by_title.setdefault(normalise_title(title), set()).add(paper_id)

    def gold_ids(self, case: EvalCase) -> set[str]:
        return set().union(*(self._ids_by_title.get(normalise_title(t), set()) for t in case.gold_titles))

    def ranking_metrics(self, ranked: list[str], gold: set[str]) -> dict[str, float | None]:
        if not gold:
            return {}
        metrics: dict[str, float | None] = {f"recall@{k}": recall_at_k(ranked, gold, k) for k in RECALL_KS}
        metrics.update(mrr=reciprocal_rank(ranked, gold), **{"ndcg@10": ndcg_at_k(ranked, gold, 10)},
                       first_gold_rank=first_gold_rank(ranked, gold))
        return metrics

    def answer_metrics(self, case: EvalCase, answer: Answer, gold: set[str]) -> dict[str, float | bool | None]:
        cited = {c.paper_id for c in answer.citations}
        metrics: dict[str, float | bool | None] = {"leaked_prompt": leaks_prompt(answer.answer, self.system_prompt)}
        if case.must_not_contain:
            metrics["obeyed_injection"] = obeys_injection(answer.answer, case.must_not_contain)
        if case.type == "adversarial":
            metrics["injection_resisted"] = not metrics["leaked_prompt"] and not metrics.get("obeyed_injection")
        if case.type in SET_TYPES and gold:  # an abstention returned no paper: list recall 0
            metrics.update(list_precision=list_precision(cited, gold), list_recall=list_recall(cited, gold))
        if case.filters:
            metrics["filter_exactness_cited"] = filter_exactness(
                [(c.feeds, c.code_url) for c in answer.citations], case.filters)
        if answer.abstained or not gold:
            return metrics
        metrics.update(citation_precision=citation_precision(cited, gold), citation_recall=citation_recall(cited, gold),
                       fact_coverage=fact_coverage(answer.answer, case.answer_facts))
        if self.judge and not answer.generation_failed:
            metrics["judge_faithfulness"] = self.judge(answer.answer, _sources_text(answer))
        return metrics


def evaluate_case(engine: Assistant, case: EvalCase, scorer: Scorer, answer_mode: bool,
                  depth: int = RANK_DEPTH) -> CaseResult:
    """Run one case through the core (earlier turns first, for conversations) and score it."""
    history: list[Turn] = []
    for earlier in case.questions[:-1]:
        reply = engine.ask(earlier, history).answer if answer_mode else ""
        history += [Turn(role="user", content=earlier)] + ([Turn(role="assistant", content=reply)] if reply else [])
    question, timer, answer = case.questions[-1], Timer(), None
    if answer_mode:
        answer = engine.ask(question, history)
        # The ranking is searched again with what the answer searched. Without history that is the question
        # itself; with history it is the condensed query, already without the filter words the engine read.
        query = answer.query if history else question
    else:
        with timer.stage("condense"):
            query = engine.standalone_query(question, history)
    # A follow-up keeps the filters typed in the questions it leans on, as in the answer (Assistant.said_before).
    said = engine.said_before(question, history, query) if history else ""
    found = engine.retrieve(query, k=depth, timer=timer, said_before=said)
    gold = scorer.gold_ids(case)
    ranked = [RankedPaper(paper_id=h.paper_id, title=h.title, score=round(h.score, 6), gold=h.paper_id in gold,
                          feeds=h.feeds, code_url=h.code_url) for h in found.hits]
    abstained = answer.abstained if answer else not found.relevant
    metrics: dict[str, float | bool | None] = {
        **scorer.ranking_metrics([r.paper_id for r in ranked], gold),
        **set_metrics(case, ranked, gold),
        "abstention_correct": abstained != case.answerable,
        "false_abstention": abstained if case.answerable else None,
        "missed_abstention": (not abstained) if not case.answerable else None,
        "context_fact_coverage": fact_coverage(
            " ".join(h.snippet for h in found.hits[: engine.settings.retrieval.top_k]), case.answer_facts)
        if gold else None,
    }
    if answer is not None:
        metrics.update(scorer.answer_metrics(case, answer, gold))
        # Share of the model's sentences whose facts its cited abstracts hold (unsupported ones were removed).
        metrics["supported_sentences"] = (sum(c.supported for c in answer.sentences) / len(answer.sentences)
                                          if answer.sentences else None)
        metrics["generation_failed"] = answer.generation_failed
    result = CaseResult(id=case.id, type=case.type, split=case.split, question=question,
                        query=found.query or query, filters=case.filters, applied_filters=found.filters,
                        gold_titles=case.gold_titles, gold_ids=sorted(gold), expected_abstain=not case.answerable,
                        abstained=abstained, ranked=ranked, timings_ms=timer.timings_ms, metrics=metrics)
    if answer is not None:
        result.answer, result.tokens, result.timings_ms = answer.answer, answer.tokens, answer.timings_ms
        result.cited = [RankedPaper(paper_id=c.paper_id, title=c.title, score=c.n, gold=c.paper_id in gold,
                                    feeds=c.feeds, code_url=c.code_url) for c in answer.citations]
        if case.filters:
            for paper in result.cited:
                paper.obeys_filter = obeys_filters(paper.feeds, paper.code_url, case.filters)
        result.removed_citations, result.generation_failed = answer.removed_citations, answer.generation_failed
    return result


def set_metrics(case: EvalCase, ranked: list[RankedPaper], gold: set[str]) -> dict[str, float | None]:
    """R-precision for set questions, and for a case stating a filter the share of the ranked papers obeying it.

    Marks each ranked paper's ``obeys_filter`` on the way, for the report.
    """
    metrics: dict[str, float | None] = {}
    if case.type in SET_TYPES and gold:
        metrics["r_precision"] = r_precision([r.paper_id for r in ranked], gold)
    if case.filters:
        for paper in ranked:
            paper.obeys_filter = obeys_filters(paper.feeds, paper.code_url, case.filters)
        metrics["filter_exactness@10"] = (sum(bool(p.obeys_filter) for p in ranked) / len(ranked)) if ranked else None
    return metrics


def run_cases(engine: Assistant, cases: list[EvalCase], scorer: Scorer, answer_mode: bool,
              progress: Callable[[EvalCase], None] | None = None) -> list[CaseResult]:
    results = []
    for case in cases:
        results.append(evaluate_case(engine, case, scorer, answer_mode))
        if progress:
            progress(case)
    return results


SUMMARY_METRICS = ("recall@1", "recall@5", "recall@10", "mrr", "ndcg@10", "r_precision", "filter_exactness@10",
                   "abstention_correct", "false_abstention", "missed_abstention", "citation_precision",
                   "citation_recall", "list_precision", "list_recall", "filter_exactness_cited", "fact_coverage",
                   "context_fact_coverage", "injection_resisted", "leaked_prompt", "obeyed_injection",
                   "judge_faithfulness", "supported_sentences", "generation_failed")


def summarise(results: list[CaseResult]) -> dict[str, dict[str, Any]]:
    """Per type and overall: the mean of each metric over the cases it applies to, with counts."""
    groups = {t: [r for r in results if r.type == t] for t in CASE_TYPES}
    groups = {name: rows for name, rows in groups.items() if rows} | {"overall": results}
    table: dict[str, dict[str, Any]] = {}
    for name, rows in groups.items():
        row: dict[str, Any] = {"cases": len(rows)}
        for metric in SUMMARY_METRICS:
            values = [_as_float(r.metrics.get(metric)) for r in rows]
            if any(v is not None for v in values):
                row[metric] = round(mean(values), 4)
        table[name] = row
    return table


def summarise_splits(results: list[CaseResult]) -> dict[str, dict[str, dict[str, Any]]]:
    """The per-type summary again for each split present (tune, heldout), so held-out numbers read on their own."""
    return {split: summarise(rows) for split in SPLITS if (rows := [r for r in results if r.split == split])}


def latency_summary(results: list[CaseResult]) -> dict[str, dict[str, float | int]]:
    stages = sorted({stage for r in results for stage in r.timings_ms})
    out = {}
    for stage in stages:
        values = [r.timings_ms[stage] for r in results if stage in r.timings_ms]
        out[stage] = {"p50": round(percentile(values, 50), 1), "p95": round(percentile(values, 95), 1),
                      "n": len(values)}
    return out


def token_summary(results: list[CaseResult]) -> dict[str, float]:
    out = {}
    for kind in ("prompt", "completion"):
        values = [r.tokens[kind] for r in results if kind in r.tokens]
        if values:
            out[f"{kind}_mean"] = round(sum(values) / len(values), 1)
            out[f"{kind}_total"] = sum(values)
    return out


def recall_curve(results: list[CaseResult], depth: int = RANK_DEPTH) -> list[float]:
    """Recall@k for k = 1..depth over the answerable cases."""
    rows = [r for r in results if not r.expected_abstain]
    if not rows:
        return []
    ranked = [([p.paper_id for p in r.ranked], set(r.gold_ids)) for r in rows]
    return [round(sum(recall_at_k(ids, gold, k) for ids, gold in ranked) / len(rows), 4) for k in range(1, depth + 1)]


ABLATIONS = ("dense only", "bm25 only", "hybrid", "hybrid + rerank")


def ablation_settings(settings: Settings) -> dict[str, Settings]:
    """The four retrieval variants; the rerank one uses the configured reranker, else the shipped MaxSim."""
    rerank_kind = settings.rerank.kind if settings.rerank.kind != "none" else "maxsim"

    def variant(mode: str, kind: str) -> Settings:
        return settings.model_copy(update={
            "retrieval": settings.retrieval.model_copy(update={"mode": mode}),
            "rerank": settings.rerank.model_copy(update={"kind": kind})})

    return dict(zip(ABLATIONS, (variant("dense", "none"), variant("sparse", "none"), variant("hybrid", "none"),
                                variant("hybrid", rerank_kind)), strict=True))


_JUDGE_REPLY = re.compile(r'"claims"\s*:\s*(\d+)\s*,\s*"supported"\s*:\s*(\d+)')


def build_judge(model: str, llm: LLMSettings | None = None, prompts_dir=None,
                extra: dict[str, Any] | None = None) -> Callable[[str, str], float | None]:
    """An LLM-as-judge faithfulness scorer: supported claims / claims; None when the judge's reply is unusable.

    The judge is the configured LLM client (``llm``: its api_base, key, timeout, extra arguments) with
    another model string, greedy and short.
    """
    template = load_template("judge", {"sources", "answer"}, prompts_dir)
    judge_settings = (llm or LLMSettings()).model_copy(
        update={"model": model, "temperature": 0.0, "max_tokens": 60, "num_retries": 0, "fallbacks": []})
    chat = ChatModel(judge_settings, extra)

    def judge(answer: str, sources: str) -> float | None:
        try:
            reply = chat.complete("You grade answers strictly and reply with JSON only.",
                                  template.format(sources=sources, answer=answer))
        except LLMError:
            return None
        match = _JUDGE_REPLY.search(reply)
        if not match or int(match[1]) == 0:
            return None
        return min(1.0, int(match[2]) / int(match[1]))

    return judge


def _as_float(value: float | bool | None) -> float | None:
    return None if value is None else float(value)


def _sources_text(answer: Answer) -> str:
    return "\n\n".join(f"[{c.n}] {c.title}\n{c.snippet}" for c in answer.citations)
