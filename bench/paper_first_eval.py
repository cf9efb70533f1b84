#!/usr/bin/env python
"""`assistant eval` with the paper-first prompt (bench/paper_states.py's format): each paper's title and whole
abstract, then the question, so a saved llama.cpp state of the paper's part could be loaded per paper.

    ASSISTANT_DATA_DIR=/tmp/seed-index python bench/paper_first_eval.py eval \
        --dataset evals/datasets/dev.jsonl --limit 80 --out /tmp/pf80

The system prompt and per-paper template are bench/paper_first_prompts/ (the other prompts are the shipped
ones); every other argument is `assistant`'s. Figures in bench/README.md.
"""
from __future__ import annotations

import os
import shutil
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def main() -> None:
    prompts = Path(tempfile.mkdtemp(prefix="paper-first-prompts-"))
    for path in (REPO / "prompts").glob("*.txt"):
        shutil.copy(path, prompts / path.name)
    for path in (REPO / "bench" / "paper_first_prompts").glob("*.txt"):
        shutil.copy(path, prompts / path.name)
    os.environ["ASSISTANT_PROMPTS_DIR"] = str(prompts)
    import assistant.engine as engine

    def whole_abstract(template, question, evidence, most=2):  # every sentence, in abstract order
        return template.format(question=question, title=evidence.hit.title, evidence=" ".join(evidence.sentences))

    engine.paper_prompt = whole_abstract
    from assistant.surfaces.cli import main as cli

    sys.exit(cli())


if __name__ == "__main__":
    main()
