"""The one entry point: load an index once, then search and ask.

A question goes one way through the stages, each a module; this class only keeps their order:

    read (question.py) -> resolve (resolve.py) -> retrieve (search.py, ranking by the question's
    vector as relevance.py's learned model adapts it) -> decide (decide.py)
    -> verify (verify.py, when a language model writes the answer)

Example:
    pipe = Pipeline.load(Path("index"))
    answer = pipe.ask("What did Dannenberg say about Helsinki?")
    print(answer.text, answer.citations[0].quote)
"""

from __future__ import annotations

import logging
from collections.abc import Iterator, Mapping, Sequence
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING

from rag.answer import Quoter
from rag.config import Settings
from rag.decide import Decider, join_answers
from rag.embed import Embedder, QueryVectors
from rag.index import Index
from rag.opening import open_index
from rag.question import Query, check_question, read_question
from rag.relevance import RelevanceModel, load_model
from rag.resolve import Directory, Filters, Scope, resolve, search_scope, with_speaker
from rag.roster import Roster
from rag.route import route
from rag.search import Retriever
from rag.types import Answer, Chunk, Document, Hit, Person, Span, Turn

if TYPE_CHECKING:
    from rag.generate import Generator

log = logging.getLogger(__name__)


class Pipeline:
    """A loaded index and embedding model, ready to answer questions about the transcripts.

    Example:
        pipe = Pipeline.load(Path("index"))
        pipe.ask("What did Dannenberg say about Helsinki?").text
    """

    def __init__(
        self, index: Index, embedder: Embedder, settings: Settings = Settings(), *, generator: Generator | None = None
    ) -> None:
        self.index = index
        self.embedder = embedder
        self.settings = settings
        self.generator = generator  # an LLM for fluent answers, checked by rag.verify; None: extractive
        vectors = QueryVectors(embedder)
        # the learned relevance model (relevance.py) adapts the question's vector the retriever ranks by
        self.relevance = learned_model(index, settings)
        self.retriever = Retriever(index, vectors, settings, model=self.relevance)
        self.quoter = Quoter(index, vectors, settings)
        self.decider = Decider(index, self.retriever, self.quoter, settings)
        self._next: Pipeline | None = None  # over a newer generation of the index (`refreshed`)

    @classmethod
    def load(
        cls,
        path: Path | str = "index",
        *,
        settings: Settings = Settings(),
        embedder: Embedder | None = None,
        generator: Generator | None = None,
    ) -> Pipeline:
        """Load the index at `path` and the model it was built with.

        Raises:
            IndexNotFoundError, IndexCorruptError: nothing usable at `path`.
            IndexMismatchError: the index was built with another model than `settings` name.
        """
        index, embedder = open_index(Path(path), settings, embedder)
        return cls(index, embedder, settings, generator=generator)

    def refreshed(self) -> Pipeline:
        """This pipeline, or one over the generation of its index that a build (`rag add`, `rag
        remove`, `rag build`) swapped in since; a long-lived server calls it before each request."""
        index, newer = self.index.latest(), self._next
        if index is not self.index and (newer is None or newer.index is not index):
            newer = self._next = Pipeline(index, self.embedder, self.settings, generator=self.generator)
        return self if newer is None or index is self.index else newer

    # --- questions -------------------------------------------------------------------------------

    def ask(
        self,
        question: str,
        *,
        history: Sequence[str] = (),
        speaker: str | None = None,
        doc_id: str | None = None,
        k: int | None = None,
        after: str | None = None,
        before: str | None = None,
    ) -> Answer:
        """Answer a question with quotes from the transcripts, or refuse and say why.

        Args:
            history: earlier questions of the same conversation, oldest first (for follow-ups).
            speaker: only consider this speaker (label or alias); overrides the question's.
            doc_id: only consider this document.
            after, before: only documents dated in this range (ISO, "2024-05-14" or "2024-05").
        Raises:
            QuestionError: empty or overlong question, or a date not in ISO form.
            UnknownSpeakerError: `speaker` names nobody in the index.
        """
        where = Filters.of(speaker, doc_id, after, before)
        *_, answer = self._answers(question, history, where, k, partial=False)
        return answer

    def ask_stream(
        self,
        question: str,
        *,
        history: Sequence[str] = (),
        speaker: str | None = None,
        doc_id: str | None = None,
        k: int | None = None,
        after: str | None = None,
        before: str | None = None,
    ) -> Iterator[Answer]:
        """`ask`, for a chat that shows a model's answer as it is written: each yielded Answer
        holds the sentences verified so far (mode "generating"); the last one is what `ask`
        returns. Without a language model, or for a refusal, there is one Answer.
        """
        yield from self._answers(question, history, Filters.of(speaker, doc_id, after, before), k, partial=True)

    def _answers(
        self, question: str, history: Sequence[str], where: Filters, k: int | None, *, partial: bool
    ) -> Iterator[Answer]:
        """Read, then the extractive answer, or a model's checked one (as it is written when `partial`)."""
        question = check_question(question, self.settings.max_question_chars)
        query = self.read(question, history=history, speaker=where.speaker, doc_id=where.doc_id)
        answer, hits = self._extractive(query, history, where, k)
        if self.generator is None or not answer.answerable:
            yield answer
            return
        from rag.verify import Fluent

        fluent = Fluent(self.generator, self.index, self.roster, self.embedder, self.settings)
        yield from fluent.answers(query, hits, answer, history, partial=partial)

    def _extractive(
        self, query: Query, history: Sequence[str], where: Filters, k: int | None
    ) -> tuple[Answer, list[Hit]]:
        """Resolve, route, retrieve, decide: the quoted answer (or refusal) and the passages it drew on."""
        query, scope = self._scope(query, where)
        if scope.parts:  # people named together: one answer each
            return join_answers(query, [self._extractive(part, history, where, k) for part in scope.parts])
        hits: list[Hit] = []
        exclude: list[Span] = []
        if scope.is_searchable:
            hits = self.retriever.search(query, scope.rows, k or self.settings.k, with_topic=True)
            if query.wants_other:
                exclude = self._quoted_before(history, where, k)
        answer = self.decider.decide(query, scope, hits, exclude=exclude, premise=where.speaker is None, k=k)
        return answer, hits

    def _scope(self, query: Query, where: Filters) -> tuple[Query, Scope]:
        """Resolve, then route: a name that fits several people may be told apart by the topic
        (not when the caller chose the speaker)."""
        scope = resolve(query, self.index, self.directory, where)
        if where.speaker is None:
            query, scope = route(query, scope, self.index, self.retriever, self.quoter)
        return query, scope

    def _quoted_before(self, history: Sequence[str], where: Filters, k: int | None) -> list[Span]:
        """What the previous answer quoted ("what else" skips it)."""
        if not history:
            return []
        earlier = self.read(history[-1], history=history[:-1], speaker=where.speaker)
        previous, _ = self._extractive(earlier, history[:-1], where, k)
        return [(c.start, c.end) for c in previous.citations]

    def search(
        self,
        query: str,
        *,
        k: int = 5,
        speaker: str | None = None,
        doc_id: str | None = None,
        history: Sequence[str] = (),
        after: str | None = None,
        before: str | None = None,
    ) -> list[Hit]:
        """The best passages for `query`, best first, optionally by one speaker, in one document
        or in a date range.

        Each hit is a passage: a chunk and the replies after it (`Hit.turns`). A speaker named in
        the query ranks first without shutting out the rest (the question they answered, who
        disagreed); `speaker` given here is a filter: only their passages.
        """
        where = Filters.of(speaker, doc_id, after, before)
        text = check_question(query, self.settings.max_question_chars)
        q = self.read(text, speaker=speaker, history=history, doc_id=doc_id)
        q, scope = self._scope(q, where)
        rows, prior = search_scope(q, self.index, doc_id=doc_id, docs=scope.docs, only_named=speaker is not None)
        if speaker is not None and rows is not None and len(rows) == 0:
            return []
        return self.retriever.search(q, rows, k, prior=prior, passages=True)

    def read(
        self, question: str, *, history: Sequence[str] = (), speaker: str | None = None, doc_id: str | None = None
    ) -> Query:
        """How a question is understood: speaker filter, topic, follow-up (see `question.Query`).

        Names resolve within `doc_id` when it is given, else within the whole index.
        """
        query = read_question(question, self.directory.roster_for(doc_id), history=history)
        return query if speaker is None else with_speaker(query, self.directory.match_name(speaker, doc_id))

    # --- the corpus ------------------------------------------------------------------------------

    def speakers(self) -> list[Person]:
        """Everyone who speaks in the transcripts, with the aliases that find them."""
        return [p for p in self.people if p.kind == "speaker"]

    def resolve_speaker(self, name: str, *, doc_id: str | None = None) -> tuple[str, ...]:
        """Speaker names for a label, alias, role or near-miss spelling.

        Raises:
            UnknownSpeakerError: nobody matches, or several people do; the message lists them.
        """
        return self.directory.match_name(name, doc_id).names

    def roster_for(self, doc_id: str | None) -> Roster:
        """The people a question about `doc_id` can name (everyone when None), patterns compiled once."""
        return self.directory.roster_for(doc_id)

    def chunk(self, chunk_id: str) -> Chunk:
        """The indexed chunk with this id (a citation's `chunk_id`)."""
        row = self.index.chunks.find(chunk_id)
        if row is None:
            raise KeyError(chunk_id)
        return self.index.chunks[row]

    def passage(self, hit: Hit) -> str:
        """The text a hit stands for: its chunk, or for a passage the chunk through `hit.end`."""
        doc = self.documents[hit.chunk.doc_id]
        return doc.text[hit.chunk.start : hit.chunk.end if hit.end is None else hit.end]

    def turn(self, doc_id: str, index: int) -> Turn:
        """The speaker turn `index` of a document (its paragraphs give the full context of a quote)."""
        return self.index.transcripts[doc_id].turns[index]

    def count(self, *, speakers: Sequence[str] | None = None, doc_id: str | None = None) -> int:
        """How many passages a search with these filters looks at."""
        rows = self.index.rows(speakers=speakers, doc_id=doc_id)
        return len(self.index.chunks) if rows is None else len(rows)

    @property
    def chunks(self) -> Sequence[Chunk]:
        """Every indexed chunk, in index order."""
        return self.index.chunks

    @cached_property
    def directory(self) -> Directory:
        """Everyone in the index, with a roster per document."""
        return Directory(self.index.people())

    @property
    def people(self) -> list[Person]:
        return self.directory.people

    @property
    def roster(self) -> Roster:
        """Everyone in the index with their name patterns compiled once."""
        return self.directory.roster

    @property
    def documents(self) -> Mapping[str, Document]:
        """doc_id -> Document (read from the index when first asked for)."""
        return self.index.transcripts.documents()

    @property
    def idf(self) -> dict[str, float]:
        return self.quoter.idf


def learned_model(index: Index, settings: Settings) -> RelevanceModel | None:
    """The relevance model `settings` ask for, when it fits the index's encoder (else None, logged)."""
    if not settings.learned:
        return None
    model = load_model(settings.relevance_model)
    if not model.fits(index.manifest):
        log.info("relevance model %s fits %s vectors, not this index's; ranking without it", model.name, model.encoder)
        return None
    return model
