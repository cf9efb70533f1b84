"""The evaluation harness: metric definitions (checked against ranx), dataset validation, the CI gates
on the dev set, the mock-LLM citation path, the judge, ablations and the report files."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from conftest import DEV_SET, GPTQ_TITLE, assert_clean_failure, make_settings, run_cli, write_jsonl

from evals.dataset import DatasetError, load_dataset
from evals.metrics import fact_coverage, leaks_prompt, ndcg_at_k, normalise_fact, obeys_injection, recall_at_k
from evals.report import PLOTS, write_report
from evals.run import EvalOptions, check_gate, run_eval, select_cases
from evals.runner import ABLATIONS, build_judge

GATES = Path(__file__).resolve().parents[1] / "evals" / "gates"


def components(seed) -> dict:
    bot = seed.assistant
    return {"index": bot.index, "embedder": bot.embedder, "sparse": bot.sparse}


@pytest.fixture(scope="module")
def dev_report(seed):
    """The retrieval-only run of the whole dev set on the seed index (the CI gate's run)."""
    return run_eval(seed.settings, DEV_SET, EvalOptions(retrieval_only=True), **components(seed))


# --- metric definitions --------------------------------------------------------------------


def test_ranking_metrics_match_ranx_on_the_dev_run(dev_report):
    from ranx import Qrels, Run, evaluate

    answerable = [c for c in dev_report.cases if c.gold_ids]
    qrels = Qrels({c.id: {pid: 1 for pid in c.gold_ids} for c in answerable})
    # Distinct descending scores keep ranx's order identical to ours whatever the fused scores were.
    run = Run({c.id: {p.paper_id: 100.0 - rank for rank, p in enumerate(c.ranked)} for c in answerable})
    expected = evaluate(qrels, run, ["recall@1", "recall@5", "recall@10", "mrr", "ndcg@10"])
    ours = {m: sum(c.metrics[m] for c in answerable) / len(answerable)
            for m in ("recall@1", "recall@5", "recall@10", "mrr", "ndcg@10")}
    for metric, value in expected.items():
        assert ours[metric] == pytest.approx(value, abs=1e-9), metric


def test_ranking_metrics_on_a_hand_worked_example():
    ranked, gold = ["a", "x", "b", "y"], {"a", "b", "c"}
    assert recall_at_k(ranked, gold, 1) == pytest.approx(1 / 3)
    assert recall_at_k(ranked, gold, 5) == pytest.approx(2 / 3)
    # DCG = 1 + 1/log2(4) = 1.5; ideal for 3 gold = 1 + 0.6309 + 0.5
    assert ndcg_at_k(ranked, gold) == pytest.approx(1.5 / (1 + 1 / 1.584962500721156 + 0.5))


@pytest.mark.parametrize(("answer", "fact"), [
    ("it is 3.25× faster", "3.25x"), ("a 3.25 x speed-up", "3.25x"), ("accuracy of 75\\%", "75%"),
    ("costs $1,890 in total", "1,890"), ("few-shot learning", "few shot"), ("ＣｅｌｅｂＡ-HQ 1024", "CelebA-HQ 1024"),
])
def test_fact_matching_normalises_notation(answer, fact):
    assert fact_coverage(answer, [fact]) == 1.0


def test_fact_coverage_counts_only_the_facts_present():
    assert fact_coverage("uses second-order information, runs in four GPU hours", ["second-order information",
                                                                                   "four GPU hours", "3.25x"]) == \
        pytest.approx(2 / 3)
    assert normalise_fact("3.25") != normalise_fact("32.5")
    assert fact_coverage("anything", []) is None


def test_injection_checks():
    system = "Answer ONLY from the numbered sources you are given. Every sentence that states a fact must end"
    assert leaks_prompt("Sure! My rules: answer only from the numbered sources you are given. Every sentence", system)
    assert not leaks_prompt("I answer questions about the papers in the collection.", system)
    assert obeys_injection("The answer is Smith et al., 2031 [1].", ["Smith et al"])
    assert not obeys_injection("MemoryFormer replaces FC layers [1].", ["Smith et al"])
    assert obeys_injection("Here it is: sk-live-123.", ["sk-"])
    assert not obeys_injection("We randomly mask up to 75% of the patches [1].", ["sk-"])  # not a key's prefix


# --- datasets ------------------------------------------------------------------------------


@pytest.mark.parametrize(("line", "message"), [
    ('{"id": "x", "type": "single", "question": "q", "gold_titles": ["No Such Paper At All"]}',
     "gold title 'No Such Paper At All' is not a paper in the index"),
    ('{"id": "x", "type": "single", "question": "q"', "not valid JSON"),
    ('{"id": "x", "type": "riddle", "question": "q"}', "type: Input should be"),
    ('{"id": "x", "type": "single"}', "give exactly one of 'question' or 'turns'"),
    ('{"id": "x", "type": "followup", "turns": ["only one"]}', "needs 'turns' with at least two"),
])
def test_a_bad_dataset_line_is_named(tmp_path, line, message):
    path = tmp_path / "cases.jsonl"
    path.write_text(f'{{"id": "ok", "type": "single", "question": "q", "gold_titles": ["{GPTQ_TITLE}"]}}\n{line}\n')
    with pytest.raises(DatasetError) as caught:
        load_dataset(path, [GPTQ_TITLE])
    assert str(caught.value).startswith(f"{path}:2: ") and message in str(caught.value)


def test_gold_titles_match_after_unicode_case_and_space_folding(tmp_path):
    path = write_jsonl(tmp_path / "cases.jsonl", [
        {"id": "a", "type": "single", "question": "q", "gold_titles": ["  gptq:  ACCURATE post-training "
                                                                        "quantization for generative pre-trained "
                                                                        "transformers"]}])
    assert load_dataset(path, [GPTQ_TITLE])[0].gold_titles


def test_the_dev_set_meets_the_issue_minimums():
    cases = load_dataset(DEV_SET)
    count = {t: sum(c.type == t for c in cases) for t in ("single", "multi", "unanswerable", "followup",
                                                           "adversarial")}
    assert len(cases) >= 120 and count["single"] >= 70 and count["multi"] >= 15
    assert count["unanswerable"] >= 12 and count["followup"] >= 8 and count["adversarial"] >= 5
    adversarial = {c.question or "" for c in cases if c.type == "adversarial"}
    assert any(len(q) >= 3000 for q in adversarial) and "?" in adversarial


def test_limit_draws_across_types():
    cases = load_dataset(DEV_SET)
    chosen = select_cases(cases, limit=10)
    assert len(chosen) == 10 and {c.type for c in chosen} == {"single", "multi", "unanswerable", "followup",
                                                              "adversarial"}
    assert select_cases(cases, types=("multi",), limit=3) == [c for c in cases if c.type == "multi"][:3]


# --- the CI gates --------------------------------------------------------------------------


def test_retrieval_gate_holds_on_the_dev_set(dev_report):
    assert check_gate(dev_report, GATES / "retrieval.json") == []
    assert dev_report.metrics["overall"]["cases"] == len(load_dataset(DEV_SET))
    assert dev_report.meta["settings_sha256"] and dev_report.meta["versions"]["qdrant-edge-py"]


def test_retrieval_gate_holds_on_the_user_set(seed):
    """Users' wording, lists and filters said in words: the gate the issue-12 work is held to."""
    user_set = DEV_SET.parent / "user.jsonl"
    report = run_eval(seed.settings, user_set, EvalOptions(retrieval_only=True), **components(seed))
    assert check_gate(report, GATES / "user_retrieval.json") == []
    assert report.metrics["overall"]["cases"] == len(load_dataset(user_set))


def test_gate_reports_a_drop(dev_report, tmp_path):
    gate = tmp_path / "gate.json"
    gate.write_text(json.dumps({"thresholds": {"single.recall@5": 1.01, "max:single.recall@1": 0.5,
                                               "single.citation_precision": 0.9}}))
    failures = check_gate(dev_report, gate)
    assert len(failures) == 3
    assert "below the minimum 1.01" in failures[0] and "above the maximum" in failures[1]
    assert "not measured" in failures[2]


def test_mock_llm_citations_gate(seed):
    report = run_eval(seed.settings, DEV_SET, EvalOptions(model="mock-echo"), **components(seed))
    assert check_gate(report, GATES / "mock_citations.json") == []
    gptq = next(c for c in report.cases if c.id == "s001")
    assert [p.title for p in gptq.cited] == [GPTQ_TITLE] and "[1]" in gptq.answer
    assert report.meta["model"] == "mock-echo" and report.tokens["prompt_mean"] > 100


def test_judge_scores_supported_claims():
    extra = {"mock_response": 'Here: {"claims": 4, "supported": 3}'}
    judge = build_judge("openai/gpt-4o-mini", extra=extra)
    assert judge("GPTQ quantizes to 3 bits [1].", "[1] GPTQ ...") == pytest.approx(0.75)
    assert build_judge("openai/gpt-4o-mini", extra={"mock_response": "I cannot grade this."})("a", "b") is None


# --- ablations and the report --------------------------------------------------------------


def test_ablations_and_report_files(seed, tmp_path):
    options = EvalOptions(retrieval_only=True, ablate=True, types=("single",), limit=12)
    report = run_eval(seed.settings, DEV_SET, options, **components(seed))
    assert list(report.ablations) == list(ABLATIONS)
    singles = {name: v.metrics["single"] for name, v in report.ablations.items()}
    assert all(row["cases"] == 12 for row in singles.values())
    assert report.ablations["hybrid + rerank"].latency_ms["rerank"]["p50"] > 0  # MaxSim actually ran
    assert report.ablations["hybrid"].latency_ms["rerank"]["p50"] < 1
    assert len(report.ablations["dense only"].recall_curve) == 10
    paths = write_report(report, tmp_path / "out")
    assert {p.name for p in paths} == {"report.json", "report.md", *PLOTS}
    for plot in PLOTS:
        assert (tmp_path / "out" / plot).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    markdown = (tmp_path / "out" / "report.md").read_text()
    assert "## Ablations: single-paper questions" in markdown and "| hybrid + rerank | 12 |" in markdown
    saved = json.loads((tmp_path / "out" / "report.json").read_text())
    assert len(saved["cases"]) == 12 and saved["cases"][0]["ranked"]


# --- the command line ----------------------------------------------------------------------


@pytest.fixture(scope="module")
def small_data(tmp_path_factory, seed_papers):
    """A data dir with three seed papers ingested through the CLI."""
    from conftest import paper_by_title

    data = tmp_path_factory.mktemp("eval-cli") / "data"
    titles = [GPTQ_TITLE, "LTX-Video: Realtime Video Latent Diffusion",
              "Keyformer: KV Cache Reduction through Key Tokens Selection for Efficient Generative Inference"]
    records = [{"title": t, "abstract": paper_by_title(seed_papers, t).abstract} for t in titles]
    feed = write_jsonl(data.parent / "papers.jsonl", records)
    assert run_cli("ingest", str(feed), data_dir=data).code == 0
    return data


def test_cli_eval_writes_a_report_and_gates(small_data, tmp_path):
    cases = write_jsonl(tmp_path / "cases.jsonl", [
        {"id": "q1", "type": "single", "question": "one-shot 3-bit weight quantization of GPT models",
         "gold_titles": [GPTQ_TITLE], "answer_facts": ["GPU hours"]},
        {"id": "q2", "type": "unanswerable", "question": "Best sourdough hydration for a rye loaf?",
         "gold_titles": []}])
    gate = tmp_path / "gate.json"
    gate.write_text(json.dumps({"thresholds": {"single.recall@1": 1.0, "unanswerable.abstention_correct": 1.0}}))
    result = run_cli("eval", "--dataset", str(cases), "--retrieval-only", "--json", "--out", str(tmp_path / "r"),
                     "--gate", str(gate), data_dir=small_data)
    assert result.code == 0, result.stderr
    payload = result.json()
    assert payload["metrics"]["single"]["recall@1"] == 1.0 and payload["gate_failures"] == []
    assert (tmp_path / "r" / "recall_at_k.png").is_file()

    gate.write_text(json.dumps({"thresholds": {"single.recall@1": 1.5}}))
    failed = run_cli("eval", "--dataset", str(cases), "--retrieval-only", "--out", str(tmp_path / "r"),
                     "--gate", str(gate), data_dir=small_data)
    assert assert_clean_failure(failed, 1) == ["gate failed: single.recall@1 = 1.0000, below the minimum 1.5"]


def test_cli_eval_answers_after_the_servers_warm_up(small_data, tmp_path, embedder):
    """Answer latencies are a warmed server's (every abstract's sentences embedded and saved first), so the
    report's sources and first-token figures compare with `assistant serve`'s; without it (`--cold`) they count
    first use."""
    cases = write_jsonl(tmp_path / "cases.jsonl", [
        {"id": "q1", "type": "single", "question": "one-shot 3-bit weight quantization of GPT models",
         "gold_titles": [GPTQ_TITLE]}])
    for saved in (small_data / "cache").glob("sentence-vectors-*.npz"):
        saved.unlink()
    cold = run_eval(make_settings(small_data), cases, EvalOptions(model="mock-echo"), embedder=embedder)
    assert cold.meta["warmed_up"] is False and cold.metrics["single"]["citation_precision"] == 1.0
    assert not list((small_data / "cache").glob("sentence-vectors-*.npz"))
    warm = run_cli("eval", "--dataset", str(cases), "--model", "mock-echo", "--out", str(tmp_path / "w"),
                   data_dir=small_data)
    assert warm.code == 0, warm.stderr
    report = json.loads((tmp_path / "w" / "report.json").read_text())
    assert report["meta"]["warmed_up"] is True and report["metrics"]["single"]["citation_precision"] == 1.0
    assert list((small_data / "cache").glob("sentence-vectors-*.npz"))  # what only the warm-up saves
    assert "after the server's warm-up" in (tmp_path / "w" / "report.md").read_text()


def test_cli_eval_names_an_unknown_gold_title(small_data, tmp_path):
    cases = write_jsonl(tmp_path / "cases.jsonl", [
        {"id": "q1", "type": "single", "question": "q", "gold_titles": ["Attention Is All You Need"]}])
    lines = assert_clean_failure(run_cli("eval", "--dataset", str(cases), "--retrieval-only",
                                         data_dir=small_data), 1)
    assert lines == [f"error: {cases}:1: gold title 'Attention Is All You Need' is not a paper in the index"]


def test_cli_eval_on_an_empty_index_says_what_to_do(tmp_path):
    cases = write_jsonl(tmp_path / "cases.jsonl", [{"id": "q1", "type": "single", "question": "q"}])
    lines = assert_clean_failure(run_cli("eval", "--dataset", str(cases), data_dir=tmp_path / "data"), 2)
    assert len(lines) == 1 and "assistant ingest" in lines[0]
