"""Calibrate the answer-or-refuse thresholds (Settings.min_dense, Settings.min_coverage) on data.

Every question of the sets is asked once with the thresholds off, recording its evidence (best
passage cosine, best sentence topic coverage). A grid search then picks the pair that maximises
balanced accuracy (the mean of the answer rate on answerable questions and the refusal rate on
unanswerable ones) over all sets together; a 5-fold cross-validation on the same questions says
how much of that is fit to these questions. Writes eval/calibration.json.

    python eval/calibrate.py eval/sets/seed.jsonl:index eval/sets/qmsum-val.jsonl:eval/indexes/qmsum
"""

from __future__ import annotations

import argparse
import json
import random
import statistics
from pathlib import Path

import numpy as np

from rag import Pipeline, Settings
from rag.evaluate import load_set

DENSE = np.round(np.arange(0.20, 0.80, 0.01), 2)
COVERAGE = np.round(np.arange(0.20, 1.05, 0.05), 2)


def collect(set_path: Path, index: Path) -> list[dict[str, object]]:
    """Per question: expected answerability and the evidence, or a fixed outcome."""
    off = Pipeline.load(index, settings=Settings(min_dense=0.0, min_coverage=0.0))
    strict = Pipeline(off.index, off.embedder, Settings(min_dense=2.0, min_coverage=2.0))
    rows = []
    for q in load_set(set_path):
        loose = off.ask(q.question, history=q.history, doc_id=q.doc_id)
        always = strict.ask(q.question, history=q.history, doc_id=q.doc_id).answerable
        rows.append(
            {
                "id": q.id,
                "expected": q.answerable,
                "fixed": None if loose.answerable and not always else loose.answerable,
                "dense": loose.evidence.dense,
                "coverage": loose.evidence.coverage,
            }
        )
    return rows


def predict(row: dict[str, object], d: float, c: float) -> bool:
    if row["fixed"] is not None:
        return bool(row["fixed"])
    return float(row["dense"]) >= d or float(row["coverage"]) >= c  # type: ignore[arg-type]


def balanced_accuracy(rows: list[dict[str, object]], d: float, c: float) -> float:
    pos = [predict(r, d, c) for r in rows if r["expected"]]
    neg = [not predict(r, d, c) for r in rows if not r["expected"]]
    parts = [statistics.fmean(x) for x in (pos, neg) if x]
    return statistics.fmean(parts)


def best(rows: list[dict[str, object]]) -> tuple[float, float, float]:
    """The grid point with the highest balanced accuracy; ties go to the middle of the plateau."""
    scores = np.array([[balanced_accuracy(rows, d, c) for c in COVERAGE] for d in DENSE])
    top = np.argwhere(scores >= scores.max() - 1e-9)
    i, j = top[len(top) // 2]
    return float(DENSE[i]), float(COVERAGE[j]), float(scores.max())


def cross_validate(rows: list[dict[str, object]], folds: int = 5, seed: int = 0) -> float:
    shuffled = rows[:]
    random.Random(seed).shuffle(shuffled)
    scores = []
    for f in range(folds):
        test = shuffled[f::folds]
        train = [r for i, r in enumerate(shuffled) if i % folds != f]
        d, c, _ = best(train)
        scores.append(balanced_accuracy(test, d, c))
    return statistics.fmean(scores)


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("sets", nargs="+", help="SET.jsonl:INDEX_DIR pairs")
    p.add_argument("--out", type=Path, default=Path("eval/calibration.json"))
    args = p.parse_args()
    rows, per_set = [], {}
    for item in args.sets:
        set_path, _, index = item.partition(":")
        got = collect(Path(set_path), Path(index or "index"))
        per_set[set_path] = got
        rows.extend(got)
    d, c, score = best(rows)
    report = {
        "min_dense": d,
        "min_coverage": c,
        "balanced_accuracy": round(score, 4),
        "cross_validated_balanced_accuracy": round(cross_validate(rows), 4),
        "per_set": {s: round(balanced_accuracy(r, d, c), 4) for s, r in per_set.items()},
        "questions": len(rows),
    }
    args.out.write_text(json.dumps(report, indent=2) + "\n")
    print(json.dumps(report, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
