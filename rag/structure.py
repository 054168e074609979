"""Which lines of a text transcript open a speaker's turn, inferred from the whole document.

A careful reader skims a transcript before reading it: which shape do its labels take, and which
of the lines in that shape really name speakers? This module does the same. Every line is read in
each label shape it could be in:

    colon    "Name: words", "NAME, ROLE: words", "<b>Name</b>: words" (`rag.formats.labels`)
    own      a line that is only a name, with a time or a role ("[00:00:06] Lydia Park",
             "Wren Halloway (00:00:03)", "Rebecca Thorne -- Chief Executive Officer", a centred
             "MARGOT (CONT'D)"); the words are on the lines below
    dash     "Priscilla - words", "Desmond — words"
    bracket  "[Callum] words"
    period   "Mr. HOLLOWAY. words", "The CHAIR. words" (a name in capitals before a full stop)
    qa       "Q. words" / "A. words": the examiner of the last "BY MS. X:" line asks, the witness
             named in the swearing-in ("GORDON T. ASHWORTH, having been first duly sworn") answers

A shape is taken when the document uses it: its names recur (two different names at least, each
more than once), and a name seen once is taken when its line looks like the recurring ones (the
same time, role and indentation). Colon labels keep their own evidence rules (`judge_colon`).
The reading chosen and the best shape not taken are kept for `rag inspect`.
"""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass

from rag.colon import judge_labels
from rag.formats.labels import CONNECTORS, HONORIFICS, TIME, Label, is_name_shaped, read_label, to_seconds
from rag.names import is_person_noun
from rag.text import has_word, text_lines, trim_span

SHAPES = {
    "colon": "labels before a colon",
    "own": "names on their own line, the words below",
    "dash": "names before a dash",
    "bracket": "names in square brackets",
    "period": "names in capitals before a full stop",
    "qa": "Q. and A. lines",
    "change": "'>>' speaker changes without names",
}
_NAME = r"[^\W\d_][\w'’.\-]*(?:[^\S\n]+(?:[^\W\d_][\w'’.\-]*|\d+)){0,4}"
_STAMP = r"[\[(]?(?P<G>" + TIME + r")[\])]?"
_OWN = re.compile(
    rf"(?:{_STAMP.replace('G', 't1')}[^\S\n]+)?(?P<name>{_NAME})"
    rf"(?P<parens>(?:[^\S\n]*\([^()\n]{{1,40}}\)){{0,2}})"
    rf"(?:[^\S\n]+{_STAMP.replace('G', 't2')})?"
    rf"(?P<roles>(?:[^\S\n]+(?:--|—|–|\|)[^\S\n]+[^\n]{{1,60}}?){{0,3}})[^\S\n]*:?"
)
_DASH = re.compile(rf"(?P<name>{_NAME})[^\S\n]+(?:-{{1,2}}|–|—)[^\S\n]+(?=\S)")
_BRACKET = re.compile(rf"\[(?P<name>{_NAME})\][^\S\n]+(?=\S)")
_CAPS = r"[A-Z][A-Z'’\-]+"
_PERIOD = re.compile(rf"(?P<name>(?:[A-Z][a-z]+\.?[^\S\n]+)?{_CAPS}(?:[^\S\n]+{_CAPS}){{0,2}})\.[^\S\n]+(?=\S)")
_QA = re.compile(r"(?P<name>[QA])(?:[.:][^\S\n]*|\t[^\S\n]*|[^\S\n]{2,})(?=\S)")
_CHANGE = re.compile(r">>+[^\S\n]*")
_BY = re.compile(r"BY[^\S\n]+(?P<name>[^\n:]{3,60}?):?[^\S\n]*$")
_SWORN = re.compile(
    r"^[^\S\n]*(?P<name>[A-Z][A-Za-z.'’\- ]{2,60}?),[^\S\n]+(?:(?:having been|being|was)[^\S\n]+(?:first[^\S\n]+)?"
    r"(?:duly[^\S\n]+)?sworn|called as a witness|a witness (?:herein|called))",
    re.M,
)
# The words after a colon are only names (an appearance list), with a description after a comma.
_PERSON = r"(?:[A-Z][\w'’.\-]*\w)(?:[^\S\n]+(?:[A-Z][\w'’\-]*\w|[A-Z]\.|van|von|de|der|la|del)){1,4}"
_APPEARANCE = re.compile(rf"{_PERSON}(?:,[^\S\n]+[^\n.?!:;]{{0,80}}?(?:[A-Z][a-z]{{0,3}}\.)?)?[^\S\n]*")
# "In the chair: Deputy Mayor Ifeoma Clarke (the Mayor sent apologies). Councillors ...": a role's holder first
_HEADED = re.compile(r"(?P<role>[A-Z][\w'’\- ]{1,40}?):[^\S\n]+")
_NAMED_FIRST = re.compile(rf"{_PERSON}(?=[^\S\n]*[(,.]|[^\S\n]*$)")
_ROLE_WORDS = re.compile(r"^[^\W\d_][\w'’.&,\-]*(?:[^\S\n]+[\w'’.&,\-]+)*$")
# What a dash, bracket or period shape must not read as a name: scene headings, list words.
_SCENE = re.compile(r"^(?:INT|EXT|INT\./EXT|I/E)\b")


