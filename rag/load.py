"""Read transcripts from disk into `Document`s, in any format `rag.formats` knows.

Only reads and validates; it does not split turns (see `turns.py`). Formats whose bytes are not a
clean transcript are rendered to one `Speaker: words` line per turn (see `rag.formats`), so their
turns have offsets like any other document; recordings are transcribed first (`rag.recordings`).
Files of other types in a folder are listed, not read.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Iterable
from pathlib import Path

from rag import formats
from rag.errors import EmptyCorpusError, SourceError
from rag.formats import READABLE, SUFFIXES, TEXT_SUFFIXES
from rag.recordings import TRACKS, Recorder, is_recording, load_recording
from rag.types import Document

log = logging.getLogger(__name__)


def find_sources(
    paths: Iterable[Path], *, skipped: list[Path] | None = None, exclude: Iterable[str] = ()
) -> list[Path]:
    """Expand files and directories into a sorted list of transcript files.

    Args:
        skipped: when given, files in the folders whose type rag does not read are appended to it.
        exclude: sources (as `display_path` gives them) to leave out, e.g. removed with `rag remove`.
    Raises:
        EmptyCorpusError: no transcript in any of the paths.
        SourceError: a path does not exist or has an unsupported suffix, or two files share an id.
    """
    return [p for p, _ in collect_sources(paths, skipped=skipped, exclude=exclude)]


def collect_sources(
    paths: Iterable[Path], *, skipped: list[Path] | None = None, exclude: Iterable[str] = ()
) -> list[tuple[Path, str]]:
    """(file, doc_id) for every transcript under `paths`, sorted by path.

    A file named directly is known by its stem; a file found in a folder by its path relative to
    that folder, without the suffix, so `2024-05/standup.vtt` and `2024-06/standup.vtt` are two
    documents. Example: collect_sources([Path("seeds")]) -> [(Path("seeds/a.txt"), "a")]
    """
    paths = list(paths)
    leave_out = set(exclude)
    found: list[tuple[Path, str]] = []
    for path in paths:
        if path.is_dir():
            if path.suffix.lower() == TRACKS:  # one recording, one file per speaker (rag.recordings)
                found.append((path, path.stem))
                continue
            for p in sorted(path.rglob("*")):
                if _is_hidden(p, path) or display_path(p) in leave_out or _in_tracks(p, path):
                    continue
                if p.is_dir() and p.suffix.lower() == TRACKS:
                    found.append((p, p.relative_to(path).with_suffix("").as_posix()))
                elif not p.is_file():
                    continue
                elif p.suffix.lower() in SUFFIXES:
                    found.append((p, p.relative_to(path).with_suffix("").as_posix()))
                elif skipped is not None:
                    skipped.append(p)
        elif path.is_file():
            if path.suffix.lower() not in SUFFIXES:
                raise SourceError(f"{path}: unsupported file type {path.suffix or '(none)'!r}; use {READABLE}")
            found.append((path, path.stem))
        else:
            raise SourceError(f"{path}: no such file or directory")
    if not found:
        where = ", ".join(str(p) for p in paths) or "(no paths)"
        raise EmptyCorpusError(
            f"no transcripts ({', '.join(TEXT_SUFFIXES)}) or recordings in {where}; add one or pass a file path"
        )
    _check_unique_ids(found)
    return found


def load_documents(
    paths: Iterable[Path], *, max_bytes: int = 20_000_000, recorder: Recorder | None = None
) -> list[Document]:
    """Load every transcript under `paths`. Example: `load_documents([Path("seeds")])`."""
    return [load_document(p, max_bytes=max_bytes, doc_id=d, recorder=recorder) for p, d in collect_sources(paths)]


def load_document(
    path: Path, *, max_bytes: int = 20_000_000, doc_id: str | None = None, recorder: Recorder | None = None
) -> Document:
    """Read one transcript, checking size, binary content and encoding; `doc_id` defaults to the stem.

    A recording (audio or video, `rag.recordings`) is transcribed, or read from the transcript
    `recorder` keeps for it; it has no size limit (it is decoded a piece at a time).

    Raises:
        SourceError: the file is empty, too large, binary, not UTF-8, or malformed JSON; a
            recording that is damaged, silent or cannot be decoded.
    """
    if is_recording(path):
        return load_recording(
            path, doc_id=doc_id or path.stem, source=display_path(path), recorder=recorder or Recorder()
        )
    data = read_source_bytes(path, max_bytes=max_bytes)
    return parse_document(data, doc_id=doc_id or path.stem, source=display_path(path))


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
    """Decode bytes into a Document; the suffix of `source` and the content pick the format."""
    text = _decode(data, source)
    sha = hashlib.sha256(data).hexdigest()
    name, parsed = formats.read(text, source, Path(source).suffix)
    if not parsed.text.strip():
        raise SourceError(f"{source}: no words in this {name} file; check that it is a transcript")
    return Document(doc_id=doc_id, source=source, text=parsed.text, format=name, sha256=sha, cues=parsed.cues)


def display_path(path: Path) -> str:
    """The path as a stable string: relative to the working directory when inside it."""
    try:
        return path.resolve().relative_to(Path.cwd().resolve()).as_posix()
    except ValueError:
        return path.resolve().as_posix()


def _decode(data: bytes, source: str) -> str:
    if not data.strip():
        raise SourceError(f"{source}: the file is empty; add a transcript or remove the file")
    wide = _wide_encoding(data)
    if wide is not None:
        name, iconv = wide
        out = Path(source).with_name(f"{Path(source).stem}-utf8{Path(source).suffix}")
        raise SourceError(f"{source}: {name}; re-save it as UTF-8 (e.g. iconv -f {iconv} -t utf-8 {source} > {out})")
    nul = data.find(b"\x00")
    if 0 <= nul < 8192:
        raise SourceError(f"{source}: looks binary (NUL bytes), not a text transcript; export it as UTF-8 text")
    if nul >= 0:  # text that turns binary further on: damaged, or two files run together
        raise SourceError(
            f"{source}: NUL bytes from offset {nul:,} on (the file is damaged there); "
            "cut the file before that point or export it again as UTF-8 text"
        )
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as err:
        raise SourceError(
            f"{source}: not valid UTF-8 (byte 0x{data[err.start]:02x} at offset {err.start}); "
            f"re-save it as UTF-8, e.g. iconv -f latin1 -t utf-8 {source}"
        ) from err


def _in_tracks(path: Path, root: Path) -> bool:
    """Inside a NAME.tracks/ folder, which is read as one recording."""
    return any(Path(part).suffix.lower() == TRACKS for part in path.relative_to(root).parts[:-1])


def _wide_encoding(data: bytes) -> tuple[str, str] | None:
    """("UTF-16", iconv's name for it) for UTF-16 or UTF-32 text, by its byte-order mark or, without
    one, by NUL bytes in every other place (the high bytes of Latin text); None for anything else."""
    for bom, name, iconv in (
        (b"\xff\xfe\x00\x00", "UTF-32", "utf-32"),
        (b"\x00\x00\xfe\xff", "UTF-32", "utf-32"),
        (b"\xff\xfe", "UTF-16", "utf-16"),
        (b"\xfe\xff", "UTF-16", "utf-16"),
    ):
        if data.startswith(bom):
            return name, iconv
    head = data[:4096]
    half = len(head) // 2
    if half < 4:
        return None
    even, odd = head[0::2].count(0), head[1::2].count(0)
    if odd >= 0.6 * half and even <= 0.05 * half:
        return "UTF-16", "utf-16le"
    if even >= 0.6 * half and odd <= 0.05 * half:
        return "UTF-16", "utf-16be"
    return None


def _is_hidden(path: Path, root: Path) -> bool:
    return any(part.startswith(".") for part in path.relative_to(root).parts)


def _check_unique_ids(found: list[tuple[Path, str]]) -> None:
    seen: dict[str, Path] = {}
    for p, doc_id in found:
        if doc_id in seen:
            raise SourceError(
                f"two sources share the doc_id {doc_id!r}: {seen[doc_id]} and {p}; "
                "rename one, or put them in different folders"
            )
        seen[doc_id] = p
