"""Compose a short extractive answer from retrieved passages, with verified citations.

Sentences from the best passages are scored by how much of the question's topic they contain
(idf-weighted), by how close they are to it in meaning (their cosine to the topic, from the sentence
vectors of the index) and by their passage's rank; the best few are quoted verbatim and attributed
to who said them. Every quote is checked against the document text before it is returned; one that
does not match is dropped. Whether to answer at all is decided here too (see `is_answerable`).
No language model is involved; see `rag.generate` for the optional one.
"""

from __future__ import annotations

import logging
import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from functools import cached_property

import numpy as np

from rag.config import Settings
from rag.embed import QueryVectors
from rag.index import Index
from rag.question import Query, topic_text
from rag.text import split_sentences, tokenize
from rag.turns import is_uncertain, time_span
from rag.types import Answer, Citation, Document, Evidence, Hit, Span

log = logging.getLogger(__name__)
MAX_QUOTE_WORDS = 120
MIN_QUOTE_WORDS = 8  # a shorter quote is a lead-in or a fragment: the next sentence joins it


@dataclass(frozen=True, slots=True)
class _Sentence:
    hit: Hit
    start: int
    end: int
    score: float
    coverage: float


def answer_question(
    query: Query,
    hits: Sequence[Hit],
    documents: Mapping[str, Document],
    idf: Mapping[str, float],
    *,
    settings: Settings = Settings(),
    exclude: Sequence[Span] = (),
    closeness: Mapping[str, Mapping[Span, float]] | None = None,
) -> Answer:
    """An answer quoting the best sentences of `hits`, or a refusal when they do not answer.

    Args:
        idf: inverse document frequency of BM25 terms; unknown terms count as rarest.
        exclude: spans already given (for "what else" follow-ups); sentences inside are skipped.
        closeness: by chunk id, each sentence's cosine to the topic, keyed by its span in the
            chunk's text (`Sentences.closeness`). Counted at `settings.sentence_weight`; None
            leaves meaning out of the choice.
    """
    speaker = ", ".join(query.speakers) if query.speakers else None
    weight = settings.sentence_weight if closeness is not None else 0.0
    sentences = _score_sentences(query, hits, idf, exclude, closeness or {}, weight)
    if query.speakers:  # who said what: a stretch of a recording whose speaker is not sure comes last
        sentences = [_unless_unsure(s, documents) for s in sentences]
    evidence = Evidence(
        dense=max((h.dense for h in hits), default=0.0),
        coverage=max((s.coverage for s in sentences), default=0.0),
    )
    if not hits or not sentences:
        return refuse(query, hits, "no passage to quote", evidence=evidence)
    if not is_answerable(query, evidence, settings):
        return refuse(query, hits, f"no passage matches {query.topic!r} closely enough", evidence=evidence)
    chosen = _by_document(_choose(sentences, settings.max_quotes))
    cited = _cite(chosen, documents)
    if not cited:
        return refuse(query, hits, "no quote could be verified against its source", evidence=evidence)
    text, note = _compose(query, cited)
    citations = tuple(c for _, c in cited)
    return Answer(query.question, text, True, speaker, citations, tuple(hits), note, evidence)


class Quoter:
    """`answer_question` over one index: its documents, its terms' idf and its sentence vectors.

    Example: Quoter(index, QueryVectors(embedder), Settings()).answer(query, hits)
    """

    def __init__(self, index: Index, vectors: QueryVectors, settings: Settings) -> None:
        self.index = index
        self.vectors = vectors
        self.settings = settings

    @cached_property
    def idf(self) -> dict[str, float]:
        return idf_table(self.index.store.document_frequencies(), max(len(self.index.chunks), 1))

    def answer(self, query: Query, hits: Sequence[Hit], *, exclude: Sequence[Span] = ()) -> Answer:
        """The extractive answer from `hits`, its quotes chosen with the sentence vectors."""
        closeness = self._closeness(self.vectors.one(topic_text(query)), hits) if self.index.sentences else None
        documents = self.index.transcripts.documents()
        return answer_question(
            query, hits, documents, self.idf, settings=self.settings, exclude=exclude, closeness=closeness
        )

    def _closeness(self, topic: np.ndarray, hits: Sequence[Hit]) -> dict[str, dict[Span, float]]:
        """Each hit's sentences' cosines to the topic, by chunk id (see `answer_question`)."""
        sentences = self.index.sentences
        assert sentences is not None
        table = self.index.chunks
        found = {h.chunk.chunk_id: table.find(h.chunk.chunk_id) if h.row is None else h.row for h in hits}
        rows = {chunk_id: row for chunk_id, row in found.items() if row is not None}
        by_row = sentences.closeness(topic, list(rows.values()))
        return {chunk_id: by_row[row] for chunk_id, row in rows.items()}