@dataclass(frozen=True, slots=True)
class Line:
    """One non-empty line: its text span (whitespace trimmed) and its indentation in characters."""

    start: int
    end: int
    indent: int


@dataclass(frozen=True, slots=True)
class Opening:
    """A line that opens a turn: the label read there and the shape it was read in."""

    shape: str
    label: Label  # label.end: where the words start (the line's end for a name on its own line)


@dataclass(frozen=True, slots=True)
class Structure:
    """The document's reading: which line starts open turns, and the context Q./A. lines need."""

    openings: dict[int, Opening]  # line start -> the turn it opens
    examiners: dict[int, str]  # start of a "BY MS. X:" line -> the examiner's label ("MS. X")
    witness: str | None  # the witness as named in the swearing-in, in a Q./A. transcript
    reading: str  # "labels before a colon; Q. and A. lines"
    runner_up: str  # the best shape not taken, with its count of lines, or ""
    indent: int  # indentation of the words under names on their own line (screenplays), or 0
    rejected: list[tuple[int, Label]]  # (line start, label): looked like a label, not taken
    appearances: list[tuple[str, str]]  # (role, names): "Hearing Officer: Judith Lambert"
    listing: set[int]  # starts of the appearance lines that are headers, nobody's words


def lines_of(text: str) -> list[Line]:
    """The non-empty lines, trimmed."""
    out = []
    for start, end in text_lines(text):
        span = trim_span(text, start, end)
        if span is not None:
            out.append(Line(span[0], span[1], len(text[start : span[0]].expandtabs(8))))
    return out


