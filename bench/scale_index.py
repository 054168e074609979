"""rag's own index at scale: build with N synthetic chunks, then load it in a fresh process and search.

Synthetic, said plainly: chunk vectors are clustered random unit vectors (bench/scale.py) and texts
are 60 words from a Zipf vocabulary; one synthetic document holds them all. What is measured is
rag's Index (FAISS flat or HNSW by size, bm25s, chunk table): build seconds, disk size, and in a new
process the load time, resident memory and hybrid search latency (filtered and not).

    python -m bench.scale_index N     # prints one JSON line
"""

from __future__ import annotations

import json
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

from bench.scale import vectors


def build(n: int, out: Path) -> dict[str, Any]:
    from rag.index import FORMAT_VERSION, Index
    from rag.types import Chunk, Document, Transcript

    rng = np.random.default_rng(3)
    vocab = [f"w{i}" for i in range(50_000)]
    ranks = np.minimum(rng.zipf(1.2, size=(n, 60)), len(vocab)) - 1
    speakers = [f"Speaker {i}" for i in range(20)]
    chunks, pos = [], 0
    for i, row in enumerate(ranks):
        text = " ".join(vocab[j] for j in row)
        chunks.append(
            Chunk(
                f"synthetic#{i}.1",
                "synthetic",
                "synthetic.txt",
                i,
                1,
                1,
                speakers[i % 20],
                (),
                pos,
                pos + len(text),
                text,
            )
        )
        pos += len(text) + 1
    doc = Document("synthetic", "synthetic.txt", "", "text", "")
    t0 = time.perf_counter()
    manifest = {"format": FORMAT_VERSION, "dim": 384, "model": "synthetic", "counts": {"documents": 1, "chunks": n}}
    index = Index.create(chunks, vectors(n), [Transcript(doc, (), (), ())], manifest)
    index.save(out)
    seconds = time.perf_counter() - t0
    size = sum(p.stat().st_size for p in out.rglob("*") if p.is_file())
    return {"build_s": seconds, "disk_mb": size / 1e6, "index_type": index.manifest["index_type"]}


def search(index_dir: Path) -> dict[str, Any]:
    from rag.index import Index
    from rag.search import hybrid_search

    t0 = time.perf_counter()
    index = Index.load(index_dir)
    load = time.perf_counter() - t0
    rss_loaded = _rss_mb()
    rng = np.random.default_rng(4)
    q = index.matrix[rng.integers(0, len(index.chunks), 100)] + 0.05 * rng.standard_normal((100, 384)).astype(
        np.float32
    )
    q /= np.linalg.norm(q, axis=1, keepdims=True)
    terms = [[f"w{int(t)}" for t in rng.integers(0, 200, 3)] for _ in range(100)]
    speaker_rows = index.rows(speakers=["Speaker 3"])
    out: dict[str, Any] = {"load_s": load, "rss_after_load_mb": rss_loaded}
    for name, rows in (("all", None), ("one speaker (5%)", speaker_rows)):
        times = []
        for v, t in zip(q, terms, strict=True):
            s = time.perf_counter()
            hybrid_search(index, v, t, k=5, rows=rows, full_words=10)
            times.append((time.perf_counter() - s) * 1000)
        times.sort()
        out[name] = {"p50_ms": times[50], "p95_ms": times[94]}
    out["peak_rss_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return out


def _rss_mb() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


if __name__ == "__main__":
    if sys.argv[1] == "--search":
        print(json.dumps(search(Path(sys.argv[2]))))
        raise SystemExit(0)
    n = int(sys.argv[1])
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "index"
        result = {"n": n, **build(n, out)}
        p = subprocess.run(
            [sys.executable, "-m", "bench.scale_index", "--search", str(out)], capture_output=True, text=True
        )
        result.update(
            json.loads(p.stdout.strip().splitlines()[-1]) if p.returncode == 0 else {"error": p.stderr[-800:]}
        )
    print(json.dumps(result))
