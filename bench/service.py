"""Load on the HTTP API: requests per second and p50/p95 latency of POST /v1/ask at 1, 8 and 32
concurrent clients, with 1 and 2 server workers, next to `Pipeline.ask` called in process.

    python -m bench.service [--seconds 8]      # table on stdout, JSON in bench/results/

Each row runs `rag serve` as a user would (loopback, a free port), warms it, then lets C client
threads post questions from the set for a fixed time. On the seed index and, when built, the QMSum
index (`make eval` builds it). Bounded: a few seconds per row, loopback only.
"""

from __future__ import annotations

import argparse
import json
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx

from bench.common import ENV, ROOT, machine, stats, write


def wait_for_server(proc: subprocess.Popen[bytes], probe: Callable[[], httpx.Response], seconds: float = 120) -> None:
    """Return once `probe()` answers 200; raise if the server process exits or `seconds` pass."""
    deadline = time.monotonic() + seconds
    while True:
        try:
            if probe().status_code == 200:
                return
        except httpx.TransportError:
            pass
        if proc.poll() is not None or time.monotonic() > deadline:
            raise RuntimeError("rag serve did not start")
        time.sleep(0.2)


def questions(path: Path) -> list[dict[str, Any]]:
    rows = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
    return [{"question": r["question"], "doc_id": r.get("doc_id")} for r in rows]


def in_process(index: Path, qs: list[dict[str, Any]], seconds: float) -> dict[str, Any]:
    from rag import Pipeline

    pipe = Pipeline.load(index)
    for q in qs[:5]:
        pipe.ask(q["question"], doc_id=q["doc_id"])
    times, stop, i = [], time.monotonic() + seconds, 0
    while time.monotonic() < stop:
        q = qs[i % len(qs)]
        t0 = time.perf_counter()
        pipe.ask(q["question"], doc_id=q["doc_id"])
        times.append(time.perf_counter() - t0)
        i += 1
    return {"rps": len(times) / seconds, "latency_ms": stats([t * 1000 for t in times])}


def over_http(index: Path, qs: list[dict[str, Any]], *, workers: int, clients: int, seconds: float) -> dict[str, Any]:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    cmd = [sys.executable, "-m", "rag", "serve", "--index", str(index), "--port", str(port), "--workers", str(workers)]
    proc = subprocess.Popen(cmd, env=ENV, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}/v1/ask"
    try:
        wait_for_server(proc, lambda: httpx.post(url, json={"question": qs[0]["question"]}, timeout=30))
        for q in qs[:10]:  # warm every worker a little
            httpx.post(url, json=q, timeout=30)
        latencies: list[float] = []
        errors = 0
        lock = threading.Lock()
        stop = time.monotonic() + seconds

        def client(offset: int) -> None:
            nonlocal errors
            with httpx.Client(timeout=60) as http:
                i = offset
                while time.monotonic() < stop:
                    q = qs[i % len(qs)]
                    t0 = time.perf_counter()
                    r = http.post(url, json=q)
                    dt = time.perf_counter() - t0
                    with lock:
                        latencies.append(dt)
                        errors += r.status_code != 200
                    i += 7

        threads = [threading.Thread(target=client, args=(c,)) for c in range(clients)]
        started = time.monotonic()
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        elapsed = time.monotonic() - started
        return {"rps": len(latencies) / elapsed, "latency_ms": stats([x * 1000 for x in latencies]), "errors": errors}
    finally:
        proc.terminate()
        proc.wait(timeout=30)


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--seconds", type=float, default=8.0, help="per row (default 8)")
    args = p.parse_args()
    sets = {"seed": (ROOT / "index", ROOT / "eval/sets/seed.jsonl")}
    if (ROOT / "eval/indexes/qmsum/manifest.json").exists() and (ROOT / "eval/sets/qmsum-val.jsonl").exists():
        sets["qmsum"] = (ROOT / "eval/indexes/qmsum", ROOT / "eval/sets/qmsum-val.jsonl")
    rows: list[dict[str, Any]] = []
    for name, (index, set_path) in sets.items():
        qs = questions(set_path)
        base = in_process(index, qs, args.seconds)
        rows.append({"index": name, "how": "Pipeline.ask in process", "clients": 1, "workers": "-", **base})
        for workers in (1, 2):
            for clients in (1, 8, 32):
                r = over_http(index, qs, workers=workers, clients=clients, seconds=args.seconds)
                rows.append({"index": name, "how": "POST /v1/ask", "clients": clients, "workers": workers, **r})
                print(f"{name} workers={workers} clients={clients}: {r['rps']:.0f} req/s", file=sys.stderr)
    print("| index | how | workers | clients | req/s | p50 ms | p95 ms | errors |")
    print("|---|---|---|---|---|---|---|---|")
    for r in rows:
        lat = r["latency_ms"]
        print(
            f"| {r['index']} | {r['how']} | {r['workers']} | {r['clients']} | {r['rps']:.0f} | "
            f"{lat['p50']:.1f} | {lat['p95']:.1f} | {r.get('errors', 0)} |"
        )
    print(f"written: {write('service', {'machine': machine(), 'seconds': args.seconds, 'rows': rows})}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