def infer(text: str) -> Structure:
    """The reading that explains the document: see the module docstring."""
    lines = lines_of(text)
    examiners = {ln.start: by for ln in lines if (by := _by_line(text, ln)) is not None}
    colon = [None if ln.start in examiners else read_label(text, ln.start, ln.end) for ln in lines]
    qa = [_match(_QA, text, ln) for ln in lines]
    asked, answered = sum(1 for q in qa if q and q.name == "Q"), sum(1 for q in qa if q and q.name == "A")
    uses_qa = asked >= 2 and answered >= 2
    if uses_qa:  # "Q:" and "A:" are read below, with their examiner and witness
        colon = [None if q is not None else c for c, q in zip(colon, qa, strict=True)]
    accepted, rejected = judge_labels(text, [(ln.start, ln.end) for ln in lines], colon)
    openings: dict[int, Opening] = {}
    once = Counter(lab.name for lab in colon if lab is not None)
    appearances: list[tuple[str, str]] = []
    listing: set[int] = set()
    for ln, label in zip(lines, colon, strict=True):
        if label is not None and label.name in accepted:
            listed = _APPEARANCE.fullmatch(text, label.end, ln.end) or (
                is_person_noun(label.name.split()[-1]) and _NAMED_FIRST.match(text, label.end, ln.end)
            )
            if not openings and once[label.name] == 1 and listed:
                appearances.append((label.name, listed.group(0).strip(" .,(")))
                listing.add(ln.start)
                continue  # "Hearing Officer: Judith Lambert" before anyone speaks: who appears, not words
            openings[ln.start] = Opening("colon", label)
    counts = Counter(o.shape for o in openings.values())
    if uses_qa or (asked >= 2 and not answered and openings):  # a briefing: "Q" lines among labelled answers
        for ln, q in zip(lines, qa, strict=True):
            if q is not None and ln.start not in openings:
                openings[ln.start] = Opening("qa", q)
                counts["qa"] += 1
    changes = [(ln, m) for ln in lines if ln.start not in openings and (m := _CHANGE.match(text, ln.start, ln.end))]
    if len(changes) >= 3:  # captions: ">>" marks a new speaker, who is not named
        for ln, m in changes:
            openings[ln.start] = Opening("change", Label("", (), None, m.end(), ">>"))
        counts["change"] += len(changes)
    free = [(i, ln) for i, ln in enumerate(lines) if ln.start not in openings and ln.start not in examiners]
    runner: tuple[int, str] = (0, "")
    for shape in ("own", "bracket", "dash", "period"):
        found = {i: lab for i, ln in free if ln.start not in openings and (lab := _read(shape, text, lines, i))}
        taken = _taken(shape, text, lines, found)
        if not taken and shape == "period" and openings:
            # "Mr. SULLIVAN. What is it, counsel?" once, among other labels: an honorific and a
            # surname in capitals before a full stop is a speaker's label in the Congressional Record
            taken = [i for i, lab in found.items() if _honorific_caps(lab.name)]
        for i in taken:
            openings[lines[i].start] = Opening(shape, found[i])
        if taken:
            counts[shape] += len(taken)
        elif len(found) > runner[0]:
            runner = (len(found), shape)
    reading = "; ".join(f"{SHAPES[s]} ({n} lines)" for s, n in counts.most_common()) or "no speaker labels"
    runner_up = f"{SHAPES[runner[1]]} ({runner[0]} lines, not taken)" if runner[0] else ""
    first = min(openings, default=len(text))
    for ln in lines:  # "In the chair: Deputy Mayor Ifeoma Clarke (...)" above the first turn
        m = _HEADED.match(text, ln.start, ln.end) if ln.start < first and ln.start not in openings else None
        named = _NAMED_FIRST.match(text, m.end(), ln.end) if m and is_person_noun(m.group("role").split()[-1]) else None
        if m and named:
            appearances.append((m.group("role"), named.group(0)))  # the line stays narration
    witness = _witness(text) if uses_qa else None
    rejected = [(lines[i].start, lab) for i, lab in rejected]
    indent = _speech_indent(lines, openings)
    return Structure(openings, examiners, witness, reading, runner_up, indent, rejected, appearances, listing)


def _by_line(text: str, ln: Line) -> str | None:
    """ "BY MS. ORTEGA:" -> "MS. ORTEGA": the examiner of the Q. lines that follow."""
    m = _BY.match(text, ln.start, ln.end)
    if m is None:
        return None
    name = m.group("name").strip()
    words = name.split()
    if words and words[0].lower().rstrip(".") in HONORIFICS and is_name_shaped(name):
        return name
    return None


def _match(pattern: re.Pattern[str], text: str, ln: Line) -> Label | None:
    m = pattern.match(text, ln.start, ln.end)
    if m is None:
        return None
    name = " ".join(m.group("name").split())
    return Label(name, (), None, m.end(), name)


def _read(shape: str, text: str, lines: list[Line], i: int) -> Label | None:
    """Line i read in one shape, or None when it is not in that shape."""
    ln = lines[i]
    if shape == "own":
        return _own(text, lines, i)
    pattern = {"dash": _DASH, "bracket": _BRACKET, "period": _PERIOD}[shape]
    label = _match(pattern, text, ln)
    if label is None or not is_name_shaped(label.name) or _SCENE.match(label.name):
        return None
    if shape == "dash" and _own(text, lines, i) is not None:
        return None  # "Rebecca Thorne -- Chief Executive Officer": a name and a role on their own line
    return label


