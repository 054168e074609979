"""Write an evaluation run as JSON, a one-minute Markdown report, and two plots.

Takes plain data: a run's name, its summary and its per-question records, as `rag.evaluate`
makes them (this module never imports it). Plots need matplotlib (the `eval` extra); without it
the report is written without them.
"""

from __future__ import annotations

import json
import logging
import time
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)

HEADLINE = [
    ("turn_ndcg@10", "Turn nDCG@10 (first 10 turns read)"),
    ("turn_recall@10", "Turn Recall@10"),
    ("turn_recall@1000t", "Turn Recall, first 1,000 tokens"),
    ("hit@5", "Hit@5 (passages touching gold)"),
    ("mrr@10", "MRR@10 (passages)"),
    ("speaker_attribution", "Speaker attribution"),
    ("misattributed_citations", "Misattributed citations (must be 0)"),
    ("false_wrong_premise", 'False "did not talk about" replies (must be 0)'),
    ("wrong_premise_replies", '"Did not talk about" replies'),
    ("wrong_premises", "Wrong premises with `said_by`"),
    ("wrong_premise_right", '... answered "did not talk about", quoting who did'),
    ("wrong_premise_right_share", "... share answered so"),
    ("citation_validity", "Citation validity"),
    ("citation_precision", "Citation precision"),
    ("citation_recall", "Citation recall"),
    ("accuracy", "Answer/refuse accuracy"),
    ("refusal_precision", "Refusal precision"),
    ("refusal_recall", "Refusal recall"),
    ("false_refusals", "False refusals"),
    ("facts", "Facts"),
    ("document_at_1", "Right document first (no document named)"),
    ("asked_which_one", 'Answered with "which one?"'),
    ("ask_ms_p50", "ask p50 (ms)"),
    ("ask_ms_p95", "ask p95 (ms)"),
    ("search_ms_p50", "search p50 (ms)"),
    ("search_ms_p95", "search p95 (ms)"),
]
BY_KIND = [
    "questions",
    "turn_ndcg@10",
    "turn_recall@10",
    "hit@5",
    "speaker_attribution",
    "accuracy",
    "facts",
    "ask_ms_p50",
]


def write_report(name: str, summary: dict[str, Any], records: list[dict[str, Any]], out: Path) -> list[Path]:
    """Write `<name>-<time>.json`, `.md` and plots into `out`; all or nothing. Returns their paths."""
    out.mkdir(parents=True, exist_ok=True)
    stamp = time.strftime("%Y%m%d-%H%M%S")
    base = out / f"{name}-{stamp}"
    json_path, md_path = base.with_suffix(".json"), base.with_suffix(".md")
    plots = _plots(summary, base)
    body = json.dumps({"summary": summary, "questions": records}, ensure_ascii=False, indent=2)
    tmp = json_path.with_suffix(".json.tmp")
    tmp.write_text(body + "\n", encoding="utf-8")
    tmp.replace(json_path)
    md_path.write_text(markdown(summary, records, [p.name for p in plots]), encoding="utf-8")
    paths = [json_path, md_path, *plots]
    log.info("wrote %s", ", ".join(str(p) for p in paths))
    return paths


def summary_table(name: str, summary: dict[str, Any]) -> str:
    """The headline numbers as a plain-text table, for the terminal."""
    o = summary["overall"]
    width = max(len(label) for _, label in HEADLINE)
    lines = [f"{name}: {o['questions']} questions, model load {summary['load_seconds']:.2f} s"]
    lines += [f"  {label:<{width}}  {_fmt(o.get(key))}" for key, label in HEADLINE]
    return "\n".join(lines)


