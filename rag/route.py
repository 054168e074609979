"""Find the recording: which of several people a name means, chosen by what the question is about.

A name that fits people in several documents ("Speaker 2", "Marketing", a "Weber" in a podcast
and another on the council) is not asked back at once. The documents of every candidate are
searched for the topic, the named people's own turns first (`Retriever.search` with a prior),
and:

- positional labels (a diarization id, a meeting role, "THE CHAIR") are places in one
  conversation, not people: the candidate in the document that holds the topic best is meant;
- people known to be different (different full names) are told apart only by evidence: the one
  whose own words answer the topic, when the others' do not (or far less); otherwise the
  question goes back to the user with the candidates that fit.

Reading the name is `roster.py`'s job and asking back `decide.py`'s; this module only chooses.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from rag.answer import Quoter, topic_terms
from rag.index import Index
from rag.people import is_positional
from rag.question import Query
from rag.resolve import Scope
from rag.search import Retriever
from rag.types import Person

# A named candidate is chosen over the others when its best sentence holds this much more of the
# topic than theirs (the same margin the wrong-premise check asks of another speaker).
MARGIN = 0.25


@dataclass(frozen=True, slots=True)
class Choice:
    """The person a name means (`person`), or the candidates still in question (`left`)."""

    person: Person | None
    left: tuple[Person, ...]


def choose(query: Query, candidates: tuple[Person, ...], index: Index, retriever: Retriever, quoter: Quoter) -> Choice:
    """Which of `candidates` the question means, by its topic (see the module docstring)."""
    if not topic_terms(query.topic) or len(candidates) < 2:
        return Choice(None, candidates)
    if all(is_positional(p) for p in candidates):
        return _by_document(query, candidates, index, retriever)
    fits = []
    for p in candidates:
        one = replace(query, speakers=(p.name,), people=(p,), mention=None)
        rows = index.rows(people=(p,))
        answer = quoter.answer(one, retriever.search(one, rows, retriever.settings.k))
        if answer.answerable:
            fits.append((answer.evidence.coverage, answer.evidence.dense, p))
    fits.sort(key=lambda f: (-f[0], -f[1]))
    if len(fits) == 1 or (len(fits) >= 2 and fits[0][0] >= fits[1][0] + MARGIN):
        return Choice(fits[0][2], ())
    return Choice(None, tuple(f[2] for f in fits) or candidates)


def _by_document(query: Query, candidates: tuple[Person, ...], index: Index, retriever: Retriever) -> Choice:
    """The positional candidate whose document holds the topic best: the conversation's rows,
    the candidates' own turns first."""
    docs = sorted({d for p in candidates for d in p.doc_ids})
    everyone = index.rows(docs=docs)
    named = index.rows(people=candidates)
    hits = retriever.search(
        query, everyone, retriever.settings.k, prior=named if named is not None and len(named) else None
    )
    for hit in hits:
        for p in candidates:
            if hit.chunk.doc_id in p.doc_ids:
                return Choice(p, ())
    return Choice(None, candidates)


def route(query: Query, scope: Scope, index: Index, retriever: Retriever, quoter: Quoter) -> tuple[Query, Scope]:
    """`query` and its scope once a name that fits several people is resolved by the topic; the
    scope keeps only the candidates still in question when the topic cannot tell them apart."""
    mention = scope.ambiguous
    if mention is None:
        return query, scope
    choice = choose(query, mention.people, index, retriever, quoter)
    if choice.person is None:
        return query, replace(scope, ambiguous=replace(mention, people=choice.left))
    p = choice.person
    chosen = replace(
        query, speakers=(p.name,), people=(p,), mention=replace(mention, names=(p.name,), how="topic", people=(p,))
    )
    # the conversation the topic was found in: a positional label means nobody outside it
    docs = scope.docs if scope.docs is not None else (p.doc_ids if is_positional(p) else None)
    rows = index.rows(people=(p,), doc_id=scope.doc_id, docs=docs)
    return chosen, Scope(scope.doc_id, rows=rows, empty=rows is not None and len(rows) == 0, docs=docs)
