"""Build or update an index from transcript files: load, split turns, chunk, embed, save.

Incremental: a source whose bytes, chunk settings and model are unchanged keeps its chunks and
vectors; removed sources are dropped; when nothing changed nothing is written and the model is not
even loaded. Every source is read and checked before the index is touched, and the save is atomic.
"""

from __future__ import annotations

import hashlib
import logging
import os
import tempfile
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np

from rag import __version__, files
from rag.chunk import chunk_turns, clean_for_embedding
from rag.config import Settings
from rag.embed import Embedder, TorchEmbedder, load_embedder, model_fingerprint, packaged_model_path
from rag.errors import IndexCorruptError, IndexMismatchError, IndexNotFoundError, SourceError
from rag.index import FILES as INDEX_FILES
from rag.index import FORMAT_VERSION, READS, Index, read_manifest
from rag.load import collect_sources, display_path, load_document
from rag.people import find_people
from rag.sentences import RECIPE, Sentences
from rag.turns import segment
from rag.types import Chunk, Document, Transcript

log = logging.getLogger(__name__)

Progress = Callable[[str, int, int], None]  # (stage, done, total)
# Batches of similar length, padded to at most BATCH_PIECES word pieces in all and BATCH_MAX rows:
# QMSum chunks are short (median 21 pieces), so fixed batches of 16 sorted by characters spent 18 %
# on padding and ran small matrices; this embeds 1.2x faster, the same vectors (bench/README.md).
BATCH_PIECES = 1024
BATCH_MAX = 128
_RECIPE = {"recipe": RECIPE}  # the manifest's "sentences" entry of an index with sentence vectors


@dataclass(frozen=True, slots=True)
class BuildReport:
    """What a build did: sources added, changed, kept and removed, the chunks and sentences embedded."""

    index: Path
    added: tuple[str, ...] = ()
    changed: tuple[str, ...] = ()
    kept: tuple[str, ...] = ()
    removed: tuple[str, ...] = ()
    embedded: int = 0
    chunks: int = 0
    sentences: int = 0  # sentence vectors embedded (those of unchanged chunks are reused)
    seconds: float = 0.0
    embed_seconds: float = 0.0
    warnings: tuple[str, ...] = field(default=())
    reanalysed: bool = False  # unchanged sources split again because the analysis code changed

    @property
    def is_noop(self) -> bool:
        return not (self.added or self.changed or self.removed or self.reanalysed or self.sentences)


LONG = 1_000_000  # characters: a document whose analysis logs each step (it takes seconds)


def analyse(doc: Document, settings: Settings) -> Transcript:
    """Turns, excluded paragraphs and people of one document (a long one logs each step at INFO)."""
    from rag.people import common_words, find_quoted

    started = time.perf_counter()
    step = log.info if len(doc.text) >= LONG else log.debug
    step("%s: %.1f MB; finding speaker turns", doc.source, len(doc.text.encode()) / 1e6)
    seg = segment(doc)
    step("%s: %d turns; finding the people quoted", doc.source, len(seg.turns))
    quoted: list[str] = []
    common = common_words(doc.text)
    for t in seg.turns:
        for s, e in t.paragraphs:
            quoted.extend(find_quoted(doc.text[s:e], exclude=[t.speaker] if t.speaker else [], common=common))
    step("%s: %d names quoted; reading who is who", doc.source, len(set(quoted)))
    people = find_people(doc, seg.turns, quoted, settings.aliases)
    step("%s: analysed in %.1f s (%d people)", doc.source, time.perf_counter() - started, len(people))
    return Transcript(doc, tuple(seg.turns), tuple(seg.excluded), tuple(people), tuple(seg.warnings))


