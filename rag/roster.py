"""Names in questions: which person (or people) a question asks about, matched against everyone known.

`Roster(people).match(question)` finds exact names and aliases, roles ("the treasurer"), groups
("the professors") and typos (rapidfuzz), and says when one name fits several people
("ambiguous": the caller asks which one, never guesses). It only matches; deciding what to do
with a match is `resolve.py`'s job.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from functools import cached_property

from rapidfuzz import fuzz

from rag.names import HONORIFICS, NOT_NAMES, TITLES, alone_slot, fold_name, is_person_noun, speech_slot
from rag.people import identity
from rag.types import Person


@dataclass(frozen=True, slots=True)
class Mention:
    """People named in a question: their names, the matched text and where, and how it matched.

    `how` is "exact", "role", "group" ("the professors"), "fuzzy", "several" (two or more people
    named together: "Alice and Bob", answered one by one), "parties" (two people on either side
    of an exchange: "Why did Marketing disagree with the Designer", searched together) or
    "ambiguous" (one name that fits several people: the caller asks which one, never guesses).
    """

    names: tuple[str, ...]
    text: str
    how: str
    start: int = 0
    end: int = 0
    people: tuple[Person, ...] = ()


# the word right after a name in a question, when it is capitalised like a surname
_NEXT_NAME = re.compile(r"\s+([A-Z][a-z]+(?:[-'’][A-Z]?[a-z]+)?)\b")
_NOT_NAMES = {"say", "said", "says", "think", "thought", "tell", "told", "mean", "write", "wrote", "and", "or", "about"}


class Roster:
    """People with their name patterns compiled once; `match(question)` says who is asked about.

    Example: Roster(people).match("What did Danenberg say?") -> Mention(("Dannenberg",), ...)
    """

    def __init__(self, people: Iterable[Person]) -> None:
        self.people = list(people)
        self.kinds = {p.name: p.kind for p in self.people}
        self._aliases: dict[str, set[int]] = {}  # alias (folded: `fold_name`) -> indexes into self.people
        for i, p in enumerate(self.people):
            for alias in (p.name, *p.aliases):
                self._aliases.setdefault(fold_name(alias), set()).add(i)
        ordered = sorted(self._aliases, key=len, reverse=True)
        self._pattern = (
            re.compile(r"(?<![\w])(" + "|".join(re.escape(a) for a in ordered) + r")(?:’s|'s)?(?![\w])", re.I)
            if ordered
            else None
        )
        self._parts: dict[str, set[int]] = {}
        for alias, found in self._aliases.items():
            for part in alias.split():
                if len(part) >= 5:
                    self._parts.setdefault(part, set()).update(found)
        self._groups: dict[str, list[int]] = {}
        for i, p in enumerate(self.people):
            words = p.name.split()
            if p.kind == "speaker" and len(words) == 2 and len(words[1]) <= 2:
                self._groups.setdefault(words[0].lower(), []).append(i)
        # "the Chief Justice": each office a name puts before it, as (person, its words, its pattern)
        self._offices = [(i, _words(o), _office_pattern(o)) for i, p in enumerate(self.people) for o in offices(p)]

    @cached_property
    def label_words(self) -> frozenset[str]:
        """Lower-case words (4+ letters) of the speakers' names: "industrial", "designer", ..."""
        return frozenset(
            w.lower() for p in self.people if p.kind == "speaker" for w in re.findall(r"[^\W\d_]{4,}", p.name)
        )

    def match(self, question: str) -> Mention | None:
        """The person (or group, "the professor") a question names, or None.

        Candidates come from exact names and aliases (case-insensitive, possessives allowed), role
        descriptions, group words ("professor" for Professor A and Professor B) and typos. A person
        who is only quoted counts when the question puts them in the speaker's place ("What did
        Medvedev write?"), not when merely named ("Where might Trump and Putin meet?"); so does a
        speaker named in lower case, which may be a plain word ("their marketing strategy" is not
        the speaker Marketing, "what did the marketing learn" is). Two people named where the
        speaker goes ("did Alice and Bob say") give a "several" mention; one name that fits several
        people gives an "ambiguous" one.
        """
        slot = speech_slot(question)
        alone = alone_slot(question) if slot is None else None

        def speaks(m: Mention) -> bool:
            return all(self.kinds.get(n) == "speaker" for n in m.names)

        def in_slot(m: Mention) -> bool:
            if alone is not None:  # "What about the treasurer?": a speaker only
                return m.start < alone[1] and alone[0] < m.end and speaks(m)
            return slot is not None and m.start < slot[1] and slot[0] < m.end

        candidates = [
            m
            for m in (
                *self._exact(question),
                *self._role(question),
                *self._group(question),
                *self._fuzzy(question),
            )
            if in_slot(m) or (speaks(m) and not m.text.islower())
        ]
        if not candidates:
            return None
        order = {"exact": 3, "ambiguous": 3, "role": 2, "group": 1, "fuzzy": 0}
        best = max(candidates, key=lambda m: (in_slot(m), speaks(m), order[m.how], len(m.text)))
        several = _joined(question, _distinct([m for m in candidates if in_slot(m) and m.how in ("exact", "role")]))
        if in_slot(best) and len(several) >= 2:
            return _combined(question, several, "several")
        if _GROUP_SUBJECT.search(question) and not in_slot(best):
            return None  # "Why did the group disagree with the Manager": everyone's words answer it
        if in_slot(best) and slot is not None and _DIRECTED.match(question, slot[1]):
            return best  # "What did Ms. Kowalczyk ask Juror 7 ...": the one asked is not whose words are wanted
        parties = _distinct(
            [m for m in candidates if speaks(m) and m.how in ("exact", "role") and not m.text.islower()]
        )
        if len(parties) >= 2 and all(self.kinds.get(n) == "speaker" for m in parties for n in m.names):
            # "Why did the Marketing disagree with the Project Manager ...": both sides are the answer
            return _combined(question, parties, "parties")
        return best

    def _mention(self, found: Iterable[int], text: str, how: str, start: int, end: int) -> Mention:
        people = tuple(self.people[i] for i in sorted(found, key=lambda i: (self.people[i].name, i)))
        names = tuple(dict.fromkeys(p.name for p in people))
        if how != "group" and len({identity(p) for p in people}) > 1:
            how = "ambiguous"
        return Mention(names, text, how, start, end, people)

    def _exact(self, question: str) -> list[Mention]:
        if self._pattern is None:
            return []
        found = []
        for m in self._pattern.finditer(fold_name(question)):
            alias, written = m.group(1), question[m.start(1) : m.end(1)]
            if len(alias) <= 2 and not (written.isupper() or (written[0].isupper() and m.start() > 0)):
                continue  # "a" is not the speaker A; "Al" in "What did Al say" is the speaker Al
            if self._is_someone_else(alias, question[m.end() :]):
                continue  # "Priya Nair" is not Priya Raman, whose first name it shares
            said = question[m.start() : m.end()]
            found.append(self._mention(self._aliases[alias], said, "exact", m.start(), m.end()))
        return found

    def _is_someone_else(self, alias: str, after: str) -> bool:
        """A one-word alias that is part of a longer name, followed by a name word not in it.

        Example: alias "Priya" of Priya Raman, after " Nair say?" -> True; after " say?" -> False.
        """
        people = [self.people[i] for i in self._aliases[alias.lower()]]
        if " " in alias.strip() or not all(len(p.name.split()) > 1 for p in people):
            return False
        nxt = _NEXT_NAME.match(after)
        if nxt is None or nxt.group(1).lower() in _NOT_NAMES:
            return False
        return all(fold_name(nxt.group(1)) not in {fold_name(w) for w in p.name.split()} for p in people)

    def _role(self, question: str) -> list[Mention]:
        matched = _match_role(question, self.people, self._offices)
        return [self._mention(ids, text, "role", start, end) for ids, text, start, end in matched]

    def _group(self, question: str) -> list[Mention]:
        """ "the professor" -> every speaker whose label is "Professor <letter>"."""
        found = []
        for word, ids in self._groups.items():
            for m in re.finditer(rf"\b{re.escape(word)}s?\b", question, re.I):
                found.append(self._mention(ids, m.group(0), "group", m.start(), m.end()))
        return found

    def _fuzzy(self, question: str) -> list[Mention]:
        from rapidfuzz import process

        best: tuple[float, set[int], re.Match[str]] | None = None
        for token in re.finditer(r"[A-Za-z][\w'’\-]+", question):
            bare = re.sub(r"(?:’s|'s)$", "", token.group(0)).lower()
            if len(bare) < 5 or bare in NOT_NAMES or bare in _COMMON or bare in self._parts:
                continue
            hit = process.extractOne(bare, list(self._parts), scorer=fuzz.ratio, score_cutoff=85)
            if hit and (best is None or hit[1] > best[0]):
                best = (hit[1], self._parts[hit[0]], token)
        if best is None or len({self.people[i].name for i in best[1]}) != 1:
            return []
        return [self._mention(best[1], best[2].group(0), "fuzzy", best[2].start(), best[2].end())]


