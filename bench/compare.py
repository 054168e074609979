"""Side by side with the peers: same model, documents and questions, same candidate depth; ratios
from the same run. Cold starts are interleaved (rag, LlamaIndex, LangChain, LangChain + ONNX, then
again), every system gets the same repeats, and builds are timed as whole processes for everyone
(plus in-process, model load left out, for everyone). Quality is scored at an equal reading
budget: each passage expanded into the turns it touches, in order, first ten turns (turn nDCG@10,
Recall@10), next to passage Hit@k.
"""

from __future__ import annotations

import json
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from bench.common import ROOT, run_timed, stats

PEERS_PYTHON = ROOT / ".venv-peers" / "bin" / "python"
HELSINKI = "What did Dannenberg say about Helsinki?"
SYSTEMS = ("llamaindex", "langchain", "langchain-onnx")
RAG = [sys.executable, "-m", "rag"]


def workload(sets: dict[str, tuple[Path, Path]]) -> dict[str, Any]:
    """Documents (with their turns) and questions (with gold turns) for each set, as the peers
    read them (no rag import there)."""
    from rag import Pipeline
    from rag.evaluate import load_set, relevant_turns

    out: dict[str, Any] = {"cold_question": HELSINKI, "encoder": str(sets["seed"][1] / "encoder.onnx")}
    for name, (set_path, index) in sets.items():
        pipe = Pipeline.load(index)
        questions = [q for q in load_set(set_path) if q.answerable]
        out[name] = {
            "documents": [
                {
                    "doc_id": d.doc_id,
                    "source": d.source,
                    "text": d.text,
                    "turns": [[t.start, t.end] for t in pipe.index.transcripts[d.doc_id].turns],
                }
                for d in pipe.documents.values()
            ],
            "questions": [
                {
                    "id": q.id,
                    "question": q.question,
                    "doc_id": q.doc_id,
                    "history": list(q.history),
                    "gold": [[g.source, g.start, g.end] for g in q.gold],
                    "gold_turns": sorted(relevant_turns(q, pipe.index.transcripts)),
                }
                for q in questions
            ],
        }
    return out


def scores(ranked: dict[str, list[dict[str, Any]]], data: dict[str, Any]) -> dict[str, float]:
    """Passage Hit@1/Hit@5/MRR@10 (a passage counts when it overlaps a gold span) and turn nDCG@10 /
    Recall@10 (passages expanded into the turns they touch, first ten turns)."""
    from rag.metrics import ranking_scores

    docs = {d["doc_id"]: d for d in data["documents"]}
    hit1, hit5, rr, relevant, read = [], [], [], {}, {}
    for q in data["questions"]:
        gold = set(q["gold_turns"])
        turns: list[str] = []
        flags = []
        for h in ranked.get(q["id"], [])[:10]:
            touched = [
                f"{h['doc_id']}:{i}"
                for i, (s, e) in enumerate(docs[h["doc_id"]]["turns"])
                if s < h["end"] and h["start"] < e
            ]
            source = docs[h["doc_id"]]["source"]
            flags.append(any(source == src and h["start"] < e and s < h["end"] for src, s, e in q["gold"]))
            turns.extend(t for t in touched if t not in turns)
        hit1.append(float(any(flags[:1])))
        hit5.append(float(any(flags[:5])))
        rr.append(next((1 / (i + 1) for i, f in enumerate(flags) if f), 0.0))
        relevant[q["id"]], read[q["id"]] = gold, turns[:10]
    at10 = ranking_scores(relevant, read, ks=(10,))
    return {
        "hit@1": statistics.fmean(hit1),
        "hit@5": statistics.fmean(hit5),
        "mrr@10": statistics.fmean(rr),
        "turn_ndcg@10": statistics.fmean(s["ndcg@10"] for s in at10.values()),
        "turn_recall@10": statistics.fmean(s["recall@10"] for s in at10.values()),
    }


def ours(data_sets: dict[str, Any], indexes: dict[str, Path]) -> dict[str, Any]:
    """rag's passages for every question, warm search and warm ask latency."""
    from rag import Pipeline

    out = {}
    for name, data in data_sets.items():
        pipe = Pipeline.load(indexes[name])
        ranked, search_ms, ask_ms = {}, [], []
        for q in data["questions"][:2]:
            pipe.ask(q["question"], doc_id=q["doc_id"])  # warm: first-call costs out of the timings
        for q in data["questions"]:
            t0 = time.perf_counter()
            hits = pipe.search(q["question"], k=10, doc_id=q["doc_id"], history=q["history"])
            t1 = time.perf_counter()
            pipe.ask(q["question"], doc_id=q["doc_id"], history=q["history"])
            ask_ms.append((time.perf_counter() - t1) * 1000)
            search_ms.append((t1 - t0) * 1000)
            ranked[q["id"]] = [
                {"doc_id": h.chunk.doc_id, "start": h.chunk.start, "end": h.chunk.end if h.end is None else h.end}
                for h in hits
            ]
        passages = [r["end"] - r["start"] for rs in ranked.values() for r in rs]
        out[name] = {
            **scores(ranked, data),
            "latency_ms": stats(search_ms),
            "ask_ms": stats(ask_ms),
            "chunks": len(pipe.chunks),
            "mean_chunk_chars": statistics.fmean(len(c.text) for c in pipe.chunks),
            "mean_passage_chars": statistics.fmean(passages),
        }
    return out


