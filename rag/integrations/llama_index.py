"""A LlamaIndex retriever over a rag index: `NodeWithScore`s whose metadata says who said it and where.

Example:
    from rag import Pipeline
    from rag.integrations.llama_index import TranscriptRetriever
    retriever = TranscriptRetriever(Pipeline.load("index"), k=5)
    nodes = retriever.retrieve("What did Dannenberg say about Helsinki?")
    nodes[0].node.metadata["speaker"]   # "Dannenberg"
"""

from __future__ import annotations

from typing import Any

try:
    from llama_index.core.retrievers import BaseRetriever
    from llama_index.core.schema import NodeWithScore, QueryBundle, TextNode
except ImportError as err:  # pragma: no cover - the extra is part of the test install
    raise ImportError(f"the LlamaIndex retriever needs its extra: pip install -e '.[llamaindex]' ({err})") from err

from rag.integrations import hit_metadata


class TranscriptRetriever(BaseRetriever):
    """rag's speaker-aware hybrid search as a LlamaIndex `BaseRetriever`."""

    def __init__(
        self, pipeline: Any, *, k: int = 5, speaker: str | None = None, doc_id: str | None = None, **kwargs: Any
    ) -> None:
        self.pipeline = pipeline
        self.k = k
        self.speaker = speaker
        self.doc_id = doc_id
        super().__init__(**kwargs)

    def _retrieve(self, query_bundle: QueryBundle) -> list[NodeWithScore]:
        hits = self.pipeline.search(query_bundle.query_str, k=self.k, speaker=self.speaker, doc_id=self.doc_id)
        return [
            NodeWithScore(
                node=TextNode(text=h.chunk.text, id_=h.chunk.chunk_id, metadata=hit_metadata(h)), score=h.score
            )
            for h in hits
        ]