def is_answerable(query: Query, evidence: Evidence, settings: Settings) -> bool:
    """Answer when the best passage is close in meaning or holds enough of the topic's words.

    A question with no topic left ("What did Dannenberg say?") is answerable when the speaker has
    passages at all. The thresholds are calibrated on the seed set (see eval/README.md).
    """
    if not topic_terms(query.topic) and query.speakers:
        return True
    return evidence.dense >= settings.min_dense or evidence.coverage >= settings.min_coverage


def refuse(
    query: Query,
    hits: Sequence[Hit],
    reason: str,
    *,
    text: str | None = None,
    evidence: Evidence = Evidence(),
) -> Answer:
    """A refusal: an ordinary Answer with answerable=False and a sentence that says why."""
    who = ", ".join(query.speakers) if query.speakers else None
    if text is None:
        scope = f"what {who} said" if who else "the transcripts"
        text = f"I can't answer that from {scope}: {reason}."
    return Answer(query.question, text, False, who, (), tuple(hits), reason, evidence)


def topic_terms(topic: str) -> list[str]:
    return [t for t in tokenize(topic) if t not in {"els", "else", "that", "this", "it", "why"}]


def idf_table(document_frequency: Mapping[str, int], n_docs: int) -> dict[str, float]:
    """BM25's idf for each term: log(1 + (N - df + 0.5) / (df + 0.5))."""
    return {t: math.log(1 + (n_docs - df + 0.5) / (df + 0.5)) for t, df in document_frequency.items()}


def _score_sentences(
    query: Query,
    hits: Sequence[Hit],
    idf: Mapping[str, float],
    exclude: Sequence[Span],
    closeness: Mapping[str, Mapping[Span, float]] = {},  # noqa: B006 (read only)
    meaning: float = 0.0,
) -> list[_Sentence]:
    """Score every sentence of every hit; `coverage` is the topic's idf share in the sentence,
    `closeness` its cosine to the topic (see `answer_question`), counted at weight `meaning` above
    or below the median sentence's."""
    weight = _term_weights(query, idf)
    total = sum(weight.values())
    names = _asked_names(query, hits)
    # Centred on the median sentence, meaning moves the choice without lifting every score alike
    # (which would let more sentences pass `_choose`'s cut relative to the best one).
    cosines = [v for h in hits for v in closeness.get(h.chunk.chunk_id, {}).values()]
    center = float(np.median(cosines)) if cosines else 0.0
    out = []
    for hit in hits:
        c = hit.chunk
        close = closeness.get(c.chunk_id, {})
        chunk_words = set(tokenize(c.text))
        chunk_cov = sum(w for t, w in weight.items() if t in chunk_words) / total if total else 0.0
        previous_named = quote_open = False
        for s, e in split_sentences(c.text):
            start, end = c.start + s, c.start + e
            text = c.text[s:e]
            named = bool(names) and any(n.lower() in text.lower() for n in names)
            # A quotation that goes on after the sentence naming its speaker belongs to them too.
            carried = previous_named and (quote_open or text.lstrip()[:1] in '“"')
            previous_named = named or carried
            quote_open = _opens_quote(text, quote_open)
            if any(start < xe and xs < end for xs, xe in exclude):
                continue
            words = set(tokenize(text))
            coverage = sum(w for t, w in weight.items() if t in words) / total if total else 0.0
            score = coverage + 0.3 * chunk_cov + 0.5 * (named or carried) + 0.1 / hit.rank + 0.2 * hit.dense
            score += meaning * (close.get((s, e), center) - center)  # a sentence with no vector: neutral
            out.append(_Sentence(hit, start, end, score, coverage))
    return out


