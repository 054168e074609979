"""Names the text itself gives a document's labels: self-introductions, hosts introducing guests,
full names written for a first-name label, and appearance lists.

    "SPEAKER_01: Hi, it's Arjun Mehta."                  SPEAKER_01 is Arjun Mehta
    "Phone User_4: Hi, sorry, it's Benedek Szalai, ..."  Phone User_4 is Benedek Szalai
    "KWAME: My guest today is Dr. Inês Carvalho."        INÊS (the next label) is Inês Carvalho
    "In the room: Callum Reid (producer), ..."           the label Callum is Callum Reid
    "Hearing Officer: Judith Lambert" (an appearance)    HEARING OFFICER LAMBERT is Judith Lambert

Only names the document states are taken, and only when they fit one label: a name two labels
claim, or a label introduced by two names, links to nobody (a wrong name is worse than none).
The names become aliases of the speaker (the label stays the speaker's name in answers).
"""

from __future__ import annotations

import re
from collections.abc import Iterable

from rag.formats.labels import is_diarized
from rag.names import HONORIFICS, NOT_NAMES, PERSON_ROLES, TITLES, common_words, fold_name, is_person_noun, strip_titles
from rag.types import Document, Turn

_TOKEN = r"[A-ZÀ-ÖØ-ÞĀ-ſ][\w'’\-]*\w"
_PARTICLE = r"van|von|de|der|den|da|del|la|le|du"
_FULL = rf"(?:(?:Dr|Mr|Mrs|Ms|Miss|Prof|Professor)\.?\s+)?{_TOKEN}(?:[ \t]+(?:{_TOKEN}|{_PARTICLE})){{0,3}}"
_SELF = re.compile(
    rf"(?:\b(?i:I['’]m|I am|my name is|you['’]re speaking (?:with|to)|you['’]re through to)\s+(?P<a>{_FULL})"
    rf"|\b(?i:this is|it['’]s|it is)\s+(?P<b>{_FULL})(?=\s+(?:here|calling|from|for|with|at|on)\b|,|\s*[.!]|\s*$)"
    rf"|^(?:\W*(?i:and|hi|hello|yes|yeah|ok|okay|sorry)\b\W*)*(?P<c>{_FULL})\s+here\b)",
)
_GUEST = re.compile(
    rf"\b(?i:my guest (?:today |tonight |this week )?is|joining (?:me|us) (?:today |now )?is|"
    rf"I['’]m (?:here |sitting |talking )?with|I['’]m joined by|please welcome|welcome,?)"
    rf"\s+(?:the\s+[\w\s]{{0,40}}?\s+)?(?P<name>{_FULL})",
)


def given_names(doc: Document, turns: list[Turn], named: dict[str, bool]) -> dict[str, set[str]]:
    """Speaker -> full names the text gives them. `named`: whether a label is a personal name
    (a first-name label looks for its surname; an id or a role label for a whole name)."""
    common = common_words(doc.text)
    claims: dict[str, set[str]] = {}
    anonymous = {s for s, is_named in named.items() if not is_named or is_diarized(s) or len(s.split()) == 1}
    written = {s: _full_names_of(doc.text, s, common) for s in anonymous if len(s.split()) == 1}
    own: dict[str, list[str]] = {}  # each anonymous speaker's first paragraphs, in one pass
    for t in turns:
        if t.speaker in anonymous:
            own.setdefault(t.speaker, []).extend(doc.text[s:e] for s, e in t.paragraphs)
    for speaker in anonymous:
        found = {n for text in own.get(speaker, [])[:6] for n in _introductions(_SELF, text, common)}
        if written.get(speaker):
            # a first name ("Nina", written as Nina Castellanos) introduces only herself
            found = {n for n in found if fold_name(speaker) in fold_name(n).split()}
        if len(found) == 1:
            claims.setdefault(speaker, set()).update(found)
    for before, after in zip(turns, turns[1:], strict=False):
        if after.speaker in anonymous and after.speaker != before.speaker and before.speaker is not None:
            said = doc.text[before.start : before.end]
            found = set(_introductions(_GUEST, said[-300:], common))
            if len(found) == 1 and after.speaker not in claims:
                claims[after.speaker] = found
    for speaker in anonymous:
        full = written.get(speaker, set())
        if named.get(speaker) and speaker not in claims and len(full) == 1:
            claims[speaker] = full
    return _fitting(claims, named)


def _introductions(pattern: re.Pattern[str], text: str, common: frozenset[str]) -> list[str]:
    out = []
    for m in pattern.finditer(text):
        raw = next(g for g in m.groups() if g)
        name = _clean(raw, common)
        if name:
            out.append(name)
    return out


def _clean(raw: str, common: frozenset[str]) -> str:
    """A name as introduced, without words the text uses in lower case ("it's Benedek Szalai")."""
    words = raw.split()
    keep: list[str] = []
    for w in words:
        low = w.lower().rstrip(".")
        if keep and (low in common and w[0].isupper() and low not in {"van", "von", "de", "der", "da", "la"}):
            break
        if not keep and (low in NOT_NAMES or (low in common and low not in TITLES)):
            return ""
        keep.append(w)
    name = " ".join(keep)
    bare = strip_titles(name)
    return name if bare and bare.lower() not in NOT_NAMES else ""


