"""Compare rag's reading of tests/data/styles with the pinned structure, and score a run of styles.jsonl.

Each transcript in tests/data/styles/transcripts has a pin file in tests/data/styles/.expected:
its turns in order as [speaker, first six words] (speaker null, with a kind, for headers,
narration, stage directions and notices) and its people with the labels and names the text gives
them. This script reads every transcript with `rag.load_documents` + `rag.split_turns` and says,
per file, whether each pinned turn starts inside a turn of the right person (a null pin: inside
narration or left out), and whether any person was split over two speaker names.

Given a `rag eval eval/sets/styles.jsonl` result JSON, it also scores the answers against the
pins rather than against rag's own turns (`rag eval` checks a citation against the turns rag
read, so a misread document looks consistent there):

- answered right: answerable, and every citation lies in text the asked person said (by the
  pins), and one overlaps the gold; a quoted person: every citation overlaps the gold.
- misattributed citations: the citation names a speaker (mapped to a person by labels/names)
  and the pins say someone else said that text, or nobody did.
- false wrong-premise replies: an answerable question answered "X did not talk about ...".
- refusals: absent/wrong-premise refused; ambiguous refused by asking which one.

    python eval/styles_check.py                                   # structure per file
    python eval/styles_check.py --results eval/results/styles-*.json   # plus the answer figures
    python eval/styles_check.py --json out.json                   # everything, machine-readable
"""

from __future__ import annotations

import argparse
import json
import re
import sys
import unicodedata
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from rag import Document, Turn, load_documents, split_turns

ROOT = Path(__file__).resolve().parent.parent
STYLES = ROOT / "tests" / "data" / "styles"
TITLES = frozenset("mr mrs ms miss dr prof professor madame madam councillor coach chief judge the".split())
NOT_TALKED = "did not talk about"
# Labels that name no one: an interview's or a briefing's question and answer markers. A quote
# cited as "Q" says "a questioner asked", which is true of whichever reporter it was.
UNNAMED = frozenset({"Q", "A"})


@dataclass(frozen=True, slots=True)
class Pin:
    speaker: str | None  # the person's canonical name, or None: nobody's turn
    words: str  # first six words of the turn text
    kind: str  # "turn", or header / narration / stage / notice
    start: int  # where the words start in the document text (-1: not found)


@dataclass
class FileCheck:
    doc_id: str
    pins: int
    right: int = 0
    wrong: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.wrong


# --- reading the pins ----------------------------------------------------------------------------


def norm(name: str) -> str:
    """A speaker name for comparison: no markup, accents, case, punctuation or titles.

    Example: norm("<b>Mayor Ellen Voss</b>") -> "mayor ellen voss"; norm("Mr. PRZYBYLSKI") -> "przybylski"
    """
    text = re.sub(r"<[^>]+>|[*_]", " ", name)
    text = unicodedata.normalize("NFKD", text)
    text = "".join(c for c in text if not unicodedata.combining(c)).casefold()
    words = re.findall(r"[^\W_]+", text)
    while len(words) > 1 and words[0] in TITLES:
        words = words[1:]
    return " ".join(words)


def load_expected(stem: str) -> dict[str, Any]:
    return json.loads((STYLES / ".expected" / f"{stem}.json").read_text(encoding="utf-8"))


def locate(doc: Document, expected: dict[str, Any]) -> list[Pin]:
    """Every pin with the offset of its first words, found in order through the document text."""
    pins, at = [], 0
    for row in expected["turns"]:
        speaker, words = row[0], row[1]
        kind = row[2] if len(row) > 2 else "turn"
        pattern = r"\s+".join(re.escape(w) for w in words.split())
        m = re.compile(pattern).search(doc.text, at)
        start = m.start() if m else -1
        if m:
            at = m.end()
        pins.append(Pin(speaker, words, kind, start))
    return pins


class People:
    """Maps a speaker name as rag gives it to the pinned person it names (or None)."""

    def __init__(self, people: list[dict[str, Any]]) -> None:
        self.forms: dict[str, set[str]] = {}
        self.tokens: dict[str, set[str]] = {}
        for p in people:
            names = [p["name"], *p.get("labels", []), *p.get("names", []), *p.get("variants", [])]
            self.forms[p["name"]] = {norm(n) for n in names if norm(n)}
            self.tokens[p["name"]] = {w for n in names for w in norm(n).split()}

    def exact(self, speaker: str | None) -> str | None:
        """The person whose label or name this is, after `norm` (strict)."""
        if not speaker:
            return None
        found = [name for name, forms in self.forms.items() if norm(speaker) in forms]
        return found[0] if len(found) == 1 else None

    def loose(self, speaker: str | None) -> str | None:
        """`exact`, else the one person whose name words all occur in it or who has all its words."""
        if not speaker:
            return None
        hit = self.exact(speaker)
        if hit:
            return hit
        words = set(norm(speaker).split())
        found = [
            n
            for n, toks in self.tokens.items()
            if words and (words <= toks or norm(n).split() and set(norm(n).split()) <= words)
        ]
        return found[0] if len(found) == 1 else None


