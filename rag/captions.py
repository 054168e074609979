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
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, replace

from rag.names import HONORIFICS, NOT_NAMES
from rag.text import letter_cases

_INF = float("inf")
_UNKNOWN_COST = 2.0  # a voice nobody names: allowed, but a named person who fits is preferred
_MAX_PEOPLE = 8  # beyond this, captions are a crowd, not an exchange: nobody is inferred
_MARGIN = 2.0  # a turn is named when every other choice costs this many more breaks
_WORD = r"[a-zà-öø-ÿ][a-zà-öø-ÿ'’\-]*"
# Words that stand where a name could ("i'm not sure", "spoke with some", "well, yes", "good morning, all").
_NOT_NAME = NOT_NAMES | frozenset(
    """not just very so really also still here there going sure sorry glad afraid told some any many
    few several all both each every no one two three my your his her our their its own other another
    local residents folks people everybody anyone somebody someone us them him me
    well yes yeah yep okay ok right now look listen oh hey hi hello thanks thank please alright
    actually anyway first second finally again tonight morning evening afternoon everyone guys
    folks friends sir madam maam ma'am both said says asked told""".split()
)
# Forms of address before a surname ("dr. mokoena,"): the honorifics, and offices said that way.
_TITLES = (HONORIFICS - {"right", "hon", "honourable", "honorable"}) | {
    "judge",
    "councillor",
    "councilmember",
    "senator",
    "mayor",
}
_TITLE = rf"(?:{'|'.join(sorted(map(re.escape, _TITLES), key=len, reverse=True))})\.?"
_GREETING = r"(?:hi|hello|hey|morning|evening|afternoon|welcome|good (?:morning|afternoon|evening))"
_END = r"(?=\s*(?:[.,!?;]|$)|\s+(?:and|who|from|at|in|for|here|reporting|with)\b)"
_SELF = re.compile(
    rf"\b(?:i['’]m|i am|my name is|this is|it['’]s)\s+(?P<first>{_WORD})\s+(?P<last>{_WORD}){_END}", re.I
)
_INTRO = re.compile(
    rf"\b(?:(?:spoke|talked|spoken|speaking|talking) (?:with|to)|joining (?:me|us)(?: now| today| tonight)?(?: is)?|"
    rf"my guest (?:today |tonight )?is|(?:i['’]m|we['’]re) joined (?:now )?by)"
    rf"\s+(?:{_TITLE}\s+)?(?P<first>{_WORD})\s+(?P<last>{_WORD}){_END}",
    re.I,
)
# Said to someone: "kelsey, what ...", "... thank you, kelsey.", "hi maren,", "dr. mokoena, ...", "hollis?"
_VOCATIVE = re.compile(
    rf"(?:^|[.!?,;:]\s*|\b{_GREETING}[^\S\n]+)(?:(?P<title>{_TITLE})\s+)?(?P<word>{_WORD})(?=\s*[,.?!])", re.I
)
_THANKS = re.compile(r"(?:thank you|thanks)[,\s]*$", re.I)
_THANKED = re.compile(r"\s*,\s*(?:thank you|thanks)\b", re.I)  # "mona, thank you."
_SENTENCE = re.compile(r"[^.!?]+[.!?]*")


@dataclass(frozen=True, slots=True)
class Person:
    first: str  # folded first name, as said to someone ("kelsey"), or "" for a title and surname
    last: str  # folded surname ("amadi"), or ""
    name: str  # as written in answers ("Kelsey Amadi", "Dr. Mokoena")


@dataclass(frozen=True, slots=True)
class _Address:
    """A name said to someone in a turn: who, where, and whether it thanks them."""

    person: int
    at: int
    thanks: bool


def speakers(texts: Sequence[str]) -> list[str | None]:
    """The speaker of each caption turn (its words, in order), or None where the evidence leaves a
    choice. See the module docstring."""
    people = _people(texts)
    if not people or len(people) > _MAX_PEOPLE:
        return [None] * len(texts)
    turns = [_Evidence.read(t, people) for t in texts]
    for i, ev in enumerate(turns[:-1]):  # a hand-over or an introduction at the end fixes who speaks next
        if ev.next_speaker is not None:
            turns[i + 1] = turns[i + 1].fixed_to(ev.next_speaker)
    for p, first in enumerate(_first_mentions(texts, people)):  # someone spoken of has not spoken before
        for before in range(first + 1):
            turns[before] = turns[before].ruling_out(p)
    k = len(people)
    marginals = _marginals(turns, k, {})
    chosen = [_sure(m, k) for m in marginals]
    # someone brought in talks with the one who brought them in ("i spoke with carlos mendes ...")
    partners = {p: c for ev, c in zip(turns, chosen, strict=True) if c is not None for p in ev.introduces}
    if partners:
        paired = _marginals(turns, k, partners)
        if not all(min(m) == _INF for m in paired):
            chosen = [_sure(m, k) for m in paired]
    chosen = _interpolated(turns, chosen)
    return [people[c].name if c is not None else None for c in chosen]