def _full_names_of(text: str, first: str, common: frozenset[str]) -> set[str]:
    """ "Callum" -> {"Callum Reid"} when the text writes "Callum Reid" (in any case)."""
    found = set()
    pattern = re.compile(rf"(?<![\w])(?i:{re.escape(first)})[ \t]+(?P<last>{_TOKEN}(?:-{_TOKEN})?)(?![\w'’])")
    for m in pattern.finditer(text):
        last = m.group("last")
        if last.lower() in common or last.lower() in NOT_NAMES or last.lower() in TITLES | _ROLE_NOUNS:
            continue
        found.add(f"{first} {last.title() if last.isupper() else last}")
    return {max(found)} if len({fold_name(f) for f in found}) == 1 else set()


# Words that make "Marketing Expert" a role, not a first name and a surname.
_ROLE_NOUNS = frozenset("expert manager designer officer engineer lead team department group committee staff".split())


def _fitting(claims: dict[str, set[str]], named: Iterable[str]) -> dict[str, set[str]]:
    """Claims that fit one label: a name claimed for two labels, or one that is another label's
    own name, is nobody's."""
    labels = {fold_name(strip_titles(n) or n) for n in named}
    by_name: dict[str, set[str]] = {}
    for speaker, names in claims.items():
        for n in names:
            by_name.setdefault(fold_name(strip_titles(n)), set()).add(speaker)
    out = {}
    for speaker, names in claims.items():
        kept = {
            n
            for n in names
            if len(by_name[fold_name(strip_titles(n))]) == 1
            and (fold_name(strip_titles(n)) not in labels or fold_name(strip_titles(n)) == fold_name(speaker))
        }
        if kept:
            out[speaker] = kept
    return out


_ADDRESS = re.compile(
    r"\b(?:Dr|Mr|Mrs|Ms|Miss|Mx|Prof|Professor|Madam|Mister|Chairwoman|Chairman|Councillor|Judge|Coach|Chief)\.?\s+"
    r"(?P<word>[^\W\d_][\w'’\-]*)"
)


def address_forms(text: str) -> list[tuple[str, str]]:
    """Every word the text puts after a title, folded, with the folded word after it ("" at none):
    read once per document, then matched against each speaker's name (`addressed_as`)."""
    out = []
    for m in _ADDRESS.finditer(text):
        after = re.match(r"[ \t]+([^\W\d_][\w'’\-]*)", text[m.end() : m.end() + 40])
        out.append((fold_name(m.group("word")), fold_name(after.group(1)) if after else ""))
    return out


def addressed_as(forms: list[tuple[str, str]], name: str) -> set[str]:
    """Words of a speaker's name the text puts after a title ("Dr. Nguyễn", "Ms. Kovács"): the
    name a person is addressed by, wherever it sits in the name (family names first too).
    `forms`: `address_forms(text)`."""
    words = {fold_name(w): w for w in name.split() if len(w) >= 2 and w[0].isupper() and w.lower() not in TITLES}
    if len(words) < 2:
        return set()
    # "Dr. Nguyễn," but not the "Don" of "Mr. Don Davies"
    return {words[key] for key, after in forms if key in words and after not in words and key not in NOT_NAMES}


def listed_people(appearances: Iterable[tuple[str, str]], speakers: Iterable[str]) -> dict[str, list[tuple[str, str]]]:
    """Speaker -> (role, full name) from the document's appearance lines: "Hearing Officer: Judith
    Lambert" for the label HEARING OFFICER LAMBERT, "For the Board: Gideon Abernathy, Assistant
    Attorney General" for MR. ABERNATHY (the role is the description when there is one). A
    surname two speakers share links to neither."""
    by_surname: dict[str, list[str]] = {}
    for s in speakers:
        words = strip_titles(s).split() or s.split()
        by_surname.setdefault(fold_name(words[-1]), []).append(s)
    out: dict[str, list[tuple[str, str]]] = {}
    for role, names in appearances:
        person, _, description = names.partition(",")
        full = strip_titles(person.strip())
        if len(full.split()) < 2:
            continue
        full = " ".join(w.title() if w.isupper() and len(w) > 2 else w for w in full.split())
        fits = by_surname.get(fold_name(full.split()[-1]), [])
        if not fits:  # "In the chair: ..." names the speaker labelled THE CHAIR
            head = fold_name(role.split()[-1])
            fits = [s for s in speakers if fold_name(s) == f"the {head}"]
        if len(fits) == 1:
            what = description.strip() if len(description.strip(" .")) > 3 else role
            out.setdefault(fits[0], []).append((what if what[:1].isupper() or what == "witness" else role, full))
    return out


_SELF_ROLE = re.compile(
    r"\b(?i:I['’]m|I am)\s+(?P<article>the\s+|a\s+|an\s+|your\s+)?(?P<role>(?:[a-z][\w\-]*\s+){0,3}[a-z][\w\-]*)\b"
)
_INTRO_ROLE = re.compile(
    rf"\b(?i:my guest (?:today |tonight |this week )?is|joining (?:me|us) (?:today |now )?is|please welcome)\s+"
    rf"(?:the\s+|our\s+)?(?P<role>(?:[a-z][\w\-]*\s+){{0,3}}?)(?P<name>{_FULL})"
)


