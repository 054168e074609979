"""Retrievers for the frameworks most RAG apps are written in; each imports its framework lazily.

from rag.integrations.langchain import TranscriptRetriever      # pip install -e '.[langchain]'
from rag.integrations.llama_index import TranscriptRetriever    # pip install -e '.[llamaindex]'
"""

from __future__ import annotations

from typing import Any

from rag.types import Hit


def hit_metadata(hit: Hit) -> dict[str, Any]:
    """What a framework document carries: who said it, where, and when."""
    c = hit.chunk
    return {
        "chunk_id": c.chunk_id,
        "doc_id": c.doc_id,
        "source": c.source,
        "speaker": c.speaker,
        "start": c.start,
        "end": c.end,
        "time_start": c.time_start,
        "time_end": c.time_end,
        "score": hit.score,
    }