def _rag_build_in_process(sources: Path) -> dict[str, Any]:
    """rag's build with the model already loaded (as the peers' in-process figure)."""
    code = (
        "import json, sys, time, tempfile, pathlib\n"
        "from rag import build_index\n"
        "from rag.embed import TorchEmbedder, packaged_model_path\n"
        "e = TorchEmbedder(packaged_model_path(), name='all-MiniLM-L6-v2')\n"
        "t = time.perf_counter()\n"
        "r = build_index([pathlib.Path(sys.argv[1])], pathlib.Path(tempfile.mkdtemp()) / 'i', embedder=e)\n"
        "print(json.dumps({'build_s': time.perf_counter() - t, 'chunks': r.chunks}))\n"
    )
    run = run_timed([sys.executable, "-c", code, str(sources)])
    return json.loads(run["stdout"].strip().splitlines()[-1]) if run["code"] == 0 else {"error": run["stderr"][-500:]}


def peers(sets: dict[str, tuple[Path, Path]], *, cold_repeats: int = 7) -> dict[str, Any]:
    if not PEERS_PYTHON.exists():
        print(f"skipping peers: {PEERS_PYTHON} is missing (make bench installs it)", file=sys.stderr)
        return {}
    data = workload(sets)
    result: dict[str, Any] = {"ours": ours({k: data[k] for k in sets}, {k: v[1] for k, v in sets.items()})}
    seeds = ROOT / "seeds"
    with tempfile.TemporaryDirectory() as tmp:
        wl = Path(tmp) / "workload.json"
        wl.write_text(json.dumps(data))
        script = str(ROOT / "bench" / "peers.py")
        entries: dict[str, dict[str, Any]] = {s: {} for s in ("rag", *SYSTEMS)}
        # builds: a whole fresh process each, to a persisted index (rag: `rag build`, with its ONNX export)
        rag_index = Path(tmp) / "rag-index"
        built = run_timed([*RAG, "build", str(seeds), "--index", str(rag_index)])
        entries["rag"]["build_seed"] = {"seconds": built["seconds"], "peak_mb": built["peak_mb"]}
        entries["rag"]["build_seed"].update(_rag_build_in_process(seeds))
        for system in SYSTEMS:
            run = run_timed([str(PEERS_PYTHON), script, str(wl), system, "build", str(Path(tmp) / system)])
            if run["code"] != 0:
                entries[system]["error"] = run["stderr"][-2000:]
                continue
            info = json.loads(run["stdout"].strip().splitlines()[-1])
            entries[system]["build_seed"] = {"seconds": run["seconds"], "peak_mb": run["peak_mb"], **info}
        # cold: process start to printed result, interleaved
        colds: dict[str, list[dict[str, Any]]] = {s: [] for s in ("rag ask", "rag search", *SYSTEMS)}
        for _ in range(cold_repeats):
            colds["rag ask"].append(run_timed([*RAG, "ask", HELSINKI, "--index", str(rag_index)]))
            colds["rag search"].append(run_timed([*RAG, "search", HELSINKI, "--index", str(rag_index)]))
            for system in SYSTEMS:
                if "error" not in entries[system]:
                    colds[system].append(
                        run_timed([str(PEERS_PYTHON), script, str(wl), system, "cold", str(Path(tmp) / system)])
                    )
        for name, runs in colds.items():
            if runs:
                key = ("rag", name.split()[1]) if name.startswith("rag ") else (name, "retrieval")
                entries[key[0]][f"cold_{key[1]}"] = {
                    **stats([r["seconds"] for r in runs]),
                    "peak_mb": max(r["peak_mb"] or 0 for r in runs),
                    "failed": sum(r["code"] != 0 for r in runs),
                }
        # quality and warm retrieval
        for system in SYSTEMS:
            if "error" in entries[system]:
                continue
            out = Path(tmp) / f"{system}-quality.json"
            q = run_timed([str(PEERS_PYTHON), script, str(wl), system, "quality", str(out)])
            if q["code"] != 0:
                entries[system]["quality_error"] = q["stderr"][-2000:]
                continue
            quality = json.loads(out.read_text())
            for name, s in quality["sets"].items():
                entries[system][name] = {
                    **scores(s["ranked"], data[name]),
                    "latency_ms": stats(s["latency_ms"]),
                    "build_s": s["build_s"],
                    "chunks": s["chunks"],
                    "mean_chunk_chars": s["mean_chunk_chars"],
                }
            entries[system]["quality_peak_mb"] = q["peak_mb"]
        result.update(entries)
    return result