def _term_weights(query: Query, idf: Mapping[str, float]) -> dict[str, float]:
    """idf of each topic term; terms carried over from earlier questions count half."""
    rarest = max(idf.values(), default=1.0) + 1.0
    weight = {t: 0.5 * idf.get(t, rarest) for t in topic_terms(query.context)}
    weight.update({t: idf.get(t, rarest) for t in topic_terms(query.topic)})
    return weight


def _asked_names(query: Query, hits: Sequence[Hit]) -> list[str]:
    """Names of an asked-about person who is quoted rather than speaking, to find their words."""
    asked = set(query.speakers or ())
    quoted = {q for h in hits for q in h.chunk.quoted if q in asked and h.chunk.speaker not in asked}
    return sorted(quoted)


def _choose(sentences: list[_Sentence], max_quotes: int) -> list[_Sentence]:
    """The best sentences (at most three per passage), best first, touching ones merged."""
    ranked = sorted(sentences, key=lambda s: -s.score)
    best = ranked[0]
    chosen: list[_Sentence] = []
    words = 0
    for s in ranked:
        if len(chosen) >= max_quotes or (chosen and s.score < 0.75 * best.score):
            break
        if chosen and best.coverage > 0 and s.coverage == 0:
            continue
        n = len(s.hit.chunk.text[s.start - s.hit.chunk.start : s.end - s.hit.chunk.start].split())
        if chosen and words + n > MAX_QUOTE_WORDS:
            continue
        if sum(c.hit.chunk.chunk_id == s.hit.chunk.chunk_id for c in chosen) >= 3:
            continue
        chosen.append(s)
        words += n
    return _merge_adjacent(_with_antecedents(chosen))


def _with_antecedents(chosen: list[_Sentence]) -> list[_Sentence]:
    """Widen quotes that cannot stand alone.

    A quote opening with "This was ..." takes the sentence before it; a short one followed by
    "He wants ..." takes the sentence after it, and one of fewer than `MIN_QUOTE_WORDS` words
    ("Objection, Your Honor.", "Let's look at the new address form.") the sentences after it until
    it has that many (all within the same paragraph).
    """
    out = []
    for s in chosen:
        c = s.hit.chunk
        local, local_end = s.start - c.start, s.end - c.start
        start, end = s.start, s.end
        if _ANAPHOR.match(c.text[local:]):
            before = [p for p in split_sentences(c.text, 0, local) if p[1] <= local]
            if before and "\n" not in c.text[before[-1][1] : local]:
                start = c.start + before[-1][0]
        for a, b in split_sentences(c.text, local_end):
            words = len(c.text[start - c.start : end - c.start].split())
            if "\n" in c.text[end - c.start : a]:
                break
            if words < MIN_QUOTE_WORDS or (words < 15 and end == s.end and _ANAPHOR.match(c.text[a:])):
                end = c.start + b
            else:
                break
        out.append(_Sentence(s.hit, start, end, s.score, s.coverage))
    return out


_ANAPHOR = re.compile(r"(?:This|That|It|These|Those|He|She|They|Such)\b")


def _opens_quote(text: str, was_open: bool) -> bool:
    """Whether a quotation is still open after `text` (curly marks balanced, straight ones paired)."""
    state = was_open
    for ch in text:
        if ch == "“":
            state = True
        elif ch == "”":
            state = False
        elif ch == '"':
            state = not state
    return state


def _merge_adjacent(chosen: list[_Sentence]) -> list[_Sentence]:
    """Join quotes from one passage that touch or overlap; keep the best-first order."""
    merged: list[_Sentence] = []
    for s in chosen:
        for i, prev in enumerate(merged):
            if prev.hit.chunk.chunk_id == s.hit.chunk.chunk_id and _touch(prev, s):
                merged[i] = _Sentence(
                    prev.hit,
                    min(prev.start, s.start),
                    max(prev.end, s.end),
                    max(prev.score, s.score),
                    max(prev.coverage, s.coverage),
                )
                break
        else:
            merged.append(s)
    return merged


