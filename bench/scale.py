"""Vector search at 10k, 100k and 1M chunks: exact (flat) vs approximate (HNSW), and BM25.

Synthetic data, said plainly: vectors are 384-d, drawn around 2,000 random centres and
L2-normalised (real embeddings cluster too; uniform random vectors are a harder, less realistic
case for HNSW); BM25 texts are 60 words drawn from a Zipf vocabulary of 50,000 words. Each size
runs in its own process so its peak memory is its own. Run: python -m bench.scale N [N ...]
"""

from __future__ import annotations

import json
import resource
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

DIM = 384
QUERIES = 200


def vectors(n: int, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    centres = rng.standard_normal((2000, DIM)).astype(np.float32)
    x = centres[rng.integers(0, len(centres), n)] + 0.6 * rng.standard_normal((n, DIM)).astype(np.float32)
    x /= np.linalg.norm(x, axis=1, keepdims=True)
    return x


def latency(fn: Any, queries: np.ndarray) -> tuple[float, float, np.ndarray]:
    ids = []
    times = []
    for q in queries:
        t0 = time.perf_counter()
        ids.append(fn(q.reshape(1, -1)))
        times.append((time.perf_counter() - t0) * 1000)
    times.sort()
    return times[len(times) // 2], times[int(0.95 * (len(times) - 1))], np.vstack(ids)


def run(n: int) -> dict[str, Any]:
    import faiss

    x = vectors(n)
    rng = np.random.default_rng(1)
    q = x[rng.integers(0, n, QUERIES)] + 0.05 * rng.standard_normal((QUERIES, DIM)).astype(np.float32)
    q /= np.linalg.norm(q, axis=1, keepdims=True)
    out: dict[str, Any] = {"n": n}
    with tempfile.TemporaryDirectory() as tmp:
        t0 = time.perf_counter()
        flat = faiss.IndexFlatIP(DIM)
        flat.add(x)
        build = time.perf_counter() - t0
        p50, p95, exact = latency(lambda v: flat.search(v, 10)[1], q)
        faiss.write_index(flat, f"{tmp}/flat")
        out["flat"] = {
            "build_s": build,
            "p50_ms": p50,
            "p95_ms": p95,
            "recall@10": 1.0,
            "disk_mb": Path(f"{tmp}/flat").stat().st_size / 1e6,
        }
        flat.reset()  # free its memory before HNSW is built
        t0 = time.perf_counter()
        hnsw = faiss.IndexHNSWFlat(DIM, 32, faiss.METRIC_INNER_PRODUCT)
        hnsw.hnsw.efConstruction = 80
        hnsw.add(x)
        build = time.perf_counter() - t0
        faiss.write_index(hnsw, f"{tmp}/hnsw")
        out["hnsw"] = {"build_s": build, "disk_mb": Path(f"{tmp}/hnsw").stat().st_size / 1e6, "ef": {}}
        for ef in (64, 128, 256, 512, 1024):
            hnsw.hnsw.efSearch = ef
            p50, p95, got = latency(lambda v: hnsw.search(v, 10)[1], q)
            recall = np.mean([len(set(a) & set(b)) / 10 for a, b in zip(got, exact, strict=True)])
            out["hnsw"]["ef"][ef] = {"p50_ms": p50, "p95_ms": p95, "recall@10": float(recall)}
    out["bm25"] = bm25(n)
    out["peak_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return out


def bm25(n: int) -> dict[str, Any]:
    """bm25s index and get_scores latency over n synthetic passages (as rag's Index.lexical does)."""
    import bm25s

    rng = np.random.default_rng(2)
    vocab = [f"w{i}" for i in range(50_000)]
    ranks = np.minimum(rng.zipf(1.2, size=(n, 60)), len(vocab)) - 1
    corpus = [[vocab[i] for i in row] for row in ranks]
    t0 = time.perf_counter()
    index = bm25s.BM25()
    index.index(corpus, show_progress=False)
    build = time.perf_counter() - t0
    times = []
    for row in ranks[:QUERIES, :4]:
        terms = [vocab[i] for i in row]
        t = time.perf_counter()
        scores = index.get_scores(terms)
        np.argpartition(-scores, 50)[:50]
        times.append((time.perf_counter() - t) * 1000)
    times.sort()
    return {"build_s": build, "p50_ms": times[len(times) // 2], "p95_ms": times[int(0.95 * (len(times) - 1))]}


if __name__ == "__main__":
    for arg in sys.argv[1:]:
        print(json.dumps(run(int(arg))), flush=True)
