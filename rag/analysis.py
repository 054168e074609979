"""Analyse one document: its speaker turns, the paragraphs left out, and its people.

`analyse` runs the document-level stages in order (turns.py, names.py, people.py);
`analysis_fingerprint` names the code that decides them, so an index built by older code is
analysed again. Chunking and embedding are `build.py`'s job.
"""

from __future__ import annotations

import hashlib
import logging
import time
from functools import lru_cache
from pathlib import Path

from rag.config import Settings
from rag.names import common_words, find_quoted
from rag.people import find_people
from rag.turns import segment
from rag.types import Document, Transcript

log = logging.getLogger(__name__)


LONG = 1_000_000  # characters: a document whose analysis logs each step (it takes seconds)


def analyse(doc: Document, settings: Settings) -> Transcript:
    """Turns, excluded paragraphs and people of one document (a long one logs each step at INFO)."""
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
    people = find_people(doc, seg.turns, quoted, settings.aliases, seg.appearances, seg.label_roles)
    step("%s: analysed in %.1f s (%d people)", doc.source, time.perf_counter() - started, len(people))
    return Transcript(doc, tuple(seg.turns), tuple(seg.excluded), tuple(people), tuple(seg.warnings))


@lru_cache(maxsize=1)
def analysis_fingerprint() -> str:
    """A hash of the code that decides formats, turns, speakers, chunks and sentences.

    Stored in the manifest: when it differs, unchanged sources are analysed again (their vectors
    are reused wherever the chunk and its speaker are the same), so a fix to attribution reaches
    an existing index with the next `rag build` instead of waiting for the source to change.
    """
    import rag

    root = Path(rag.__file__).parent
    own = ("analysis.py", "turns.py", "names.py", "people.py", "chunk.py", "text.py", "sentences.py")
    files = sorted([*root.glob("formats/*.py"), *(root / f for f in own)])
    digest = hashlib.sha256()
    for f in files:
        digest.update(f.read_bytes())
    return digest.hexdigest()[:16]
