"""The stored transcripts of an index, read one document at a time.

Files in an index directory:
    documents.jsonl       one transcript per line: text, cues, turns, excluded spans, people, warnings
    documents.index.json  [[doc_id, byte offset, byte length, people], ...] in line order

Opening an index reads only the small `documents.index.json` (who is in each document is needed
for every question); a document's text and turns are parsed when first asked for, and the last
few are kept (`CACHED`). So an index of ten thousand meetings opens as fast as one of ten.
`documents.jsonl` is opened once, when the index is: a build that swaps in a new generation of
the index later does not change what an open one reads (its file stays readable until closed).

    docs = Transcripts.open(Path("index"))
    docs["trump-putin"].turns, list(docs), docs.people()
"""

from __future__ import annotations

import json
import os
import threading
import weakref
from collections import OrderedDict
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import asdict
from pathlib import Path
from typing import Any, BinaryIO

from rag.errors import IndexCorruptError, first_line
from rag.types import Cue, Document, Excluded, Person, Transcript, Turn

CACHED = 64  # documents kept parsed


class Transcripts(Mapping[str, Transcript]):
    """doc_id -> Transcript, parsed on demand from documents.jsonl."""

    def __init__(
        self,
        path: Path | None,
        where: dict[str, tuple[int, int]],
        people: dict[str, tuple[Person, ...]],
        file: BinaryIO | None = None,
    ):
        self._path = path
        self._file = file  # documents.jsonl of this generation, held open (closed with this object)
        if file is not None:
            weakref.finalize(self, file.close)
        self._where = where  # doc_id -> (offset, length) in documents.jsonl
        self._people = people
        self._cache: OrderedDict[str, Transcript] = OrderedDict()
        self._lock = threading.Lock()  # the chat answers on several threads

    @classmethod
    def of(cls, transcripts: Iterable[Transcript]) -> Transcripts:
        """In memory (a fresh build, before it is saved)."""
        docs = cls(None, {}, {})
        for t in transcripts:
            docs._where[t.document.doc_id] = (0, 0)
            docs._people[t.document.doc_id] = t.people
            docs._cache[t.document.doc_id] = t
        return docs

    @classmethod
    def open(cls, folder: Path) -> Transcripts:
        """Raises: ValueError "<file> is ...": a file is missing, garbled or cut."""
        try:
            entries = json.loads((folder / "documents.index.json").read_text(encoding="utf-8"))
            where = {doc_id: (int(at), int(n)) for doc_id, at, n, _ in entries}
            people = {doc_id: tuple(_person(p) for p in ps) for doc_id, _, _, ps in entries}
        except (OSError, ValueError, KeyError, TypeError) as err:
            raise ValueError(f"documents.index.json is unreadable ({first_line(err)})") from err
        try:
            file = (folder / "documents.jsonl").open("rb")
        except OSError as err:
            raise ValueError(f"documents.jsonl is unreadable ({first_line(err)})") from err
        if any(at + n > os.fstat(file.fileno()).st_size for at, n in where.values()):
            file.close()
            raise ValueError("documents.jsonl is shorter than documents.index.json says (it was cut)")
        return cls(folder / "documents.jsonl", where, people, file)

    def __getitem__(self, doc_id: str) -> Transcript:
        with self._lock:
            found = self._cache.get(doc_id)
            if found is not None:
                self._cache.move_to_end(doc_id)
                return found
        at, n = self._where[doc_id]
        if self._path is None or self._file is None:
            raise KeyError(doc_id)
        try:
            with self._lock:
                self._file.seek(at)
                line = self._file.read(n)
            t = from_dict(json.loads(line))
        except Exception as err:  # noqa: BLE001  (a garbled line fails in many ways; each is one line)
            raise IndexCorruptError(
                f"{self._path} is corrupt at {doc_id} ({first_line(err)}); run: rag build --index {self._path.parent}"
            ) from err
        if t.document.doc_id != doc_id:
            raise IndexCorruptError(
                f"{self._path} holds {t.document.doc_id!r} where {doc_id!r} should be; "
                f"run: rag build --index {self._path.parent}"
            )
        with self._lock:
            self._cache[doc_id] = t
            while len(self._cache) > CACHED:
                self._cache.popitem(last=False)
        return t

    def __iter__(self) -> Iterator[str]:
        return iter(self._where)

    def __len__(self) -> int:
        return len(self._where)

    def __contains__(self, doc_id: object) -> bool:
        return doc_id in self._where

    def documents(self) -> Mapping[str, Document]:
        """doc_id -> Document, parsed on demand like the transcripts."""
        return _Documents(self)

    def people(self) -> dict[str, tuple[Person, ...]]:
        """Who is in each document, without parsing any document."""
        return self._people

    def save(self, folder: Path) -> None:
        """Write documents.jsonl and documents.index.json into `folder`."""
        entries = []
        with (folder / "documents.jsonl").open("wb") as f:
            for doc_id in self:
                line = (json.dumps(to_dict(self[doc_id]), ensure_ascii=False) + "\n").encode("utf-8")
                entries.append([doc_id, f.tell(), len(line), [asdict(p) for p in self._people[doc_id]]])
                _write_line(f, line)
            f.flush()
            os.fsync(f.fileno())
        (folder / "documents.index.json").write_text(json.dumps(entries, ensure_ascii=False), encoding="utf-8")


class _Documents(Mapping[str, Document]):
    def __init__(self, transcripts: Transcripts) -> None:
        self._transcripts = transcripts

    def __getitem__(self, doc_id: str) -> Document:
        return self._transcripts[doc_id].document

    def __iter__(self) -> Iterator[str]:
        return iter(self._transcripts)

    def __len__(self) -> int:
        return len(self._transcripts)

    def __contains__(self, doc_id: object) -> bool:
        return doc_id in self._transcripts


def _write_line(f: BinaryIO, line: bytes) -> None:
    f.write(line)


def to_dict(t: Transcript) -> dict[str, Any]:
    d = t.document
    return {
        "document": {
            "doc_id": d.doc_id,
            "source": d.source,
            "text": d.text,
            "format": d.format,
            "sha256": d.sha256,
            "cues": [
                [c.start, c.end, c.speaker, c.time_start, c.time_end, *([True] if c.uncertain else [])] for c in d.cues
            ],
        },
        "turns": [
            [x.index, x.speaker, x.start, x.end, [list(p) for p in x.paragraphs], x.time_start, x.time_end]
            for x in t.turns
        ],
        "excluded": [[x.start, x.end, x.reason] for x in t.excluded],
        "people": [asdict(p) for p in t.people],
        "warnings": list(t.warnings),
    }


def from_dict(d: dict[str, Any]) -> Transcript:
    doc = Document(**{**d["document"], "cues": tuple(Cue(*c) for c in d["document"]["cues"])})
    turns = tuple(
        Turn(doc.doc_id, i, sp, s, e, tuple((a, b) for a, b in paras), t0, t1)
        for i, sp, s, e, paras, t0, t1 in d["turns"]
    )
    excluded = tuple(Excluded(doc.doc_id, s, e, r) for s, e, r in d["excluded"])
    people = tuple(_person(p) for p in d["people"])
    return Transcript(doc, turns, excluded, people, tuple(d["warnings"]))


def _person(p: dict[str, Any]) -> Person:
    return Person(p["name"], p["kind"], tuple(p["aliases"]), tuple(p["roles"]), tuple(p["doc_ids"]), p["named"])
