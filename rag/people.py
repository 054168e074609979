"""Who is who in a document: its speakers with their aliases and roles, and the people it quotes.

Aliases come from the document itself ("former CIA Acting Director John McLaughlin" makes
"John McLaughlin" and "former CIA Acting Director" point at the label `McLaughlin`), from the
labels (`Hon. Bill Morneau` -> "Bill Morneau", "Morneau") and from a user alias map; people of
several documents are merged into one identity by `merge_people`. Matching names in questions
is `roster.py`'s job.

Near 400 lines: one concept (who is who) with the text indexes that keep it near-linear in the
number of speakers (`_Runs`); splitting the merge from the per-document reading would only split
the rules that decide one identity.
"""

from __future__ import annotations

import bisect
import re
from collections.abc import Iterable, Mapping
from dataclasses import replace

from rag.formats.labels import is_diarized
from rag.introductions import (
    address_forms,
    addressed_as,
    addressed_next,
    given_names,
    given_roles,
    listed_people,
    vocative_roles,
)
from rag.names import NAME_TOKEN, NOT_NAMES, PERSON_ROLES, TITLES, is_full_name, name_key, spelling, strip_titles
from rag.text import has_word, is_boundary, letter_cases
from rag.types import Document, Person, Turn


def find_people(
    doc: Document,
    turns: list[Turn],
    quoted: Iterable[str],
    aliases: Mapping[str, str] = {},
    appearances: Iterable[tuple[str, str]] = (),
    shaped_roles: Iterable[tuple[str, tuple[str, ...]]] = (),
) -> list[Person]:
    """The speakers of a document with their aliases and roles, then the people it quotes.

    `appearances`: (role, names) the document lists ("Hearing Officer", "Judith Lambert"); a
    speaker whose label ends in the surname gets the full name and the role. `shaped_roles`:
    (label, roles) of labels read in other shapes than "Name:" (`Segmentation.label_roles`)."""
    # Near-linear in the number of speakers: every question about the text ("is this word in it",
    # "which full names end in this surname") is answered from indexes built once per text, not by
    # a regex over the whole text per name (2,000 speakers took 32 s that way).
    narration = " ".join(doc.text[s:e] for t in turns if t.speaker is None for s, e in t.paragraphs)
    here = (doc.doc_id,)
    label_roles = _label_roles(doc.text, shaped_roles)  # every label line read once, not once per speaker
    forms = address_forms(doc.text)
    people = []
    speakers = sorted({t.speaker for t in turns if t.speaker is not None})
    after = _post_nominals(speakers)
    told = _Runs(narration, [name.split()[-1] for name in speakers]) if narration and speakers else None
    named_labels = {n: not any(has_word(doc.text, w.lower()) for w in n.split() if len(w) > 2) for n in speakers}
    given = given_names(doc, turns, named_labels)
    listed = listed_people(appearances, speakers)
    handed = addressed_next(doc, turns)  # "Mr. van der Berg?" before Pieter van der Berg speaks
    upper, lower = letter_cases(doc.text)
    cased = min(upper, lower) * 100 >= upper + lower > 0  # capitals and small letters, 1 in 100 each
    known: dict[str, set[str]] = {}
    for name in speakers:
        base = name.rsplit(None, 1)[0] if name.split()[-1] in after else name  # "Sian Gwenllian AM" -> "Sian Gwenllian"
        names = set(_label_aliases(base, doc.text, cased)) | ({base} if base != name else set())
        roles: set[str] = set()
        for full in given.get(name, ()):  # "it's Arjun Mehta" said by SPEAKER_01
            names.update({full, *_label_aliases(full, doc.text, cased)})
        names.update(addressed_as(forms, base))  # "Dr. Nguyễn" for Nguyễn Văn Bảo
        names.update(handed.get(name, ()))
        names.update(_number_words(name))  # "Respondent three" for Respondent 3
        for role, full in listed.get(name, ()):  # "For the Board: Gideon Abernathy, Assistant Attorney General"
            names.update({full, *_label_aliases(full, doc.text, cased)})
            roles.add(role)
        for full in told.full_names(name.split()[-1]) if told is not None else []:
            names.add(full)
            roles.update(_roles(narration, full, told.occurrences(full) if told is not None else None))
        names.update(a for a, target in aliases.items() if target.lower() == name.lower())
        roles.update(label_roles.get(spelling(name), ()))
        first = name.split()[0].lower().rstrip(".")
        if len(name.split()) >= 3 and first in PERSON_ROLES and first not in TITLES:
            # "Coach Adaeze Obi" is the coach; an honorific ("Professor", "Mayor") is a title, and
            # "the professor" stays the meeting's professors (Professor A, Professor B)
            roles.add(name.split()[0].rstrip("."))
        names.discard(name)
        known[name] = {name, *names}
        named = named_labels[name]
        people.append(Person(name, "speaker", tuple(sorted(names)), tuple(sorted(roles)), here, named))
    said_roles = given_roles(doc, turns, known)  # "I'm the facilities manager", "my guest today is ..."
    for name, titles in vocative_roles(doc, turns).items():  # "Now, admiral, ..." before Poindexter answers
        said_roles.setdefault(name, set()).update(titles)
    people = [
        replace(p, roles=tuple(sorted({*p.roles, *said_roles[p.name]}))) if p.name in said_roles else p for p in people
    ]
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

    `full_names(s)` is `names.find_full_names(text, s)` and `occurrences(f)` is
    `re.finditer(re.escape(f), text)`, match for match: the same regexes run, only where they can match.
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


