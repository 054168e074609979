"""Who is who: speakers and their aliases, people quoted in the text, and names in questions.

Aliases come from the document itself ("former CIA Acting Director John McLaughlin" makes
"John McLaughlin" and "former CIA Acting Director" point at the label `McLaughlin`), from the
labels (`Hon. Bill Morneau` -> "Bill Morneau", "Morneau") and from a user alias map. Questions are
matched against them by exact phrase, by role words, and fuzzily for typos (rapidfuzz).
"""

from __future__ import annotations

import bisect
import re
from collections.abc import Collection, Iterable, Mapping
from dataclasses import dataclass
from functools import cached_property

from rapidfuzz import fuzz

from rag.text import has_word, is_boundary
from rag.types import Document, Person, Turn

_NAME_TOKEN = r"[A-Z][\w'’\-]*[\w]"
_VERBS = (
    r"said|says|wrote|writes|told|tells|added|stated|tweeted|posted|declared|argued|noted|"
    r"warned|claimed|insisted|explained|recalled|announced|replied|responded|suggested|asked|"
    r"remarked|commented|observed|testified"
)
_QUOTE_BEFORE = re.compile(
    rf"(?P<name>{_NAME_TOKEN}(?:\s+{_NAME_TOKEN}){{0,4}})(?<!’s)(?<!'s)"
    rf"(?:\s+\w+ly)?\s+(?:{_VERBS})\b"
    rf"|(?P<owner>{_NAME_TOKEN})(?:’s|'s)\s+(?:\w+\s+){{0,2}}"
    r"(?:speech|statement|remarks|address|interview|post|letter|message|article|op-ed|tweet)\b"
)
_QUOTE_AFTER = re.compile(rf"[,”\"]\s*(?:{_VERBS})\s+(?P<name>{_NAME_TOKEN}(?:\s+{_NAME_TOKEN}){{0,3}})")
# Words that sit in front of names but are not names.
TITLES = frozenset(
    """president vice prime minister secretary deputy foreign defense defence state director
    acting chief general gen lt col colonel major captain admiral senator sen rep representative
    governor gov chancellor ambassador minister mr mrs ms miss dr prof professor sir dame lord lady
    hon honourable honorable right the former then current king queen prince princess pope judge
    justice mayor speaker chairman chairwoman chair commissioner spokesman spokeswoman spokesperson
    envoy official officials leader diplomat politician analyst veteran am mp ms mep
    cia fbi nsa nato un us u.s. eu uk""".split()
)
NOT_NAMES = frozenset(
    """is are was were be been does did do can could would should will shall has have had may might
    must he she they it i we you this that these those there who what which when where why how the a
    an and but or so if in on at of for to from by with as after before while when then also later
    earlier yesterday today tomorrow monday tuesday wednesday thursday friday saturday sunday
    january february march april may june july august september october november december
    russia russian ukraine ukrainian europe european america american china chinese moscow kyiv
    washington brussels officials sources reports report experts analysts critics everyone someone
    nobody people""".split()
)


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


_SPEECH_VERBS = (
    r"say|said|think|thought|believe|write|wrote|mean|argue|claim|suggest|tell|told|want|"
    r"recommend|propose|feel|comment|mention|predict|warn|describe|explain|learn|"
    r"discuss|note|state|ask|add|insist|stress|emphasi[sz]e|worry|fear|expect|make of|view|see"
)
_SLOT = re.compile(
    rf"\b(?:did|does|do|has|have|had|would|will|could|might)\s+(?P<a>[^?,;]{{1,80}}?)\s+(?:{_SPEECH_VERBS})\b"
    rf"|\baccording to\s+(?P<b>[^?,;]{{1,80}}?)(?=\s*(?:[?,;.]|$|\b(?:what|how|why|is|was|are|were|did|does)\b))"
    rf"|(?P<c>\b[\w'’\- ]{{1,60}}?)(?:’s|'s)\s+(?:view|views|opinion|position|take|argument|point|answer|"
    r"comments?|remarks?|words|assessment|advice|warning|concern)\b",
    re.I,
)


