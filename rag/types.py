"""Plain data passed between the pipeline stages.

Offsets are the contract: every `Turn`, `Chunk` and `Citation` carries `start`/`end`, Python `str`
indices into its document's text, so `doc.text[start:end]` is always the exact source.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

Span = tuple[int, int]  # (start, end) character offsets into Document.text


@dataclass(frozen=True, slots=True)
class Cue:
    """A stretch of a rendered document said by one speaker, with its time when the source has one.

    Formats whose bytes are not a clean transcript (JSON, WebVTT, SRT, Otter exports) are rendered
    to one `Speaker: words` line per turn; each cue of the source keeps its span in that text.
    """

    start: int
    end: int
    speaker: str | None
    time_start: float | None = None  # seconds from the start of the recording
    time_end: float | None = None
    uncertain: bool = False  # a recording's stretch whose speaker is not sure (overlap, short, unclear)


@dataclass(frozen=True, slots=True)
class Document:
    """One source transcript. `doc_id` is the file stem; `source` the path it was read from.

    `format` names the reader (`rag.formats`). Plain text is stored as it is and split into turns
    by its labels; the other formats are rendered, and their `cues` say who speaks where and when.
    """

    doc_id: str
    source: str
    text: str
    format: str = "text"
    sha256: str = ""
    cues: tuple[Cue, ...] = ()


@dataclass(frozen=True, slots=True)
class Turn:
    """What one speaker says until the next label. `speaker` is None for the narration.

    `paragraphs` are the spans of the turn's own words (labels and boilerplate left out), so a turn
    interrupted by an advertisement is still one turn with a gap in it.
    """

    doc_id: str
    index: int
    speaker: str | None
    start: int
    end: int
    paragraphs: tuple[Span, ...]
    time_start: float | None = None  # seconds, when the source has times
    time_end: float | None = None


@dataclass(frozen=True, slots=True)
class Excluded:
    """A paragraph kept out of every turn and the index, with the reason (`promo`, `header`)."""

    doc_id: str
    start: int
    end: int
    reason: str


@dataclass(frozen=True, slots=True)
class Person:
    """Someone a question can name: a speaker (has turns) or a person quoted in the text."""

    name: str
    kind: str  # "speaker" or "quoted"
    aliases: tuple[str, ...] = ()
    roles: tuple[str, ...] = ()  # descriptions from the text, e.g. "former CIA Acting Director"
    doc_ids: tuple[str, ...] = ()  # the documents this person speaks in or is quoted by
    # A personal name, which links the same full name across documents; False for a role label
    # whose words the text also uses as plain words ("Project Manager", "Industrial Designer").
    named: bool = True
    # (doc_id, label) of each document this person speaks in, when they are one person across
    # documents or labels ("Cllr Ruiz" in one, "RUIZ" in another); empty: `name` in `doc_ids`.
    labels: tuple[tuple[str, str], ...] = ()
    linked: str = ""  # why documents were linked as one person: "same full name 'Ana Ruiz'"

    @property
    def seats(self) -> tuple[tuple[str | None, str], ...]:
        """(doc_id, label) pairs this person's words are found under (doc_id None: any document)."""
        if self.labels:
            return self.labels
        return tuple((d, self.name) for d in self.doc_ids) or ((None, self.name),)

    @property
    def where(self) -> str:
        """ "Weber (Anna Weber) in council-minutes": the name with its documents, to tell namesakes apart."""
        full = next((a for a in self.aliases if len(a.split()) >= 2 and self.name in a), None)
        name = f"{self.name} ({full})" if full and full != self.name else self.name
        return f"{name} in {', '.join(self.doc_ids)}" if self.doc_ids else name


@dataclass(frozen=True, slots=True)
class Chunk:
    """A token-bounded piece of one turn. `text == doc.text[start:end]`; it never crosses a turn."""

    chunk_id: str
    doc_id: str
    source: str
    turn: int
    part: int  # 1-based
    parts: int
    speaker: str | None
    quoted: tuple[str, ...]
    start: int
    end: int
    text: str
    time_start: float | None = None
    time_end: float | None = None

    @property
    def label(self) -> str:
        """Who speaks, for display: the speaker, or the narration and whom it quotes."""
        if self.speaker is not None:
            return self.speaker
        if self.quoted:
            return "Narration, quoting " + ", ".join(self.quoted)
        return "Narration"

    @property
    def embed_text(self) -> str:
        """The text that is embedded and BM25-indexed: prefixed with who speaks."""
        return f"{self.label}: {self.text}"

    def to_dict(self) -> dict[str, Any]:
        return {
            "chunk_id": self.chunk_id,
            "doc_id": self.doc_id,
            "source": self.source,
            "turn": self.turn,
            "part": self.part,
            "parts": self.parts,
            "speaker": self.speaker,
            "quoted": list(self.quoted),
            "start": self.start,
            "end": self.end,
            "text": self.text,
            "time_start": self.time_start,
            "time_end": self.time_end,
        }

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Chunk:
        return cls(**{**d, "quoted": tuple(d["quoted"])})


