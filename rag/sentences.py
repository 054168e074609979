"""Sentence vectors, computed at build time, so that an answer quotes the sentence that carries the
fact even when it shares no word with the question ("Who bears the blame for the devastation?" ->
"The destruction and loss this war has caused are solely Putin's responsibility.").

Every sentence of every chunk (`rag.text.split_sentences` of the chunk text) is embedded on its
own, without the speaker label the chunk vector carries, so that sentences from different chunks
compare alike. About as many word pieces again as the chunks: QMSum's 10,885 chunks have 19,804
sentences, and a fresh build takes about twice as long (`rag build --no-sentence-vectors` skips them).

Files in `sentences/` of an index directory:
    offsets.npy   (chunks + 1,) int64: chunk i's sentences are rows offsets[i]:offsets[i + 1]
    spans.npy     (sentences, 2) int32: each sentence's start and end in its chunk's text
    vectors.npy   (sentences, dim) float16, L2-normalised (half the size; cosines to about 1e-3)

    sentences = Sentences.build(chunks, embed)        # embed: texts -> (n, dim) float32
    sentences.save(Path("index/sentences")); Sentences.load(Path("index/sentences"), chunks=n, dim=d)
    sentences.closeness(topic_vector, rows)           # {row: {(start, end): cosine}}
    sentences.closest(topic_vector, rows)             # (row, (start, end), cosine) of the best one
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np

from rag.chunk import clean_for_embedding
from rag.errors import first_line
from rag.text import split_sentences
from rag.types import Chunk, Span

FILES = ("offsets.npy", "spans.npy", "vectors.npy")
# What is embedded: each sentence's text alone, cleaned for embedding (no speaker label: with the
# label, seed facts 0.923 vs 0.938). Kept in the manifest; a build re-embeds when it changes.
RECIPE = 1


class Sentences:
    """Sentence vectors of every chunk, by chunk row."""

    def __init__(self, offsets: np.ndarray, spans: np.ndarray, vectors: np.ndarray) -> None:
        self.offsets = offsets
        self.spans = spans
        self.vectors = vectors

    @classmethod
    def build(
        cls,
        chunks: Sequence[Chunk],
        embed: Callable[[list[str]], np.ndarray],
        *,
        dim: int,
        reuse: Callable[[int], tuple[np.ndarray, np.ndarray] | None] = lambda row: None,
    ) -> Sentences:
        """Sentence vectors for `chunks`; `reuse(row)` may give a chunk's (spans, vectors) from an
        earlier build (same text), kept when the spans are still its sentences."""
        spans: list[np.ndarray] = []
        vectors: list[np.ndarray] = []
        texts: list[str] = []
        todo: list[int] = []  # chunk rows whose sentences are embedded now
        for row, c in enumerate(chunks):
            mine = split_sentences(c.text)
            kept = reuse(row)
            if kept is not None and kept[0].tolist() == [list(s) for s in mine]:
                spans.append(kept[0].astype(np.int32))
                vectors.append(kept[1].astype(np.float16))
                continue
            spans.append(np.array(mine, dtype=np.int32).reshape(-1, 2))
            vectors.append(np.zeros((len(mine), dim), dtype=np.float16))
            texts.extend(clean_for_embedding(c.text[s:e]) for s, e in mine)
            todo.append(row)
        if texts:
            fresh = embed(texts).astype(np.float16)
            at = 0
            for row in todo:
                n = len(spans[row])
                vectors[row] = fresh[at : at + n]
                at += n
        offsets = np.zeros(len(chunks) + 1, dtype=np.int64)
        offsets[1:] = np.cumsum([len(s) for s in spans])
        return cls(
            offsets,
            np.concatenate(spans) if spans else np.zeros((0, 2), np.int32),
            np.concatenate(vectors) if vectors else np.zeros((0, dim), np.float16),
        )

    def __len__(self) -> int:
        return len(self.spans)

    def of(self, row: int) -> tuple[np.ndarray, np.ndarray]:
        """A chunk's sentence spans ((n, 2), in its text) and vectors ((n, dim) float16)."""
        a, b = int(self.offsets[row]), int(self.offsets[row + 1])
        return np.asarray(self.spans[a:b]), np.asarray(self.vectors[a:b])

    def closeness(self, query: np.ndarray, rows: Sequence[int]) -> dict[int, dict[Span, float]]:
        """The cosine of `query` ((dim,) float32) with each sentence of `rows`: {row: {span: cos}}."""
        out: dict[int, dict[Span, float]] = {}
        for row in rows:
            spans, vectors = self.of(row)
            cos = vectors.astype(np.float32) @ query
            out[row] = {(int(s), int(e)): float(c) for (s, e), c in zip(spans.tolist(), cos.tolist(), strict=True)}
        return out

    def closest(self, query: np.ndarray, rows: np.ndarray) -> tuple[int, Span, float] | None:
        """The sentence of `rows` closest to `query` ((dim,) float32): its chunk row, its span in
        that chunk's text and its cosine; None when the rows have no sentence. One matrix product
        over every sentence of the rows (a speaker's whole archive is a few thousand)."""
        rows = np.asarray(rows, dtype=np.int64)
        starts, ends = self.offsets[rows], self.offsets[rows + 1]
        counts = ends - starts
        total = int(counts.sum()) if len(rows) else 0
        if total == 0:
            return None
        first = np.cumsum(counts) - counts  # where each row's sentences begin in `which`
        which = np.repeat(starts - first, counts) + np.arange(total)  # (total,) sentence ids
        cos = np.asarray(self.vectors[which], dtype=np.float32) @ query
        best = int(np.argmax(cos))
        row = int(rows[np.searchsorted(first + counts, best, side="right")])
        start, end = (int(x) for x in self.spans[which[best]])
        return row, (start, end), float(cos[best])

    def save(self, out: Path) -> None:
        out.mkdir(parents=True, exist_ok=True)
        np.save(out / "offsets.npy", self.offsets)
        np.save(out / "spans.npy", self.spans)
        np.save(out / "vectors.npy", self.vectors)

    @classmethod
    def load(cls, path: Path, *, chunks: int, dim: int) -> Sentences:
        """Read `path` (written by `save`), memory-mapped.

        Raises:
            ValueError: "<file> is ...": a file is missing, unreadable, or does not fit the chunk table.
        """
        arrays = []
        for name in FILES:
            try:
                arrays.append(np.load(path / name, mmap_mode="r"))
            except Exception as err:  # noqa: BLE001  (a garbled header fails in many ways; each is one line)
                raise ValueError(f"{name} is unreadable ({first_line(err)})") from err
        offsets, spans, vectors = arrays
        n = int(offsets[-1]) if len(offsets) else -1
        if offsets.shape != (chunks + 1,) or offsets.dtype != np.int64:
            raise ValueError(f"offsets.npy has {offsets.shape[0]} entries for {chunks} chunks")
        if spans.shape != (n, 2) or vectors.shape != (n, dim) or vectors.dtype != np.float16:
            raise ValueError(f"vectors.npy or spans.npy does not hold the {n} sentences offsets.npy lists")
        return cls(offsets, spans, vectors)
