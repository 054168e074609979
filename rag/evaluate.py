"""Evaluate the pipeline on a question set: retrieval, attribution, quotes, refusals, facts, speed.

A set is JSONL, one question per line (format in eval/README.md). Gold is turns or character
spans, so any chunking can be scored. Retrieval is scored at an equal reading budget: each passage
`search` returns is expanded into its turns, in order, and turn-level nDCG@10 and Recall@10 (first
ten turns, by ir-measures) and Recall within the first 1,000 tokens are the headline; Hit@k and
MRR of passages that touch gold are secondary (long passages touch long gold by construction).
The measures themselves are pure functions in `metrics.py`; writing the report is `report.py`'s job.
"""

from __future__ import annotations

import json
import statistics
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from rag.config import Settings
from rag.errors import RagError
from rag.metrics import (
    KS,
    Gold,
    citation_precision_recall,
    has_facts,
    is_attributed,
    is_false_wrong_premise,
    is_misattributed,
    is_valid_citation,
    is_wrong_premise_reply,
    is_wrong_premise_right,
    overlaps,
    passage_scores,
    percentile,
    ranked_turns,
    ranking_scores,
    refusal_scores,
    within_tokens,
)
from rag.pipeline import Pipeline
from rag.types import Chunk, Document, Hit, Transcript

READING_TOKENS = 1000  # the reading budget of turn_recall@1000t: cl100k tokens of the turns returned
RETRIEVAL = (
    "turn_ndcg@10",
    "turn_recall@10",
    f"turn_recall@{READING_TOKENS}t",
    *(f"hit@{k}" for k in KS),
    "mrr@10",
)
KINDS = ("speaker", "alias", "quoted", "factual", "paraphrase", "follow-up", "negative")


class EvalSetError(RagError, ValueError):
    """A question set cannot be used: malformed line, unknown source, span out of range, empty."""


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
    gold_doc: str | None = None  # the document the gold turns are in, when the question names none
    speaker_labels: tuple[str, ...] = ()  # every label the speaker has (one person, many documents)
    picker: str | None = None  # the speaker chosen as a filter (the chat's picker, `rag ask --speaker`)
    said_by: tuple[str, ...] = ()  # a wrong premise: the labels of who did speak of the topic


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
        gold_doc=row.get("gold_doc") or row.get("doc_id"),
        speaker_labels=_labels(row, "speaker_labels"),
        picker=row.get("picker") or None,
        said_by=_labels(row, "said_by"),
    )


def _labels(row: dict[str, Any], key: str) -> tuple[str, ...]:
    """A list of speaker labels (a bare string would be read letter by letter)."""
    value = row.get(key) or []
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise TypeError(f'{key!r} must be a list of speaker labels, e.g. ["Okoro"]')
    return tuple(value)


def check_gold(questions: Sequence[Question], documents: Mapping[str, Document]) -> None:
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


def relevant_turns(question: Question, transcripts: Mapping[str, Transcript]) -> set[str]:
    """The turns ("doc:turn") that answer `question`: its gold turns, or those its gold spans touch."""
    if question.gold_turns:
        return {f"{question.gold_doc or question.doc_id}:{t}" for t in question.gold_turns}
    return {
        f"{doc_id}:{turn.index}"
        for doc_id, t in transcripts.items()
        for g in question.gold
        if t.document.source == g.source
        for turn in t.turns
        if any(overlaps(p, (g.start, g.end)) for p in turn.paragraphs)
    }


def is_relevant(question: Question, hit: Hit) -> bool:
    """The passage covers a gold turn, or overlaps a gold span."""
    if question.gold_turns:
        return hit.chunk.doc_id == (question.gold_doc or question.doc_id) and any(
            t in question.gold_turns for t in hit.turns
        )
    span = (hit.chunk.start, hit.chunk.end if hit.end is None else hit.end)
    return any(g.source == hit.chunk.source and overlaps(span, (g.start, g.end)) for g in question.gold)


# --- running -------------------------------------------------------------------------------------

Progress = Callable[[str, int, int], None]


def run_eval(
    set_path: Path,
    *,
    index: Path = Path("index"),
    k: int = 5,
    out: Path | None = Path("eval/results"),
    dense_only: bool = False,
    learned: bool = True,
    progress: Progress | None = None,
    pipe: Pipeline | None = None,
) -> Result:
    """Ask every question of a set and score the answers; writes JSON, Markdown and plots to `out`.

    `learned` False ranks without the learned relevance model (`rag.relevance`), for comparison.
    """
    from rag.report import summary_table, write_report

    questions = load_set(set_path)
    started = time.perf_counter()
    if pipe is None:
        settings = Settings(retrieval="dense" if dense_only else "hybrid", k=k, learned=learned)
        pipe = Pipeline.load(index, settings=settings)
    load_seconds = time.perf_counter() - started
    check_gold(questions, pipe.documents)
    chunks = {c.chunk_id: c for c in pipe.chunks}
    records = []
    for i, q in enumerate(questions, 1):
        records.append(_evaluate_one(pipe, q, chunks, k))
        if progress:
            progress("eval", i, len(questions))
    relevant = {q.id: relevant_turns(q, pipe.index.transcripts) for q in questions if q.answerable}
    turns = {r["id"]: r["_turns"] for r in records}
    tokens = _turn_tokens(pipe, turns)
    at10 = ranking_scores(relevant, {i: t[:10] for i, t in turns.items()}, ks=(10,))
    read = {i: within_tokens(t, tokens, READING_TOKENS) for i, t in turns.items()}
    for r in records:
        units = relevant.get(r["id"])
        r["retrieval"] = {}
        if units:
            r["retrieval"] = {
                **passage_scores(r["_relevant"]),
                "turn_ndcg@10": at10[r["id"]]["ndcg@10"],
                "turn_recall@10": at10[r["id"]]["recall@10"],
                f"turn_recall@{READING_TOKENS}t": len(units & set(read[r["id"]])) / len(units),
            }
        del r["_turns"], r["_relevant"]
        if r["retrieval"] and r["retrieval"].get(f"hit@{min(k, 10)}", 1.0) == 0.0:
            r["failed"].append("retrieval")
    name = Path(set_path).stem + ("-dense" if dense_only else "") + ("" if learned else "-no-learned")
    summary = summarise(records, load_seconds)
    summary["config"] = {
        "set": str(set_path),
        "index": str(index),
        "k": k,
        "retrieval": pipe.settings.retrieval,
        "relevance": pipe.relevance.describe() if pipe.relevance else None,
        "questions": len(questions),
    }
    paths = write_report(name, summary, records, Path(out)) if out is not None else []
    return Result(name, summary, records, summary_table(name, summary), paths)


