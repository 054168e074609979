"""The on-disk index: the chunk table, the stored transcripts, a store of vectors and BM25 terms,
and the manifest.

Files in an index directory:
    manifest.json          format, model and its weights' sha256, dimension, chunking settings,
                           the store, one content hash per source, counts, build time
    chunks/                the chunk table in columns, memory-mapped (`rag.table`)
    documents.jsonl        each source's text, turns, excluded paragraphs and people
    documents.index.json   where each document's line is, and who is in it (`rag.documents`)
    vectors.faiss, bm25/   the FAISS store's vectors and BM25 posting lists (`rag.store`), or
    milvus.db/             a Milvus Lite store's data (`rag.milvus`; a Milvus server keeps its own)
    encoder.onnx           the embedding model exported for ONNX Runtime (optional)
    sentences/             a vector per sentence of each chunk (`rag.sentences`; optional: an index
                           built before them or with --no-sentence-vectors has none)

Saving is atomic: everything is written to a sibling temporary directory that then replaces the
old one, so an interrupted build leaves the previous index loadable. A loaded index keeps reading
its own generation (its files are memory-mapped or held open) after a build replaced it on disk;
`latest()` gives the generation on disk now, for servers that outlive builds. This module stores and loads;
scoring is the store's, and fusing rankings and reading questions happen in `search.py`.

Over 350 lines on purpose: it is the one place that knows the directory's files, so loading,
checking, searching and saving them stay together; the parts with a concept of their own
(the chunk table, the transcripts, the stores, atomic file handling) are their own modules.
"""

from __future__ import annotations

import json
import logging
import shutil
import tempfile
import threading
import uuid
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from rag import files
from rag.documents import Transcripts, from_dict
from rag.errors import IndexCorruptError, IndexMismatchError, IndexNotFoundError, first_line
from rag.sentences import Sentences
from rag.store import FaissStore, Rows, Store
from rag.table import ChunkTable
from rag.text import tokenize
from rag.types import Chunk, Document, Person, Transcript

log = logging.getLogger(__name__)

FORMAT_VERSION = 3  # 2: cues and times, per-document people, Unicode terms; 3: columnar chunks, stores
READS = (2, 3)  # format 2 (chunks.jsonl) is still read, so that `rag build` reuses its vectors
FILES = ("manifest.json", "chunks", "documents.jsonl", "documents.index.json")
RECORDINGS = "recordings"  # transcripts of recordings (rag.recordings), kept across builds, not checksummed


