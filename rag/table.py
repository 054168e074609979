"""The chunk table, stored in columns: one fixed-width record per chunk plus the chunk texts, all
memory-mapped, so a million-chunk index opens in milliseconds and holds no Python object per chunk.

Files in `chunks/` of an index directory:
    rows.npy      one record per chunk (`ROW`): document, speaker, turn, part, offsets, times,
                  a content key, and where its text and quoted names are
    text.bin      every chunk's text, UTF-8, back to back
    quoted.npy    name ids of the people each chunk quotes (a chunk's slice is in its record)
    names.json    {"names": [...], "docs": [[doc_id, source], ...]}: what the ids in rows.npy mean

A `Chunk` is made only when asked for (`table[i]`); filters (`rows_of_doc`, `rows_of_person`) scan
one column with numpy. `key` is a 63-bit hash of a chunk's place and embedded text: the same
chunk has the same key in every build, which is how a server store keeps what did not change.

    table = ChunkTable.from_chunks(chunks)
    table.save(Path("index/chunks"))
    table = ChunkTable.load(Path("index/chunks"), mmap=True)
    table[0].text, len(table), table.rows_of_person("Dannenberg")
"""

from __future__ import annotations

import hashlib
import json
import math
import zlib
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path
from typing import Any, Literal

import numpy as np

from rag.chunk import word_count
from rag.errors import IndexCorruptError, first_line
from rag.types import Chunk

ROW = np.dtype(
    [
        ("doc", "<i4"),
        ("speaker", "<i4"),  # -1: narration
        ("turn", "<i4"),
        ("part", "<i4"),
        ("parts", "<i4"),
        ("start", "<i8"),
        ("end", "<i8"),
        ("time_start", "<f8"),  # NaN: no time
        ("time_end", "<f8"),
        ("key", "<i8"),
        ("text_start", "<i8"),  # byte offsets into text.bin
        ("text_end", "<i8"),
        ("quoted_start", "<i8"),  # offsets into quoted.npy
        ("quoted_end", "<i8"),
        ("words", "<i4"),  # rag.chunk.word_count of the text (short passages rank lower)
    ]
)
FILES = ("rows.npy", "text.bin", "quoted.npy", "names.json")
# Checksums of rows.npy and quoted.npy are checked at every load; text.bin's up to this size (larger
# ones, 100k+ chunks, are left to `rag check`, which compares every chunk with its document).
CHECKED_TEXT_BYTES = 64_000_000


def chunk_key(c: Chunk) -> int:
    """A stable 63-bit id of a chunk's place and embedded text (what a store keys its rows by)."""
    raw = f"{c.doc_id}\0{c.start}\0{c.end}\0{c.embed_text}".encode()
    return int.from_bytes(hashlib.blake2b(raw, digest_size=8).digest(), "little") >> 1