def _turn_tokens(pipe: Pipeline, ranked: Mapping[str, Sequence[str]]) -> dict[str, int]:
    """cl100k tokens of every turn a ranking returned ("doc:turn" -> tokens)."""
    from rag.chunk import count_tokens

    out: dict[str, int] = {}
    for unit in {u for units in ranked.values() for u in units}:
        doc_id, _, turn = unit.rpartition(":")
        t = pipe.index.transcripts[doc_id]
        text = t.document.text
        out[unit] = count_tokens(" ".join(text[a:b] for a, b in t.turns[int(turn)].paragraphs))
    return out


def _evaluate_one(pipe: Pipeline, q: Question, chunks: dict[str, Chunk], k: int) -> dict[str, Any]:
    t0 = time.perf_counter()
    answer = pipe.ask(q.question, history=q.history, doc_id=q.doc_id, k=k, speaker=q.picker)
    t1 = time.perf_counter()
    hits = pipe.search(q.question, history=q.history, doc_id=q.doc_id, k=max(KS), speaker=q.picker)
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
    denied = is_false_wrong_premise(q.answerable, answer.reason)
    if denied:
        failed.append("false wrong premise")
    premise_right = None
    if q.said_by:
        premise_right = is_wrong_premise_right(answer.reason, answer.citations, q.said_by, chunks)
        if not premise_right:
            replied = is_wrong_premise_reply(answer.reason)
            failed.append("wrong premise, other speaker quoted" if replied else "wrong premise missed")
    attributed = None
    if q.speaker and q.answerable and answer.answerable:
        attributed = is_attributed(answer.citations, [q.speaker, *q.speaker_labels], chunks)
        if not attributed:
            failed.append("wrong speaker")
    facts_ok = None
    if q.answerable and q.facts:
        facts_ok = answer.answerable and has_facts(answer.text, q.facts)
        if not facts_ok and answer.answerable:
            failed.append("missing fact")
    detected = pipe.read(q.question, history=q.history, speaker=q.picker).speakers
    return {
        "id": q.id,
        "kind": q.kind or ("speaker" if detected else "other"),
        "question": q.question,
        "history": list(q.history),
        "picker": q.picker,
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
            "closest": None if answer.evidence.closest is None else round(answer.evidence.closest, 4),
        },
        "wrong_premise_reply": is_wrong_premise_reply(answer.reason),
        "false_wrong_premise": denied,
        "wrong_premise_right": premise_right,
        "valid_citations": sum(valid),
        "misattributed": len(wrong),
        "attributed": attributed,
        "citation_precision": precision if q.gold and answer.citations else None,
        # a wrong premise's gold is where `said_by` spoke of it, which its reply should quote
        "citation_recall": recall if q.gold and (answer.answerable or q.said_by) else (0.0 if q.gold else None),
        "facts": facts_ok,
        "failed": failed,
        "asked_which": answer.reason.startswith("ambiguous name"),
        "document_found": (hits[0].chunk.doc_id == q.gold_doc) if hits and q.gold_doc and q.answerable else None,
        "ask_ms": (t1 - t0) * 1000,
        "search_ms": (t2 - t1) * 1000,
        "_turns": ranked_turns(hits),
        "_relevant": [is_relevant(q, h) for h in hits],
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
    for key in RETRIEVAL:
        out[key] = mean(s.get(key) for s in scored)
    n_cites = sum(len(r["citations"]) for r in records)
    out["speaker_attribution"] = mean(r["attributed"] for r in records)
    out["misattributed_citations"] = sum(r.get("misattributed", 0) for r in records)
    out["false_wrong_premise"] = sum(bool(r.get("false_wrong_premise")) for r in records)
    out["wrong_premise_replies"] = sum(bool(r.get("wrong_premise_reply")) for r in records)
    premises = [r["wrong_premise_right"] for r in records if r.get("wrong_premise_right") is not None]
    out["wrong_premises"] = len(premises) or None  # questions with `said_by` (None: the set has none)
    out["wrong_premise_right"] = sum(premises) if premises else None
    out["wrong_premise_right_share"] = round(sum(premises) / len(premises), 4) if premises else None
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
    out["asked_which_one"] = sum(bool(r.get("asked_which")) for r in records)
    out["document_at_1"] = mean(r.get("document_found") for r in records)
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
