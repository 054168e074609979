"""Split a document into speaker turns, leaving out headers and promotional boilerplate.

Text transcripts: a paragraph that opens with a label (`McLaughlin:`, `JOHN SMITH:`, `Özlem
Yılmaz:`, `THE COURT:`, `[00:01:23] Alice:`; see `rag.formats.labels`) starts a turn; unlabelled
paragraphs continue it; text before the first label is the narration (speaker None). Whether a
label names a speaker is decided from evidence in the document: it recurs, it is introduced in the
text, its shape says "person" (an honorific, a court label, a diarization id), or it is one of
several labels and not a list item ("First:", "Plan B:" inside a turn). Labels not taken are
reported, never silently merged. Rendered formats (JSON, WebVTT, SRT, Otter) carry their turns in
`Document.cues`. This module finds structure only; it does not chunk or resolve names.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache

from rag.formats.labels import HONORIFICS, Label, is_person_shaped, read_label
from rag.text import has_word, is_boundary, trim_span
from rag.types import Cue, Document, Excluded, Span, Turn

__all__ = ["paragraphs", "segment", "split_turns", "trim_span"]

# Words that open a colon line but name no one: editorial and structural markers.
NOT_SPEAKERS = frozenset(
    """note notes update updated correction corrections source sources photo photos caption credit
    credits related disclaimer disclosure warning tip tips example examples summary transcript date
    time location subject re ps p.s image images video audio read watch listen sponsored
    advertisement ad ads see also contact email e-mail phone tel web website url tags tag category
    categories posted published by author authors via topic topics title headline background context
    bottom line takeaway takeaways why it matters what's next editor editor's
    warning caution important breaking exclusive opinion analysis review edit edited translation
    translated agenda attendees present absent action items minutes chapter part section step
    figure table appendix question answer questions answers faq share follow""".split()
)
INTERVIEW_LABELS = frozenset({"Q", "A"})

_CTA = (
    r"apply now|apply today|sign up|subscribe|register (?:now|today|here)|join us|click here|"
    r"learn more|find out more|read more|download|buy now|order now|donate|follow us|"
    r"get (?:your|tickets|access|the)|book now|reserve your|don'?t miss|start your free|"
    r"try it|listen now|watch now|support our|become a (?:member|subscriber)"
)
_CTA_AT_SENTENCE = re.compile(rf"(?:^|[.!?)]\s+)(?:{_CTA})\b", re.I)
_STARTS_PROMO = re.compile(
    r"^(?:read more|related:|subscribe|sign up|advertisement|sponsored|also read|see also|"
    r"listen to|watch:|click here)",
    re.I,
)
_EDITORIAL = re.compile(
    r"(?:editor['’]?s note|note|update|updated|correction|clarification|disclosure|disclaimer)\s*:", re.I
)
_URL = re.compile(r"https?://|www\.|\b[\w-]+\.(?:com|org|net|io|co|news|us|uk)\b", re.I)
_PROMO_WORDS = re.compile(
    r"\b(?:newsletter|podcast|webinar|invite-only|tickets?|subscription|subscribers?|"
    r"membership|sponsored|promo(?:tion)?|discount|free trial|inbox|unsubscribe|event|dinner|"
    r"conference|summit|seat|sign-up)\b",
    re.I,
)


@dataclass(frozen=True, slots=True)
class Segmentation:
    """A document's turns, the paragraphs left out, and lines that looked like labels but were not taken."""

    turns: list[Turn]
    excluded: list[Excluded]
    warnings: list[str]


def split_turns(doc: Document) -> list[Turn]:
    """The speaker turns of a document, in order. Narration is a turn with speaker None.

    Example: "Intro.\\nAnn: Hi.\\nMore." -> [Turn(None, "Intro."), Turn("Ann", "Hi.", "More.")]
    """
    return segment(doc).turns


def find_excluded(doc: Document) -> list[Excluded]:
    """The paragraphs kept out of every turn: headers, editorial notes and promotional boilerplate."""
    return segment(doc).excluded


def segment(doc: Document) -> Segmentation:
    """Turns, excluded paragraphs and attribution warnings in one pass."""
    if doc.format != "text":
        return Segmentation(_cue_turns(doc), [], [])
    return _segment(doc)


def paragraphs(text: str) -> list[Span]:
    """Paragraph spans, whitespace trimmed.

    Each line is a paragraph, except that hard-wrapped prose (a short line that stops
    mid-sentence) continues on the next line unless that line opens with a label.
    """
    spans: list[Span] = []
    block: list[Span] = []
    pos = 0
    for line in text.splitlines(keepends=True):
        span = trim_span(text, pos, pos + len(line))
        pos += len(line)
        if span is None:
            spans.extend(_block_paragraphs(text, block))
            block = []
        else:
            block.append(span)
    spans.extend(_block_paragraphs(text, block))
    return spans


