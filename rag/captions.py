"""Who speaks in caption turns that only mark a change of speaker (">>"), inferred from the words.

Broadcast captions write ">>" where the voice changes and name nobody. A viewer still knows who
speaks, from what is said: the anchor introduces himself ("good evening, i'm jonah ferreira"),
hands over by name ("kelsey amadi is at the reservoir for us. kelsey."), the reporter answers by
name ("jonah, behind me ..."), brings someone in ("i spoke with carlos mendes, who ..."), and the
exchanges go back and forth. This module reads the same evidence:

    people        names the turns state: a self-introduction of a first and last name, a person
                  introduced ("i spoke with", "joining us is", "X Y is at ... for us"); a first
                  name only when it is also said to someone ("kelsey,") or the full name recurs
    fixed         a self-introduction is its speaker's; a hand-over ("kelsey." alone at the end of a
                  turn) and an introduction ending a turn fix the next speaker
    ruled out     nobody addresses themselves; ">>" is a change, so two turns in a row are two
                  people; someone introduced does not speak before the introduction
    preferred     exchanges alternate (A B A B), except where a turn opens by naming the person it
                  turns to; the one addressed is the speaker just before or just after

Every assignment of speakers is scored by how often it breaks a preference, and a turn gets a
name only when every other choice for it costs at least one more break (a second-order Viterbi
with max-marginals). Otherwise it stays nobody's: a guess is never written into the transcript.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

from rag.names import NOT_NAMES

_INF = float("inf")
_UNKNOWN_COST = 2.0  # a voice nobody names: allowed, but a named person who fits is preferred
_MAX_PEOPLE = 8  # beyond this, captions are a crowd, not an exchange: nobody is inferred
_WORD = r"[a-zà-öø-ÿ][a-zà-öø-ÿ'’\-]*"
# Words that follow "i'm" or "spoke with" without being a name ("i'm not sure", "spoke with some").
_NOT_NAME = NOT_NAMES | frozenset(
    """not just very so really also still here there going sure sorry glad afraid told some any many
    few several all both each every no one two three my your his her our their its own other another
    our local residents folks people everybody anyone somebody someone us them him""".split()
)
_END = r"(?=\s*(?:[.,!?;]|$)|\s+(?:and|who|from|at|in|for|here|reporting|with)\b)"
_SELF = re.compile(rf"\b(?:i['’]m|i am|my name is|this is)\s+(?P<first>{_WORD})\s+(?P<last>{_WORD}){_END}", re.I)
_INTRO = re.compile(
    rf"\b(?:(?:spoke|talked|spoken|speaking|talking) (?:with|to)|joining (?:me|us)(?: now| today| tonight)?(?: is)?|"
    rf"my guest (?:today |tonight )?is|(?:i['’]m|we['’]re) joined (?:now )?by)"
    rf"\s+(?P<first>{_WORD})\s+(?P<last>{_WORD}){_END}",
    re.I,
)
_PRESENT = re.compile(
    rf"(?:^|[.!?,]\s+)(?P<first>{_WORD})\s+(?P<last>{_WORD})"
    r"\s+(?:is|joins us)\s+(?:live\s+)?(?:at|in|outside|with us)\b",
    re.I,
)
_SENTENCE = re.compile(r"[^.!?]+[.!?]*")


@dataclass(frozen=True, slots=True)
class Person:
    first: str  # folded first name, as said to someone ("kelsey")
    name: str  # as written in answers ("Kelsey Amadi")


def speakers(texts: Sequence[str]) -> list[str | None]:
    """The speaker of each caption turn (its words, in order), or None where the evidence leaves a
    choice. See the module docstring."""
    people = _people(texts)
    if not people or len(people) > _MAX_PEOPLE:
        return [None] * len(texts)
    firsts = {p.first: i for i, p in enumerate(people)}
    turns = [_Evidence.read(t, firsts, people) for t in texts]
    for i, ev in enumerate(turns[:-1]):  # a hand-over or an introduction at the end fixes who speaks next
        if ev.next_speaker is not None:
            turns[i + 1] = turns[i + 1].fixed_to(ev.next_speaker)
    for i, ev in enumerate(turns):  # someone introduced has not spoken before
        for p in ev.introduces:
            for before in range(i + 1):
                turns[before] = turns[before].ruling_out(p)
    k = len(people)
    for _ in range(5):  # a habit breaks ties: who calls someone by name is the one who did before
        marginals = _marginals(turns, k)
        chosen = [_sure(m, k) for m in marginals]
        habits: dict[int, set[int]] = {}
        for ev, c in zip(turns, chosen, strict=True):
            if c is not None:
                for w in ev.addressed:
                    habits.setdefault(w, set()).add(c)
        fixes = {}
        for i, (ev, c, m) in enumerate(zip(turns, chosen, marginals, strict=True)):
            tied = {s for s in range(k) if m[s] == min(m)} if c is None and min(m) < _INF else set()
            by_habit = {s for w in ev.addressed for s in habits.get(w, ()) if s in tied}
            if len(tied) > 1 and len(by_habit) == 1:
                fixes[i] = by_habit.pop()
        if not fixes:
            break
        for i, s in fixes.items():
            turns[i] = turns[i].fixed_to(s)
    chosen = _interpolated(turns, chosen)
    return [people[c].name if c is not None else None for c in chosen]


def _interpolated(turns: list[_Evidence], chosen: list[int | None]) -> list[int | None]:
    """A turn that says nothing about who speaks keeps the speaker the back and forth gives it only
    between turns that do (interpolation, never extrapolation), or when a turn beside it speaks to
    that person: "the line is open." at the end of a call-in has no evidence that it is the guest."""
    said = [ev.fixed is not None or bool(ev.addressed or ev.introduces) or ev.opens_by_name for ev in turns]
    first = said.index(True) if any(said) else len(said)
    last = len(said) - 1 - said[::-1].index(True) if any(said) else -1
    out = list(chosen)
    for i, c in enumerate(chosen):
        if c is None or said[i] or first < i < last:
            continue
        beside = [turns[j] for j in (i - 1, i + 1) if 0 <= j < len(turns)]
        if not any(c in ev.addressed for ev in beside):
            out[i] = None
    return out


def _people(texts: Sequence[str]) -> list[Person]:
    said_to = {w for t in texts for w in _vocatives(t.lower())}
    found: dict[str, Person] = {}
    counts: dict[str, int] = {}
    for text in texts:
        for pattern, needs_address in ((_SELF, True), (_PRESENT, True), (_INTRO, False)):
            for m in pattern.finditer(text):
                first, last = m.group("first"), m.group("last")
                if {first.lower(), last.lower()} & _NOT_NAME:
                    continue
                key = first.lower()
                counts[key] = counts.get(key, 0) + 1
                if needs_address and key not in said_to and counts[key] < 2:
                    continue  # "i'm really tired": a name must be said to someone, or recur
                found.setdefault(key, Person(key, f"{_display(first)} {_display(last)}"))
    return list(found.values())


def _display(word: str) -> str:
    return word if any(c.isupper() for c in word) else word[:1].upper() + word[1:]


def _vocatives(lower: str) -> list[str]:
    """Single words set off as said to someone: "kelsey, what ...", "... thank you, kelsey.", "jonah?" """
    out = []
    for m in re.finditer(rf"(?:^|[.!?,]\s*)({_WORD})(?=\s*[,.?!])", lower):
        word = m.group(1)
        if word not in _NOT_NAME:
            out.append(word)
    return out


@dataclass(frozen=True, slots=True)
class _Evidence:
    """What one caption turn says about its speaker and its neighbours' (indexes into the people)."""

    fixed: int | None  # introduced themselves, or was handed over to
    ruled_out: frozenset[int]  # addressed by this turn, or not introduced yet
    addressed: frozenset[int]  # the speaker just before or just after should be one of these
    opens_by_name: bool  # the turn opens by naming someone: a new exchange may begin here
    next_speaker: int | None  # a hand-over or an introduction at the turn's end
    introduces: frozenset[int]

    @staticmethod
    def read(text: str, firsts: dict[str, int], people: list[Person]) -> _Evidence:
        lower = text.lower().strip()
        said = [firsts[w] for w in _vocatives(lower) if w in firsts]
        opening = re.match(rf"({_WORD}),", lower)
        opens = bool(opening and opening.group(1) in firsts)
        self_named = [
            firsts[m.group("first").lower()] for m in _SELF.finditer(lower) if m.group("first").lower() in firsts
        ]
        sentences = [s.strip() for s in _SENTENCE.findall(lower) if s.strip()]
        last = sentences[-1] if sentences else ""
        handed = re.fullmatch(rf"({_WORD})\s*[.?!]", last)
        introduced = [
            firsts[m.group("first").lower()] for m in _INTRO.finditer(lower) if m.group("first").lower() in firsts
        ]
        next_speaker = None
        if handed and handed.group(1) in firsts:
            next_speaker = firsts[handed.group(1)]
        elif introduced and _INTRO.search(last):
            next_speaker = introduced[-1]
        fixed = self_named[0] if len(set(self_named)) == 1 else None
        return _Evidence(fixed, frozenset(said), frozenset(said), opens, next_speaker, frozenset(introduced))

    def fixed_to(self, person: int) -> _Evidence:
        clash = self.fixed is not None and self.fixed != person
        return _Evidence(
            None if clash else person, self.ruled_out | ({person} if clash else set()), self.addressed,
            self.opens_by_name, self.next_speaker, self.introduces,
        )  # fmt: skip

    def ruling_out(self, person: int) -> _Evidence:
        if self.fixed == person:
            return self
        return _Evidence(
            self.fixed,
            self.ruled_out | {person},
            self.addressed,
            self.opens_by_name,
            self.next_speaker,
            self.introduces,
        )


