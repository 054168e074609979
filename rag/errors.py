"""Errors raised by rag. Each message says what went wrong, the value, and the fix.

Every error is a `RagError`, and also the builtin that fits, so callers can catch either.
Only the edges (the CLI, the UI) turn these into user-facing messages.
"""

from __future__ import annotations


class RagError(Exception):
    """Base class of every error rag raises on purpose."""


class SourceError(RagError, ValueError):
    """A source file cannot be used as a transcript (binary, not UTF-8, empty, too large, malformed)."""


class EmptyCorpusError(RagError, ValueError):
    """No transcripts were found where sources were expected."""


class IndexNotFoundError(RagError, FileNotFoundError):
    """No built index at the given directory."""


class IndexMismatchError(RagError, ValueError):
    """The index was built with another model, dimension or format than the settings ask for."""


class IndexCorruptError(RagError, ValueError):
    """An index file is missing, truncated or unreadable."""


class QuestionError(RagError, ValueError):
    """A question or query cannot be asked (empty, too long)."""


class UnknownSpeakerError(RagError, ValueError):
    """A speaker filter names nobody in the index."""


class ModelNotFoundError(RagError, FileNotFoundError):
    """The embedding model's files are not where they should be."""


class LLMError(RagError, RuntimeError):
    """The language model could not be reached or gave no usable answer (the extractive one is used)."""


class IndexBusyError(RagError, RuntimeError):
    """Another build is writing the same index directory."""


class IndexWriteError(RagError, OSError):
    """The index directory cannot be written (permission, read-only file system, disk full)."""


class UnknownDocumentError(RagError, ValueError):
    """A document id names no document of the index."""


def first_line(err: BaseException) -> str:
    """The first line of an error's message (its type when it has none), for one-line reports."""
    text = str(err).strip().splitlines()
    return (text[0] if text else type(err).__name__)[:160]
