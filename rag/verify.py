"""Check a generated answer sentence by sentence against the sources it cites.

A sentence survives only if (1) its [n] markers point at real sources, (2) a cited source supports
it: enough of its content words occur in the source, or a source sentence is close in meaning,
and (3) when it says who said something, the cited passage is by that person or quotes them.
Each surviving citation points at the supporting source sentence, with verified offsets. What
was dropped, and why, is kept. `Fluent` has a model write the answer and shows it only as far as its sentences verify;
whether to call a model at all is `pipeline.py`'s choice.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, replace

import numpy as np

from rag.config import Settings
from rag.embed import Embedder
from rag.errors import LLMError
from rag.generate import Generator, build_prompt
from rag.index import Index
from rag.question import Query
from rag.roster import Roster
from rag.search import is_by
from rag.text import split_sentences, tokenize
from rag.turns import time_span
from rag.types import Answer, Citation, Document, Dropped, Hit

log = logging.getLogger(__name__)

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
    min_lexical: float = 0.8,
    min_cosine: float = 0.8,
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
        if claim.markers and not valid:
            bad = sorted(set(claim.markers))
            reason = f"cites [{', '.join(map(str, bad))}], but there are {len(sources)} sources"
            dropped.append(Dropped(claim.text, reason))
            if flag:
                kept.append(f"{claim.text} (unsupported: {reason})")
            continue
        # A sentence with no marker is checked against every source: if one supports it, it is cited.
        cited = [sources[n - 1] for n in valid] if valid else list(sources)
        support = _best_support(claim.text, cited, embedder, min_lexical, min_cosine)
        if support is None:
            reason = "not supported by the cited sources" if valid else "no citation, and no source supports it"
            dropped.append(Dropped(claim.text, reason))
            if flag:
                kept.append(f"{claim.text} (unsupported: {'not in the cited sources' if valid else 'no source'})")
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
            t0, t1 = time_span(doc, start, end) if doc.cues else (c.time_start, c.time_end)
            n = len(citations) + 1
            citations.append(Citation(n, c.chunk_id, c.doc_id, c.source, c.speaker, start, end, quote, score, t0, t1))
        kept.append(f"{claim.text} [{by_source[key]}]")
        supported += 1
    return Verified(" ".join(kept), tuple(citations), tuple(dropped), supported, len(claims))


class Fluent:
    """A language model's answer to a question, shown only as far as its sentences verify.

    Example: Fluent(generator, index, roster, embedder, settings).answers(query, hits, extractive, ())
    """

    def __init__(
        self, generator: Generator, index: Index, roster: Roster, embedder: Embedder, settings: Settings
    ) -> None:
        self.generator = generator
        self.index = index
        self.roster = roster
        self.embedder = embedder
        self.settings = settings

    def answers(
        self, query: Query, hits: list[Hit], extractive: Answer, history: Sequence[str], *, partial: bool = False
    ) -> Iterator[Answer]:
        """The model's answer: when `partial` and the model streams, each time a sentence is complete
        the sentences so far verified (mode "generating"); then the whole answer verified, or the
        extractive one (mode "fallback") when the model fails or nothing it wrote verifies."""
        prompt = build_prompt(query.question, hits, history=history, budget=self.settings.llm_budget)
        stream = getattr(self.generator, "stream", None) if partial else None
        text, done = "", 0
        try:
            pieces = stream(prompt.messages) if callable(stream) else iter([self.generator.generate(prompt.messages)])
            for piece in pieces:
                text += piece
                sentences = split_sentences(text)
                if len(sentences) - 1 > done:  # the last one may still be growing
                    done = len(sentences) - 1
                    checked = self._verify(text[: sentences[done - 1][1]], prompt.sources)
                    if checked.kept:
                        yield replace(
                            extractive,
                            text=checked.text,
                            citations=checked.citations,
                            mode="generating",
                            dropped=checked.dropped,
                            reason="",
                        )
        except LLMError as err:
            log.warning("%s; giving the extractive answer", err)
            yield replace(extractive, mode="fallback", reason=f"language model unavailable: {err}")
            return
        if not text.strip():
            yield replace(extractive, mode="fallback", reason="language model unavailable: empty completion")
            return
        checked = self._verify(text.strip(), prompt.sources)
        if not checked.kept:
            why = "nothing the model wrote could be verified against the sources"
            yield replace(extractive, mode="fallback", reason=why, dropped=checked.dropped)
            return
        yield replace(
            extractive,
            text=checked.text,
            citations=checked.citations,
            mode="generated",
            dropped=checked.dropped,
            reason="",
        )

    def _verify(self, text: str, sources: Sequence[Hit]) -> Verified:
        return verify(
            text,
            sources,
            self.index.transcripts.documents(),
            self.roster,
            self.embedder,
            min_lexical=self.settings.min_support_lexical,
            min_cosine=self.settings.min_support_cosine,
            flag=self.settings.show_unsupported,
        )


def _best_support(
    claim: str, hits: Sequence[Hit], embedder: Embedder | None, min_lexical: float, min_cosine: float
) -> tuple[Hit, int, int, float] | None:
    """The source passage (one or two adjacent sentences) that supports `claim`, or None.

    Supported means: the passage holds at least `min_lexical` of the claim's content words, with
    the same negation, and is not far from it in meaning (cosine >= 0.5); or, for a paraphrase,
    its cosine to the claim reaches `min_cosine`. Returns (hit, start, end, score).
    """
    words = set(tokenize(claim)) - _ATTRIBUTION
    negated = bool(_NEGATION.search(claim))
    windows: list[tuple[Hit, int, int, float]] = []  # (hit, start, end, word coverage)
    for hit in hits:
        c = hit.chunk
        known = set(tokenize(c.label))  # the speaker's name is in the label, not in the text
        spans = split_sentences(c.text)
        terms = [set(tokenize(c.text[s:e])) for s, e in spans]
        for i, (s, _) in enumerate(spans):
            for j in range(i, min(i + 2, len(spans))):
                window = set().union(*terms[i : j + 1])
                coverage = len(words & (window | known)) / len(words) if words else 0.0
                # the sentence of the window that carries the claim must agree with it on negation
                main = max(range(i, j + 1), key=lambda m: len(words & terms[m]))
                if bool(_NEGATION.search(c.text[slice(*spans[main])])) != negated:
                    coverage = min(coverage, min_lexical - 0.01)
                windows.append((hit, c.start + s, c.start + spans[j][1], coverage - 0.001 * (j - i)))
    if not windows:
        return None
    windows.sort(key=lambda w: -w[3])
    if embedder is None:
        best = windows[0]
        return best if best[3] >= min_lexical else None
    top = windows[:24]
    texts = [h.chunk.text[s - h.chunk.start : e - h.chunk.start] for h, s, e, _ in top]
    vectors = embedder.embed([claim, *texts])
    cosines = vectors[1:] @ vectors[0]
    for (h, s, e, coverage), cos in zip(top, cosines.tolist(), strict=True):
        if coverage >= min_lexical and cos >= 0.5:
            return h, s, e, float(cos)
    i = int(np.argmax(cosines))
    if float(cosines[i]) >= min_cosine:
        h, s, e, _ = top[i]
        return h, s, e, float(cosines[i])
    return None


# Explicit negation only: polarity by meaning ("failure to bring") is left to the cosine check.
_NEGATION = re.compile(r"\b(?:not|no|never|nor|none|cannot|without)\b|n['’]t\b", re.I)
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
    labels = {label for p in mention.people for d, label in p.seats if d in (None, hit.chunk.doc_id)}
    return None if is_by(hit.chunk, [*mention.names, *labels]) else ", ".join(mention.names)