def build_index(
    paths: Iterable[Path] | None,
    out: Path,
    *,
    settings: Settings = Settings(),
    embedder: Embedder | None = None,
    progress: Progress | None = None,
    prune: bool = False,
    exclude: Iterable[str] = (),
    store: dict[str, Any] | None = None,
    sentences: bool | None = None,
) -> BuildReport:
    """Build the index at `out` from the transcripts under `paths`, reusing what is unchanged.

    Example:
        report = build_index([Path("seeds")], Path("index"))

    Args:
        paths: files and folders; None rebuilds the sources the index was built from.
        embedder: the model to embed with; None loads the packaged model (and exports it to ONNX
            for fast queries). Pass one to use another model or a fake in tests.
        progress: called as progress(stage, done, total) while analysing ("analyse", documents)
            and embedding ("embed", "sentences": texts).
        prune: allow dropping documents of the index that are not under `paths`.
        exclude: sources to leave out even though they are under `paths` (`rag remove`).
        store: where vectors and terms live, as the manifest's "store" entry: {"kind": "faiss"}
            or {"kind": "milvus", "uri": ..., "token_env": ..., "collection": ...} (`rag.milvus`);
            None keeps the index's own (FAISS for a new index).
        sentences: embed every sentence too (`rag.sentences`: answers quote the sentence that
            carries a fact; about twice the embedding work); None keeps the index's own choice
            (on for a new index).
    Raises:
        SourceError, EmptyCorpusError: a source is unusable, or documents would be dropped without
            `prune`; the old index is untouched.
        IndexBusyError: another build is writing `out`.
        IndexWriteError: `out` cannot be written (checked before embedding).
    """
    out = Path(out)
    _check_target(out)
    with files.writer_lock(out):
        files.recover(out)
        return _build(
            paths, out, settings, embedder, progress, prune=prune, exclude=exclude, store=store, sentences=sentences
        )


