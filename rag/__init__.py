# Public API
"""rag: speaker-aware question answering over interviews and transcripts, with verified quotes.

from pathlib import Path
from rag import Pipeline, build_index

build_index([Path("seeds")], Path("index"))
pipe = Pipeline.load(Path("index"))
answer = pipe.ask("What did Dannenberg say about Helsinki?")
"""

__version__ = "0.1.0"

from rag.build import BuildReport, build_index
from rag.chunk import chunk_turns
from rag.config import Settings
from rag.corpus import corpus_roots
from rag.errors import (
    EmptyCorpusError,
    IndexCorruptError,
    IndexMismatchError,
    IndexNotFoundError,
    LLMError,
    QuestionError,
    RagError,
    SourceError,
    UnknownSpeakerError,
)
from rag.formats import SUFFIXES as TRANSCRIPT_SUFFIXES
from rag.generate import LlamaCpp, OpenAIChat, add_generator_options, generator_from_options
from rag.load import load_documents
from rag.pipeline import Pipeline
from rag.recordings import Recorder
from rag.turns import split_turns
from rag.types import Answer, Chunk, Citation, Document, Evidence, Hit, Person, Turn

__all__ = [
    "Answer",
    "BuildReport",
    "Chunk",
    "Citation",
    "Document",
    "EmptyCorpusError",
    "Evidence",
    "Hit",
    "IndexCorruptError",
    "IndexMismatchError",
    "IndexNotFoundError",
    "LLMError",
    "LlamaCpp",
    "OpenAIChat",
    "Person",
    "Pipeline",
    "QuestionError",
    "RagError",
    "Recorder",
    "Settings",
    "TRANSCRIPT_SUFFIXES",
    "SourceError",
    "Turn",
    "UnknownSpeakerError",
    "__version__",
    "add_generator_options",
    "build_index",
    "chunk_turns",
    "corpus_roots",
    "generator_from_options",
    "load_documents",
    "split_turns",
]