# --- structure -----------------------------------------------------------------------------------


def turn_at(turns: list[Turn], offset: int) -> Turn | None:
    """The turn whose paragraphs hold `offset` (None: the text is in no turn, e.g. left out)."""
    for t in turns:
        if any(s <= offset < e for s, e in t.paragraphs):
            return t
    return None


def check_file(doc: Document, expected: dict[str, Any]) -> FileCheck:
    """Pin by pin: does the pinned turn start inside a turn of the right person?"""
    people = People(expected["people"])
    turns = split_turns(doc)
    pins = locate(doc, expected)
    out = FileCheck(doc.doc_id, len(pins))
    by_person: dict[str, set[str]] = {}
    for i, pin in enumerate(pins):
        if pin.start < 0:
            out.wrong.append(f"pin {i}: words not found: {pin.words!r}")
            continue
        turn = turn_at(turns, pin.start)
        got = turn.speaker if turn is not None else None
        if pin.speaker is None:
            if got is None:
                out.right += 1
            else:
                out.wrong.append(f"pin {i} ({pin.kind}) {pin.words!r}: read as {got!r}'s turn")
            continue
        who = people.exact(got)
        if got is not None and who == pin.speaker:
            out.right += 1
            by_person.setdefault(pin.speaker, set()).add(got)
        else:
            out.wrong.append(f"pin {i} {pin.speaker}: {pin.words!r}: read as {got or '(narration)'!r}")
    for person, names in by_person.items():
        if len(names) > 1:
            out.wrong.append(f"{person} is split over {len(names)} speakers: {', '.join(sorted(names))}")
    return out


# --- answers -------------------------------------------------------------------------------------


def regions(text: str, pins: list[Pin]) -> list[tuple[int, int]]:
    """The span of text each pin owns: from its label (same line, or the lines just above for a
    label on its own line) to the next pin's label."""
    starts = []
    for i, pin in enumerate(pins):
        if i == 0 or pin.start < 0:
            starts.append(0 if i == 0 else starts[-1])
            continue
        at = text.rfind("\n", 0, pin.start) + 1
        if text[at : pin.start].strip() == "":  # the words open their line: the label is above
            while at > 0:
                above = text.rfind("\n", 0, at - 1) + 1
                line = text[above : at - 1]
                if line.strip() == "":
                    at = above
                    continue
                if len(line.strip()) <= 80 and not line.rstrip().endswith((".", "?", "!", '"', "\u201d")):
                    at = above
                break
        starts.append(max(at, starts[-1]))
    ends = [*starts[1:], len(text)]
    return list(zip(starts, ends, strict=True))


def true_speakers(pins: list[Pin], spans: list[tuple[int, int]], start: int, end: int) -> set[str | None]:
    """Who said the text at [start:end] by the pins (one name when it stays in one person's words)."""
    return {p.speaker for p, (s, e) in zip(pins, spans, strict=True) if s < end and start < e}


