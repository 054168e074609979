"""The measures of an evaluation, as pure functions: ranking, attribution, citations, refusals, facts.

Ranking measures come from ir-measures (nDCG, Recall); the ones no retrieval library has (speaker
attribution, citation validity and precision, refusals, facts) are here. Running a question set
and writing its report are `evaluate.py`'s and `report.py`'s jobs.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from rag.names import spelling
from rag.search import is_by
from rag.types import Chunk, Citation, Document, Hit, Turn

KS = (1, 3, 5, 10)


@dataclass(frozen=True, slots=True)
class Gold:
    """A gold span: characters `start:end` of the source file's text."""

    source: str
    start: int
    end: int


def overlaps(a: tuple[int, int], b: tuple[int, int]) -> bool:
    """Half-open spans share at least one character. Example: overlaps((0, 5), (4, 9)) -> True."""
    return a[0] < b[1] and b[0] < a[1]


def ranked_turns(hits: Sequence[Hit]) -> list[str]:
    """Each passage expanded into its turns, in rank order, each turn once: what a reader reads."""
    seen: dict[str, None] = {}
    for h in hits:
        for t in h.turns:
            seen.setdefault(f"{h.chunk.doc_id}:{t}", None)
    return list(seen)


def within_tokens(units: Sequence[str], tokens: Mapping[str, int], budget: int) -> list[str]:
    """The first units whose tokens add up to at most `budget` (the first always counts)."""
    out: list[str] = []
    used = 0
    for u in units:
        used += tokens.get(u, 0)
        if out and used > budget:
            break
        out.append(u)
    return out


def passage_scores(relevant: Sequence[bool], ks: Sequence[int] = KS) -> dict[str, float]:
    """Hit@k and MRR@10 of passages in rank order (True: the passage covers gold).

    Example: [False, True] -> {"hit@1": 0.0, "hit@3": 1.0, ..., "mrr@10": 0.5}
    """
    first = next((i for i, r in enumerate(relevant[:10], 1) if r), None)
    out = {f"hit@{k}": float(any(relevant[:k])) for k in ks}
    out["mrr@10"] = 1.0 / first if first else 0.0
    return out


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


def is_attributed(citations: Sequence[Citation], speaker: str | Sequence[str], chunks: dict[str, Chunk]) -> bool:
    """Every citation is by `speaker` (or one of its labels) or quotes them, and there is at least one."""
    labels = [speaker] if isinstance(speaker, str) else list(speaker)
    spelled = {spelling(x) for x in labels}  # "NINA" and "Nina", "MR. ROE" and "Mr. Roe" are one label
    return bool(citations) and all(
        is_by(chunks[c.chunk_id], labels) or spelling(chunks[c.chunk_id].speaker or "") in spelled for c in citations
    )


def is_misattributed(c: Citation, turns: Sequence[Turn]) -> bool:
    """The quote is not inside one turn of the speaker the citation names.

    The turn is found from the offsets alone, not from the chunk that produced the citation.
    Example: a citation naming "Alice" whose [start:end] lies in Bob's turn -> True.
    """
    touched = [t for t in turns if any(s < c.end and c.start < e for s, e in t.paragraphs)]
    return not touched or any(t.speaker != c.speaker for t in touched)


def is_wrong_premise_reply(reason: str) -> bool:
    """The answer says the person asked about did not talk about the topic (rag.decide)."""
    return reason.startswith("wrong premise")


def is_false_wrong_premise(expected_answerable: bool, reason: str) -> bool:
    """A question that has an answer (its gold is someone's words) was told the person asked
    about did not talk about it: a denial of what they said, as bad as a misattribution.

    Example: (True, "wrong premise: Tomasz did not speak about this; Priya did") -> True
    """
    return expected_answerable and is_wrong_premise_reply(reason)


def is_wrong_premise_right(
    reason: str, citations: Sequence[Citation], said_by: Sequence[str], chunks: dict[str, Chunk]
) -> bool:
    """The answer says the person asked about did not talk about the topic, and quotes someone who
    did (`said_by`, by the test of `is_attributed`): a wrong premise caught and answered.

    Example: ("wrong premise: Kofi Mensah did not speak about this; Dr. Amaka Okafor did",
    [her words], ["Dr. Amaka Okafor"]) -> True; the same with ["Ms. Raman"] -> False
    """
    return is_wrong_premise_reply(reason) and is_attributed(citations, said_by, chunks)


def is_valid_citation(c: Citation, documents: Mapping[str, Document]) -> bool:
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