def _own(text: str, lines: list[Line], i: int) -> Label | None:
    """A line that is only a name (with a time, roles, a colon), followed by a line of words."""
    ln = lines[i]
    if i + 1 >= len(lines) or ln.end - ln.start > 90:
        return None
    m = _OWN.fullmatch(text, ln.start, ln.end)
    if m is None:
        return None
    name = " ".join(m.group("name").split())
    if not is_name_shaped(name) or name.split()[-1] in CONNECTORS or text[ln.end - 1] in ".?!,;":
        return None
    roles = [" ".join(r.split()) for r in re.split(r"[^\S\n]+(?:--|—|–|\|)[^\S\n]+", m.group("roles")) if r.strip()]
    if not all(_ROLE_WORDS.match(r) and r[0].isupper() for r in roles):
        return None
    time = to_seconds(m.group("t1") or m.group("t2"))
    for inner in re.findall(r"\(([^()\n]+)\)", m.group("parens") or ""):
        if re.fullmatch(TIME, inner.strip()):
            time = to_seconds(inner.strip()) if time is None else time
        else:
            roles.append(inner.strip())
    return Label(name, tuple(roles), time, ln.end, name)


def _signature(label: Label, ln: Line) -> tuple[bool, bool, bool]:
    return (label.time is not None, bool(label.roles), ln.indent >= 4)


def _taken(shape: str, text: str, lines: list[Line], found: dict[int, Label]) -> list[int]:
    """Which of a shape's lines open turns: the shape is in use when two names recur in it; then
    its recurring names, and names seen once on a line that looks like the recurring ones."""
    names = Counter(lab.name for lab in found.values())
    recurring = {n for n, c in names.items() if c >= 2 and not _plain_words(text, n)}
    timed = [lab for lab in found.values() if lab.time is not None]
    if shape == "own" and len(timed) >= 3 and len({lab.name for lab in timed}) >= 2:
        recurring |= {lab.name for lab in timed}  # "[00:00:05] Bo Chen" on its own line: a speaker, even once
    if len(recurring) < 2:
        return []
    if shape == "own":  # names on their own line must have words below them, not another name
        found = {i: lab for i, lab in found.items() if i + 1 not in found or found[i + 1].name not in recurring}
    usual = Counter(_signature(lab, lines[i]) for i, lab in found.items() if lab.name in recurring).most_common(1)
    look = usual[0][0] if usual else None
    return sorted(
        i
        for i, lab in found.items()
        if lab.name in recurring or (_signature(lab, lines[i]) == look and not _plain_words(text, lab.name))
    )


def _honorific_caps(name: str) -> bool:
    words = name.split()
    return len(words) == 2 and words[0].lower().rstrip(".") in HONORIFICS and words[1].isupper() and len(words[1]) > 2


def _plain_words(text: str, name: str) -> bool:
    """Every word of a one-word name is used in lower case too ("Okay", "Great"): a word, not a name."""
    words = [w for w in name.split() if w.isalpha()]
    return len(words) == 1 and has_word(text, words[0].lower())


def _witness(text: str) -> str | None:
    """The witness named in the swearing-in: "KAREN DESROSIERS, called as a witness ..."."""
    m = _SWORN.search(text)
    return " ".join(m.group("name").split()) if m else None


def _shape(openings: dict[int, Opening], ln: Line) -> str:
    opening = openings.get(ln.start)
    return opening.shape if opening else ""


def is_swearing_in(line: str) -> bool:
    """ "GORDON T. ASHWORTH, having been first duly sworn, testified as follows:": the reporter's words."""
    return _SWORN.match(line) is not None


def _speech_indent(lines: list[Line], openings: dict[int, Opening]) -> int:
    """How far the words under names on their own line are indented, when they are (a screenplay's
    dialogue): an unlabelled paragraph indented less is an action line, nobody's words."""
    below = [lines[i + 1].indent for i, ln in enumerate(lines[:-1]) if _shape(openings, ln) == "own"]
    if len(below) < 2:
        return 0
    below.sort()
    return below[len(below) // 2] if below[len(below) // 2] >= 4 else 0
