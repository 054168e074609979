"""What a person's name looks like in text: titles, surnames, speech verbs, people reported as saying.

Pure functions over strings, shared by reading documents (`people.py`), matching questions
(`roster.py`) and reading questions (`question.py`). Nothing here knows a document's speakers.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Collection, Iterable

from rag.formats.labels import is_diarized

NAME_TOKEN = r"[A-Z][\w'’\-]*[\w]"


_VERBS = (
    r"said|says|wrote|writes|told|tells|added|stated|tweeted|posted|declared|argued|noted|"
    r"warned|claimed|insisted|explained|recalled|announced|replied|responded|suggested|asked|"
    r"remarked|commented|observed|testified"
)


_QUOTE_BEFORE = re.compile(
    rf"(?P<name>{NAME_TOKEN}(?:\s+{NAME_TOKEN}){{0,4}})(?<!’s)(?<!'s)"
    rf"(?:\s+\w+ly)?\s+(?:{_VERBS})\b"
    rf"|(?P<owner>{NAME_TOKEN})(?:’s|'s)\s+(?:\w+\s+){{0,2}}"
    r"(?:speech|statement|remarks|address|interview|post|letter|message|article|op-ed|tweet)\b"
)


_QUOTE_AFTER = re.compile(rf"[,”\"]\s*(?:{_VERBS})\s+(?P<name>{NAME_TOKEN}(?:\s+{NAME_TOKEN}){{0,3}})")


# Words that sit in front of names but are not names.
TITLES = frozenset(
    """president vice prime minister secretary deputy foreign defense defence state director
    acting chief general gen lt col colonel major captain admiral senator sen rep representative
    governor gov chancellor ambassador minister mr mrs ms miss dr prof professor sir dame lord lady
    hon honourable honorable right the former then current king queen prince princess pope judge
    justice mayor speaker chairman chairwoman chair commissioner spokesman spokeswoman spokesperson
    councillor councilor cllr councilmember councilman councilwoman alderman alderwoman delegate
    assemblymember assemblyman assemblywoman
    host co-host guest moderator anchor correspondent reporter interviewer narrator panelist
    envoy official officials leader diplomat politician analyst veteran am mp ms mep
    cia fbi nsa nato un us u.s. eu uk""".split()
)


# Titles that say how a person is addressed, not what office they hold ("Dr. Weber" is not "the
# doctor"; "Now, sir, ..." names no role).
HONORIFICS = frozenset(
    "mr mrs ms miss mx dr prof professor sir madam ma'am dame lord lady hon honourable honorable right".split()
)


# Lower-case words inside a family name: "van der Berg", "de la Cruz", "bin Salman".
PARTICLES = frozenset("van von der den de la le du da del della di dos das bin ibn al el ter".split())


# Words after a name that are not part of it: "John G. Roberts, Jr.", "Martin Luther King III".
SUFFIXES = frozenset("jr jr. sr sr. ii iii iv esq esq. phd".split())
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


_SPEECH_VERBS = (
    r"say|said|think|thought|believe|write|wrote|mean|argue|claim|suggest|tell|told|want|"
    r"recommend|propose|feel|comment|mention|predict|warn|describe|explain|learn|"
    r"discuss|note|state|ask|add|insist|stress|emphasi[sz]e|worry|fear|expect|make of|view|see|"
    r"rule|promise|report|answer|reply|respond|admit|testify|announce|agree|decide|offer"
)


_SLOT = re.compile(
    rf"\b(?:did|does|do|has|have|had|would|will|could|might)\s+(?P<a>[^?,;]{{1,80}}?)\s+(?:{_SPEECH_VERBS})\b"
    rf"|\baccording to\s+(?P<b>[^?,;]{{1,80}}?)(?=\s*(?:[?,;.]|$|\b(?:what|how|why|is|was|are|were|did|does)\b))"
    rf"|(?P<c>\b[\w'’\- ]{{1,60}}?)(?:’s|'s)\s+(?:view|views|opinion|position|take|argument|point|answer|"
    r"comments?|remarks?|words|assessment|advice|warning|concern)\b",
    re.I,
)
# A follow-up that is only the person: "And Kenji?", "What about the treasurer?"
_ALONE = re.compile(
    r"^\s*(?:and|what about|how about)\s+(?!(?:what|who|how|why|when|where)\b)([^?,;]{1,60}?)\s*[?.!]?\s*$", re.I
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


def alone_slot(question: str) -> tuple[int, int] | None:
    """Where a follow-up that is only a person puts them: "What about <the treasurer>?", "And
    <Kenji>?". Only a speaker can fill it: "What about Putin?" asks about the topic Putin, and
    "And the Drava gauges?" names nobody."""
    alone = _ALONE.match(question)
    return alone.span(1) if alone else None


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
            full = strip_titles(m.group(group))
            if full and full.split()[-1].lower() not in skip and not _CONTRACTION.search(full):
                found.append((m.start(group), full.split()[-1]))
    if _is_lower_case(text):  # auto-captions: "professor lena marsh said"; the title is the evidence
        for m in _LOWER_QUOTE.finditer(text):
            surname = m.group("name").split()[-1].title()
            if surname.lower() not in {e.lower() for e in exclude} and surname.lower() not in NOT_NAMES:
                found.append((m.start("name"), surname))
    seen: dict[str, None] = {}
    for _, name in sorted(found):
        seen.setdefault(name, None)
    return tuple(seen)


_LOWER_QUOTE = re.compile(
    r"\b(?:professor|prof|dr|doctor|mr|mrs|ms|mayor|senator|sheriff|chief|officer|councillor|councilman|"
    r"councilwoman|judge|governor|minister|president|commissioner|superintendent)\.?\s+"
    rf"(?P<name>[a-z][a-z'’\-]+(?:\s+[a-z][a-z'’\-]+)?)\s+(?:{_VERBS})\b"
)


def _is_lower_case(text: str) -> bool:
    """Text written without capitals (auto-captions), where a capital letter is no evidence of a name."""
    sample = text[:2000]
    letters = sum(map(str.isalpha, sample))
    return letters >= 30 and sum(map(str.isupper, sample)) <= letters // 100


# "I've said", "We'll say": a pronoun's contraction, never a name (O'Brien, D'Souza go on in capitals).
_CONTRACTION = re.compile(r"[’'][a-z]{1,2}\b")


def common_words(text: str) -> frozenset[str]:
    """The words a document writes in lower case: a capitalised one among them ("Having said
    that", "Education said") is an ordinary word at the start of a sentence, not a name."""
    return frozenset(re.findall(r"\b[a-z][a-z’'\-]*\b", text))


def find_full_names(text: str, surname: str) -> list[str]:
    """Full names used for a surname in the text: ("Medvedev") -> ["Dmitry Medvedev"]."""
    names = []
    for m in re.finditer(rf"(?P<first>{NAME_TOKEN})\s+{re.escape(surname)}\b", text):
        first = m.group("first")
        if first.lower() not in TITLES and first.lower() not in NOT_NAMES:
            names.append(f"{first} {surname}")
    return sorted(set(names))


def is_full_name(name: str) -> bool:
    """A first and last name (titles aside) that links one person across documents: "Anna Weber"."""
    bare = strip_titles(name)
    words = bare.split()
    return len(words) >= 2 and not is_diarized(name) and all(w[:1].isupper() and len(w) > 1 for w in words)


def asked_about_person(question: str) -> str | None:
    """A capitalised name where the speaker goes ("did Zelensky say"), known or not."""
    slot = speech_slot(question, possessive=False)
    if slot is None:
        return None
    said = question[slot[0] : slot[1]]
    names = re.findall(rf"{NAME_TOKEN}(?:\s+{NAME_TOKEN}){{0,2}}", said)
    for name in names:
        bare = strip_titles(name)
        if bare:
            return bare
    role = re.fullmatch(r"\s*(?:the|a|an|our|their|your)\s+(?:[a-z][\w\-]*\s+){0,2}(?P<noun>[a-z][\w\-]*)\s*", said)
    if role and role.group("noun") in PERSON_ROLES:
        return " ".join(said.split())  # "the judge": someone, by role
    return None


# Nouns that name a person by what they do: "What did the judge rule" asks about someone.
PERSON_ROLES = frozenset(
    """judge witness nurse dentist doctor clerk juror coach treasurer secretary chair chairman
    chairwoman chairperson host co-host guest caller reporter correspondent moderator interviewer
    interviewee officer ceo cfo coo cto president mayor councillor senator professor lawyer attorney
    counsel prosecutor defendant plaintiff videographer translator interpreter operator anchor
    narrator presenter editor producer inspector keeper engineer analyst captain pilot commander
    receptionist manager accountant architect sheriff detective paramedic teacher principal
    leader general spokesperson spokesman spokeswoman official member representative deputy
    minister director chief governor ambassador admiral colonel lieutenant sergeant commissioner
    chancellor""".split()
)


def is_person_noun(word: str) -> bool:
    """A noun for a person by what they do: "treasurer", "ecologist", "director"; not "north".

    Example: is_person_noun("inspector") -> True; is_person_noun("video") -> False
    """
    w = word.lower()
    return w in PERSON_ROLES or (len(w) > 4 and w.endswith(("er", "or", "ist", "ian", "ant")))


def spelling(name: str) -> str:
    """A name compared case- and dot-insensitively: "MS. PATEL" and "Ms. Patel" -> "ms patel"."""
    return " ".join(name.split()).lower().replace(".", "")


def strip_titles(name: str) -> str:
    """A name without the titles, offices, suffixes and middle initials around it:
    "Foreign Minister Sergei Ryabkov" -> "Sergei Ryabkov", "John G. Roberts, Jr." -> "John Roberts"."""
    tokens = [t.rstrip(".,") for t in name.split()]
    while tokens and (tokens[0].lower().rstrip(".") in TITLES or tokens[0].lower() in NOT_NAMES):
        tokens.pop(0)
    while tokens and (tokens[-1].lower().rstrip(".") in TITLES or tokens[-1].lower() in SUFFIXES):
        tokens.pop()
    if len(tokens) > 2:  # middle initials and particles are not part of the name that links:
        # "Harold T. Morrow" -> "Harold Morrow", "Els van der Berg" -> "Els Berg" (not "der Berg")
        tokens = [tokens[0], *(t for t in tokens[1:-1] if len(t) > 1 and t not in PARTICLES), tokens[-1]]
    # Keep at most "First Last"; a run like "Foreign Minister Sergei Ryabkov" ends in the name.
    tokens = [re.sub(r"(?:’s|'s)$", "", t) for t in tokens[-2:]]
    if len(tokens) == 2 and (tokens[0].lower() in TITLES or tokens[0].lower().endswith(("ian", "ish", "ese"))):
        tokens = tokens[1:]
    if not tokens or any(t.lower() in NOT_NAMES for t in tokens):
        return ""
    return " ".join(tokens)


def name_key(name: str) -> str:
    """A name as compared across documents: case, accents, titles, suffixes and middle names
    aside, first and last word. "Harold T. Morrow, Jr." -> "harold morrow", "Siân Gwenllian AM"
    -> "sian gwenllian", "JUSTICE GORSUCH" -> "gorsuch"; "" when nothing name-like is left."""
    inner = re.findall(r"\(([^)]*)\)", name)
    person = next((x for x in inner if is_full_name(strip_titles(x))), None)
    bare = strip_titles(person if person is not None else re.sub(r"\([^)]*\)", " ", name))
    words = bare.split()
    if not words:
        return ""
    key = f"{words[0]} {words[-1]}" if len(words) >= 2 else words[0]
    folded = unicodedata.normalize("NFKD", key.casefold())
    return "".join(ch for ch in folded if not unicodedata.combining(ch))


_BASE = str.maketrans({"ø": "o", "Ø": "o", "ł": "l", "Ł": "l", "đ": "d", "Đ": "d", "ı": "i", "-": " ", "‐": " "})


def fold_name(text: str) -> str:
    """A name (or a question) compared without case, accents or hyphens, one character for one, so
    that a match's offsets are the original's: "Inês" = "Ines", "Søren" = "Soren", "Jean-Luc" =
    "Jean Luc", "Nguyễn" = "Nguyen".

    Example: fold_name("Dr. Anne-Sophie Ilić") -> "dr. anne sophie ilic"
    """
    out = []
    for ch in text.translate(_BASE):
        base = unicodedata.normalize("NFKD", ch)
        kept = "".join(c for c in base if not unicodedata.combining(c)) or ch
        low = kept.lower()
        out.append(low if len(low) == 1 else ch.lower() if len(ch.lower()) == 1 else ch)
    return "".join(out)