def given_roles(doc: Document, turns: list[Turn], aliases: dict[str, set[str]]) -> dict[str, set[str]]:
    """Speaker -> roles the text gives them: "I'm the facilities manager" in their own words; "my
    guest today is the marine ecologist Dr. Inês Carvalho" makes Inês the guest (and a marine
    ecologist) and the one who says it the host. `aliases`: each speaker's names, to find whom an
    introduction names (one speaker, or nobody)."""
    out: dict[str, set[str]] = {}
    for t in turns:
        if t.speaker is None:
            continue
        said = doc.text[t.start : t.end]
        for m in _SELF_ROLE.finditer(said):
            words = m.group("role").split()
            while words and not _is_role(" ".join(words)):
                words.pop()  # "facilities manager at Harborline": up to the noun for a person
            if words and not m.group("article") and words[-1].lower() not in PERSON_ROLES:
                words = []  # without "a"/"the" only a known role: "I'm incident commander", not "I'm asking whether"
            if words:
                out.setdefault(t.speaker, set()).add(" ".join(words))
        for m in _INTRO_ROLE.finditer(said):
            named = fold_name(strip_titles(m.group("name")))
            fits = [s for s, names in aliases.items() if s != t.speaker and named in {fold_name(n) for n in names}]
            if len(fits) == 1:
                role = " ".join(m.group("role").split())
                out.setdefault(fits[0], set()).update({"guest", *([role] if _is_role(role) else [])})
                out.setdefault(t.speaker, set()).add("host")
    return out


def _is_role(role: str) -> bool:
    """ "facilities manager", "marine ecologist" (a noun for a person); not "bit torn"."""
    return bool(role) and is_person_noun(role.split()[-1])


_HANDOFF = re.compile(
    r"\b(?P<title>Mr|Mrs|Ms|Miss|Mx|Dr|Prof|Professor|Councillor|Judge)\.?\s+"
    r"(?P<surname>(?:(?:van|von|der|den|de|la|le|du|da|del|di)\s+)*[^\W\d_][\w'’\-]*)"
)


def addressed_next(doc: Document, turns: list[Turn]) -> dict[str, set[str]]:
    """Speaker -> the title and surname the speaker before them hands over with ("Mr. van der
    Berg?", "Mrs. van der Berg, go ahead"): the form of address that tells two namesakes apart.
    The surname must end the next speaker's name; a form given to two speakers is nobody's."""
    out: dict[str, set[str]] = {}
    for before, after in zip(turns, turns[1:], strict=False):
        if before.speaker is None or after.speaker is None or before.speaker == after.speaker:
            continue
        tail = doc.text[max(before.start, before.end - 160) : before.end]
        last = fold_name(after.speaker.split()[-1])
        for m in _HANDOFF.finditer(tail):
            if fold_name(m.group("surname").split()[-1]) == last:
                out.setdefault(f"{m.group('title')}. {m.group('surname')}", set()).add(after.speaker)
    by_speaker: dict[str, set[str]] = {}
    for form, speakers in out.items():
        if len(speakers) == 1:
            by_speaker.setdefault(next(iter(speakers)), set()).add(form)
    return by_speaker


# "Now, admiral, you said ...", "Senator, do you recall ...": a title or office said to someone,
# not before a name. "Thank you, Senator" thanks the one who just spoke, so it is left out.
_VOCATIVE = re.compile(
    r"(?:^|(?<!\b[MD]r)(?<!\bMrs)(?<!\bMs)[.!?:;]\s+|,\s*)(?<!thank you, )(?<!thanks, )([A-Za-z][a-z]+)\s*(?=[,?])"
)
_NOT_RANKS = HONORIFICS | {"the", "then", "former", "current"}


def vocative_roles(doc: Document, turns: list[Turn]) -> dict[str, set[str]]:
    """Speaker -> the titles the speaker before them addresses them by ("Now, admiral, ..." before
    Poindexter answers: he is the admiral). Only a title said at least twice, always to the same
    speaker; never thanks ("Thank you, Senator" is said to the one who spoke), "Mr. President" or a
    title before a name ("Admiral Poindexter" is a name, read elsewhere)."""
    given: dict[str, list[str]] = {}
    for before, after in zip(turns, turns[1:], strict=False):
        if before.speaker is None or after.speaker is None or before.speaker == after.speaker:
            continue
        for a, b in before.paragraphs:
            for m in _VOCATIVE.finditer(doc.text[a:b]):
                word = m.group(1).lower()
                if word not in _NOT_RANKS and (word in TITLES or word in PERSON_ROLES) and len(word) > 3:
                    given.setdefault(word, []).append(after.speaker)
    out: dict[str, set[str]] = {}
    for word, speakers in given.items():
        if len(speakers) >= 2 and len(set(speakers)) == 1:
            out.setdefault(speakers[0], set()).add(word)
    return out
