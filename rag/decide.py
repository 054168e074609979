"""Decide what to say about who said what: answer, refuse, ask which one, or correct the premise.

Given a resolved question and its passages, `Decider.decide` quotes the best sentences
(`Quoter`), refuses when nothing answers, asks "which one?" for a name that fits several people,
says who is in the transcripts when the person asked about is not, and, when the named person
never spoke about the topic but someone else did, says so and quotes who did (or the named
person's reply to the question that raised it). `join_answers` numbers one answer per person
through. Reading, resolving and searching happen before this module; it never calls back up.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import replace

from rag.answer import Quoter, refuse, topic_terms
from rag.config import Settings
from rag.index import Index
from rag.question import Query
from rag.resolve import Scope
from rag.roster import Mention
from rag.search import Retriever
from rag.text import split_sentences
from rag.turns import time_span
from rag.types import Answer, Citation, Hit, Person, Span

# Below this share of the topic's idf mass in the named speaker's best sentence, and with another
# speaker's sentence holding the topic, the question's premise is taken to be wrong. Low on
# purpose: a speaker who used some of the topic's words did talk about it ("the prompt").
PREMISE_COVERAGE = 0.2


class Decider:
    """The answer to a resolved question, from its passages.

    Example: Decider(index, retriever, quoter, settings).decide(query, scope, hits)
    """

    def __init__(self, index: Index, retriever: Retriever, quoter: Quoter, settings: Settings) -> None:
        self.index = index
        self.retriever = retriever
        self.quoter = quoter
        self.settings = settings

    def decide(
        self,
        query: Query,
        scope: Scope,
        hits: Sequence[Hit],
        *,
        exclude: Sequence[Span] = (),
        premise: bool = True,
        k: int | None = None,
    ) -> Answer:
        """Answer `query` from `hits`, or refuse and say why (see the module docstring).

        Args:
            exclude: spans an earlier answer quoted ("what else" follow-ups).
            premise: check that the person named spoke about the topic (off when the caller
                chose the speaker: they asked for that person's words whatever they are).
        """
        if scope.unclear and query.clash:
            earlier, chosen = ", ".join(query.speakers or ()), ", ".join(query.clash)
            text = (
                f"Who do you mean by {scope.unclear!r}? The earlier question was about {earlier}, but the speaker "
                f"chosen is {chosen}; ask again with the name, or choose {earlier} (or Anyone) as the speaker."
            )
            reason = f"{scope.unclear!r} may be {earlier} (the earlier question) or {chosen} (the speaker chosen)"
            return refuse(replace(query, speakers=None), (), reason, text=text)
        if scope.unclear:
            earlier = "nor does the earlier one" if query.followup else "there is no earlier question to take it from"
            text = (
                f"Who do you mean by {scope.unclear!r}? The question names nobody and {earlier}; "
                "ask again with the person's name."
            )
            return refuse(query, (), f"nobody for {scope.unclear!r} to stand for", text=text)
        if scope.unknown is not None:
            who = not_here(scope.unknown, scope)
            return refuse(query, (), f"{scope.unknown} is not in the transcripts", text=who)
        if scope.ambiguous is not None:
            return which_one(query, scope.ambiguous)
        if scope.empty:
            where = f" in {scope.doc_id}" if scope.doc_id else ""
            who = f"by {', '.join(query.speakers)} " if query.speakers else ""
            if scope.docs is not None:  # a date (or range) chose the documents
                dated = ", ".join(query.when) or "the dates asked for"
                where = f" in the documents of {dated} ({', '.join(scope.docs)})" if scope.docs else ""
                if not scope.docs:
                    return refuse(query, (), f"no document is dated {dated}")
            return refuse(query, (), f"nothing {who}is indexed{where}")
        answer = self.quoter.answer(query, hits, exclude=exclude)
        if premise and query.speakers and (not query.followup or query.carried) and topic_terms(query.topic):
            answer = self._check_premise(query, answer, doc_id=scope.doc_id, k=k)
        return answer

    def _check_premise(self, query: Query, answer: Answer, *, doc_id: str | None, k: int | None) -> Answer:
        """When the named person never spoke about the topic but someone else did, say so.

        The speaker's own best sentence holds almost none of the topic (or nothing answered), while a
        search of everyone finds a sentence by someone else that holds it: the question's premise
        is wrong, and the answer quotes who did speak about it (answerable False, with citations).
        """
        weak = not answer.answerable or answer.evidence.coverage < PREMISE_COVERAGE
        if not weak:
            return answer
        anyone = replace(query, speakers=None, people=None, mention=None)
        hits = self.retriever.search(anyone, self.index.rows(doc_id=doc_id), k or self.settings.k)
        other = self.quoter.answer(anyone, hits)
        named = spoken_as(query)
        if other.citations and other.citations[0].quote.rstrip().endswith("?"):
            # Someone asked about it; if the named person answered next, their reply is the answer.
            return self._reply(query, other.citations[0], named) or answer
        by = [c.speaker for c in other.citations if c.speaker is not None]
        if (
            not other.answerable
            or other.evidence.coverage < max(self.settings.min_coverage, answer.evidence.coverage + 0.25)
            or not by
            or by[0] in named
        ):
            return answer
        who = ", ".join(query.speakers or ())
        said = ", ".join(dict.fromkeys(b for b in by if b not in named))
        text = f"{who} did not talk about {query.topic!r} in the transcripts; {said} did. {other.text}"
        reason = f"wrong premise: {who} did not speak about this; {said} did"
        return replace(other, question=query.question, text=text, answerable=False, speaker=who, reason=reason)

    def _reply(self, query: Query, asked: Citation, named: set[str]) -> Answer | None:
        """The named speaker's turn right after the question `asked` quotes, cited, or None."""
        turns = self.index.transcripts[asked.doc_id].turns
        at = next((t.index for t in turns if t.start <= asked.start < t.end + 1), None)
        if at is None or at + 1 >= len(turns) or turns[at + 1].speaker not in named:
            return None
        row = self.index.chunks.find(f"{asked.doc_id}#{at + 1}.1")
        if row is None:
            return None
        chunk = self.index.chunks[row]
        sentences = split_sentences(chunk.text)[:2]
        start, end = chunk.start + sentences[0][0], chunk.start + sentences[-1][1]
        doc = self.index.transcripts.documents()[chunk.doc_id]
        quote = doc.text[start:end]
        t0, t1 = time_span(doc, start, end, turns[at + 1])
        cite = Citation(1, chunk.chunk_id, chunk.doc_id, chunk.source, chunk.speaker, start, end, quote, 0.0, t0, t1)
        text = f"Asked “{' '.join(asked.quote.split())}”, {chunk.speaker} said: “{' '.join(quote.split())}” [1]"
        return Answer(
            query.question, text, True, ", ".join(query.speakers or ()), (cite,), reason="the reply to a question"
        )


def join_answers(query: Query, parts: Sequence[tuple[Answer, list[Hit]]]) -> tuple[Answer, list[Hit]]:
    """One answer per person named ("What did Alice and Bob say about ...?"), numbered through."""
    texts: list[str] = []
    citations: list[Citation] = []
    hits: list[Hit] = []
    answerable = False
    for answer, found in parts:
        shift = len(citations)
        texts.append(_renumber(answer.text, shift))
        citations.extend(replace(c, n=c.n + shift) for c in answer.citations)
        hits.extend(found)
        answerable = answerable or answer.answerable
    who = ", ".join(query.speakers or ())
    return Answer(query.question, " ".join(texts), answerable, who, tuple(citations), tuple(hits)), hits


def which_one(query: Query, mention: Mention) -> Answer:
    """Ask which person is meant instead of guessing between namesakes."""
    options = "; ".join(p.where for p in mention.people)
    text = (
        f"Which {mention.text} do you mean? Several people fit: {options}. "
        "Ask again with the full name, or choose the document."
    )
    reason = f"ambiguous name {mention.text!r}: {options}"
    return Answer(query.question, text, False, None, reason=reason, candidates=mention.people)


def not_here(name: str, scope: Scope) -> str:
    """Who speaks and who is quoted where `name` was looked for."""
    people: Sequence[Person] = scope.people
    speakers = ", ".join(dict.fromkeys(p.name for p in people if p.kind == "speaker")) or "(none)"
    quoted = list(dict.fromkeys(p.name for p in people if p.kind == "quoted"))
    extra = f" People quoted in the text: {', '.join(quoted)}." if quoted else ""
    where = scope.doc_id if scope.doc_id else "the transcripts"
    if name[:1].islower():  # a role ("the judge"): say what is known, not that nobody said it
        return (
            f"No speaker in {where} is labelled or introduced as {name}, so I can't tell whose words to give. "
            f"Speakers: {speakers}.{extra} Ask again with a name."
        )
    return f"{name} does not speak in {where} and is not quoted in it. Speakers: {speakers}.{extra}"


def _renumber(text: str, shift: int) -> str:
    """ "[1] ... [2]" -> "[4] ... [5]" for shift 3."""
    return re.sub(r"\[(\d+)\]", lambda m: f"[{int(m.group(1)) + shift}]", text)


def spoken_as(query: Query) -> set[str]:
    """Every label the people a query names speak under (one person may have a label per document)."""
    return {label for p in query.people or () for _, label in p.seats} | set(query.speakers or ())