def is_boilerplate(text: str) -> bool:
    """True for calls to action, event ads, newsletter sign-ups and "Read more ..." lines.

    Example: "Sign up today for our newsletter." -> True; "Putin will sign up to nothing." -> False
    """
    if _STARTS_PROMO.match(text.strip()):
        return True
    cta = bool(_CTA_AT_SENTENCE.search(text))
    url = bool(_URL.search(text))
    promo = bool(_PROMO_WORDS.search(text))
    return (cta or url) and (cta + url + promo) >= 2


def is_header(text: str) -> bool:
    """Short lines in capitals with no sentence punctuation: "THE EXPERTS", "Part Two"."""
    words = text.split()
    if not 1 <= len(words) <= 8 or text.rstrip()[-1] in '.?!:;,"”’)':
        return False
    letters = [c for c in text if c.isalpha()]
    if len(letters) >= 2 and all(c.isupper() for c in letters):
        return True
    small = {"a", "an", "the", "of", "and", "or", "in", "on", "to", "for", "with", "at", "by"}
    return len(words) >= 2 and all(w[0].isupper() or w in small for w in words if w[0].isalpha())


def _segment(doc: Document) -> Segmentation:
    text = doc.text
    spans = paragraphs(text)
    found = [read_label(text, s, e) for s, e in spans]
    accepted, rejected = _judge_labels(text, spans, found)
    names = _display_names(text, accepted)
    # (speaker or None, time, paragraph spans); the narration is open until the first label.
    groups: list[tuple[str | None, float | None, list[Span]]] = [(None, None, [])]
    excluded: list[Excluded] = []
    for (start, end), label in zip(spans, found, strict=True):
        labelled = label is not None and label.name in accepted
        if label is not None and labelled:
            groups.append((names[label.name], label.time, []))
            start = label.end
            if start >= end:
                continue
        para = text[start:end]
        if not labelled and _EDITORIAL.match(para):
            excluded.append(Excluded(doc.doc_id, start, end, "note"))
        elif is_boilerplate(para):
            excluded.append(Excluded(doc.doc_id, start, end, "promo"))
        elif not labelled and is_header(para):
            excluded.append(Excluded(doc.doc_id, start, end, "header"))
        else:
            groups[-1][2].append((start, end))
    turns: list[Turn] = []
    kept = [g for g in groups if g[2]]
    for i, (speaker, time, paras) in enumerate(kept):
        later = next((t for _, t, _ in kept[i + 1 :] if t is not None), None) if time is not None else None
        turns.append(Turn(doc.doc_id, len(turns), speaker, paras[0][0], paras[-1][1], tuple(paras), time, later))
    hidden = [(i, lab) for i, lab in enumerate(found) if lab is not None and lab.hidden and lab.name in accepted]
    return Segmentation(turns, excluded, _warnings(doc, spans, turns, rejected) + _hidden_warnings(doc, spans, hidden))


def _judge_labels(text: str, spans: list[Span], found: list[Label | None]) -> tuple[set[str], list[tuple[int, Label]]]:
    """Which labels name speakers, and the (paragraph, label) occurrences that were not taken.

    Evidence, strongest first: a person's shape (honorific, court label, diarization id) or a name
    introduced in the text; a label that recurs outside lists; any label, when the document has
    several, unless it sits in a list (after a line ending in ":" or next to another such label),
    reads as an enumerator ("Plan B", "Option 2"), or is a word the text also uses in lower case.
    """
    where: dict[str, list[int]] = {}
    for i, label in enumerate(found):
        if label is not None and _is_candidate(label):
            where.setdefault(label.name, []).append(i)
    once = {name for name, at in where.items() if len(at) == 1}

    def listy(i: int) -> bool:
        """After a line ending in ":" (the list's introduction), or in a run of one-off labels after one."""
        while i > 0:
            before = found[i - 1]
            if before is None or before.name not in once or text[spans[i - 1][1] - 1] in ":：":
                return text[spans[i - 1][1] - 1] in ":："
            i -= 1
        return False

    accepted: set[str] = set()
    several = len(where) >= 2
    for name, at in where.items():
        label = found[at[0]]
        assert label is not None
        if is_person_shaped(label.raw) or name in INTERVIEW_LABELS or _introduced(text, name, len(at)):
            accepted.add(name)
        elif len(at) >= 2 and not all(listy(i) for i in at):
            accepted.add(name)
        elif several and not listy(at[0]) and not _enumerator(name) and not _common_words(text, name):
            accepted.add(name)
    rejected = [
        (i, lab) for i, lab in enumerate(found) if lab is not None and lab.name in where and lab.name not in accepted
    ]
    return accepted, rejected


