"""Read a question and retrieve passages: who is asked about, what about, hybrid ranking.

`read_question` finds the person a question names (speaker, alias, role, quoted person, typo), an
unknown person ("What did Zelensky say?"), the topic left once "what did X say about" is removed,
and carries speaker and topic over from earlier questions for follow-ups. `hybrid_search` fuses
dense (FAISS) and BM25 rankings with reciprocal-rank fusion inside the allowed rows.
Composing answers is `answer.py`'s job.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, replace

import numpy as np

from rag.index import Index
from rag.people import Mention, Roster, asked_about_person
from rag.store import Rows
from rag.text import tokenize
from rag.types import Chunk, Hit, Person, Turn

_SPEECH = (
    r"say|said|says|think|thought|thinks|believe|believes|write|wrote|writes|mean|argue|argued|"
    r"claim|claimed|suggest|suggested|tell|told|feel|felt|talk|talked|speak|spoke|comment|"
    r"commented|mention|mentioned|predict|warn|warned|describe|explain|recommend|recommended|"
    r"propose|proposed|want|wanted|learn|learned|discuss|discussed|state|stated|note|noted|"
    r"view|views|opinion|position|take|make of"
)
_LEAD = re.compile(
    rf"^\s*(?:so|and|but|ok|okay|well)?[,\s]*(?:what|how|why|when|where|which|who|whom|did|does|do)?"
    rf"(?:\s+else)?\s*(?:(?:did|does|do|has|have|had|would|will|is|was|were|are)(?:n['’]t|\s+not)?)?\s*(?:the\s+|an?\s+)?"
    rf"(?:(?:{_SPEECH})\b)?\s*(?:(?:about|on|regarding|concerning|of|in relation to)\b)?\s*",
    re.I,
)
_TRAIL = re.compile(
    r"\s*(?:in|during) (?:the|this) (?:interview|article|meeting|conversation|transcript)\b|[?.!\s]+$", re.I
)
# Framing that says how to answer, not what about: "Summarize the discussion about X".
_FRAME = re.compile(
    r"\b(?:summari[sz]e|summary of|sum up)\b(?:\s+(?:the|a|all))?(?:\s+(?:discussions?|conversations?|talks?|debates?|"
    r"presentations?|parts?))?(?:\s+(?:about|on|of|regarding|concerning|between))?"
    r"|\b(?:when|while)\s+discussing\b"
    r"|\b(?:in|during)\s+(?:the\s+)?(?:discussions?|conversations?|debates?)\s+(?:about|on|of|regarding)\b"
    r"|\b(?:the\s+)?(?:group|team|committee|members|meeting)(?:['’]s)?\s+(?:discuss(?:ed)?|think|thought|say|said|decide[d]?)\b"
    r"(?:\s+(?:about|of|on))?",
    re.I,
)
_PRONOUN = re.compile(r"\b(?:he|she|him|his|her|hers|they|them|their)\b", re.I)
_ANAPHORA = re.compile(r"\b(?:that|this|it|those|these|there|then|else|more|also|why|such)\b", re.I)
_ELSE = re.compile(r"\b(?:else|other|more|another|besides|apart from)\b", re.I)


MAX_HISTORY = 5  # earlier questions a follow-up can reach back through


@dataclass(frozen=True, slots=True)
class Query:
    """A question read for retrieval.

    `speakers` is the filter (None: anyone); `unknown` a person asked about who is in no
    document; `topic` what is asked about; `followup` whether earlier questions were used.
    """

    question: str
    topic: str
    speakers: tuple[str, ...] | None
    mention: Mention | None = None
    unknown: str | None = None
    followup: bool = False
    wants_other: bool = False  # "what else ...": avoid what was already answered
    context: str = ""  # the topic carried over from earlier questions
    previous: str = ""  # the earlier question a follow-up leans on
    people: tuple[Person, ...] | None = None  # who `speakers` are, each within their own documents


def read_question(question: str, roster: Roster, *, history: Sequence[str] = ()) -> Query:
    """Who and what a question asks about, using earlier questions for follow-ups.

    Example: read_question("What did Dannenberg say about Helsinki?", Roster(people))
        -> Query(topic="Helsinki", speakers=("Dannenberg",), ...)
    """
    mention = roster.match(question)
    unknown = None
    if mention is None:
        asked = asked_about_person(question)
        if asked and not _is_pronoun(asked):
            unknown = asked
    topic = _topic(question, mention, roster)
    speakers = mention.names if mention else None
    people = mention.people if mention and mention.people else None
    prior = _previous(history, roster)
    if prior is not None and unknown is None and _is_followup(question, topic, mention):
        if speakers is None and prior.speakers is not None:
            speakers, mention, people = prior.speakers, prior.mention, prior.people
        wants_other = bool(_ELSE.search(question))
        context = "" if wants_other else " ".join(x for x in (prior.context, prior.topic) if x)
        return Query(question, topic, speakers, mention, None, True, wants_other, context, prior.question, people)
    return Query(question, topic, speakers, mention, unknown, people=people)


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
    """
    n = max(candidates, k)
    fused: dict[int, float] = {}
    around: dict[int, float] = {}
    for allowed in (rows,) if prior is None else (rows, prior):
        if allowed is prior:
            around = dict(fused)  # everyone's ranking, before the speaker's own is added
        rankings = [index.lexical(terms, n=n, rows=allowed)[0]]
        if not lexical_only:
            rankings.append(index.dense(vector, n=n, rows=allowed)[0])
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
) -> list[Hit]:
    """Dense-only ranking (the baseline the evaluation compares hybrid against)."""
    ids, scores = index.dense(vector, n=k, rows=rows)
    hits = [
        Hit(index.chunks[r], rank, float(s), float(s), 0.0, row=int(r))
        for rank, (r, s) in enumerate(zip(ids.tolist(), scores.tolist(), strict=True), 1)
    ]
    return as_passages(index, hits, passage_turns, passage_chars) if passage_turns else hits


