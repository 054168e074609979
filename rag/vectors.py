"""A build's vectors: chunks and sentences embedded in batches of similar length, with progress.

Batches are padded to at most BATCH_PIECES word pieces in all and BATCH_MAX rows: QMSum chunks are
short (median 21 pieces), so fixed batches of 16 sorted by characters spent 18 % on padding and ran
small matrices; this embeds 1.2x faster, the same vectors (bench/README.md). The model itself is
`embed.py`'s; which chunks need embedding is `build.py`'s decision.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING

import numpy as np

from rag.chunk import clean_for_embedding
from rag.embed import Embedder
from rag.sentences import Sentences
from rag.types import Chunk

if TYPE_CHECKING:
    from rag.index import Index

Progress = Callable[[str, int, int], None]  # (stage, done, total)
BATCH_PIECES = 1024
BATCH_MAX = 128


def embed_chunks(chunks: list[Chunk], embedder: Embedder, progress: Progress | None = None) -> np.ndarray:
    """Embed chunks in batches of similar length, returning rows in input order."""
    return embed_texts([clean_for_embedding(c.embed_text) for c in chunks], embedder, progress, "embed")


def embed_sentences(
    chunks: Sequence[Chunk],
    embedder: Embedder,
    progress: Progress | None = None,
    *,
    reused: Sequence[tuple[int, int]] = (),
    old: Index | None = None,
) -> tuple[Sentences, int]:
    """The sentence vectors of `chunks`, and how many sentences were embedded; those of a chunk in
    `reused` ((new row, old row), the same text) are taken from `old` when it has them."""
    before = dict(reused) if old is not None and old.sentences is not None else {}
    embedded = 0

    def reuse(row: int) -> tuple[np.ndarray, np.ndarray] | None:
        was = before.get(row)
        return None if was is None or old is None or old.sentences is None else old.sentences.of(was)

    def embed(texts: list[str]) -> np.ndarray:
        nonlocal embedded
        embedded += len(texts)
        return embed_texts(texts, embedder, progress, "sentences")

    return Sentences.build(chunks, embed, dim=embedder.dim, reuse=reuse), embedded


def embed_texts(texts: list[str], embedder: Embedder, progress: Progress | None, stage: str) -> np.ndarray:
    """Embed texts in batches of similar length, returning rows in input order."""
    pieces = getattr(embedder, "pieces", None)  # the model's own word pieces, when it has them
    lengths = pieces.counts(texts) if pieces is not None else [len(t) // 4 + 2 for t in texts]
    out = np.zeros((len(texts), embedder.dim), dtype=np.float32)
    done = 0
    for batch in batches(lengths):
        out[batch] = embedder.embed([texts[j] for j in batch])
        done += len(batch)
        if progress:
            progress(stage, done, len(texts))
    return out


def batches(lengths: Sequence[int], budget: int = BATCH_PIECES, most: int = BATCH_MAX) -> list[np.ndarray]:
    """Row ids in batches of similar length, each padded to at most `budget` word pieces in all
    (a longer text is a batch on its own).

    Example: batches([30, 5, 6, 400]) -> [[1, 2, 0], [3]]
    """
    order = np.argsort(np.asarray(lengths, dtype=np.int64), kind="stable")
    out, start = [], 0
    for end in range(1, len(order) + 1):
        # ascending order: the next row is the longest, so the padded size is its length x rows
        if end == len(order) or end - start >= most or lengths[order[end]] * (end - start + 1) > budget:
            out.append(order[start:end])
            start = end
    return out
