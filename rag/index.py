"""The on-disk index: FAISS vectors, a persisted BM25 index, the chunk table and the manifest.

Files in an index directory:
    manifest.json     format, model and its weights' sha256, dimension, chunking settings,
                      one content hash per source, counts, build time
    chunks.jsonl      one Chunk per line, in FAISS row order
    documents.jsonl   each source's text, turns, excluded paragraphs and people
    vectors.faiss     inner-product index over L2-normalised vectors (flat, or HNSW when large)
    bm25/             bm25s index over the same rows
    encoder.onnx      the embedding model exported for ONNX Runtime (optional)

Saving is atomic: everything is written to a sibling temporary directory that then replaces the
old one, so an interrupted build leaves the previous index loadable. This module stores and scores;
fusing the two rankings and reading questions happen in `search.py`.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import tempfile
import uuid
from collections.abc import Iterable, Sequence
from dataclasses import asdict
from pathlib import Path
from typing import Any

import numpy as np

from rag import files
from rag.errors import IndexCorruptError, IndexMismatchError, IndexNotFoundError
from rag.text import tokenize
from rag.types import Chunk, Cue, Document, Excluded, Person, Transcript, Turn

log = logging.getLogger(__name__)

FORMAT_VERSION = 2  # 2: cues and times, per-document people, Unicode terms
HNSW_THRESHOLD = 50_000  # rows; below it exact search takes < 7 ms (bench/README.md) and is exact
HNSW_EF_SEARCH = 512  # recall@10 0.98 at 1M rows, 1 ms (bench/README.md)
EXACT_ROWS = 20_000  # a filter this small is scored exactly with numpy (under ~10 ms)
MMAP_BYTES = 256_000_000  # larger vector and BM25 files are memory-mapped, not read into memory
FILES = ("manifest.json", "chunks.jsonl", "documents.jsonl", "vectors.faiss", "bm25")


class Index:
    """Chunks with their vectors and BM25 terms, and the transcripts they came from.

    Example:
        index = Index.load(Path("index"))
        rows, scores = index.dense(query_vector, n=10)
    """

    def __init__(
        self,
        chunks: list[Chunk],
        transcripts: list[Transcript],
        manifest: dict[str, Any],
        vectors: Any,  # a faiss.Index
        bm25: Any,  # a bm25s.BM25 (when built) or a rag.postings.Postings (when loaded)
    ) -> None:
        self.chunks = chunks
        self.transcripts = {t.document.doc_id: t for t in transcripts}
        self.manifest = manifest
        self.faiss = vectors
        self.bm25 = bm25
        self.matrix = _flat_view(vectors)  # (n, dim) float32, a view into FAISS's own storage
        self._by_doc = _group_rows((c.doc_id,) for c in chunks)
        # a person's rows: what they say and what quotes them
        self._by_person = _group_rows(((c.speaker,) if c.speaker else ()) + c.quoted for c in chunks)

    @classmethod
    def create(
        cls,
        chunks: list[Chunk],
        vectors: np.ndarray,
        transcripts: list[Transcript],
        manifest: dict[str, Any],
    ) -> Index:
        """Index `chunks` whose embeddings are the rows of `vectors` ((n, dim) float32)."""
        import bm25s
        import faiss

        vectors = np.ascontiguousarray(vectors, dtype=np.float32)
        dim = vectors.shape[1] if vectors.ndim == 2 else int(manifest["dim"])
        store: Any
        if len(chunks) >= HNSW_THRESHOLD:
            store = faiss.IndexHNSWFlat(dim, 32, faiss.METRIC_INNER_PRODUCT)
            store.hnsw.efConstruction = 80
            store.hnsw.efSearch = HNSW_EF_SEARCH
        else:
            store = faiss.IndexFlatIP(dim)
        if len(chunks):
            store.add(vectors.reshape(len(chunks), dim))
        bm25 = bm25s.BM25()
        corpus = [tokenize(c.embed_text) or ["_"] for c in chunks]
        bm25.index(corpus, show_progress=False)
        manifest = {**manifest, "index_type": "hnsw" if len(chunks) >= HNSW_THRESHOLD else "flat"}
        return cls(chunks, transcripts, manifest, store, bm25)

    # --- search primitives -------------------------------------------------------------------

    def rows(
        self,
        *,
        speakers: Iterable[str] | None = None,
        doc_id: str | None = None,
        people: Iterable[Person] | None = None,
    ) -> np.ndarray | None:
        """Row ids allowed by the filters, or None for all rows.

        A speaker filter keeps that speaker's chunks and the chunks that quote them; `people`
        does the same within each person's own documents (namesakes elsewhere are left out).
        """
        if speakers is None and doc_id is None and people is None:
            return None
        empty = np.zeros(0, dtype=np.int64)
        rows: np.ndarray | None = None
        if doc_id is not None:
            rows = self._by_doc.get(doc_id, empty)
        groups: list[np.ndarray] | None = None
        if people is not None:
            groups = []
            for p in people:
                mine = self._by_person.get(p.name, empty)
                if p.doc_ids:
                    docs = np.concatenate([self._by_doc.get(d, empty) for d in p.doc_ids])
                    mine = np.intersect1d(mine, docs)
                groups.append(mine)
        elif speakers is not None:
            groups = [self._by_person.get(s, empty) for s in speakers]
        if groups is not None:
            mine = np.unique(np.concatenate(groups)) if groups else empty
            rows = mine if rows is None else np.intersect1d(rows, mine, assume_unique=True)
        return rows

    def dense(self, query: np.ndarray, *, n: int, rows: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
        """Top-n rows by inner product with `query` ((dim,) float32), within `rows` if given.

        A small filter (up to EXACT_ROWS rows) is scored exactly with numpy; a larger one goes to
        FAISS with an ID selector (exact on a flat index, approximate on HNSW: bench/README.md).
        """
        if rows is not None and len(rows) <= EXACT_ROWS:
            scores = self.matrix[rows] @ query
            top = _top(scores, n)
            return rows[top], scores[top]
        params = None
        if rows is not None:
            import faiss

            selector = faiss.IDSelectorBatch(rows.astype(np.int64))
            if hasattr(self.faiss, "hnsw"):
                params = faiss.SearchParametersHNSW(sel=selector, efSearch=HNSW_EF_SEARCH)  # type: ignore[attr-defined]
            else:
                params = faiss.SearchParameters(sel=selector)  # type: ignore[call-arg]
        scores, ids = self.faiss.search(query.reshape(1, -1).astype(np.float32), n, params=params)
        keep = ids[0] >= 0
        return ids[0][keep], scores[0][keep]

    def lexical(
        self, terms: Sequence[str], *, n: int, rows: np.ndarray | None = None, scores: np.ndarray | None = None
    ) -> tuple[np.ndarray, np.ndarray]:
        """Top-n rows by BM25 score for `terms` (already tokenized), within `rows` if given.

        `scores`: every row's BM25 score for `terms` when already computed (`lexical_scores`).
        """
        if scores is None:
            scores = self.lexical_scores(terms)
        if scores is None:
            return np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.float32)
        if rows is not None:
            scores = scores[rows]
        top = _top(scores, n)
        top = top[scores[top] > 0]
        ids = rows[top] if rows is not None else top
        return ids, scores[top]

    def lexical_scores(self, terms: Sequence[str]) -> np.ndarray | None:
        """Every row's BM25 score for `terms`, or None when no term is in the vocabulary."""
        known = [t for t in terms if t in self.bm25.vocab_dict]
        if not known or not self.chunks:
            return None
        scores: np.ndarray = self.bm25.get_scores(known)
        return scores

    def similarity(self, query: np.ndarray, rows: np.ndarray) -> np.ndarray:
        """Cosine of `query` with each of `rows`."""
        return self.matrix[rows] @ query if len(rows) else np.zeros(0, dtype=np.float32)

    def document(self, doc_id: str) -> Document:
        return self.transcripts[doc_id].document

    # --- persistence ---------------------------------------------------------------------------

    def save(self, out: Path, *, encoder: Path | None = None) -> None:
        """Write the index to `out` atomically; `encoder` (an ONNX file) is linked or copied in.

        The manifest, written last, lists every file with its size and sha256 and a new generation.

        Raises:
            IndexWriteError: the disk is full, read-only or not ours; the previous index is unchanged.
        """
        import faiss

        out = Path(out)
        tmp: Path | None = None
        try:
            out.parent.mkdir(parents=True, exist_ok=True)
            tmp = Path(tempfile.mkdtemp(prefix=f".{out.name}.tmp-", dir=out.parent))
            faiss.write_index(self.faiss, str(tmp / "vectors.faiss"))
            self.bm25.save(str(tmp / "bm25"), show_progress=False)
            _write_jsonl(tmp / "chunks.jsonl", (c.to_dict() for c in self.chunks))
            _write_jsonl(tmp / "documents.jsonl", (_transcript_to_dict(t) for t in self.transcripts.values()))
            if encoder is not None:
                files.link_or_copy(encoder, tmp / "encoder.onnx")
            manifest = {
                **self.manifest,
                "encoder": "encoder.onnx" if encoder else None,
                "generation": uuid.uuid4().hex,
                "files": files.file_list(tmp),
            }
            (tmp / "manifest.json").write_text(json.dumps(manifest, indent=2) + "\n")
            files.fsync_dir(tmp)
            files.replace_dir(tmp, out)
        except OSError as err:
            if tmp is not None:
                shutil.rmtree(tmp, ignore_errors=True)
            raise files.write_error(out, err) from err
        except BaseException:
            if tmp is not None:
                shutil.rmtree(tmp, ignore_errors=True)
            raise

    @classmethod
    def load(cls, path: Path, *, check: bool = True) -> Index:
        """Load and validate an index directory; a build swapping it meanwhile is waited out.

        Args:
            check: compare every file's size with the manifest's list (cheap; `rag check`
                verifies checksums). False only for benchmarks of the check itself.
        Raises:
            IndexNotFoundError: nothing was built at `path`.
            IndexCorruptError: a file is missing, truncated, unreadable or inconsistent.
            IndexMismatchError: the index is in a format this rag does not read.
        """
        path = Path(path)
        for attempt in range(1, 41):
            before = _generation(path)
            try:
                index = cls._load_once(path, check=check)
            except (IndexNotFoundError, IndexCorruptError):
                if _generation(path) != before or files.wait_for_swap(path, attempt):
                    continue  # a build swapped the index while it was read: read the new one
                raise
            if index.manifest.get("generation") == _generation(path):
                return index
        return cls._load_once(path, check=check)  # a build every few milliseconds: take what is there

    @classmethod
    def _load_once(cls, path: Path, *, check: bool) -> Index:
        import faiss

        from rag.postings import Postings

        fix = f"run: rag build --index {path}"
        if not (path / "manifest.json").exists():
            if path.exists() and any(path.iterdir()):
                raise IndexCorruptError(f"{path}/manifest.json is missing; {fix}")
            raise IndexNotFoundError(f"no index at {path}/; {fix}")
        try:
            manifest = json.loads((path / "manifest.json").read_text())
        except (OSError, ValueError) as err:
            raise IndexCorruptError(f"{path}/manifest.json is unreadable ({err}); {fix}") from err
        if not isinstance(manifest, dict):
            raise IndexCorruptError(f"{path}/manifest.json is not an object; {fix}")
        if manifest.get("format") != FORMAT_VERSION:
            raise IndexMismatchError(
                f"{path}/ is in index format {manifest.get('format')!r}, this rag reads format {FORMAT_VERSION}; {fix}"
            )
        listed = manifest.get("files")
        if not isinstance(listed, dict):
            raise IndexCorruptError(f"{path}/manifest.json has no file list; {fix}")
        for name in FILES[1:]:
            if not (path / name).exists():
                raise IndexCorruptError(f"{path}/{name} is missing; {fix}")
        if check:
            # encoder.onnx is optional: when deleted, queries load torch (and say so); rag build restores it
            optional = {"encoder.onnx"} if not (path / "encoder.onnx").exists() else set()
            files.check_sizes(path, {k: v for k, v in listed.items() if k not in optional})
        # Loaders of damaged files raise many kinds of errors; each becomes one line naming the file.
        try:
            with (path / "chunks.jsonl").open(encoding="utf-8") as f:  # one line at a time: lower peak memory
                chunks = [Chunk.from_dict(json.loads(line)) for line in f if line.strip()]
        except Exception as err:  # noqa: BLE001
            raise IndexCorruptError(f"{path}/chunks.jsonl is corrupt ({_first_line(err)}); {fix}") from err
        try:
            transcripts = [_transcript_from_dict(d) for d in _read_jsonl(path / "documents.jsonl")]
        except Exception as err:  # noqa: BLE001
            raise IndexCorruptError(f"{path}/documents.jsonl is corrupt ({_first_line(err)}); {fix}") from err
        try:
            size = (path / "vectors.faiss").stat().st_size
            vectors = faiss.read_index(str(path / "vectors.faiss"), faiss.IO_FLAG_MMAP if size > MMAP_BYTES else 0)
        except Exception as err:  # noqa: BLE001
            raise IndexCorruptError(f"{path}/vectors.faiss is corrupt or truncated; {fix}") from err
        try:
            big = sum(p.stat().st_size for p in (path / "bm25").iterdir()) > MMAP_BYTES // 4
            bm25 = Postings.load(path / "bm25", mmap=big)
        except Exception as err:  # noqa: BLE001
            raise IndexCorruptError(f"{path}/bm25 is corrupt ({_first_line(err)}); {fix}") from err
        if not _bm25_is_sound(bm25.scores):
            raise IndexCorruptError(f"{path}/bm25 is corrupt (its posting lists do not add up); {fix}")
        counts = manifest.get("counts", {})
        if len(transcripts) != counts.get("documents") or len(chunks) != counts.get("chunks"):
            raise IndexCorruptError(
                f"{path}: {len(transcripts)} documents and {len(chunks)} chunks on disk, the manifest lists "
                f"{counts.get('documents')} and {counts.get('chunks')}; {fix}"
            )
        known = {t.document.doc_id for t in transcripts}
        if any(c.doc_id not in known for c in chunks):
            raise IndexCorruptError(f"{path}/documents.jsonl lacks documents that chunks.jsonl cites; {fix}")
        if vectors.ntotal != len(chunks) or bm25.scores["num_docs"] != max(len(chunks), 0):
            raise IndexCorruptError(
                f"{path}: {vectors.ntotal} vectors and {bm25.scores['num_docs']} BM25 rows "
                f"for {len(chunks)} chunks; {fix}"
            )
        if hasattr(vectors, "hnsw"):
            vectors.hnsw.efSearch = HNSW_EF_SEARCH
        if vectors.d != manifest.get("dim"):
            raise IndexCorruptError(f"{path}: vectors are {vectors.d}-d, manifest says {manifest.get('dim')}; {fix}")
        return cls(chunks, transcripts, manifest, vectors, bm25)

    def people(self) -> list[Person]:
        from rag.people import merge_people

        return merge_people(t.people for t in self.transcripts.values())


