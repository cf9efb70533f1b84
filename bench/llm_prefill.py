"""How fast llama.cpp builds read a prompt and write tokens: first-token time and tokens/s, A/B interleaved.

Prompts are the answer's own per-paper prompts (system prompt + question + a paper's evidence sentences,
from the dev set's questions on the seed index), so the figure is the wait before the first model token
of an attributed answer, minus retrieval. Each prompt runs from an empty cache. Each build runs in its own
process (`installed` is this environment's; another is a folder made by `pip install --target DIR
llama-cpp-python`), with flash attention off and on, alternating round by round so the machine's noise
hits all alike. Prints figures and whether the variants wrote the same text; asserts nothing.

    ASSISTANT_DATA_DIR=/tmp/evaldata python bench/llm_prefill.py [--builds installed,/tmp/llama_avx2]
        [--rounds 3] [--prompts 6] [--tokens 32]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from assistant.core.offline import apply_offline_defaults  # noqa: E402

apply_offline_defaults()

from assistant.core.settings import load_settings  # noqa: E402

DEV = Path(__file__).resolve().parents[1] / "evals" / "datasets" / "dev.jsonl"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--builds", default="installed", help="comma-separated: 'installed' or --target folders")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--prompts", type=int, default=6)
    parser.add_argument("--tokens", type=int, default=32, help="tokens generated per prompt")
    parser.add_argument("--flash-attn", choices=["on", "off", "both"], default="both",
                        help="llama.cpp's fused attention (the setting llm.flash_attn); 'both' runs each build twice")
    parser.add_argument("--time-prompts", type=Path, help=argparse.SUPPRESS)  # the child's job
    args = parser.parse_args()
    if args.time_prompts:
        print(json.dumps(time_prompts(json.loads(args.time_prompts.read_text()), args.tokens,
                                      args.flash_attn == "on")))
        return
    builds = [b.strip() for b in args.builds.split(",") if b.strip()]
    modes = ["off", "on"] if args.flash_attn == "both" else [args.flash_attn]
    variants = [(build, mode) for build in builds for mode in modes]
    results: dict[tuple[str, str], list[dict]] = {variant: [] for variant in variants}
    with tempfile.TemporaryDirectory() as tmp:
        prompts_file = Path(tmp) / "prompts.json"
        prompts_file.write_text(json.dumps(build_prompts(args.prompts)))
        for _ in range(args.rounds):
            for build, mode in variants:
                env = dict(os.environ)
                if build != "installed":
                    env["PYTHONPATH"] = os.pathsep.join(filter(None, [build, env.get("PYTHONPATH")]))
                out = subprocess.run([sys.executable, __file__, "--time-prompts", str(prompts_file),
                                      "--tokens", str(args.tokens), "--flash-attn", mode], env=env,
                                     capture_output=True, text=True, check=True)
                results[(build, mode)].append(json.loads(out.stdout.strip().splitlines()[-1]))
    for (build, mode), runs in results.items():
        first = [x for run in runs for x in run["first"]]
        rate = [x for run in runs for x in run["rate"]]
        prefill = [n / s for run in runs for n, s in zip(run["lengths"], run["first"], strict=True)]
        lengths = runs[0]["lengths"]
        print(f"{build}, flash attention {mode}: llama_cpp {runs[0]['version']} from {runs[0]['path']}")
        print(f"  {runs[0]['system']}")
        print(f"  {len(lengths)} prompts x {len(runs)} rounds, prompt tokens p50 {statistics.median(lengths):.0f} "
              f"(min {min(lengths)}, max {max(lengths)})")
        per_round = ", ".join(f"{statistics.median(run['first']):.2f}" for run in runs)
        print(f"  first token s p50 {statistics.median(first):.2f} (round p50s: {per_round})")
        print(f"  prompt tokens/s p50 {statistics.median(prefill):.0f}, generated tokens/s p50 "
              f"{statistics.median(rate):.1f}")
    outputs = {variant: runs[0]["text"] for variant, runs in results.items()}
    reference = next(iter(outputs.values()))
    for (build, mode), texts in outputs.items():
        same = sum(a == b for a, b in zip(texts, reference, strict=True))
        print(f"{build}, flash attention {mode}: {same}/{len(texts)} outputs identical to the first variant's")


def build_prompts(count: int) -> list[list[dict]]:
    """The per-paper chat messages an attributed answer sends for the dev set's first single-paper questions."""
    from assistant.answer.attribute import paper_prompt
    from assistant.engine import Assistant
    from evals.dataset import load_dataset

    bot = Assistant(load_settings(), chat_model=None)
    try:
        prompts = []
        for case in [case for case in load_dataset(DEV) if case.type == "single"][:count]:
            hit = bot.retrieve(case.question).hits[0]
            prompts.append([{"role": "system", "content": bot.prompts.paper_system},
                            {"role": "user", "content": paper_prompt(bot.prompts.paper_answer, case.question,
                                                                     hit.title, bot._abstract(hit))}])
        return prompts
    finally:
        bot.close()


def time_prompts(prompts: list[list[dict]], tokens: int, flash_attn: bool) -> dict:
    """First-token seconds and generated tokens/s of each prompt, on the llama_cpp this process imports."""
    import llama_cpp
    from llama_cpp.llama_chat_format import Jinja2ChatFormatter

    settings = load_settings().llm
    llm = llama_cpp.Llama(model_path=str(settings.gguf_path), n_ctx=settings.n_ctx, n_threads=settings.n_threads,
                          flash_attn=flash_attn, verbose=False)
    eos = llm.detokenize([llm.token_eos()], special=True).decode()
    formatter = Jinja2ChatFormatter(template=llm.metadata["tokenizer.chat_template"], eos_token=eos, bos_token="")
    first, rate, lengths, texts = [], [], [], []
    for messages in prompts:
        ids = llm.tokenize(formatter(messages=messages).prompt.encode(), add_bos=False, special=True)
        lengths.append(len(ids))
        llm.reset()  # no prefix reuse: the whole prompt is read
        started, first_at, count, text = time.perf_counter(), None, 0, ""
        for piece in llm.create_completion(ids, max_tokens=tokens + 1, temperature=0, stream=True):
            count += 1
            text += piece["choices"][0]["text"]
            first_at = first_at or time.perf_counter()
        ended = time.perf_counter()
        first.append(first_at - started)
        rate.append((count - 1) / (ended - first_at) if count > 1 else 0.0)
        texts.append(text)
    return {"version": llama_cpp.__version__, "path": str(Path(llama_cpp.__file__).parent), "lengths": lengths,
            "first": first, "rate": rate, "text": texts,
            "system": llama_cpp.llama_print_system_info().decode(errors="replace").strip()}


if __name__ == "__main__":
    main()
