"""An archive at two sizes, side by side: the 35 QMSum validation meetings, and the same 35 plus
the 162 training meetings (197 meetings, about 108,000 turns), each built into one index.

Per index: build seconds and peak memory (a fresh `rag build` process, model load and ONNX export
included), size on disk, the query process's resident and peak memory, warm `Pipeline.ask` p50/p95
over the QMSum validation questions asked of the whole archive (no meeting named) and within their
own meeting (`doc_id`, the within-meeting figure to compare with), and, for the same 237 questions,
"meeting found at rank 1" (doc@1), passage Hit@5, turn nDCG@10 and the "which one?" replies: how
much 162 extra meetings dilute finding the right one. Real data, the real MiniLM encoder.

    python -m bench.archive                       # both sizes (about 30 minutes on 2 quiet cores)
    python -m bench.archive --train PATH/qmsum/train --keep DIR
    python -m bench.archive --query INDEX         # the query half alone, on a built index (one JSON line)

The training meetings are not vendored (only eval/data/qmsum/val is); they are looked for in
`shared/data/qmsum/train` beside the repository or beside one of its parent folders (the project
keeps them in `../shared/data/qmsum/`), or given with --train or $RAG_QMSUM_TRAIN.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from bench.common import ENV, ROOT, machine, run_timed, stats, table, write

VAL = Path("eval/data/qmsum/val")  # relative to ROOT: the gold spans name these sources
ROUNDS = 2  # warm rounds over the question set


def find_train(given: Path | None = None) -> Path | None:
    """The QMSum training meetings: --train, $RAG_QMSUM_TRAIN, or shared/data/qmsum/train beside
    the repository or one of its parents (a worktree sits deeper than the main checkout)."""
    if given is not None:
        return given if given.is_dir() else None
    if os.environ.get("RAG_QMSUM_TRAIN"):
        path = Path(os.environ["RAG_QMSUM_TRAIN"])
        return path if path.is_dir() else None
    for parent in ROOT.parents:
        path = parent / "shared" / "data" / "qmsum" / "train"
        if path.is_dir():
            return path
    return None


MISSING = (
    "QMSum train (162 meetings) not found: looked for shared/data/qmsum/train beside {root} and its "
    "parents. Get the QMSum training split (github.com/Yale-LILY/QMSum, data/ALL/jsonl/train "
    "converted to one JSON per meeting as in eval/data/qmsum/README.md) and pass --train PATH "
    "or set RAG_QMSUM_TRAIN."
)


def archive_set(path: Path) -> Path:
    """The QMSum validation questions with no meeting named (eval/sets/qmsum-archive.jsonl's rows)."""
    sys.path.insert(0, str(ROOT))
    from eval.qmsum import archived, questions

    rows = [archived(r) for r in questions(VAL)]
    path.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), encoding="utf-8")
    return path


def build(sources: list[Path], index: Path) -> dict[str, Any]:
    """A fresh build in its own process: seconds, peak MB, chunks, size on disk."""
    r = run_timed([sys.executable, "-m", "rag", "build", *map(str, sources), "--index", str(index), "--json"])
    if r["code"] != 0:
        raise SystemExit(f"rag build failed:\n{r['stderr'][-2000:]}")
    report = json.loads(r["stdout"])
    size = sum(p.stat().st_size for p in index.rglob("*") if p.is_file())
    onnx = index / "encoder.onnx"
    encoder = onnx.stat().st_size if onnx.exists() else 0
    manifest = json.loads((index / "manifest.json").read_text())
    return {
        "seconds": r["seconds"],
        "peak_mb": r["peak_mb"],
        "documents": len(report["added"]),
        "chunks": report["chunks"],
        "embedded": report["embedded"],
        "embed_seconds": report["embed_seconds"],
        "index_type": manifest.get("index_type"),
        "disk_mb": size / 1e6,
        "disk_mb_without_encoder": (size - encoder) / 1e6,
    }


def query(index: Path, set_path: Path, rounds: int = ROUNDS) -> dict[str, Any]:
    """In this process: load, warm `ask` per call (archive and within-meeting), then the set's scores."""
    from rag import Pipeline
    from rag.evaluate import run_eval

    t0 = time.perf_counter()
    pipe = Pipeline.load(index)
    load_s = time.perf_counter() - t0
    rss_loaded = _status("VmRSS:")
    qs = [json.loads(line) for line in set_path.read_text().splitlines() if line.strip()]
    for q in qs[:5]:
        pipe.ask(q["question"])  # warm caches
    archive_ms, within_ms = [], []
    for _ in range(rounds):
        for q in qs:
            t1 = time.perf_counter()
            pipe.ask(q["question"])
            t2 = time.perf_counter()
            pipe.ask(q["question"], doc_id=q["gold_doc"])
            t3 = time.perf_counter()
            archive_ms.append((t2 - t1) * 1000)
            within_ms.append((t3 - t2) * 1000)
    result = run_eval(set_path, index=index, out=None, pipe=pipe)
    overall = result.summary["overall"]
    speaker = result.summary["by_kind"].get("speaker", {})
    return {
        "chunks": len(pipe.chunks),
        "questions": len(qs),
        "load_s": load_s,
        "rss_after_load_mb": rss_loaded,
        "peak_rss_mb": _status("VmHWM:"),
        "ask_archive_ms": stats(archive_ms),
        "ask_within_ms": stats(within_ms),
        "doc@1": overall["document_at_1"],
        "hit@5": overall["hit@5"],
        "turn_ndcg@10": overall["turn_ndcg@10"],
        "mrr@10": overall["mrr@10"],
        "asked_which_one": overall["asked_which_one"],
        "speaker_questions": speaker.get("questions", 0),
        "speaker_asked_which_one": speaker.get("asked_which_one", 0),
        "misattributed_citations": overall["misattributed_citations"],
    }