_GROUP_SUBJECT = re.compile(
    r"\b(?:did|does|do|has|have|had|would|will)\s+(?:the\s+)?(?:whole\s+)?"
    r"(?:group|team|committee|everyone|everybody|members|participants|panel|meeting|they)\b",
    re.I,
)


def _combined(question: str, mentions: list[Mention], how: str) -> Mention:
    people = tuple(p for m in mentions for p in m.people)
    names = tuple(dict.fromkeys(p.name for p in people))
    start, end = min(m.start for m in mentions), max(m.end for m in mentions)
    return Mention(names, question[start:end], how, start, end, people)


def _joined(question: str, mentions: list[Mention]) -> list[Mention]:
    """The mentions that are listed together ("Alice and Bob", "the Designer and the Manager")."""
    out = mentions[:1]
    for m in mentions[1:]:
        between = question[out[-1].end : m.start].strip().lower()
        if between not in {"and", "and the", ",", ", and", ", and the", "&", "or", "or the", ", the"}:
            break
        out.append(m)
    return out if len(out) >= 2 else []


def _distinct(mentions: list[Mention]) -> list[Mention]:
    """Non-overlapping mentions of different people, longest first."""
    out: list[Mention] = []
    for m in sorted(mentions, key=lambda m: -len(m.text)):
        if m.how == "ambiguous" or any(m.start < o.end and o.start < m.end for o in out):
            continue
        if any(set(m.names) & set(o.names) for o in out):
            continue
        out.append(m)
    return sorted(out, key=lambda m: m.start)


