"""Where the vectors and BM25 terms live: a small protocol and the default, FAISS + bm25s on disk.

A `Store` scores rows of the chunk table (row i is `index.chunks[i]`); fusing its rankings, the
speaker prior and passages happen in `search.py`, the same for every store. Two implementations:
`FaissStore` (here: files in the index directory, in this process) and `MilvusStore`
(`rag/milvus.py`: a Milvus server or Milvus Lite). The manifest's "store" entry says which.

Files of the FAISS store in an index directory:
    vectors.faiss     inner-product index over L2-normalised vectors (flat, or HNSW when large)
    bm25/             bm25s posting lists over the same rows (read by `rag.postings` at query time)
"""

from __future__ import annotations

import errno
import os
import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from rag.errors import first_line

HNSW_THRESHOLD = 50_000  # rows; below it exact search takes < 7 ms (bench/README.md) and is exact
HNSW_EF_SEARCH = 512  # recall@10 0.98 at 1M rows, 1 ms (bench/README.md)
# Filtered search (bench/README.md, "filtered recall"): HNSW walked through a filter keeping 2.5 %
# of 200k rows found 0.77 of the true top 10 at efSearch 512, so small shares are scored exactly.
EXACT_SHARE = 0.15  # a filter keeping at most this share of the rows (~35 ms at 1M) is exact
GATHER_ROWS = 10_000  # up to this many rows numpy gathers them; above, FAISS scans with a bitmap
MMAP_BYTES = 256_000_000  # larger vector and BM25 files are memory-mapped, not read into memory


@dataclass(frozen=True, slots=True)
class Rows:
    """A filter: the allowed row ids (ascending) and the same filter as a boolean expression over a
    chunk's `doc_id` and `people` (its speaker and whom it quotes), for stores that filter server-side.

    Example: Rows(np.array([3, 4, 9]), 'doc_id == "panel" and array_contains_any(people, ["Ana"])')
    """

    ids: np.ndarray
    where: str = ""  # empty: only the ids say it

    def __len__(self) -> int:
        return len(self.ids)


class Store(Protocol):
    """Dense and lexical scoring of chunk-table rows. `rows`: a filter, None: all rows."""

    kind: str
    carry: tuple[str, ...]  # names in the index directory that a save moves over as they are

    def dense(self, query: np.ndarray, *, n: int, rows: Rows | None = None) -> tuple[np.ndarray, np.ndarray]:
        """Top-n (row ids, inner products) for `query` ((dim,) float32), best first."""
        ...

    def lexical(self, terms: Sequence[str], *, n: int, rows: Rows | None = None) -> tuple[np.ndarray, np.ndarray]:
        """Top-n (row ids, BM25 scores > 0) for `terms` (already tokenized), best first."""
        ...

    def lexical_of(self, terms: Sequence[str], rows: np.ndarray) -> np.ndarray:
        """The BM25 score of each of `rows` for `terms`."""
        ...

    def vectors(self, rows: np.ndarray) -> np.ndarray:
        """The stored vectors of `rows`, (len(rows), dim) float32."""
        ...

    def document_frequencies(self) -> dict[str, int]:
        """term -> how many rows hold it."""
        ...

    def check(self, rows: int, dim: int) -> str | None:
        """What is inconsistent with a chunk table of `rows` rows and `dim`-d vectors, or None."""
        ...

    def save(self, folder: Path) -> None:
        """Write the store's files into the index directory being written (`folder`)."""
        ...

    def commit(self) -> None:
        """Called once the index that holds this store is in place (a server store drops the rows
        only the replaced index used)."""
        ...


