"""Load while the index changes: 16 clients mixing POST /v1/ask, /v1/search and /v1/chat/completions
against a real `rag serve` for 60 s, while a loop runs `rag add` / `rag remove` of a small
transcript from a shell every few seconds.

    python -m bench.load [--seconds 60] [--clients 16]   # table on stdout, JSON in bench/results/

On a private corpus in a temporary directory (the seed, a panel and six copies of tests/data/formats:
92 documents, more than the 64 a server keeps parsed, so documents are read from disk while the index
changes), built with the real model; index/ is never touched. Half the questions name a document.
Each reply is counted by kind: ok, http 4xx / 5xx, "corrupt" (the server called its index
corrupt: issue 26 item 7), transport (no reply). Loopback only, bounded in time.
"""

from __future__ import annotations

import argparse
import json
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from pathlib import Path
from typing import Any

import httpx

from bench.common import ENV, ROOT, machine, stats, table, write
from bench.service import wait_for_server

ROUTES = ("ask", "search", "chat/completions")
COPIES = 6
ABOUT = "What was said about the budget and the schedule?"


def body(route: str, question: str, doc_id: str | None) -> dict[str, Any]:
    if route == "ask":
        return {"question": question, "doc_id": doc_id}
    if route == "search":
        return {"query": question, "k": 5, "doc_id": doc_id}
    return {"model": "rag", "messages": [{"role": "user", "content": question}]}


def kind(r: httpx.Response) -> str:
    if "corrupt" in r.text:
        return "corrupt"
    return "ok" if r.status_code == 200 else f"http {r.status_code}"


def rag(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "rag", *args], cwd=ROOT, env=ENV, capture_output=True, text=True)


def run(*, seconds: float = 60.0, clients: int = 16, pause: float = 3.0) -> dict[str, Any]:
    """The load run; returns its JSON (rows per route, the add/remove cycles, the first errors)."""
    questions = [
        json.loads(line)["question"]
        for line in (ROOT / "eval/sets/seed.jsonl").read_text(encoding="utf-8").splitlines()
        if line.strip()
    ]
    work = Path(tempfile.mkdtemp(prefix="rag-load-"))
    try:
        corpus = work / "corpus"
        shutil.copytree(ROOT / "seeds", corpus / "seeds")
        for n in range(COPIES):
            shutil.copytree(ROOT / "tests/data/formats", corpus / f"copy{n}")
        # in the first build and named to sort first: removing it moves every other document on disk
        extra = corpus / "a-panel.txt"
        shutil.copy(ROOT / "tests/data/panel.txt", extra)
        index = work / "index"
        built = rag("build", str(corpus), "--index", str(index))
        if built.returncode != 0:
            raise RuntimeError(f"rag build failed: {built.stderr[-500:]}")
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
        serve = subprocess.Popen(
            [sys.executable, "-m", "rag", "serve", "--index", str(index), "--port", str(port)],
            cwd=ROOT, env=ENV, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
        )  # fmt: skip
        try:
            return _load(f"http://127.0.0.1:{port}", serve, index, extra, questions, seconds, clients, pause)
        finally:
            serve.terminate()
            serve.wait(timeout=30)
    finally:
        shutil.rmtree(work, ignore_errors=True)


