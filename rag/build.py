"""Build or update an index from transcript files: load, split turns, chunk, embed, save.

Incremental: a source whose bytes, chunk settings and model are unchanged keeps its chunks and
vectors; removed sources are dropped; when nothing changed nothing is written and the model is not
even loaded. Every source is read and checked before the index is touched, and the save is atomic.

About 400 lines: the build's order (read the corpus, reuse or analyse, chunk, embed, save)
and the checks that make it safe to rerun (identity of the model, a reusable encoder, a
writable target); the corpus bookkeeping, analysis and batched embedding are their own modules.
"""

from __future__ import annotations

import logging
import tempfile
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from rag import __version__, files
from rag.analysis import analyse, analysis_fingerprint
from rag.chunk import chunk_turns
from rag.config import Settings
from rag.corpus import check_drops, plan_changes, read_corpus, source_record
from rag.embed import Embedder, TorchEmbedder, load_embedder, model_fingerprint, packaged_model_path
from rag.errors import IndexCorruptError, IndexMismatchError, IndexNotFoundError, SourceError
from rag.index import FILES as INDEX_FILES
from rag.index import FORMAT_VERSION, READS, RECORDINGS, Index, read_manifest
from rag.recordings import Recorder
from rag.relevance import load_model
from rag.sentences import RECIPE
from rag.types import Chunk, Transcript
from rag.vectors import Progress, embed_chunks, embed_sentences

log = logging.getLogger(__name__)

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
    recorder = Recorder(out / RECORDINGS, model=settings.asr_model, progress=progress)  # recordings: rag.recordings
    corpus = read_corpus(paths, out, previous, exclude, settings, recorder=recorder)
    docs, unread = corpus.docs, corpus.unread
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
    plan = plan_changes(corpus, old_docs, previous.get("sources", {}))
    removed = tuple(sorted(set(old_docs) - set(plan)))
    check_drops(corpus, removed, old_docs, out, prune=prune)
    report_args: dict[str, Any] = dict(
        index=out,
        added=tuple(k for k, v in plan.items() if v == "added"),
        changed=tuple(k for k, v in plan.items() if v == "changed"),
        kept=tuple(k for k, v in plan.items() if v == "kept"),
        removed=removed,
    )
    stale = old is not None and old.manifest.get("analysis") != analysis_fingerprint()
    same_corpus = corpus.is_same_as(previous)
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
            # relative to the index directory, so the index finds its sources from any working directory
            "roots": list(corpus.roots),
            "excluded": list(corpus.leave_out),
            "sentences": _RECIPE if wants_sentences else None,
            # the relevance model questions are ranked with (it reads the query only: no vector depends on it)
            "relevance": load_model(settings.relevance_model).describe() if settings.learned else None,
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
            t.document.doc_id: source_record(t.document, per_doc.get(t.document.doc_id, 0), before, now)
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
        if any((out / name).exists() for name in (*INDEX_FILES, "milvus.db", RECORDINGS)):
            return  # an index that lost its manifest: rebuilding it is the repair
        if any(not p.name.startswith(".") for p in out.iterdir()):
            raise SourceError(f"{out}/ holds files but no index; choose another --index or empty it")