_FIRST_NAME = re.compile(rf"(?P<first>{NAME_TOKEN})\s+")


def _post_nominals(labels: Iterable[str]) -> set[str]:
    """Capitalised words that end the labels of two or more speakers of one document ("AM", "MP",
    "QC"): letters after a name, not part of it. Evidence from the document, not a list.

    Example: ["Lynne Neagle AM", "Sian Gwenllian AM", "Kirsty Williams"] -> {"AM"}
    """
    last = [w[-1] for w in (label.split() for label in labels) if len(w) >= 3 and re.fullmatch(r"[A-Z]{2,4}", w[-1])]
    return {word for word in set(last) if last.count(word) >= 2}


def merge_people(groups: Iterable[Iterable[Person]]) -> list[Person]:
    """One Person per identity across documents, decided from what the documents say.

    The same full name is one person (titles, suffixes and middle initials aside: "Harold T.
    Morrow, Jr." and "Harold Morrow"); a surname label joins the one full name it fits ("RUIZ" in
    one meeting, "Councillor Ana Ruiz" in another), and the same surname label with no full name
    anywhere is one person ("JUSTICE GORSUCH" in eight arguments). Documents say otherwise when
    they give different full names for a surname: "Weber" is Dan Weber in a podcast and Anna
    Weber in council minutes, two people, and a bare "Weber" elsewhere stays on its own.
    Positional labels (`is_positional`: "Speaker 2", "Grad B", "Marketing", "THE WITNESS") are
    places in one conversation and never link. A person quoted in the text links by full name.
    """
    people = [p for group in groups for p in group]
    # A label that is a role somewhere in the archive ("marketing" in one meeting's text) is a
    # role everywhere: positional in every document it labels.
    roles = {spelling(p.name) for p in people if p.kind == "speaker" and is_positional(p)}
    speakers = [
        replace(p, named=False) if p.named and spelling(p.name) in roles else p for p in people if p.kind == "speaker"
    ]
    parent = list(range(len(speakers)))

    def find(i: int) -> int:
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    why: dict[int, str] = {}

    def union(i: int, j: int, reason: str) -> None:
        a, b = find(i), find(j)
        if a != b:
            parent[b] = a
            why.setdefault(a, reason)

    fixed = [is_positional(p) for p in speakers]
    fulls = [set() if fixed[i] else full_names(p) for i, p in enumerate(speakers)]
    first_with: dict[str, int] = {}
    for i, names in enumerate(fulls):
        for name in sorted(names):
            if name in first_with:
                union(first_with[name], i, f"same full name {name.title()!r}")
            else:
                first_with[name] = i
    by_surname: dict[str, set[int]] = {}
    for i, names in enumerate(fulls):
        for name in names:
            by_surname.setdefault(name.split()[-1], set()).add(i)
    by_first: dict[str, set[int]] = {}
    for i, names in enumerate(fulls):
        for name in names:
            by_first.setdefault(name.split()[0], set()).add(i)
    # Bare labels that fit exactly one full name: by surname ("RUIZ", "Cllr Ruiz" for Ana Ruiz),
    # or a one-word label by first name ("Marcus" for Marcus Adeyemi).
    candidate: dict[int, int] = {}
    bare_keys: dict[int, str] = {}
    for i, p in enumerate(speakers):
        key = name_key(p.name)
        if fixed[i] or fulls[i] or not key:
            continue
        bare_keys[i] = key
        fits = {find(j) for j in by_surname.get(key.split()[-1], ())}
        if not fits and len(key.split()) == 1:
            fits = {find(j) for j in by_first.get(key, ())}
        if len(fits) == 1:
            candidate[i] = fits.pop()
    # A bare label joins a full name only with evidence that the documents are one conversation or
    # one series: the same document, or someone else who speaks in both ("Cllr Ruiz" at a meeting
    # with the same clerk as "Councillor Ana Ruiz"'s; justices who sit together). "Ms. Raman" on a
    # clinic call and "Priya Raman" in a design review share nobody: two people, and a question
    # asks which one.
    present: dict[str, set[int]] = {}
    for j, p in enumerate(speakers):
        if not fixed[j]:
            for d in p.doc_ids:
                present.setdefault(d, set()).add(j)

    def who(j: int) -> int:
        return candidate.get(j, find(j))

    docs_of: dict[int, set[str]] = {}  # each full-name cluster's documents, gathered once
    for j, p in enumerate(speakers):
        docs_of.setdefault(find(j), set()).update(p.doc_ids)
    bare: dict[str, int] = {}
    for i, key in bare_keys.items():
        root = candidate.get(i)
        if root is not None:
            theirs = docs_of[root]
            mine = set(speakers[i].doc_ids)
            here = {who(j) for d in mine for j in present.get(d, ())} - {root, i}
            there = {who(j) for d in theirs for j in present.get(d, ())} - {root, i}
            if mine & theirs or here & there:
                full = max(fulls[root] or {key}, key=len).title()
                union(root, i, f"{speakers[i].name!r} is {full!r} (they speak with the same people)")
                theirs |= mine
                continue
        if key in bare:  # no full name to join: the same label elsewhere is the same person
            union(bare[key], i, f"same label {speakers[i].name!r}")
        else:
            bare[key] = i
    clusters: dict[int, list[int]] = {}
    for i in range(len(speakers)):
        clusters.setdefault(find(i), []).append(i)
    merged = [_one_person([speakers[i] for i in ids], why.get(root, "")) for root, ids in clusters.items()]
    merged.extend(_merge_quoted([p for p in people if p.kind != "speaker"], merged))
    return sorted(merged, key=lambda p: (p.kind != "speaker", p.name, p.doc_ids))


