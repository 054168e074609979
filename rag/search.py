"""Retrieve passages for a read question: dense + BM25 fused by reciprocal rank, inside the allowed rows.

`Retriever.search` embeds the question (through `QueryVectors`, which keeps the last vectors) and
ranks with `hybrid_search` (or `dense_search`, the baseline) as `Settings.retrieval` says; a
named speaker's rows can rank first without shutting out the rest (`prior`). Reading the question
is `question.py`'s job, choosing the rows `resolve.py`'s, and composing answers `answer.py`'s.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace

import numpy as np

from rag.config import Settings
from rag.embed import QueryVectors
from rag.index import Index
from rag.question import Query, dense_text, query_text, topic_text
from rag.relevance import RelevanceModel
from rag.store import Rows
from rag.text import tokenize
from rag.types import Chunk, Hit, Turn


class Retriever:
    """Ranked passages from one index, with the settings of a pipeline.

    Example: Retriever(index, QueryVectors(embedder), Settings()).search(query, rows=None, k=5)
    """

    def __init__(
        self, index: Index, vectors: QueryVectors, settings: Settings, *, model: RelevanceModel | None = None
    ) -> None:
        self.index = index
        self.vectors = vectors
        self.settings = settings
        self.model = model  # the learned relevance model (`rag.relevance`); None: the encoder's vector ranks

    def search(
        self,
        query: Query,
        rows: Rows | None,
        k: int,
        *,
        prior: Rows | None = None,
        passages: bool = False,
        with_topic: bool = False,
    ) -> list[Hit]:
        """The best `k` hits for `query` among `rows` (None: all), as passages when `passages`.

        With `with_topic` the topic's vector, which the answer's quotes are compared with, is
        embedded in the same call as the search's (one model call per question).
        """
        texts = [dense_text(query), topic_text(query)] if with_topic else [dense_text(query)]
        vector = self.vectors.many(texts)[0]
        ranked_by = self.model.query(vector) if self.model is not None and self._in_meetings(rows) else None
        settings = self.settings
        mode = settings.retrieval
        turns = settings.passage_turns if passages else 0
        if mode == "dense":
            rows = rows if prior is None else prior
            return dense_search(
                self.index,
                vector,
                k=k,
                rows=rows,
                passage_turns=turns,
                passage_chars=settings.passage_chars,
                ranked_by=ranked_by,
            )
        if mode not in ("hybrid", "bm25"):
            raise ValueError(f"Settings.retrieval is {mode!r}; use 'hybrid', 'dense' or 'bm25'")
        return hybrid_search(
            self.index,
            vector,
            tokenize(query_text(query)),
            k=k,
            rows=rows,
            prior=prior,
            candidates=settings.candidates,
            rrf_k=settings.rrf_k,
            lexical_only=mode == "bm25",
            full_words=settings.full_words,
            passage_turns=turns,
            passage_chars=settings.passage_chars,
            context_turns=settings.context_turns,
            context_chars=settings.context_chars,
            speech_words=settings.speech_words,
            ranked_by=ranked_by,
        )

    def _in_meetings(self, rows: Rows | None) -> bool:
        """True when every document `rows` reach is talk (median turn at most `speech_words` words:
        meetings, hearings), the kind of document the relevance model learned from; in a set of
        speeches (the seed interview) it lost Hit@5 0.985 -> 0.955, so they rank as before."""
        talk = self.index.chunks.turn_words() <= self.settings.speech_words
        if rows is None:
            return bool(talk.all())
        docs = np.unique(self.index.chunks.records["doc"][np.asarray(rows.ids, dtype=np.int64)])
        return bool(talk[docs].all())


def hybrid_search(
    index: Index,
    vector: np.ndarray,
    terms: Sequence[str],
    *,
    k: int,
    rows: Rows | None = None,
    prior: Rows | None = None,
    candidates: int = 50,
    rrf_k: int = 60,
    lexical_only: bool = False,
    full_words: int = 0,
    passage_turns: int = 0,
    passage_chars: int = 4000,
    context_turns: int = 0,
    context_chars: int = 0,
    speech_words: float = 100,
    ranked_by: np.ndarray | None = None,
) -> list[Hit]:
    """Reciprocal-rank fusion of dense and BM25 rankings, best first.

    Args:
        vector: the query embedding, (dim,) float32, L2-normalised.
        terms: BM25 terms of the query (see `index.tokenize`).
        rows: allowed row ids (a document filter, or a speaker filter used as a wall), None for all.
        prior: rows that rank first without shutting out the rest (the named speaker's): searched
            on their own as well and fused in, so the question they answered and the replies they
            got stay reachable.
        full_words: passages shorter than this many words are ranked down by `length_prior`.
        passage_turns, passage_chars: each hit is a passage, its chunk and the chunks after it
            within this many turns and characters (`Hit.turns`, `Hit.end`); 0 turns: the chunk alone.
        context_turns, context_chars, speech_words: with a prior, the prior's rows also take the
            score of the rows around them (`lend_context`); 0 and 0: they do not.
        ranked_by: the vector the dense ranking uses when it is not `vector` (a learned relevance
            model's, `rag.relevance`); `Hit.dense` stays the cosine to `vector`.
    """
    n = max(candidates, k)
    fused: dict[int, float] = {}
    around: dict[int, float] = {}
    for allowed in (rows,) if prior is None else (rows, prior):
        if allowed is prior:
            around = dict(fused)  # everyone's ranking, before the speaker's own is added
        rankings = [index.lexical(terms, n=n, rows=allowed)[0]]
        if not lexical_only:
            rankings.append(index.dense(vector if ranked_by is None else ranked_by, n=n, rows=allowed)[0])
        for ranking in rankings:
            for rank, row in enumerate(ranking.tolist()):
                fused[row] = fused.get(row, 0.0) + 1.0 / (rrf_k + rank + 1)
    if prior is not None and (context_turns or context_chars):
        lent = lend_context(index, around, prior, turns=context_turns, chars=context_chars, speech=speech_words)
        for row, score in lent.items():
            fused[row] = fused.get(row, 0.0) + score
    if full_words > 0 and fused:
        rows_seen = np.fromiter(fused, dtype=np.int64, count=len(fused))
        for row, n_words in zip(rows_seen.tolist(), index.chunks.words(rows_seen).tolist(), strict=True):
            fused[row] *= length_prior(n_words, full_words)
    best = sorted(fused, key=lambda r: (-fused[r], r))[:k]
    chosen = np.array(best, dtype=np.int64)
    cosine, lexical = index.similarity(vector, chosen), index.lexical_of(terms, chosen)
    hits = [
        Hit(index.chunks[row], rank, fused[row], float(cos), float(lex), row=int(row))
        for rank, (row, cos, lex) in enumerate(zip(best, cosine.tolist(), lexical.tolist(), strict=True), 1)
    ]
    return as_passages(index, hits, passage_turns, passage_chars) if passage_turns else hits


def lend_context(
    index: Index, scores: dict[int, float], prior: Rows, *, turns: int, chars: int, speech: float
) -> dict[int, float]:
    """What the named speaker's rows borrow from the conversation around them: each row of `prior`
    takes the best of `scores` among other turns' rows within `turns` turns or `chars` characters.

    In a meeting the named speaker's own words are often short ("I'd rather not", "what about the
    cost?") while the topic's words are in the colleagues' turns around them. A document whose
    median turn has more than `speech` words is a set of speeches, each standing alone (the
    neighbouring turn is someone else's answer on another subject): nothing is lent there.
    Measured on QMSum and the seed side by side: eval/README.md.
    """
    rec = index.chunks.records
    talk = index.chunks.turn_words() <= speech
    near_docs = {int(d) for d in rec["doc"][np.fromiter(scores, dtype=np.int64, count=len(scores))] if talk[d]}
    if not near_docs:
        return {}
    ids = np.asarray(prior.ids, dtype=np.int64)
    id_docs = rec["doc"][ids]
    mine = {d: ids[id_docs == d] for d in near_docs}
    lent: dict[int, float] = {}
    for row, score in scores.items():
        them = mine.get(int(rec["doc"][row]), ids[:0])
        turn, start, end = int(rec["turn"][row]), int(rec["start"][row]), int(rec["end"][row])
        gap = np.maximum(0, np.maximum(rec["start"][them], start) - np.minimum(rec["end"][them], end))
        other = rec["turn"][them] != turn
        close = (np.abs(rec["turn"][them] - turn) <= turns) | (gap <= chars)
        for r in them[other & close].tolist():
            lent[r] = max(lent.get(r, 0.0), score)
    return lent


def as_passages(index: Index, hits: Sequence[Hit], turns: int, chars: int) -> list[Hit]:
    """Each hit grown into a passage: its chunk and up to `turns` whole turns after it, within
    `chars` characters (`Hit.turns`, `Hit.end`)."""
    out = []
    for h in hits:
        doc_turns = index.transcripts[h.chunk.doc_id].turns
        last = passage_last(doc_turns, h.chunk, turns, chars)
        out.append(replace(h, last_turn=last, end=doc_turns[last].end if last > h.chunk.turn else h.chunk.end))
    return out


def passage_last(turns: Sequence[Turn], chunk: Chunk, n: int, chars: int) -> int:
    """The last turn of the passage that starts with `chunk`: up to `n` whole turns after its own,
    while the passage stays within `chars` characters (a long turn is a passage on its own)."""
    last = chunk.turn
    while last + 1 < len(turns) and last + 1 <= chunk.turn + n and turns[last + 1].end - chunk.start <= chars:
        last += 1
    return last


def length_prior(words: int, full_words: int) -> float:
    """sqrt(min(1, words / full_words)): "So we go with yellow ." ranks below a full answer.

    Measured on QMSum (eval/README.md): with backchannels already out of the index, this lifts
    Hit@5 from 0.717 to 0.747 and nDCG@10 from 0.317 to 0.327, and changes nothing on the seed.
    """
    return float(min(1.0, words / full_words) ** 0.5)


def dense_search(
    index: Index,
    vector: np.ndarray,
    *,
    k: int,
    rows: Rows | None = None,
    passage_turns: int = 0,
    passage_chars: int = 4000,
    ranked_by: np.ndarray | None = None,
) -> list[Hit]:
    """Dense-only ranking (the baseline the evaluation compares hybrid against); `ranked_by` as in
    `hybrid_search`."""
    ids, scores = index.dense(vector if ranked_by is None else ranked_by, n=k, rows=rows)
    cosine = scores if ranked_by is None else index.similarity(vector, ids)
    hits = [
        Hit(index.chunks[r], rank, float(s), float(c), 0.0, row=int(r))
        for rank, (r, s, c) in enumerate(zip(ids.tolist(), scores.tolist(), cosine.tolist(), strict=True), 1)
    ]
    return as_passages(index, hits, passage_turns, passage_chars) if passage_turns else hits


def is_by(chunk: Chunk, speakers: Sequence[str]) -> bool:
    """True when the chunk is said by one of `speakers` or quotes one of them."""
    return chunk.speaker in speakers or any(q in speakers for q in chunk.quoted)