def _is_candidate(label: Label) -> bool:
    first = label.raw.split()[0].lower().rstrip(".")
    return first not in NOT_SPEAKERS and label.raw.lower() not in NOT_SPEAKERS


def _introduced(text: str, name: str, labelled: int) -> bool:
    """The name (or its last word) appears capitalised mid-sentence elsewhere: "with Mei Lin, our..."."""
    last = name.split()[-1]
    if len(last) < 3 or not last[0].isupper():
        return False
    words = rf"(?:{re.escape(name)}|{re.escape(last)})\b"
    heads = [_WORD_RUN.match(name), _WORD_RUN.match(last)]
    if heads[0] is None or heads[1] is None:  # not a word first: look everywhere
        anywhere = re.compile(rf"(?<=[^\W\d_,;’'][ \t]){words}", re.I)
        return any(m.group(0)[0].isupper() for m in anywhere.finditer(text))
    # It can only match where a word follows a letter and a space (the lookbehind): the same
    # matches as finditer over the whole text, tried there alone (indexed once per document).
    where = _words_after_letters(text)
    starts = sorted({p for h in heads if h is not None for p in where.get(_fold(h.group(0)), ())})
    if not starts:
        return False
    pattern: re.Pattern[str] | None = None
    pos = 0
    for p in starts:
        if p < pos:
            continue
        end = _ascii_match(text, p, (name, last))
        if end == -1:  # beyond ASCII, the regex decides what IGNORECASE makes equal
            pattern = pattern or re.compile(words, re.I)
            m = pattern.match(text, p)
            end = m.end() if m is not None else None
        if end is not None:
            if text[p].isupper():
                return True
            pos = end
    return False


def _ascii_match(text: str, p: int, alternatives: tuple[str, ...]) -> int | None:
    """Where `(?:a|b)\\b` (IGNORECASE) matching at p ends, None when it does not match; -1 when
    the text or a word there is not ASCII (where lower() and IGNORECASE may differ)."""
    for word in alternatives:
        seen = text[p : p + len(word)]
        if not (seen.isascii() and word.isascii()):
            return -1
        if seen.lower() == word.lower() and is_boundary(text, p + len(word)):
            return p + len(word)
    return None


_WORD_RUN = re.compile(r"\w+")


def _fold(word: str) -> str:
    """A key equal for any two spellings that re.IGNORECASE takes as equal (and a few more)."""
    return word.translate(_DOTTED).casefold()


_DOTTED = str.maketrans({"İ": "i", "ı": "i"})


@lru_cache(maxsize=2)
def _words_after_letters(text: str) -> dict[str, list[int]]:
    """Folded word -> where it starts, for each word right after a letter and a space or tab."""
    out: dict[str, list[int]] = {}
    for m in re.finditer(r"(?<=[^\W\d_,;’'][ \t])\w+", text):
        out.setdefault(_fold(m.group(0)), []).append(m.start())
    return out


def _enumerator(name: str) -> bool:
    """ "Plan B", "Option 2", "Phase II": a word and a letter or number."""
    words = name.split()
    return len(words) >= 2 and (words[-1].isdigit() or len(words[-1]) == 1 or words[-1] in {"II", "III", "IV"})


def _common_words(text: str, name: str) -> bool:
    """Every word of the label also appears in lower case in the text: a word, not a name."""
    return all(has_word(text, w.lower()) for w in name.split() if w.isalpha())


def _warnings(doc: Document, spans: list[Span], turns: list[Turn], rejected: list[tuple[int, Label]]) -> list[str]:
    out = []
    if rejected and any(t.speaker for t in turns):
        lines = [f"line {doc.text.count(chr(10), 0, spans[i][0]) + 1} {lab.raw!r}" for i, lab in rejected[:6]]
        more = f" and {len(rejected) - 6} more" if len(rejected) > 6 else ""
        out.append(
            f"{doc.source}: {', '.join(lines)}{more} look like speaker labels but were not taken "
            "as speakers (list items or headings?); those lines stay in the turn before them. "
            "Check with: rag inspect " + doc.source
        )
    narrated = sum(t.end - t.start for t in turns if t.speaker is None)
    total = sum(t.end - t.start for t in turns)
    if any(t.speaker for t in turns) and total and narrated / total > 0.5:
        out.append(f"{doc.source}: {100 * narrated // total}% of the text has no speaker label (narration)")
    return out


def _hidden_warnings(doc: Document, spans: list[Span], hidden: list[tuple[int, Label]]) -> list[str]:
    """Labels read through invisible characters (pasted from a web page or a chat, or planted)."""
    if not hidden:
        return []
    lines = [
        f"line {doc.text.count(chr(10), 0, spans[i][0]) + 1} {doc.text[spans[i][0] : lab.end].rstrip()!r} "
        f"read as {lab.name!r}"
        for i, lab in hidden[:6]
    ]
    more = f" and {len(hidden) - 6} more" if len(hidden) > 6 else ""
    kinds = ", ".join(dict.fromkeys(h for _, lab in hidden for h in lab.hidden))
    return [
        f"{doc.source}: {', '.join(lines)}{more}: labels holding invisible characters ({kinds}); "
        "check the source, or re-save it without them"
    ]


