"""BM25 scores read straight from the posting lists bm25s saves, without importing bm25s (and
scipy, which it pulls in) when answering: a quarter of a cold start. bm25s still builds and saves.

    postings = Postings.load(Path("index/bm25"), mmap=False)
    scores = postings.get_scores(["helsinki", "putin"])   # one float32 score per row
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np


class Postings:
    """A saved bm25s index (its "lucene" scores, one posting list per term), ready to score.

    `vocab_dict` (term -> column) and `scores` (data, indices, indptr, num_docs) have the names and
    meaning of bm25s.BM25's, so either can sit behind `Index.bm25`.
    """

    def __init__(
        self, vocab: dict[str, int], data: np.ndarray, indices: np.ndarray, indptr: np.ndarray, params: dict[str, Any]
    ) -> None:
        self.vocab_dict = vocab
        self.params = params  # as saved, so that `save` writes them back unchanged
        self.scores: dict[str, Any] = {
            "data": data,
            "indices": indices,
            "indptr": indptr,
            "num_docs": int(params["num_docs"]),
        }

    @classmethod
    def load(cls, path: Path, *, mmap: bool) -> Postings:
        """Read `path` (a folder written by bm25s.BM25.save).

        Raises:
            OSError, ValueError, KeyError: a file is missing, truncated or not what bm25s writes.
        """
        params = json.loads((path / "params.index.json").read_text(encoding="utf-8"))
        if params.get("method", "lucene") not in ("lucene", "robertson", "atire"):
            raise ValueError(f"BM25 method {params.get('method')!r} needs bm25s itself (non-occurrence scores)")
        vocab = json.loads((path / "vocab.index.json").read_text(encoding="utf-8"))
        data, indices, indptr = (
            np.load(path / f"{name}.csc.index.npy", mmap_mode="r" if mmap else None)
            for name in ("data", "indices", "indptr")
        )
        return cls(vocab, data, indices, indptr, params)

    def save(self, path: str | Path, **_: Any) -> None:
        """Write the files `load` reads (what bm25s.BM25.save writes), e.g. when a loaded index is saved again."""
        path = Path(path)
        path.mkdir(parents=True, exist_ok=True)
        for name in ("data", "indices", "indptr"):
            np.save(path / f"{name}.csc.index.npy", np.asarray(self.scores[name]))
        (path / "vocab.index.json").write_text(json.dumps(self.vocab_dict, ensure_ascii=False), encoding="utf-8")
        (path / "params.index.json").write_text(json.dumps(self.params, indent=4), encoding="utf-8")

    def get_scores(self, tokens: list[str]) -> np.ndarray:
        """Each row's BM25 score for `tokens` (terms in the vocabulary; a repeated term counts again)."""
        s = self.scores
        out = np.zeros(s["num_docs"], dtype=np.float32)
        last = len(s["indptr"]) - 1
        for token in tokens:
            column = self.vocab_dict[token]
            if column >= last:  # bm25s keeps "" in the vocabulary with no posting list
                continue
            start, end = int(s["indptr"][column]), int(s["indptr"][column + 1])
            np.add.at(out, s["indices"][start:end], s["data"][start:end])
        return out
