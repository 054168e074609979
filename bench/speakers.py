"""How `rag inspect` (the analysis of one document: turns, speakers, aliases, people quoted) scales
with the number of distinct speakers, on generated town-hall transcripts.

python -m bench.speakers                  # 1,000, 2,000 and 10,000 speakers
python -m bench.speakers 500 1000         # other sizes

Each size is one fresh `rag inspect FILE` process (its wall time), median of `--repeat` runs; the
table is printed and the JSON written to bench/results/speakers-<date>.json.
"""

from __future__ import annotations

import argparse
import random
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from bench.common import ENV, ROOT, machine, table, write

SYLLABLES = "ka lo mi ra te su no vi ze pa do ri fe lu ma ko si ta ne bo".split()
ROLES = ("the harbour master", "a former councillor", "the town treasurer", "our librarian")


def names(n: int, seed: int = 0) -> list[str]:
    """`n` distinct "First Last" names, no first name used twice. Example: names(2) -> ["Koma Sudo", ...]"""
    rng = random.Random(seed)
    out: list[str] = []
    firsts: set[str] = set()
    while len(out) < n:
        first = "".join(rng.choice(SYLLABLES) for _ in range(rng.randint(2, 4))).capitalize()
        last = "".join(rng.choice(SYLLABLES) for _ in range(rng.randint(2, 4))).capitalize()
        if first not in firsts:
            firsts.add(first)
            out.append(f"{first} {last}")
    return out


def many_speakers(n: int, seed: int = 0) -> str:
    """A town-hall transcript where `n` people speak: an introduction that names a quarter of them
    (some with roles), one or two turns each, people quoted by surname, a few labels in capitals."""
    rng = random.Random(seed)
    people = names(n, seed)
    intro = [f"{ROLES[i % len(ROLES)]} {p}" if i % 3 == 0 else p for i, p in enumerate(people[: max(1, n // 4)])]
    lines = ["Town hall meeting", "", "Welcome. With us today are " + ", ".join(intro) + ".", ""]
    for i, p in enumerate(people):
        label = p.upper() if i % 50 == 7 else p
        other = people[rng.randrange(n)].split()[-1]
        lines += [f"{label}: I think item {i} matters. As {other} said, the budget is tight.", ""]
    for p in people[: n // 2]:
        lines += [f"{p}: Thank you, {people[rng.randrange(n)].split()[0]}.", ""]
    return "\n".join(lines)


def inspect_seconds(path: Path, timeout: float) -> float | None:
    """Wall time of `rag inspect path` in a fresh process; None when it ran past `timeout`."""
    started = time.perf_counter()
    try:
        done = subprocess.run(
            [sys.executable, "-m", "rag", "inspect", str(path)],
            env=ENV,
            cwd=ROOT,
            capture_output=True,
            text=True,
            timeout=timeout,
        )
    except subprocess.TimeoutExpired:
        return None
    if done.returncode != 0:
        raise RuntimeError(done.stderr)
    return time.perf_counter() - started


def main(sizes: list[int], repeat: int, label: str = "", timeout: float = 600) -> dict[str, Any]:
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for n in sizes:
            path = Path(tmp) / f"town-hall-{n}.txt"
            path.write_text(many_speakers(n), encoding="utf-8")
            runs = [inspect_seconds(path, timeout) for _ in range(repeat)]
            done = sorted(r for r in runs if r is not None)
            median = done[len(done) // 2] if len(done) == len(runs) else None  # None: over the timeout
            rows.append({"speakers": n, "bytes": path.stat().st_size, "seconds": median, "runs": runs})
    shown = [
        [r["speakers"], r["bytes"] // 1000, f"{r['seconds']:.2f}" if r["seconds"] else f"> {timeout:.0f}"] for r in rows
    ]
    print(table(shown, ["speakers", "KB", f"rag inspect s ({label or 'this checkout'})"]))
    result = {"machine": machine(), "label": label, "timeout": timeout, "speakers": rows}
    write("speakers", result)
    return result


if __name__ == "__main__":
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("sizes", nargs="*", type=int, default=[1_000, 2_000, 10_000])
    p.add_argument("--repeat", type=int, default=1)
    p.add_argument("--label", default="", help="stored with the results, e.g. the commit measured")
    p.add_argument("--timeout", type=float, default=600, help="seconds before one run counts as too slow")
    args = p.parse_args()
    main(args.sizes, args.repeat, args.label, args.timeout)