def speech_slot(question: str, *, possessive: bool = True) -> tuple[int, int] | None:
    """Where a question puts the person who speaks: "What did <the CIA director> say ...".

    With `possessive`, "<X>'s view" counts too (good for known people; "the Kremlin's position"
    is not a person, so unknown names are only taken from the other forms).
    """
    for m in _SLOT.finditer(question):
        group = next(g for g in ("a", "b", "c") if m.group(g) is not None)
        if possessive or group != "c":
            return m.span(group)
    return None


def find_quoted(text: str, *, exclude: Iterable[str] = (), common: Collection[str] = ()) -> tuple[str, ...]:
    """Surnames of people the text reports as saying or writing something, in order of appearance.

    Args:
        common: words the whole document writes in lower case (`common_words`); one of them is not
            a name ("Having said that ...").
    Example: 'Medvedev wrote on Telegram. "No," said Hegseth.' -> ("Medvedev", "Hegseth")
    """
    skip = {e.lower() for e in exclude} | set(common)
    found: list[tuple[int, str]] = []
    for regex in (_QUOTE_BEFORE, _QUOTE_AFTER):
        for m in regex.finditer(text):
            group = "owner" if "owner" in regex.groupindex and m.group("owner") else "name"
            full = _strip_titles(m.group(group))
            if full and full.split()[-1].lower() not in skip and not _CONTRACTION.search(full):
                found.append((m.start(group), full.split()[-1]))
    seen: dict[str, None] = {}
    for _, name in sorted(found):
        seen.setdefault(name, None)
    return tuple(seen)


# "I've said", "We'll say": a pronoun's contraction, never a name (O'Brien, D'Souza go on in capitals).
_CONTRACTION = re.compile(r"[’'][a-z]{1,2}\b")


def common_words(text: str) -> frozenset[str]:
    """The words a document writes in lower case: a capitalised one among them ("Having said
    that", "Education said") is an ordinary word at the start of a sentence, not a name."""
    return frozenset(re.findall(r"\b[a-z][a-z’'\-]*\b", text))


def find_full_names(text: str, surname: str) -> list[str]:
    """Full names used for a surname in the text: ("Medvedev") -> ["Dmitry Medvedev"]."""
    names = []
    for m in _full_name_pattern(surname).finditer(text):
        first = m.group("first")
        if first.lower() not in TITLES and first.lower() not in NOT_NAMES:
            names.append(f"{first} {surname}")
    return sorted(set(names))


def _full_name_pattern(surname: str) -> re.Pattern[str]:
    return re.compile(rf"(?P<first>{_NAME_TOKEN})\s+{re.escape(surname)}\b")


def find_people(
    doc: Document, turns: list[Turn], quoted: Iterable[str], aliases: Mapping[str, str] = {}
) -> list[Person]:
    """The speakers of a document with their aliases and roles, then the people it quotes."""
    # Near-linear in the number of speakers: every question about the text ("is this word in it",
    # "which full names end in this surname") is answered from indexes built once per text, not by
    # a regex over the whole text per name (2,000 speakers took 32 s that way).
    narration = " ".join(doc.text[s:e] for t in turns if t.speaker is None for s, e in t.paragraphs)
    here = (doc.doc_id,)
    label_roles = _label_roles(doc.text)  # every label line read once, not once per speaker
    people = []
    speakers = sorted({t.speaker for t in turns if t.speaker is not None})
    after = _post_nominals(speakers)
    told = _Runs(narration, [name.split()[-1] for name in speakers]) if narration and speakers else None
    for name in speakers:
        base = name.rsplit(None, 1)[0] if name.split()[-1] in after else name  # "Sian Gwenllian AM" -> "Sian Gwenllian"
        names = set(_label_aliases(base, doc.text)) | ({base} if base != name else set())
        roles: set[str] = set()
        for full in told.full_names(name.split()[-1]) if told is not None else []:
            names.add(full)
            roles.update(_roles(narration, full, told.occurrences(full) if told is not None else None))
        names.update(a for a, target in aliases.items() if target.lower() == name.lower())
        roles.update(label_roles.get(_spelling(name), ()))
        names.discard(name)
        named = not any(has_word(doc.text, w.lower()) for w in name.split() if len(w) > 2)
        people.append(Person(name, "speaker", tuple(sorted(names)), tuple(sorted(roles)), here, named))
    # A name the text uses for a speaker ("questions from Siân Gwenllian") is that speaker, not someone quoted.
    spoken = {n.lower() for p in people for n in (p.name, *p.aliases)}
    others = [name for name in sorted(set(quoted)) if name.lower() not in spoken]
    runs = _Runs(doc.text, others) if others else None
    for name in others:
        assert runs is not None
        people.append(Person(name, "quoted", tuple(runs.full_names(name)), (), here))
    return people