class Index:
    """Chunks with their vectors and BM25 terms, and the transcripts they came from.

    Example:
        index = Index.load(Path("index"))
        rows, scores = index.dense(query_vector, n=10)
    """

    def __init__(
        self,
        chunks: ChunkTable,
        transcripts: Transcripts,
        manifest: dict[str, Any],
        store: Store,
        sentences: Sentences | None = None,
    ) -> None:
        self.chunks = chunks
        self.transcripts = transcripts
        self.manifest = manifest
        self.store = store
        self.sentences = sentences
        self.path: Path | None = None  # the directory it was loaded from or saved to
        self._stamp: tuple[int, ...] | None = None  # manifest.json's stat then
        self._latest = self  # the newest generation loaded through `latest()`
        self._refused: tuple[int, ...] | None = None  # a manifest stat whose generation was not taken
        self._reloading = threading.Lock()

    @classmethod
    def create(
        cls,
        chunks: Sequence[Chunk],
        vectors: np.ndarray,
        transcripts: Iterable[Transcript],
        manifest: dict[str, Any],
        *,
        store: dict[str, Any] | None = None,
        previous: Index | None = None,
        folder: Path | None = None,
        sentences: Sentences | None = None,
    ) -> Index:
        """Index `chunks` whose embeddings are the rows of `vectors` ((n, dim) float32).

        Args:
            sentences: the vectors of the chunks' sentences, by chunk row.
            store: the manifest's "store" entry ({"kind": "faiss"} when None).
            previous: the index this one replaces; a server store keeps the rows it already holds
                (`vectors` rows for those may be zeros) and drops the rest.
            folder: where the index will be saved (a Milvus Lite store lives inside it).
        """
        table = ChunkTable.from_chunks(chunks)
        spec = store or {"kind": "faiss"}
        dim = vectors.shape[1] if vectors.ndim == 2 else int(manifest["dim"])
        built: Store
        if spec["kind"] == "faiss":
            built = FaissStore.create(vectors, [tokenize(c.embed_text) for c in chunks], dim=dim)
            kind = "hnsw" if hasattr(built.faiss, "hnsw") else "flat"
        else:
            from rag.milvus import MilvusStore
            from rag.milvus import spec as milvus_spec

            spec = milvus_spec(spec, Path(folder or "."))  # defaults filled in, as `rag build` fills them
            built = MilvusStore.create(table, chunks, vectors, spec, previous=previous, folder=folder, dim=dim)
            kind = "milvus"
        manifest = {**manifest, "index_type": kind, "store": spec}
        return cls(table, Transcripts.of(transcripts), manifest, built, sentences)

    # --- search primitives -------------------------------------------------------------------

    def rows(
        self,
        *,
        speakers: Iterable[str] | None = None,
        doc_id: str | None = None,
        people: Iterable[Person] | None = None,
        docs: Iterable[str] | None = None,
    ) -> Rows | None:
        """The rows allowed by the filters, or None for all rows.

        A speaker filter keeps that speaker's chunks and the chunks that quote them; `people`
        does the same within each person's own documents (namesakes elsewhere are left out);
        `docs` keeps several documents (a date range), `doc_id` one.
        """
        if speakers is None and doc_id is None and people is None and docs is None:
            return None
        table = self.chunks
        ids = table.rows_of_doc(doc_id) if doc_id is not None else None
        where = [f"doc_id == {_quote(doc_id)}"] if doc_id is not None else []
        if docs is not None:
            chosen = sorted(set(docs))
            parts = [table.rows_of_doc(d) for d in chosen]
            of_docs = np.unique(np.concatenate(parts)) if parts else np.zeros(0, dtype=np.int64)
            ids = of_docs if ids is None else np.intersect1d(ids, of_docs, assume_unique=True)
            where.append(f"doc_id in [{', '.join(_quote(d) for d in chosen)}]")
        groups: list[np.ndarray] | None = None
        if people is not None:
            groups, said = [], []
            of_label: dict[str, np.ndarray] = {}  # a role label has a seat in many documents
            for p in people:
                for doc, label in p.seats:  # a label counts in the documents where it is this person's
                    if label not in of_label:
                        of_label[label] = table.rows_of_person(label)
                    mine = of_label[label]
                    said.append(f"array_contains(people, {_quote(label)})")
                    if doc is not None:  # both ascending and unique
                        mine = np.intersect1d(mine, table.rows_of_doc(doc), assume_unique=True)
                        said[-1] = f"({said[-1]} and doc_id == {_quote(doc)})"
                    groups.append(mine)
            where.append("(" + (" or ".join(said) or "false") + ")")
        elif speakers is not None:
            names = list(speakers)
            groups = [table.rows_of_person(s) for s in names]
            where.append(f"array_contains_any(people, [{', '.join(_quote(s) for s in names)}])")
        if groups is not None:
            mine = np.unique(np.concatenate(groups)) if groups else np.zeros(0, dtype=np.int64)
            ids = mine if ids is None else np.intersect1d(ids, mine, assume_unique=True)
        assert ids is not None
        return Rows(ids.astype(np.int64, copy=False), " and ".join(where))

    def dense(
        self, query: np.ndarray, *, n: int, rows: Rows | np.ndarray | None = None
    ) -> tuple[np.ndarray, np.ndarray]:
        """Top-n rows by inner product with `query` ((dim,) float32), within `rows` if given."""
        rows = _as_rows(rows)
        if (rows is not None and not len(rows)) or not len(self.chunks):
            return np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.float32)
        return self.store.dense(query, n=n, rows=rows)

    def lexical(
        self, terms: Sequence[str], *, n: int, rows: Rows | np.ndarray | None = None
    ) -> tuple[np.ndarray, np.ndarray]:
        """Top-n rows by BM25 score for `terms` (already tokenized), within `rows` if given."""
        rows = _as_rows(rows)
        if not terms or not len(self.chunks) or (rows is not None and not len(rows)):
            return np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.float32)
        return self.store.lexical(terms, n=n, rows=rows)

    def lexical_of(self, terms: Sequence[str], rows: np.ndarray) -> np.ndarray:
        """The BM25 score of each of `rows` for `terms`."""
        if not terms or not len(rows):
            return np.zeros(len(rows), dtype=np.float32)
        return self.store.lexical_of(terms, rows)

    def similarity(self, query: np.ndarray, rows: np.ndarray) -> np.ndarray:
        """Cosine of `query` with each of `rows`."""
        return self.store.vectors(rows) @ query if len(rows) else np.zeros(0, dtype=np.float32)

    def vectors(self, rows: np.ndarray) -> np.ndarray:
        """The stored vectors of `rows`, (len(rows), dim) float32."""
        return self.store.vectors(rows)

    def document(self, doc_id: str) -> Document:
        return self.transcripts[doc_id].document

    def dates(self) -> dict[str, str | None]:
        """doc_id -> the document's date (ISO), from its file name or header (`rag.dates`)."""
        from rag.dates import document_date

        sources = self.manifest.get("sources", {})
        return {d: sources.get(d, {}).get("date") or document_date(d) for d in self.transcripts}

    def people(self) -> list[Person]:
        from rag.people import merge_people

        return merge_people(self.transcripts.people().values())

    # --- persistence ---------------------------------------------------------------------------

    def save(self, out: Path, *, encoder: Path | None = None) -> None:
        """Write the index to `out` atomically; `encoder` (an ONNX file) is linked or copied in.

        The manifest, written last, lists every file with its size and sha256 and a new generation.

        Raises:
            IndexWriteError: the disk is full, read-only or not ours; the previous index is unchanged.
        """
        out = Path(out)
        tmp: Path | None = None
        try:
            out.parent.mkdir(parents=True, exist_ok=True)
            tmp = Path(tempfile.mkdtemp(prefix=f".{out.name}.tmp-", dir=out.parent))
            self.store.save(tmp)
            self.chunks.save(tmp / "chunks")
            self.transcripts.save(tmp)
            if self.sentences is not None:
                self.sentences.save(tmp / "sentences")
            if encoder is not None:
                files.link_or_copy(encoder, tmp / "encoder.onnx")
            manifest = {
                **self.manifest,
                "format": FORMAT_VERSION,
                "encoder": "encoder.onnx" if encoder else None,
                "generation": uuid.uuid4().hex,
                "files": files.file_list(tmp),
            }
            (tmp / "manifest.json").write_text(json.dumps(manifest, indent=2) + "\n")
            files.fsync_dir(tmp)
            files.replace_dir(tmp, out, carry=(*getattr(self.store, "carry", ()), RECORDINGS))
        except OSError as err:
            if tmp is not None:
                shutil.rmtree(tmp, ignore_errors=True)
            raise files.write_error(out, err) from err
        except BaseException:
            if tmp is not None:
                shutil.rmtree(tmp, ignore_errors=True)
            raise
        self.manifest = manifest
        self.path, self._stamp = out, files.stamp(out / "manifest.json")
        self.store.commit()

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

    def latest(self) -> Index:
        """The generation of this index on disk now: this one, or the one a build swapped in since.

        One stat of manifest.json when nothing changed. A new generation is loaded once, by one
        caller (the others keep the one they have meanwhile), and returned to every later call;
        an Index in use stays valid, so a question in flight finishes on the generation it began
        with. A generation that fails to load or was built with another model is logged and
        skipped: this one keeps answering.

        Example: index = index.latest()  # before each request of a long-lived server
        """
        current = self._latest
        if self.path is None:
            return current
        stamp = files.stamp(self.path / "manifest.json")
        if stamp is None or stamp in (current._stamp, self._refused):  # mid-swap, unchanged or refused
            return current
        if not self._reloading.acquire(blocking=False):
            return current  # another thread is loading it
        try:
            current = self._latest
            if stamp == current._stamp:
                return current
            try:
                new = Index.load(self.path)
            except (IndexNotFoundError, IndexCorruptError, IndexMismatchError) as err:
                log.warning("%s; still answering from the generation loaded before", err)
                self._refused = stamp
                return current
            same = ("model", "model_sha256", "dim")
            if any(new.manifest.get(k) != current.manifest.get(k) for k in same):
                log.warning(
                    "%s/ was rebuilt with model %r; still answering with %r until restarted",
                    self.path,
                    new.manifest.get("model"),
                    current.manifest.get("model"),
                )
                self._refused = stamp
                return current
            if new.manifest.get("generation") == current.manifest.get("generation"):
                current._stamp = new._stamp  # the same build (manifest touched): nothing to swap
                return current
            log.info("%s/: loaded generation %s", self.path, new.manifest.get("generation"))
            self._latest = new
            return new
        finally:
            self._reloading.release()

    @classmethod
    def _load_once(cls, path: Path, *, check: bool) -> Index:
        fix = f"run: rag build --index {path}"
        if not (path / "manifest.json").exists():
            if path.exists() and any(path.iterdir()):
                raise IndexCorruptError(f"{path}/manifest.json is missing; {fix}")
            raise IndexNotFoundError(f"no index at {path}/; {fix}")
        stamp = files.stamp(path / "manifest.json")
        try:
            manifest = json.loads((path / "manifest.json").read_text())
        except (OSError, ValueError) as err:
            raise IndexCorruptError(f"{path}/manifest.json is unreadable ({err}); {fix}") from err
        if not isinstance(manifest, dict):
            raise IndexCorruptError(f"{path}/manifest.json is not an object; {fix}")
        if manifest.get("format") not in READS:
            raise IndexMismatchError(
                f"{path}/ is in index format {manifest.get('format')!r}, this rag reads format {FORMAT_VERSION}; {fix}"
            )
        listed = manifest.get("files")
        if not isinstance(listed, dict):
            raise IndexCorruptError(f"{path}/manifest.json has no file list; {fix}")
        spec = manifest.get("store") or {"kind": "faiss"}
        legacy = manifest["format"] == 2
        needed = ("chunks.jsonl", "documents.jsonl") if legacy else FILES[1:]
        for name in needed + (("vectors.faiss", "bm25") if spec.get("kind") == "faiss" else ()):
            if not (path / name).exists():
                raise IndexCorruptError(f"{path}/{name} is missing; {fix}")
        if check:
            # encoder.onnx is optional: when deleted, queries load torch (and say so); rag build restores it
            optional = {"encoder.onnx"} if not (path / "encoder.onnx").exists() else set()
            files.check_sizes(path, {k: v for k, v in listed.items() if k not in optional})
        # Loaders of damaged files raise many kinds of errors; each becomes one line naming the file.
        if legacy:
            chunks, transcripts = _load_format_2(path, fix)
        else:
            try:
                chunks = ChunkTable.load(path / "chunks", mmap=True)
            except ValueError as err:
                raise IndexCorruptError(f"{path}/chunks/{err}; {fix}") from err
            try:
                transcripts = Transcripts.open(path)
            except ValueError as err:
                raise IndexCorruptError(f"{path}/{err}; {fix}") from err
        counts = manifest.get("counts", {})
        if len(transcripts) != counts.get("documents") or len(chunks) != counts.get("chunks"):
            raise IndexCorruptError(
                f"{path}: {len(transcripts)} documents and {len(chunks)} chunks on disk, the manifest lists "
                f"{counts.get('documents')} and {counts.get('chunks')}; {fix}"
            )
        if any(d not in transcripts for d in chunks.doc_ids()):
            raise IndexCorruptError(f"{path}/documents.jsonl lacks documents that the chunk table cites; {fix}")
        store = _open_store(path, spec, chunks, fix)
        problem = store.check(len(chunks), int(manifest.get("dim", -1)))
        if problem:
            raise IndexCorruptError(f"{path}: {problem}; {fix}")
        sentences = None
        if (path / "sentences").exists():
            try:
                sentences = Sentences.load(path / "sentences", chunks=len(chunks), dim=int(manifest.get("dim", -1)))
            except ValueError as err:
                raise IndexCorruptError(f"{path}/sentences/{err}; {fix}") from err
        index = cls(chunks, transcripts, manifest, store, sentences)
        index.path, index._stamp = path, stamp
        return index


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
            problems.append(f"{path}/chunks: {c.chunk_id} [{c.start}:{c.end}] does not match its document")
    for t in index.transcripts.values():
        n = len(t.document.text)
        if any(not (0 <= a <= b <= n) for turn in t.turns for a, b in turn.paragraphs):
            problems.append(f"{path}/documents.jsonl: {t.document.doc_id} has turns outside its text")
    return problems