def match_people(question: str, people: Iterable[Person]) -> Mention | None:
    """`Roster(people).match(question)`, for one-off use."""
    return Roster(people).match(question)


def _match_role(
    question: str, people: list[Person], office_patterns: Iterable[tuple[int, list[str], re.Pattern[str]]] = ()
) -> list[tuple[list[int], str, int, int]]:
    """People whose role fits the question: its head noun is asked about ("the treasurer" finds
    "town treasurer"), more shared words rank higher; people tied at the top are all returned."""
    qwords = set(_words(question))
    scored = []
    for i, p in enumerate(people):
        for role in p.roles:
            words = _words(role)
            hits = [w for w in words if w in qwords]
            if words and _head_noun(role) in qwords and is_person_noun(_head_noun(role)):
                scored.append((len(hits) / len(words), len(hits), i, hits))
    for i, words, pattern in office_patterns:
        if pattern.search(question):
            scored.append((1.0, len(words), i, words))
    if not scored:
        return []
    scored.sort(key=lambda s: (-s[0], -s[1], s[2]))
    top = [s for s in scored if s[:2] == scored[0][:2]]
    ids = sorted({s[2] for s in top})
    start, end = _span_of(question, scored[0][3])
    return [(ids, question[start:end], start, end)]


_NOT_OFFICE = frozenset("the former then current host co-host guest speaker".split())


def offices(p: Person) -> list[str]:
    """The offices a speaker's label or aliases put before their name: "Chief Justice Roberts" ->
    ["Chief Justice"], "Deputy Mayor Clarke" -> ["Deputy Mayor"]; none for "Dr. Weber", "Speaker 2"
    or "Project Manager" (a label that is all role is matched as a role, not an office)."""
    if p.kind != "speaker":
        return []
    out = []
    for name in (p.name, *p.aliases):
        tokens = name.replace(",", " ").split()
        n = 0
        while n < len(tokens) and tokens[n].lower().rstrip(".") in TITLES and tokens[n].lower() not in _NOT_OFFICE:
            n += 1
        rest = tokens[n:]
        head = tokens[n - 1].lower().rstrip(".") if n else ""
        if n and head not in HONORIFICS and rest and rest[0][:1].isalpha() and not rest[0].isdigit():
            office = " ".join(t.rstrip(".") for t in tokens[:n])
            out.append(office.title() if office.isupper() else office)
    return list(dict.fromkeys(out))


def _office_pattern(office: str) -> re.Pattern[str]:
    """What asks about the holder of `office`: "the <office>" not followed by a name ("What did the
    Chief Justice say" matches; "What did Justice Scalia say" does not: a name)."""
    words = r"\s+".join(re.escape(w) for w in office.split())
    return re.compile(rf"\b(?i:the\s+{words})\b(?!\s+[A-Z])")


# Speech directed at someone: the person after the verb is spoken to ("ask Juror 7"), unlike
# "discuss with" or "disagree with", where both sides' words answer.
_DIRECTED = re.compile(r"\s+(?:ask|tell|warn|remind|promise|assure|urge|advise)\b", re.I)


_COMMON = frozenset(
    """about their there would could should think thought before after other which where these
    those being while against between during without within through president minister secretary
    director former meeting summarize discussion""".split()
)


def _span_of(question: str, words: list[str]) -> tuple[int, int]:
    """The stretch of the question from the first to the last of `words`."""
    spans = [m.span() for w in words for m in [re.search(rf"\b{re.escape(w)}\b", question, re.I)] if m]
    return min(s for s, _ in spans), max(e for _, e in spans)


def _words(text: str) -> list[str]:
    stop = {"the", "a", "an", "of", "and", "in", "at", "for", "to", "on", "agency's", "agency’s"}
    return [w for w in re.findall(r"[a-z][\w'’\-]*", text.lower()) if w not in stop]


def _head_noun(role: str) -> str:
    """The noun a role is about: "former chief of the X division" -> "chief"."""
    words = _words(role.split(" of ")[0])
    return words[-1] if words else ""
