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
from collections.abc import Collection
from dataclasses import dataclass, field

from rag.asides import is_notice, is_stage
from rag.captions import speakers
from rag.colon import INTERVIEW_LABELS, WORD_RUN, fold
from rag.formats.labels import HONORIFICS, Label, read_label
from rag.structure import Opening, Structure, infer, is_swearing_in
from rag.text import letter_cases, text_lines, trim_span
from rag.types import Cue, Document, Excluded, Span, Turn

__all__ = ["paragraphs", "segment", "split_turns", "trim_span"]

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
    reading: str = ""  # the label shapes read ("labels before a colon (40 lines)"), for rag inspect
    runner_up: str = ""  # the best shape not taken, or ""
    # (role, names) the document lists: "Hearing Officer: Judith Lambert", the sworn witness
    appearances: list[tuple[str, str]] = field(default_factory=list)
    # (label, roles) of labels read in other shapes than "Name:": "Rebecca Thorne -- Chief Executive Officer"
    label_roles: list[tuple[str, tuple[str, ...]]] = field(default_factory=list)


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


def paragraphs(
    text: str, opens: Collection[int] | None = None, alone: Collection[int] = frozenset(), *, shouting: bool = False
) -> list[Span]:
    """Paragraph spans, whitespace trimmed.

    Each line is a paragraph, except that hard-wrapped prose (a short line that stops
    mid-sentence) continues on the next line unless that line opens a turn (the line starts in
    `opens`; without it, any line that reads as a label) or the line before is a label by itself
    (starts in `alone`: a name on its own line, a "BY MS. X:" line). `shouting`: the whole text is
    in capitals, so a line in capitals is no header.
    """
    spans: list[Span] = []
    block: list[Span] = []
    for start, end in text_lines(text):
        span = trim_span(text, start, end)
        if span is None:
            spans.extend(_block_paragraphs(text, block, opens, alone, shouting))
            block = []
        else:
            block.append(span)
    spans.extend(_block_paragraphs(text, block, opens, alone, shouting))
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


def is_shouting(text: str) -> bool:
    """The whole text is in capitals (captions, old court transcripts): capitals then mark nothing."""
    upper, lower = letter_cases(text)
    return upper >= 200 and lower * 50 < upper


def is_header(text: str) -> bool:
    """Short lines in capitals with no sentence punctuation: "THE EXPERTS", "Part Two"."""
    words = text.split()
    if not 1 <= len(words) <= 16 or text.rstrip()[-1] in '.?!:;,"”’)':
        return False
    letters = [c for c in text if c.isalpha()]
    if len(letters) >= 2 and all(c.isupper() for c in letters):
        return True  # "STATEMENT OF ANA REYES, PH.D., DIRECTOR, STATE WILDFIRE RESEARCH CENTER"
    if len(words) > 8:
        return False
    small = {"a", "an", "the", "of", "and", "or", "in", "on", "to", "for", "with", "at", "by"}
    return len(words) >= 2 and all(w[0].isupper() or w in small for w in words if w[0].isalpha())


