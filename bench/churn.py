"""`rag serve` under load while its index changes: C clients mixing /v1/ask, /v1/search and
/v1/chat/completions for S seconds while `rag add` and `rag remove` run every few seconds from
another process, as a user would run them from a shell (issue 26: a server must pick up each new
generation of its index and never call a good one corrupt).

    python -m bench.churn [--clients 16] [--seconds 60]   # table on stdout, JSON in bench/results/

The index is built in a temporary folder (the real model) from seeds/ and 80 short generated
meetings, more than a loaded index keeps parsed, so most answers read documents.jsonl. The writer
removes a meeting from the middle and adds it back (its line moves to the end: every later line of
documents.jsonl moves), a different one each time. Loopback only, a free port, stopped at the end.
"""

from __future__ import annotations

import argparse
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import httpx

from bench.common import ENV, ROOT, machine, stats, write

MEETINGS = 80


def question(i: int) -> str:
    if i % 10 == 0:
        return "What did Dannenberg say about Helsinki?"
    m = i % MEETINGS
    return f"What did Bob{m} Lane say about the harbour{m}?"


def meeting(i: int) -> str:
    return (
        f"Chair{i}: Welcome to meeting {i}.\n\nBob{i} Lane: The harbour{i} needs rebuilding before winter.\n\n"
        f"Carol{i} Diaz: I disagree about the budget{i}, it is far too small.\n"
    )


def rag(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "rag", *args], env=ENV, cwd=ROOT, capture_output=True, text=True)


def main(clients: int, seconds: float, every: float) -> dict[str, Any]:
    with tempfile.TemporaryDirectory() as tmp:
        corpus, index = Path(tmp) / "corpus", Path(tmp) / "index"
        corpus.mkdir()
        for p in sorted((ROOT / "seeds").glob("*.txt")):
            shutil.copy(p, corpus / p.name)
        for i in range(MEETINGS):
            (corpus / f"m{i:03d}.txt").write_text(meeting(i), encoding="utf-8")
        built = rag("build", str(corpus), "--index", str(index))
        if built.returncode != 0:
            raise RuntimeError(built.stderr)
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
        cmd = [sys.executable, "-m", "rag", "serve", "--index", str(index), "--port", str(port)]
        server = subprocess.Popen(cmd, env=ENV, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        base = f"http://127.0.0.1:{port}"
        try:
            deadline = time.monotonic() + 120
            while True:
                try:
                    if httpx.get(f"{base}/v1/health", timeout=10).status_code == 200:
                        break
                except httpx.TransportError:
                    pass
                if server.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError("rag serve did not start")
                time.sleep(0.2)
            return _load(base, index, corpus, clients=clients, seconds=seconds, every=every)
        finally:
            server.terminate()
            server.wait(timeout=30)


def _load(base: str, index: Path, corpus: Path, *, clients: int, seconds: float, every: float) -> dict[str, Any]:
    stop = time.monotonic() + seconds
    lock = threading.Lock()
    latencies: dict[str, list[float]] = {"ask": [], "search": [], "chat": []}
    errors: list[str] = []
    builds: list[str] = []

    def client(offset: int) -> None:
        with httpx.Client(base_url=base, timeout=120) as http:
            i = offset
            while time.monotonic() < stop:
                q = question(i)
                kind = ("ask", "search", "chat")[i % 3]
                t0 = time.perf_counter()
                if kind == "ask":
                    r = http.post("/v1/ask", json={"question": q})
                elif kind == "search":
                    r = http.post("/v1/search", json={"query": q, "k": 5})
                else:
                    r = http.post("/v1/chat/completions", json={"messages": [{"role": "user", "content": q}]})
                dt = time.perf_counter() - t0
                with lock:
                    latencies[kind].append(dt)
                    if r.status_code != 200 or "corrupt" in r.text:
                        errors.append(f"{kind} {r.status_code} {r.text[:200]}")
                i += 1

    def writer() -> None:
        n = 0
        while time.monotonic() < stop - every:
            doc = f"m{(7 + 13 * n) % MEETINGS:03d}"  # a different meeting each round
            for args in (("remove", doc), ("add", str(corpus / f"{doc}.txt"))):
                done = rag(*args, "--index", str(index))
                builds.append(f"{args[0]}: {'ok' if done.returncode == 0 else done.stderr.strip()[-200:]}")
                time.sleep(every)
            n += 1

    threads = [threading.Thread(target=client, args=(c,)) for c in range(clients)] + [threading.Thread(target=writer)]
    started = time.monotonic()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    elapsed = time.monotonic() - started
    n = sum(len(v) for v in latencies.values())
    return {
        "clients": clients,
        "seconds": round(elapsed, 1),
        "requests": n,
        "rps": n / elapsed,
        "latency_ms": {k: stats([x * 1000 for x in v]) for k, v in latencies.items() if v},
        "errors": len(errors),
        "corrupt": sum("corrupt" in e for e in errors),
        "first_errors": errors[:5],
        "builds": builds,
    }


if __name__ == "__main__":
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--clients", type=int, default=16)
    p.add_argument("--seconds", type=float, default=60.0)
    p.add_argument("--every", type=float, default=3.0, help="seconds between two builds (default 3)")
    args = p.parse_args()
    r = main(args.clients, args.seconds, args.every)
    ok = sum(b.endswith("ok") for b in r["builds"])
    print("| clients | seconds | requests | req/s | ask p50 ms | builds (ok) | errors | corrupt |")
    print("|---|---|---|---|---|---|---|---|")
    ask = r["latency_ms"].get("ask", {}).get("p50", float("nan"))
    print(
        f"| {r['clients']} | {r['seconds']} | {r['requests']} | {r['rps']:.0f} | {ask:.0f} | "
        f"{len(r['builds'])} ({ok}) | {r['errors']} | {r['corrupt']} |"
    )
    print(f"written: {write('churn', {'machine': machine(), **r})}")
