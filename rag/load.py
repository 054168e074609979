"""Read transcripts from disk into `Document`s: plain text (`.txt`, `.md`) or QMSum-style JSON.

Only reads and validates; it does not split turns (see `turns.py`). A QMSum JSON file is rendered
to one `Speaker: content` line per turn, so its turns have offsets like any other document.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from rag.errors import EmptyCorpusError, SourceError
from rag.types import Document

TEXT_SUFFIXES = (".txt", ".md")
JSON_SUFFIXES = (".json",)
SUFFIXES = TEXT_SUFFIXES + JSON_SUFFIXES


def find_sources(paths: Iterable[Path]) -> list[Path]:
    """Expand files and directories into a sorted list of transcript files.

    Raises:
        EmptyCorpusError: no transcript in any of the paths.
        SourceError: a path does not exist or has an unsupported suffix.
    """
    paths = list(paths)
    found: list[Path] = []
    for path in paths:
        if path.is_dir():
            found.extend(
                p
                for p in sorted(path.rglob("*"))
                if p.is_file() and p.suffix.lower() in SUFFIXES and not _is_hidden(p, path)
            )
        elif path.is_file():
            if path.suffix.lower() not in SUFFIXES:
                raise SourceError(
                    f"{path}: unsupported file type {path.suffix or '(none)'!r}; use {', '.join(SUFFIXES)}"
                )
            found.append(path)
        else:
            raise SourceError(f"{path}: no such file or directory")
    if not found:
        where = ", ".join(str(p) for p in paths) or "(no paths)"
        raise EmptyCorpusError(f"no transcripts ({', '.join(SUFFIXES)}) in {where}; add one or pass a file path")
    _check_unique_ids(found)
    return found


def load_documents(paths: Iterable[Path], *, max_bytes: int = 20_000_000) -> list[Document]:
    """Load every transcript under `paths`. Example: `load_documents([Path("seeds")])`."""
    return [load_document(p, max_bytes=max_bytes) for p in find_sources(paths)]


def load_document(path: Path, *, max_bytes: int = 20_000_000) -> Document:
    """Read one transcript, checking size, binary content and encoding.

    Raises:
        SourceError: the file is empty, too large, binary, not UTF-8, or malformed JSON.
    """
    data = read_source_bytes(path, max_bytes=max_bytes)
    return parse_document(data, doc_id=path.stem, source=display_path(path))


def read_source_bytes(path: Path, *, max_bytes: int) -> bytes:
    try:
        size = path.stat().st_size
        if size > max_bytes:
            raise SourceError(
                f"{path}: {size / 1e6:.1f} MB is over the {max_bytes / 1e6:.0f} MB limit "
                "for one transcript; split it into several files"
            )
        return path.read_bytes()
    except OSError as err:
        raise SourceError(f"{path}: cannot read ({err.strerror})") from err


def parse_document(data: bytes, *, doc_id: str, source: str) -> Document:
    """Decode bytes into a Document; the suffix of `source` picks text or JSON."""
    text = _decode(data, source)
    sha = hashlib.sha256(data).hexdigest()
    if source.lower().endswith(JSON_SUFFIXES):
        rendered = _render_qmsum(_parse_json(text, source))
        return Document(doc_id=doc_id, source=source, text=rendered, format="qmsum", sha256=sha)
    return Document(doc_id=doc_id, source=source, text=text, format="text", sha256=sha)


def display_path(path: Path) -> str:
    """The path as a stable string: relative to the working directory when inside it."""
    try:
        return path.resolve().relative_to(Path.cwd().resolve()).as_posix()
    except ValueError:
        return path.resolve().as_posix()


def _decode(data: bytes, source: str) -> str:
    if not data.strip():
        raise SourceError(f"{source}: the file is empty; add a transcript or remove the file")
    if b"\x00" in data[:8192]:
        raise SourceError(f"{source}: looks binary (NUL bytes), not a text transcript; export it as UTF-8 text")
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as err:
        raise SourceError(
            f"{source}: not valid UTF-8 (byte 0x{data[err.start]:02x} at offset {err.start}); "
            f"re-save it as UTF-8, e.g. iconv -f latin1 -t utf-8 {source}"
        ) from err


def _parse_json(text: str, source: str) -> list[dict[str, Any]]:
    try:
        obj = json.loads(text)
    except json.JSONDecodeError as err:
        raise SourceError(f"{source}: invalid JSON at line {err.lineno} column {err.colno} ({err.msg})") from err
    turns = obj.get("meeting_transcripts") if isinstance(obj, dict) else obj
    if not isinstance(turns, list) or not turns:
        raise SourceError(
            f"{source}: expected a list of {{'speaker', 'content'}} turns (or an object with 'meeting_transcripts')"
        )
    for i, turn in enumerate(turns):
        if not (
            isinstance(turn, dict) and isinstance(turn.get("speaker"), str) and isinstance(turn.get("content"), str)
        ):
            raise SourceError(f"{source}: turn {i} needs string fields 'speaker' and 'content'")
        if not turn["speaker"].strip():
            raise SourceError(f"{source}: turn {i} has an empty speaker")
    return turns


def _render_qmsum(turns: list[dict[str, Any]]) -> str:
    """One `Speaker: content` line per turn; line i is turn i."""
    lines = []
    for turn in turns:
        speaker = " ".join(turn["speaker"].split()).replace(":", " ")
        content = " ".join(turn["content"].split())
        lines.append(f"{speaker}: {content}")
    return "\n".join(lines)


def _is_hidden(path: Path, root: Path) -> bool:
    return any(part.startswith(".") for part in path.relative_to(root).parts)


def _check_unique_ids(paths: list[Path]) -> None:
    seen: dict[str, Path] = {}
    for p in paths:
        if p.stem in seen:
            raise SourceError(f"two sources share the doc_id {p.stem!r}: {seen[p.stem]} and {p}; rename one")
        seen[p.stem] = p