def stale_sources(manifest: dict[str, Any]) -> list[str]:
    """One line per source file that changed or disappeared since the build (answers still quote
    the text stored in the index, so citations stay exact; the line says to rebuild)."""
    out = []
    for meta in manifest.get("sources", {}).values():
        where = meta.get("path")
        if not where:
            continue
        path = Path(where)
        try:
            st = path.stat()
        except OSError:
            out.append(f"{meta['source']} is gone since the index was built; run: rag build")
            continue
        if st.st_size == meta.get("size") and st.st_mtime_ns == meta.get("mtime_ns"):
            continue
        if st.st_size != meta.get("size") or files.sha256(path) != meta.get("sha256"):
            out.append(f"{meta['source']} changed since the index was built; run: rag build")
    return out


def verify(path: Path) -> list[str]:
    """Everything `rag check` checks: the index loads, every file's checksum, every chunk's offsets
    against the stored document text, every turn inside its document. One line per problem."""
    index = Index.load(path)
    problems = files.check_checksums(path, index.manifest.get("files", {}))
    for c in index.chunks:
        doc = index.transcripts[c.doc_id].document
        if doc.text[c.start : c.end] != c.text:
            problems.append(f"{path}/chunks.jsonl: {c.chunk_id} [{c.start}:{c.end}] does not match its document")
    for t in index.transcripts.values():
        n = len(t.document.text)
        if any(not (0 <= a <= b <= n) for turn in t.turns for a, b in turn.paragraphs):
            problems.append(f"{path}/documents.jsonl: {t.document.doc_id} has turns outside its text")
    return problems