class FaissStore:
    """FAISS for vectors, BM25 posting lists for terms; everything in this process."""

    kind = "faiss"
    carry: tuple[str, ...] = ()

    def __init__(self, vectors: Any, bm25: Any) -> None:
        self.faiss = vectors  # a faiss.Index
        self.bm25 = bm25  # a bm25s.BM25 (when built) or a rag.postings.Postings (when loaded)
        self.matrix = _flat_view(vectors)  # (n, dim) float32, a view into FAISS's own storage
        self._last: tuple[tuple[str, ...], np.ndarray | None] | None = None

    @classmethod
    def create(cls, vectors: np.ndarray, terms: Sequence[list[str]], *, dim: int) -> FaissStore:
        """A store of `vectors` ((n, dim) float32) whose row i has the BM25 `terms[i]`."""
        import bm25s
        import faiss

        n = len(terms)
        store: Any
        if n >= HNSW_THRESHOLD:
            store = faiss.IndexHNSWFlat(dim, 32, faiss.METRIC_INNER_PRODUCT)
            store.hnsw.efConstruction = 80
            store.hnsw.efSearch = HNSW_EF_SEARCH
        else:
            store = faiss.IndexFlatIP(dim)
        if n:
            store.add(np.ascontiguousarray(vectors, dtype=np.float32).reshape(n, dim))
        bm25 = bm25s.BM25()
        bm25.index([t or ["_"] for t in terms], show_progress=False)
        return cls(store, bm25)

    @classmethod
    def load(cls, folder: Path) -> FaissStore:
        """Raises: ValueError naming the file that is unreadable or inconsistent."""
        import faiss

        from rag.postings import Postings

        try:
            size = (folder / "vectors.faiss").stat().st_size
            vectors = faiss.read_index(str(folder / "vectors.faiss"), faiss.IO_FLAG_MMAP if size > MMAP_BYTES else 0)
        except Exception as err:  # noqa: BLE001  (faiss raises RuntimeError, MemoryError, ...)
            raise ValueError("vectors.faiss is corrupt or truncated") from err
        try:
            big = sum(p.stat().st_size for p in (folder / "bm25").iterdir()) > MMAP_BYTES // 4
            bm25 = Postings.load(folder / "bm25", mmap=big)
        except Exception as err:  # noqa: BLE001
            raise ValueError(f"bm25 is corrupt ({first_line(err)})") from err
        if not _bm25_is_sound(bm25.scores):
            raise ValueError("bm25 is corrupt (its posting lists do not add up)")
        if hasattr(vectors, "hnsw"):
            vectors.hnsw.efSearch = HNSW_EF_SEARCH
        return cls(vectors, bm25)

    def check(self, rows: int, dim: int) -> str | None:
        """What is inconsistent with a table of `rows` chunks of `dim`-d vectors, or None."""
        if self.faiss.ntotal != rows or self.bm25.scores["num_docs"] != rows:
            return f"{self.faiss.ntotal} vectors and {self.bm25.scores['num_docs']} BM25 rows for {rows} chunks"
        if self.faiss.d != dim:
            return f"vectors are {self.faiss.d}-d, manifest says {dim}"
        return None

    def save(self, folder: Path) -> None:
        import faiss

        try:
            faiss.write_index(self.faiss, str(folder / "vectors.faiss"))
        except RuntimeError as err:  # faiss says "... write error in FILE: 4051 != 230400 (No space left on device)"
            raise _os_error(err) from err
        self.bm25.save(str(folder / "bm25"), show_progress=False)

    def commit(self) -> None:
        """Nothing to do: the files were swapped in with the index."""

    # --- scoring -----------------------------------------------------------------------------

    def dense(self, query: np.ndarray, *, n: int, rows: Rows | None = None) -> tuple[np.ndarray, np.ndarray]:
        """A filter keeping at most EXACT_SHARE of the rows is scored exactly; a larger one walks
        HNSW through a bitmap of the allowed rows (filtered recall@10 >= 0.99 at 100k and 1M rows
        for filters keeping 0.1 %, 2.5 % and 30 %: bench/README.md)."""
        total = self.faiss.ntotal
        if rows is not None and len(rows.ids) <= GATHER_ROWS:
            scores = self.matrix[rows.ids] @ query
            top = _top(scores, n)
            return rows.ids[top], scores[top]
        index, params = self.faiss, None
        if rows is not None:
            import faiss

            bitmap = np.zeros(total, dtype=bool)
            bitmap[rows.ids] = True
            packed = np.packbits(bitmap, bitorder="little")  # kept alive: the selector only points at it
            selector = faiss.IDSelectorBitmap(total, faiss.swig_ptr(packed))
            share = len(rows.ids) / max(total, 1)
            if hasattr(index, "hnsw") and share > EXACT_SHARE:
                params = faiss.SearchParametersHNSW(sel=selector, efSearch=filtered_ef(share))  # type: ignore[attr-defined]
            else:
                index = faiss.downcast_index(index.storage) if hasattr(index, "storage") else index
                params = faiss.SearchParameters(sel=selector)  # type: ignore[call-arg]
        scores, ids = index.search(query.reshape(1, -1).astype(np.float32), n, params=params)
        ids, scores = ids[0][ids[0] >= 0], scores[0][ids[0] >= 0]
        order = np.lexsort((ids, -scores))  # ties: the lower row first, in every store
        return ids[order], scores[order]

    def lexical(self, terms: Sequence[str], *, n: int, rows: Rows | None = None) -> tuple[np.ndarray, np.ndarray]:
        scores = self._scores(terms)
        if scores is None:
            return np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.float32)
        if rows is not None:
            scores = scores[rows.ids]
        top = _top(scores, n)
        top = top[scores[top] > 0]
        ids = rows.ids[top] if rows is not None else top
        return ids, scores[top]

    def lexical_of(self, terms: Sequence[str], rows: np.ndarray) -> np.ndarray:
        scores = self._scores(terms)
        return np.zeros(len(rows), dtype=np.float32) if scores is None else scores[rows]

    def vectors(self, rows: np.ndarray) -> np.ndarray:
        return np.asarray(self.matrix[rows], dtype=np.float32)

    def document_frequencies(self) -> dict[str, int]:
        df = np.diff(self.bm25.scores["indptr"])
        return {t: int(df[i]) for t, i in self.bm25.vocab_dict.items() if t and i < len(df)}

    def _scores(self, terms: Sequence[str]) -> np.ndarray | None:
        """Every row's BM25 score for `terms` (the last query's are kept: a search asks 2-4 times)."""
        key, last = tuple(terms), self._last
        if last is not None and last[0] == key:
            return last[1]
        known = [t for t in terms if t in self.bm25.vocab_dict]
        scores = self.bm25.get_scores(known) if known and self.faiss.ntotal else None
        self._last = (key, scores)
        return scores


