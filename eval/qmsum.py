"""Generate the QMSum validation question set from the meetings vendored in eval/data/qmsum/val.

Each specific query becomes a question about its own meeting (`doc_id`), with gold spans from
`relevant_text_span` (0-based turn ids, end inclusive) as both character spans and turn ids. Two
queries of each meeting are also asked of a meeting of another kind (`negatives`): they must be
refused, which calibrates the answer-or-refuse gate on more than the seed's negatives.

    python eval/qmsum.py                      # writes eval/sets/qmsum-val.jsonl and qmsum-archive.jsonl
    rag build $(python eval/qmsum.py --print-data) --index eval/indexes/qmsum
    rag eval eval/sets/qmsum-val.jsonl --index eval/indexes/qmsum
"""

from __future__ import annotations

import argparse
import json
import os
import re
from pathlib import Path

from rag import load_documents, split_turns


def _default_data() -> Path:
    """The meetings vendored in eval/data/qmsum/val, or $RAG_QMSUM (an optional override).

    Relative to the working directory when that is the repository (so built sources and results
    carry repository-relative paths, never one machine's absolute path)."""
    if os.environ.get("RAG_QMSUM"):
        return Path(os.environ["RAG_QMSUM"])
    vendored = Path(__file__).resolve().parent / "data" / "qmsum" / "val"
    try:
        return vendored.relative_to(Path.cwd())
    except ValueError:
        return vendored


DEFAULT_DATA = _default_data()


def questions(data: Path) -> list[dict[str, object]]:
    """One question per specific query of every meeting under `data`."""
    out = []
    for doc in load_documents([data]):
        turns = split_turns(doc)
        raw = json.loads(Path(doc.source).read_text(encoding="utf-8"))
        for i, item in enumerate(raw.get("specific_query_list", [])):
            spans, turn_ids = [], []
            for first, last in item["relevant_text_span"]:
                a, b = int(first), int(last)
                spans.append({"source": doc.source, "start": turns[a].start, "end": turns[b].end})
                turn_ids.extend(range(a, b + 1))
            out.append(
                {
                    "id": f"{doc.doc_id}-{i:02d}",
                    "question": item["query"],
                    "answerable": True,
                    "doc_id": doc.doc_id,
                    "gold": spans,
                    "gold_turns": sorted(set(turn_ids)),
                    "facts": [],
                    "history": [],
                }
            )
    return out


# Questions that fit any meeting ("Summarize the whole meeting") cannot be asked of the wrong one.
_GENERIC = re.compile(r"\b(?:meetings?|whole|general|overall|presentations?)\b", re.I)


def domain(doc_id: str) -> str:
    """QMSum's three kinds of meeting: academic (ICSI: Bed, Bmr, Bro), product design (AMI: ES,
    IS, TS) and committee (parliamentary: covid, education)."""
    if doc_id[:1] == "B":
        return "academic"
    return "product" if doc_id[:2] in ("ES", "IS", "TS") else "committee"


def negatives(data: Path, per_meeting: int = 2) -> list[dict[str, object]]:
    """Questions that must be refused: the first specific queries of each meeting, asked of a
    meeting of another kind (a product-design question of a committee hearing, and so on)."""
    files = sorted(data.glob("*.json"))
    kinds = ["academic", "product", "committee"]
    by_kind = {k: [f.stem for f in files if domain(f.stem) == k] for k in kinds}
    out = []
    for n, f in enumerate(files):
        other = kinds[(kinds.index(domain(f.stem)) + 1) % len(kinds)]
        target = by_kind[other][n % len(by_kind[other])]
        raw = json.loads(f.read_text(encoding="utf-8"))
        asked = [q["query"] for q in raw.get("specific_query_list", []) if not _GENERIC.search(q["query"])]
        for i, query in enumerate(asked[:per_meeting]):
            out.append(
                {
                    "id": f"{f.stem}-not-{target}-{i}",
                    "kind": "negative",
                    "question": query,
                    "answerable": False,
                    "doc_id": target,
                    "gold": [],
                    "facts": [],
                    "history": [],
                }
            )
    return out


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--data", type=Path, default=DEFAULT_DATA, help="the QMSum val folder")
    p.add_argument("--out", type=Path, default=Path("eval/sets/qmsum-val.jsonl"))
    p.add_argument("--print-data", action="store_true", help="print the data folder and exit")
    p.add_argument(
        "--archive",
        type=Path,
        default=Path("eval/sets/qmsum-archive.jsonl"),
        help="also write the same questions with no document named (asked of the whole archive)",
    )
    args = p.parse_args()
    if args.print_data:
        print(args.data)
        return 0
    if not args.data.is_dir():
        p.error(f"{args.data} is not a folder; pass --data PATH/TO/qmsum/val or set RAG_QMSUM")
    rows = questions(args.data) + negatives(args.data)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), encoding="utf-8")
    refuse = sum(not r["answerable"] for r in rows)
    print(f"wrote {len(rows)} questions ({refuse} to be refused: asked of a meeting of another kind) to {args.out}")
    archive = [archived(r) for r in rows if r["answerable"]]
    args.archive.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in archive), encoding="utf-8")
    print(f"wrote {len(archive)} questions that name no meeting to {args.archive}")
    return 0


def archived(row: dict[str, object]) -> dict[str, object]:
    """A question as a user with an archive asks it: no meeting named; scored on its own meeting."""
    return {**row, "id": f"archive-{row['id']}", "doc_id": None, "gold_doc": row["doc_id"]}


if __name__ == "__main__":
    raise SystemExit(main())
