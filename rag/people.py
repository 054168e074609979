"""Who is who in a document: its speakers with their aliases and roles, and the people it quotes.

Aliases come from the document itself ("former CIA Acting Director John McLaughlin" makes
"John McLaughlin" and "former CIA Acting Director" point at the label `McLaughlin`), from the
labels (`Hon. Bill Morneau` -> "Bill Morneau", "Morneau") and from a user alias map; people of
several documents are merged into one identity by `merge_people`. Matching names in questions
is `roster.py`'s job.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping

from rag.names import NOT_NAMES, TITLES, find_full_names, is_full_name, spelling, strip_titles
from rag.types import Document, Person, Turn


def find_people(
    doc: Document, turns: list[Turn], quoted: Iterable[str], aliases: Mapping[str, str] = {}
) -> list[Person]:
    """The speakers of a document with their aliases and roles, then the people it quotes."""
    narration = " ".join(doc.text[s:e] for t in turns if t.speaker is None for s, e in t.paragraphs)
    here = (doc.doc_id,)
    label_roles = _label_roles(doc.text)  # every label line read once, not once per speaker
    people = []
    speakers = sorted({t.speaker for t in turns if t.speaker is not None})
    after = _post_nominals(speakers)
    for name in speakers:
        base = name.rsplit(None, 1)[0] if name.split()[-1] in after else name  # "Sian Gwenllian AM" -> "Sian Gwenllian"
        names = set(_label_aliases(base, doc.text)) | ({base} if base != name else set())
        roles: set[str] = set()
        for full in find_full_names(narration, name.split()[-1]) if narration else []:
            names.add(full)
            roles.update(_roles(narration, full))
        names.update(a for a, target in aliases.items() if target.lower() == name.lower())
        roles.update(label_roles.get(spelling(name), ()))
        names.discard(name)
        named = not any(re.search(rf"\b{re.escape(w.lower())}\b", doc.text) for w in name.split() if len(w) > 2)
        people.append(Person(name, "speaker", tuple(sorted(names)), tuple(sorted(roles)), here, named))
    # A name the text uses for a speaker ("questions from Siân Gwenllian") is that speaker, not someone quoted.
    spoken = {n.lower() for p in people for n in (p.name, *p.aliases)}
    for name in sorted(set(quoted)):
        if name.lower() in spoken:
            continue
        people.append(Person(name, "quoted", tuple(find_full_names(doc.text, name)), (), here))
    return people


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


def identity(p: Person) -> tuple[str, tuple[str, ...]]:
    """Who a person is, beyond how a label spells them: "Hon. Navdeep Bains (Minister of ...)" and
    "Hon. Navdeep Bains" are one person; a bare "Weber" is one person per document."""
    bare = strip_titles(re.sub(r"\([^)]*\)", " ", p.name)).lower() or p.name.lower()
    return (bare, ()) if p.named and len(bare.split()) >= 2 else (bare, p.doc_ids)


def _label_aliases(label: str, text: str = "") -> list[str]:
    """ "The Acting Chair (Mr. Bruce Stanton)" -> ["Bruce Stanton", "Stanton", "Bruce", ...].

    The first name is an alias when the text never uses it as a plain word ("Alice" for Alice
    Moreno, but not "Project" for the Project Manager of a meeting that talks about the project).
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
            if len(first) > 2 and len(last) > 2 and not re.search(rf"\b{re.escape(first.lower())}\b", text):
                out.append(first)
    return [a for a in out if a.lower() not in NOT_NAMES and a.lower() not in TITLES]


def _label_roles(text: str) -> dict[str, set[str]]:
    """Roles written in labels, by speaker (see `spelling`), never times: "MARIA LOPEZ (moderator):"
    -> {"maria lopez": {"moderator"}}; an office-holder's office is a role of the person named."""
    from rag.formats.labels import read_label

    roles: dict[str, set[str]] = {}
    for m in re.finditer(r"^[^\n]*?[:：]", text, re.M):
        label = read_label(m.group(0) + " ")
        if label is not None and label.roles:
            roles.setdefault(spelling(label.name), set()).update(r for r in label.roles if r.strip())
    return roles


def _roles(text: str, full_name: str) -> list[str]:
    """Descriptions right before or after a full name: "former CIA Acting Director John X"."""
    roles = []
    for m in re.finditer(re.escape(full_name), text):
        before = re.split(r"[–—,;:(\[]|\band\b|(?<=[.!?])\s", text[max(0, m.start() - 120) : m.start()])
        cand = before[-1].strip() if before else ""
        if (
            2 <= len(cand.split()) <= 10
            and cand.split()[0].lower() in {"former", "the", "a", "an", "then", "current"} | TITLES
        ):
            roles.append(cand)
        after = re.match(r",\s+(?:a|an|the)?\s*((?:former|current|then)?[^,.;()]{3,80}),", text[m.end() :])
        if after and 2 <= len(after.group(1).split()) <= 10:
            roles.append(after.group(1).strip())
    return roles