class _Runs:
    """Where the whitespace-separated runs of a text that begin with one of `heads` start, sorted
    by content: the places a surname (or a full name ending in it) can be, found by bisection.

    `full_names(s)` is `find_full_names(text, s)` and `occurrences(f)` is `re.finditer(re.escape(f),
    text)`, match for match: the same regexes run, only where they can match.
    """

    def __init__(self, text: str, heads: Iterable[str]) -> None:
        self.text = text
        firsts = sorted({h[0] for h in heads if h})
        found = re.finditer(rf"(?<!\S)[{''.join(re.escape(c) for c in firsts)}]\S*", text) if firsts else ()
        runs = sorted((m.group(0), m.start()) for m in found)
        self._keys = [r for r, _ in runs]
        self._starts = [at for _, at in runs]

    def starting_with(self, prefix: str) -> list[int]:
        """Positions of the runs that start with `prefix`, in text order."""
        i = bisect.bisect_left(self._keys, prefix)
        j = i
        while j < len(self._keys) and self._keys[j].startswith(prefix):
            j += 1
        return sorted(self._starts[i:j])

    def full_names(self, surname: str) -> list[str]:
        text = self.text
        names, pos = [], 0
        for r in self.starting_with(surname):  # a match ends in `surname` after whitespace, at r
            q = r
            while q > 0 and text[q - 1].isspace():
                q -= 1
            end = r + len(surname)
            if q == r or not is_boundary(text, end):
                continue  # nothing before it, or no word boundary after it (the pattern's \b)
            a = q
            while a > 0 and not text[a - 1].isspace():
                a -= 1  # the run before: the first name, if any, lies in it
            m = _FIRST_NAME.search(text, max(pos, a), r)  # "First" + the whitespace up to r
            if m is None or m.end() != r:
                continue
            pos = end
            first = m.group("first")
            if first.lower() not in TITLES and first.lower() not in NOT_NAMES:
                names.append(f"{first} {surname}")
        return sorted(set(names))

    def occurrences(self, full: str) -> list[tuple[int, int]]:
        """(start, end) of each occurrence of `full` ("First Last"), left to right, not overlapping."""
        first, _, surname = full.rpartition(" ")
        out, pos = [], 0
        for r in self.starting_with(surname):
            p = r - len(first) - 1
            if p >= max(pos, 0) and self.text.startswith(full, p):
                out.append((p, p + len(full)))
                pos = p + len(full)
        return out


_FIRST_NAME = re.compile(rf"(?P<first>{_NAME_TOKEN})\s+")


def _post_nominals(labels: Iterable[str]) -> set[str]:
    """Capitalised words that end the labels of two or more speakers of one document ("AM", "MP",
    "QC"): letters after a name, not part of it. Evidence from the document, not a list.

    Example: ["Lynne Neagle AM", "Sian Gwenllian AM", "Kirsty Williams"] -> {"AM"}
    """
    last = [w[-1] for w in (label.split() for label in labels) if len(w) >= 3 and re.fullmatch(r"[A-Z]{2,4}", w[-1])]
    return {word for word in set(last) if last.count(word) >= 2}