def _segment(doc: Document) -> Segmentation:
    text = doc.text
    st = infer(text)
    alone = {start for start, o in st.openings.items() if o.label.end >= _line_end(text, start)} | set(st.examiners)
    shouting = is_shouting(text)
    spans = paragraphs(
        text, opens=set(st.openings) | set(st.examiners) | st.listing, alone=alone | st.listing, shouting=shouting
    )
    names = _speaker_names(text, st)
    witness = names.get(st.witness) if st.witness else None
    examiner: str | None = None
    asker: str | None = None  # in a briefing, the reporter just called on
    last_asker: str | None = None  # and who asked the last question
    qa = any(o.shape == "qa" for o in st.openings.values())
    last_open = max(st.openings, default=-1)
    # (speaker or None, time, paragraph spans); the narration is open until the first label.
    groups: list[tuple[str | None, float | None, list[Span]]] = [(None, None, [])]
    captions: set[int] = set()  # the groups a ">>" opens, whose speakers are inferred below
    excluded: list[Excluded] = []
    at_end_notice = False
    for start, end in spans:
        if start in st.examiners:
            examiner = names[st.examiners[start]]
            excluded.append(Excluded(doc.doc_id, start, end, "header"))
            groups.append((None, None, []))
            continue
        if start in st.listing:
            excluded.append(Excluded(doc.doc_id, start, end, "header"))
            groups.append((None, None, []))
            continue
        opening = st.openings.get(start)
        if opening is not None:
            resumed = opening.shape == "qa" and text[opening.label.end :].lstrip()[:1] in ("—", "–")
            who = _speaker(opening, names, examiner or asker or (last_asker if resumed else None), witness)
            groups.append((who, opening.label.time, []))
            if opening.shape == "change":
                captions.add(len(groups) - 1)
            if opening.shape == "qa" and examiner is None:
                # only the question right after the call is surely the one called on's, and a
                # question taken up again after an interruption ("— with other members ...")
                last_asker, asker = (who if who != "Q" else None), None
            start = opening.label.end
            while start < end and text[start].isspace():
                start += 1
            if start >= end:
                continue
        para = text[start:end]
        if opening is None and st.indent and _indent(text, start) >= st.indent // 2 and groups[-1][0] is not None:
            pass  # a screenplay's dialogue block, its parenthetical "(beat)" included
        elif opening is None:
            reason = _left_out(para, at_end_notice or (start > last_open and is_notice(para)), shouting)
            at_end_notice = at_end_notice or reason == "notice"
            if reason is not None:
                excluded.append(Excluded(doc.doc_id, start, end, reason))
                continue
            if groups[-1][0] is not None and _nobodys(text, start, groups[-1][2], qa, st.indent):
                groups.append((None, None, []))
        elif is_boilerplate(para):
            excluded.append(Excluded(doc.doc_id, start, end, "promo"))
            continue
        groups[-1][2].append((start, end))
        if qa and (called := _HANDOFF.search(para)) and groups[-1][0] not in (None, asker):
            asker = called.group("name") or called.group("alone")  # "Go ahead, Caitlin.": the next "Q" lines are hers
    turns: list[Turn] = []
    kept = [g for g in groups if g[2]]
    caption_turns = [g for i, g in enumerate(groups) if g[2] and i in captions]
    inferred = _caption_speakers(text, caption_turns)
    kept = [(inferred.get(paras[0][0], speaker), time, paras) for speaker, time, paras in kept]
    for i, (speaker, time, paras) in enumerate(kept):
        later = next((t for _, t, _ in kept[i + 1 :] if t is not None), None) if time is not None else None
        turns.append(Turn(doc.doc_id, len(turns), speaker, paras[0][0], paras[-1][1], tuple(paras), time, later))
    hidden = [(s, o.label) for s, o in st.openings.items() if o.label.hidden]
    rejected = [(at, lab) for at, lab in st.rejected if not (lab.end >= _line_end(text, at) and is_header(lab.raw))]
    warnings = (
        _warnings(doc, turns, rejected, len(caption_turns), len(inferred))
        + _hidden_warnings(doc, hidden)
        + _doubts(doc, st)
    )
    appearances = list(st.appearances)
    if witness:
        appearances.append(("witness", witness))
    roles = [(o.label.name, o.label.roles) for o in st.openings.values() if o.shape != "colon" and o.label.roles]
    return Segmentation(turns, excluded, warnings, st.reading, st.runner_up, appearances, roles)


def _caption_speakers(text: str, groups: list[tuple[str | None, float | None, list[Span]]]) -> dict[int, str]:
    """The first paragraph's start -> the speaker inferred for each '>>' turn that has one (`rag.captions`)."""
    if not groups:
        return {}
    said = [" ".join(text[s:e] for s, e in paras) for _, _, paras in groups]
    return {paras[0][0]: who for (_, _, paras), who in zip(groups, speakers(said), strict=True) if who is not None}


