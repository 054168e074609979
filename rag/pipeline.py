"""The one entry point: load an index once, then search and ask.

Example:
    pipe = Pipeline.load(Path("index"))
    answer = pipe.ask("What did Dannenberg say about Helsinki?")
    print(answer.text, answer.citations[0].quote)
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import replace
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from rag.answer import answer_question, idf_table, refuse
from rag.config import Settings
from rag.embed import Embedder, load_embedder, model_fingerprint, packaged_model_path
from rag.errors import IndexMismatchError, QuestionError, UnknownSpeakerError
from rag.index import Index
from rag.people import Roster
from rag.search import Query, dense_search, dense_text, hybrid_search, query_text, read_question
from rag.text import tokenize
from rag.types import Answer, Chunk, Document, Hit, Person, Turn

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
        path = Path(path)
        index = Index.load(path)
        manifest = index.manifest
        if embedder is None:
            _check_model(manifest, settings, path)
            model_path = settings.model_path or packaged_model_path()
            onnx = path / "encoder.onnx" if settings.backend in ("auto", "onnx") else None
            embedder = load_embedder(model_path, name=settings.model_name, onnx_path=onnx)
        if embedder.dim != manifest.get("dim"):
            raise IndexMismatchError(
                f"{path}/ holds {manifest.get('dim')}-d vectors, the model makes {embedder.dim}-d; "
                f"run: rag build --index {path}"
            )
        return cls(index, embedder, settings, generator=generator)

    # --- questions -------------------------------------------------------------------------------

    def ask(
        self,
        question: str,
        *,
        history: Sequence[str] = (),
        speaker: str | None = None,
        doc_id: str | None = None,
        k: int | None = None,
    ) -> Answer:
        """Answer a question with quotes from the transcripts, or refuse and say why.

        Args:
            history: earlier questions of the same conversation, oldest first (for follow-ups).
            speaker: only consider this speaker (label or alias); overrides the question's.
            doc_id: only consider this document.
        Raises:
            QuestionError: empty or overlong question.
            UnknownSpeakerError: `speaker` names nobody in the index.
        """
        question = self._check(question)
        query = self.read(question, history=history, speaker=speaker)
        answer, hits = self._extractive(query, history, speaker=speaker, doc_id=doc_id, k=k)
        if self.generator is None or not answer.answerable:
            return answer
        return self._generate(query, hits, answer, history)

    def _extractive(
        self, query: Query, history: Sequence[str], *, speaker: str | None, doc_id: str | None, k: int | None
    ) -> tuple[Answer, list[Hit]]:
        """The quoted answer (or refusal) and the passages it drew on."""
        if query.unknown is not None:
            unknown = refuse(
                query, (), f"{query.unknown} is not in the transcripts", text=self._not_here(query.unknown)
            )
            return unknown, []
        rows = self.index.rows(speakers=query.speakers, doc_id=doc_id)
        if rows is not None and len(rows) == 0:
            where = f" in {doc_id}" if doc_id else ""
            who = f"by {', '.join(query.speakers)} " if query.speakers else ""
            return refuse(query, (), f"nothing {who}is indexed{where}"), []
        hits = self._retrieve(query, rows, k or self.settings.k)
        exclude = []
        if query.wants_other and history:  # "what else": skip what the previous answer quoted
            earlier = self.read(history[-1], history=history[:-1], speaker=speaker)
            previous, _ = self._extractive(earlier, history[:-1], speaker=speaker, doc_id=doc_id, k=k)
            exclude = [(c.start, c.end) for c in previous.citations]
        answer = answer_question(query, hits, self.documents, self.idf, settings=self.settings, exclude=exclude)
        return answer, hits

    def _generate(self, query: Query, hits: list[Hit], extractive: Answer, history: Sequence[str]) -> Answer:
        """A model's answer, verified sentence by sentence; the extractive one when nothing holds."""
        from rag.errors import LLMError
        from rag.generate import build_prompt
        from rag.verify import verify

        assert self.generator is not None
        prompt = build_prompt(query.question, hits, history=history, budget=self.settings.llm_budget)
        try:
            raw = self.generator.generate(prompt.messages)
        except LLMError as err:
            log.warning("%s; giving the extractive answer", err)
            return replace(extractive, mode="fallback", reason=f"language model unavailable: {err}")
        checked = verify(
            raw,
            prompt.sources,
            self.documents,
            self.roster,
            self.embedder,
            min_lexical=self.settings.min_support_lexical,
            min_cosine=self.settings.min_support_cosine,
            flag=self.settings.show_unsupported,
        )
        if not checked.kept:
            why = "nothing the model wrote could be verified against the sources"
            return replace(extractive, mode="fallback", reason=why, dropped=checked.dropped)
        return replace(
            extractive,
            text=checked.text,
            citations=checked.citations,
            mode="generated",
            dropped=checked.dropped,
            reason="",
        )

    def search(
        self,
        query: str,
        *,
        k: int = 5,
        speaker: str | None = None,
        doc_id: str | None = None,
        history: Sequence[str] = (),
    ) -> list[Hit]:
        """The best passages for `query`, best first, optionally by one speaker or in one document.

        The speaker named in the query itself is used when `speaker` is not given.
        """
        query = self._check(query)
        q = self.read(query, speaker=speaker, history=history)
        rows = self.index.rows(speakers=q.speakers, doc_id=doc_id)
        if rows is not None and len(rows) == 0:
            return []
        return self._retrieve(q, rows, k)

    def read(self, question: str, *, history: Sequence[str] = (), speaker: str | None = None) -> Query:
        """How a question is understood: speaker filter, topic, follow-up (see `search.Query`)."""
        query = read_question(question, self.roster, history=history)
        if speaker is not None:
            names = self.resolve_speaker(speaker)
            query = Query(query.question, query.topic, names, query.mention, None, query.followup, query.wants_other)
        return query

    # --- the corpus ------------------------------------------------------------------------------

    def speakers(self) -> list[Person]:
        """Everyone who speaks in the transcripts, with the aliases that find them."""
        return [p for p in self.people if p.kind == "speaker"]

    def resolve_speaker(self, name: str) -> tuple[str, ...]:
        """Speaker names for a label, alias, role or near-miss spelling.

        Raises:
            UnknownSpeakerError: nobody matches; the message lists who does speak.
        """
        mention = self.roster.match(name)
        if mention is None:
            raise UnknownSpeakerError(
                f"no speaker matches {name!r}; speakers: {', '.join(p.name for p in self.speakers()) or '(none)'}"
            )
        return mention.names

    def chunk(self, chunk_id: str) -> Chunk:
        """The indexed chunk with this id (a citation's `chunk_id`)."""
        return self._chunks_by_id[chunk_id]

    @cached_property
    def _chunks_by_id(self) -> dict[str, Chunk]:
        return {c.chunk_id: c for c in self.index.chunks}

    def turn(self, doc_id: str, index: int) -> Turn:
        """The speaker turn `index` of a document (its paragraphs give the full context of a quote)."""
        return self.index.transcripts[doc_id].turns[index]

    def count(self, *, speakers: Sequence[str] | None = None, doc_id: str | None = None) -> int:
        """How many passages a search with these filters looks at."""
        rows = self.index.rows(speakers=speakers, doc_id=doc_id)
        return len(self.index.chunks) if rows is None else len(rows)

    @property
    def chunks(self) -> list[Chunk]:
        """Every indexed chunk, in index order."""
        return self.index.chunks

    @cached_property
    def people(self) -> list[Person]:
        return self.index.people()

    @cached_property
    def roster(self) -> Roster:
        """Everyone in the index with their name patterns compiled once."""
        return Roster(self.people)

    @cached_property
    def documents(self) -> dict[str, Document]:
        return {doc_id: t.document for doc_id, t in self.index.transcripts.items()}

    @cached_property
    def idf(self) -> dict[str, float]:
        bm25 = self.index.bm25
        df = np.diff(bm25.scores["indptr"])
        return idf_table(
            {t: int(df[i]) for t, i in bm25.vocab_dict.items() if t and i < len(df)},
            max(len(self.index.chunks), 1),
        )

    # --- internals -------------------------------------------------------------------------------

    def _retrieve(self, query: Query, rows: np.ndarray | None, k: int) -> list[Hit]:
        vector = self._embed(dense_text(query))
        mode = self.settings.retrieval
        if mode == "dense":
            return dense_search(self.index, vector, k=k, rows=rows)
        if mode not in ("hybrid", "bm25"):
            raise ValueError(f"Settings.retrieval is {mode!r}; use 'hybrid', 'dense' or 'bm25'")
        return hybrid_search(
            self.index,
            vector,
            tokenize(query_text(query)),
            k=k,
            rows=rows,
            candidates=self.settings.candidates,
            rrf_k=self.settings.rrf_k,
            lexical_only=mode == "bm25",
            full_words=self.settings.full_words,
        )

    def _embed(self, text: str) -> np.ndarray:
        vector: np.ndarray = self.embedder.embed([text])[0]
        return vector

    def _check(self, question: str) -> str:
        if not isinstance(question, str) or not question.strip():
            raise QuestionError("the question is empty; ask something, e.g. 'What did Dannenberg say about Helsinki?'")
        if len(question) > self.settings.max_question_chars:
            raise QuestionError(
                f"the question is {len(question):,} characters, "
                f"over the {self.settings.max_question_chars:,} limit; shorten it"
            )
        return question.strip()

    def _not_here(self, name: str) -> str:
        speakers = ", ".join(p.name for p in self.speakers()) or "(none)"
        quoted = [p.name for p in self.people if p.kind == "quoted"]
        extra = f" People quoted in the text: {', '.join(quoted)}." if quoted else ""
        return f"{name} does not speak in the transcripts and is not quoted in them. Speakers: {speakers}.{extra}"


def _check_model(manifest: dict[str, object], settings: Settings, path: Path) -> None:
    built = manifest.get("model")
    if built != settings.model_name:
        raise IndexMismatchError(
            f"{path}/ was built with {built!r}, settings ask for {settings.model_name!r}; run: rag build --index {path}"
        )
    if settings.model_path is not None and manifest.get("model_sha256") not in (
        None,
        model_fingerprint(settings.model_path),
    ):
        raise IndexMismatchError(
            f"{path}/ was built with other weights than {settings.model_path}; run: rag build --index {path}"
        )
