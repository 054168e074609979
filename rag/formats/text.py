"""Plain-text transcripts (`.txt`, `.md`): stored as written, split into turns by their labels.

The labels themselves are read by `rag.formats.labels` and judged per document in `rag.turns`.
"""

from __future__ import annotations

from rag.formats.rendered import Parsed

NAME = "text"
SUFFIXES = (".txt", ".md")


def sniff(text: str) -> bool:
    """Any text can be a labelled transcript: this is the fallback for its suffixes."""
    return True


def read(text: str, source: str) -> Parsed:
    return Parsed(text)