@dataclass(frozen=True, slots=True)
class Hit:
    """A retrieved chunk, best first. `score` is the fused (RRF) score; the parts are kept.

    A search for passages returns the chunk with what follows it (the replies, the rest of the
    exchange): turns `chunk.turn` to `last_turn` of its document, text up to offset `end`
    (`Pipeline.passage` gives the text). Both None: the chunk alone.
    """

    chunk: Chunk
    rank: int
    score: float
    dense: float  # cosine similarity of the query and the chunk
    lexical: float  # BM25 score (0 when no query term occurs)
    last_turn: int | None = None
    end: int | None = None
    row: int | None = None  # the chunk's row in the index it came from

    @property
    def turns(self) -> range:
        """The turns this hit covers, in order (one turn, or the passage's)."""
        last = self.chunk.turn if self.last_turn is None else self.last_turn
        return range(self.chunk.turn, last + 1)

    def to_dict(self) -> dict[str, Any]:
        c = self.chunk
        return {
            "rank": self.rank,
            "chunk_id": c.chunk_id,
            "doc_id": c.doc_id,
            "source": c.source,
            "speaker": c.speaker,
            "start": c.start,
            "end": c.end,
            "text": c.text,
            "score": round(self.score, 6),
            "time_start": c.time_start,
            "time_end": c.time_end,
            "turn": c.turn,
            "last_turn": c.turn if self.last_turn is None else self.last_turn,
            "passage_end": c.end if self.end is None else self.end,
        }


@dataclass(frozen=True, slots=True)
class Citation:
    """A verified quote: `quote == doc.text[start:end]`, checked before it is returned."""

    n: int
    chunk_id: str
    doc_id: str
    source: str
    speaker: str | None
    start: int
    end: int
    quote: str
    score: float
    time_start: float | None = None  # seconds into the recording, when the source has times
    time_end: float | None = None
    uncertain: bool = False  # from a recording's stretch whose speaker is not sure (rag.recordings)

    @property
    def when(self) -> str:
        """ "00:12:34–00:12:40" when the source has times, else ""."""
        if self.time_start is None:
            return ""
        return clock(self.time_start) + (f"–{clock(self.time_end)}" if self.time_end is not None else "")

    def to_dict(self) -> dict[str, Any]:
        return {
            "n": self.n,
            "chunk_id": self.chunk_id,
            "doc_id": self.doc_id,
            "source": self.source,
            "speaker": self.speaker,
            "start": self.start,
            "end": self.end,
            "quote": self.quote,
            "score": round(self.score, 6),
            "time_start": self.time_start,
            "time_end": self.time_end,
            "uncertain": self.uncertain,
        }


def clock(seconds: float) -> str:
    """Seconds as a recording time. Example: clock(754.2) -> "00:12:34"."""
    whole = int(seconds)
    return f"{whole // 3600:02d}:{whole % 3600 // 60:02d}:{whole % 60:02d}"


@dataclass(frozen=True, slots=True)
class Dropped:
    """A generated sentence that was not shown, and why."""

    sentence: str
    reason: str


@dataclass(frozen=True, slots=True)
class Evidence:
    """How well the retrieved passages match the question's topic; answerability is decided on it."""

    dense: float = 0.0  # best cosine of the query and a passage
    coverage: float = 0.0  # best share of the topic's idf mass found in one sentence
    # The premise check (rag.decide): the best cosine of a sentence by the person asked about and
    # the topic, over all their words in scope; None when the check did not run.
    closest: float | None = None


@dataclass(frozen=True, slots=True)
class Answer:
    """The reply to a question. A refusal is an Answer with `answerable=False` and a reason."""

    question: str
    text: str
    answerable: bool
    speaker: str | None = None
    citations: tuple[Citation, ...] = ()
    hits: tuple[Hit, ...] = field(default=(), repr=False)
    reason: str = ""  # why it was refused, or a note such as "reported in the narration"
    evidence: Evidence = field(default_factory=Evidence, repr=False)
    # "extractive", "generated", "fallback" (the model failed or was unsupported), or "generating":
    # the sentences verified so far of an answer still being written (Pipeline.ask_stream)
    mode: str = "extractive"
    dropped: tuple[Dropped, ...] = ()  # generated sentences not shown, with the reason
    candidates: tuple[Person, ...] = ()  # for "which one?": the people the name may mean

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready; the field names are a stable contract read by other programs."""
        return {
            "question": self.question,
            "answer": self.text,
            "answerable": self.answerable,
            "speaker": self.speaker,
            "citations": [c.to_dict() for c in self.citations],
            "reason": self.reason,
            "mode": self.mode,
            "dropped": [{"sentence": d.sentence, "reason": d.reason} for d in self.dropped],
            "candidates": [{"name": p.name, "documents": list(p.doc_ids), "where": p.where} for p in self.candidates],
        }


@dataclass(frozen=True, slots=True)
class Transcript:
    """A document with its structure: turns, what was left out, and who is in it."""

    document: Document
    turns: tuple[Turn, ...]
    excluded: tuple[Excluded, ...]
    people: tuple[Person, ...]
    warnings: tuple[str, ...] = ()  # attribution doubts found while splitting turns
