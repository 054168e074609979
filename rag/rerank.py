"""A learned reranker (issue 27): reads the question and a passage together and scores whether the
passage answers it.

The bi-encoder places a question near passages that share its words' meaning; a cross-encoder
reads both at once, so "what did Marketing think of the buttons" can prefer the turn where the
buttons are judged over the one where they are only listed. It is the first layers of the
packaged all-MiniLM-L6-v2 with one linear output, fine-tuned on QMSum's training split
(`eval/reranker.py train` retrains it with a fixed seed) and shipped as ONNX in rag/models/.

`Reranker.scores` takes the question and passage texts (`passage_text` writes a passage the way
the model was trained on: "Speaker: words" per turn) and returns one logit per passage. Which
candidates it sees and how its score joins the fusion are `search.py`'s decisions.
"""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np

from rag.types import Chunk, Turn

log = logging.getLogger(__name__)

MODEL_PATH = Path(__file__).resolve().parent / "models" / "reranker.json"
PASSAGE_CHARS = 1200  # a passage is cut here before tokenizing (the model reads at most `max_length` pieces)


@dataclass(frozen=True)
class Reranker:
    """A cross-encoder loaded from its manifest. Example: load_reranker().scores(q, [p1, p2]) -> (2,) float32"""

    name: str
    sha256: str
    max_length: int
    session: Any  # onnxruntime.InferenceSession
    tokenizer: Any  # tokenizers.Tokenizer, pair-encoding with truncation of the passage only
    manifest: dict[str, Any]

    def scores(self, question: str, passages: Sequence[str]) -> np.ndarray:
        """One relevance logit per passage for `question` ((n,) float32; higher: more likely it answers)."""
        if not passages:
            return np.zeros(0, dtype=np.float32)
        enc = self.tokenizer.encode_batch([(question, p) for p in passages])
        ids = np.array([e.ids for e in enc], dtype=np.int64)
        mask = np.array([e.attention_mask for e in enc], dtype=np.int64)
        types = np.array([e.type_ids for e in enc], dtype=np.int64)
        (out,) = self.session.run(None, {"input_ids": ids, "attention_mask": mask, "token_type_ids": types})
        return np.asarray(out, dtype=np.float32).reshape(-1)

    def describe(self) -> dict[str, str]:
        """What an index manifest or an eval report records about the model."""
        return {"name": self.name, "sha256": self.sha256}


def passage_text(text: str, turns: Sequence[Turn], chunk: Chunk, last_turn: int) -> str:
    """The passage that starts with `chunk` and ends with turn `last_turn`, as the reranker reads it:
    one "Speaker: words" line per turn (the first from the chunk's start), at most `PASSAGE_CHARS`."""
    lines, size = [], 0
    for t in turns[chunk.turn : last_turn + 1]:
        start = chunk.start if t.index == chunk.turn else t.start
        words = " ".join(text[max(a, start) : b] for a, b in t.paragraphs if b > start) or text[start : t.end]
        line = f"{t.speaker or 'Narration'}: {' '.join(words.split())}"
        lines.append(line)
        size += len(line) + 1
        if size >= PASSAGE_CHARS:
            break
    return "\n".join(lines)[:PASSAGE_CHARS]


def load_reranker(path: Path | None = None, *, threads: int = 0) -> Reranker:
    """The reranker whose manifest is `path` (default: the one shipped in rag/models/), loaded once.

    Raises:
        ValueError: the manifest, its ONNX file or the tokenizer is missing or does not match;
            retrain with `python eval/reranker.py train`.
    """
    return _load(str(path or MODEL_PATH), threads)


@lru_cache(maxsize=4)
def _load(path: str, threads: int) -> Reranker:
    import onnxruntime as ort
    from tokenizers import Tokenizer

    manifest_path = Path(path)
    try:
        manifest: dict[str, Any] = json.loads(manifest_path.read_text(encoding="utf-8"))
        weights = manifest_path.parent / str(manifest["weights"])
        tokenizer_file = manifest_path.parent / str(manifest["tokenizer"])
        raw = weights.read_bytes()
        tokenizer = Tokenizer.from_file(str(tokenizer_file))
    except (OSError, ValueError, KeyError, Exception) as err:  # noqa: BLE001 - tokenizers raises its own type
        raise ValueError(f"{path}: not a reranker ({err}); retrain it with `python eval/reranker.py train`") from err
    sha = hashlib.sha256(raw).hexdigest()
    if sha != manifest.get("weights_sha256"):
        raise ValueError(f"{weights} does not match its manifest {path}; retrain with `python eval/reranker.py train`")
    max_length = int(manifest.get("max_length", 192))
    tokenizer.enable_truncation(max_length, strategy="longest_first")
    tokenizer.enable_padding()
    options = ort.SessionOptions()
    if threads:
        options.intra_op_num_threads = threads
    options.log_severity_level = 3
    session = ort.InferenceSession(raw, options, providers=["CPUExecutionProvider"])
    return Reranker(str(manifest["name"]), sha, max_length, session, tokenizer, manifest)