def query_text(query: Query) -> str:
    """What BM25 matches: context and topic, or the question when no topic is left."""
    text = f"{query.context} {query.topic}".strip()
    return text if _content(text) else query.question


def dense_text(query: Query) -> str:
    """What is embedded: a follow-up is read together with the question it follows."""
    if query.followup and query.previous and not query.wants_other:
        return f"{query.previous} {query.question}"
    return query_text(query)


def is_by(chunk: Chunk, speakers: Sequence[str]) -> bool:
    """True when the chunk is said by one of `speakers` or quotes one of them."""
    return chunk.speaker in speakers or any(q in speakers for q in chunk.quoted)


def _topic(question: str, mention: Mention | None, roster: Roster | None = None) -> str:
    text = question
    if mention is not None:
        before, after = question[: mention.start], question[mention.end :]
        if roster is not None:  # "the User Interface designer": "designer" is a label's word, not the topic
            words = roster.label_words
            after, before = _drop_label_words(after, words, lead=True), _drop_label_words(before, words, lead=False)
        text = before + " " + after
    text = " ".join(_FRAME.sub(" ", text).split())
    text = _LEAD.sub("", text, count=1)
    text = _TRAIL.sub("", text)
    return text.strip(" ,;:-")


def _drop_label_words(text: str, words: frozenset[str], *, lead: bool) -> str:
    """`text` without the words next to the mention (at its start when `lead`, else at its end)
    that are a speaker label's words or their start: "designer recommend ..." -> "recommend ...",
    "Design think ..." -> "think ..." (the speaker "Industrial Designer")."""
    parts = text.split()
    while parts:
        w = (parts[0] if lead else parts[-1]).lower()
        if not (len(w) >= 4 and w.isalpha() and any(x.startswith(w) for x in words)):
            break
        parts = parts[1:] if lead else parts[:-1]
    return " ".join(parts)


def _previous(history: Sequence[str], roster: Roster) -> Query | None:
    """The most recent earlier question, read with its own history (speaker carried along)."""
    if not history:
        return None
    return read_question(history[-1], roster, history=history[-1 - MAX_HISTORY : -1])


def _is_followup(question: str, topic: str, mention: Mention | None) -> bool:
    if mention is None and _PRONOUN.search(question):
        return True
    return bool(_ANAPHORA.search(question)) and len(_content(topic)) <= 3


def _content(text: str) -> list[str]:
    return [t for t in tokenize(text) if t not in {"els", "else", "that", "this", "it", "why"}]


def _is_pronoun(word: str) -> bool:
    return word.lower() in {"he", "she", "they", "it", "you", "we", "i"}