# The last words of an answer that call on the next asker: "Go ahead, Caitlin.", "Yeah, Josh.", "Steven?"
_HANDOFF = re.compile(
    r"(?:\b(?:[Gg]o ahead|[Yy]es|[Yy]eah|[Oo]kay|[Pp]lease|[Ss]ure)[,.]?\s+(?P<name>[A-Z][\w'’\-]+)\s*[.?!]"
    r"|(?:^|(?<=[.?!]\s))(?P<alone>[A-Z][\w'’\-]+)\?)\s*$"
)


def _line_end(text: str, start: int) -> int:
    """Where the line starting at `start` ends, trailing spaces left out (without copying the text)."""
    end = text.find("\n", start)
    end = len(text) if end < 0 else end
    while end > start and text[end - 1].isspace():
        end -= 1
    return end


def _left_out(para: str, notice: bool, shouting: bool = False) -> str | None:
    """Why an unlabelled paragraph is nobody's words, or None when it continues a turn."""
    if notice:
        return "notice"
    if is_stage(para):
        return "stage"
    if _EDITORIAL.match(para):
        return "note"
    if is_boilerplate(para):
        return "promo"
    if para.startswith("#") or (
        not shouting and (is_header(para) or (para.endswith(":") and "\n" not in para and is_header(para[:-1])))
    ):
        return "header"
    return None


def _nobodys(text: str, start: int, before: list[Span], qa: bool, indent: int) -> bool:
    """An unlabelled paragraph that does not continue the turn before it: in a Q./A. transcript
    the reporter's line swearing in the witness; in a screenplay a line indented less than the
    dialogue (an action line)."""
    if indent:
        return _indent(text, start) < indent // 2
    return qa and is_swearing_in(text[start : text.find("\n", start) if "\n" in text[start:] else len(text)])


def _indent(text: str, start: int) -> int:
    line_start = text.rfind("\n", 0, start) + 1
    return len(text[line_start:start].expandtabs(8))


def _speaker(opening: Opening, names: dict[str, str], examiner: str | None, witness: str | None) -> str | None:
    """Who speaks in the turn a line opens: a Q. line's examiner, an A. line's witness, a label's name."""
    name = opening.label.name
    if opening.shape == "change":
        return None
    if opening.shape == "qa":
        if name == "Q":
            return examiner or "Q"
        return witness or names.get("THE WITNESS", "A")
    if witness and fold(name) == "the witness":
        return witness
    return names[name]


def _speaker_names(text: str, st: Structure) -> dict[str, str]:
    """Each label's speaker name: capitals spelled as the text spells them, and a surname-only label
    ("NWOSU") joined to the one full-name label of the document that ends in it ("CHIDI NWOSU")."""
    labels = {o.label.name for o in st.openings.values() if o.shape not in ("qa", "change")}
    labels |= set(st.examiners.values())
    if st.witness:
        labels.add(st.witness)
    names = _display_names(text, labels)
    full: dict[str, set[str]] = {}
    for shown in names.values():
        words = shown.split()
        if len(words) >= 2 and words[0].lower().rstrip(".") not in HONORIFICS and words[0].lower() != "the":
            full.setdefault(fold(words[-1]), set()).add(shown)
    for label, shown in names.items():
        if " " not in shown and len(full.get(fold(shown), ())) == 1:
            names[label] = next(iter(full[fold(shown)]))
    return names


def _warnings(
    doc: Document, turns: list[Turn], rejected: list[tuple[int, Label]], captions: int = 0, inferred: int = 0
) -> list[str]:
    out = []
    if rejected and any(t.speaker for t in turns):
        lines = [f"line {doc.text.count(chr(10), 0, at) + 1} {lab.raw!r}" for at, lab in rejected[:6]]
        more = f" and {len(rejected) - 6} more" if len(rejected) > 6 else ""
        out.append(
            f"{doc.source}: {', '.join(lines)}{more} look like speaker labels but were not taken "
            "as speakers (list items or headings?); those lines stay in the turn before them. "
            "Check with: rag inspect " + doc.source
        )
    if captions and not inferred:
        out.append(
            f"{doc.source}: {captions} lines open with '>>' (a change of speaker in captions) but nothing in "
            "the words says who speaks, so no words are attributed; put a name before each '>>' line "
            "('Jonah Ferreira: ...') to attribute them"
        )
    elif captions:
        out.append(
            f"{doc.source}: the speakers of {inferred} of {captions} '>>' caption turns are inferred from the words "
            "(introductions, hand-overs by name, who is addressed)"
            + (f"; {captions - inferred} left unattributed" if inferred < captions else "")
            + f"; check with: rag inspect {doc.source}"
        )
    narrated = sum(t.end - t.start for t in turns if t.speaker is None)
    total = sum(t.end - t.start for t in turns)
    if any(t.speaker for t in turns) and total and narrated / total > 0.5:
        out.append(f"{doc.source}: {100 * narrated // total}% of the text has no speaker label (narration)")
    return out


