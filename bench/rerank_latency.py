"""What the rerank stage costs a search: `Assistant.search` p50/p95 with rerank 'none', 'blend' without the paper
reader and 'blend' (with it, the default) after warm-up.

Both engines share one index; questions are the user set's single-paper ones (reworded, the case the blend
is for) interleaved so load changes hit both alike. Prints warm-up time and per-stage figures; asserts nothing.

    ASSISTANT_DATA_DIR=/tmp/evaldata python bench/rerank_latency.py [--queries 40]
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from assistant.core.settings import load_settings  # noqa: E402
from assistant.engine import Assistant, Timer  # noqa: E402
from evals.dataset import load_dataset  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--queries", type=int, default=40)
    args = parser.parse_args()
    settings = load_settings()
    blend = Assistant(settings.model_copy(update={"rerank": settings.rerank.model_copy(update={"kind": "blend"})}),
                      chat_model=None)
    none = Assistant(settings.model_copy(update={"rerank": settings.rerank.model_copy(update={"kind": "none"})}),
                     index=blend.index, embedder=blend.embedder, sparse=blend.sparse, chat_model=None)
    unread = Assistant(settings, index=blend.index, embedder=blend.embedder, sparse=blend.sparse, chat_model=None,
                       reader=None)
    started = time.perf_counter()
    blend.warm_up()
    warm = time.perf_counter() - started
    questions = [c.questions[-1] for c in load_dataset(Path("evals/datasets/user.jsonl"), blend.paper_titles().values())
                 if c.type == "single"][: args.queries]
    totals: dict[str, list[float]] = {"none": [], "blend without the reader": [], "blend": []}
    stages: dict[str, list[float]] = {}
    for question in questions:
        for name, engine in (("none", none), ("blend without the reader", unread), ("blend", blend)):
            timer = Timer()
            engine.embedder._recent.clear()  # the other engine's forward pass of this question is not this one's
            if engine.reader:
                engine.reader.model._recent.clear()
            start = time.perf_counter()
            engine.retrieve(question, timer=timer)
            totals[name].append((time.perf_counter() - start) * 1000)
            if name == "blend":
                for stage, value in timer.timings_ms.items():
                    stages.setdefault(stage, []).append(value)
    print(f"{os.cpu_count()} CPUs, load {' '.join(f'{x:.2f}' for x in os.getloadavg())}; "
          f"warm-up (sentence vectors + MaxSim passages + the reader's model, no chat model) {warm:.1f} s; "
          f"{len(questions)} questions")
    print("| search | p50 ms | p95 ms |\n|---|---|---|")
    for name, values in totals.items():
        print(f"| rerank {name} | {np.percentile(values, 50):.1f} | {np.percentile(values, 95):.1f} |")
    print("\n| blend stage | p50 ms | p95 ms |\n|---|---|---|")
    for stage, values in stages.items():
        print(f"| {stage} | {np.percentile(values, 50):.1f} | {np.percentile(values, 95):.1f} |")
    blend.close()


if __name__ == "__main__":
    main()
