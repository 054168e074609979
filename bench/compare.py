"""Side by side with the peers: same model, documents and questions; ratios from the same run."""

from __future__ import annotations

import json
import statistics
import sys
import tempfile
from pathlib import Path
from typing import Any

from bench.common import ROOT, run_timed, stats

PEERS_PYTHON = ROOT / ".venv-peers" / "bin" / "python"
HELSINKI = "What did Dannenberg say about Helsinki?"


def workload(sets: dict[str, tuple[Path, Path]]) -> dict[str, Any]:
    """Documents and questions for each set, as the peers read them (no rag import there)."""
    from rag import Pipeline
    from rag.evaluate import load_set

    out: dict[str, Any] = {"cold_question": HELSINKI}
    for name, (set_path, index) in sets.items():
        pipe = Pipeline.load(index)
        questions = [q for q in load_set(set_path) if q.answerable]
        out[name] = {
            "documents": [{"doc_id": d.doc_id, "source": d.source, "text": d.text} for d in pipe.documents.values()],
            "questions": [
                {
                    "id": q.id,
                    "question": q.question,
                    "doc_id": q.doc_id,
                    "history": list(q.history),
                    "gold": [[g.source, g.start, g.end] for g in q.gold],
                }
                for q in questions
            ],
        }
    return out


def span_scores(ranked: dict[str, list[dict[str, Any]]], data: dict[str, Any]) -> dict[str, float]:
    """Hit@1, Hit@5 and MRR@10 where a passage counts when it overlaps a gold span."""
    source_of = {d["doc_id"]: d["source"] for d in data["documents"]}
    hit1, hit5, rr = [], [], []
    for q in data["questions"]:
        gold = q["gold"]
        flags = [
            any(source_of.get(h["doc_id"]) == s and h["start"] < e and st < h["end"] for s, st, e in gold)
            for h in ranked.get(q["id"], [])[:10]
        ]
        hit1.append(float(any(flags[:1])))
        hit5.append(float(any(flags[:5])))
        rr.append(next((1 / (i + 1) for i, f in enumerate(flags) if f), 0.0))
    return {"hit@1": statistics.fmean(hit1), "hit@5": statistics.fmean(hit5), "mrr@10": statistics.fmean(rr)}


def ours(data_sets: dict[str, Any], indexes: dict[str, Path]) -> dict[str, Any]:
    import time

    from rag import Pipeline

    out = {}
    for name, data in data_sets.items():
        pipe = Pipeline.load(indexes[name])
        ranked, lat = {}, []
        for q in data["questions"]:
            t0 = time.perf_counter()
            hits = pipe.search(q["question"], k=10, doc_id=q["doc_id"], history=q["history"])
            lat.append((time.perf_counter() - t0) * 1000)
            ranked[q["id"]] = [{"doc_id": h.chunk.doc_id, "start": h.chunk.start, "end": h.chunk.end} for h in hits]
        out[name] = {
            **span_scores(ranked, data),
            "latency_ms": stats(lat),
            "chunks": len(pipe.chunks),
            "mean_chunk_chars": statistics.fmean(len(c.text) for c in pipe.chunks),
        }
    return out


def peers(sets: dict[str, tuple[Path, Path]], *, cold_repeats: int = 5) -> dict[str, Any]:
    if not PEERS_PYTHON.exists():
        print(f"skipping peers: {PEERS_PYTHON} is missing (make bench-peers installs it)", file=sys.stderr)
        return {}
    data = workload(sets)
    result: dict[str, Any] = {"ours": ours({k: data[k] for k in sets}, {k: v[1] for k, v in sets.items()})}
    with tempfile.TemporaryDirectory() as tmp:
        wl = Path(tmp) / "workload.json"
        wl.write_text(json.dumps(data))
        script = str(ROOT / "bench" / "peers.py")
        for system in ("llamaindex", "langchain"):
            persist = Path(tmp) / system
            built = run_timed([str(PEERS_PYTHON), script, str(wl), system, "build", str(persist)])
            if built["code"] != 0:
                result[system] = {"error": built["stderr"][-2000:]}
                continue
            info = json.loads(built["stdout"].strip().splitlines()[-1])
            colds = [
                run_timed([str(PEERS_PYTHON), script, str(wl), system, "cold", str(persist)])
                for _ in range(cold_repeats)
            ]
            quality_path = Path(tmp) / f"{system}-quality.json"
            q = run_timed([str(PEERS_PYTHON), script, str(wl), system, "quality", str(quality_path)])
            entry: dict[str, Any] = {
                "build_seed": {"seconds": built["seconds"], "peak_mb": built["peak_mb"], **info},
                "cold": {**stats([c["seconds"] for c in colds]), "peak_mb": max(c["peak_mb"] or 0 for c in colds)},
            }
            if q["code"] == 0:
                quality = json.loads(quality_path.read_text())
                for name, s in quality["sets"].items():
                    entry[name] = {
                        **span_scores(s["ranked"], data[name]),
                        "latency_ms": stats(s["latency_ms"]),
                        "build_s": s["build_s"],
                        "chunks": s["chunks"],
                        "mean_chunk_chars": s["mean_chunk_chars"],
                    }
                entry["quality_peak_mb"] = q["peak_mb"]
            else:
                entry["quality_error"] = q["stderr"][-2000:]
            result[system] = entry
    return result