def is_positional(p: Person) -> bool:
    """A label that is a place in one conversation, not a person's name: a diarization id
    ("Speaker 2"), a letter or number at its end ("Grad B", "Juror 7", "A"), a role the text
    also writes as plain words ("Marketing", "Project Manager"), or "the" ("THE WITNESS")."""
    words = re.sub(r"\([^)]*\)", " ", p.name).split()
    if not words or is_diarized(p.name) or not p.named:
        return True
    named_inside = any(is_full_name(strip_titles(x)) for x in re.findall(r"\(([^)]*)\)", p.name))
    return len(words[-1].rstrip(".")) == 1 or words[-1].isdigit() or (words[0].lower() == "the" and not named_inside)


def full_names(p: Person) -> set[str]:
    """The full names (`name_key`) a document gives a speaker: the label's own, and aliases from
    the text that end in the label's surname ("Rob Dannenberg" for `Dannenberg`)."""
    surname = name_key(p.name).split()[-1:] or [""]
    out = set()
    for name in (p.name, *p.aliases):
        key = name_key(name)
        if len(key.split()) >= 2 and key.split()[-1] == surname[0]:
            out.add(key)
    return out


def _one_person(same: list[Person], linked: str) -> Person:
    """The people of `same` (one identity) as one Person, under the label most documents use."""
    if len(same) == 1:
        return same[0]
    count: dict[str, int] = {}
    for p in same:
        count[p.name] = count.get(p.name, 0) + len(p.doc_ids)
    name = max(count, key=lambda n: (count[n], len(n), n))
    labels = tuple(sorted({(d, p.name) for p in same for d in p.doc_ids}))
    aliases = {a for p in same for a in (p.name, *p.aliases)} - {name}
    return Person(
        name,
        "speaker",
        tuple(sorted(aliases)),
        tuple(sorted({r for p in same for r in p.roles})),
        tuple(sorted({d for p in same for d in p.doc_ids})),
        all(p.named for p in same),
        labels,
        linked,
    )