def _group_rows(keys: Iterable[tuple[str, ...]]) -> dict[str, np.ndarray]:
    """key -> sorted row ids of the rows that carry it."""
    groups: dict[str, list[int]] = {}
    for row, names in enumerate(keys):
        for name in names:
            groups.setdefault(name, []).append(row)
    return {k: np.array(v, dtype=np.int64) for k, v in groups.items()}


def read_manifest(path: Path) -> dict[str, Any] | None:
    """The manifest of the index at `path`, or None when there is none or it is unreadable."""
    try:
        data = json.loads((Path(path) / "manifest.json").read_text())
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


def _top(scores: np.ndarray, n: int) -> np.ndarray:
    n = min(n, len(scores))
    if n <= 0:
        return np.zeros(0, dtype=np.int64)
    top = np.argpartition(-scores, n - 1)[:n]
    return top[np.argsort(-scores[top], kind="stable")]


def _flat_view(store: Any) -> np.ndarray:
    import faiss

    flat: Any = faiss.downcast_index(store.storage) if hasattr(store, "storage") else store
    n, d = flat.ntotal, flat.d
    if n == 0:
        return np.zeros((0, d), dtype=np.float32)
    return faiss.rev_swig_ptr(flat.get_xb(), n * d).reshape(n, d)


def _transcript_to_dict(t: Transcript) -> dict[str, Any]:
    d = t.document
    return {
        "document": {
            "doc_id": d.doc_id,
            "source": d.source,
            "text": d.text,
            "format": d.format,
            "sha256": d.sha256,
            "cues": [[c.start, c.end, c.speaker, c.time_start, c.time_end] for c in d.cues],
        },
        "turns": [
            [x.index, x.speaker, x.start, x.end, [list(p) for p in x.paragraphs], x.time_start, x.time_end]
            for x in t.turns
        ],
        "excluded": [[x.start, x.end, x.reason] for x in t.excluded],
        "people": [asdict(p) for p in t.people],
        "warnings": list(t.warnings),
    }


