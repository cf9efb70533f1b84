#!/usr/bin/env python
"""Benchmark of the core on the seed corpus: ingest (vs a default llama-index pipeline), search, ask, memory.

    python bench/bench_core.py [--skip-llm] [--queries N] [--repeat N] [--json FILE]

Prints a table of figures for this machine; it never asserts on time (see bench/README.md for what each
number means and what limits it). Every index lives in a fresh temporary folder, deleted at the end.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import shutil
import statistics
import sys
import tempfile
import time
import unicodedata
import warnings
from collections import defaultdict
from importlib import metadata
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:  # `python bench/bench_core.py` from a checkout without an editable install
    sys.path.insert(0, str(REPO))

from assistant.core.offline import apply_offline_defaults  # noqa: E402

apply_offline_defaults()  # before LiteLLM / tiktoken / llama-index are imported

SEED_DIR = REPO / "data" / "feeds"
DEV_SET = REPO / "evals" / "datasets" / "dev.jsonl"
WARMUP_QUERY = "How can large language models be compressed for faster inference?"
TARGETS = {"ingest_ratio": 3.0, "search_p50_ms": 60.0, "search_p95_ms": 120.0}


# ---------------------------------------------------------------------------------------------
# Measuring helpers


def now() -> float:
    return time.perf_counter()


def memory() -> dict[str, float]:
    """Peak RSS of this process so far (ru_maxrss, KiB on Linux) and the current RSS, in MiB."""
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    current = None
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                current = int(line.split()[1]) / 1024
    except OSError:
        pass
    return {"peak_rss_mb": round(peak, 1), "rss_mb": round(current, 1) if current is not None else None}


def load_avg() -> list[float]:
    return [round(x, 2) for x in os.getloadavg()]


def pct(values: list[float], q: float) -> float:
    """Percentile with linear interpolation (numpy's default), on a sorted copy."""
    data = sorted(values)
    if not data:
        return float("nan")
    pos = (len(data) - 1) * q / 100
    lo, hi = int(pos), min(int(pos) + 1, len(data) - 1)
    return data[lo] + (data[hi] - data[lo]) * (pos - lo)


def ms(seconds: float) -> float:
    return round(seconds * 1000, 2)


class Timed:
    """Delegates every attribute to ``inner``; the methods named in ``labels`` add their wall time to ``seconds``.

    Used to split ingest and search time between the embedder, BM25 and the index without touching the core.
    """

    def __init__(self, inner: Any, labels: dict[str, str], keep_texts: str | None = None) -> None:
        self._inner, self._labels, self._keep = inner, labels, keep_texts
        self.seconds: dict[str, float] = defaultdict(float)
        self.texts: list[str] = []  # first argument of the ``keep_texts`` method, for counting word pieces

    def reset(self) -> None:
        self.seconds = defaultdict(float)
        self.texts = []

    def __getattr__(self, name: str) -> Any:
        attr = getattr(self._inner, name)
        label = self._labels.get(name)
        if label is None or not callable(attr):
            return attr

        def timed(*args: Any, **kwargs: Any) -> Any:
            if name == self._keep and args:
                self.texts.extend(args[0])
            start = now()
            try:
                return attr(*args, **kwargs)
            finally:
                self.seconds[label] += now() - start

        return timed


def instrument(assistant) -> tuple[Timed, Timed, Timed]:
    """Wrap the assistant's embedder, BM25 encoder and index in timing proxies (after construction)."""
    embedder = Timed(assistant.embedder, {"embed": "embed"}, keep_texts="embed")
    sparse = Timed(assistant.sparse, {"embed_document": "bm25", "embed_query": "bm25"})
    index = Timed(assistant.index, {m: m for m in (
        "upsert", "delete_paper", "paper_hashes", "paper_chunks", "hybrid_query", "count")})
    assistant.embedder, assistant.sparse, assistant.index = embedder, sparse, index
    return embedder, sparse, index


def wordpieces(texts: list[str]) -> dict[str, int]:
    """How much text reached the embedder: MiniLM word pieces in total, and kept after its truncation."""
    from importlib import resources

    from tokenizers import Tokenizer

    from assistant.core.settings import EmbedSettings

    limit = EmbedSettings().max_tokens
    tokenizer = Tokenizer.from_str((resources.files("assistant") / "data" / "minilm-tokenizer.json").read_text())
    tokenizer.no_padding()  # the shipped file pads to 128 and truncates at 128: count the real lengths
    tokenizer.no_truncation()
    counts = [len(e.ids) for e in tokenizer.encode_batch(texts)] if texts else []
    return {"texts": len(texts), "wordpieces": sum(counts), "wordpieces_kept": sum(min(c, limit) for c in counts),
            "texts_truncated": sum(c > limit for c in counts), "max_tokens": limit}


def norm_title(title: str) -> str:
    return " ".join(unicodedata.normalize("NFKC", title).casefold().split())


def version(dist: str) -> str:
    try:
        return metadata.version(dist)
    except metadata.PackageNotFoundError:
        return "not installed"


# ---------------------------------------------------------------------------------------------
# Phase 0: environment and start-up


def phase_startup() -> dict[str, Any]:
    start = now()
    from assistant.core.settings import Settings
    from assistant.engine import Assistant  # noqa: F401  (imports the core and its dependencies)

    imports = now() - start
    settings = Settings()
    # First use of the chunker imports llama-index-core and loads tiktoken's BPE (seconds): pay it here, so
    # neither ingest below carries it, and report it (a cold `assistant ingest` process does pay it).
    from assistant.core.models import Paper
    from ingest.chunking import chunk_paper

    start = now()
    chunk_paper(Paper(paper_id="t:warm-up", title="Warm-up", abstract="One sentence. Another one."), settings.ingest)
    first_chunk = now() - start
    return {
        "python": platform.python_version(),
        "cpus": os.cpu_count(),
        "machine": platform.machine(),
        "loadavg_start": load_avg(),
        "versions": {d: version(d) for d in ("onnxruntime", "qdrant-edge-py", "qdrant-client", "llama-index-core",
                                             "llama-index-vector-stores-qdrant", "llama-cpp-python")},
        "settings": {
            "chunk_tokens": settings.ingest.chunk_tokens, "chunk_overlap": settings.ingest.chunk_overlap,
            "ingest_batch_chunks": settings.ingest.batch_size, "embed_batch_texts": settings.embed.batch_size,
            "embed_threads": settings.embed.threads or "auto", "rerank": settings.rerank.kind,
            "candidates": settings.retrieval.candidates, "llm": settings.llm.model,
            "index": "qdrant server" if settings.qdrant.url else "qdrant edge (embedded)",
        },
        "import_s": round(imports, 2), "first_chunk_s": round(first_chunk, 2),
        "memory": memory(),
    }


# ---------------------------------------------------------------------------------------------
# Phase 1: our ingest, cold and warm


def new_assistant(tmp: Path):
    from assistant.core.settings import Settings
    from assistant.engine import Assistant

    start = now()
    assistant = Assistant(Settings(data_dir=tmp), chat_model=None, create_index=True)
    built = now() - start
    start = now()
    assistant.embedder.embed(["warm-up"])  # first ONNX run allocates its arena; keep it out of the ingest time
    return assistant, built, now() - start


def phase_ours(tmp: Path) -> tuple[dict[str, Any], Any]:
    assistant, built, warm = new_assistant(tmp)
    embedder, sparse, index = instrument(assistant)
    start = now()
    report = assistant.ingest([SEED_DIR])
    cold = now() - start
    parts = {"embed": embedder.seconds["embed"], "bm25": sparse.seconds["bm25"], "store": sum(index.seconds.values())}
    texts = list(embedder.texts)
    embedded = wordpieces(texts)
    for proxy in (embedder, sparse, index):
        proxy.reset()
    start = now()
    again = assistant.ingest([SEED_DIR])
    warm_ingest = now() - start
    papers = report.papers_seen
    return {
        "assistant_build_s": round(built, 2), "embed_warmup_s": round(warm, 3),
        "papers": papers, "chunks": report.chunks_written, "points": assistant.index.count(),
        "errors": len(report.errors),
        "cold_s": round(cold, 2), "cold_papers_per_s": round(papers / cold, 1),
        "cold_chunks_per_s": round(report.chunks_written / cold, 1),
        "cold_embed_s": round(parts["embed"], 2), "embedded": embedded, "cold_bm25_s": round(parts["bm25"], 2),
        "cold_store_s": round(parts["store"], 2),
        "cold_rest_s": round(cold - sum(parts.values()), 2),
        "warm_s": round(warm_ingest, 2), "warm_papers_unchanged": again.papers_unchanged,
        "warm_chunks_written": again.chunks_written, "warm_store_s": round(sum(index.seconds.values()), 2),
        "warm_lookup_s": round(index.seconds["paper_chunks"], 2), "warm_lookups": again.papers_unchanged,
        "memory": memory(), "loadavg": load_avg(), "_texts": texts,
    }, assistant


# ---------------------------------------------------------------------------------------------
# Phase 2: a default llama-index pipeline with the same embedding model


_STORE_SECONDS = defaultdict(float)


def baseline_classes():
    from llama_index.core.base.embeddings.base import BaseEmbedding
    from llama_index.vector_stores.qdrant import QdrantVectorStore
    from pydantic import PrivateAttr

    class MiniLMLlamaEmbedding(BaseEmbedding):
        """Our MiniLM ONNX embedder as a llama-index embedding (default embed_batch_size, batch calls)."""

        _embedder: Any = PrivateAttr()
        _seconds: float = PrivateAttr(default=0.0)
        _texts: list = PrivateAttr(default_factory=list)

        def __init__(self, embedder, **kwargs: Any) -> None:
            super().__init__(model_name=embedder.name, **kwargs)
            self._embedder = embedder

        def _vectors(self, texts: list[str]) -> list[list[float]]:
            self._texts.extend(texts)
            start = now()
            vectors = self._embedder.embed(texts).tolist()
            self._seconds += now() - start
            return vectors

        def _get_query_embedding(self, query: str) -> list[float]:
            return self._vectors([query])[0]

        async def _aget_query_embedding(self, query: str) -> list[float]:
            return self._get_query_embedding(query)

        def _get_text_embedding(self, text: str) -> list[float]:
            return self._vectors([text])[0]

        def _get_text_embeddings(self, texts: list[str]) -> list[list[float]]:
            return self._vectors(texts)

    class TimedQdrantVectorStore(QdrantVectorStore):
        """QdrantVectorStore whose add() (point building + upload) is timed."""

        def add(self, nodes, **kwargs):
            start = now()
            try:
                return super().add(nodes, **kwargs)
            finally:
                _STORE_SECONDS["add"] += now() - start

    return MiniLMLlamaEmbedding, TimedQdrantVectorStore


def read_documents(dedupe: bool):
    """Seed papers as llama-index Documents: title in metadata (embedded by default), abstract as text."""
    from llama_index.core import Document

    from ingest.parsers import iter_records, iter_source_files

    docs, seen = [], set()
    for path in iter_source_files([SEED_DIR]):
        for record in iter_records(path):
            if isinstance(record, Exception):
                continue
            if dedupe and record.paper_id in seen:
                continue
            seen.add(record.paper_id)
            docs.append(Document(text=record.abstract, metadata={"title": record.title, "feeds": record.feeds},
                                 excluded_embed_metadata_keys=["feeds"],
                                 id_=record.paper_id if dedupe else None))
    return docs, len(seen)


def phase_baseline(tmp: Path, embedder, dedupe: bool) -> dict[str, Any]:
    from llama_index.core import StorageContext, VectorStoreIndex
    from llama_index.core.node_parser import SentenceSplitter
    from qdrant_client import QdrantClient

    warnings.filterwarnings("ignore", message="Payload indexes have no effect in the local Qdrant")
    embedding_cls, store_cls = baseline_classes()
    embed_model = embedding_cls(embedder)  # embed_batch_size left at llama-index's default
    client = QdrantClient(path=str(tmp))
    _STORE_SECONDS.clear()
    start = now()
    docs, papers = read_documents(dedupe)
    read = now() - start
    store = store_cls(client=client, collection_name="baseline")
    storage_context = StorageContext.from_defaults(vector_store=store)
    start = now()
    # SentenceSplitter() is llama-index's default transformation (chunk_size 1024, overlap 200); passing it
    # explicitly keeps llama-index's global Settings untouched.
    VectorStoreIndex.from_documents(docs, storage_context=storage_context, embed_model=embed_model,
                                    transformations=[SentenceSplitter()])
    build = now() - start
    total = read + build
    points = client.count("baseline", exact=True).count
    client.close()
    embed_s, store_s = embed_model._seconds, _STORE_SECONDS["add"]
    return {
        "dedupe": dedupe, "documents": len(docs), "papers": papers, "nodes": points,
        "embed_batch_size": embed_model.embed_batch_size,
        "read_s": round(read, 2), "index_s": round(build, 2), "total_s": round(total, 2),
        "papers_per_s": round(papers / total, 1), "nodes_per_s": round(points / total, 1),
        "embed_s": round(embed_s, 2), "store_s": round(store_s, 2), "embedded": wordpieces(embed_model._texts),
        "_texts": list(embed_model._texts),
        "rest_s": round(total - embed_s - store_s, 2),
        "memory": memory(), "loadavg": load_avg(),
    }


def phase_embed_ab(embedder, ours_texts: list[str], baseline_texts: list[str], slices: int = 10) -> dict[str, Any]:
    """Embed exactly the texts each pipeline embedded, with one embedder, alternating small slices.

    Other jobs on the machine then slow both sides alike, so the ratio of the two times is the ratio of
    embedding work, which bounds the ingest ratio when embedding dominates both pipelines.
    """
    seconds = {"ours": 0.0, "baseline": 0.0}
    for i in range(slices):
        for side, texts in (("ours", ours_texts[i::slices]), ("baseline", baseline_texts[i::slices])):
            start = now()
            if texts:
                embedder.embed(texts)
            seconds[side] += now() - start
    return {"ours_s": round(seconds["ours"], 2), "baseline_s": round(seconds["baseline"], 2),
            "ours_texts": len(ours_texts), "baseline_texts": len(baseline_texts),
            "work_ratio": round(seconds["ours"] / seconds["baseline"], 2) if seconds["baseline"] else None,
            "loadavg": load_avg()}


# ---------------------------------------------------------------------------------------------
# Phase 3: search latency


def dev_questions(kind: str) -> list[dict[str, Any]]:
    rows = [json.loads(line) for line in DEV_SET.read_text(encoding="utf-8").splitlines() if line.strip()]
    return [r for r in rows if r.get("type") == kind and r.get("question")]


def phase_search(assistant, n_queries: int) -> dict[str, Any]:
    embedder, sparse, index = assistant.embedder, assistant.sparse, assistant.index
    questions = dev_questions("single")[:n_queries]
    start = now()
    assistant.search(WARMUP_QUERY, k=5)
    warmup = now() - start
    rows, found = [], 0
    for item in questions:
        for proxy in (embedder, sparse, index):
            proxy.reset()
        start = now()
        hits = assistant.search(item["question"], k=5)
        total = now() - start
        gold = {norm_title(t) for t in item.get("gold_titles", [])}
        found += any(norm_title(h.title) in gold for h in hits)
        parts = {"embed": embedder.seconds["embed"], "qdrant": index.seconds["hybrid_query"],
                 "bm25": sparse.seconds["bm25"]}
        rows.append({"total": total, **parts, "rest": total - sum(parts.values())})

    def stats(key: str) -> dict[str, float]:
        values = [r[key] for r in rows]
        return {"p50_ms": ms(pct(values, 50)), "p95_ms": ms(pct(values, 95)), "mean_ms": ms(statistics.fmean(values))}

    return {
        "queries": len(rows), "warmup_ms": ms(warmup), "gold_in_top5": found,
        **{key: stats(key) for key in ("total", "embed", "qdrant", "bm25", "rest")},
    }


# ---------------------------------------------------------------------------------------------
# Phase 4: ask with the default (embedded) chat model


def local_model_problem(llm_settings) -> str | None:
    if not llm_settings.model.startswith("local/"):
        return None
    if not llm_settings.gguf_path.exists():
        return "skipped: model not installed (run scripts/setup_llm.sh)"
    try:
        import llama_cpp  # noqa: F401
    except ImportError:
        return "skipped: llama-cpp-python not importable (run scripts/setup_llm.sh)"
    return None


def estimate_prompt_tokens(assistant, question: str) -> int:
    """Size of the answer prompt in cl100k tokens (Qwen's tokenizer counts English about the same).

    Rebuilt from public parts the way Assistant.answer_stream builds it: retrieved hits, context within the
    token budget, the answer template and the system prompt.
    """
    import tiktoken

    from assistant.answer.context import assemble_context

    settings = assistant.core.settings
    context = assemble_context(assistant.answer.retrieve(question).hits, settings.llm.context_tokens,
                               settings.ingest.tokenizer)
    prompt = assistant.core.prompts.answer.format(context=context.text, question=question)
    return len(tiktoken.get_encoding(settings.ingest.tokenizer).encode(assistant.core.prompts.system + "\n" + prompt))


def phase_ask(assistant, n_questions: int = 3) -> dict[str, Any]:
    import litellm

    from assistant.answer.llm import build_chat_model
    from assistant.core.errors import AssistantError
    from assistant.core.models import Answer

    llm_settings = assistant.core.settings.llm
    if not llm_settings.gguf_path.is_absolute():  # Settings' default is relative to the repo root
        llm_settings = llm_settings.model_copy(update={"gguf_path": REPO / llm_settings.gguf_path})
    result: dict[str, Any] = {"model": llm_settings.model}
    problem = local_model_problem(llm_settings)
    if problem:
        return {**result, "skipped": problem}
    assistant.chat_model = build_chat_model(llm_settings)
    if llm_settings.model.startswith("local/"):
        # Verify (sha256, remembered in a sidecar) and load the GGUF before timing, as a server does at start.
        handler = next(item["custom_handler"] for item in litellm.custom_provider_map if item["provider"] == "local")
        start = now()
        try:
            handler.local_model.load()
        except AssistantError as exc:
            return {**result, "skipped": f"skipped: {exc}"}
        result["load_s"] = round(now() - start, 2)
        result["memory_after_load"] = memory()
    picked = [q for q in dev_questions("single") if assistant.answer.retrieve(q["question"]).relevant][:n_questions]
    runs = []
    for item in picked:
        prompt_tokens = estimate_prompt_tokens(assistant, item["question"])
        deltas, wall_first, start = 0, None, now()
        final = None
        for piece in assistant.answer_stream(item["question"]):
            if isinstance(piece, Answer):
                final = piece
            elif piece:
                deltas += 1
                wall_first = wall_first if wall_first is not None else now() - start
        assert final is not None
        t = final.timings_ms
        gen_s = (t.get("total", 0.0) - t.get("first_token", 0.0)) / 1000  # decoding after the first token
        prefill_s = ((t.get("first_token") or 0.0) - t.get("retrieve", 0.0) - t.get("rerank", 0.0)
                     - t.get("condense", 0.0)) / 1000
        runs.append({
            "id": item["id"], "first_token_ms": t.get("first_token"), "total_ms": t.get("total"),
            "prompt_tokens_est": prompt_tokens,
            "prefill_tokens_per_s_est": round(prompt_tokens / prefill_s, 1) if prefill_s > 0 else None,
            "retrieve_ms": round(t.get("retrieve", 0.0) + t.get("rerank", 0.0), 2),
            "stream_chunks": deltas,
            "chunks_per_s": round((deltas - 1) / gen_s, 1) if gen_s > 0 and deltas > 1 else None,
            "answer_chars": len(final.answer), "citations": len(final.citations), "abstained": final.abstained,
            "generation_failed": final.generation_failed,
            "failure": final.answer.split("\n")[0][:200] if final.generation_failed else None,
            "wall_first_chunk_ms": ms(wall_first) if wall_first is not None else None,
        })
    ok = [r for r in runs if r["first_token_ms"] is not None]
    result["runs"] = runs
    if ok:
        result["first_token_ms_median"] = round(statistics.median(r["first_token_ms"] for r in ok), 1)
        result["total_ms_median"] = round(statistics.median(r["total_ms"] for r in ok), 1)
    return result


# ---------------------------------------------------------------------------------------------
# Output


def table(rows: list[tuple[str, str, str]]) -> str:
    widths = [max(len(r[i]) for r in rows) for i in range(3)]
    lines = []
    for row in rows:
        if row[1] == "" and row[2] == "" and row[0].startswith("=="):
            lines.append("")
            lines.append(row[0])
            continue
        lines.append(f"  {row[0]:<{widths[0]}}  {row[1]:>{widths[1]}}  {row[2]}")
    return "\n".join(lines)


def mem_row(phase: dict[str, Any], key: str = "memory") -> tuple[str, str, str]:
    m = phase[key]
    return ("peak RSS after phase", f"{m['peak_rss_mb']:.0f} MB", f"current {m['rss_mb']:.0f} MB")


def embedded(phase: dict[str, Any]) -> str:
    e = phase["embedded"]
    return (f"{e['texts']} texts, {e['wordpieces_kept']} word pieces embedded "
            f"({e['wordpieces'] - e['wordpieces_kept']} cut: {e['texts_truncated']} texts > {e['max_tokens']})")


def render(fig: dict[str, Any]) -> str:
    env, ours, base, ratio = fig["environment"], fig["ours"], fig["baseline"], fig["ingest_ratio"]
    s = env["settings"]
    rows: list[tuple[str, str, str]] = [
        ("== environment", "", ""),
        ("python / cpus", f"{env['python']} / {env['cpus']}", env["machine"]),
        ("load average at start (1/5/15 min)", " ".join(map(str, env["loadavg_start"])), "other jobs share the cores"),
        ("index / rerank / llm", f"{s['index']}", f"rerank={s['rerank']}, llm={s['llm']}"),
        ("chunking / batches", f"{s['chunk_tokens']}/{s['chunk_overlap']} tok",
         f"ingest batch {s['ingest_batch_chunks']} chunks, ONNX batch {s['embed_batch_texts']}, "
         f"threads {s['embed_threads']}"),
        ("import time (assistant.core)", f"{env['import_s']:.2f} s", ""),
        ("first chunk_paper() call", f"{env['first_chunk_s']:.2f} s",
         "imports llama-index-core + tiktoken BPE; kept out of both ingest times"),
        mem_row(env),
        ("== 1. our ingest (Assistant.ingest, seed corpus)", "", ""),
        ("Assistant() construction", f"{ours['assistant_build_s']:.2f} s",
         "ONNX session + Edge shard; not in ingest time"),
        ("papers / chunks / points / errors",
         f"{ours['papers']} / {ours['chunks']} / {ours['points']} / {ours['errors']}", ""),
        ("cold ingest (empty index)", f"{ours['cold_s']:.2f} s",
         f"{ours['cold_papers_per_s']} papers/s, {ours['cold_chunks_per_s']} chunks/s"),
        ("  of which dense embedding", f"{ours['cold_embed_s']:.2f} s", "MiniLM int8 ONNX; " + embedded(ours)),
        ("  of which BM25 encoding", f"{ours['cold_bm25_s']:.2f} s", "qdrant_edge.Bm25"),
        ("  of which index (Edge)", f"{ours['cold_store_s']:.2f} s", "delete + upsert + hash scroll"),
        ("  of which rest", f"{ours['cold_rest_s']:.2f} s", "parse, dedupe, chunk (tiktoken), payloads"),
        ("warm re-ingest (nothing changed)", f"{ours['warm_s']:.2f} s",
         f"{ours['warm_papers_unchanged']} unchanged, {ours['warm_chunks_written']} chunks written"),
        ("  of which index calls", f"{ours['warm_store_s']:.2f} s",
         f"{ours['warm_lookup_s']:.2f} s in per-paper stored-record lookups (paper_chunks)"),
    ]
    if fig["repeat"] > 1:
        rows.append(("cold ingest, all repeats", " ".join(f"{x:.1f}" for x in fig["ours_cold_all_s"]) + " s",
                     "best run shown above"))
    rows += [
        mem_row(ours),
        ("== 2. default llama-index pipeline, same embedder", "", ""),
        ("documents / papers / nodes",
         f"{base['documents']} / {base['papers']} / {base['nodes']}",
         ("deduplicated by paper id" if base["dedupe"] else "one per feed entry, not deduplicated")
         + f"; SentenceSplitter(), embed_batch_size={base['embed_batch_size']}"),
        ("read documents", f"{base['read_s']:.2f} s", "ingest.parsers.iter_records"),
        ("VectorStoreIndex.from_documents", f"{base['index_s']:.2f} s", "QdrantVectorStore on QdrantClient(path=...)"),
        ("baseline total", f"{base['total_s']:.2f} s",
         f"{base['papers_per_s']} papers/s, {base['nodes_per_s']} nodes/s"),
        ("  of which dense embedding", f"{base['embed_s']:.2f} s", embedded(base)),
        ("  of which vector store add", f"{base['store_s']:.2f} s", "qdrant-client local mode"),
        ("  of which rest", f"{base['rest_s']:.2f} s", "read, split, metadata, docstore"),
    ]
    if fig["repeat"] > 1:
        rows.append(("baseline, all repeats", " ".join(f"{x:.1f}" for x in fig["baseline_all_s"]) + " s",
                     "best run shown above"))
    rows += [
        ("ours / baseline papers/s", f"{ratio:.2f}x",
         f"target >= {TARGETS['ingest_ratio']:.0f}x: {'met' if ratio >= TARGETS['ingest_ratio'] else 'NOT met'}"),
        mem_row(base),
    ]
    ab = fig.get("embed_ab")
    if ab:
        rows += [
            ("embedding A/B, interleaved slices", f"{ab['ours_s']:.1f} / {ab['baseline_s']:.1f} s",
             f"ours {ab['ours_texts']} texts / baseline {ab['baseline_texts']} texts, one embedder, "
             f"load {ab['loadavg'][0]}"),
            ("  embedding work ours / baseline", f"{ab['work_ratio']:.2f}x",
             f"so expect ours/baseline papers/s near {1 / ab['work_ratio']:.2f}x while embedding dominates"),
        ]
    srch = fig["search"]
    rows += [
        ("== 3. Assistant.search(q, k=5) latency", "", ""),
        ("queries / warm-up", f"{srch['queries']} / {srch['warmup_ms']:.0f} ms",
         f"dev.jsonl 'single'; gold paper in top 5 for {srch['gold_in_top5']}/{srch['queries']}"),
        ("total p50 / p95", f"{srch['total']['p50_ms']:.1f} / {srch['total']['p95_ms']:.1f} ms",
         f"targets <= {TARGETS['search_p50_ms']:.0f} / {TARGETS['search_p95_ms']:.0f} ms: "
         f"{'met' if srch['total']['p50_ms'] <= TARGETS['search_p50_ms'] else 'NOT met'} / "
         f"{'met' if srch['total']['p95_ms'] <= TARGETS['search_p95_ms'] else 'NOT met'}"),
    ]
    for key, label, note in (("embed", "query embedding", "MiniLM ONNX, one text"),
                             ("qdrant", "Qdrant query", "one batch: fused RRF + dense + BM25 lists"),
                             ("bm25", "BM25 encoding", "query + best-hit coverage"),
                             ("rest", "rest", f"grouping, Hit models, rerank ({s['rerank']})")):
        st = srch[key]
        rows.append((f"  {label} p50 / p95 (mean)",
                     f"{st['p50_ms']:.1f} / {st['p95_ms']:.1f} ms", f"mean {st['mean_ms']:.1f} ms; {note}"))
    rows.append(mem_row(srch))
    ask = fig["ask"]
    rows.append(("== 4. Assistant.answer_stream, default model", "", ""))
    if "skipped" in ask:
        rows.append(("model", ask["model"], ask["skipped"]))
    else:
        if "load_s" in ask:
            m = ask["memory_after_load"]
            rows.append(("model load (verify sha256 + mmap)", f"{ask['load_s']:.2f} s",
                         f"{ask['model']}; peak RSS after load {m['peak_rss_mb']:.0f} MB"))
        for run in ask["runs"]:
            if run["first_token_ms"] is None:
                rows.append((f"  {run['id']}", "no first token",
                             "abstained" if run["abstained"] else "generation failed"))
                continue
            rate = f" (~{run['chunks_per_s']}/s)" if run["chunks_per_s"] else ""
            prefill = run["prefill_tokens_per_s_est"]
            rows.append((f"  {run['id']} first token / total",
                         f"{run['first_token_ms'] / 1000:.2f} / {run['total_ms'] / 1000:.2f} s",
                         f"prompt ~{run['prompt_tokens_est']} tok" + (f" (~{prefill} tok/s prefill)" if prefill else "")
                         + f", {run['stream_chunks']} streamed chunks{rate}, {run['citations']} citations"))
            if run["generation_failed"]:
                rows.append(("    GENERATION FAILED", "", run["failure"] or ""))
        if "first_token_ms_median" in ask:
            failed = sum(1 for r in ask["runs"] if r["generation_failed"])
            rows.append(("median first token / total",
                         f"{ask['first_token_ms_median'] / 1000:.2f} / {ask['total_ms_median'] / 1000:.2f} s",
                         f"{len(ask['runs'])} questions, {failed} failed"))
    if "memory" in ask:
        rows.append(mem_row(ask))
    rows += [("== end", "", ""), ("load average at end (1/5/15 min)", " ".join(map(str, fig["loadavg_end"])), ""),
             ("bench wall time", f"{fig['wall_s']:.0f} s", "")]
    return table(rows)


# ---------------------------------------------------------------------------------------------


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--skip-llm", action="store_true", help="skip the ask (LLM) phase")
    parser.add_argument("--queries", type=int, default=50, help="search queries timed (default 50)")
    parser.add_argument("--repeat", type=int, default=1,
                        help="cold ingest runs of each pipeline, interleaved; the best is reported (default 1)")
    parser.add_argument("--no-dedupe", action="store_true",
                        help="baseline: one Document per feed entry (412) instead of one per paper (301)")
    parser.add_argument("--no-ab", action="store_true",
                        help="skip the interleaved embedding A/B of the two pipelines' texts (saves about a minute)")
    parser.add_argument("--json", metavar="FILE", type=Path, help="also write the figures as JSON to FILE")
    args = parser.parse_args(argv)

    started = now()
    root = Path(tempfile.mkdtemp(prefix="bench-core-"))
    fig: dict[str, Any] = {"repeat": args.repeat}
    assistant = None
    try:
        print("bench: start-up ...", file=sys.stderr, flush=True)
        fig["environment"] = phase_startup()

        from assistant.core.settings import Settings
        from assistant.index.embedder import MiniLMEmbedder

        baseline_embedder = None
        ours_runs, base_runs = [], []
        for i in range(args.repeat):
            print(f"bench: our ingest (run {i + 1}) ...", file=sys.stderr, flush=True)
            if assistant is not None:
                assistant.close()
                assistant = None  # free its ONNX session before the next one loads
            ours, assistant = phase_ours(root / f"ours-{i}")
            ours_runs.append(ours)
            print(f"bench: llama-index baseline (run {i + 1}) ...", file=sys.stderr, flush=True)
            if baseline_embedder is None:  # its own instance of the same model, created (and warmed) untimed
                baseline_embedder = MiniLMEmbedder(Settings().embed)
                baseline_embedder.embed(["warm-up"])
            base_runs.append(phase_baseline(root / f"baseline-{i}", baseline_embedder, dedupe=not args.no_dedupe))
        # Best of the repeats for each pipeline (other jobs only ever slow a run down), with that run's breakdown;
        # memory is the last run's (peak RSS only grows).
        best = min(ours_runs, key=lambda r: r["cold_s"])
        ours = {**best, "memory": ours_runs[-1]["memory"], "loadavg": ours_runs[-1]["loadavg"]}
        base = {**min(base_runs, key=lambda r: r["total_s"]),
                "memory": base_runs[-1]["memory"], "loadavg": base_runs[-1]["loadavg"]}
        fig["ours_cold_all_s"] = [r["cold_s"] for r in ours_runs]
        fig["baseline_all_s"] = [r["total_s"] for r in base_runs]
        ours_texts, base_texts = ours.pop("_texts"), base.pop("_texts")
        for run in (*ours_runs, *base_runs):
            run.pop("_texts", None)
        fig["ours"], fig["baseline"] = ours, base
        if not args.no_ab:
            print("bench: interleaved embedding A/B ...", file=sys.stderr, flush=True)
            fig["embed_ab"] = phase_embed_ab(baseline_embedder, ours_texts, base_texts)
        fig["ingest_ratio"] = round(ours["cold_papers_per_s"] / base["papers_per_s"], 2)

        print(f"bench: {args.queries} searches ...", file=sys.stderr, flush=True)
        fig["search"] = phase_search(assistant, args.queries)
        fig["search"]["memory"], fig["search"]["loadavg"] = memory(), load_avg()

        if args.skip_llm:
            fig["ask"] = {"model": Settings().llm.model, "skipped": "skipped: --skip-llm"}
        else:
            print("bench: ask with the default model ...", file=sys.stderr, flush=True)
            fig["ask"] = phase_ask(assistant)
            fig["ask"]["memory"], fig["ask"]["loadavg"] = memory(), load_avg()
    finally:
        if assistant is not None:
            assistant.close()
        shutil.rmtree(root, ignore_errors=True)
    fig["loadavg_end"] = load_avg()
    fig["wall_s"] = round(now() - started, 1)
    print(render(fig))
    if args.json:
        args.json.write_text(json.dumps(fig, indent=2) + "\n", encoding="utf-8")
        print(f"\nfigures written to {args.json}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