def read_manifest(path: Path) -> dict[str, Any] | None:
    """The manifest of the index at `path`, or None when there is none or it is unreadable."""
    try:
        data = json.loads((Path(path) / "manifest.json").read_text())
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


def _open_store(path: Path, spec: dict[str, Any], chunks: ChunkTable, fix: str) -> Store:
    if spec.get("kind") == "faiss":
        try:
            return FaissStore.load(path)
        except ValueError as err:
            raise IndexCorruptError(f"{path}/{err}; {fix}") from err
    if spec.get("kind") == "milvus":
        from rag.milvus import MilvusStore

        return MilvusStore.open(path, spec, chunks)
    raise IndexMismatchError(f"{path}/manifest.json names store {spec.get('kind')!r}, which this rag lacks; {fix}")


def _load_format_2(path: Path, fix: str) -> tuple[ChunkTable, Transcripts]:
    """An index built before the columnar table (chunks.jsonl), read so that a build reuses its vectors."""
    try:
        with (path / "chunks.jsonl").open(encoding="utf-8") as f:
            chunks = [Chunk.from_dict(json.loads(line)) for line in f if line.strip()]
    except Exception as err:  # noqa: BLE001
        raise IndexCorruptError(f"{path}/chunks.jsonl is corrupt ({first_line(err)}); {fix}") from err
    try:
        with (path / "documents.jsonl").open(encoding="utf-8") as f:
            transcripts = [from_dict(json.loads(line)) for line in f if line.strip()]
    except Exception as err:  # noqa: BLE001
        raise IndexCorruptError(f"{path}/documents.jsonl is corrupt ({first_line(err)}); {fix}") from err
    return ChunkTable.from_chunks(chunks), Transcripts.of(transcripts)


def _as_rows(rows: Rows | np.ndarray | None) -> Rows | None:
    if rows is None or isinstance(rows, Rows):
        return rows
    return Rows(np.asarray(rows, dtype=np.int64))


def _quote(text: str) -> str:
    """A string literal for a filter expression."""
    return json.dumps(text, ensure_ascii=False)


def _generation(path: Path) -> str | None:
    manifest = read_manifest(path)
    return manifest.get("generation") if manifest else None
