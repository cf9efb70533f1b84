"""How fast the installed llama.cpp build reads a prompt and writes tokens: first-token time and tokens/s.

Prompts are the answer's own per-paper prompts (system prompt + question + a paper's evidence sentences,
from the dev set's questions on the seed index), so the figure is the wait before the first model token
of an attributed answer, minus retrieval. Each prompt runs from an empty cache. Prints figures; asserts
nothing. To compare two builds, run it once per interpreter (or with PYTHONPATH pointing at another
`pip install --target` of llama-cpp-python).

    ASSISTANT_DATA_DIR=/tmp/evaldata python bench/llm_prefill.py [--prompts 6] [--tokens 32]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from assistant.core.offline import apply_offline_defaults  # noqa: E402

apply_offline_defaults()

from assistant.answer.attribute import paper_prompt, select_evidence  # noqa: E402
from assistant.core.settings import load_settings  # noqa: E402
from assistant.engine import Assistant  # noqa: E402
from evals.dataset import load_dataset  # noqa: E402

DEV = Path(__file__).resolve().parents[1] / "evals" / "datasets" / "dev.jsonl"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--prompts", type=int, default=6)
    parser.add_argument("--tokens", type=int, default=32, help="tokens generated per prompt")
    args = parser.parse_args()
    settings = load_settings()
    bot = Assistant(settings, chat_model=None)
    questions = [case.question for case in load_dataset(DEV) if case.type == "single"][: args.prompts]
    prompts = []
    for question in questions:
        hit = bot.retrieve(question).hits[0]
        evidence = select_evidence(question, [(hit, bot._paper_text(hit))], bot.sparse, bot.sentence_vectors)[0]
        prompts.append([{"role": "system", "content": bot.prompts.paper_system},
                        {"role": "user", "content": paper_prompt(bot.prompts.paper_answer, question, evidence)}])
    bot.close()

    import llama_cpp

    llm = llama_cpp.Llama(model_path=str(settings.llm.gguf_path), n_ctx=settings.llm.n_ctx,
                          n_threads=settings.llm.n_threads, verbose=False)
    print(f"llama_cpp {llama_cpp.__version__} from {Path(llama_cpp.__file__).parent}")
    print(f"system info: {llama_cpp.llama_print_system_info().decode(errors='replace').strip()}")
    first, rate, lengths = [], [], []
    for messages in prompts:
        tokens = llm.tokenize(_rendered(llm, messages).encode(), add_bos=False, special=True)
        lengths.append(len(tokens))
        llm.reset()  # no prefix reuse: the whole prompt is read
        started, first_at, count = time.perf_counter(), None, 0
        for _ in llm.create_completion(tokens, max_tokens=args.tokens + 1, temperature=0, stream=True):
            count += 1
            first_at = first_at or time.perf_counter()
        ended = time.perf_counter()
        first.append(first_at - started)
        rate.append((count - 1) / (ended - first_at) if count > 1 else 0.0)
    prefill = [n / s for n, s in zip(lengths, first, strict=True)]
    print(f"prompts: {len(prompts)}, tokens p50 {statistics.median(lengths):.0f} "
          f"(min {min(lengths)}, max {max(lengths)})")
    print(f"first token s: p50 {statistics.median(first):.2f}  ({', '.join(f'{x:.2f}' for x in first)})")
    print(f"prompt tokens/s: p50 {statistics.median(prefill):.0f}")
    print(f"generated tokens/s: p50 {statistics.median(rate):.1f}")


def _rendered(llm, messages: list[dict]) -> str:
    from llama_cpp.llama_chat_format import Jinja2ChatFormatter

    eos = llm.detokenize([llm.token_eos()], special=True).decode()
    formatter = Jinja2ChatFormatter(template=llm.metadata["tokenizer.chat_template"], eos_token=eos, bos_token="")
    return formatter(messages=messages).prompt


if __name__ == "__main__":
    main()
