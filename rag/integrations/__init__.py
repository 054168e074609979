"""Retrievers for the frameworks most RAG apps are written in; each imports its framework lazily.

from rag.integrations.langchain import TranscriptRetriever      # pip install -e '.[langchain]'
from rag.integrations.llama_index import TranscriptRetriever    # pip install -e '.[llamaindex]'
"""

from __future__ import annotations

from typing import Any

from rag.types import Hit


def hit_metadata(hit: Hit) -> dict[str, Any]:
    """What a framework document carries: the hit's JSON (who said it, where, when) without the text."""
    meta = hit.to_dict()
    del meta["text"]  # the document's content already
    return meta
