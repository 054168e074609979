"""Split a document into speaker turns, leaving out headers and promotional boilerplate.

Text transcripts: a paragraph that opens with a label (`McLaughlin:`, `JOHN SMITH:`,
`Jane Doe (host):`, `Q:`) starts a turn; unlabelled paragraphs continue it; text before the first
label is the narration (speaker None). QMSum documents are one `Speaker: content` line per turn.
This module finds structure only; it does not chunk, and it does not resolve names (`people.py`).
"""

from __future__ import annotations

import re
from collections import Counter

from rag.types import Document, Excluded, Span, Turn

# A label: one to four capitalised words, an optional (role), then a colon at paragraph start.
_WORD = r"(?:[A-Z][\w'’.\-]*|(?:de|van|von|der|da|del|al|bin|la|le|du|di)\b)"
LABEL_RE = re.compile(
    rf"(?P<label>[A-Z][\w'’.\-]*(?:[ \t]+{_WORD}){{0,3}}(?:[ \t]*\((?P<role>[^()\n]{{1,60}})\))?)"
    r"[ \t]*:(?:[ \t]+|$)"
)
# Capitalised words before a colon that are not people.
NOT_SPEAKERS = frozenset(
    """note notes update updated correction corrections source sources photo photos caption credit
    credits related disclaimer disclosure warning tip tips example examples summary transcript date
    time location subject re ps p.s image images video audio read watch listen sponsored
    advertisement ad ads see also contact email e-mail phone tel web website url tags tag category
    categories posted published by author authors via topic topics title headline background context
    bottom line takeaway takeaways why it matters what's next editor editor's the bottom line
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


def split_turns(doc: Document) -> list[Turn]:
    """The speaker turns of a document, in order. Narration is a turn with speaker None.

    Example: "Intro.\\nAnn: Hi.\\nMore." -> [Turn(None, "Intro."), Turn("Ann", "Hi.", "More.")]
    """
    return segment(doc)[0]


def find_excluded(doc: Document) -> list[Excluded]:
    """The paragraphs kept out of every turn: headers, editorial notes and promotional boilerplate."""
    return segment(doc)[1]


def segment(doc: Document) -> tuple[list[Turn], list[Excluded]]:
    """Turns and excluded paragraphs in one pass (split_turns and find_excluded each need both)."""
    if doc.format == "qmsum":
        return _qmsum_turns(doc), []
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


def _segment(doc: Document) -> tuple[list[Turn], list[Excluded]]:
    text = doc.text
    spans = paragraphs(text)
    labels = _accepted_labels(text, spans)
    names = _display_names(text, labels)
    # (speaker or None, paragraph spans); the narration is open until the first label.
    groups: list[tuple[str | None, list[Span]]] = [(None, [])]
    excluded: list[Excluded] = []
    for start, end in spans:
        m = LABEL_RE.match(text, start, end)
        labelled = m is not None and _clean_label(m.group("label")) in labels
        if m is not None and labelled:
            groups.append((names[_clean_label(m.group("label"))], []))
            start = m.end()
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
            groups[-1][1].append((start, end))
    turns: list[Turn] = []
    for speaker, paras in groups:
        if paras:
            turns.append(Turn(doc.doc_id, len(turns), speaker, paras[0][0], paras[-1][1], tuple(paras)))
    return turns, excluded


def _accepted_labels(text: str, spans: list[Span]) -> set[str]:
    """Labels that name speakers: not a stop word, and recurring, introduced, or one of several."""
    found: Counter[str] = Counter()
    for start, end in spans:
        m = LABEL_RE.match(text, start, end)
        if m:
            label = _clean_label(m.group("label"))
            if label.lower().rstrip(".") not in NOT_SPEAKERS and _looks_like_name(label):
                found[label] += 1
    several = len(found) >= 2
    lower = text.lower()
    return {
        label
        for label, count in found.items()
        if several or count >= 2 or label in INTERVIEW_LABELS or lower.count(label.split()[-1].lower()) > count
    }


def _looks_like_name(label: str) -> bool:
    words = label.split()
    return not any(w.lower() in NOT_SPEAKERS for w in words[:1]) and len(label) <= 60


def _clean_label(label: str) -> str:
    """Drop a trailing (role) and normalise spaces: "JANE DOE (host)" -> "JANE DOE"."""
    return " ".join(re.sub(r"\([^)]*\)", " ", label).split())


def _display_names(text: str, labels: set[str]) -> dict[str, str]:
    """Labels in capitals take the spelling used elsewhere in the text: "MCLAUGHLIN" -> "McLaughlin"."""
    names = {}
    for label in labels:
        name = label
        if label.isupper() and len(label) > 2:
            m = re.search(rf"\b{re.escape(label)}\b", text, re.I)
            for m in re.finditer(rf"\b{re.escape(label)}\b", text, re.I):
                if not m.group(0).isupper():
                    name = m.group(0)
                    break
            else:
                name = label.title()
        names[label] = name
    return names


def _qmsum_turns(doc: Document) -> list[Turn]:
    turns = []
    pos = 0
    for i, line in enumerate(doc.text.split("\n")):
        speaker, sep, _ = line.partition(": ")
        start = pos + len(speaker) + len(sep)
        span = trim_span(doc.text, start, pos + len(line))
        paras = (span,) if span else ()
        s, e = span if span else (start, start)
        turns.append(Turn(doc.doc_id, i, speaker, s, e, paras))
        pos += len(line) + 1
    return turns


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
        and not LABEL_RE.match(text, s, e)
    )


def trim_span(text: str, start: int, end: int) -> Span | None:
    """text[start:end] without surrounding whitespace (or a BOM), or None when nothing is left."""
    while start < end and (text[start].isspace() or text[start] == "\ufeff"):
        start += 1
    while end > start and text[end - 1].isspace():
        end -= 1
    return (start, end) if end > start else None
