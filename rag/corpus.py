"""What a build is asked to read, and what the index remembers of its sources.

The sources under the given roots (less those removed on purpose), each one added, changed or
kept against the index's previous build; the documents a build would drop, refused without
`prune`; and the roots, exclusions and per-source records the manifest keeps, so `rag build` with
no paths rebuilds the same corpus from any working directory. Building from them is `build.py`'s job.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from rag.config import Settings
from rag.dates import document_date
from rag.errors import SourceError
from rag.index import read_manifest
from rag.load import collect_sources, display_path, load_document
from rag.types import Document, Transcript

if TYPE_CHECKING:
    from rag.recordings import Recorder


@dataclass(frozen=True, slots=True)
class Corpus:
    """The documents a build reads and the record it keeps of where they came from.

    `excluded` are display paths left out on purpose; `roots` and `leave_out` are the same
    relative to the index directory, as the manifest keeps them.
    """

    paths: tuple[Path, ...]
    docs: tuple[Document, ...]
    unread: tuple[str, ...]
    excluded: tuple[str, ...]
    roots: tuple[str, ...]
    leave_out: tuple[str, ...]

    def is_same_as(self, manifest: Mapping[str, Any]) -> bool:
        """True when the manifest records these very roots and exclusions."""
        return manifest.get("roots") == list(self.roots) and manifest.get("excluded", []) == list(self.leave_out)


def read_corpus(
    paths: Iterable[Path] | None,
    out: Path,
    previous: Mapping[str, Any],
    exclude: Iterable[str],
    settings: Settings,
    *,
    recorder: Recorder | None = None,
) -> Corpus:
    """Every source under `paths` (None: the index's own roots, else seeds/), read and checked;
    recordings are transcribed by `recorder` (or their kept transcript reused).

    Raises:
        SourceError, EmptyCorpusError: a source is unusable.
    """
    if paths is None:
        paths = corpus_roots(out) or [Path("seeds")]
    given = tuple(paths)
    excluded = sorted({*(display_path(out / e) for e in previous.get("excluded", [])), *exclude})
    skipped: list[Path] = []
    found = collect_sources(list(given), skipped=skipped, exclude=excluded)
    docs = tuple(load_document(p, max_bytes=settings.max_source_bytes, doc_id=d, recorder=recorder) for p, d in found)
    roots = tuple(sorted({_relative(p, out) for p in given}))  # a path given twice is one root
    leave_out = tuple(sorted(_relative(Path(e), out) for e in excluded))
    return Corpus(given, docs, _unread(skipped), tuple(excluded), roots, leave_out)


def plan_changes(corpus: Corpus, old: Mapping[str, Transcript], sources: Mapping[str, Any]) -> dict[str, str]:
    """doc_id -> "added", "changed" or "kept" (same bytes from the same file) against `old`.

    The file is compared by its absolute path when the manifest's `sources` have it, so a build
    from another directory keeps its vectors.
    """
    plan = {}
    for doc in corpus.docs:
        if doc.doc_id not in old:
            plan[doc.doc_id] = "added"
            continue
        prev = old[doc.doc_id].document
        was = sources.get(doc.doc_id, {}).get("path")
        same_file = prev.source == doc.source or was == str(Path(doc.source).resolve())
        plan[doc.doc_id] = "kept" if prev.sha256 == doc.sha256 and same_file else "changed"
    return plan


def check_drops(
    corpus: Corpus, removed: Iterable[str], old: Mapping[str, Transcript], out: Path, *, prune: bool
) -> None:
    """Refuse to drop documents that are not under the roots given, unless `prune`.

    Raises:
        SourceError: names the documents and the three ways on.
    """
    given = [display_path(p) for p in corpus.paths]
    dropped = [d for d in removed if not _under(old[d].document.source, given, list(corpus.excluded))]
    if dropped and not prune:
        names = ", ".join(dropped[:8]) + (f" and {len(dropped) - 8} more" if len(dropped) > 8 else "")
        raise SourceError(
            f"this build would drop {len(dropped)} document(s) from {out}/ that are not under "
            f"{', '.join(str(p) for p in corpus.paths)}: {names}; pass --prune to drop them, "
            f"rag add PATH to add files, or run rag build --index {out} to rebuild its own sources"
        )


def source_record(doc: Document, chunks: int, before: Mapping[str, Any], now: str) -> dict[str, Any]:
    """The manifest's entry for one source: its file, bytes, chunks, when first added, how it looked."""
    return {
        "source": doc.source,
        "sha256": doc.sha256,
        "chunks": chunks,
        "added_at": before.get(doc.doc_id, {}).get("added_at") or now,
        "date": document_date(doc.doc_id, doc.text),
        **_stat(doc.source),
    }


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
