"""Check a generated answer sentence by sentence against the sources it cites.

A sentence survives only if (1) its [n] markers point at real sources, (2) a cited source supports
it: enough of its content words occur in the source, or a source sentence is close in meaning,
and (3) when it says who said something, the cited passage is by that person or quotes them.
Each surviving citation points at the supporting source sentence, with verified offsets. What
was dropped, and why, is kept. Deciding to call a model at all is `pipeline.py`'s job.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from rag.chunk import split_sentences
from rag.embed import Embedder
from rag.index import tokenize
from rag.people import Roster
from rag.types import Citation, Document, Dropped, Hit

_MARKER = re.compile(r"\s*\[(\d+(?:\s*,\s*\d+)*)\]")
_SAYS = (
    r"said|says|say|argued|argues|warned|warns|believes|believed|thinks|thought|wrote|writes|added|"
    r"stated|states|noted|notes|stressed|suggested|suggests|told|explained|called|described|insisted|claimed"
)
NO_ANSWER = re.compile(r"\b(?:sources?|transcripts?|text)\b.{0,30}\b(?:do(?:es)? not|don't|doesn't)\b", re.I)


@dataclass(frozen=True, slots=True)
class Verified:
    """The answer rebuilt from supported sentences, its citations, and what was dropped."""

    text: str
    citations: tuple[Citation, ...]
    dropped: tuple[Dropped, ...]
    kept: int
    total: int


@dataclass(frozen=True, slots=True)
class Claim:
    text: str  # the sentence without its markers
    markers: tuple[int, ...]


def parse_claims(answer: str) -> list[Claim]:
    """Sentences of a generated answer with the [n] markers that follow them.

    Example: parse_claims("A said x [1]. B said y [2][3].") -> [Claim("A said x.", (1,)), Claim("B said y.", (2, 3))]
    """
    claims: list[Claim] = []
    text = " ".join(answer.split())
    for s, e in split_sentences(text):
        sentence = text[s:e]
        markers = tuple(int(n) for group in _MARKER.findall(sentence) for n in group.split(","))
        bare = _MARKER.sub("", sentence).strip()
        if re.fullmatch(r"[\W\d]*", bare):  # a lone marker split off the sentence before it
            if claims and markers:
                claims[-1] = Claim(claims[-1].text, claims[-1].markers + markers)
            continue
        claims.append(Claim(bare, markers))
    return claims


def verify(
    answer: str,
    sources: Sequence[Hit],
    documents: Mapping[str, Document],
    roster: Roster,
    embedder: Embedder | None,
    *,
    min_lexical: float = 0.6,
    min_cosine: float = 0.75,
    flag: bool = False,
) -> Verified:
    """Keep the sentences of `answer` that their cited sources support.

    Args:
        sources: the numbered sources of the prompt; [n] is sources[n - 1].
        embedder: for the meaning check; None checks words only.
        flag: keep unsupported sentences, marked "(unsupported)", instead of removing them.
    """
    claims = parse_claims(answer)
    kept: list[str] = []
    citations: list[Citation] = []
    dropped: list[Dropped] = []
    by_source: dict[tuple[str, int, int], int] = {}
    supported = 0
    for claim in claims:
        if NO_ANSWER.search(claim.text) and not claim.markers:
            dropped.append(Dropped(claim.text, "says the sources do not answer"))
            continue
        valid = [n for n in claim.markers if 1 <= n <= len(sources)]
        if len(valid) < len(claim.markers):
            bad = sorted(set(claim.markers) - set(valid))
            reason = f"cites [{', '.join(map(str, bad))}], but there are {len(sources)} sources"
            if not valid:
                dropped.append(Dropped(claim.text, reason))
                if flag:
                    kept.append(f"{claim.text} (unsupported: {reason})")
                continue
        if not valid:
            dropped.append(Dropped(claim.text, "no citation"))
            if flag:
                kept.append(f"{claim.text} (unsupported: no citation)")
            continue
        support = _best_support(claim.text, [sources[n - 1] for n in valid], embedder, min_lexical, min_cosine)
        if support is None:
            dropped.append(Dropped(claim.text, "not supported by the cited sources"))
            if flag:
                kept.append(f"{claim.text} (unsupported: not in the cited sources)")
            continue
        hit, start, end, score = support
        wrong = _wrong_speaker(claim.text, hit, roster)
        if wrong:
            dropped.append(Dropped(claim.text, f"names {wrong}, but the cited passage is by {hit.chunk.label}"))
            if flag:
                kept.append(f"{claim.text} (unsupported: wrong speaker)")
            continue
        doc = documents.get(hit.chunk.doc_id)
        quote = hit.chunk.text[start - hit.chunk.start : end - hit.chunk.start]
        if doc is None or doc.text[start:end] != quote:
            dropped.append(Dropped(claim.text, "the supporting quote does not match the source"))
            continue
        key = (hit.chunk.doc_id, start, end)
        if key not in by_source:
            c = hit.chunk
            by_source[key] = len(citations) + 1
            citations.append(
                Citation(len(citations) + 1, c.chunk_id, c.doc_id, c.source, c.speaker, start, end, quote, score)
            )
        kept.append(f"{claim.text} [{by_source[key]}]")
        supported += 1
    return Verified(" ".join(kept), tuple(citations), tuple(dropped), supported, len(claims))


def _best_support(
    claim: str, hits: Sequence[Hit], embedder: Embedder | None, min_lexical: float, min_cosine: float
) -> tuple[Hit, int, int, float] | None:
    """The cited source sentence that best supports `claim`: (hit, start, end, score), or None."""
    words = set(tokenize(claim)) - _ATTRIBUTION
    candidates: list[tuple[Hit, int, int, float]] = []
    for hit in hits:
        c = hit.chunk
        chunk_words = set(tokenize(c.text))
        lexical = len(words & chunk_words) / len(words) if words else 0.0
        for s, e in split_sentences(c.text):
            sentence_words = set(tokenize(c.text[s:e]))
            share = len(words & sentence_words) / len(words) if words else 0.0
            candidates.append((hit, c.start + s, c.start + e, max(share, 0.0) + 0.001 * lexical))
    if not candidates:
        return None
    candidates.sort(key=lambda x: -x[3])
    best = candidates[0]
    whole = max(len(words & set(tokenize(h.chunk.text))) / len(words) if words else 0.0 for h in hits)
    if whole >= min_lexical and best[3] > 0:
        return best
    if embedder is None:
        return None
    texts = [h.chunk.text[s - h.chunk.start : e - h.chunk.start] for h, s, e, _ in candidates[:24]]
    vectors = embedder.embed([claim, *texts])
    cosines = vectors[1:] @ vectors[0]
    i = int(np.argmax(cosines))
    if float(cosines[i]) >= min_cosine:
        h, s, e, _ = candidates[i]
        return h, s, e, float(cosines[i])
    return None


_ATTRIBUTION = set(tokenize(f"{_SAYS.replace('|', ' ')} according also article narration interview source"))


def _wrong_speaker(claim: str, hit: Hit, roster: Roster) -> str | None:
    """The person a claim attributes words to, when the cited passage is neither by nor quoting them."""
    mention = roster.match(claim)
    if mention is None:
        return None
    said = re.search(rf"{re.escape(mention.text)}\W+(?:\w+\s+)?(?:{_SAYS})\b", claim, re.I) or re.search(
        rf"according to\s+(?:the\s+)?{re.escape(mention.text)}", claim, re.I
    )
    if not said:
        return None
    c = hit.chunk
    if c.speaker in mention.names or any(q in mention.names for q in c.quoted):
        return None
    return ", ".join(mention.names)
