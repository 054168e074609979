"""rag's own index at scale, per store: build N synthetic chunks, then load and search in fresh processes.

Synthetic, said plainly: chunk vectors are clustered random unit vectors (bench/scale.py); texts are
60 words from a Zipf vocabulary; chunks are spread over 1,000 documents. Speakers are drawn so that
filters keep 0.1 %, 2.5 % and 30 % of the rows ("Rare", "Some", "Many"; 20 others share the rest),
scattered through the index as real speakers are.

Measured: build seconds; in three fresh processes, load time and memory (resident after load, peak
while loading; medians); in a fourth, hybrid search latency (k=5) unfiltered and per filter, and the
dense recall@10 of the store's filtered search against exact scoring of the same rows.

    python -m bench.scale_index N [--store faiss|milvus]     # prints one JSON line
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

from bench.scale import vectors

FILTERS = {"Rare": 0.001, "Some": 0.025, "Many": 0.30}
DOCS = 1_000
QUERIES = 100


def speakers(n: int) -> list[str]:
    rng = np.random.default_rng(5)
    u = rng.random(n)
    names = np.array([f"Speaker {i}" for i in rng.integers(0, 20, n)], dtype=object)
    edge = 0.0
    for name, share in FILTERS.items():
        names[(u >= edge) & (u < edge + share)] = name
        edge += share
    return names.tolist()


def build(n: int, out: Path, store: dict[str, Any]) -> dict[str, Any]:
    from rag.index import FORMAT_VERSION, Index
    from rag.types import Chunk, Document, Transcript

    rng = np.random.default_rng(3)
    vocab = [f"w{i}" for i in range(50_000)]
    ranks = np.minimum(rng.zipf(1.2, size=(n, 60)), len(vocab)) - 1
    who = speakers(n)
    per_doc = -(-n // DOCS)
    chunks = []
    for i, row in enumerate(ranks):
        text = " ".join(vocab[j] for j in row)
        doc = f"synthetic-{i // per_doc:04d}"
        chunks.append(
            Chunk(f"{doc}#{i % per_doc}.1", doc, f"{doc}.txt", i % per_doc, 1, 1, who[i], (), 0, len(text), text)
        )
    docs = sorted({c.doc_id for c in chunks})
    transcripts = [Transcript(Document(d, f"{d}.txt", "", "text", ""), (), (), ()) for d in docs]
    manifest = {
        "format": FORMAT_VERSION,
        "dim": 384,
        "model": "synthetic",
        "counts": {"documents": len(docs), "chunks": n},
    }
    t0 = time.perf_counter()
    index = Index.create(chunks, vectors(n), transcripts, manifest, store=store, folder=out)
    created = time.perf_counter() - t0
    index.save(out)
    seconds = time.perf_counter() - t0
    size = sum(p.stat().st_size for p in out.rglob("*") if p.is_file())
    return {"build_s": seconds, "store_s": created, "disk_mb": size / 1e6, "index_type": index.manifest["index_type"]}


def load_only(index_dir: Path) -> dict[str, Any]:
    from rag.index import Index

    t0 = time.perf_counter()
    index = Index.load(index_dir)
    seconds = time.perf_counter() - t0
    index.rows(speakers=["Some"])  # a first filter, as the first question would
    return {"load_s": seconds, "rss_after_load_mb": _rss_mb(), "peak_rss_mb": _peak_mb()}


def search(index_dir: Path) -> dict[str, Any]:
    from rag.index import Index
    from rag.search import hybrid_search

    index = Index.load(index_dir)
    n = len(index.chunks)
    queries = QUERIES if index.manifest["store"]["kind"] == "faiss" else QUERIES // 4  # Milvus Lite is slow
    rng = np.random.default_rng(4)
    x = vectors(n)  # the build's vectors (same seed): the exact reference for every store
    q = x[rng.integers(0, n, queries)] + 0.05 * rng.standard_normal((queries, 384)).astype(np.float32)
    q /= np.linalg.norm(q, axis=1, keepdims=True)
    terms = [[f"w{int(t)}" for t in rng.integers(0, 200, 3)] for _ in range(queries)]
    out: dict[str, Any] = {}
    for name in ("all", *FILTERS):
        rows = None if name == "all" else index.rows(speakers=[name])
        times, recall = [], []
        for v, t in zip(q, terms, strict=True):  # timed apart from the exact reference below
            s = time.perf_counter()
            hybrid_search(index, v, t, k=5, rows=rows, full_words=10)
            times.append((time.perf_counter() - s) * 1000)
        for v in q:
            ids, _ = index.dense(v, n=10, rows=rows)
            allowed = np.arange(n) if rows is None else rows.ids
            exact = allowed[np.argsort(-(x[allowed] @ v), kind="stable")[:10]]
            recall.append(len(set(ids.tolist()) & set(exact.tolist())) / 10)
        out[name] = {
            "rows": n if rows is None else len(rows),
            "p50_ms": statistics.median(times),
            "p95_ms": sorted(times)[int(0.95 * (len(times) - 1))],
            "recall@10": statistics.fmean(recall),
        }
    if index.manifest["store"]["kind"] == "milvus":
        out["server_fusion"] = server_fusion(index, q, terms)
    return out


def server_fusion(index: Any, q: np.ndarray, terms: list[list[str]]) -> dict[str, Any]:
    """Milvus's own hybrid_search (dense + BM25 requests, RRFRanker(60)) against rag's client-side
    fusion: latency side by side, and how many of rag's top 5 the server's top 5 holds."""
    from pymilvus import AnnSearchRequest, RRFRanker

    from rag.milvus import _encode
    from rag.search import hybrid_search

    store = index.store
    server, client, overlap = [], [], []
    for v, t in zip(q, terms, strict=True):
        s = time.perf_counter()
        ours = hybrid_search(index, v, t, k=5)
        client.append((time.perf_counter() - s) * 1000)
        requests = [
            AnnSearchRequest([v.tolist()], "vector", {"metric_type": "IP"}, 50),
            AnnSearchRequest([" ".join(_encode(x) for x in t)], "sparse", {"metric_type": "BM25"}, 50),
        ]
        s = time.perf_counter()
        found = store.client.hybrid_search(store.name, requests, RRFRanker(60), limit=5, output_fields=["key"])
        server.append((time.perf_counter() - s) * 1000)
        theirs, _ = store._rows(found[0])
        overlap.append(len({h.chunk.chunk_id for h in ours} & {index.chunks[int(r)].chunk_id for r in theirs}) / 5)
    return {
        "client_p50_ms": statistics.median(client),
        "server_p50_ms": statistics.median(server),
        "top5_overlap": statistics.fmean(overlap),
    }


def _rss_mb() -> float:
    return _status("VmRSS:")


def _peak_mb() -> float:
    """VmHWM: this process's own high-water mark (ru_maxrss would count the parent's memory at
    fork time, since Linux keeps it across exec)."""
    return _status("VmHWM:")


def _status(field: str) -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field):
            return int(line.split()[1]) / 1024
    return 0.0


def _child(flag: str, index_dir: Path) -> dict[str, Any]:
    p = subprocess.run(
        [sys.executable, "-m", "bench.scale_index", flag, str(index_dir)], capture_output=True, text=True
    )
    if p.returncode != 0:
        return {"error": p.stderr[-800:]}
    return dict(json.loads(p.stdout.strip().splitlines()[-1]))


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("n", nargs="?", type=int)
    p.add_argument("--store", choices=["faiss", "milvus"], default="faiss")
    p.add_argument("--load", type=Path, help=argparse.SUPPRESS)
    p.add_argument("--search", type=Path, help=argparse.SUPPRESS)
    args = p.parse_args()
    if args.load:
        print(json.dumps(load_only(args.load)))
        return
    if args.search:
        print(json.dumps(search(args.search)))
        return
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "index"
        result: dict[str, Any] = {"n": args.n, "store": args.store, **build(args.n, out, {"kind": args.store})}
        if args.store == "milvus":
            from milvus_lite.server_manager import server_manager_instance

            server_manager_instance.release_all()  # let the child processes open the Lite database
        loads = [_child("--load", out) for _ in range(3)]
        if all("error" not in x for x in loads):
            for key in ("load_s", "rss_after_load_mb", "peak_rss_mb"):
                result[key] = statistics.median(x[key] for x in loads)
            result["peak_over_resident"] = result["peak_rss_mb"] / result["rss_after_load_mb"]
        else:
            result["error"] = next(x["error"] for x in loads if "error" in x)
        result["search"] = _child("--search", out)
    print(json.dumps(result))


if __name__ == "__main__":
    main()