def _sure(marginal: list[float], k: int) -> int | None:
    """The person whom every other choice (another person, or a voice nobody names) costs a whole break more."""
    best = min(range(k + 1), key=lambda s: marginal[s])
    others = min((marginal[s] for s in range(k + 1) if s != best), default=_INF)
    return best if best < k and others - marginal[best] >= 1.0 else None


def _marginals(turns: list[_Evidence], k: int) -> list[list[float]]:
    """For each turn and each speaker (k people, then the unknown voice k), the least cost of the
    whole transcript with that speaker there. States are (speaker before, speaker); k + 1 is the start."""
    unknown, start = k, k + 1
    n = len(turns)

    def own(i: int, b: int) -> float:
        ev = turns[i]
        if ev.fixed is not None and b != ev.fixed:
            return _INF
        if b in ev.ruled_out:
            return _INF
        return _UNKNOWN_COST if b == unknown else 0.0

    def step(i: int, x: int, a: int, b: int) -> float:
        """The cost of speaker b at turn i after x, a (turns i-2, i-1)."""
        if b == a and b != unknown:
            return _INF
        cost = own(i, b)
        if cost == _INF:
            return cost
        if x < k and b < k and x != b and not turns[i].opens_by_name:
            cost += 1.0  # the exchange does not go back and forth here
        if i >= 1 and turns[i - 1].addressed and a < k and not ({x, b} & turns[i - 1].addressed):
            cost += 1.0  # turn i-1 spoke to someone who neither spoke before it nor answers it
        return cost

    states = range(k + 1)
    # forward: best[i][(a, b)] = the least cost of turns 0..i with s[i-1] = a, s[i] = b
    forward: list[dict[tuple[int, int], float]] = [{(start, b): own(0, b) for b in states if own(0, b) < _INF}]
    for i in range(1, n):
        layer: dict[tuple[int, int], float] = {}
        for (x, a), c in forward[-1].items():
            for b in states:
                s = step(i, x, a, b)
                if s < _INF and c + s < layer.get((a, b), _INF):
                    layer[(a, b)] = c + s
        if not layer:
            return [[_INF] * (k + 1) for _ in range(n)]  # the evidence contradicts itself: attribute nothing
        forward.append(layer)
    # backward: the least cost of turns i+1.. given (s[i-1], s[i]); the last turn's address is judged by its one side
    backward: list[dict[tuple[int, int], float]] = [{} for _ in range(n)]
    last = turns[-1]
    backward[-1] = {
        (a, b): (1.0 if last.addressed and a < k and a not in last.addressed else 0.0) for (a, b) in forward[-1]
    }
    for i in range(n - 2, -1, -1):
        for a, b in forward[i]:
            best = _INF
            for (b2, c), rest in backward[i + 1].items():
                if b2 == b:
                    best = min(best, step(i + 1, a, b, c) + rest)
            backward[i][(a, b)] = best
    out = []
    for i in range(n):
        marginal = [_INF] * (k + 1)
        for (a, b), c in forward[i].items():
            marginal[b] = min(marginal[b], c + backward[i].get((a, b), _INF))
        out.append(marginal)
    return out