def merge_people(groups: Iterable[Iterable[Person]]) -> list[Person]:
    """One Person per identity: the same full name in two documents is one person ("Anna Weber");
    a bare surname, first name, role or diarization label belongs to its document ("Weber" in a
    podcast and "Weber" in council minutes are two people). A speaker anywhere stays a speaker."""
    merged: dict[tuple[str, str], Person] = {}
    for group in groups:
        for p in group:
            key = (p.name, "") if p.named and is_full_name(p.name) else (p.name, ",".join(p.doc_ids))
            old = merged.get(key)
            if old is None:
                merged[key] = p
                continue
            kind = "speaker" if "speaker" in (old.kind, p.kind) else "quoted"
            merged[key] = Person(
                p.name,
                kind,
                tuple(sorted(set(old.aliases) | set(p.aliases))),
                tuple(sorted(set(old.roles) | set(p.roles))),
                tuple(sorted(set(old.doc_ids) | set(p.doc_ids))),
                old.named and p.named,
            )
    return sorted(merged.values(), key=lambda p: (p.kind != "speaker", p.name, p.doc_ids))


def is_full_name(name: str) -> bool:
    """A first and last name (titles aside) that links one person across documents: "Anna Weber"."""
    from rag.formats.labels import is_diarized

    bare = _strip_titles(name)
    words = bare.split()
    return len(words) >= 2 and not is_diarized(name) and all(w[:1].isupper() and len(w) > 1 for w in words)


class Roster:
    """People with their name patterns compiled once; `match(question)` says who is asked about.

    Example: Roster(people).match("What did Danenberg say?") -> Mention(("Dannenberg",), ...)
    """

    def __init__(self, people: Iterable[Person]) -> None:
        self.people = list(people)
        self.kinds = {p.name: p.kind for p in self.people}
        self._aliases: dict[str, set[int]] = {}  # alias (lower case) -> indexes into self.people
        for i, p in enumerate(self.people):
            for alias in (p.name, *p.aliases):
                self._aliases.setdefault(alias.lower(), set()).add(i)
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

        def in_slot(m: Mention) -> bool:
            return slot is not None and m.start < slot[1] and slot[0] < m.end

        def speaks(m: Mention) -> bool:
            return all(self.kinds.get(n) == "speaker" for n in m.names)

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
        for m in self._pattern.finditer(question):
            alias = m.group(1)
            if len(alias) <= 2 and not alias.isupper():
                continue  # "a" is not the speaker A
            found.append(self._mention(self._aliases[alias.lower()], m.group(0), "exact", m.start(), m.end()))
        return found

    def _role(self, question: str) -> list[Mention]:
        matched = _match_role(question, self.people)
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


def identity(p: Person) -> tuple[str, tuple[str, ...]]:
    """Who a person is, beyond how a label spells them: "Hon. Navdeep Bains (Minister of ...)" and
    "Hon. Navdeep Bains" are one person; a bare "Weber" is one person per document."""
    bare = _strip_titles(re.sub(r"\([^)]*\)", " ", p.name)).lower() or p.name.lower()
    return (bare, ()) if p.named and len(bare.split()) >= 2 else (bare, p.doc_ids)


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


def asked_about_person(question: str) -> str | None:
    """A capitalised name where the speaker goes ("did Zelensky say"), known or not."""
    slot = speech_slot(question, possessive=False)
    if slot is None:
        return None
    names = re.findall(rf"{_NAME_TOKEN}(?:\s+{_NAME_TOKEN}){{0,2}}", question[slot[0] : slot[1]])
    for name in names:
        bare = _strip_titles(name)
        if bare:
            return bare
    return None


def _match_role(question: str, people: list[Person]) -> list[tuple[list[int], str, int, int]]:
    """People whose role fits the question: its head noun is asked about ("the treasurer" finds
    "town treasurer"), more shared words rank higher; people tied at the top are all returned."""
    qwords = set(_words(question))
    scored = []
    for i, p in enumerate(people):
        for role in p.roles:
            words = _words(role)
            hits = [w for w in words if w in qwords]
            if words and _head_noun(role) in qwords:
                scored.append((len(hits) / len(words), len(hits), i, hits))
    if not scored:
        return []
    scored.sort(key=lambda s: (-s[0], -s[1], s[2]))
    top = [s for s in scored if s[:2] == scored[0][:2]]
    ids = sorted({s[2] for s in top})
    start, end = _span_of(question, scored[0][3])
    return [(ids, question[start:end], start, end)]


_COMMON = frozenset(
    """about their there would could should think thought before after other which where these
    those being while against between during without within through president minister secretary
    director former meeting summarize discussion""".split()
)


