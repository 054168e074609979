"""The one entry point: load an index once, then search and ask.

Example:
    pipe = Pipeline.load(Path("index"))
    answer = pipe.ask("What did Dannenberg say about Helsinki?")
    print(answer.text, answer.citations[0].quote)
"""

from __future__ import annotations

import logging
import re
import threading
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import replace
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from rag.answer import answer_question, idf_table, refuse, topic_terms
from rag.config import Settings
from rag.embed import Embedder, load_embedder, model_fingerprint, packaged_model_path
from rag.errors import IndexMismatchError, QuestionError, UnknownSpeakerError
from rag.index import Index
from rag.people import Mention, Roster
from rag.search import Query, dense_search, dense_text, hybrid_search, query_text, read_question
from rag.store import Rows
from rag.text import split_sentences, tokenize
from rag.turns import time_span
from rag.types import Answer, Chunk, Citation, Document, Hit, Person, Span, Turn

if TYPE_CHECKING:
    from rag.generate import Generator
    from rag.verify import Verified

log = logging.getLogger(__name__)
# Below this share of the topic's idf mass in the named speaker's best sentence, and with another
# speaker's sentence holding the topic, the question's premise is taken to be wrong. Low on
# purpose: a speaker who used some of the topic's words did talk about it ("the prompt").
PREMISE_COVERAGE = 0.2


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
        self._recent: dict[str, np.ndarray] = {}  # the last texts embedded, by text
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
        path = Path(path)
        onnx = path / "encoder.onnx" if settings.backend in ("auto", "onnx") else None

        def model() -> Embedder:
            return load_embedder(settings.model_path or packaged_model_path(), name=settings.model_name, onnx_path=onnx)

        # The exported encoder loads while the index does (a third of a cold start); torch, slow
        # and only a fallback, waits until the index is known to be there.
        early = _Background(model) if embedder is None and onnx is not None and onnx.exists() else None
        try:
            index = Index.load(path)
            manifest = index.manifest
            if embedder is None:
                _check_model(manifest, settings, path)
        except BaseException:
            if early is not None:  # a process must not exit while onnxruntime is still loading: it aborts
                early.wait()
            raise
        if embedder is None:
            embedder = early.result() if early is not None else model()
        if embedder.dim != manifest.get("dim"):
            raise IndexMismatchError(
                f"{path}/ holds {manifest.get('dim')}-d vectors, the model makes {embedder.dim}-d; "
                f"run: rag build --index {path}"
            )
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
        *_, answer = self._answers(question, history, speaker, doc_id, k, partial=False)
        return answer

    def _extractive(
        self, query: Query, history: Sequence[str], *, speaker: str | None, doc_id: str | None, k: int | None
    ) -> tuple[Answer, list[Hit]]:
        """The quoted answer (or refusal) and the passages it drew on."""
        if query.unknown is not None:
            unknown = refuse(
                query, (), f"{query.unknown} is not in the transcripts", text=self._not_here(query.unknown, doc_id)
            )
            return unknown, []
        if query.mention is not None and query.mention.how == "ambiguous":
            return _which_one(query, query.mention), []
        if query.mention is not None and query.mention.how == "several" and query.people:
            return self._each(query, history, speaker=speaker, doc_id=doc_id, k=k)
        rows = self.index.rows(speakers=query.speakers, doc_id=doc_id, people=query.people)
        if rows is not None and len(rows) == 0:
            where = f" in {doc_id}" if doc_id else ""
            who = f"by {', '.join(query.speakers)} " if query.speakers else ""
            return refuse(query, (), f"nothing {who}is indexed{where}"), []
        self._embed_all([dense_text(query), _topic_text(query)])  # the search's and the quotes' vectors, at once
        hits = self._retrieve(query, rows, k or self.settings.k)
        exclude = []
        if query.wants_other and history:  # "what else": skip what the previous answer quoted
            earlier = self.read(history[-1], history=history[:-1], speaker=speaker)
            previous, _ = self._extractive(earlier, history[:-1], speaker=speaker, doc_id=doc_id, k=k)
            exclude = [(c.start, c.end) for c in previous.citations]
        answer = self._answer(query, hits, exclude=exclude)
        if query.speakers and speaker is None and not query.followup and topic_terms(query.topic):
            answer = self._check_premise(query, answer, doc_id=doc_id, k=k)
        return answer, hits

    def _check_premise(self, query: Query, answer: Answer, *, doc_id: str | None, k: int | None) -> Answer:
        """When the named person never spoke about the topic but someone else did, say so.

        The speaker's own best sentence holds almost none of the topic (or nothing answered), while a
        search of everyone finds a sentence by someone else that holds it: the question's premise
        is wrong, and the answer quotes who did speak about it (answerable False, with citations).
        """
        weak = not answer.answerable or answer.evidence.coverage < PREMISE_COVERAGE
        if not weak:
            return answer
        anyone = replace(query, speakers=None, people=None, mention=None)
        hits = self._retrieve(anyone, self.index.rows(doc_id=doc_id), k or self.settings.k)
        other = self._answer(anyone, hits)
        named = set(query.speakers or ())
        if other.citations and other.citations[0].quote.rstrip().endswith("?"):
            # Someone asked about it; if the named person answered next, their reply is the answer.
            return self._reply(query, other.citations[0], named) or answer
        by = [c.speaker for c in other.citations if c.speaker is not None]
        if (
            not other.answerable
            or other.evidence.coverage < max(self.settings.min_coverage, answer.evidence.coverage + 0.25)
            or not by
            or by[0] in named
        ):
            return answer
        who = ", ".join(query.speakers or ())
        said = ", ".join(dict.fromkeys(b for b in by if b not in named))
        text = f"{who} did not talk about {query.topic!r} in the transcripts; {said} did. {other.text}"
        reason = f"wrong premise: {who} did not speak about this; {said} did"
        return replace(other, question=query.question, text=text, answerable=False, speaker=who, reason=reason)

    def _reply(self, query: Query, asked: Citation, named: set[str]) -> Answer | None:
        """The named speaker's turn right after the question `asked` quotes, cited, or None."""
        turns = self.index.transcripts[asked.doc_id].turns
        at = next((t.index for t in turns if t.start <= asked.start < t.end + 1), None)
        if at is None or at + 1 >= len(turns) or turns[at + 1].speaker not in named:
            return None
        row = self.index.chunks.find(f"{asked.doc_id}#{at + 1}.1")
        if row is None:
            return None
        chunk = self.index.chunks[row]
        sentences = split_sentences(chunk.text)[:2]
        start, end = chunk.start + sentences[0][0], chunk.start + sentences[-1][1]
        doc = self.documents[chunk.doc_id]
        quote = doc.text[start:end]
        t0, t1 = time_span(doc, start, end, turns[at + 1])
        cite = Citation(1, chunk.chunk_id, chunk.doc_id, chunk.source, chunk.speaker, start, end, quote, 0.0, t0, t1)
        text = f"Asked “{' '.join(asked.quote.split())}”, {chunk.speaker} said: “{' '.join(quote.split())}” [1]"
        return Answer(
            query.question, text, True, ", ".join(query.speakers or ()), (cite,), reason="the reply to a question"
        )

    def _each(
        self, query: Query, history: Sequence[str], *, speaker: str | None, doc_id: str | None, k: int | None
    ) -> tuple[Answer, list[Hit]]:
        """One answer per person named ("What did Alice and Bob say about ...?"), numbered through."""
        texts: list[str] = []
        citations: list[Citation] = []
        hits: list[Hit] = []
        answerable = False
        for person in query.people or ():
            one = replace(query, speakers=(person.name,), people=(person,), mention=None)
            answer, found = self._extractive(one, history, speaker=speaker, doc_id=doc_id, k=k)
            shift = len(citations)
            texts.append(_renumber(answer.text, shift))
            citations.extend(replace(c, n=c.n + shift) for c in answer.citations)
            hits.extend(found)
            answerable = answerable or answer.answerable
        who = ", ".join(query.speakers or ())
        return Answer(query.question, " ".join(texts), answerable, who, tuple(citations), tuple(hits)), hits

    def ask_stream(
        self,
        question: str,
        *,
        history: Sequence[str] = (),
        speaker: str | None = None,
        doc_id: str | None = None,
        k: int | None = None,
    ) -> Iterator[Answer]:
        """`ask`, for a chat that shows a model's answer as it is written: each yielded Answer
        holds the sentences verified so far (mode "generating"); the last one is what `ask`
        returns. Without a language model, or for a refusal, there is one Answer.
        """
        yield from self._answers(question, history, speaker, doc_id, k, partial=True)

    def _answers(
        self,
        question: str,
        history: Sequence[str],
        speaker: str | None,
        doc_id: str | None,
        k: int | None,
        *,
        partial: bool,
    ) -> Iterator[Answer]:
        """The extractive answer, or a model's: as it is written when `partial`, else once."""
        question = self._check(question)
        query = self.read(question, history=history, speaker=speaker, doc_id=doc_id)
        answer, hits = self._extractive(query, history, speaker=speaker, doc_id=doc_id, k=k)
        if self.generator is None or not answer.answerable:
            yield answer
            return
        yield from self._generated(query, hits, answer, history, partial=partial)

    def _generated(
        self, query: Query, hits: list[Hit], extractive: Answer, history: Sequence[str], *, partial: bool
    ) -> Iterator[Answer]:
        """The model's answer: when `partial` and the model streams, each time a sentence is complete
        the sentences so far verified (mode "generating"); then the whole answer verified, or the
        extractive one."""
        from rag.errors import LLMError
        from rag.generate import build_prompt

        assert self.generator is not None
        prompt = build_prompt(query.question, hits, history=history, budget=self.settings.llm_budget)
        stream = getattr(self.generator, "stream", None) if partial else None
        text, done = "", 0
        try:
            pieces = stream(prompt.messages) if callable(stream) else iter([self.generator.generate(prompt.messages)])
            for piece in pieces:
                text += piece
                sentences = split_sentences(text)
                if len(sentences) - 1 > done:  # the last one may still be growing
                    done = len(sentences) - 1
                    checked = self._verify(text[: sentences[done - 1][1]], prompt.sources)
                    if checked.kept:
                        yield replace(
                            extractive,
                            text=checked.text,
                            citations=checked.citations,
                            mode="generating",
                            dropped=checked.dropped,
                            reason="",
                        )
        except LLMError as err:
            log.warning("%s; giving the extractive answer", err)
            yield replace(extractive, mode="fallback", reason=f"language model unavailable: {err}")
            return
        if not text.strip():
            yield replace(extractive, mode="fallback", reason="language model unavailable: empty completion")
            return
        checked = self._verify(text.strip(), prompt.sources)
        if not checked.kept:
            why = "nothing the model wrote could be verified against the sources"
            yield replace(extractive, mode="fallback", reason=why, dropped=checked.dropped)
            return
        yield replace(
            extractive,
            text=checked.text,
            citations=checked.citations,
            mode="generated",
            dropped=checked.dropped,
            reason="",
        )

    def _verify(self, text: str, sources: Sequence[Hit]) -> Verified:
        from rag.verify import verify

        return verify(
            text,
            sources,
            self.documents,
            self.roster,
            self.embedder,
            min_lexical=self.settings.min_support_lexical,
            min_cosine=self.settings.min_support_cosine,
            flag=self.settings.show_unsupported,
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

        Each hit is a passage: a chunk and the replies after it (`Hit.turns`). A speaker named in
        the query ranks first without shutting out the rest (the question they answered, who
        disagreed); `speaker` given here is a filter: only their passages.
        """
        query = self._check(query)
        q = self.read(query, speaker=speaker, history=history, doc_id=doc_id)
        if q.mention is not None and q.mention.how == "ambiguous":
            q = replace(q, speakers=None, people=None)  # search everyone; ask() says which ones fit
        named = self.index.rows(speakers=q.speakers, doc_id=doc_id, people=q.people) if q.speakers else None
        if speaker is not None:
            if named is not None and len(named) == 0:
                return []
            return self._retrieve(q, named, k, passages=True)
        prior = named if named is not None and len(named) else None
        return self._retrieve(q, self.index.rows(doc_id=doc_id), k, prior=prior, passages=True)

    def read(
        self, question: str, *, history: Sequence[str] = (), speaker: str | None = None, doc_id: str | None = None
    ) -> Query:
        """How a question is understood: speaker filter, topic, follow-up (see `search.Query`).

        Names resolve within `doc_id` when it is given, else within the whole index.
        """
        query = read_question(question, self.roster_for(doc_id), history=history)
        if speaker is not None:
            mention = self._resolve(speaker, doc_id)
            query = replace(query, speakers=mention.names, people=mention.people, unknown=None)
            if query.mention is not None and query.mention.how in ("ambiguous", "several"):
                query = replace(query, mention=mention)
        return query

    # --- the corpus ------------------------------------------------------------------------------

    def speakers(self) -> list[Person]:
        """Everyone who speaks in the transcripts, with the aliases that find them."""
        return [p for p in self.people if p.kind == "speaker"]

    def resolve_speaker(self, name: str, *, doc_id: str | None = None) -> tuple[str, ...]:
        """Speaker names for a label, alias, role or near-miss spelling.

        Raises:
            UnknownSpeakerError: nobody matches, or several people do; the message lists them.
        """
        return self._resolve(name, doc_id).names

    def _resolve(self, name: str, doc_id: str | None) -> Mention:
        roster = self.roster_for(doc_id)
        mention = roster.match(name)
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

    def roster_for(self, doc_id: str | None) -> Roster:
        """The people a question about `doc_id` can name (everyone when None), patterns compiled once."""
        if doc_id is None:
            return self.roster
        if doc_id not in self._rosters:
            self._rosters[doc_id] = Roster(p for p in self.people if not p.doc_ids or doc_id in p.doc_ids)
        return self._rosters[doc_id]

    @cached_property
    def _rosters(self) -> dict[str, Roster]:
        return {}

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
    def people(self) -> list[Person]:
        return self.index.people()

    @cached_property
    def roster(self) -> Roster:
        """Everyone in the index with their name patterns compiled once."""
        return Roster(self.people)

    @property
    def documents(self) -> Mapping[str, Document]:
        """doc_id -> Document (read from the index when first asked for)."""
        return self.index.transcripts.documents()

    @cached_property
    def idf(self) -> dict[str, float]:
        return idf_table(self.index.store.document_frequencies(), max(len(self.index.chunks), 1))

    # --- internals -------------------------------------------------------------------------------

    def _retrieve(
        self, query: Query, rows: Rows | None, k: int, *, prior: Rows | None = None, passages: bool = False
    ) -> list[Hit]:
        vector = self._embed(dense_text(query))
        mode = self.settings.retrieval
        turns = self.settings.passage_turns if passages else 0
        if mode == "dense":
            rows = rows if prior is None else prior
            return dense_search(
                self.index, vector, k=k, rows=rows, passage_turns=turns, passage_chars=self.settings.passage_chars
            )
        if mode not in ("hybrid", "bm25"):
            raise ValueError(f"Settings.retrieval is {mode!r}; use 'hybrid', 'dense' or 'bm25'")
        return hybrid_search(
            self.index,
            vector,
            tokenize(query_text(query)),
            k=k,
            rows=rows,
            prior=prior,
            candidates=self.settings.candidates,
            rrf_k=self.settings.rrf_k,
            lexical_only=mode == "bm25",
            full_words=self.settings.full_words,
            passage_turns=turns,
            passage_chars=self.settings.passage_chars,
            context_turns=self.settings.context_turns,
            context_chars=self.settings.context_chars,
            speech_words=self.settings.speech_words,
        )

    def _answer(self, query: Query, hits: Sequence[Hit], *, exclude: Sequence[Span] = ()) -> Answer:
        """The extractive answer from `hits`, its quotes chosen with the sentence vectors."""
        closeness = self._closeness(self._embed(_topic_text(query)), hits) if self.index.sentences else None
        return answer_question(
            query, hits, self.documents, self.idf, settings=self.settings, exclude=exclude, closeness=closeness
        )

    def _closeness(self, topic: np.ndarray, hits: Sequence[Hit]) -> dict[str, dict[Span, float]]:
        """Each hit's sentences' cosines to the topic, by chunk id (see `answer_question`)."""
        sentences = self.index.sentences
        assert sentences is not None
        table = self.index.chunks
        found = {h.chunk.chunk_id: table.find(h.chunk.chunk_id) if h.row is None else h.row for h in hits}
        rows = {chunk_id: row for chunk_id, row in found.items() if row is not None}
        by_row = sentences.closeness(topic, list(rows.values()))
        return {chunk_id: by_row[row] for chunk_id, row in rows.items()}

    def _embed(self, text: str) -> np.ndarray:
        vector = self._recent.get(text)
        if vector is None:
            vector = self._embed_all([text])[0]
        return vector

    def _embed_all(self, texts: Sequence[str]) -> np.ndarray:
        """Embed `texts` in one call, keeping the last few vectors for `_embed`."""
        recent = self._recent  # replaced, never changed in place: threads may share the pipeline
        missing = [t for t in dict.fromkeys(texts) if t not in recent]
        if missing:
            kept = recent if len(recent) <= 16 else {}
            recent = {**kept, **dict(zip(missing, self.embedder.embed(missing), strict=True))}
            self._recent = recent
        return np.stack([recent[t] for t in texts])

    def _check(self, question: str) -> str:
        if not isinstance(question, str) or not question.strip():
            raise QuestionError("the question is empty; ask something, e.g. 'What did Dannenberg say about Helsinki?'")
        if len(question) > self.settings.max_question_chars:
            raise QuestionError(
                f"the question is {len(question):,} characters, "
                f"over the {self.settings.max_question_chars:,} limit; shorten it"
            )
        return question.strip()

    def _not_here(self, name: str, doc_id: str | None = None) -> str:
        people = self.roster_for(doc_id).people
        speakers = ", ".join(dict.fromkeys(p.name for p in people if p.kind == "speaker")) or "(none)"
        quoted = list(dict.fromkeys(p.name for p in people if p.kind == "quoted"))
        extra = f" People quoted in the text: {', '.join(quoted)}." if quoted else ""
        where = doc_id if doc_id else "the transcripts"
        return f"{name} does not speak in {where} and is not quoted in it. Speakers: {speakers}.{extra}"


class _Background:
    """A call run on a daemon thread; `result()` waits for it and returns or raises what it did."""

    def __init__(self, call: Callable[[], Embedder]) -> None:
        self._value: Embedder | None = None
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._run, args=(call,), daemon=True)
        self._thread.start()

    def _run(self, call: Callable[[], Embedder]) -> None:
        try:
            self._value = call()
        except BaseException as err:  # noqa: BLE001 - handed to the caller by result()
            self._error = err

    def wait(self) -> None:
        self._thread.join()

    def result(self) -> Embedder:
        self._thread.join()
        if self._error is not None:
            raise self._error
        assert self._value is not None
        return self._value


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


def _which_one(query: Query, mention: Mention) -> Answer:
    """Ask which person is meant instead of guessing between namesakes."""
    options = "; ".join(p.where for p in mention.people)
    text = (
        f"Which {mention.text} do you mean? Several people fit: {options}. "
        "Ask again with the full name, or choose the document."
    )
    return Answer(query.question, text, False, None, reason=f"ambiguous name {mention.text!r}: {options}")


def _topic_text(query: Query) -> str:
    """What a sentence is compared with: the topic ("Helsinki"), or the whole question when none is left."""
    return query.topic.strip() or dense_text(query)


def _renumber(text: str, shift: int) -> str:
    """ "[1] ... [2]" -> "[4] ... [5]" for shift 3."""
    return re.sub(r"\[(\d+)\]", lambda m: f"[{int(m.group(1)) + shift}]", text)
