"""Generate the QMSum validation question set from ../shared/data/qmsum/val (data stays there).

Each specific query becomes a question about its own meeting (`doc_id`), with gold spans from
`relevant_text_span` (0-based turn ids, end inclusive) as both character spans and turn ids.

    python eval/qmsum.py                      # writes eval/sets/qmsum-val.jsonl
    rag build ../shared/data/qmsum/val --index eval/indexes/qmsum
    rag eval eval/sets/qmsum-val.jsonl --index eval/indexes/qmsum
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from rag import load_documents, split_turns

DEFAULT_DATA = Path(__file__).resolve().parents[2] / "shared" / "data" / "qmsum" / "val"


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


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--data", type=Path, default=DEFAULT_DATA, help="the QMSum val folder")
    p.add_argument("--out", type=Path, default=Path("eval/sets/qmsum-val.jsonl"))
    args = p.parse_args()
    rows = questions(args.data)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), encoding="utf-8")
    print(f"wrote {len(rows)} questions to {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
