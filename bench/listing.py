"""Calibrate listings ("which papers ...", questions stating a filter): how many papers to read, which to state.

For the list and filter cases of the user set (`evals/datasets/user.jsonl`) it retrieves once per k through
the engine (so filters said in the question are read, as in the product), selects evidence, and sweeps
``llm.list_close``: a listing states the first paper and those whose best evidence sentence scores at
least list_close x the first's (at most ``llm.list_papers``). Prints, per split, retrieval recall@k and
the precision / recall / F1 of the stated papers against the gold set, and the papers per answer. With
``--reader-margin``, a stated paper must also be within that margin of the first paper's paper-reader cosine
(the product's rule when the reader's vectors are there; "-" = no reader gate). With ``--sure-margin``, only the
papers within that margin of the first's reader cosine count as stated (cited), the others the gate lets through
being named uncited (`split_listing`): P / R are then the cited papers', "named R" the recall of all the papers
the answer names. Tune on the 'tune' rows; the 'heldout' rows are there to confirm, not to pick from.

    ASSISTANT_DATA_DIR=/tmp/evaldata python bench/listing.py [--k 5 8 10 15] [--most 6 8 10]
    ASSISTANT_DATA_DIR=/tmp/evaldata python bench/listing.py --k 10 --most 6 --close 0.5 0.6 0.7 \
        --reader-margin 0.08 0.1 0.12 0.15 0.2 [--dataset evals/datasets/dev.jsonl --types multi]
    ASSISTANT_DATA_DIR=/tmp/evaldata python bench/listing.py --k 10 --most 6 --close 0.6 --reader-margin 0.12 \
        --sure-margin 0.04 0.06 0.08 0.12
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from assistant.answer.attribute import choose_papers, select_evidence, split_listing  # noqa: E402
from assistant.core.settings import load_settings  # noqa: E402
from assistant.engine import Assistant  # noqa: E402
from evals.dataset import load_dataset  # noqa: E402
from evals.runner import Scorer  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dataset", type=Path, default=Path("evals/datasets/user.jsonl"))
    parser.add_argument("--k", type=int, nargs="+", default=[5, 8, 10, 15], help="papers retrieved and read")
    parser.add_argument("--most", type=int, nargs="+", default=[6, 8, 10], help="most papers stated")
    parser.add_argument("--close", type=float, nargs="+", default=[0.5, 0.6, 0.7, 0.8, 0.9])
    parser.add_argument("--reader-margin", type=float, nargs="+", default=[None],
                        help="gate stated papers on the paper reader's cosine (default: no gate)")
    parser.add_argument("--sure-margin", type=float, nargs="+", default=[None],
                        help="cite only the papers this close to the first's reader cosine, name the rest")
    parser.add_argument("--types", nargs="+", default=["list", "filter"],
                        help="case types to score ('multi' for the dev set's multi-paper questions)")
    args = parser.parse_args()
    settings = load_settings()
    engine = Assistant(settings, chat_model=None)
    scorer = Scorer(engine.paper_titles(), engine.prompts.system)
    cases = [c for c in load_dataset(args.dataset, engine.paper_titles().values()) if c.type in args.types]
    print(f"{len(cases)} {'/'.join(args.types)} cases ({sum(c.split == 'tune' for c in cases)} tune); "
          f"listing detected for {sum(engine.retrieve(c.questions[-1]).listing for c in cases)}")
    print("| split | k | most | close | reader margin | sure margin | recall@k | P | R | F1 | named R | stated |")
    print("|---|---|---|---|---|---|---|---|---|---|---|---|")
    for k in args.k:
        rows = []
        for case in cases:
            question = case.questions[-1]
            found = engine.retrieve(question, k=k)
            evidence = select_evidence(found.query, [(h, engine._paper_text(h)) for h in found.hits],
                                       engine.sparse, engine.sentence_vectors)
            gold = scorer.gold_ids(case)
            recall = len({h.paper_id for h in found.hits} & gold) / len(gold)
            reader = engine._reader_scores(found.query, [ev.hit for ev in evidence]) if engine.reader else None
            rows.append((case.split, evidence, gold, recall, reader))
        for most in args.most:
            for close in args.close:
                for margin in args.reader_margin:
                    for sure in args.sure_margin:
                        for split in sorted({c.split for c in cases}, reverse=True):
                            print(_row(split, k, most, close, margin, sure, [r[1:] for r in rows if r[0] == split]))
    engine.close()


def _row(split: str, k: int, most: int, close: float, margin: float | None, sure: float | None, rows) -> str:
    precisions, recalls, named_recalls, sizes = [], [], [], []
    for evidence, gold, _, reader in rows:
        gate = reader if margin is not None else None
        chosen = choose_papers(evidence, True, most, close, gate, margin or 0.0)
        named = {ev.hit.paper_id for ev in chosen}
        stated = ({ev.hit.paper_id for ev in split_listing(evidence, chosen, gate, sure)[0]} if sure is not None
                  else named)
        precisions.append(len(stated & gold) / len(stated) if stated else 0.0)
        recalls.append(len(stated & gold) / len(gold))
        named_recalls.append(len(named & gold) / len(gold))
        sizes.append(len(stated))
    p, r = sum(precisions) / len(rows), sum(recalls) / len(rows)
    f1 = 2 * p * r / (p + r) if p + r else 0.0
    recall_k = sum(row[2] for row in rows) / len(rows)
    named_r = sum(named_recalls) / len(rows)
    return (f"| {split} | {k} | {most} | {close} | {'-' if margin is None else margin} | "
            f"{'-' if sure is None else sure} | {recall_k:.3f} | {p:.3f} | {r:.3f} | {f1:.3f} | {named_r:.3f} | "
            f"{sum(sizes) / len(sizes):.2f} |")


if __name__ == "__main__":
    main()