def filtered_ef(share: float) -> int:
    """efSearch for an HNSW walk that may return only `share` of the rows: 512 from 25 % up (recall
    1.00 at 30 % of 200k rows), 2048 below (0.996 at 10 %): the walk passes over rows it may not
    return."""
    return HNSW_EF_SEARCH if share >= 0.25 else 4 * HNSW_EF_SEARCH


def _top(scores: np.ndarray, n: int) -> np.ndarray:
    n = min(n, len(scores))
    if n <= 0:
        return np.zeros(0, dtype=np.int64)
    top = np.argpartition(-scores, n - 1)[:n]
    return top[np.lexsort((top, -scores[top]))]  # ties: the lower row first, in every store


def _flat_view(store: Any) -> np.ndarray:
    import faiss

    flat: Any = faiss.downcast_index(store.storage) if hasattr(store, "storage") else store
    n, d = flat.ntotal, flat.d
    if n == 0:
        return np.zeros((0, d), dtype=np.float32)
    return faiss.rev_swig_ptr(flat.get_xb(), n * d).reshape(n, d)


def _bm25_is_sound(scores: dict[str, Any]) -> bool:
    """The sparse term-by-chunk matrix is well formed (what a garbled file of the right size breaks).

    Offsets rise from 0 to the number of postings; chunk ids are checked when there are not too
    many to read at load time (a large memory-mapped index leaves that to `rag check`).
    """
    indptr, indices, data, n = scores["indptr"], scores["indices"], scores["data"], scores["num_docs"]
    if len(indptr) == 0 or indptr[0] != 0 or indptr[-1] != len(indices) or len(indices) != len(data):
        return False
    if len(indptr) > 1 and bool((np.diff(indptr) < 0).any()):
        return False
    if len(indices) <= 5_000_000 and len(indices) and (int(indices.min()) < 0 or int(indices.max()) >= n):
        return False
    return True


def _os_error(err: RuntimeError) -> OSError:
    """The OSError behind a faiss I/O failure, from the reason its message ends with."""
    m = re.search(r"\(([^()]+)\)\s*$", str(err))
    reason = m.group(1) if m else "write error"
    code = next((c for c in errno.errorcode if os.strerror(c) == reason), errno.EIO)
    return OSError(code, reason)
