"""Extractive vs generated answers on a question set, and calibration of the support thresholds.

Asks every question once through a language model (an OpenAI-compatible server), keeps the raw
completions, then (1) scores the verified answers beside the extractive ones, and (2) re-verifies
the same completions under a grid of support thresholds (no model calls) to pick the pair that
keeps the most sentences while their citations still land on gold passages.

    python -m llama_cpp.server --model models/qwen2.5-coder-0.5b-instruct-q4.gguf --port 8080 &
    python eval/llm_eval.py eval/sets/seed.jsonl --url http://127.0.0.1:8080/v1 --model qwen
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from pathlib import Path
from typing import Any

from rag import OpenAIChat, Pipeline, Settings
from rag.evaluate import load_set
from rag.generate import build_prompt
from rag.metrics import citation_precision_recall, has_facts, is_attributed, is_valid_citation
from rag.verify import parse_claims, verify


def run(set_path: Path, index: Path, url: str, model: str) -> dict[str, Any]:
    base = Pipeline.load(index)
    llm = OpenAIChat(url, model, timeout=180)
    chunks = {c.chunk_id: c for c in base.chunks}
    rows = []
    for q in load_set(set_path):
        t0 = time.perf_counter()
        extractive = base.ask(q.question, history=q.history)
        t1 = time.perf_counter()
        row: dict[str, Any] = {
            "id": q.id,
            "kind": q.kind,
            "question": q.question,
            "expected": q.answerable,
            "speaker": q.speaker,
            "facts": [list(f) for f in q.facts],
            "gold": [[g.source, g.start, g.end] for g in q.gold],
            "extractive": _score(extractive, q, base, chunks) | {"ms": (t1 - t0) * 1000},
        }
        if extractive.answerable:
            hits = list(extractive.hits)
            prompt = build_prompt(q.question, hits, history=q.history, budget=base.settings.llm_budget)
            t2 = time.perf_counter()
            try:
                raw = llm.generate(prompt.messages)
            except Exception as err:  # noqa: BLE001 - recorded, the run goes on
                raw = ""
                row["error"] = str(err)
            row["raw"] = raw
            row["llm_ms"] = (time.perf_counter() - t2) * 1000
            row["sources"] = [h.chunk.chunk_id for h in prompt.sources]
            generated = Pipeline(base.index, base.embedder, base.settings, generator=_Fixed(raw)).ask(
                q.question, history=q.history
            )
            row["generated"] = _score(generated, q, base, chunks) | {"ms": row["llm_ms"]}
        rows.append(row)
        print(f"{q.id}: {row.get('generated', {}).get('mode', 'refused')}", flush=True)
    return {"rows": rows}


class _Fixed:
    name = "recorded"

    def __init__(self, text: str) -> None:
        self.text = text

    def generate(self, messages: list[dict[str, str]]) -> str:
        from rag.errors import LLMError

        if not self.text:
            raise LLMError("no completion recorded")
        return self.text


def _score(answer: Any, q: Any, pipe: Pipeline, chunks: dict[str, Any]) -> dict[str, Any]:
    precision, recall = citation_precision_recall(answer.citations, q.gold)
    return {
        "mode": answer.mode,
        "answerable": answer.answerable,
        "text": answer.text,
        "valid": all(is_valid_citation(c, pipe.documents) for c in answer.citations),
        "citations": len(answer.citations),
        "attributed": is_attributed(answer.citations, q.speaker, chunks) if q.speaker and answer.answerable else None,
        "facts": has_facts(answer.text, q.facts)
        if q.answerable and q.facts and answer.answerable
        else (False if q.answerable and q.facts else None),
        "precision": precision if answer.citations and q.gold else None,
        "dropped": len(answer.dropped),
        "sentences": len(answer.dropped) + (answer.text.count("[") if answer.mode == "generated" else 0),
    }


def summary(rows: list[dict[str, Any]], key: str) -> dict[str, Any]:
    def mean(vals: list[Any]) -> float | None:
        vals = [float(v) for v in vals if v is not None]
        return round(statistics.fmean(vals), 3) if vals else None

    scored = [r[key] for r in rows if key in r]
    answerable = [r for r in rows if r["expected"]]
    out = {
        "facts": mean([r[key]["facts"] for r in answerable if key in r and r["facts"]]),
        "speaker_attribution": mean([s["attributed"] for s in scored]),
        "citation_validity": mean([s["valid"] for s in scored if s["citations"]]),
        "citation_precision": mean([s["precision"] for s in scored]),
        "refusal_accuracy": mean([r["extractive"]["answerable"] == r["expected"] for r in rows]),
        "ms_p50": round(statistics.median([s["ms"] for s in scored]), 1) if scored else None,
    }
    if key == "generated":
        modes = [s["mode"] for s in scored]
        out["generated_share"] = round(modes.count("generated") / len(modes), 3) if modes else None
        dropped = sum(s["dropped"] for s in scored)
        kept = sum(s["citations"] > 0 and s["mode"] == "generated" for s in scored)
        total = sum(len(parse_claims(r.get("raw", ""))) for r in rows if "raw" in r)
        out["sentences_dropped_share"] = round(dropped / total, 3) if total else None
        out["answers_generated"] = kept
    return out


def calibrate(rows: list[dict[str, Any]], pipe: Pipeline) -> dict[str, Any]:
    """Re-verify the recorded completions under a grid of thresholds (no model calls)."""
    from rag.metrics import Gold

    chunks = {c.chunk_id: c for c in pipe.chunks}
    embedder = _Memo(pipe.embedder)
    grid = []
    for lexical in (0.4, 0.5, 0.6, 0.7, 0.8, 1.01):
        for cosine in (0.6, 0.65, 0.7, 0.75, 0.8, 0.85, 1.01):
            kept = on_gold = total = cites = 0
            for r in rows:
                if not r.get("raw") or not r["gold"]:
                    continue
                hits = [_hit(chunks[cid]) for cid in r["sources"]]
                v = verify(
                    r["raw"], hits, pipe.documents, pipe.roster, embedder, min_lexical=lexical, min_cosine=cosine
                )
                gold = [Gold(*g) for g in r["gold"]]
                total += v.total
                kept += v.kept
                cites += len(v.citations)
                on_gold += sum(citation_precision_recall([c], gold)[0] for c in v.citations)
            grid.append(
                {
                    "lexical": lexical,
                    "cosine": cosine,
                    "kept_share": round(kept / max(total, 1), 3),
                    "citation_precision": round(on_gold / max(cites, 1), 3),
                    "kept": kept,
                }
            )
    return {"grid": grid}


class _Memo:
    """The same vectors for the same texts: the grid re-verifies identical sentences many times."""

    def __init__(self, embedder: Any) -> None:
        self.embedder, self.name, self.dim = embedder, embedder.name, embedder.dim
        self.cache: dict[str, Any] = {}

    def embed(self, texts: list[str]) -> Any:
        import numpy as np

        missing = [t for t in dict.fromkeys(texts) if t not in self.cache]
        if missing:
            for t, v in zip(missing, self.embedder.embed(missing), strict=True):
                self.cache[t] = v
        return np.stack([self.cache[t] for t in texts])


def _hit(chunk: Any) -> Any:
    from rag.types import Hit

    return Hit(chunk, 1, 1.0, 1.0, 0.0)


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("set", type=Path)
    p.add_argument("--index", type=Path, default=Path("index"))
    p.add_argument("--url", required=True)
    p.add_argument("--model", default="qwen")
    p.add_argument("--out", type=Path, default=Path("eval/results/llm-seed.json"))
    p.add_argument("--reuse", action="store_true", help="re-score the completions already in --out")
    args = p.parse_args()
    data = json.loads(args.out.read_text()) if args.reuse else run(args.set, args.index, args.url, args.model)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(data, indent=2))  # the completions are the expensive part: keep them first
    pipe = Pipeline.load(args.index, settings=Settings())
    data["summary"] = {
        "extractive": summary(data["rows"], "extractive"),
        "generated": summary(data["rows"], "generated"),
    }
    data["calibration"] = calibrate(data["rows"], pipe)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(data, indent=2))
    print(json.dumps(data["summary"], indent=2))
    for g in data["calibration"]["grid"]:
        print(g)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
