"""What the index's load-time checks cost: `Index.load` with its size and structure checks vs
without them, side by side in one process, interleaved; and the full `rag check` once.

    python -m bench.checks [--n 100000]     # table on stdout, JSON in bench/results/

Measured on the seed index (built with the packaged model when index/ is missing) and on a
synthetic index of N chunks (bench/scale_index.py). Medians of 7 interleaved loads each.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path
from typing import Any

from bench.common import ROOT, machine, stats, write


def measure(index: Path, repeats: int = 7) -> dict[str, Any]:
    from rag.index import Index, verify

    Index.load(index)  # warm the file cache for both arms
    timings: dict[str, list[float]] = {"checked": [], "unchecked": []}
    for _ in range(repeats):
        for arm, check in (("checked", True), ("unchecked", False)):
            t0 = time.perf_counter()
            Index.load(index, check=check)
            timings[arm].append(time.perf_counter() - t0)
    t0 = time.perf_counter()
    problems = verify(index)
    full = time.perf_counter() - t0
    checked, unchecked = stats(timings["checked"]), stats(timings["unchecked"])
    return {
        "load_checked_s": checked,
        "load_unchecked_s": unchecked,
        "ratio": checked["p50"] / unchecked["p50"],
        "rag_check_s": full,
        "rag_check_problems": len(problems),
    }


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--n", type=int, default=100_000, help="chunks in the synthetic index")
    args = p.parse_args()
    from bench.scale_index import build

    rows: dict[str, Any] = {}
    seed = ROOT / "index"
    if not (seed / "manifest.json").exists():
        from rag import build_index

        build_index([ROOT / "seeds"], seed)
    rows["seed"] = measure(seed)
    with tempfile.TemporaryDirectory() as tmp:
        build(args.n, Path(tmp) / "index")
        rows[f"synthetic {args.n:,}"] = measure(Path(tmp) / "index")
    print("| index | load, checked (p50) | load, no checks (p50) | ratio | rag check (full) |")
    print("|---|---|---|---|---|")
    for name, r in rows.items():
        print(
            f"| {name} | {r['load_checked_s']['p50'] * 1000:.1f} ms | {r['load_unchecked_s']['p50'] * 1000:.1f} ms "
            f"| {r['ratio']:.2f}x | {r['rag_check_s']:.2f} s |"
        )
    print(f"written: {write('checks', {'machine': machine(), 'rows': rows})}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
