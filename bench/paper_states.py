#!/usr/bin/env python
"""Would a per-paper saved llama.cpp state bring the first model token under 3 s on a 2-core AVX2 CPU?

Today a paper's prompt puts the question first and the paper's 2 best sentences after it (the system prompt
is the only prefix llama.cpp can keep), so each answer reads ≈ 110 new tokens before its first token. Put the
paper first (its title and whole abstract, the same for every question) and the question last, and the
paper's part can be evaluated once, its state saved (llama_state_get_data) and loaded before the question's
few tokens are read. For the first ``--questions`` single-paper dev questions and their first paper found:

    ASSISTANT_DATA_DIR=/tmp/seed-index python bench/paper_states.py --questions 12 --work /tmp/states

prints, per question, the first token of today's prompt (system prompt already evaluated), of the paper-first
prompt read whole, and of the paper-first prompt after loading the paper's state from disk, with the state's
build time, size and load time; then p50s. Nothing is asserted; figures in bench/README.md.
"""
from __future__ import annotations

import argparse
import ctypes
import statistics
import time
from pathlib import Path

import numpy as np
from mpnet_reading import engine
from readings import single_questions

REPO = Path(__file__).resolve().parents[1]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--questions", type=int, default=12)
    parser.add_argument("--work", type=Path, required=True, help="folder for the saved states")
    args = parser.parse_args()
    import llama_cpp
    from llama_cpp import Llama

    from assistant.answer.attribute import paper_prompt, select_evidence

    settings, bot = engine()
    system = (REPO / "prompts" / "paper_system.txt").read_text()
    template = (REPO / "prompts" / "paper_answer.txt").read_text()
    items = []
    for _, case in [row for row in single_questions() if row[0] == "dev single"][: args.questions]:
        found = bot.retrieve(case["question"])
        evidence = select_evidence(found.query, [(hit, bot._paper_text(hit)) for hit in found.hits[:1]], bot.sparse,
                                   bot.sentence_vectors)[0]
        items.append((case["question"], evidence, bot.paper(evidence.hit.paper_id)))
    bot.close()
    llm = Llama(model_path=str(settings.llm.gguf_path), n_ctx=2048, n_threads=2, flash_attn=True, verbose=False)

    def render(user: str) -> str:  # Qwen2.5's chat template, as the product renders it
        return f"<|im_start|>system\n{system}<|im_end|>\n<|im_start|>user\n{user}<|im_end|>\n<|im_start|>assistant\n"

    def tokens(text: str) -> list[int]:
        return llm.tokenize(text.encode(), special=True)

    def first_token(prompt: list[int]) -> float:
        started = time.perf_counter()
        next(iter(llm.create_completion(prompt=prompt, max_tokens=1, temperature=0, stream=True)))
        return time.perf_counter() - started

    def other_prompt() -> None:  # leave only the system prompt evaluated, as after another paper's answer
        llm.create_completion(prompt=tokens(render("Question: hello")), max_tokens=1)

    args.work.mkdir(parents=True, exist_ok=True)
    rows = []
    print("| question | today: tokens, first token | paper first, read whole | state: build, MB, load | "
          "paper first, state loaded: new tokens, first token |")
    print("|---|---|---|---|---|")
    for n, (question, evidence, paper) in enumerate(items):
        other_prompt()
        today = tokens(render(paper_prompt(template, question, evidence, 2)))
        t_today = first_token(today)
        head = render(f'Abstract of "{paper.title}":\n{paper.abstract}\n\nQuestion: X')[:-1]
        head = head[: head.rindex("Question: ") + len("Question: ")]
        whole = tokens(head + question + "<|im_end|>\n<|im_start|>assistant\n")
        prefix = tokens(head)[:-1]  # the last token may merge with the question's first
        assert whole[: len(prefix)] == prefix
        other_prompt()
        t_whole = first_token(whole)
        llm.reset()
        started = time.perf_counter()
        llm.eval(prefix)
        size = llama_cpp.llama_state_get_size(llm._ctx.ctx)
        buffer = (ctypes.c_uint8 * size)()
        written = llama_cpp.llama_state_get_data(llm._ctx.ctx, buffer, size)
        path = args.work / f"{n}.state"
        path.write_bytes(bytes(buffer)[:written])
        np.save(args.work / f"{n}.ids.npy", np.array(prefix, dtype=np.int32))
        t_build = time.perf_counter() - started
        other_prompt()
        started = time.perf_counter()
        data = path.read_bytes()
        ids = np.load(args.work / f"{n}.ids.npy")
        restored = (ctypes.c_uint8 * len(data)).from_buffer_copy(data)
        if llama_cpp.llama_state_set_data(llm._ctx.ctx, restored, len(data)) != len(data):
            raise RuntimeError("llama_state_set_data failed")
        llm.input_ids[: len(ids)] = ids
        llm.n_tokens = len(ids)
        t_load = time.perf_counter() - started
        t_state = first_token(whole)
        rows.append((t_today, t_whole, t_build, written / 1e6, t_load, t_state))
        print(f"| {question[:60]}… | {len(today)}, {t_today:.2f} s | {len(whole)}, {t_whole:.2f} s | {t_build:.1f} s, "
              f"{written / 1e6:.1f}, {t_load * 1000:.0f} ms | {len(whole) - len(prefix)}, {t_state:.2f} s |")
    p50 = [statistics.median(column) for column in zip(*rows, strict=True)]
    print(f"\np50: today {p50[0]:.2f} s; paper first read whole {p50[1]:.2f} s; state build {p50[2]:.1f} s, "
          f"{p50[3]:.1f} MB, load {p50[4] * 1000:.0f} ms; paper first with its state loaded {p50[5]:.2f} s "
          f"(+ load: {p50[5] + p50[4]:.2f} s)")


if __name__ == "__main__":
    main()