def _first_mentions(texts: Sequence[str], people: list[Person]) -> list[int]:
    """Per person, the first turn that names them in full other than introducing themselves ("now
    to fulton street, where renata kowal has been since ..."), or -1: they have not spoken before it."""
    own = [{m.start("first") for m in _SELF.finditer(text)} for text in texts]
    out = []
    for person in people:
        full = re.compile(rf"\b{re.escape(person.first)}\s+{re.escape(person.last)}\b", re.I)
        named = (
            (i for i, text in enumerate(texts) if any(m.start() not in own[i] for m in full.finditer(text)))
            if person.first and person.last
            else iter(())
        )
        out.append(next(named, -1))
    return out


def _interpolated(turns: list[_Evidence], chosen: list[int | None]) -> list[int | None]:
    """A turn that says nothing about who speaks keeps the speaker the back and forth gives it only
    between turns that do (interpolation, never extrapolation), or when a turn beside it speaks to
    that person: "the line is open." at the end of a call-in has no evidence that it is the guest."""
    said = [
        ev.fixed is not None or bool(ev.addressed or ev.thanked or ev.introduces) or ev.opens_by_name for ev in turns
    ]
    first = said.index(True) if any(said) else len(said)
    last = len(said) - 1 - said[::-1].index(True) if any(said) else -1
    out = list(chosen)
    for i, c in enumerate(chosen):
        if c is None or said[i] or first < i < last:
            continue
        beside = [turns[j] for j in (i - 1, i + 1) if 0 <= j < len(turns)]
        if not any(c in ev.addressed or c in ev.thanked for ev in beside):
            out[i] = None
    return out


def _namelike(word: str, lowered: frozenset[str], mixed: bool) -> bool:
    """Could be a name: not a word that stands where names do, and in a text with capitals, never
    written in lower case ("Well, yes." is no vocative: the text writes "well" elsewhere)."""
    w = word.lower()
    return w not in _NOT_NAME and len(w) > 1 and not (mixed and w in lowered)


def _people(texts: Sequence[str]) -> list[Person]:
    """The people the captions name: see the module docstring."""
    whole = "\n".join(texts)
    mixed = min(letter_cases(whole)) > 0
    lowered = frozenset(re.findall(r"\b[a-zà-öø-ÿ][a-zà-öø-ÿ'’\-]*", whole)) if mixed else frozenset()
    per_turn = [[(m.group("title"), m.group("word").lower()) for m in _VOCATIVE.finditer(t)] for t in texts]
    turns_said = Counter(w for found_in in per_turn for w in {w for _, w in found_in})
    said = [(title, w) for found_in in per_turn for title, w in found_in if _namelike(w, lowered, mixed)]
    firsts = {w for title, w in said if not title}
    surnames = {w for title, w in said if title}
    found: dict[str, Person] = {}

    def add(first: str, last: str, title: str = "") -> None:
        key = first.lower() or last.lower()
        shown = " ".join(_display(w) for w in (title or first, last) if w)
        if key not in found or (not found[key].last and last):
            found[key] = Person(first.lower(), last.lower(), shown)

    for t in texts:
        opening = _opening(t)
        for m in _SELF.finditer(t):
            first, last = m.group("first"), m.group("last")
            if not (_namelike(first, lowered, mixed) and _namelike(last, lowered, mixed)):
                continue
            # "i'm really tired" is no name: it must be said to someone, or open a turn after a greeting
            confirmed = first.lower() in firsts or last.lower() in surnames
            if confirmed or (m.start() <= opening and not re.search(r"(?:ing|ly|ed)$", last, re.I)):
                add(first, last)
        for m in _INTRO.finditer(t):
            if _namelike(m.group("first"), lowered, mixed) and _namelike(m.group("last"), lowered, mixed):
                add(m.group("first"), m.group("last"))
    for first in sorted(firsts - set(found)):  # "Hollis, good morning." and "with Hollis Tran" earlier
        after = Counter(
            m.group(1).lower()
            for m in re.finditer(
                rf"\b{re.escape(first)}\s+({_WORD})(?=\s*[,.;:!?]|\s+(?:who|from|of|is|has|and)\b)", whole, re.I
            )
            if _namelike(m.group(1), lowered, mixed) and m.group(1).lower() not in firsts
        )
        if after:
            add(first, after.most_common(1)[0][0])
        elif turns_said[first] >= 2:
            add(first, "")  # "ilse, you're on the air." ... "all right, ilse, ..."
    for title, last in {(t, w) for t, w in said if t}:
        if not any(p.last == last for p in found.values()):
            add("", last, title)
    out = list(found.values())
    keys = Counter(k for p in out for k in {p.first, p.last} if k)
    return [p for p in out if keys[p.first or p.last] == 1]  # a first name two people share names neither


def _opening(text: str) -> int:
    """Where a turn's own words begin, past a greeting and names said to someone ("good morning, priya.")."""
    m = re.match(rf"(?:\W*(?:{_GREETING}|and|so|yes|well|thanks|thank you)\b\W*(?:{_WORD}\W+)?)*", text, re.I)
    return m.end() if m else 0


