"""Shared helpers: timing statistics, the machine, subprocess timing with peak memory, output."""

from __future__ import annotations

import json
import os
import platform
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "bench" / "results"
ENV = {**os.environ, "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1", "GRADIO_ANALYTICS_ENABLED": "False"}


def stats(values: list[float]) -> dict[str, float]:
    """Median, p95, min and n of a list of timings (any unit)."""
    data = sorted(values)
    p95 = data[min(len(data) - 1, round(0.95 * (len(data) - 1)))]
    return {"p50": statistics.median(data), "p95": p95, "min": data[0], "n": len(data)}


def machine() -> dict[str, Any]:
    cpu = "unknown"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    mem = 0
    try:
        mem = int(
            next(x for x in Path("/proc/meminfo").read_text().splitlines() if x.startswith("MemTotal")).split()[1]
        )
    except (OSError, StopIteration):
        pass
    return {"cores": os.cpu_count(), "cpu": cpu, "memory_gb": round(mem / 1e6, 1), "python": platform.python_version()}


def run_timed(cmd: list[str], *, cwd: Path = ROOT, env: dict[str, str] | None = None) -> dict[str, Any]:
    """Run a command; wall seconds, peak RSS (MB) of the child, exit code, output."""
    wrapper = [sys.executable, str(ROOT / "bench" / "rusage.py"), *cmd]
    started = time.perf_counter()
    p = subprocess.run(wrapper, cwd=cwd, env=env or ENV, capture_output=True, text=True)
    seconds = time.perf_counter() - started
    peak = None
    for line in p.stderr.splitlines():
        if line.startswith("RUSAGE_MAXRSS_KB="):
            peak = int(line.split("=", 1)[1]) / 1024
    return {"seconds": seconds, "peak_mb": peak, "code": p.returncode, "stdout": p.stdout, "stderr": p.stderr}


def self_peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def write(name: str, data: dict[str, Any]) -> Path:
    RESULTS.mkdir(parents=True, exist_ok=True)
    path = RESULTS / f"{name}-{time.strftime('%Y%m%d-%H%M%S')}.json"
    path.write_text(json.dumps(data, indent=2) + "\n")
    return path


def table(rows: list[list[Any]], header: list[str]) -> str:
    """A Markdown table."""
    cells = [[str(c) for c in r] for r in [header, *rows]]
    widths = [max(len(r[i]) for r in cells) for i in range(len(header))]
    line = lambda r: "| " + " | ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)) + " |"  # noqa: E731
    return "\n".join([line(cells[0]), "|" + "|".join("-" * (w + 2) for w in widths) + "|", *map(line, cells[1:])])
