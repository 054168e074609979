"""Evaluate the pipeline on a question set: retrieval, attribution, quotes, refusals, facts, speed.

A set is JSONL, one question per line (format in eval/README.md). Gold passages are character
spans, so any chunking can be scored: a hit or citation counts when it overlaps a gold span.
Standard ranking measures (Recall@k, Hit@k, MRR, nDCG@10) come from ir-measures; the measures no
retrieval library has (speaker attribution, citation validity, refusals, facts) are the pure
functions below. Writing the report is `report.py`'s job.
"""

from __future__ import annotations

import json
import statistics
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from rag.config import Settings
from rag.errors import RagError
from rag.pipeline import Pipeline
from rag.search import is_by
from rag.types import Chunk, Citation, Document, Hit, Turn

KS = (1, 3, 5, 10)
KINDS = ("speaker", "alias", "quoted", "factual", "paraphrase", "follow-up", "negative")


class EvalSetError(RagError, ValueError):
    """A question set cannot be used: malformed line, unknown source, span out of range, empty."""


@dataclass(frozen=True, slots=True)
class Gold:
    source: str
    start: int
    end: int


@dataclass(frozen=True, slots=True)
class Question:
    """One line of a question set."""

    id: str
    question: str
    answerable: bool
    kind: str = ""
    speaker: str | None = None
    gold: tuple[Gold, ...] = ()
    facts: tuple[tuple[str, ...], ...] = ()
    history: tuple[str, ...] = ()
    doc_id: str | None = None  # restrict retrieval to one document (QMSum: the meeting)
    gold_turns: tuple[int, ...] = ()  # score retrieval by turn instead of by chunk


@dataclass
class Result:
    """A finished run: per-question records, aggregates, and where they were written."""

    name: str
    summary: dict[str, Any]
    records: list[dict[str, Any]]
    table: str = ""
    paths: list[Path] = field(default_factory=list)


# --- reading a set -------------------------------------------------------------------------------