def _touch(a: _Sentence, b: _Sentence) -> bool:
    c = a.hit.chunk
    first, second = sorted((a, b), key=lambda s: s.start)
    return first.end >= second.start or not c.text[first.end - c.start : second.start - c.start].strip()


def _cite(chosen: list[_Sentence], documents: Mapping[str, Document]) -> list[tuple[_Sentence, Citation]]:
    """Citations for the quotes that match their source exactly; the others are dropped."""
    citations: list[tuple[_Sentence, Citation]] = []
    for s in chosen:
        c = s.hit.chunk
        doc = documents.get(c.doc_id)
        quote = c.text[s.start - c.start : s.end - c.start]
        if doc is None or doc.text[s.start : s.end] != quote:
            log.warning("dropped a citation of %s [%d:%d]: quote does not match the source", c.doc_id, s.start, s.end)
            continue
        n = len(citations) + 1
        t0, t1 = time_span(doc, s.start, s.end) if doc.cues else (c.time_start, c.time_end)
        unsure = bool(doc.cues) and is_uncertain(doc, s.start, s.end)
        citation = Citation(
            n, c.chunk_id, c.doc_id, c.source, c.speaker, s.start, s.end, quote, s.hit.score, t0, t1, uncertain=unsure
        )
        citations.append((s, citation))
    return citations


# A sentence from a recording's uncertain stretch keeps this share of its score when a question
# names the speaker: quoted only when nothing certain answers as well.
UNSURE_WEIGHT = 0.5


def _unless_unsure(s: _Sentence, documents: Mapping[str, Document]) -> _Sentence:
    doc = documents.get(s.hit.chunk.doc_id)
    if doc is None or not doc.cues or not is_uncertain(doc, s.start, s.end):
        return s
    return _Sentence(s.hit, s.start, s.end, s.score * UNSURE_WEIGHT, s.coverage)


def _by_document(chosen: list[_Sentence]) -> list[_Sentence]:
    """The quotes grouped by document, the document of the best quote first (a stable order)."""
    order = list(dict.fromkeys(s.hit.chunk.doc_id for s in chosen))
    return sorted(chosen, key=lambda s: order.index(s.hit.chunk.doc_id))


def _compose(query: Query, cited: list[tuple[_Sentence, Citation]]) -> tuple[str, str]:
    """ "Dannenberg said: “...” [1] Dannenberg also said: “...” [2]" and a note for narration;
    quotes from several documents are grouped under each document's name."""
    parts = []
    said: set[str] = set()
    narrated = False
    asked = set(query.speakers or ())
    docs = list(dict.fromkeys(s.hit.chunk.doc_id for s, _ in cited))
    if len(docs) > 1:
        parts.append(f"From {len(docs)} documents.")
    current = None
    for s, cite in cited:
        c = s.hit.chunk
        if len(docs) > 1 and c.doc_id != current:
            current = c.doc_id
            parts.append(f"In {c.doc_id}:")
            said = set()
        quote = _tidy(cite.quote)
        if c.speaker is None:
            narrated = True
            reported = [q for q in c.quoted if q in asked]
            lead = "The article's narration" + (f" quotes {', '.join(reported)}" if reported else " says")
        else:
            quoting = [q for q in c.quoted if q in asked and q != c.speaker]
            also = " also" if c.speaker in said else ""
            lead = f"{c.speaker}{also} said" + (f", quoting {', '.join(quoting)}" if quoting else "")
            said.add(c.speaker)
        parts.append(f"{lead}: “{quote}” [{cite.n}]")
    note = ""
    if narrated and asked and all(s.hit.chunk.speaker is None for s, _ in cited):
        note = "reported in the article's narration, not said in the interview"
        parts.append(f"(This is {note}.)")
    return " ".join(parts), note


def _tidy(quote: str) -> str:
    """Quote text for the answer line: one line, no outer quotation marks doubled."""
    return re.sub(r"\s+", " ", quote).strip()