def score_results(results: dict[str, Any], docs: dict[str, Document]) -> dict[str, Any]:
    """The answer figures of a styles.jsonl run, judged by the pins."""
    questions = {q["id"]: q for q in map(json.loads, (ROOT / "eval/sets/styles.jsonl").read_text().splitlines()) if q}
    pins = {d: locate(doc, load_expected(d)) for d, doc in docs.items()}
    spans = {d: regions(docs[d].text, pins[d]) for d in docs}
    people = {d: People(load_expected(d)["people"]) for d in docs}
    tally: dict[str, list[int]] = {}
    per_doc: dict[str, list[int]] = {}
    says_who = 0  # wrong premises refused with "X did not talk about it; Y did"
    misattributed, false_premise, failures, wrong, denied = 0, 0, [], [], []
    for r in results["questions"]:
        q = questions[r["id"]]
        kind = q["kind"]
        ok = False
        bad = 0
        for c in r["citations"]:
            said = true_speakers(pins[c["doc_id"]], spans[c["doc_id"]], c["start"], c["end"])
            named = people[c["doc_id"]].loose(c["speaker"]) if c["speaker"] else None
            unnamed = named is None and c["speaker"] in UNNAMED  # "Q": a questioner, nobody's name
            if c["speaker"] and said != {named} and not unnamed:
                bad += 1
                wrong.append(
                    {"id": r["id"], "named": c["speaker"], "said_by": sorted(map(str, said)), "quote": c["quote"][:90]}
                )
        misattributed += bad
        if q["answerable"]:
            gold = [(g["start"], g["end"]) for g in q["gold"]]
            cites = r["citations"]
            overlaps = [any(c["start"] < e and s < c["end"] for s, e in gold) for c in cites]
            if NOT_TALKED in (r["answer"] or ""):
                false_premise += 1
                denied.append(r["id"])
            if kind == "quoted" or kind == "two-people":
                ok = r["answerable"] and bool(cites) and all(overlaps)
            else:
                by = [true_speakers(pins[c["doc_id"]], spans[c["doc_id"]], c["start"], c["end"]) for c in cites]
                ok = r["answerable"] and bool(cites) and any(overlaps) and all(b == {q["speaker"]} for b in by)
        elif kind == "ambiguous":
            ok = not r["answerable"] and (r["reason"] or "").startswith("ambiguous")
        else:
            ok = not r["answerable"]
            if kind == "wrong-premise" and ok and NOT_TALKED in (r["answer"] or ""):
                says_who += 1
        tally.setdefault(kind, [0, 0])
        tally[kind][0] += ok
        tally[kind][1] += 1
        doc = q.get("doc_id") or (Path(q["gold"][0]["source"]).stem if q["gold"] else "(all)")
        per_doc.setdefault(doc, [0, 0])
        per_doc[doc][0] += ok
        per_doc[doc][1] += 1
        if not ok:
            failures.append(
                {"id": r["id"], "kind": kind, "question": r["question"], "answer": (r["answer"] or "")[:160]}
            )
    answerable = [k for k in tally if k in ("speaker", "alias", "quoted", "two-people")]
    return {
        "answered_right": [sum(tally[k][0] for k in answerable), sum(tally[k][1] for k in answerable)],
        "by_kind": tally,
        "by_doc": per_doc,
        "wrong_premise_says_who": says_who,
        "misattributed_citations": misattributed,
        "misattributed": wrong,
        "false_wrong_premise_replies": false_premise,
        "denied": denied,
        "rag_eval_misattributed": results["summary"]["overall"].get("misattributed_citations"),
        "failures": failures,
    }


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--results", type=Path, help="a rag eval result JSON of eval/sets/styles.jsonl")
    p.add_argument("--json", type=Path, help="write the figures here")
    p.add_argument("-v", "--verbose", action="store_true", help="list every wrong pin and failed question")
    args = p.parse_args()
    docs = {d.doc_id: d for d in load_documents([STYLES / "transcripts"])}
    checks = [check_file(docs[d], load_expected(d)) for d in sorted(docs)]
    width = max(len(c.doc_id) for c in checks)
    for c in checks:
        print(f"{c.doc_id:<{width}}  {'read right' if c.ok else 'WRONG':<10}  {c.right}/{c.pins} pins")
        for w in c.wrong[: None if args.verbose else 3]:
            print(f"{'':<{width}}    {w}")
        if not args.verbose and len(c.wrong) > 3:
            print(f"{'':<{width}}    ... {len(c.wrong) - 3} more (-v)")
    right = sum(c.ok for c in checks)
    pins_right, pins = sum(c.right for c in checks), sum(c.pins for c in checks)
    print(f"\nfiles read right: {right}/{len(checks)}; pins right: {pins_right}/{pins}")
    out: dict[str, Any] = {
        "files": {c.doc_id: {"ok": c.ok, "right": c.right, "pins": c.pins, "wrong": c.wrong} for c in checks},
        "files_read_right": [right, len(checks)],
    }
    if args.results:
        scores = score_results(json.loads(args.results.read_text(encoding="utf-8")), docs)
        out["answers"] = scores
        a, n = scores["answered_right"]
        print(f"answered right: {a}/{n}")
        for kind, (k_ok, k_n) in scores["by_kind"].items():
            print(f"  {kind:<14} {k_ok}/{k_n}")
        print(f"  (wrong premises refused by saying who did speak of it: {scores['wrong_premise_says_who']})")
        print("right per document: " + ", ".join(f"{d} {a}/{n}" for d, (a, n) in sorted(scores["by_doc"].items())))
        print(f"misattributed citations (by the pins): {scores['misattributed_citations']}")
        print(f"misattributed citations (rag eval, by rag's own turns): {scores['rag_eval_misattributed']}")
        print(f"false wrong-premise replies: {scores['false_wrong_premise_replies']} ({', '.join(scores['denied'])})")
        for w in scores["misattributed"]:
            print(f"  {w['id']}: quoted as {w['named']!r}, said by {', '.join(w['said_by'])}: {w['quote']!r}")
        if args.verbose:
            for f in scores["failures"]:
                print(f"  {f['id']} [{f['kind']}] {f['question']} -> {f['answer']!r}")
    if args.json:
        args.json.write_text(json.dumps(out, ensure_ascii=False, indent=2) + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
