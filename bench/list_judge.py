"""Could the embedded model tell which listed papers answer a "which papers ...?" question? (Measured, not built.)

For the list and filter questions of the user set (then the dev set's multi-paper ones), it takes the papers a
listing states (the product's `choose_papers` rule, paper reader gate included) and reads two first-token
probabilities from the embedded model for each: that its list-entry reply starts with the decline word (the
product's own prompt, `prompts/paper_list_*.txt`: a calibrated decline would cost nothing extra), and YES for a
dedicated yes/no prompt (one more prompt per paper, ≈ 3-5 s on 2 cores). Then it prints, for the papers after
the first, how well each signal and the reader's cosine margin tell gold papers from the rest (AUC), and the
listing's precision / recall when the papers below a threshold are left out. Rows stream to ``--out`` as JSON
lines; ``--analyse`` reads such a file again without the model.

    ASSISTANT_DATA_DIR=/tmp/seed-index python bench/list_judge.py --out /tmp/judge.jsonl [--cases 20]
    python bench/list_judge.py --analyse /tmp/judge.jsonl
"""

from __future__ import annotations

import argparse
import json
import sys
from collections import defaultdict
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

JUDGE_SYSTEM = ("You check whether a research paper is an answer to a user's question, from evidence sentences "
                "copied from its abstract. Reply with exactly YES or NO.")
JUDGE = ("Question: {question}\n\nEvidence from the abstract of \"{title}\":\n{evidence}\n\n"
         "Is this paper one of the papers the question asks for? Reply YES or NO.")


def measure(out: Path, most_cases: int | None) -> None:
    from assistant.answer.attribute import list_entry_prompt, select_evidence
    from assistant.answer.local.provider import register_local_llm
    from assistant.answer.local.runner import _shared
    from assistant.core.settings import load_settings
    from assistant.engine import Assistant
    from evals.dataset import load_dataset
    from evals.runner import Scorer

    settings = load_settings()
    engine = Assistant(settings, chat_model=None)
    model = register_local_llm(settings.llm)
    model.load()
    llm, render = model._llm, model._formatter

    def first_token(system: str, user: str) -> np.ndarray:
        """The first reply token's probabilities; the prompt's prefix llama.cpp holds already is not read again."""
        rendered = render(messages=[{"role": "system", "content": system}, {"role": "user", "content": user}])
        tokens = llm.tokenize(rendered.prompt.encode(), add_bos=not rendered.added_special, special=True)
        common = min(_shared(llm._input_ids[: llm.n_tokens], tokens), len(tokens) - 1)  # one token read at least
        llm.n_tokens = common
        llm.eval(tokens[common:])
        logits = np.ctypeslib.as_array(llm._ctx.get_logits(), shape=(llm.n_vocab(),)).astype(np.float64)
        p = np.exp(logits - logits.max())
        return p / p.sum()

    def token(text: str) -> int:
        return llm.tokenize(text.encode(), add_bos=False, special=False)[0]

    declined, yes = token("NOT"), token("YES")
    scorer = Scorer(engine.paper_titles(), engine.prompts.system)
    done = 0
    with out.open("w", encoding="utf-8") as sink:
        for path, types in ((Path("evals/datasets/user.jsonl"), ("list", "filter")),
                            (Path("evals/datasets/dev.jsonl"), ("multi",))):
            for case in [c for c in load_dataset(path, engine.paper_titles().values()) if c.type in types]:
                if most_cases is not None and done >= most_cases:
                    return
                question = case.questions[-1]
                found = engine.retrieve(question)
                if not found.hits:
                    continue
                evidence = select_evidence(found.query, [(h, engine._paper_text(h)) for h in found.hits],
                                           engine.sparse, engine.sentence_vectors)
                reader = engine._reader_scores(found.query, [ev.hit for ev in evidence]) if engine.reader else None
                stated = sum(engine._choose(found.query, evidence, True), [])  # stated, then named nearby
                gold = scorer.gold_ids(case)
                # The entry prompts of one question first, then the judge's: each shares its prefix with the last.
                prompts = engine.prompts
                entries = [first_token(prompts.paper_list_system,
                                       list_entry_prompt(prompts.paper_list_answer, question, ev)) for ev in stated]
                judged = [first_token(JUDGE_SYSTEM, JUDGE.format(
                    question=question, title=ev.hit.title, evidence="\n".join(f"- {s}" for s in ev.sentences)))
                    for ev in stated]
                for position, (ev, entry, judge) in enumerate(zip(stated, entries, judged, strict=True)):
                    rank = evidence.index(ev)
                    margin = float(reader[rank] - reader[0]) if reader is not None else 0.0
                    sink.write(json.dumps({"dataset": path.stem, "id": case.id, "split": case.split,
                                           "position": position, "gold": ev.hit.paper_id in gold, "n_gold": len(gold),
                                           "declines": float(entry[declined]), "yes": float(judge[yes]),
                                           "reader_margin": margin}) + "\n")
                    sink.flush()
                done += 1
    engine.close()


def _auc(rows: list[dict], key: str, sign: float) -> str:
    later = [r for r in rows if r["position"] > 0]
    good = [sign * r[key] for r in later if r["gold"]]
    bad = [sign * r[key] for r in later if not r["gold"]]
    if not good or not bad:
        return "-"
    wins = sum((g > b) + 0.5 * (g == b) for g in good for b in bad)
    return f"{wins / len(good) / len(bad):.3f} ({len(good)} gold / {len(bad)} not)"


def _listing(rows: list[dict], keep) -> str:
    cases = defaultdict(list)
    for row in rows:
        cases[row["id"]].append(row)
    precision, recall, stated = [], [], 0
    for entries in cases.values():
        kept = [r for r in entries if r["position"] == 0 or keep(r)]
        found = sum(r["gold"] for r in kept)
        precision.append(found / len(kept))
        recall.append(found / entries[0]["n_gold"])
        stated += len(kept)
    return (f"{sum(precision) / len(cases):.3f} | {sum(recall) / len(cases):.3f} | "
            f"{stated / len(cases):.2f}")


def analyse(path: Path) -> None:
    rows = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
    print(f"{len(rows)} stated papers of {len({r['id'] for r in rows})} questions")
    print(f"AUC, papers after the first: not declining {_auc(rows, 'declines', -1)}; YES {_auc(rows, 'yes', 1)}; "
          f"reader margin {_auc(rows, 'reader_margin', 1)}")
    print("| leave out | P | R | papers stated |\n|---|---|---|---|")
    print(f"| nothing (the product) | {_listing(rows, lambda r: True)} |")
    for t in (0.5, 0.6):
        print(f"| YES below {t} | {_listing(rows, lambda r, t=t: r['yes'] >= t)} |")
    for t in (0.2, 0.3):
        print(f"| decline at or above {t} | {_listing(rows, lambda r, t=t: r['declines'] < t)} |")
    for m in (0.06, 0.08):
        print(f"| reader margin below -{m} | {_listing(rows, lambda r, m=m: r['reader_margin'] >= -m)} |")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path("list_judge.jsonl"))
    parser.add_argument("--cases", type=int, default=None, help="stop after this many questions")
    parser.add_argument("--analyse", type=Path, default=None, help="only analyse an earlier run's rows")
    args = parser.parse_args()
    if args.analyse is None:
        measure(args.out, args.cases)
    analyse(args.analyse or args.out)


if __name__ == "__main__":
    main()
