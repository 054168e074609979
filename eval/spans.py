"""Fill and check the gold spans of a question set from quoted phrases.

Each question lists the passages that answer it as exact phrases (`gold_quotes`); this finds them in
the sources and writes their character offsets into `gold`, so the set stays easy to extend by hand.

    python eval/spans.py eval/sets/seed.jsonl            # check: every quote found, spans match
    python eval/spans.py eval/sets/seed.jsonl --write    # recompute `gold` from `gold_quotes`
    python eval/spans.py --find "Helsinki in 2018"       # print the span of a phrase

A phrase must occur exactly once across the sources; lengthen it if it is ambiguous.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from rag import Document, load_documents


def find_span(docs: list[Document], phrase: str) -> dict[str, object]:
    """The one place `phrase` occurs: {"source", "start", "end"}.

    Raises:
        ValueError: the phrase occurs nowhere or more than once.
    """
    found = []
    for doc in docs:
        start = doc.text.find(phrase)
        while start != -1:
            found.append({"source": doc.source, "start": start, "end": start + len(phrase)})
            start = doc.text.find(phrase, start + 1)
    if len(found) != 1:
        where = "nowhere" if not found else f"{len(found)} times"
        raise ValueError(f"{phrase[:60]!r} occurs {where} in the sources; quote it exactly and uniquely")
    return found[0]


def fill(path: Path, docs: list[Document], *, write: bool) -> int:
    """Check (or rewrite) every question's gold spans; returns the number of problems."""
    rows = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
    problems = 0
    for row in rows:
        try:
            spans = [find_span(docs, q) for q in row.get("gold_quotes", [])]
        except ValueError as err:
            print(f"{path}: {row['id']}: {err}", file=sys.stderr)
            problems += 1
            continue
        if write:
            row["gold"] = spans
        elif row.get("gold") != spans:
            print(f"{path}: {row['id']}: gold spans do not match gold_quotes; run with --write", file=sys.stderr)
            problems += 1
    if write and not problems:
        text = "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows)
        path.write_text(text, encoding="utf-8")
    return problems


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("set", nargs="?", type=Path, help="a .jsonl question set")
    p.add_argument("--sources", nargs="*", type=Path, default=[Path("seeds")])
    p.add_argument("--write", action="store_true", help="rewrite `gold` from `gold_quotes`")
    p.add_argument("--find", help="print the span of one phrase")
    args = p.parse_args()
    docs = load_documents(args.sources)
    if args.find:
        print(json.dumps(find_span(docs, args.find)))
        return 0
    if args.set is None:
        p.error("name a question set or use --find")
    problems = fill(args.set, docs, write=args.write)
    print(f"{args.set}: {'ok' if not problems else f'{problems} problem(s)'}", file=sys.stderr)
    return 1 if problems else 0


if __name__ == "__main__":
    raise SystemExit(main())