def load_set(path: Path) -> list[Question]:
    """Parse a JSONL question set.

    Raises:
        EvalSetError: a line is not JSON or misses a field (the message names the line), or the set is empty.
    """
    try:
        lines = Path(path).read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError) as err:
        raise EvalSetError(f"{path}: cannot read the question set ({err})") from err
    questions = []
    for number, line in enumerate(lines, 1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
            questions.append(_question(row))
        except (ValueError, KeyError, TypeError) as err:
            raise EvalSetError(f"{path}:{number}: malformed question ({err}); see eval/README.md") from err
    if not questions:
        raise EvalSetError(f"{path}: the question set is empty")
    ids = [q.id for q in questions]
    if len(set(ids)) != len(ids):
        dup = next(i for i in ids if ids.count(i) > 1)
        raise EvalSetError(f"{path}: question id {dup!r} appears twice")
    return questions


def _question(row: dict[str, Any]) -> Question:
    if not isinstance(row, dict):
        raise TypeError("expected a JSON object")
    question, answerable = row["question"], row["answerable"]
    if not isinstance(question, str) or not question.strip() or not isinstance(answerable, bool):
        raise TypeError("'question' must be a non-empty string and 'answerable' true or false")
    gold = tuple(Gold(str(g["source"]), int(g["start"]), int(g["end"])) for g in row.get("gold", []))
    facts = tuple(tuple(str(a) for a in f) for f in row.get("facts", []))
    return Question(
        id=str(row["id"]),
        question=question,
        answerable=answerable,
        kind=str(row.get("kind") or ""),
        speaker=row.get("speaker"),
        gold=gold,
        facts=facts,
        history=tuple(row.get("history", [])),
        doc_id=row.get("doc_id"),
        gold_turns=tuple(int(t) for t in row.get("gold_turns", [])),
    )


def check_gold(questions: Sequence[Question], documents: dict[str, Document]) -> None:
    """Every gold span names a known source and lies inside its text.

    Raises:
        EvalSetError: the first span that does not.
    """
    by_source = {d.source: d for d in documents.values()}
    for q in questions:
        for g in q.gold:
            doc = by_source.get(g.source)
            if doc is None:
                raise EvalSetError(
                    f"{q.id}: gold source {g.source!r} is not in the index; known: {', '.join(sorted(by_source))}"
                )
            if not 0 <= g.start < g.end <= len(doc.text):
                raise EvalSetError(
                    f"{q.id}: gold span [{g.start}:{g.end}] is outside {g.source} (length {len(doc.text)})"
                )


# --- metrics (pure) ------------------------------------------------------------------------------


def overlaps(a: tuple[int, int], b: tuple[int, int]) -> bool:
    """Half-open spans share at least one character. Example: overlaps((0, 5), (4, 9)) -> True."""
    return a[0] < b[1] and b[0] < a[1]


def relevant_units(question: Question, chunks: Iterable[Chunk]) -> set[str]:
    """The unit ids (chunk ids, or doc:turn for turn-scored sets) that answer `question`."""
    if question.gold_turns:
        return {f"{question.doc_id}:{t}" for t in question.gold_turns}
    return {
        c.chunk_id
        for c in chunks
        for g in question.gold
        if c.source == g.source and overlaps((c.start, c.end), (g.start, g.end))
    }


def ranked_units(question: Question, hits: Sequence[Hit]) -> list[str]:
    """Hit units in rank order, each once (several chunks of one turn count as one turn)."""
    seen: dict[str, None] = {}
    for h in hits:
        unit = f"{h.chunk.doc_id}:{h.chunk.turn}" if question.gold_turns else h.chunk.chunk_id
        seen.setdefault(unit, None)
    return list(seen)


def ranking_scores(
    relevant: dict[str, set[str]], ranked: dict[str, list[str]], ks: Sequence[int] = KS
) -> dict[str, dict[str, float]]:
    """Recall@k, Hit@k, MRR@10 and nDCG@10 per question, computed by ir-measures.

    Example: ({"q": {"a"}}, {"q": ["b", "a"]}) -> {"q": {"mrr@10": 0.5, "hit@1": 0.0, ...}}
    """
    try:
        import ir_measures
        from ir_measures import RR, R, Success, nDCG
    except ImportError as err:
        raise ImportError("ranking measures need ir-measures: pip install -e '.[eval]'") from err

    qrels = {q: {u: 1 for u in units} for q, units in relevant.items() if units}
    run = {q: {u: float(len(units) - i) for i, u in enumerate(units)} for q, units in ranked.items() if q in qrels}
    for q in qrels:
        run.setdefault(q, {"__none__": 0.0})  # a question with no hits scores zero, not absent
    measures = [*(R @ k for k in ks), *(Success @ k for k in ks), RR @ 10, nDCG @ 10]
    names = {
        **{str(R @ k): f"recall@{k}" for k in ks},
        **{str(Success @ k): f"hit@{k}" for k in ks},
        str(RR @ 10): "mrr@10",
        str(nDCG @ 10): "ndcg@10",
    }
    out: dict[str, dict[str, float]] = {q: {} for q in qrels}
    for m in ir_measures.iter_calc(measures, qrels, run):
        out[m.query_id][names[str(m.measure)]] = float(m.value)
    return out


def is_attributed(citations: Sequence[Citation], speaker: str, chunks: dict[str, Chunk]) -> bool:
    """Every citation is by `speaker` or quotes them (and there is at least one)."""
    return bool(citations) and all(is_by(chunks[c.chunk_id], [speaker]) for c in citations)


def is_misattributed(c: Citation, turns: Sequence[Turn]) -> bool:
    """The quote is not inside one turn of the speaker the citation names.

    The turn is found from the offsets alone, not from the chunk that produced the citation.
    Example: a citation naming "Alice" whose [start:end] lies in Bob's turn -> True.
    """
    touched = [t for t in turns if any(s < c.end and c.start < e for s, e in t.paragraphs)]
    return not touched or any(t.speaker != c.speaker for t in touched)


def is_valid_citation(c: Citation, documents: dict[str, Document]) -> bool:
    """The quote is exactly the source text at [start:end]."""
    doc = next((d for d in documents.values() if d.source == c.source), None)
    return doc is not None and doc.text[c.start : c.end] == c.quote and bool(c.quote)


def citation_precision_recall(citations: Sequence[Citation], gold: Sequence[Gold]) -> tuple[float, float]:
    """Share of citations that overlap a gold span, and share of gold spans that some citation overlaps."""
    if not citations or not gold:
        return 0.0, 0.0

    def hit(c: Citation, g: Gold) -> bool:
        return c.source == g.source and overlaps((c.start, c.end), (g.start, g.end))

    precision = sum(any(hit(c, g) for g in gold) for c in citations) / len(citations)
    recall = sum(any(hit(c, g) for c in citations) for g in gold) / len(gold)
    return precision, recall


def has_facts(answer_text: str, facts: Sequence[Sequence[str]]) -> bool:
    """The answer holds one alternative of every fact, case-insensitively."""
    text = answer_text.lower()
    return all(any(alt.lower() in text for alt in fact) for fact in facts)


def refusal_scores(expected: Sequence[bool], predicted: Sequence[bool]) -> dict[str, float]:
    """Accuracy of answer-or-refuse, and precision/recall of refusals; false refusals counted.

    `expected`/`predicted` are "answerable" flags. Example: ([True, False], [True, True]) ->
    accuracy 0.5, refusal recall 0.0, false refusals 0.
    """
    pairs = list(zip(expected, predicted, strict=True))
    refused = [p for p in pairs if not p[1]]
    negatives = [p for p in pairs if not p[0]]
    return {
        "accuracy": sum(e == p for e, p in pairs) / len(pairs) if pairs else 0.0,
        "refusal_precision": sum(not e for e, _ in refused) / len(refused) if refused else 1.0,
        "refusal_recall": sum(not p for _, p in negatives) / len(negatives) if negatives else 1.0,
        "false_refusals": float(sum(e and not p for e, p in pairs)),
    }


def percentile(values: Sequence[float], q: float) -> float:
    """The q-th percentile (0-100) by linear interpolation. Example: percentile([1, 2, 3], 50) -> 2."""
    if not values:
        return 0.0
    data = sorted(values)
    pos = (len(data) - 1) * q / 100
    lo, hi = int(pos), min(int(pos) + 1, len(data) - 1)
    return data[lo] + (data[hi] - data[lo]) * (pos - lo)


# --- running -------------------------------------------------------------------------------------

Progress = Callable[[str, int, int], None]


def run_eval(
    set_path: Path,
    *,
    index: Path = Path("index"),
    k: int = 5,
    out: Path | None = Path("eval/results"),
    dense_only: bool = False,
    progress: Progress | None = None,
    pipe: Pipeline | None = None,
) -> Result:
    """Ask every question of a set and score the answers; writes JSON, Markdown and plots to `out`."""
    from rag.report import write_report

    questions = load_set(set_path)
    started = time.perf_counter()
    if pipe is None:
        settings = Settings(retrieval="dense" if dense_only else "hybrid", k=k)
        pipe = Pipeline.load(index, settings=settings)
    load_seconds = time.perf_counter() - started
    check_gold(questions, pipe.documents)
    chunks = {c.chunk_id: c for c in pipe.chunks}
    records = []
    for i, q in enumerate(questions, 1):
        records.append(_evaluate_one(pipe, q, chunks, k))
        if progress:
            progress("eval", i, len(questions))
    relevant = {q.id: relevant_units(q, pipe.chunks) for q in questions if q.answerable}
    ranked = {r["id"]: r["_ranked"] for r in records}
    ranking = ranking_scores(relevant, ranked)
    for r in records:
        r["retrieval"] = ranking.get(r["id"], {})
        del r["_ranked"]
        if r["retrieval"] and r["retrieval"].get(f"hit@{min(k, 10)}", 1.0) == 0.0:
            r["failed"].append("retrieval")
    name = Path(set_path).stem + ("-dense" if dense_only else "")
    summary = summarise(records, load_seconds)
    summary["config"] = {
        "set": str(set_path),
        "index": str(index),
        "k": k,
        "retrieval": pipe.settings.retrieval,
        "questions": len(questions),
    }
    result = Result(name, summary, records)
    if out is not None:
        write_report(result, Path(out))
    else:
        from rag.report import summary_table

        result.table = summary_table(result)
    return result


def _evaluate_one(pipe: Pipeline, q: Question, chunks: dict[str, Chunk], k: int) -> dict[str, Any]:
    t0 = time.perf_counter()
    answer = pipe.ask(q.question, history=q.history, doc_id=q.doc_id, k=k)
    t1 = time.perf_counter()
    hits = pipe.search(q.question, history=q.history, doc_id=q.doc_id, k=max(KS))
    t2 = time.perf_counter()
    valid = [is_valid_citation(c, pipe.documents) for c in answer.citations]
    wrong = [c for c in answer.citations if is_misattributed(c, pipe.index.transcripts[c.doc_id].turns)]
    precision, recall = citation_precision_recall(answer.citations, q.gold)
    failed = []
    if answer.answerable != q.answerable:
        failed.append("false refusal" if q.answerable else "should refuse")
    if not all(valid):
        failed.append("invalid citation")
    if wrong:
        failed.append("misattributed citation")
    attributed = None
    if q.speaker and q.answerable and answer.answerable:
        attributed = is_attributed(answer.citations, q.speaker, chunks)
        if not attributed:
            failed.append("wrong speaker")
    facts_ok = None
    if q.answerable and q.facts:
        facts_ok = answer.answerable and has_facts(answer.text, q.facts)
        if not facts_ok and answer.answerable:
            failed.append("missing fact")
    detected = pipe.read(q.question, history=q.history).speakers
    return {
        "id": q.id,
        "kind": q.kind or ("speaker" if detected else "other"),
        "question": q.question,
        "history": list(q.history),
        "expected_answerable": q.answerable,
        "expected_speaker": q.speaker,
        "answerable": answer.answerable,
        "answer": answer.text,
        "reason": answer.reason,
        "speaker": answer.speaker,
        "citations": [c.to_dict() for c in answer.citations],
        "hits": [{**h.to_dict(), "dense": round(h.dense, 4), "lexical": round(h.lexical, 4)} for h in hits],
        "evidence": {
            "dense": round(answer.evidence.dense, 4),
            "coverage": round(answer.evidence.coverage, 4),
        },
        "valid_citations": sum(valid),
        "misattributed": len(wrong),
        "attributed": attributed,
        "citation_precision": precision if q.gold and answer.citations else None,
        "citation_recall": recall if q.gold and answer.answerable else (0.0 if q.gold else None),
        "facts": facts_ok,
        "failed": failed,
        "ask_ms": (t1 - t0) * 1000,
        "search_ms": (t2 - t1) * 1000,
        "_ranked": ranked_units(q, hits),
    }


def summarise(records: Sequence[dict[str, Any]], load_seconds: float) -> dict[str, Any]:
    """Aggregates overall and per question kind."""
    kinds = sorted({r["kind"] for r in records}, key=lambda k: (KINDS.index(k) if k in KINDS else 99, k))
    return {
        "overall": _aggregate(records),
        "by_kind": {k: _aggregate([r for r in records if r["kind"] == k]) for k in kinds},
        "load_seconds": round(load_seconds, 3),
        "failures": _count_failures(records),
    }


def _aggregate(records: Sequence[dict[str, Any]]) -> dict[str, Any]:
    def mean(values: Iterable[float | bool | None]) -> float | None:
        vals = [float(v) for v in values if v is not None]
        return round(statistics.fmean(vals), 4) if vals else None

    scored = [r["retrieval"] for r in records if r.get("retrieval")]
    out: dict[str, Any] = {"questions": len(records)}
    for key in [f"recall@{k}" for k in KS] + [f"hit@{k}" for k in KS] + ["mrr@10", "ndcg@10"]:
        out[key] = mean(s.get(key) for s in scored)
    n_cites = sum(len(r["citations"]) for r in records)
    out["speaker_attribution"] = mean(r["attributed"] for r in records)
    out["misattributed_citations"] = sum(r.get("misattributed", 0) for r in records)
    out["citation_validity"] = round(sum(r["valid_citations"] for r in records) / n_cites, 4) if n_cites else None
    out["citation_precision"] = mean(r["citation_precision"] for r in records)
    out["citation_recall"] = mean(r["citation_recall"] for r in records)
    out.update(
        {
            k: round(v, 4)
            for k, v in refusal_scores(
                [r["expected_answerable"] for r in records], [r["answerable"] for r in records]
            ).items()
        }
    )
    out["facts"] = mean(r["facts"] for r in records)
    asks = [r["ask_ms"] for r in records]
    searches = [r["search_ms"] for r in records]
    out["ask_ms_p50"] = round(percentile(asks, 50), 2)
    out["ask_ms_p95"] = round(percentile(asks, 95), 2)
    out["search_ms_p50"] = round(percentile(searches, 50), 2)
    out["search_ms_p95"] = round(percentile(searches, 95), 2)
    return out


def _count_failures(records: Sequence[dict[str, Any]]) -> dict[str, int]:
    counts: dict[str, int] = {}
    for r in records:
        for f in r["failed"]:
            counts[f] = counts.get(f, 0) + 1
    return dict(sorted(counts.items(), key=lambda kv: -kv[1]))


def compare_runs(a: Path, b: Path) -> str:
    """Two runs side by side (aggregates overall and by kind) with deltas, as Markdown."""
    from rag.report import comparison_table

    try:
        first, second = (json.loads(Path(p).read_text()) for p in (a, b))
    except (OSError, ValueError) as err:
        raise EvalSetError(f"cannot read a run to compare ({err}); pass two results/*.json files") from err
    return comparison_table(first, second, str(a), str(b))
