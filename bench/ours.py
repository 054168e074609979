"""Our pipeline: cold CLI answers, warm search/ask latency, concurrency, build time and memory."""

from __future__ import annotations

import json
import shutil
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from bench.common import ROOT, run_timed, stats

HELSINKI = "What did Dannenberg say about Helsinki?"
RAG = [sys.executable, "-m", "rag"]


def cold(index: Path, repeats: int = 7) -> dict[str, Any]:
    """Process start to printed answer, `rag ask` and `rag search`, with a built index."""
    out: dict[str, Any] = {}
    for name, args in [("ask", ["ask", HELSINKI]), ("search", ["search", HELSINKI])]:
        runs = [run_timed([*RAG, *args, "--index", str(index)]) for _ in range(repeats)]
        assert all(r["code"] == 0 for r in runs), runs[0]["stderr"]
        out[name] = {**stats([r["seconds"] for r in runs]), "peak_mb": max(r["peak_mb"] or 0 for r in runs)}
    trace = run_timed([sys.executable, "-X", "importtime", "-m", "rag", "ask", HELSINKI, "--index", str(index)])
    modules = {line.split("|")[-1].strip() for line in trace["stderr"].splitlines() if line.startswith("import time:")}
    out["imports_torch"] = "torch" in modules
    out["imports_sentence_transformers"] = "sentence_transformers" in modules
    return out


def questions(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def warm(index: Path, set_path: Path, *, rounds: int = 3) -> dict[str, Any]:
    """Per-call latency of Pipeline.search and Pipeline.ask (ms), and 1 vs 4 threads (questions/s)."""
    from rag import Pipeline

    pipe = Pipeline.load(index)
    qs = questions(set_path)
    for q in qs[:5]:
        pipe.ask(q["question"], doc_id=q.get("doc_id"))  # warm caches
    search_ms, ask_ms = [], []
    for _ in range(rounds):
        for q in qs:
            t0 = time.perf_counter()
            pipe.search(q["question"], k=5, doc_id=q.get("doc_id"), history=q.get("history", []))
            t1 = time.perf_counter()
            pipe.ask(q["question"], doc_id=q.get("doc_id"), history=q.get("history", []))
            t2 = time.perf_counter()
            search_ms.append((t1 - t0) * 1000)
            ask_ms.append((t2 - t1) * 1000)

    def run_all(_: int) -> None:
        for q in qs:
            pipe.ask(q["question"], doc_id=q.get("doc_id"), history=q.get("history", []))

    throughput = {}
    for workers in (1, 4):
        t0 = time.perf_counter()
        with ThreadPoolExecutor(workers) as pool:
            list(pool.map(run_all, range(4)))
        throughput[f"{workers}_threads_qps"] = 4 * len(qs) / (time.perf_counter() - t0)
    return {
        "chunks": len(pipe.chunks),
        "questions": len(qs),
        "search_ms": stats(search_ms),
        "ask_ms": stats(ask_ms),
        **throughput,
    }


def build(sources: Path, *, label: str) -> dict[str, Any]:
    """Fresh build in a subprocess (model load included), then an incremental one after touching a file."""
    with tempfile.TemporaryDirectory() as tmp:
        src = Path(tmp) / "src"
        shutil.copytree(sources, src)
        index = Path(tmp) / "index"
        first = run_timed([*RAG, "build", str(src), "--index", str(index), "--json"])
        assert first["code"] == 0, first["stderr"]
        report = json.loads(first["stdout"])
        noop = run_timed([*RAG, "build", str(src), "--index", str(index), "--json"])
        target = sorted(p for p in src.iterdir() if p.suffix in (".txt", ".json"))[0]
        _touch(target)
        again = run_timed([*RAG, "build", str(src), "--index", str(index), "--json"])
        inc = json.loads(again["stdout"])
        size = sum(p.stat().st_size for p in index.rglob("*") if p.is_file())
        onnx = (index / "encoder.onnx").stat().st_size if (index / "encoder.onnx").exists() else 0
    return {
        "label": label,
        "sources": len(report["added"]),
        "chunks": report["chunks"],
        "seconds": first["seconds"],
        "peak_mb": first["peak_mb"],
        "passages_per_s": report["embedded"] / max(report["embed_seconds"], 1e-9),
        "noop_seconds": noop["seconds"],
        "incremental": {
            "changed": inc["changed"],
            "embedded": inc["embedded"],
            "seconds": again["seconds"],
            "chunks_of_changed": inc["embedded"],
        },
        "disk_mb": size / 1e6,
        "disk_mb_without_encoder": (size - onnx) / 1e6,
    }


def _touch(path: Path) -> None:
    """Change one source: a new line for text, a new turn for QMSum JSON."""
    if path.suffix == ".json":
        data = json.loads(path.read_text())
        data["meeting_transcripts"].append({"speaker": "Benchmark", "content": "One more remark about the budget ."})
        path.write_text(json.dumps(data))
    else:
        path.write_text(path.read_text() + "\nDannenberg: One more remark about Helsinki and the budget.\n")


def main(quick: bool = False) -> dict[str, Any]:
    from bench.common import ROOT as root

    qmsum = _qmsum()
    seed_index = root / "index"
    q_index = root / "eval" / "indexes" / "qmsum"
    out: dict[str, Any] = {"cold": cold(seed_index, repeats=3 if quick else 7)}
    out["warm_seed"] = warm(seed_index, root / "eval" / "sets" / "seed.jsonl", rounds=1 if quick else 3)
    if q_index.exists() and (root / "eval" / "sets" / "qmsum-val.jsonl").exists():
        out["warm_qmsum"] = warm(q_index, root / "eval" / "sets" / "qmsum-val.jsonl", rounds=1)
    out["build_seed"] = build(root / "seeds", label="seed")
    if not quick and qmsum is not None:
        out["build_qmsum"] = build(qmsum, label="qmsum-val")
    return out


def _qmsum() -> Path | None:
    sys.path.insert(0, str(ROOT))
    from eval.qmsum import DEFAULT_DATA

    return DEFAULT_DATA if DEFAULT_DATA.is_dir() else None