def _display(word: str) -> str:
    """As written when the text has capitals ("McAllister"), else capitalised ("AMADI", "amadi": "Amadi")."""
    if any(c.isupper() for c in word) and not word.isupper():
        return word
    return "-".join(part.capitalize() for part in word.split("-"))


@dataclass(frozen=True, slots=True)
class _Evidence:
    """What one caption turn says about its speaker and its neighbours' (indexes into the people)."""

    fixed: int | None  # introduced themselves, or was handed over to
    ruled_out: frozenset[int]  # addressed by this turn, or not introduced yet
    addressed: frozenset[int]  # the speaker just before or just after should be one of these
    thanked: frozenset[int]  # the speaker just before should be one of these ("thanks, jonah.")
    opens_by_name: bool  # the turn opens by naming someone: a new exchange may begin here
    next_speaker: int | None  # a hand-over or an introduction at the turn's end
    introduces: frozenset[int]

    @staticmethod
    def read(text: str, people: list[Person]) -> _Evidence:
        said = _addresses(text, people)
        sentences = [m for m in _SENTENCE.finditer(text) if m.group(0).strip()]
        first_end = sentences[0].end() if sentences else len(text)
        opens = any(a.at < first_end for a in said)
        self_named = {
            i for m in _SELF.finditer(text) if (i := _person(people, m.group("first"), m.group("last"))) is not None
        }
        introduced = [
            i for m in _INTRO.finditer(text) if (i := _person(people, m.group("first"), m.group("last"))) is not None
        ]
        last = sentences[-1] if sentences else None
        next_speaker = None
        if last is not None:
            # the last sentence names one person in a short hand-over or a question, or names them just
            # before the question ("dr. mokoena, let's start with the science. why does it matter?")
            asks = last.group(0).rstrip().endswith("?")
            since = sentences[-2].start() if asks and len(sentences) >= 2 else last.start()
            handed = {a.person for a in said if a.at >= since and not a.thanks}
            short = len(last.group(0).split()) <= 6 or asks
            if len(handed) == 1 and short:
                next_speaker = handed.pop()  # "kelsey." / "renata, what are you seeing?" / "ilse, you're on the air."
            elif introduced and _INTRO.search(last.group(0)):
                next_speaker = introduced[-1]
        fixed = next(iter(self_named)) if len(self_named) == 1 else None
        who = frozenset(a.person for a in said)
        thanked = frozenset(a.person for a in said if a.thanks)
        return _Evidence(
            fixed, who - ({fixed} if fixed is not None else set()), who - thanked, thanked, opens, next_speaker,
            frozenset(introduced),
        )  # fmt: skip

    def fixed_to(self, person: int) -> _Evidence:
        if self.fixed is not None and self.fixed != person:  # two fixes disagree: neither holds
            return replace(self, fixed=None, ruled_out=self.ruled_out | {person})
        return replace(self, fixed=person)

    def ruling_out(self, person: int) -> _Evidence:
        return self if self.fixed == person else replace(self, ruled_out=self.ruled_out | {person})


def _person(people: list[Person], first: str, last: str = "") -> int | None:
    """The one person a first name (and surname) or a surname names, or None."""
    f, sur = first.lower(), last.lower()
    fits = [i for i, p in enumerate(people) if p.first and p.first == f and (not sur or not p.last or p.last == sur)]
    if not fits and not sur:
        fits = [i for i, p in enumerate(people) if p.last == f]
    return fits[0] if len(fits) == 1 else None


def _addresses(text: str, people: list[Person]) -> list[_Address]:
    out = []
    for m in _VOCATIVE.finditer(text):
        word = m.group("word")
        i = _person(people, "", word) if m.group("title") else _person(people, word)
        if m.group("title") and i is None:
            i = _person(people, word)
        if i is not None:
            at = m.start("title") if m.group("title") else m.start("word")
            thanks = _THANKS.search(text[max(0, at - 14) : at]) or _THANKED.match(text, m.end("word"))
            out.append(_Address(i, m.start("word"), bool(thanks)))
    return out


def _sure(marginal: list[float], k: int) -> int | None:
    """The person whom every other choice (another person, or a voice nobody names) costs `_MARGIN` breaks more."""
    best = min(range(k + 1), key=lambda s: marginal[s])
    others = min((marginal[s] for s in range(k + 1) if s != best), default=_INF)
    return best if best < k and others - marginal[best] >= _MARGIN else None


def _marginals(turns: list[_Evidence], k: int, partners: dict[int, int]) -> list[list[float]]:
    """For each turn and each speaker (k people, then the unknown voice k), the least cost of the
    whole transcript with that speaker there. States are (speaker before, speaker); k + 1 is the start.
    `partners`: someone introduced -> the one who introduced them, whom they talk with."""
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
        if turns[i].thanked and b < k and a not in turns[i].thanked:
            cost += 1.0  # thanks go to the one who just spoke
        if a < k and b < k and (partners.get(a, b) != b or partners.get(b, a) != a):
            cost += 1.0  # someone brought in speaks with the one who brought them in
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
