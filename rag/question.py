"""Read a question: who it asks about, what about, and what it carries over from earlier questions.

`read_question` finds the mention of a person (through the `Roster`: a speaker, alias, role,
quoted person or typo), a person who is nowhere in the transcripts ("What did Zelensky say?"),
the topic left once "what did X say about" is removed, and for follow-ups the speaker and topic of
earlier questions. It only reads: which people and documents the mention stands for is
`resolve.py`'s decision, and searching is `search.py`'s.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

from rag.dates import find_dates
from rag.errors import QuestionError
from rag.names import asked_about_person, speech_slot
from rag.roster import Mention, Roster
from rag.text import tokenize
from rag.types import Person

_SPEECH = (
    r"say|said|says|think|thought|thinks|believe|believes|write|wrote|writes|mean|argue|argued|"
    r"claim|claimed|suggest|suggested|tell|told|feel|felt|talk|talked|speak|spoke|comment|"
    r"commented|mention|mentioned|predict|warn|warned|describe|explain|recommend|recommended|"
    r"propose|proposed|want|wanted|learn|learned|discuss|discussed|state|stated|note|noted|"
    r"decide|decided|view|views|opinion|position|take|make of"
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


# "did he", "does she", "would they": the pronoun where the speaker goes, kept apart from the topic
_SUBJECT = re.compile(
    r"\b(?P<aux>did|does|do|has|have|had|would|will|was|is|were|are|can|could)\s+(?:he|she|they)\b", re.I
)


_ANAPHORA = re.compile(r"\b(?:that|this|it|those|these|there|then|else|more|also|why|such)\b", re.I)


_ELSE = re.compile(r"\b(?:else|other|more|another|besides|apart from)\b", re.I)


# "Anything else from her?", "More from him", "Something else by them": a person's other words, no topic
_MORE_FROM = re.compile(
    r"^(?:(?:is|was) there\s+)?(?:anything|something|any|some|what)?\s*(?:else|more|other)?\s*"
    r"(?:things?|words?)?\s*(?:from|by)\s+(?P<who>him|her|them)$",
    re.I,
)


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
    when: tuple[str, ...] = ()  # dates the question names ("at the 14 May 2024 meeting"), ISO
    carried: bool = False  # "And McLaughlin?": another person, the earlier question's topic
    unclear: str = ""  # "What did he say?" with nobody earlier to be "he": the pronoun
    pronoun: str = ""  # the pronoun that took `speakers` from the earlier question ("he")
    clash: tuple[str, ...] = ()  # the speaker filter's people, when the pronoun's person is someone else


def read_question(question: str, roster: Roster, *, history: Sequence[str] = ()) -> Query:
    """Who and what a question asks about, using earlier questions for follow-ups.

    Example: read_question("What did Dannenberg say about Helsinki?", Roster(people))
        -> Query(topic="Helsinki", speakers=("Dannenberg",), ...)
    """
    asked = question
    dates = find_dates(question)
    when = tuple(d.iso for d in dates)
    for d in dates:  # a date says which document, not what about (same length: offsets stay)
        question = question[: d.start] + " " * (d.end - d.start) + question[d.end :]
    mention = roster.match(question)
    unknown = None
    if mention is None:
        named = asked_about_person(question)
        if named and not _is_pronoun(named):
            unknown = named
    topic = _topic(question, mention, roster)
    if mention is None:  # "What did he say about NATO?": "NATO", not "he say about NATO"
        bare = _topic(_SUBJECT.sub(r"\g<aux>", question, count=1), None)
        topic = bare if _content(bare) else topic
    more_from = _MORE_FROM.match(topic) if mention is None else None
    if more_from:  # "Anything else from her?": no topic, the person's other words
        topic = ""
    speakers = mention.names if mention else None
    people = mention.people if mention and mention.people else None
    prior = _previous(history, roster)
    if prior is not None and unknown is None and mention is not None and not _content(topic) and prior.topic:
        if set(mention.names) != set(prior.speakers or ()):  # "And McLaughlin?": the topic carries to them
            when = when or prior.when
            return Query(
                asked, prior.topic, speakers, mention, None, True, False, prior.context, "", people, when, True
            )
    if mention is None and unknown is None and (prior is None or prior.speakers is None):
        pronoun = _pronoun_asked_about(question) or (more_from.group("who").lower() if more_from else "")
        if pronoun:  # nobody earlier to be "he": ask who, never pick someone (a speaker filter may say who)
            if prior is None:
                return Query(asked, topic, None, None, None, when=when, unclear=pronoun)
            wants_other = bool(_ELSE.search(question))
            return Query(
                asked, topic, None, None, None, True, wants_other, previous=prior.question, when=when, unclear=pronoun
            )
    if prior is not None and unknown is None and _is_followup(question, topic, mention):
        pronoun = ""
        if speakers is None and prior.speakers is not None:
            speakers, mention, people = prior.speakers, prior.mention, prior.people
            found = _PRONOUN.search(question)
            pronoun = found.group(0).lower() if found else ""
        wants_other = bool(_ELSE.search(question))
        # the earlier topic carries unless this question brings its own ("What did he say about NATO?")
        own_topic = bool(_content(topic)) and not _ANAPHORA.search(question)
        context = "" if wants_other or own_topic else " ".join(x for x in (prior.context, prior.topic) if x)
        when = when or prior.when
        return Query(
            asked,
            topic,
            speakers,
            mention,
            None,
            True,
            wants_other,
            context,
            prior.question,
            people,
            when,
            pronoun=pronoun,
        )
    return Query(asked, topic, speakers, mention, unknown, people=people, when=when)


def query_text(query: Query) -> str:
    """What BM25 matches: context and topic, or the question when no topic is left."""
    text = f"{query.context} {query.topic}".strip()
    return text if _content(text) else query.question


def dense_text(query: Query) -> str:
    """What is embedded: a follow-up is read together with the question it follows."""
    if query.followup and query.previous and not query.wants_other:
        return f"{query.previous} {query.question}"
    return query_text(query)


def _topic(question: str, mention: Mention | None, roster: Roster | None = None) -> str:
    text = question
    if mention is not None:
        before, after = question[: mention.start], question[mention.end :]
        before = _TITLE_BEFORE.sub("", before)  # "Ms. Byrne": the title is part of the name asked about
        if roster is not None:  # "the User Interface designer": "designer" is a label's word, not the topic
            words = roster.label_words
            after, before = _drop_label_words(after, words, lead=True), _drop_label_words(before, words, lead=False)
        text = before + " " + after
    text = " ".join(_FRAME.sub(" ", text).split())
    text = _LEAD.sub("", text, count=1)
    text = _TRAIL.sub("", text)
    return text.strip(" ,;:-")


_TITLE_BEFORE = re.compile(r"\b(?:Mr|Mrs|Ms|Miss|Mx|Dr|Prof|Professor|Judge|Chairwoman|Chairman|Coach)\.?\s*$")


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


def _pronoun_asked_about(question: str) -> str:
    """The pronoun that stands where the speaker goes ("What did he say ...") or "" (one person:
    "they" may be everyone in the meeting)."""
    slot = speech_slot(question, possessive=False)
    said = question[slot[0] : slot[1]].strip().lower() if slot else ""
    return said if said in {"he", "she", "him", "her"} else ""


def _is_pronoun(word: str) -> bool:
    return word.lower() in {"he", "she", "they", "it", "you", "we", "i"}


def topic_text(query: Query) -> str:
    """What a sentence is compared with: the topic ("Helsinki"), or the whole question when none is left."""
    return query.topic.strip() or dense_text(query)


def check_question(question: str, max_chars: int) -> str:
    """The question stripped, or a QuestionError saying what to ask instead."""
    if not isinstance(question, str) or not question.strip():
        raise QuestionError("the question is empty; ask something, e.g. 'What did Dannenberg say about Helsinki?'")
    if len(question) > max_chars:
        raise QuestionError(f"the question is {len(question):,} characters, over the {max_chars:,} limit; shorten it")
    return question.strip()