def _build(
    paths: Iterable[Path] | None,
    out: Path,
    settings: Settings,
    embedder: Embedder | None,
    progress: Progress | None,
    *,
    prune: bool,
    exclude: Iterable[str],
    store: dict[str, Any] | None,
    sentences: bool | None,
) -> BuildReport:
    started = time.perf_counter()
    previous = read_manifest(out) or {}
    if paths is None:
        paths = corpus_roots(out) or [Path("seeds")]
    paths = list(paths)
    excluded = sorted({*(display_path(out / e) for e in previous.get("excluded", [])), *exclude})
    skipped: list[Path] = []
    found = collect_sources(paths, skipped=skipped, exclude=excluded)
    docs = [load_document(p, max_bytes=settings.max_source_bytes, doc_id=d) for p, d in found]
    unread = _unread(skipped)
    model_path = settings.model_path or packaged_model_path()
    identity = _identity(settings, model_path, embedder)
    spec = store_spec(store or previous.get("store"), out)
    if spec["kind"] == "milvus":
        from rag.milvus import reachable

        reachable(spec, out)  # an unreachable server is reported before any embedding
    old = _load_compatible(out, identity)
    # a server store that already holds the old index's rows keeps them; any other reads them back
    in_store = old is not None and old.manifest.get("store", {"kind": "faiss"}) == spec and spec["kind"] != "faiss"
    old_docs = old.transcripts if old else {}
    plan = {d.doc_id: _status(d, old_docs, previous.get("sources", {})) for d in docs}
    removed = tuple(sorted(set(old_docs) - set(plan)))
    given = [display_path(p) for p in paths]
    dropped = [d for d in removed if not _under(old_docs[d].document.source, given, excluded)]
    if dropped and not prune:
        names = ", ".join(dropped[:8]) + (f" and {len(dropped) - 8} more" if len(dropped) > 8 else "")
        raise SourceError(
            f"this build would drop {len(dropped)} document(s) from {out}/ that are not under "
            f"{', '.join(str(p) for p in paths)}: {names}; pass --prune to drop them, "
            f"rag add PATH to add files, or run rag build --index {out} to rebuild its own sources"
        )
    report_args: dict[str, Any] = dict(
        index=out,
        added=tuple(k for k, v in plan.items() if v == "added"),
        changed=tuple(k for k, v in plan.items() if v == "changed"),
        kept=tuple(k for k, v in plan.items() if v == "kept"),
        removed=removed,
    )
    stale = old is not None and old.manifest.get("analysis") != analysis_fingerprint()
    # Kept relative to the index directory, so the index finds its sources from any working directory.
    roots = sorted(_relative(p, out) for p in paths)
    leave_out = sorted(_relative(Path(e), out) for e in excluded)
    same_corpus = previous.get("roots") == roots and previous.get("excluded", []) == leave_out
    wants_sentences = sentences if sentences is not None else previous.get("sentences", {}) is not None
    has_sentences = old is not None and old.sentences is not None and old.manifest.get("sentences") == _RECIPE
    # an encoder the manifest lists but that is gone or damaged: export it again, never "up to date"
    encoder = _reusable_encoder(out, identity) if embedder is None else None
    lost_encoder = embedder is None and bool(previous.get("encoder")) and encoder is None
    if (
        old is not None
        and all(v == "kept" for v in plan.values())
        and not removed
        and not stale
        and same_corpus
        and not lost_encoder
        and old.manifest.get("store", {"kind": "faiss"}) == spec
        and (has_sentences if wants_sentences else old.sentences is None)
    ):
        warnings = unread + _warnings(old_docs[d.doc_id] for d in docs)
        return BuildReport(
            chunks=len(old.chunks), seconds=time.perf_counter() - started, warnings=warnings, **report_args
        )

    if embedder is None:
        # The exported encoder gives the same vectors without importing torch (about 10 s).
        embedder = load_embedder(model_path, name=settings.model_name, onnx_path=encoder)
    fits = getattr(embedder, "fits", None)  # the model's own word-piece window, when it has one

    transcripts: list[Transcript] = []
    chunks: list[Chunk] = []
    vectors: list[np.ndarray] = []
    to_embed: list[int] = []
    # Vectors of unchanged chunks (same place, same words, same speaker) are reused even when the
    # analysis code changed since the build: only chunks whose text or attribution moved are embedded.
    reusable = {(c.doc_id, c.start, c.end, c.embed_text): i for i, c in enumerate(old.chunks)} if stale and old else {}
    reused: list[tuple[int, int]] = []  # (new row, old row)
    for done, doc in enumerate(docs):
        if progress:
            progress("analyse", done, len(docs))
        if plan[doc.doc_id] == "kept" and old is not None and not stale:
            transcripts.append(old_docs[doc.doc_id])
            rows = old.chunks.rows_of_doc(doc.doc_id)
            reused.extend(zip(range(len(chunks), len(chunks) + len(rows)), rows.tolist(), strict=True))
            chunks.extend(old.chunks[i] for i in rows.tolist())
            vectors.append(np.zeros((len(rows), identity["dim"]), dtype=np.float32))
            continue
        t = analyse(doc, settings)
        transcripts.append(t)
        new = chunk_turns(
            doc,
            list(t.turns),
            max_tokens=settings.max_tokens,
            overlap=settings.overlap,
            min_words=settings.min_words,
            fits=fits,
        )
        block = np.zeros((len(new), identity["dim"]), dtype=np.float32)
        for j, c in enumerate(new):
            row = reusable.get((c.doc_id, c.start, c.end, c.embed_text)) if plan[doc.doc_id] == "kept" else None
            if row is not None and old is not None:
                reused.append((len(chunks) + j, row))
            else:
                to_embed.append(len(chunks) + j)
        chunks.extend(new)
        vectors.append(block)
    matrix = np.concatenate(vectors) if vectors else np.zeros((0, identity["dim"]), np.float32)
    if reused and old is not None and not in_store:
        new_rows, old_rows = (np.array(x, dtype=np.int64) for x in zip(*reused, strict=True))
        matrix[new_rows] = old.vectors(old_rows)
    text_bytes = sum(len(t.document.text.encode()) for t in transcripts)
    files.check_writable(out, matrix.nbytes * 2 + 4 * text_bytes + (100_000_000 if encoder is None else 0))
    with tempfile.TemporaryDirectory() as tmp:
        if encoder is None and isinstance(embedder, TorchEmbedder):
            # Exported first, so that ONNX Runtime embeds (the same vectors, faster) and queries reuse it
            encoder = Path(tmp) / "encoder.onnx"
            if progress:
                progress("export", 0, 1)
            _export(embedder, encoder)
            if encoder.exists():
                embedder = load_embedder(model_path, name=settings.model_name, onnx_path=encoder)
        embed_started = time.perf_counter()
        matrix[to_embed] = embed_chunks([chunks[i] for i in to_embed], embedder, progress)
        vectors_of_sentences, sentences_embedded = None, 0
        if wants_sentences:
            before = old if has_sentences else None
            vectors_of_sentences, sentences_embedded = embed_sentences(
                chunks, embedder, progress, reused=reused, old=before
            )
        embed_seconds = time.perf_counter() - embed_started
        manifest = {
            **_manifest(identity, settings, transcripts, chunks, previous.get("sources", {})),
            "roots": roots,
            "excluded": leave_out,
            "sentences": _RECIPE if wants_sentences else None,
        }
        index = Index.create(
            chunks,
            matrix,
            transcripts,
            manifest,
            store=spec,
            previous=old if in_store else None,
            folder=out,
            sentences=vectors_of_sentences,
        )
        index.save(out, encoder=encoder if encoder and encoder.exists() else None)
    return BuildReport(
        reanalysed=stale,
        embedded=len(to_embed),
        chunks=len(chunks),
        sentences=sentences_embedded,
        seconds=time.perf_counter() - started,
        embed_seconds=embed_seconds,
        warnings=unread + _warnings(transcripts),
        **report_args,
    )