def _load(
    url: str,
    serve: subprocess.Popen[str],
    index: Path,
    extra: Path,
    questions: list[str],
    seconds: float,
    clients: int,
    pause: float,
) -> dict[str, Any]:
    wait_for_server(serve, lambda: httpx.get(f"{url}/v1/health", timeout=5))
    docs = [d["doc_id"] for d in httpx.get(f"{url}/v1/documents", timeout=30).json()]
    lock = threading.Lock()
    latencies: dict[str, list[float]] = {r: [] for r in ROUTES}
    kinds: dict[str, Counter[str]] = {r: Counter() for r in ROUTES}
    samples: list[str] = []
    cycles: list[dict[str, Any]] = []
    stop = time.monotonic() + seconds

    def client(offset: int) -> None:
        with httpx.Client(timeout=60) as http:
            i = offset
            while time.monotonic() < stop:
                route, question = ROUTES[i % len(ROUTES)], questions[i % len(questions)]
                doc_id = docs[(i * 7) % len(docs)] if i % 2 else None  # a document, or all of them
                t0 = time.perf_counter()
                try:
                    r = http.post(f"{url}/v1/{route}", json=body(route, ABOUT if doc_id else question, doc_id))
                    what, text = kind(r), r.text
                except httpx.TransportError as err:
                    what, text = "transport", repr(err)
                dt = time.perf_counter() - t0
                with lock:
                    latencies[route].append(dt * 1000)
                    kinds[route][what] += 1
                    if what != "ok" and len(samples) < 5:
                        samples.append(f"{route}: {what}: {text[:200]}")
                i += 1

    def changes() -> None:
        while time.monotonic() < stop:
            for verb, arg in (("remove", "a-panel"), ("add", str(extra))):
                if time.monotonic() >= stop:
                    return
                t0 = time.perf_counter()
                p = rag(verb, arg, "--index", str(index))
                cycles.append(
                    {"verb": verb, "code": p.returncode, "seconds": time.perf_counter() - t0, "stderr": p.stderr[-300:]}
                )
                time.sleep(pause)

    threads = [threading.Thread(target=client, args=(c,)) for c in range(clients)]
    threads.append(threading.Thread(target=changes))
    started = time.monotonic()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    elapsed = time.monotonic() - started
    rows = []
    for route in ROUTES:
        lat = stats(latencies[route]) if latencies[route] else {"p50": 0.0, "p95": 0.0, "n": 0}
        errors = {k: v for k, v in kinds[route].items() if k != "ok"}
        rows.append(
            {
                "route": f"POST /v1/{route}",
                "requests": sum(kinds[route].values()),
                "ok": kinds[route]["ok"],
                "errors": errors,
                "corrupt": kinds[route]["corrupt"],
                "latency_ms": lat,
            }
        )
    return {
        "seconds": elapsed,
        "clients": clients,
        "documents": len(docs),
        "rows": rows,
        "changes": {
            "add": sum(c["verb"] == "add" for c in cycles),
            "remove": sum(c["verb"] == "remove" for c in cycles),
            "failed": [c for c in cycles if c["code"] != 0],
            "seconds_p50": stats([c["seconds"] for c in cycles])["p50"] if cycles else 0.0,
        },
        "samples": samples,
    }


def report(result: dict[str, Any]) -> str:
    rows = []
    for r in result["rows"]:
        errors = ", ".join(f"{k} {v}" for k, v in sorted(r["errors"].items())) or "0"
        lat = r["latency_ms"]
        rows.append([r["route"], r["requests"], errors, r["corrupt"], f"{lat['p50']:.0f}", f"{lat['p95']:.0f}"])
    total = sum(r["requests"] for r in result["rows"])
    corrupt = sum(r["corrupt"] for r in result["rows"])
    bad = sum(sum(r["errors"].values()) for r in result["rows"])
    rows.append(["all", total, bad, corrupt, "", ""])
    c = result["changes"]
    lines = [
        f"## Load: {result['clients']} clients for {result['seconds']:.0f} s on {result['documents']} documents "
        "while the index changes "
        f"({c['add']} rag add, {c['remove']} rag remove, {len(c['failed'])} failed, p50 {c['seconds_p50']:.1f} s each)",
        "",
        table(rows, ["route", "requests", "errors by kind", "corrupt", "p50 ms", "p95 ms"]),
    ]
    if result["samples"]:
        lines += ["", "First errors:", *(f"- {s}" for s in result["samples"])]
    return "\n".join(lines)


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--seconds", type=float, default=60.0)
    p.add_argument("--clients", type=int, default=16)
    p.add_argument("--pause", type=float, default=3.0, help="seconds between rag add and rag remove (default 3)")
    args = p.parse_args()
    result = run(seconds=args.seconds, clients=args.clients, pause=args.pause)
    print(report(result))
    print(f"\nJSON: {write('load', {'machine': machine(), **result})}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
