"""A LangChain retriever over a rag index: `Document`s whose metadata says who said it and where.

Example:
    from rag import Pipeline
    from rag.integrations.langchain import TranscriptRetriever
    retriever = TranscriptRetriever(pipeline=Pipeline.load("index"), k=5)
    docs = retriever.invoke("What did Dannenberg say about Helsinki?")
    docs[0].metadata["speaker"], docs[0].metadata["start"]   # ("Dannenberg", 10531)
"""

from __future__ import annotations

from typing import Any

try:
    from langchain_core.callbacks import CallbackManagerForRetrieverRun
    from langchain_core.documents import Document
    from langchain_core.retrievers import BaseRetriever
except ImportError as err:  # pragma: no cover - the extra is part of the test install
    raise ImportError(f"the LangChain retriever needs its extra: pip install -e '.[langchain]' ({err})") from err

from rag.integrations import hit_metadata


class TranscriptRetriever(BaseRetriever):
    """rag's speaker-aware hybrid search as a LangChain `BaseRetriever`.

    A speaker named in the query filters to them ("What did McLaughlin say about NATO?"), as in
    `Pipeline.search`; `speaker` and `doc_id` fix a filter for every query.
    """

    pipeline: Any
    k: int = 5
    speaker: str | None = None
    doc_id: str | None = None

    def _get_relevant_documents(self, query: str, *, run_manager: CallbackManagerForRetrieverRun) -> list[Document]:
        hits = self.pipeline.search(query, k=self.k, speaker=self.speaker, doc_id=self.doc_id)
        return [Document(page_content=h.chunk.text, metadata=hit_metadata(h), id=h.chunk.chunk_id) for h in hits]