@lru_cache(maxsize=1)
def analysis_fingerprint() -> str:
    """A hash of the code that decides formats, turns, speakers, chunks and sentences.

    Stored in the manifest: when it differs, unchanged sources are analysed again (their vectors
    are reused wherever the chunk and its speaker are the same), so a fix to attribution reaches
    an existing index with the next `rag build` instead of waiting for the source to change.
    """
    import rag

    root = Path(rag.__file__).parent
    own = ("turns.py", "people.py", "chunk.py", "text.py", "sentences.py")
    files = sorted([*root.glob("formats/*.py"), *(root / f for f in own)])
    digest = hashlib.sha256()
    for f in files:
        digest.update(f.read_bytes())
    return digest.hexdigest()[:16]


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


def store_spec(given: dict[str, Any] | None, out: Path) -> dict[str, Any]:
    """The manifest's "store" entry for an index at `out`: FAISS unless a Milvus store is asked for
    (its URI defaulting to a Milvus Lite database inside the index directory)."""
    if not given or given.get("kind", "faiss") == "faiss":
        return {"kind": "faiss"}
    if given["kind"] != "milvus":
        raise SourceError(f"unknown store {given['kind']!r}; use faiss or milvus")
    from rag.milvus import spec

    return spec(given, out)


def _identity(settings: Settings, model_path: Path, embedder: Embedder | None) -> dict[str, Any]:
    """What must match for old vectors to be reused: model, dimension, chunking."""
    if embedder is not None:
        return {
            "model": embedder.name,
            "model_sha256": None,
            "dim": embedder.dim,
            "chunking": _chunking(settings),
        }
    from rag.embed import model_dimension

    return {
        "model": settings.model_name,
        "model_sha256": model_fingerprint(model_path),
        "dim": model_dimension(model_path),
        "chunking": _chunking(settings),
    }


def _chunking(settings: Settings) -> dict[str, Any]:
    return {
        "max_tokens": settings.max_tokens,
        "overlap": settings.overlap,
        "min_words": settings.min_words,
        "aliases": dict(sorted(settings.aliases.items())),
    }


def _load_compatible(out: Path, identity: dict[str, Any]) -> Index | None:
    manifest = read_manifest(out)
    if manifest is None:
        return None
    same = (
        manifest.get("format") in READS
        and manifest.get("rag_version") == __version__
        and all(manifest.get(k) == v for k, v in identity.items())
    )
    if not same:
        log.info("%s was built with other settings or another model: rebuilding everything", out)
        return None
    try:
        index = Index.load(out)
    except (IndexCorruptError, IndexNotFoundError, IndexMismatchError) as err:
        log.warning("%s; rebuilding it from the sources", err)
        return None
    # Nothing is reused from a file that is not what the last build wrote (the encoder is checked
    # on its own, only when it is about to be used).
    listed = {k: v for k, v in index.manifest.get("files", {}).items() if k != "encoder.onnx"}
    damaged = files.check_checksums(out, listed)
    if damaged:
        log.warning("%s; rebuilding it from the sources", damaged[0])
        return None
    return index


def _status(doc: Document, old: Mapping[str, Transcript], where: dict[str, Any]) -> str:
    """added, kept (same bytes from the same file) or changed. The file is compared by its
    absolute path when the manifest has it, so a build from another directory keeps its vectors."""
    if doc.doc_id not in old:
        return "added"
    prev = old[doc.doc_id].document
    same_file = prev.source == doc.source or where.get(doc.doc_id, {}).get("path") == str(Path(doc.source).resolve())
    return "kept" if prev.sha256 == doc.sha256 and same_file else "changed"


def corpus_roots(out: Path) -> list[Path]:
    """The files and folders the index at `out` was built from (for `rag build` with no paths)."""
    manifest = read_manifest(out) or {}
    return [Path(display_path(out / r)) for r in manifest.get("roots", [])]


