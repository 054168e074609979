"""Which `Name:` labels name speakers: the evidence rules for the colon shape.

A colon line is a speaker's label when its shape says "person" (an honorific, a court label, a
diarization id), its name is introduced in the text, it recurs outside lists, or it is one of
several labels and not a list item ("First:", "Plan B:" inside a turn), an enumerator or a word
the text also uses in lower case. Used by `rag.structure`, which weighs the other shapes.
"""

from __future__ import annotations

import re
from functools import lru_cache

from rag.formats.labels import Label, is_diarized, is_person_shaped
from rag.text import has_word, is_boundary
from rag.types import Span

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


def judge_labels(text: str, spans: list[Span], found: list[Label | None]) -> tuple[set[str], list[tuple[int, Label]]]:
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
    if is_diarized(label.raw):
        return True  # "Phone User_4": an id, though "phone" alone opens no turn
    first = label.raw.split()[0].lower().rstrip(".")
    return first not in NOT_SPEAKERS and label.raw.lower() not in NOT_SPEAKERS


def _introduced(text: str, name: str, labelled: int) -> bool:
    """The name (or its last word) appears capitalised mid-sentence elsewhere: "with Mei Lin, our..."."""
    last = name.split()[-1]
    if len(last) < 3 or not last[0].isupper():
        return False
    words = rf"(?:{re.escape(name)}|{re.escape(last)})\b"
    heads = [WORD_RUN.match(name), WORD_RUN.match(last)]
    if heads[0] is None or heads[1] is None:  # not a word first: look everywhere
        anywhere = re.compile(rf"(?<=[^\W\d_,;’'][ \t]){words}", re.I)
        return any(m.group(0)[0].isupper() for m in anywhere.finditer(text))
    # It can only match where a word follows a letter and a space (the lookbehind): the same
    # matches as finditer over the whole text, tried there alone (indexed once per document).
    where = _words_after_letters(text)
    starts = sorted({p for h in heads if h is not None for p in where.get(fold(h.group(0)), ())})
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


WORD_RUN = re.compile(r"\w+")


def fold(word: str) -> str:
    """A key equal for any two spellings that re.IGNORECASE takes as equal (and a few more)."""
    return word.translate(_DOTTED).casefold()


_DOTTED = str.maketrans({"İ": "i", "ı": "i"})


@lru_cache(maxsize=2)
def _words_after_letters(text: str) -> dict[str, list[int]]:
    """Folded word -> where it starts, for each word right after a letter and a space or tab."""
    out: dict[str, list[int]] = {}
    for m in re.finditer(r"(?<=[^\W\d_,;’'][ \t])\w+", text):
        out.setdefault(fold(m.group(0)), []).append(m.start())
    return out


def _enumerator(name: str) -> bool:
    """ "Plan B", "Option 2", "Phase II": a word and a letter or number."""
    words = name.split()
    return len(words) >= 2 and (words[-1].isdigit() or len(words[-1]) == 1 or words[-1] in {"II", "III", "IV"})


def _common_words(text: str, name: str) -> bool:
    """Every word of the label also appears in lower case in the text: a word, not a name."""
    return all(has_word(text, w.lower()) for w in name.split() if w.isalpha())
