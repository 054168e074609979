"""Text helpers every stage shares: words in any script, BM25 terms, sentences, trimmed spans.

Words are Unicode: letters and digits of any script. Han and kana, written without spaces, are
cut into overlapping character bigrams (single characters when a run is one long), the usual way
to index Chinese and Japanese without a dictionary. Stemming is English Snowball and applies only
to words written in ASCII letters: "über" stays "über", never "ber". Nothing here knows about
speakers, chunks or indexes.
"""

from __future__ import annotations

import re
from functools import lru_cache
from typing import Any

from rag.types import Span

MARKS = re.compile(r"\{[a-z_]+\}")  # transcription marks such as {vocalsound}
# A word: letters or digits of any script, with an inner apostrophe ("don't", "Putin's").
_WORD = re.compile(r"[^\W_]+(?:['’][^\W_]+)*")
_CJK = re.compile(r"[\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff]+")

STOPWORDS = frozenset(
    """a an and are as at be but by for if in into is it no not of on or such that the their then
    there these they this to was will with what did does do say said says about which who whom
    whose when where why how i me my we our you your he him his she her its them was were been
    being have has had would could should can may might shall than too very just also so any all
    some more most other what's tell talk think thought mention mentioned""".split()
)

_SENTENCE_END = re.compile(r"[.!?…]+[\"”’')\]]*(?=\s+[\"“‘'(\[]?[^\W_a-z])|[。！？]+[”」』）]*")
_ABBREVIATIONS = frozenset(
    "mr mrs ms dr st jr sr prof gen sen rep gov lt col sgt capt adm no vs etc e.g i.e u.s u.k "
    "u.n d.c a.m p.m inc ltd co corp dept est fig approx hon cllr rev".split()
)


def words(text: str) -> list[str]:
    """Lower-cased words of any script; Han/kana runs become character bigrams.

    Example: words("Özlem sagte: 我们明天") -> ["özlem", "sagte", "我们", "们明", "明天"]
    """
    found: list[str] = _WORD.findall(MARKS.sub(" ", text.lower()))
    if not _CJK.search(text):
        return found  # the common case: no per-word work
    out: list[str] = []
    for w in found:
        out.extend(_split_cjk(w) if _CJK.search(w) else [w])
    return out


def tokenize(text: str) -> list[str]:
    """BM25 terms: words, stop words out, possessive 's dropped, ASCII words Snowball-stemmed.

    Example: tokenize("What did Dannenberg say about Helsinki?") -> ["dannenberg", "helsinki"]
    """
    kept = [w[:-2] if w.endswith(("'s", "’s")) else w for w in words(text) if w not in STOPWORDS]
    kept = [w for w in kept if w and w not in STOPWORDS]
    if all(w.isascii() for w in kept):
        stemmed: list[str] = _stemmer().stemWords(kept)
        return stemmed
    english = [w for w in kept if w.isascii()]
    stems = iter(_stemmer().stemWords(english))
    return [next(stems) if w.isascii() else w for w in kept]


def has_cjk(text: str) -> bool:
    return _CJK.search(text) is not None


def split_sentences(text: str, start: int = 0, end: int | None = None) -> list[Span]:
    """Sentence spans within text[start:end], whitespace trimmed (also 。！？ with no space after).

    Example: split_sentences("Hi there. The U.S. is big.") -> [(0, 9), (10, 26)]
    """
    end = len(text) if end is None else end
    spans = []
    pos = start
    for m in _SENTENCE_END.finditer(text, start, end):
        if text[m.start()] in ".!?…":
            word = re.search(r"([\w.]+)[.]+$", text[max(start, m.start() - 12) : m.start() + 1])
            if word and (word.group(1).lower().rstrip(".") in _ABBREVIATIONS or len(word.group(1)) == 1):
                continue  # "Mr. Smith", "J. Smith"
        spans.append((pos, m.end()))
        pos = m.end()
    spans.append((pos, end))
    return [t for s, e in spans if (t := trim_span(text, s, e))]


_BREAK = re.compile(r"<br\s*/?>", re.I)


def text_lines(text: str) -> list[Span]:
    """Each line's (start, end), line ends left out; an HTML `<br>` ends a line too (transcripts
    exported from web pages: "...sir.<br/><br/><strong>Mr. NORTH</strong>: ..."), the tag left out.

    Example: text_lines("a\nb<br/>c") -> [(0, 1), (2, 3), (8, 9)]
    """
    out: list[Span] = []
    pos = 0
    for raw in text.splitlines(keepends=True):
        body = raw.rstrip("\r\n\x0b\x0c\x1c\x1d\x1e\x85\u2028\u2029")
        start = pos
        for m in _BREAK.finditer(text, pos, pos + len(body)):
            out.append((start, m.start()))
            start = m.end()
        out.append((start, pos + len(body)))
        pos += len(raw)
    return out


def trim_span(text: str, start: int, end: int) -> Span | None:
    """text[start:end] without surrounding whitespace (or a BOM), or None when nothing is left."""
    while start < end and (text[start].isspace() or text[start] == "\ufeff"):
        start += 1
    while end > start and text[end - 1].isspace():
        end -= 1
    return (start, end) if end > start else None


def _split_cjk(word: str) -> list[str]:
    """Runs of Han/kana as bigrams, other script runs inside the word kept whole."""
    out: list[str] = []
    pos = 0
    for m in _CJK.finditer(word):
        if m.start() > pos:
            out.append(word[pos : m.start()])
        run = m.group(0)
        out.extend([run] if len(run) == 1 else [run[i : i + 2] for i in range(len(run) - 1)])
        pos = m.end()
    if pos < len(word):
        out.append(word[pos:])
    return out


@lru_cache(maxsize=1)
def _stemmer() -> Any:
    import Stemmer

    return Stemmer.Stemmer("english")


_WORD_CHARS = re.compile(r"\w+")


def letter_cases(text: str) -> tuple[int, int]:
    """How many capital and small letters the text writes: whether its case can tell names apart
    (captions are often all lower case or all capitals)."""
    upper = lower = 0
    for c in text:
        upper += c.isupper()
        lower += c.islower()
    return upper, lower


def has_word(text: str, word: str) -> bool:
    """`re.search(rf"\\b{re.escape(word)}\\b", text)`, answered from a set of the text's words
    (built once per text) when `word` is letters, digits and underscores: a document with
    thousands of speakers asks this for every one of them."""
    if _WORD_CHARS.fullmatch(word):
        return word in _word_set(text)
    return re.search(rf"\b{re.escape(word)}\b", text) is not None


@lru_cache(maxsize=4)
def _word_set(text: str) -> frozenset[str]:
    return frozenset(_WORD_CHARS.findall(text))


def is_boundary(text: str, i: int) -> bool:
    """Whether `\\b` matches at text[i]: a word character on one side only."""
    before = i > 0 and (text[i - 1].isalnum() or text[i - 1] == "_")
    after = i < len(text) and (text[i].isalnum() or text[i] == "_")
    return before != after