def _label_aliases(label: str, text: str = "") -> list[str]:
    """ "The Acting Chair (Mr. Bruce Stanton)" -> ["Bruce Stanton", "Stanton", "Bruce", ...].

    The first name is an alias when the text never uses it as a plain word ("Alice" for Alice
    Moreno, but not "Project" for the Project Manager of a meeting that talks about the project).
    """
    out = []
    inner = re.findall(r"\(([^)]*)\)", label)
    for part in [re.sub(r"\([^)]*\)", " ", label), *inner]:
        bare = _strip_titles(part)
        if bare and bare != label:
            out.append(bare)
        if bare and len(bare.split()) >= 2 and bare.split()[-1][0].isupper():
            out.append(bare.split()[-1])
            first, last = bare.split()[0], bare.split()[-1]
            title = part.split()[0] if part.split() else ""
            if title.lower().rstrip(".") in TITLES and len(part.split()) >= 3:
                out.append(f"{title} {last}")  # "Dr. Okafor" for Dr. Amaka Okafor
            if len(first) > 2 and len(last) > 2 and not has_word(text, first.lower()):
                out.append(first)
    return [a for a in out if a.lower() not in NOT_NAMES and a.lower() not in TITLES]


def _label_roles(text: str) -> dict[str, set[str]]:
    """Roles written in labels, by speaker (see `_spelling`), never times: "MARIA LOPEZ (moderator):"
    -> {"maria lopez": {"moderator"}}; an office-holder's office is a role of the person named."""
    from rag.formats.labels import read_label

    roles: dict[str, set[str]] = {}
    for m in re.finditer(r"^[^\n]*?[:：]", text, re.M):
        label = read_label(m.group(0) + " ")
        if label is not None and label.roles:
            roles.setdefault(_spelling(label.name), set()).update(r for r in label.roles if r.strip())
    return roles


def _spelling(name: str) -> str:
    """A name compared case- and dot-insensitively: "MS. PATEL" and "Ms. Patel" -> "ms patel"."""
    return " ".join(name.split()).lower().replace(".", "")


def _roles(text: str, full_name: str, found: Iterable[tuple[int, int]] | None = None) -> list[str]:
    """Descriptions right before or after a full name: "former CIA Acting Director John X".

    `found`: the name's (start, end) in the text, when known (`_Runs.occurrences`).
    """
    roles = []
    spans = ((m.start(), m.end()) for m in re.finditer(re.escape(full_name), text)) if found is None else found
    for start, end in spans:
        before = re.split(r"[–—,;:(\[]|\band\b|(?<=[.!?])\s", text[max(0, start - 120) : start])
        cand = before[-1].strip() if before else ""
        if (
            2 <= len(cand.split()) <= 10
            and cand.split()[0].lower() in {"former", "the", "a", "an", "then", "current"} | TITLES
        ):
            roles.append(cand)
        after = _ROLE_AFTER.match(text, end)  # not text[end:]: a copy of the rest per name
        if after and 2 <= len(after.group(1).split()) <= 10:
            roles.append(after.group(1).strip())
    return roles


_ROLE_AFTER = re.compile(r",\s+(?:a|an|the)?\s*((?:former|current|then)?[^,.;()]{3,80}),")


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


def _strip_titles(name: str) -> str:
    tokens = [t.rstrip(".,") for t in name.split()]
    while tokens and (tokens[0].lower().rstrip(".") in TITLES or tokens[0].lower() in NOT_NAMES):
        tokens.pop(0)
    while tokens and tokens[-1].lower().rstrip(".") in TITLES:
        tokens.pop()
    # Keep at most "First Last"; a run like "Foreign Minister Sergei Ryabkov" ends in the name.
    tokens = [re.sub(r"(?:’s|'s)$", "", t) for t in tokens[-2:]]
    if len(tokens) == 2 and (tokens[0].lower() in TITLES or tokens[0].lower().endswith(("ian", "ish", "ese"))):
        tokens = tokens[1:]
    if not tokens or any(t.lower() in NOT_NAMES for t in tokens):
        return ""
    return " ".join(tokens)
