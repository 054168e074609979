"""Speaker labels at the start of a paragraph or cue: `Name:`, in any script, with their extras.

Understood: names in any script (`Özlem Yılmaz:`, `王小明：` with a full-width colon), honorifics
(`Ms. PATEL (Leeds North) (Lab):`), court and parliamentary labels (`THE COURT:`, `The SPEAKER:`),
office-holders with the person in parentheses (`The Secretary of State for Environment (Dame Helen
Ashcroft):`), diarization ids (`Speaker 2:`, `SPEAKER_00:`), Markdown bold (`**Alice:**`) and a
timestamp before or after the name (`[00:01:23] Alice:`, `Alice Moreno (00:01:23):`), kept as a
time, never as a role. Characters that show nothing inside a label (a zero-width space, a
direction override or isolate, pasted or planted) are read through, and the label lists them.
This module reads the shape of one label; whether a label really names a
speaker is decided from the whole document (`rag.turns`).
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass

TIME = r"(?:\d{1,2}:)?\d{1,2}:\d{2}(?:[.,]\d{1,3})?"
_TIME_RE = re.compile(TIME)
# starts with a letter of any script; a zero-width (non-)joiner between letters is spelling (Persian, Indic)
_WORD = r"[^\W\d_](?:[\w'’.\-]|[\u200c\u200d](?=[^\W\d_]))*"
_PART = rf"(?:{_WORD}|\d+)"  # "Speaker 10000": diarization ids have any length
_AMPM = r"(?:[^\S\n]?[AaPp]\.?[Mm]\.?)"
_ROLE = rf"{_WORD}(?:[^\S\n]+(?:{_WORD}|&)){{0,5}}"
LABEL_RE = re.compile(
    rf"[^\S\n]*(?:\*\*|__)?[^\S\n]*"
    rf"(?:[\[(]?(?P<t1>{TIME})(?P<ampm>{_AMPM})?[\])]?[^\S\n]+(?:[-–—|][^\S\n]+)?)?"
    rf"(?P<name>{_WORD}(?:[^\S\n]+{_PART}){{0,7}})"
    rf"(?:,[^\S\n]+(?P<role>{_ROLE}))?"
    rf"(?P<parens>(?:[^\S\n]*[(\[][^()\[\]\n]{{1,80}}[)\]]){{0,3}})"
    rf"(?:[^\S\n]+[\[(]?(?P<t2>{TIME})[\])]?)?"
    rf"[^\S\n]*(?:\*\*|__)?[^\S\n]*(?::(?:\*\*|__)?(?:[^\S\n]+|$)|：(?:\*\*|__)?[^\S\n]*)"
)
# Lower-case words allowed inside a name or an office: "Ludwig van Beethoven", "Secretary of State".
CONNECTORS = frozenset("of for the and de van von der den da del della di du la le al bin ibn y e".split())
HONORIFICS = frozenset(
    """mr mrs ms miss mx dr prof professor dame sir lord lady hon rt rev judge justice sen senator
    rep cllr councillor mayor madam mister""".split()
)
# Characters that show nothing: soft hyphen, Arabic letter mark, zero-width space, (non-)joiner,
# direction marks, embeddings and overrides, word joiner and invisible operators, isolates, BOM.
_INVISIBLE = re.compile("[\u00ad\u061c\u180e\u200b-\u200f\u202a-\u202e\u2060-\u2064\u2066-\u2069\ufeff]")
_HEAD = 600  # a label is shorter than this (name, three parentheses, a time)
# Anonymous ids: a diarization's "Speaker 2", "SPEAKER_00", a call's dial-in "Phone User_4".
_DIARIZED = re.compile(
    r"(?i)(?:(?:phone|call-in|dial-in|telephone)[ _-]?)?"
    r"(?:speaker|spk|participant|person|voice|unknown speaker|user|caller)[ _-]?(?:\d+|[a-z])"
)


@dataclass(frozen=True, slots=True)
class Label:
    """A label read at the start of a paragraph: who, extras in parentheses, and when."""

    name: str  # the speaker as written, office-holders resolved to the person: "Dame Helen Ashcroft"
    roles: tuple[str, ...]  # parenthesised extras and offices: ("Leeds North", "Lab")
    time: float | None  # seconds, from a timestamp before or after the name
    end: int  # where the label (with its colon and the spaces after it) ends
    raw: str  # the name part as written, invisible characters left out (for evidence checks)
    hidden: tuple[str, ...] = ()  # invisible characters the label held: ("U+202E RIGHT-TO-LEFT OVERRIDE",)


def read_label(text: str, start: int = 0, end: int | None = None) -> Label | None:
    """The label opening text[start:end], or None when it does not open with one.

    Markup around the name (`<b>Name</b>:`, `_Name_:`, `*Name*:`) is read through, never kept in
    the name; a role after a comma (`Leon Duval, CFO:`) is a role, like one in parentheses.

    Example: read_label("[00:01:23] Alice Moreno: Hi.") -> Label("Alice Moreno", (), 83.0, 25, ...)
    """
    stop = len(text) if end is None else end
    line = text.find("\n", start, stop)
    head_end = min(stop if line < 0 else line, start + _HEAD)
    hidden = _hidden(text, start, head_end)
    skip = hidden | _markup(text, start, head_end)
    seen: tuple[str, ...] = ()
    if not skip:
        m = LABEL_RE.match(text, start, stop)
        if m is None:
            return None
        label_end = m.end()
    else:  # read the label without them; offsets stay those of the original text
        kept = [i for i in range(start, head_end) if i not in skip]
        m = LABEL_RE.match("".join(text[i] for i in kept))
        if m is None or (m.end() == len(kept) and head_end == start + _HEAD):
            return None
        label_end = kept[m.end()] if m.end() < len(kept) else head_end
        while label_end < head_end and label_end in skip:  # markup closing after the colon: "</b>"
            label_end += 1
        while label_end < head_end and text[label_end].isspace() and text[label_end] != "\n":
            label_end += 1
        seen = tuple(dict.fromkeys(_describe(text[i]) for i in sorted(hidden) if i < label_end))
    raw = " ".join(m.group("name").split())
    if not is_name_shaped(raw):
        return None
    roles: list[str] = []
    if m.group("role"):
        role = " ".join(m.group("role").split())
        if not all(w[0].isupper() or w in CONNECTORS or w == "&" for w in role.split()):
            return None  # "Well, I think: ..." is a sentence, not a name and a role
        roles.append(role)
    time = to_seconds(m.group("t1"), m.group("ampm"))
    person = None
    for inner in re.findall(r"[(\[]([^()\[\]\n]+)[)\]]", m.group("parens") or ""):
        inner = " ".join(inner.split())
        if _TIME_RE.fullmatch(inner):
            time = to_seconds(inner) if time is None else time
        elif person is None and _is_office(raw) and _is_person_name(inner):
            person = inner
        else:
            roles.append(inner)
    if time is None:
        time = to_seconds(m.group("t2"))
    name = raw
    if person is not None:
        roles.insert(0, raw)
        name = person
    return Label(name, tuple(roles), time, label_end, raw, seen)


_TAG = re.compile(r"</?[a-zA-Z][\w\-]*(?:\s[^<>\n]{0,60})?/?>")  # <b>, </strong>, <br/>, <span class="x">
_EMPHASIS = re.compile(r"[*_]+")


def _markup(text: str, start: int, end: int) -> set[int]:
    """Positions of markup around a label's name: HTML tags before the colon (and right after it),
    and `*` or `_` runs opening the line or touching the colon. "SPEAKER_00:" keeps its `_`."""
    colon = min((p for p in (text.find(":", start, end), text.find("：", start, end)) if p >= 0), default=-1)
    if colon < 0:
        return set()
    out: set[int] = set()
    for tag in _TAG.finditer(text, start, colon):
        out.update(range(tag.start(), tag.end()))
    after = colon + 1
    while (closing := _TAG.match(text, after, end)) is not None:  # "<b>Name:</b> words"
        out.update(range(closing.start(), closing.end()))
        after = closing.end()
    lead = start
    while lead < colon and text[lead].isspace():
        lead += 1
    if (opening := _EMPHASIS.match(text, lead, colon)) is not None and opening.group(0) not in ("**", "__"):
        out.update(range(opening.start(), opening.end()))
    before = colon
    while before > start and (before - 1) in out:
        before -= 1
    tail = before
    while tail > start and text[tail - 1] in "*_":
        tail -= 1
    if 0 < before - tail < 3 and text[tail:before] not in ("**", "__") and tail > lead and text[tail - 1].isalpha():
        out.update(range(tail, before))
    if (trailing := _EMPHASIS.match(text, after, end)) is not None and trailing.group(0) not in ("**", "__"):
        out.update(range(trailing.start(), trailing.end()))
    return out


def strip_invisible(text: str) -> str:
    """`text` without the characters that show nothing (joiners between letters stay)."""
    hidden = _hidden(text, 0, len(text))
    return "".join(ch for i, ch in enumerate(text) if i not in hidden) if hidden else text


def _hidden(text: str, start: int, end: int) -> set[int]:
    """Positions of invisible characters in text[start:end]; a joiner between two letters of a
    script that writes with them (not ASCII) is spelling, not one of them."""
    out = set()
    for m in _INVISIBLE.finditer(text, start, end):
        i = m.start()
        if text[i] in "\u200c\u200d" and 0 < i < len(text) - 1:
            before, after = text[i - 1], text[i + 1]
            if before.isalpha() and after.isalpha() and not (before.isascii() and after.isascii()):
                continue
        out.add(i)
    return out


def _describe(ch: str) -> str:
    return f"U+{ord(ch):04X} {unicodedata.name(ch, '')}".strip()


def is_name_shaped(name: str) -> bool:
    """Capitalised words (or words of a script without case), connectors and ids only.

    Example: "Secretary of State" -> True; "The plan is simple" -> False; "王小明" -> True
    """
    words = name.split()
    if not words or len(name) > 60 or words[-1] in CONNECTORS:
        return False
    if any(_caseless(w[0]) for w in words):
        return len(words) <= 2 and len(name) <= 12
    if not words[0][0].isupper():
        return False
    return all(w[0].isupper() or w.isdigit() or w in CONNECTORS for w in words[1:])


def is_person_shaped(name: str) -> bool:
    """Labels whose shape alone says "a person speaks": honorifics, court and chamber labels, ids.

    Example: "Ms. PATEL" -> True; "THE COURT" -> True; "Speaker 2" -> True; "Plan B" -> False
    """
    words = name.split()
    first = words[0].lower().rstrip(".")
    if first in HONORIFICS and len(words) >= 2:
        return True
    if first == "the" and len(words) >= 2 and all(w.isupper() for w in words[1:]):
        return True  # THE COURT, THE WITNESS, The SPEAKER
    return bool(_DIARIZED.fullmatch(name))


def is_diarized(name: str) -> bool:
    """An anonymous id from speech diarization: "Speaker 2", "SPEAKER_00"."""
    return bool(_DIARIZED.fullmatch(name))


def _is_office(raw: str) -> bool:
    return raw.split()[0].lower() == "the" or any(w in CONNECTORS for w in raw.split()[1:])


def _is_person_name(text: str) -> bool:
    words = text.split()
    if words and words[0].lower().rstrip(".") in HONORIFICS:
        words = words[1:]
    return 1 <= len(words) <= 4 and all(w[0].isupper() for w in words) and is_name_shaped(text)


def _caseless(ch: str) -> bool:
    return ch.isalpha() and not ch.isupper() and not ch.islower()


def to_seconds(stamp: str | None, ampm: str | None = None) -> float | None:
    """A timestamp in seconds. Example: "01:02:03.5" -> 3723.5; "0:03" -> 3.0 (minutes:seconds);
    a clock time with AM/PM ("10:42", " PM") is hours:minutes of that day: 81720.0."""
    if not stamp:
        return None
    parts = stamp.replace(",", ".").split(":")
    if ampm:
        hours, minutes = int(parts[0]) % 12, float(parts[1])
        return (hours + (12 if ampm.strip().lower().startswith("p") else 0)) * 3600 + minutes * 60
    seconds = 0.0
    for p in parts:
        seconds = seconds * 60 + float(p)
    return seconds