def _relative(path: Path, out: Path) -> str:
    return Path(os.path.relpath(path.resolve(), out.resolve())).as_posix()


def _stat(source: str) -> dict[str, Any]:
    """Where the source was and how it looked, so later runs can notice it changed or went away."""
    path = Path(source).resolve()
    try:
        st = path.stat()
    except OSError:
        return {}
    return {"path": str(path), "size": st.st_size, "mtime_ns": st.st_mtime_ns}


def _under(source: str, roots: list[str], excluded: list[str]) -> bool:
    """The source is one of `roots`, inside one of them, or was removed on purpose."""
    return source in excluded or any(source == r or source.startswith(r.rstrip("/") + "/") for r in roots)


def _unread(skipped: list[Path]) -> tuple[str, ...]:
    """One line listing the files of folders that are not transcripts rag reads."""
    if not skipped:
        return ()
    from rag.formats import SUFFIXES

    names = ", ".join(p.as_posix() for p in skipped[:10]) + (
        f" and {len(skipped) - 10} more" if len(skipped) > 10 else ""
    )
    return (f"skipped {len(skipped)} file(s) of types rag does not read ({names}); it reads {', '.join(SUFFIXES)}",)


def _warnings(transcripts: Iterable[Transcript]) -> tuple[str, ...]:
    out: list[str] = []
    for t in transcripts:
        if not any(turn.speaker for turn in t.turns):
            how = "'Name: ...'" if t.document.format == "text" else f"no speakers in this {t.document.format} file"
            out.append(f"{t.document.source}: no speaker labels found ({how}); indexed as narration")
        out.extend(t.warnings)
    return tuple(out)


def _manifest(
    identity: dict[str, Any],
    settings: Settings,
    transcripts: list[Transcript],
    chunks: list[Chunk],
    before: dict[str, Any],
) -> dict[str, Any]:
    """`before`: the previous manifest's sources (when each document was first added is kept)."""
    per_doc: dict[str, int] = {}
    for c in chunks:
        per_doc[c.doc_id] = per_doc.get(c.doc_id, 0) + 1
    now = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
    return {
        "format": FORMAT_VERSION,
        "rag_version": __version__,
        **identity,
        "sources": {
            t.document.doc_id: {
                "source": t.document.source,
                "sha256": t.document.sha256,
                "chunks": per_doc.get(t.document.doc_id, 0),
                "added_at": before.get(t.document.doc_id, {}).get("added_at") or now,
                **_stat(t.document.source),
            }
            for t in transcripts
        },
        "counts": {
            "documents": len(transcripts),
            "turns": sum(len(t.turns) for t in transcripts),
            "chunks": len(chunks),
            "excluded": sum(len(t.excluded) for t in transcripts),
        },
        "analysis": analysis_fingerprint(),
        "built_at": now,
    }


def _reusable_encoder(out: Path, identity: dict[str, Any]) -> Path | None:
    """The index's ONNX encoder, when it was exported from the very same model weights and is
    byte for byte what that build wrote (a damaged one is exported again, not trusted)."""
    manifest = read_manifest(out)
    path = out / "encoder.onnx"
    if not (
        manifest
        and manifest.get("encoder")
        and path.exists()
        and manifest.get("model_sha256") == identity["model_sha256"]
    ):
        return None
    listed = manifest.get("files", {}).get("encoder.onnx", {})
    if path.stat().st_size != listed.get("size") or files.sha256(path) != listed.get("sha256"):
        log.warning("%s is damaged; exporting the encoder again", path)
        return None
    return path


def _export(embedder: TorchEmbedder, path: Path) -> None:
    try:
        embedder.export_onnx(path)
    except Exception as err:  # noqa: BLE001 - the index works without it, only slower to start
        log.warning("could not export the encoder to ONNX (%s); queries will load torch", err)


def _check_target(out: Path) -> None:
    """Refuse to replace a directory that is not an index (a typo must not delete a folder)."""
    if out.exists() and not out.is_dir():
        raise SourceError(f"{out} is a file, not an index directory; choose another --index")
    if out.is_dir() and not (out / "manifest.json").exists():
        if any((out / name).exists() for name in (*INDEX_FILES, "milvus.db")):
            return  # an index that lost its manifest: rebuilding it is the repair
        if any(not p.name.startswith(".") for p in out.iterdir()):
            raise SourceError(f"{out}/ holds files but no index; choose another --index or empty it")