def _doubts(doc: Document, st: Structure) -> list[str]:
    """A reading that another label shape nearly explains as well: the document is named, with both."""
    taken = sum(1 for o in st.openings.values())
    runner = int(m.group(1)) if (m := re.search(r"\((\d+) lines", st.runner_up)) else 0
    if runner >= 3 and runner * 2 >= taken:
        return [
            f"{doc.source}: speaker structure unsure: read as {st.reading}, but {st.runner_up} fits almost "
            f"as well; check with: rag inspect {doc.source}"
        ]
    return []


def _hidden_warnings(doc: Document, hidden: list[tuple[int, Label]]) -> list[str]:
    """Labels read through invisible characters (pasted from a web page or a chat, or planted)."""
    if not hidden:
        return []
    lines = [
        f"line {doc.text.count(chr(10), 0, at) + 1} {doc.text[at : lab.end].rstrip()!r} read as {lab.name!r}"
        for at, lab in hidden[:6]
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
    caps = {fold(p) for label in labels for w in label.split() if w.isupper() for p in w.split("-") if p.isalpha()}
    at: dict[str, list[int]] = {}  # where each of those words is written, in any case (one pass)
    for m in WORD_RUN.finditer(text) if caps else ():
        key = fold(m.group(0))
        if key in caps:
            at.setdefault(key, []).append(m.start())

    def spelled(w: str) -> re.Match[str] | None:
        """The first of `re.finditer(rf"\\b{w}\\b", text, re.I)` not in capitals, tried where w is."""
        pattern = re.compile(rf"\b{re.escape(w)}\b", re.I)
        found = (pattern.match(text, p) for p in at.get(fold(w), ()))
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
            elif w.isupper() and "-" in w and all(p.isalpha() for p in w.split("-")):  # "ADEYEMI-PRICE"
                parts = [(p, spelled(p) if len(p) > 2 else None) for p in w.split("-")]
                w = "-".join(found.group(0) if found else p.title() for p, found in parts)
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


def _block_paragraphs(
    text: str, block: list[Span], opens: Collection[int] | None, alone: Collection[int], shouting: bool = False
) -> list[Span]:
    """Join hard-wrapped lines: a short line that stops mid-sentence continues on the next one."""
    merged: list[Span] = []
    for s, e in block:
        opening = read_label(text, s, e) is not None if opens is None else s in opens
        if merged and merged[-1][0] not in alone and not opening and _continues(text, merged[-1], s, e, shouting):
            merged[-1] = (merged[-1][0], e)
        else:
            merged.append((s, e))
    return merged


def _continues(text: str, previous: Span, s: int, e: int, shouting: bool = False) -> bool:
    last_line = text[previous[0] : previous[1]].rsplit("\n", 1)[-1]
    return (
        len(last_line) <= 100
        and last_line.rstrip()[-1] not in '.!?:;"”’)]…'
        and (shouting or not is_header(last_line))
        and not is_stage(text[s:e])  # "[Witness conferring with counsel.]" after "were being—"
    )


def is_uncertain(doc: Document, start: int, end: int) -> bool:
    """Whether text[start:end] of a document overlaps a recording's stretch whose speaker is not
    sure (overlap, very short, an unclear voice: `Cue.uncertain`)."""
    return any(c.uncertain and c.start < end and start < c.end for c in doc.cues)
