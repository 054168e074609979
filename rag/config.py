"""Settings: one frozen dataclass, passed explicitly. rag reads no environment variables.

The defaults are measured, not guessed: see `eval/README.md` for how the thresholds were
calibrated and `docs` in the README for what each knob trades.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

MODEL_NAME = "all-MiniLM-L6-v2"


@dataclass(frozen=True, slots=True)
class Settings:
    """Everything that changes what gets built or answered.

    Example:
        >>> Settings(max_tokens=120).max_tokens
        120
    """

    # Embedding model: a local directory; None means the packaged all-MiniLM-L6-v2.
    model_path: Path | None = None
    model_name: str = MODEL_NAME
    # "auto" uses ONNX Runtime when the index carries an exported encoder, else torch.
    backend: str = "auto"

    # Chunking: cl100k tokens per chunk, sentence-aligned overlap between the parts of a turn.
    max_tokens: int = 200
    overlap: int = 0
    # Turns with fewer content words than this ("Yeah .", "OK , I see .") stay turns but are not
    # indexed; shorter passages than `full_words` words rank lower (measured on QMSum, eval/README.md).
    min_words: int = 2

    # Recordings: the Whisper model (a name from rag.transcribe.find_models, or a folder). None keeps
    # each recording's kept transcript whatever made it (tiny.en for new ones); a name re-transcribes
    # the recordings whose transcript another model made.
    asr_model: str | None = None

    # Sources: refuse files larger than this (bytes).
    max_source_bytes: int = 20_000_000
    # Questions longer than this (characters) are refused.
    max_question_chars: int = 2_000
    # Bounds on the sizes a caller sets (CLI, HTTP, MCP check them all through `rag.views`):
    # passages asked for, and earlier questions of a conversation (each up to max_question_chars).
    max_k: int = 100
    max_history: int = 20
    # Extra aliases, alias -> speaker label, on top of those found in the documents.
    aliases: dict[str, str] = field(default_factory=dict)

    # Retrieval: "hybrid" (dense + BM25, fused), or "dense" / "bm25" alone for comparisons.
    retrieval: str = "hybrid"
    # Candidates per retriever before reciprocal-rank fusion, and the RRF constant.
    candidates: int = 50
    rrf_k: int = 60
    full_words: int = 10
    # `search` returns passages: a chunk and up to this many turns after it (the replies, the rest
    # of the exchange); measured on QMSum, eval/README.md. 0: single chunks.
    passage_turns: int = 4
    passage_chars: int = 4000  # a passage stops before a turn that would take it past this
    # A speaker named in a question: their rows also take the score of the rows within this many
    # turns or characters (the conversation around their words), in documents whose median turn has
    # at most `speech_words` words (meetings, hearings; not speeches). Measured on QMSum: eval/README.md.
    context_turns: int = 3
    context_chars: int = 400
    speech_words: int = 100
    k: int = 5
    # The learned relevance model (`rag.relevance`, trained on QMSum's training split) reranks the
    # fused candidates; False: the hand-made fusion ranks (for comparison: `rag eval --no-learned`).
    # None: the model shipped in rag/models/relevance.json.
    learned: bool = True
    relevance_model: Path | None = None

    # Answering: a question is answerable when its best passage reaches either threshold.
    # Calibrated by eval/calibrate.py on the seed and QMSum sets (eval/calibration.json).
    min_dense: float = 0.29  # cosine of the query and the best passage
    min_coverage: float = 0.75  # share of the topic's idf mass found in the best sentence
    max_quotes: int = 3
    # Quoting: a sentence's score also counts its cosine to the question's topic (sentence vectors,
    # `rag.sentences`) at this weight, so the sentence that carries a paraphrased fact is quoted.
    sentence_weight: float = 2.0
    # "X did not talk about T" needs this too: no sentence of X's within this cosine of the topic
    # (sentence vectors); else the answer quotes X's closest words. Measured on the seed, series,
    # followups, formats and styles sets (eval/README.md, "Wrong premises").
    premise_closeness: float = 0.5
    # ... and by meaning alone, when someone else's words hold less of the topic's words than
    # `min_coverage`: X's closest sentence is below `premise_far` and the other speaker's quoted
    # sentence is at least `premise_gap` closer to the topic (eval/README.md, "Wrong premises").
    premise_far: float = 0.45
    premise_gap: float = 0.35

    # Generated answers (only with a language model; see rag.generate and rag.verify).
    llm_budget: int = 1500  # cl100k tokens of numbered sources in the prompt
    min_support_lexical: float = 0.8  # share of a sentence's content words in one or two source sentences
    min_support_cosine: float = 0.8  # or, for a paraphrase: cosine of the sentence and the source passage
    show_unsupported: bool = False  # True: keep unsupported sentences, marked, instead of removing them