def _status(field: str) -> float:
    """This process's own VmRSS / VmHWM in MB (ru_maxrss would count the parent's at fork)."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field):
            return int(line.split()[1]) / 1024
    return 0.0


def _query_child(index: Path, set_path: Path) -> dict[str, Any]:
    p = subprocess.run(
        [sys.executable, "-m", "bench.archive", "--query", str(index), "--set", str(set_path)],
        cwd=ROOT,
        env=ENV,
        capture_output=True,
        text=True,
    )
    if p.returncode != 0:
        raise SystemExit(f"query process failed:\n{p.stderr[-2000:]}")
    return dict(json.loads(p.stdout.strip().splitlines()[-1]))


def run(train: Path, keep: Path | None) -> dict[str, Any]:
    tmp = Path(tempfile.mkdtemp(prefix="bench-archive-"))
    base = keep or tmp
    set_path = archive_set(tmp / "qmsum-archive.jsonl")
    corpora = {"35 meetings (val)": [VAL], "197 meetings (val + train)": [VAL, train]}
    out: dict[str, Any] = {"machine": machine(), "train": str(train), "archives": {}}
    try:
        for name, (label, sources) in zip(("val", "all"), corpora.items(), strict=True):
            index = base / name
            if index.exists():
                shutil.rmtree(index)
            load_before = os.getloadavg()[0]
            built = build(sources, index)
            print(f"{label}: built in {built['seconds']:.0f} s, {built['chunks']:,} chunks", file=sys.stderr)
            asked = _query_child(index, set_path)
            out["archives"][label] = {**built, **asked, "load_average": [load_before, os.getloadavg()[0]]}
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return out


def report(r: dict[str, Any]) -> str:
    rows = []
    for label, a in r["archives"].items():
        rows.append(
            [
                label,
                f"{a['chunks']:,}",
                f"{a['seconds']:.0f}",
                f"{a['peak_mb']:,.0f}",
                f"{a['disk_mb_without_encoder']:.1f}",
                f"{a['load_s']:.2f}",
                f"{a['peak_rss_mb']:,.0f}",
                f"{a['ask_within_ms']['p50']:.1f} / {a['ask_within_ms']['p95']:.1f}",
                f"{a['ask_archive_ms']['p50']:.1f} / {a['ask_archive_ms']['p95']:.1f}",
                f"{a['doc@1']:.3f}",
                f"{a['hit@5']:.3f}",
                f"{a['turn_ndcg@10']:.3f}",
                f"{a['speaker_asked_which_one']} / {a['speaker_questions']}",
            ]
        )
    header = [
        "archive",
        "chunks",
        "build s",
        "build peak MB",
        "index MB",
        "load s",
        "query peak MB",
        "ask ms within meeting p50 / p95",
        "ask ms archive p50 / p95",
        "doc@1",
        "Hit@5",
        "turn nDCG@10",
        "which one? / speaker qs",
    ]
    lines = [table(rows, header)]
    archives = list(r["archives"].values())
    if len(archives) == 2:
        small, big = archives
        ratio = big["ask_archive_ms"]["p50"] / small["ask_within_ms"]["p50"]
        lines.append(
            f"\nWarm archive ask p50 at 197 meetings is {ratio:.2f}x the within-meeting p50 at 35 "
            f"(target: within 3x); build {big['seconds'] / small['seconds']:.1f}x, "
            f"index {big['disk_mb_without_encoder'] / small['disk_mb_without_encoder']:.1f}x."
        )
    return "\n".join(lines)


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--train", type=Path, help="the QMSum train folder (162 meetings)")
    p.add_argument("--keep", type=Path, help="build the indexes here (val/, all/) and keep them")
    p.add_argument("--query", type=Path, help=argparse.SUPPRESS)
    p.add_argument("--set", type=Path, help=argparse.SUPPRESS)
    args = p.parse_args()
    os.chdir(ROOT)  # the set's gold sources are repository-relative
    if args.query:
        set_path = args.set or archive_set(Path(tempfile.mkdtemp()) / "qmsum-archive.jsonl")
        print(json.dumps(query(args.query, set_path)))
        return 0
    train = find_train(args.train)
    if train is None:
        print(MISSING.format(root=ROOT), file=sys.stderr)
        return 2
    result = run(train, args.keep)
    path = write("archive", result)
    print(report(result))
    print(f"\nJSON: {path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