def _merge_quoted(quoted: list[Person], speakers: list[Person]) -> list[Person]:
    """People quoted in the text, one per full name (a bare surname per document); one who is
    also a speaker somewhere becomes part of that speaker (changes `speakers` in place)."""
    by_name = {s.name: i for i, s in enumerate(speakers)}
    by_full: dict[str, int] = {}
    for i, s in enumerate(speakers):
        if not is_positional(s):
            for key in full_names(s):
                by_full.setdefault(key, i)
    merged: dict[tuple[str, str], Person] = {}
    for q in quoted:
        key = name_key(q.name)
        at = (
            by_name.get(q.name)
            if q.name in by_name
            else (by_full.get(key) if q.named and is_full_name(q.name) else None)
        )
        if at is not None:
            s = speakers[at]
            seats = {*s.seats, *((d, q.name) for d in q.doc_ids)}
            docs = tuple(sorted({*s.doc_ids, *q.doc_ids}))
            labels = tuple(sorted((d, n) for d, n in seats if d is not None)) if docs != s.doc_ids else s.labels
            speakers[at] = replace(s, doc_ids=docs, labels=labels)
            continue
        group = (q.name, "") if q.named and is_full_name(q.name) else (q.name, ",".join(q.doc_ids))
        old = merged.get(group)
        merged[group] = (
            q
            if old is None
            else replace(
                old,
                aliases=tuple(sorted(set(old.aliases) | set(q.aliases))),
                doc_ids=tuple(sorted(set(old.doc_ids) | set(q.doc_ids))),
                named=old.named and q.named,
            )
        )
    return list(merged.values())


def identity(p: Person) -> tuple[str, tuple[str, ...]]:
    """Who a person is, beyond how a label spells them: "Hon. Navdeep Bains (Minister of ...)" and
    "Hon. Navdeep Bains" are one person; a bare "Weber" is one person per document."""
    bare = strip_titles(re.sub(r"\([^)]*\)", " ", p.name)).lower() or p.name.lower()
    return (bare, ()) if p.named and len(bare.split()) >= 2 else (bare, p.doc_ids)


def _label_aliases(label: str, text: str = "", cased: bool = True) -> list[str]:
    """ "The Acting Chair (Mr. Bruce Stanton)" -> ["Bruce Stanton", "Stanton", "Bruce", ...].

    The first name is an alias when the text never uses it as a plain word ("Alice" for Alice
    Moreno, but not "Project" for the Project Manager of a meeting that talks about the project),
    or when the text has no case to tell names by (`cased` False: captions in lower case or in
    capitals).
    """
    out = []
    inner = re.findall(r"\(([^)]*)\)", label)
    for part in [re.sub(r"\([^)]*\)", " ", label), *inner]:
        bare = strip_titles(part)
        if bare and bare != label:
            out.append(bare)
        if bare and len(bare.split()) >= 2 and bare.split()[-1][0].isupper():
            out.append(bare.split()[-1])
            first, last = bare.split()[0], bare.split()[-1]
            title = part.split()[0] if part.split() else ""
            if title.lower().rstrip(".") in TITLES and len(part.split()) >= 3:
                out.append(f"{title} {last}")  # "Dr. Okafor" for Dr. Amaka Okafor
            if len(first) > 2 and len(last) > 2 and not (cased and has_word(text, first.lower())):
                out.append(first)
    return [a for a in out if a.lower() not in NOT_NAMES and a.lower() not in TITLES]


_NUMBERS = """zero one two three four five six seven eight nine ten eleven twelve thirteen fourteen fifteen
    sixteen seventeen eighteen nineteen twenty""".split()


def _number_words(label: str) -> set[str]:
    """A numbered label said with its number in words: "Juror 7" -> {"Juror seven"}."""
    m = re.fullmatch(r"([^\W\d_][\w\-]*(?: [^\W\d_][\w\-]*)*?)[ _](\d{1,2})", label)
    if m is None or int(m.group(2)) > 20:
        return set()
    return {f"{m.group(1)} {_NUMBERS[int(m.group(2))]}"}


def _label_roles(text: str, shaped: Iterable[tuple[str, tuple[str, ...]]]) -> dict[str, set[str]]:
    """Roles written in labels, by speaker (see `spelling`), never times: "MARIA LOPEZ (moderator):"
    -> {"maria lopez": {"moderator"}}; an office-holder's office is a role of the person named.
    `shaped`: the roles of labels in other shapes ("Rebecca Thorne -- Chief Executive Officer")."""
    from rag.formats.labels import read_label

    roles: dict[str, set[str]] = {}
    for m in re.finditer(r"^[^\n]*?[:：]", text, re.M):
        label = read_label(m.group(0) + " ")
        if label is not None and label.roles:
            roles.setdefault(spelling(label.name), set()).update(r for r in label.roles if r.strip())
    for name, written in shaped:
        roles.setdefault(spelling(name), set()).update(written)
    for found in roles.values():  # "Chief Executive Officer" is asked about as "the CEO"
        found.update({a for r in found if (a := _acronym(r))})
    return roles


def _acronym(role: str) -> str:
    """ "Chief Executive Officer" -> "CEO": three capitalised words, as officers' titles go; else ""."""
    words = role.split()
    return "".join(w[0] for w in words) if len(words) == 3 and all(w[0].isupper() for w in words) else ""


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