def time_span(doc: Document, start: int, end: int, turn: Turn | None = None) -> tuple[float | None, float | None]:
    """When text[start:end] was said, in seconds: from the cues it overlaps, else from its turn.

    Example: a quote inside the cue 00:01:02-00:01:05 -> (62.0, 65.0); untimed text -> (None, None)
    """
    hit = [c for c in doc.cues if c.start < end and start < c.end and c.time_start is not None]
    if hit:
        ends = [c.time_end for c in hit if c.time_end is not None]
        return min(c.time_start for c in hit if c.time_start is not None), max(ends) if ends else None
    if turn is not None:
        return turn.time_start, turn.time_end
    return None, None


def _display_names(text: str, labels: set[str]) -> dict[str, str]:
    """Labels in capitals take the spelling used elsewhere in the text: "MCLAUGHLIN" -> "McLaughlin".

    Word by word, so "Ms. PATEL" -> "Ms. Patel"; court labels ("THE COURT") stay as written.
    """
    caps = {_fold(w) for label in labels for w in label.split() if w.isupper() and len(w) > 2 and w.isalpha()}
    at: dict[str, list[int]] = {}  # where each of those words is written, in any case (one pass)
    for m in _WORD_RUN.finditer(text) if caps else ():
        key = _fold(m.group(0))
        if key in caps:
            at.setdefault(key, []).append(m.start())

    def spelled(w: str) -> re.Match[str] | None:
        """The first of `re.finditer(rf"\\b{w}\\b", text, re.I)` not in capitals, tried where w is."""
        pattern = re.compile(rf"\b{re.escape(w)}\b", re.I)
        found = (pattern.match(text, p) for p in at.get(_fold(w), ()))
        return next((m for m in found if m is not None and not m.group(0).isupper()), None)

    names = {}
    for label in labels:
        words = label.split()
        if words[0].lower() == "the" or label in INTERVIEW_LABELS:
            names[label] = label
            continue
        out = []
        for w in words:
            if w.rstrip(".").lower() in HONORIFICS:
                w = w.capitalize()  # "MR." -> "Mr."
            elif w.isupper() and len(w) > 2 and w.isalpha():
                written = spelled(w)
                w = written.group(0) if written else w.title()
            out.append(w)
        names[label] = " ".join(out)
    return names


def _cue_turns(doc: Document) -> list[Turn]:
    """Turns of a rendered document: the cues of one line are one turn."""
    turns: list[Turn] = []
    line_cues: list[Cue] = []
    for cue in doc.cues:
        if line_cues and "\n" not in doc.text[line_cues[-1].end : cue.start]:
            line_cues.append(cue)
            continue
        if line_cues:
            turns.append(_turn_of(doc, len(turns), line_cues))
        line_cues = [cue]
    if line_cues:
        turns.append(_turn_of(doc, len(turns), line_cues))
    return turns


def _turn_of(doc: Document, index: int, cues: list[Cue]) -> Turn:
    start, end = cues[0].start, cues[-1].end
    span = trim_span(doc.text, start, end)
    times = [c.time_start for c in cues if c.time_start is not None]
    ends = [c.time_end for c in cues if c.time_end is not None]
    return Turn(
        doc.doc_id,
        index,
        cues[0].speaker,
        span[0] if span else start,
        span[1] if span else start,
        (span,) if span else (),
        min(times) if times else None,
        max(ends) if ends else None,
    )


def _block_paragraphs(text: str, block: list[Span]) -> list[Span]:
    """Join hard-wrapped lines: a short line that stops mid-sentence continues on the next one."""
    merged: list[Span] = []
    for s, e in block:
        if merged and _continues(text, merged[-1], s, e):
            merged[-1] = (merged[-1][0], e)
        else:
            merged.append((s, e))
    return merged


def _continues(text: str, previous: Span, s: int, e: int) -> bool:
    last_line = text[previous[0] : previous[1]].rsplit("\n", 1)[-1]
    return (
        len(last_line) <= 100
        and last_line.rstrip()[-1] not in '.!?:;"”’)]…'
        and not is_header(last_line)
        and read_label(text, s, e) is None
    )


def is_uncertain(doc: Document, start: int, end: int) -> bool:
    """Whether text[start:end] of a document overlaps a recording's stretch whose speaker is not
    sure (overlap, very short, an unclear voice: `Cue.uncertain`)."""
    return any(c.uncertain and c.start < end and start < c.end for c in doc.cues)