class ChunkTable(Sequence[Chunk]):
    """Chunks in row order, read from columns. Indexing gives a `Chunk`; slicing is not offered."""

    def __init__(self, rows: np.ndarray, text: Any, quoted: np.ndarray, names: list[str], docs: list[list[str]]):
        self.records = rows
        self._text = text  # bytes or a read-only memory map
        self._quoted = quoted
        self.names = names
        self.docs = docs  # [doc_id, source] by document id number
        self._name_ids = {n: i for i, n in enumerate(names)}
        self._doc_ids = {d[0]: i for i, d in enumerate(docs)}
        self._turn_words: np.ndarray | None = None
        self._by_doc: list[np.ndarray] | None = None  # rows of each document, by its id number
        self.path = Path("chunks")  # where it was loaded from, for error messages

    @classmethod
    def from_chunks(cls, chunks: Sequence[Chunk]) -> ChunkTable:
        names: dict[str, int] = {}
        docs: dict[str, int] = {}
        sources: list[list[str]] = []
        rows = np.zeros(len(chunks), dtype=ROW)
        text = bytearray()
        quoted: list[int] = []
        for i, c in enumerate(chunks):
            if c.doc_id not in docs:
                docs[c.doc_id] = len(sources)
                sources.append([c.doc_id, c.source])
            encoded = c.text.encode("utf-8")
            who = [names.setdefault(q, len(names)) for q in c.quoted]
            rows[i] = (
                docs[c.doc_id],
                -1 if c.speaker is None else names.setdefault(c.speaker, len(names)),
                c.turn,
                c.part,
                c.parts,
                c.start,
                c.end,
                math.nan if c.time_start is None else c.time_start,
                math.nan if c.time_end is None else c.time_end,
                chunk_key(c),
                len(text),
                len(text) + len(encoded),
                len(quoted),
                len(quoted) + len(who),
                word_count(c.text),
            )
            text += encoded
            quoted.extend(who)
        return cls(rows, bytes(text), np.array(quoted, dtype=np.int32), list(names), sources)

    def __len__(self) -> int:
        return len(self.records)

    def __getitem__(self, i: int) -> Chunk:  # type: ignore[override]
        doc, speaker, turn, part, parts, start, end, t0, t1, _, a, b, qa, qb, _ = self.records[i].item()
        doc_id, source = self.docs[doc]
        return Chunk(
            chunk_id=f"{doc_id}#{turn}.{part}",
            doc_id=doc_id,
            source=source,
            turn=turn,
            part=part,
            parts=parts,
            speaker=None if speaker < 0 else self.names[speaker],
            quoted=tuple(self.names[q] for q in self._quoted[qa:qb].tolist()) if qb > qa else (),
            start=start,
            end=end,
            text=self._decode(a, b),
            time_start=None if math.isnan(t0) else t0,
            time_end=None if math.isnan(t1) else t1,
        )

    def turn_words(self) -> np.ndarray:
        """Per document (by id number), the median number of indexed words in a turn: short in a
        meeting (QMSum: 6-17; hearings 41-55), long where each turn is a speech (the seed: 842).
        Computed on first use, from the records alone."""
        if self._turn_words is None:
            r = self.records
            out = np.zeros(len(self.docs), dtype=np.float64)
            if len(r):
                key = (r["doc"].astype(np.int64) << 32) | r["turn"].astype(np.int64)  # one per turn
                turns, which = np.unique(key, return_inverse=True)
                per_turn = np.bincount(which, weights=r["words"], minlength=len(turns))
                docs, first = np.unique(turns >> 32, return_index=True)  # turns are sorted by document
                out[docs] = [np.median(w) for w in np.split(per_turn, first[1:])]
            self._turn_words = out
        return self._turn_words

    def words(self, rows: np.ndarray) -> np.ndarray:
        """How many words each of `rows` has (`rag.chunk.word_count`), without reading the texts."""
        return np.asarray(self.records["words"][rows])

    def _decode(self, start: int, end: int) -> str:
        try:
            return bytes(self._text[start:end]).decode("utf-8")
        except UnicodeDecodeError as err:
            where, fix = f"{self.path}/text.bin", f"run: rag build --index {self.path.parent}"
            raise IndexCorruptError(f"{where} is corrupt at byte {start + err.start:,}; {fix}") from err

    def __iter__(self) -> Iterator[Chunk]:
        return (self[i] for i in range(len(self)))

    # --- filters: row ids, ascending ---------------------------------------------------------

    def rows_of_doc(self, doc_id: str) -> np.ndarray:
        """The rows of one document. Grouped once for all documents on first use: an archive
        question resolves a person's seats in many documents (197 QMSum meetings: 0.3 ms a scan
        of the column, a few hundred scans for a role label)."""
        code = self._doc_ids.get(doc_id)
        if code is None:
            return _none()
        if self._by_doc is None:
            docs = np.asarray(self.records["doc"])
            order = np.argsort(docs, kind="stable")
            edges = np.searchsorted(docs[order], np.arange(len(self.docs) + 1))
            self._by_doc = [order[a:b].astype(np.int64) for a, b in zip(edges[:-1], edges[1:], strict=True)]
            for rows in self._by_doc:
                rows.setflags(write=False)  # shared between callers
        return self._by_doc[code]

    def rows_of_person(self, name: str) -> np.ndarray:
        """The rows a person speaks in and the rows that quote them."""
        code = self._name_ids.get(name)
        if code is None:
            return _none()
        spoken = np.flatnonzero(self.records["speaker"] == code)
        hits = np.flatnonzero(self._quoted == code)
        if not len(hits):
            return spoken
        quoting = np.searchsorted(self.records["quoted_end"], hits, side="right")
        return np.union1d(spoken, quoting)

    def rows_spoken_by(self, names: Iterable[str], rows: np.ndarray) -> np.ndarray:
        """Those of `rows` whose speaker is one of `names` (not the rows that only quote them)."""
        codes = [self._name_ids[n] for n in names if n in self._name_ids]
        rows = np.asarray(rows, dtype=np.int64)
        return rows[np.isin(self.records["speaker"][rows], codes)] if codes else _none()

    def find(self, chunk_id: str) -> int | None:
        """The row of the chunk with this id ("doc#turn.part"), or None."""
        doc_id, _, place = chunk_id.rpartition("#")
        turn, _, part = place.partition(".")
        if not (turn.isdigit() and part.isdigit()):
            return None
        rows = self.rows_of_doc(doc_id)
        r = self.records[rows]
        match = rows[(r["turn"] == int(turn)) & (r["part"] == int(part))]
        return int(match[0]) if len(match) else None

    @property
    def keys(self) -> np.ndarray:
        return np.asarray(self.records["key"])

    def doc_ids(self) -> list[str]:
        return [d[0] for d in self.docs]

    # --- persistence -------------------------------------------------------------------------

    def save(self, out: Path) -> None:
        out.mkdir(parents=True, exist_ok=True)
        np.save(out / "rows.npy", np.asarray(self.records))
        (out / "text.bin").write_bytes(bytes(self._text))
        np.save(out / "quoted.npy", np.asarray(self._quoted))
        sums = {
            n: zlib.crc32(np.ascontiguousarray(a).data)
            for n, a in (("rows.npy", self.records), ("quoted.npy", self._quoted))
        }
        sums["text.bin"] = zlib.crc32(bytes(self._text))
        (out / "names.json").write_text(
            json.dumps({"names": self.names, "docs": self.docs, "crc32": sums}, ensure_ascii=False), encoding="utf-8"
        )

    @classmethod
    def load(cls, path: Path, *, mmap: bool = True) -> ChunkTable:
        """Read `path` (written by `save`); large files stay on disk, paged in as rows are read.

        Raises:
            ValueError: "<file> is ...": a file is missing, truncated, garbled or not what `save` wrote.
        """
        mode: Literal["r"] | None = "r" if mmap else None
        try:
            meta = json.loads((path / "names.json").read_text(encoding="utf-8"))
            names, docs, sums = list(meta["names"]), [list(d) for d in meta["docs"]], meta["crc32"]
        except (OSError, ValueError, KeyError, TypeError) as err:
            raise ValueError(f"names.json is unreadable ({first_line(err)})") from err
        arrays = []
        for name in ("rows.npy", "quoted.npy"):
            try:
                arrays.append(np.load(path / name, mmap_mode=mode))
            except Exception as err:  # noqa: BLE001  (a garbled header fails in many ways; each is one line)
                raise ValueError(f"{name} is unreadable ({first_line(err)})") from err
            if zlib.crc32(np.ascontiguousarray(arrays[-1]).data) != sums[name]:
                raise ValueError(f"{name} does not match its checksum (the file was changed after the build)")
        rows, quoted = arrays
        if rows.dtype != ROW or quoted.dtype != np.int32:
            raise ValueError(f"rows.npy holds {rows.dtype}, not chunk records")
        try:
            size = (path / "text.bin").stat().st_size
            text: Any = b""
            if size:
                text = (
                    np.memmap(path / "text.bin", dtype=np.uint8, mode="r") if mmap else (path / "text.bin").read_bytes()
                )
        except OSError as err:
            raise ValueError(f"text.bin is unreadable ({first_line(err)})") from err
        if size <= CHECKED_TEXT_BYTES and zlib.crc32(bytes(text)) != sums.get("text.bin", 0):
            raise ValueError("text.bin does not match its checksum (the file was changed after the build)")
        table = cls(rows, text, quoted, names, docs)
        table.path = path
        if len(rows) and (int(rows["text_end"][-1]) != size or int(rows["quoted_end"][-1]) != len(quoted)):
            raise ValueError("text.bin is not as long as rows.npy says (it was cut or replaced)")
        if len(rows) and (int(rows["doc"].max()) >= len(docs) or int(rows["speaker"].max()) >= len(names)):
            raise ValueError("names.json lacks a document or speaker that rows.npy names")
        return table


def _none() -> np.ndarray:
    return np.zeros(0, dtype=np.int64)