def markdown(summary: dict[str, Any], records: list[dict[str, Any]], plots: list[str]) -> str:
    s = summary
    cfg = s["config"]
    o = s["overall"]
    kinds = list(s["by_kind"])
    lines = [
        f"# Evaluation: {Path(cfg['set']).name} ({cfg['retrieval']})",
        "",
        f"{cfg['questions']} questions against `{cfg['index']}`, k={cfg['k']}; model and index load "
        f"{s['load_seconds']:.2f} s (not in the latencies).",
        "",
        "| Measure | Value |",
        "|---|---|",
        *[f"| {label} | {_fmt(o.get(key))} |" for key, label in HEADLINE],
        "",
        "## By kind of question",
        "",
        "| Kind | " + " | ".join(BY_KIND) + " |",
        "|---" * (len(BY_KIND) + 1) + "|",
        *[f"| {k} | " + " | ".join(_fmt(s["by_kind"][k].get(m)) for m in BY_KIND) + " |" for k in kinds],
        "",
        "## Failures",
        "",
    ]
    if s["failures"]:
        lines += [
            "| Check | Questions |",
            "|---|---|",
            *[f"| {k} | {v} |" for k, v in s["failures"].items()],
            "",
        ]
        failing = [r for r in records if r["failed"]][:25]
        lines += [f"- `{r['id']}` ({', '.join(r['failed'])}): {r['question']}" for r in failing]
    else:
        lines.append("None.")
    lines += ["", *[f"![{p}]({p})" for p in plots], ""]
    return "\n".join(lines)


def comparison_table(a: dict[str, Any], b: dict[str, Any], name_a: str, name_b: str) -> str:
    """Markdown: overall and per-kind aggregates of two runs with B - A deltas."""
    sa, sb = a["summary"], b["summary"]
    lines = [f"A: {name_a}", f"B: {name_b}", "", "| Measure | A | B | B - A |", "|---|---|---|---|"]
    for key, label in HEADLINE:
        va, vb = sa["overall"].get(key), sb["overall"].get(key)
        lines.append(f"| {label} | {_fmt(va)} | {_fmt(vb)} | {_delta(va, vb)} |")
    kinds = [k for k in sa["by_kind"] if k in sb["by_kind"]]
    if kinds:
        lines += ["", "| Kind | Measure | A | B | B - A |", "|---|---|---|---|---|"]
        for k in kinds:
            for m in BY_KIND[1:]:
                va, vb = sa["by_kind"][k].get(m), sb["by_kind"][k].get(m)
                if va is not None or vb is not None:
                    lines.append(f"| {k} | {m} | {_fmt(va)} | {_fmt(vb)} | {_delta(va, vb)} |")
    return "\n".join(lines)


def _plots(summary: dict[str, Any], base: Path) -> list[Path]:
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        log.info("matplotlib is not installed; the report has no plots (pip install -e '.[eval]')")
        return []
    paths = []
    s = summary
    # the k of every Hit@k the run measured (1, 3, 5, 10)
    ks = sorted(int(key.split("@")[1]) for key in s["overall"] if key.startswith("hit@"))
    fig, ax = plt.subplots(figsize=(5, 3.2), dpi=110)
    for kind, agg in [("overall", s["overall"]), *s["by_kind"].items()]:
        ys = [agg.get(f"hit@{k}") for k in ks]
        if all(y is not None for y in ys):
            ax.plot(ks, ys, marker="o", label=kind, linewidth=2.5 if kind == "overall" else 1)
    ax.set(xlabel="k", ylabel="Hit@k", ylim=(0, 1.02), xticks=ks, title="Hit@k (passages touching gold)")
    ax.legend(fontsize=7, loc="lower right")
    fig.tight_layout()
    paths.append(base.with_name(base.name + "-recall.png"))
    fig.savefig(paths[-1])
    plt.close(fig)
    if s["failures"]:
        fig, ax = plt.subplots(figsize=(5, 2.6), dpi=110)
        names = list(s["failures"])
        ax.barh(names[::-1], [s["failures"][n] for n in names[::-1]], color="#c0504d")
        ax.set(xlabel="questions", title="Failed checks")
        fig.tight_layout()
        paths.append(base.with_name(base.name + "-failures.png"))
        fig.savefig(paths[-1])
        plt.close(fig)
    return paths


def _fmt(v: Any) -> str:
    if v is None:
        return "-"
    if isinstance(v, float):
        return f"{v:.3f}" if abs(v) < 10 else f"{v:.1f}"
    return str(v)


def _delta(a: Any, b: Any) -> str:
    if not isinstance(a, (int, float)) or not isinstance(b, (int, float)):
        return "-"
    d = b - a
    return f"{d:+.3f}" if abs(d) < 10 else f"{d:+.1f}"
