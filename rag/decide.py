"""Decide what to say about who said what: answer, refuse, ask which one, or correct the premise.

Given a resolved question and its passages, `Decider.decide` quotes the best sentences
(`Quoter`), refuses when nothing answers, asks "which one?" for a name that fits several people,
says who is in the transcripts when the person asked about is not, and, when the named person
never spoke about the topic but someone else did, says so and quotes who did (or the named
person's reply to the question that raised it). "Did not talk about" needs evidence by meaning as
well as by words: when one of the person's sentences is close to the topic (sentence vectors), the
answer quotes their closest words and says how close they are instead. `join_answers` numbers one answer per person
through. Reading, resolving and searching happen before this module; it never calls back up.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import replace

import numpy as np

from rag.answer import MIN_QUOTE_WORDS, Quoter, refuse, topic_terms
from rag.config import Settings
from rag.index import Index
from rag.question import Query, topic_text
from rag.resolve import Scope
from rag.roster import Mention
from rag.search import Retriever
from rag.text import split_sentences, tokenize
from rag.turns import time_span
from rag.types import Answer, Citation, Evidence, Hit, Person, Span, Turn

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
        if not query.speakers and answer.answerable and not _ASKS_ABOUT_ASKING.search(query.question):
            answer = self._answered_question(query, answer)
        if premise and query.speakers and (not query.followup or query.carried) and topic_terms(query.topic):
            answer = self._check_premise(query, answer, scope, k=k)
        return answer

    def _check_premise(self, query: Query, answer: Answer, scope: Scope, *, k: int | None) -> Answer:
        """When the named person never spoke about the topic but someone else did, say so.

        The speaker's own best sentence holds almost none of the topic (or nothing answered), while a
        search of everyone finds a sentence by someone else that holds it, and none of the
        speaker's sentences is close to the topic by meaning either: the question's premise is
        wrong, and the answer quotes who did speak about it (answerable False, with citations).
        When one of their sentences is close by meaning, that sentence is the answer instead
        (`_closest_words`), also where nothing else answered.
        """
        weak = not answer.answerable or answer.evidence.coverage < PREMISE_COVERAGE
        if not weak:
            return answer
        closest = self._closest(query, scope)
        cosine = None if closest is None else closest[2]
        answer = replace(answer, evidence=replace(answer.evidence, closest=cosine))
        near = cosine is not None and cosine >= self.settings.premise_closeness
        own = self._closest_words(query, answer, closest) if near and closest is not None else None
        if own is None and is_commitment(query.topic):
            own = self._commitment(query, answer, scope)
        anyone = replace(query, speakers=None, people=None, mention=None)
        hits = self.retriever.search(anyone, self.index.rows(doc_id=scope.doc_id), k or self.settings.k)
        other = self.quoter.answer(anyone, hits)
        named = spoken_as(query)
        if other.citations and other.citations[0].quote.rstrip().endswith("?"):
            # Someone asked about it; if the named person answered next, their reply is the answer,
            # and if someone else answered while nothing the named person said is near, they did.
            return (
                self._reply(query, other.citations[0], named)
                or self._answered_by_another(query, other.citations[0], named, cosine)
                or (own if own and not answer.answerable else answer)
            )
        if other.citations and self._asks_next(other.citations[0]):  # "The money side. How did you ...?"
            reply = self._reply(query, other.citations[0], named)
            if reply is not None:
                return reply
        if query.carried and other.citations:  # "And Kenji?" and Kenji spoke right after those words
            reply = self._reply(query, other.citations[0], named, within=1)
            if reply is not None:
                return reply
        by = [c.speaker for c in other.citations if c.speaker is not None]
        if not other.answerable or not by or by[0] in named:
            return own if own and not answer.answerable else answer
        by_words = other.evidence.coverage >= max(self.settings.min_coverage, answer.evidence.coverage + 0.25)
        theirs = None if by_words else self._meaning_gap(query, other.citations[0], cosine)
        if not by_words and theirs is None:
            return own if own and not answer.answerable else answer
        if own is not None:  # someone else used the words, but the person asked about said something close
            return own
        said = ", ".join(dict.fromkeys(b for b in by if b not in named))
        how = "" if cosine is None else f", closest cosine {cosine:.2f}"
        if theirs is not None:
            how += f", where {said}'s words are at {theirs:.2f}"
        who, text, reason = _denial(query, said, how, other.text)
        evidence = replace(other.evidence, closest=cosine)
        return replace(
            other, question=query.question, text=text, answerable=False, speaker=who, reason=reason, evidence=evidence
        )

    def _answered_by_another(
        self, query: Query, asked: Citation, named: set[str], closest: float | None
    ) -> Answer | None:
        """A question about the topic, answered right after it by someone other than the asker and the
        person asked about, whose own words are far from the topic (`_meaning_gap`): the premise is
        wrong, and the reply is quoted ("Asked ..., Mei-Ling Cho said: ...")."""
        turns = self.index.transcripts[asked.doc_id].turns
        turn = _turn_at(turns, asked)
        following = [t for t in turns[turn.index + 1 : turn.index + 2] if t.speaker] if turn is not None else []
        if not following or asked.speaker in named or following[0].speaker in named | {asked.speaker}:
            return None
        said = following[0].speaker or ""
        theirs = self._meaning_gap(query, asked, closest)
        reply = self._reply(query, asked, {said}, within=1) if theirs is not None else None
        if reply is None or closest is None:
            return None
        how = f", closest cosine {closest:.2f}, where the question {asked.speaker} asked is at {theirs:.2f}"
        who, text, reason = _denial(query, said, how, reply.text)
        return replace(
            reply, text=text, answerable=False, speaker=who, reason=reason, evidence=Evidence(closest=closest)
        )

    def _meaning_gap(self, query: Query, quote: Citation, closest: float | None) -> float | None:
        """The cosine of another speaker's quote to the topic, when it is far closer than anything the
        person asked about said (`premise_gap`) and theirs is far from it (`premise_far`); else None.
        The other speaker's words need not hold the topic's words: "insurance premiums have tripled"
        answers "how much insurance has gone up" while Mr. Graham's closest words are at 0.12."""
        if closest is None or closest >= self.settings.premise_far or is_commitment(query.topic):
            return None  # what someone promised is said in their own words ("I'll email them"), not the topic's
        topic = self.quoter.vectors.one(topic_text(query))
        theirs = float(np.dot(topic, self.quoter.vectors.one(quote.quote)))
        return theirs if theirs - closest >= self.settings.premise_gap else None

    def _closest(self, query: Query, scope: Scope) -> tuple[int, Span, float] | None:
        """The named person's own sentence (not one that quotes them) closest to the topic in
        meaning, within the scope's rows: (chunk row, span in its text, cosine), or None.

        Without sentence vectors in the index, the closest chunk stands in (its first sentence).
        """
        if scope.rows is None:
            return None
        rows = self.index.chunks.rows_spoken_by(spoken_as(query), scope.rows.ids)
        if not len(rows):
            return None
        topic = self.quoter.vectors.one(topic_text(query))  # embedded with the search (Retriever)
        if self.index.sentences is not None:
            return self.index.sentences.closest(topic, rows)
        cos = self.index.similarity(topic, rows)
        best = int(cos.argmax())
        row = int(rows[best])
        first = split_sentences(self.index.chunks[row].text)[:1]
        return (row, first[0], float(cos[best])) if first else None

    def _commitment(self, query: Query, answer: Answer, scope: Scope) -> Answer | None:
        """For "What did X promise / agree / say they would do?": X's own sentence that says what
        they will do ("Yes, I'll email their account manager this afternoon"), the one holding most
        of the rest of the topic ("... about forklift six"), then the closest in meaning; or None."""
        if scope.rows is None or self.index.sentences is None:
            return None
        rows = self.index.chunks.rows_spoken_by(spoken_as(query), scope.rows.ids)
        rest = set(tokenize(_COMMITMENT.sub(" ", query.topic)))
        topic = self.quoter.vectors.one(topic_text(query))
        best: tuple[tuple[int, float], int, Span, float] | None = None
        for row, spans in self.index.sentences.closeness(topic, rows.tolist()).items():
            text = self.index.chunks[row].text
            for (s, e), cosine in spans.items():
                if not _COMMITS.search(text[s:e]):
                    continue
                key = (len(rest & set(tokenize(text[s:e]))), cosine)
                if best is None or key > best[0]:
                    best = (key, row, (s, e), cosine)
        if best is None or (rest and best[0][0] == 0):
            return None
        _, row, span, cosine = best
        found = self._closest_words(query, answer, (row, span, cosine))
        if found is None:
            return None
        who = ", ".join(query.speakers or ())
        quote = " ".join(found.citations[0].quote.split())
        text = (
            f"{who} said what they would do, in their own words (cosine {cosine:.2f} to {query.topic!r}; "
            f"they share few of its words): “{quote}” [1]"
        )
        return replace(found, text=text, reason=f"a commitment in the speaker's words: cosine {cosine:.2f}")

    def _closest_words(self, query: Query, answer: Answer, closest: tuple[int, Span, float]) -> Answer | None:
        """The named person's closest sentence to the topic, quoted with how close it is (and the
        sentences after it, in its paragraph, while it is shorter than `MIN_QUOTE_WORDS`)."""
        row, (s, e), cosine = closest
        chunk = self.index.chunks[row]
        for a, b in split_sentences(chunk.text, e):
            if len(chunk.text[s:e].split()) >= MIN_QUOTE_WORDS or "\n" in chunk.text[e:a]:
                break
            e = b
        doc = self.index.transcripts.documents()[chunk.doc_id]
        start, end = chunk.start + s, chunk.start + e
        quote = doc.text[start:end]
        if quote != chunk.text[s:e] or not quote.strip():
            return None
        t0, t1 = time_span(doc, start, end) if doc.cues else (chunk.time_start, chunk.time_end)
        cite = Citation(1, chunk.chunk_id, chunk.doc_id, chunk.source, chunk.speaker, start, end, quote, cosine, t0, t1)
        who = ", ".join(query.speakers or ())
        text = (
            f"{who}'s closest words to {query.topic!r}, by meaning (cosine {cosine:.2f} to it; they share few "
            f"of its words): “{' '.join(quote.split())}” [1]"
        )
        reason = f"closest by meaning: cosine {cosine:.2f}"
        evidence = Evidence(answer.evidence.dense, answer.evidence.coverage, cosine)
        return Answer(query.question, text, True, who, (cite,), answer.hits, reason=reason, evidence=evidence)

    def _answered_question(self, query: Query, answer: Answer) -> Answer:
        """When the best quote is a question that ends its speaker's turn ("Will Brook Street be
        closed during the works?") and another speaker takes the next turn, the reply is the answer
        (a question is not its own answer); `answer` otherwise."""
        first = answer.citations[0]
        if not first.quote.rstrip().endswith("?"):
            return answer
        turns = self.index.transcripts[first.doc_id].turns
        at = _turn_at(turns, first)
        if at is None or at.index + 1 >= len(turns) or not at.paragraphs or first.end < at.paragraphs[-1][1] - 2:
            return answer  # the question does not end the turn: the speaker goes on, maybe answering it
        nxt = turns[at.index + 1]
        if nxt.speaker is None or nxt.speaker == at.speaker:
            return answer
        return self._reply(query, first, {nxt.speaker}, within=1) or answer

    def _asks_next(self, quote: Citation) -> bool:
        """A question follows the quote within two sentences of its paragraph, and ends its turn
        ("Let's start with the money side. Most never take the leap. How did you make it work?")."""
        turn = next((t for t in self.index.transcripts[quote.doc_id].turns if t.start <= quote.start < t.end), None)
        if turn is None or not turn.paragraphs:
            return False
        start, end = turn.paragraphs[-1]
        if not start <= quote.start < end:
            return False
        text = self.index.transcripts.documents()[quote.doc_id].text
        after = split_sentences(text, quote.end, end)[:2]
        return bool(after) and after[-1][1] >= len(text[:end].rstrip()) and text[: after[-1][1]].rstrip().endswith("?")

    def _reply(self, query: Query, asked: Citation, named: set[str], within: int = 3) -> Answer | None:
        """The named speaker's turn after the question `asked` quotes, cited, or None: the next
        turn, or the first of theirs after at most two others ("Objection, calls for speculation."
        between a question and the witness's answer)."""
        turns = self.index.transcripts[asked.doc_id].turns
        turn = _turn_at(turns, asked)
        if turn is None:
            return None
        after = [t for t in turns[turn.index + 1 : turn.index + 1 + within] if t.speaker is not None]
        reply = next((t for t in after if t.speaker in named), None)
        if reply is None:
            return None
        row = self.index.chunks.find(f"{asked.doc_id}#{reply.index}.1")
        if row is None:
            return None
        chunk = self.index.chunks[row]
        sentences = split_sentences(chunk.text)[:2]
        start, end = chunk.start + sentences[0][0], chunk.start + sentences[-1][1]
        doc = self.index.transcripts.documents()[chunk.doc_id]
        quote = doc.text[start:end]
        t0, t1 = time_span(doc, start, end, reply)
        cite = Citation(1, chunk.chunk_id, chunk.doc_id, chunk.source, chunk.speaker, start, end, quote, 0.0, t0, t1)
        lead = "Asked" if asked.quote.rstrip().endswith("?") else f"Right after {asked.speaker} said"
        text = f"{lead} “{' '.join(asked.quote.split())}”, {chunk.speaker} said: “{' '.join(quote.split())}” [1]"
        return Answer(
            query.question, text, True, ", ".join(query.speakers or ()), (cite,), reason="the reply to a question"
        )


