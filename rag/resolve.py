"""Resolve a read question to the people and rows it is about, or to a decision without searching.

A mention becomes people within the documents in scope (`Directory.roster_for`); a person who is
nowhere, a name that fits several people and a filter that leaves nothing are found here and
handed on as a `Scope`, and two people named together ("Alice and Bob") become one query each.
What to answer in each case is `decide.py`'s job; this module never composes an answer.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, replace

from rag.dates import check_iso, in_range, matches
from rag.errors import QuestionError, UnknownSpeakerError
from rag.index import Index
from rag.question import Query
from rag.roster import Mention, Roster
from rag.store import Rows
from rag.types import Person


@dataclass(frozen=True, slots=True)
class Scope:
    """Where a question is answered from: the rows a search may use (None: all), or why none.

    `unknown` is a person asked about who is in no document in scope (`people` lists who is);
    `ambiguous` a name that fits several people; `empty` a filter that leaves no row; `parts`
    one query per person named together, each resolved on its own.
    """

    doc_id: str | None = None
    rows: Rows | None = None
    unknown: str | None = None
    people: tuple[Person, ...] = ()
    ambiguous: Mention | None = None
    empty: bool = False
    parts: tuple[Query, ...] = ()
    docs: tuple[str, ...] | None = None  # the documents a date (or a date range) leaves in scope
    unclear: str = ""  # a pronoun with nobody to stand for ("What did he say?" with no history)

    @property
    def is_searchable(self) -> bool:
        """True when a search can answer the question (nothing decided without one)."""
        return (
            self.unknown is None and self.ambiguous is None and not self.empty and not self.parts and not self.unclear
        )


class Directory:
    """Everyone in the index, with a roster per document compiled when first asked for.

    Example: Directory(index.people()).roster_for("cipher-brief").match("What did Rob say?")
    """

    def __init__(self, people: Iterable[Person]) -> None:
        self.people = list(people)
        self.roster = Roster(self.people)
        self._rosters: dict[str, Roster] = {}

    def roster_for(self, doc_id: str | None) -> Roster:
        """The people a question about `doc_id` can name (everyone when None)."""
        if doc_id is None:
            return self.roster
        if doc_id not in self._rosters:
            self._rosters[doc_id] = Roster(p for p in self.people if not p.doc_ids or doc_id in p.doc_ids)
        return self._rosters[doc_id]

    def match_name(self, name: str, doc_id: str | None = None) -> Mention:
        """The one person `name` stands for (a label, alias, role or near-miss spelling).

        Raises:
            UnknownSpeakerError: nobody matches, or several people do; the message lists them.
        """
        roster = self.roster_for(doc_id)
        exact = tuple(p for p in roster.people if p.kind == "speaker" and p.name == name)
        mention = Mention((name,), name, "exact", 0, len(name), exact) if len(exact) == 1 else roster.match(name)
        if mention is None:
            speakers = [p.name for p in roster.people if p.kind == "speaker"]
            where = f" in {doc_id}" if doc_id else ""
            raise UnknownSpeakerError(
                f"no speaker matches {name!r}{where}; speakers: {', '.join(speakers) or '(none)'}"
            )
        if mention.how == "ambiguous":
            raise UnknownSpeakerError(
                f"{name!r} fits several speakers: {'; '.join(p.where for p in mention.people)}; "
                "give the full name or choose a document"
            )
        return mention


def with_speaker(query: Query, mention: Mention) -> Query:
    """`query` about the person a speaker filter names, whatever the question's words named.

    A pronoun is read against the filter: with no earlier person it is the filter's ("What did he
    say?" with the speaker chosen); standing for an earlier person who is not the filter's, it is
    unclear and gets a question back (`clash`), never silently either one.
    """
    if query.pronoun and set(query.speakers or ()) != set(mention.names):
        return replace(query, unclear=query.pronoun, clash=mention.names)
    query = replace(query, speakers=mention.names, people=mention.people, unknown=None, unclear="")
    if query.mention is not None and query.mention.how in ("ambiguous", "several"):
        query = replace(query, mention=mention)
    return query


@dataclass(frozen=True, slots=True)
class Filters:
    """What a caller narrowed a question to: a speaker, a document, a date range (ISO strings)."""

    speaker: str | None = None
    doc_id: str | None = None
    after: str | None = None
    before: str | None = None

    @classmethod
    def of(cls, speaker: str | None, doc_id: str | None, after: str | None, before: str | None) -> Filters:
        """Filters with the dates checked.

        Raises:
            QuestionError: a date that is not YYYY-MM-DD or YYYY-MM.
        """
        try:
            after = None if after is None else check_iso(after, "after")
            before = None if before is None else check_iso(before, "before")
        except ValueError as err:
            raise QuestionError(str(err)) from err
        return cls(speaker, doc_id, after, before)


def resolve(query: Query, index: Index, directory: Directory, where: Filters = Filters()) -> Scope:
    """The scope `query` is answered from (see `Scope`): within `where.doc_id`, the documents
    dated as the question says ("at the 14 May 2024 meeting") and those in `where`'s range."""
    doc_id = where.doc_id
    if query.unclear:
        return Scope(doc_id, unclear=query.unclear)
    if query.unknown is not None:
        return Scope(doc_id, unknown=query.unknown, people=tuple(directory.roster_for(doc_id).people))
    docs = dated(index, query.when, where.after, where.before, doc_id)
    mention = query.mention
    if mention is not None and mention.how == "ambiguous" and docs is not None:
        fits = tuple(p for p in mention.people if set(p.doc_ids) & set(docs))
        if len(fits) == 1:  # the date says which one
            query = replace(
                query, speakers=(fits[0].name,), people=fits, mention=replace(mention, how="date", people=fits)
            )
            mention = query.mention
        elif fits:
            mention = replace(mention, people=fits)
    if mention is not None and mention.how == "ambiguous":
        return Scope(doc_id, ambiguous=mention, docs=docs)
    if mention is not None and mention.how == "several" and query.people:
        parts = tuple(replace(query, speakers=(p.name,), people=(p,), mention=None) for p in query.people)
        return Scope(doc_id, parts=parts, docs=docs)
    rows = index.rows(speakers=query.speakers, doc_id=doc_id, people=query.people, docs=docs)
    return Scope(doc_id, rows=rows, empty=rows is not None and len(rows) == 0, docs=docs)


def dated(
    index: Index, when: tuple[str, ...], after: str | None, before: str | None, doc_id: str | None
) -> tuple[str, ...] | None:
    """The documents whose dates fit (None: no date asked for, every document)."""
    if not when and after is None and before is None:
        return None
    return tuple(
        d
        for d, date in index.dates().items()
        if (doc_id is None or d == doc_id) and in_range(date, after, before) and all(matches(date, w) for w in when)
    )


def search_scope(
    query: Query, index: Index, *, doc_id: str | None, only_named: bool, docs: tuple[str, ...] | None = None
) -> tuple[Rows | None, Rows | None]:
    """The rows a passage search looks at and the rows that rank first (the named speaker's).

    With `only_named` (a speaker filter) the speaker's rows are a wall; else they are a prior and
    everyone's rows stay reachable (within `docs`, when a date or the topic chose documents). A
    name that fits several people searches everyone.
    """
    if query.mention is not None and query.mention.how == "ambiguous":
        query = replace(query, speakers=None, people=None)
    named = (
        index.rows(speakers=query.speakers, doc_id=doc_id, people=query.people, docs=docs) if query.speakers else None
    )
    if only_named:
        return named, None
    prior = named if named is not None and len(named) else None
    return index.rows(doc_id=doc_id, docs=docs), prior