def _transcript_from_dict(d: dict[str, Any]) -> Transcript:
    doc = Document(**{**d["document"], "cues": tuple(Cue(*c) for c in d["document"]["cues"])})
    turns = tuple(
        Turn(doc.doc_id, i, sp, s, e, tuple((a, b) for a, b in paras), t0, t1)
        for i, sp, s, e, paras, t0, t1 in d["turns"]
    )
    excluded = tuple(Excluded(doc.doc_id, s, e, r) for s, e, r in d["excluded"])
    people = tuple(
        Person(p["name"], p["kind"], tuple(p["aliases"]), tuple(p["roles"]), tuple(p["doc_ids"]), p["named"])
        for p in d["people"]
    )
    return Transcript(doc, turns, excluded, people, tuple(d["warnings"]))


def _write_jsonl(path: Path, rows: Iterable[dict[str, Any]]) -> None:
    with path.open("w", encoding="utf-8") as f:
        for row in rows:
            f.write(json.dumps(row, ensure_ascii=False) + "\n")
        f.flush()
        os.fsync(f.fileno())


def _read_jsonl(path: Path) -> list[dict[str, Any]]:
    with path.open(encoding="utf-8") as f:
        return [json.loads(line) for line in f if line.strip()]


def _generation(path: Path) -> str | None:
    manifest = read_manifest(path)
    return manifest.get("generation") if manifest else None


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


def _first_line(err: BaseException) -> str:
    text = str(err).strip().splitlines()
    return (text[0] if text else type(err).__name__)[:160]