# A question about what someone undertook to do, and a sentence in which a speaker undertakes it.
_COMMITMENT = re.compile(
    r"\b(?:promis\w*|commit\w*|pledg\w*|agree\w*|volunteer\w*|undert(?:ake|ook)\w*|offer\w*|"
    r"(?:would|will|going to|plan(?:ned|s)? to) do|take on|to do)\b",
    re.I,
)
_COMMITS = re.compile(
    r"\b(?:I(?:'ll|’ll| will| shall|'m going to|’m going to| am going to| promise| can do)|[Ll]et me|"
    r"[Ww]e(?:'ll|’ll| will))\b"
)


def _denial(query: Query, said: str, how: str, quoted: str) -> tuple[str, str, str]:
    """(who was asked about, the answer's text, its reason) of "X did not talk about T; Y did"."""
    who = ", ".join(query.speakers or ())
    text = (
        f"{who} did not talk about {query.topic!r} in the transcripts (nothing {who} said is close to it "
        f"by words or by meaning{how}); {said} did. {quoted}"
    )
    return who, text, f"wrong premise: {who} did not speak about this; {said} did"


def _turn_at(turns: Sequence[Turn], quote: Citation) -> Turn | None:
    """The turn the quote starts in (its last character included), or None."""
    return next((t for t in turns if t.start <= quote.start < t.end + 1), None)


# A question about the asking itself ("Who asked about the closure?", "What question did ...?"):
# the question quoted is the answer.
_ASKS_ABOUT_ASKING = re.compile(r"\b(?:ask\w*|question\w*|quer\w*|wonder\w*|inquir\w*|enquir\w*)\b", re.I)


def is_commitment(topic: str) -> bool:
    """The topic asks what someone undertook to do. Example: "promise to do" -> True."""
    return bool(_COMMITMENT.search(topic))


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
