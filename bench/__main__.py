"""Run the benchmarks and print one table per part; JSON goes to bench/results/.

python -m bench                 # everything (about 25 minutes on 2 cores; 1M vectors is most of it)
python -m bench --quick         # ours only, smaller repeats, no scale, no peers (about 1 minute)
python -m bench --only scale    # one part: ours, scale, peers, load
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

from bench.common import ENV, ROOT, machine, table, write


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--quick", action="store_true")
    p.add_argument("--only", choices=["ours", "scale", "peers", "load", "speakers"])
    p.add_argument("--sizes", nargs="*", type=int, default=[10_000, 100_000, 1_000_000])
    p.add_argument("--milvus-sizes", nargs="*", type=int, default=[100_000], help="Milvus Lite store sizes")
    args = p.parse_args()
    result: dict[str, Any] = {"machine": machine()}
    parts = [args.only] if args.only else (["ours"] if args.quick else ["ours", "scale", "peers", "load", "speakers"])
    if "ours" in parts:
        from bench import ours

        result["ours"] = ours.main(quick=args.quick)
    if "scale" in parts:
        result["scale"] = [scale(n) for n in args.sizes]
        result["scale_index"] = [scale(n, module="bench.scale_index") for n in args.sizes if n >= 100_000]
        # Milvus Lite is a pure-Python stand-in for a Milvus server: correct, slow, reported, not targeted
        result["scale_index"] += [scale(n, "bench.scale_index", "--store", "milvus") for n in args.milvus_sizes]
    if "peers" in parts:
        from bench.compare import peers

        sets = {"seed": (ROOT / "eval/sets/seed.jsonl", ROOT / "index")}
        if (ROOT / "eval/indexes/qmsum").exists() and (ROOT / "eval/sets/qmsum-val.jsonl").exists():
            sets["qmsum"] = (ROOT / "eval/sets/qmsum-val.jsonl", ROOT / "eval/indexes/qmsum")
        result["peers"] = peers(sets)
    if "load" in parts:  # 16 clients for 60 s while rag add / rag remove change the index
        from bench import load

        result["load"] = load.run()
    if "speakers" in parts:
        from bench import speakers

        result["speakers"] = speakers.main([1_000, 2_000, 10_000], repeat=1)["speakers"]  # prints its table
    path = write("bench", result)
    print(report(result))
    print(f"\nJSON: {path}")
    return 0


def scale(n: int, module: str = "bench.scale", *flags: str) -> dict[str, Any]:
    p = subprocess.run(
        [sys.executable, "-m", module, str(n), *flags], cwd=ROOT, env=ENV, capture_output=True, text=True
    )
    if p.returncode != 0:
        return {"n": n, "error": p.stderr[-1000:]}
    return dict(json.loads(p.stdout.strip().splitlines()[-1]))


def report(r: dict[str, Any]) -> str:
    m = r["machine"]
    out = [f"Machine: {m['cores']} cores, {m['cpu']}, {m['memory_gb']} GB, Python {m['python']}"]
    if "ours" in r:
        o = r["ours"]
        c = o["cold"]
        out += [
            "",
            "## Cold start (process start to printed answer, seed index)",
            "",
            table(
                [
                    ["rag ask", f"{c['ask']['p50']:.2f}", f"{c['ask']['p95']:.2f}", f"{c['ask']['peak_mb']:.0f}"],
                    [
                        "rag search",
                        f"{c['search']['p50']:.2f}",
                        f"{c['search']['p95']:.2f}",
                        f"{c['search']['peak_mb']:.0f}",
                    ],
                ],
                ["command", "p50 s", "p95 s", "peak MB"],
            ),
            f"\nimports torch: {c['imports_torch']}; "
            f"imports sentence_transformers: {c['imports_sentence_transformers']}",
        ]
        rows = []
        for key, label in (("warm_seed", "seed"), ("warm_qmsum", "QMSum val")):
            if key in o:
                w = o[key]
                rows.append(
                    [
                        label,
                        w["chunks"],
                        w["questions"],
                        f"{w['search_ms']['p50']:.1f}",
                        f"{w['search_ms']['p95']:.1f}",
                        f"{w['ask_ms']['p50']:.1f}",
                        f"{w['ask_ms']['p95']:.1f}",
                        f"{w['1_threads_qps']:.0f}",
                        f"{w['4_threads_qps']:.0f}",
                    ]
                )
        out += [
            "",
            "## Warm latency (ms) and throughput (questions/s)",
            "",
            table(
                rows,
                [
                    "index",
                    "chunks",
                    "questions",
                    "search p50",
                    "search p95",
                    "ask p50",
                    "ask p95",
                    "1 thread",
                    "4 threads",
                ],
            ),
        ]
        rows = []
        for key in ("build_seed", "build_qmsum"):
            if key in o:
                b = o[key]
                inc = b["incremental"]
                rows.append(
                    [
                        b["label"],
                        b["sources"],
                        b["chunks"],
                        f"{b['seconds']:.1f}",
                        f"{b['peak_mb']:.0f}",
                        f"{b['passages_per_s']:.0f}",
                        f"{b['noop_seconds']:.2f}",
                        f"{inc['seconds']:.1f} ({', '.join(inc['changed'])}: {inc['embedded']} embedded)",
                        f"{b['disk_mb_without_encoder']:.1f} + 90",
                    ]
                )
        out += [
            "",
            "## Build (fresh, in a new process, model load included)",
            "",
            table(
                rows,
                [
                    "corpus",
                    "sources",
                    "chunks",
                    "seconds",
                    "peak MB",
                    "passages/s",
                    "no-op s",
                    "after touching one source",
                    "disk MB (+ encoder)",
                ],
            ),
        ]
    if "scale" in r:
        rows = []
        for s in r["scale"]:
            if "error" in s:
                rows.append([f"{s['n']:,}", "error", "", "", "", "", "", ""])
                continue
            h = s["hnsw"]
            ef = h["ef"]["512"]
            rows.append(
                [
                    f"{s['n']:,}",
                    f"{s['flat']['p50_ms']:.2f}",
                    f"{s['flat']['disk_mb']:.0f}",
                    f"{h['build_s']:.1f}",
                    f"{ef['p50_ms']:.2f}",
                    f"{ef['recall@10']:.3f}",
                    f"{h['disk_mb']:.0f}",
                    f"{s['bm25']['p50_ms']:.2f}",
                    f"{s['peak_mb']:.0f}",
                ]
            )
        out += [
            "",
            "## Scale (synthetic vectors and texts; see bench/scale.py)",
            "",
            table(
                rows,
                [
                    "chunks",
                    "flat p50 ms",
                    "flat MB",
                    "HNSW build s",
                    "HNSW p50 ms (ef 512)",
                    "HNSW recall@10",
                    "HNSW MB",
                    "BM25 p50 ms",
                    "peak MB",
                ],
            ),
        ]
        rows, recall = [], []
        for s in r.get("scale_index", []):
            found = s.get("search", {})
            if "error" in s or "all" not in found:
                rows.append([f"{s['n']:,}", s.get("store", "-"), (s.get("error") or found.get("error", ""))[:80]])
                continue
            rows.append(
                [
                    f"{s['n']:,}",
                    f"{s['store']} ({s['index_type']})",
                    f"{s['build_s']:.0f}",
                    f"{s['disk_mb']:,.0f}",
                    f"{s['load_s']:.2f}",
                    f"{s['rss_after_load_mb']:,.0f} / {s['peak_rss_mb']:,.0f}",
                    *(f"{found[f]['p50_ms']:.1f} / {found[f]['p95_ms']:.1f}" for f in ("all", "Rare", "Some", "Many")),
                ]
            )
            recall.append(
                [f"{s['n']:,}", s["store"], *(f"{found[f]['recall@10']:.3f}" for f in ("all", "Rare", "Some", "Many"))]
            )
        if rows:
            header = [
                "chunks",
                "store",
                "build s",
                "disk MB",
                "load s",
                "resident / peak MB",
                "hybrid p50 / p95 ms",
                "filter 0.1 %",
                "filter 2.5 %",
                "filter 30 %",
            ]
            out += ["", "## rag's own index at scale (synthetic; hybrid search, k=5)", "", table(rows, header)]
            header = ["chunks", "store", "unfiltered", "filter 0.1 %", "filter 2.5 %", "filter 30 %"]
            out += ["", "Dense recall@10 against exact scoring of the same rows:", "", table(recall, header)]
    if r.get("peers"):
        out += ["", peers_table(r["peers"])]
    if r.get("load"):
        from bench import load

        out += ["", load.report(r["load"])]
    return "\n".join(out)


NAMES = {
    "rag": "rag (this project)",
    "llamaindex": "LlamaIndex (FAISS inner product + BM25 stemmed, QueryFusion)",
    "langchain": "LangChain (FAISS + BM25 word tokens, Ensemble)",
    "langchain-onnx": "LangChain + rag's ONNX encoder",
}


def peers_table(p: dict[str, Any]) -> str:
    """Three tables: speed like for like, quality at an equal reading budget, and the ratios."""
    systems = [s for s in NAMES if s in p]
    cold, quality = [], []
    for s in systems:
        e = p[s]
        if "error" in e:
            cold.append([NAMES[s], "error", "", "", "", "", ""])
            continue
        b = e.get("build_seed", {})
        c = e.get("cold_search") or e.get("cold_retrieval") or {}
        ask = e.get("cold_ask")
        warm = {k: e[k]["latency_ms"]["p50"] for k in ("seed", "qmsum") if k in e and k != "ours"}
        if s == "rag":
            warm = {k: p["ours"][k]["latency_ms"]["p50"] for k in ("seed", "qmsum") if k in p["ours"]}
        cold.append(
            [
                NAMES[s],
                f"{c.get('p50', 0):.2f} ({c.get('min', 0):.2f}-{c.get('p95', 0):.2f})",
                f"{ask['p50']:.2f}" if ask else "-",
                f"{c.get('peak_mb', 0):.0f}",
                f"{b.get('seconds', 0):.1f}" if b else "-",
                f"{b.get('build_s', 0):.1f}" if "build_s" in b else "-",
                " / ".join(f"{warm[k]:.1f}" for k in ("seed", "qmsum") if k in warm),
            ]
        )
        src = p["ours"] if s == "rag" else e
        for name in ("seed", "qmsum"):
            if name in src:
                q = src[name]
                quality.append(
                    [
                        NAMES[s],
                        name,
                        f"{q['turn_ndcg@10']:.3f}",
                        f"{q['turn_recall@10']:.3f}",
                        f"{q['hit@1']:.3f} / {q['hit@5']:.3f} / {q['mrr@10']:.3f}",
                        f"{q.get('mean_passage_chars', q['mean_chunk_chars']):,.0f}",
                    ]
                )
    out = [
        "## Peers, same machine, model, documents and questions (cold runs interleaved, 7 each)",
        "",
        table(
            cold,
            [
                "system",
                "cold retrieval s p50 (min-p95)",
                "cold answer s",
                "cold peak MB",
                "build seed s (whole process)",
                "build seed s (in process, model loaded)",
                "warm retrieval ms p50 (seed / QMSum)",
            ],
        ),
        "",
        "## Retrieval quality at an equal reading budget (passages expanded into turns, first ten)",
        "",
        table(
            quality,
            ["system", "set", "turn nDCG@10", "turn Recall@10", "passage hit@1 / hit@5 / MRR", "mean passage chars"],
        ),
    ]
    return "\n".join(out)


if __name__ == "__main__":
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
    raise SystemExit(main())
