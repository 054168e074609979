"""Evaluation metrics against hand-computed values, and bad question sets."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest

from rag import Pipeline
from rag.evaluate import (
    EvalSetError,
    Question,
    check_gold,
    load_set,
    relevant_turns,
    run_eval,
)
from rag.metrics import (
    Gold,
    citation_precision_recall,
    has_facts,
    is_misattributed,
    is_valid_citation,
    overlaps,
    passage_scores,
    percentile,
    ranked_turns,
    ranking_scores,
    refusal_scores,
    within_tokens,
)
from rag.types import Citation, Hit, Turn
from tests.conftest import FORMATS, ROOT


def test_ranking_scores_by_hand() -> None:
    relevant = {"q1": {"a", "b"}, "q2": {"c"}, "q3": {"d"}}
    ranked = {"q1": ["x", "a", "y", "b"], "q2": ["c"], "q3": ["x", "y"]}
    s = ranking_scores(relevant, ranked)
    assert s["q1"]["hit@1"] == 0.0 and s["q1"]["hit@3"] == 1.0
    assert s["q1"]["recall@3"] == 0.5 and s["q1"]["recall@5"] == 1.0
    assert s["q1"]["mrr@10"] == 0.5
    # DCG = 1/log2(3) + 1/log2(5); ideal = 1 + 1/log2(3)
    assert s["q1"]["ndcg@10"] == pytest.approx((1 / math.log2(3) + 1 / math.log2(5)) / (1 + 1 / math.log2(3)))
    assert s["q2"] == {**s["q2"], "hit@1": 1.0, "mrr@10": 1.0, "ndcg@10": 1.0}
    assert s["q3"]["hit@10"] == 0.0 and s["q3"]["ndcg@10"] == 0.0


def test_a_question_with_no_hits_scores_zero() -> None:
    s = ranking_scores({"q": {"a"}}, {})
    assert s["q"]["mrr@10"] == 0.0 and s["q"]["recall@10"] == 0.0


def test_overlaps_and_citation_precision_recall() -> None:
    assert overlaps((0, 5), (4, 9)) and not overlaps((0, 5), (5, 9))
    gold = [Gold("s.txt", 10, 20), Gold("s.txt", 50, 60)]
    cites = [
        Citation(1, "c", "d", "s.txt", "A", 15, 25, "x", 1.0),
        Citation(2, "c", "d", "s.txt", "A", 30, 40, "x", 1.0),
        Citation(3, "c", "d", "other.txt", "A", 50, 60, "x", 1.0),
    ]
    p, r = citation_precision_recall(cites, gold)
    assert p == pytest.approx(1 / 3) and r == pytest.approx(1 / 2)
    assert citation_precision_recall([], gold) == (0.0, 0.0)


def test_refusal_scores_by_hand() -> None:
    expected = [True, True, False, False, True]
    predicted = [True, False, False, True, True]
    s = refusal_scores(expected, predicted)
    assert s["accuracy"] == 3 / 5
    assert s["refusal_precision"] == 1 / 2  # refused 2, one of them rightly
    assert s["refusal_recall"] == 1 / 2  # 2 unanswerable, one refused
    assert s["false_refusals"] == 1


def test_facts_and_percentiles() -> None:
    assert has_facts("He met in Helsinki with no NOTETAKERS.", [["helsinki"], ["aides", "notetakers"]])
    assert not has_facts("He met in Helsinki.", [["helsinki"], ["aides", "notetakers"]])
    assert has_facts("anything", [])
    assert percentile([1, 2, 3, 4], 50) == 2.5 and percentile([5], 95) == 5 and percentile([], 50) == 0.0


def test_citation_validity_checks_the_source(fake_pipe: Pipeline) -> None:
    doc = next(iter(fake_pipe.documents.values()))
    good = Citation(1, "c", doc.doc_id, doc.source, None, 0, 10, doc.text[:10], 1.0)
    bad = Citation(1, "c", doc.doc_id, doc.source, None, 0, 10, doc.text[1:11], 1.0)
    assert is_valid_citation(good, fake_pipe.documents) and not is_valid_citation(bad, fake_pipe.documents)


def test_relevant_turns_by_span_and_by_turn(fake_pipe: Pipeline) -> None:
    doc = fake_pipe.documents["cipher-brief-trump-putin-call"]
    start = doc.text.index("Helsinki in 2018")
    q = Question("q", "x", True, gold=(Gold(doc.source, start, start + 16),))
    turns = fake_pipe.index.transcripts[doc.doc_id].turns
    inside = next(t for t in turns if any(a <= start < b for a, b in t.paragraphs))
    assert relevant_turns(q, fake_pipe.index.transcripts) == {f"{doc.doc_id}:{inside.index}"}
    assert relevant_turns(Question("q", "x", True, doc_id="m", gold_turns=(2, 3)), {}) == {"m:2", "m:3"}


def test_passages_are_read_turn_by_turn_in_rank_order(fake_pipe: Pipeline) -> None:
    chunks = {c.turn: c for c in fake_pipe.chunks if c.doc_id == "cipher-brief-trump-putin-call"}
    first, second = max(chunks), min(chunks)
    hits = [Hit(chunks[first], 1, 1.0, 0.5, 0.0, first + 2), Hit(chunks[second], 2, 0.9, 0.4, 0.0)]
    doc = "cipher-brief-trump-putin-call"
    expected = [f"{doc}:{t}" for t in (first, first + 1, first + 2, second)]
    assert ranked_turns(hits) == expected
    assert within_tokens(expected, {u: 400 for u in expected}, 1000) == expected[:2]
    assert within_tokens(expected, {u: 2000 for u in expected}, 1000) == expected[:1]  # the first always counts
    assert passage_scores([False, False, True]) == {
        "hit@1": 0.0,
        "hit@3": 1.0,
        "hit@5": 1.0,
        "hit@10": 1.0,
        "mrr@10": 1 / 3,
    }
    assert passage_scores([])["mrr@10"] == 0.0


@pytest.mark.parametrize(
    ("lines", "message"),
    [
        (['{"id": "a", "question": "q?", "answerable": true}', "{oops"], r":2: malformed question"),
        (['{"id": "a", "answerable": true}'], r":1: malformed question \('question'\)"),
        (['{"id": "a", "question": "q?", "answerable": "yes"}'], r":1: malformed question"),
        ([], "the question set is empty"),
        (['{"id": "a", "question": "q?", "answerable": false, "said_by": "Okoro"}'], r"'said_by' must be a list"),
        (['{"id": "a", "question": "q?", "answerable": true, "speaker_labels": [1]}'], r"'speaker_labels' must be"),
        (['{"id": "a", "question": "q?", "answerable": true}'] * 2, "question id 'a' appears twice"),
    ],
)
def test_bad_sets(tmp_path: Path, lines: list[str], message: str) -> None:
    p = tmp_path / "set.jsonl"
    p.write_text("\n".join(lines) + "\n")
    with pytest.raises(EvalSetError, match=message):
        load_set(p)


def test_gold_must_name_a_known_source_and_fit(fake_pipe: Pipeline) -> None:
    source = next(iter(fake_pipe.documents.values())).source
    with pytest.raises(EvalSetError, match="gold source 'nope.txt' is not in the index"):
        check_gold([Question("q", "x", True, gold=(Gold("nope.txt", 0, 5),))], fake_pipe.documents)
    with pytest.raises(EvalSetError, match=r"gold span \[0:99999999\] is outside"):
        check_gold([Question("q", "x", True, gold=(Gold(source, 0, 99_999_999),))], fake_pipe.documents)


def test_a_bad_set_writes_nothing(fake_pipe: Pipeline, tmp_path: Path) -> None:
    p = tmp_path / "set.jsonl"
    p.write_text(
        json.dumps(
            {"id": "a", "question": "q?", "answerable": True, "gold": [{"source": "nope.txt", "start": 0, "end": 3}]}
        )
        + "\n"
    )
    out = tmp_path / "results"
    with pytest.raises(EvalSetError):
        run_eval(p, pipe=fake_pipe, out=out)
    assert not out.exists()


def test_seed_set_is_well_formed() -> None:
    questions = load_set(ROOT / "eval" / "sets" / "seed.jsonl")
    kinds = {q.kind for q in questions}
    assert len(questions) >= 60 and sum(not q.answerable for q in questions) >= 12
    assert kinds == {"speaker", "alias", "quoted", "factual", "paraphrase", "follow-up", "negative"}
    assert all(q.gold for q in questions if q.answerable)


@pytest.mark.slow
def test_run_eval_writes_a_report(real_pipe: Pipeline, tmp_path: Path) -> None:
    result = run_eval(ROOT / "eval" / "sets" / "seed.jsonl", pipe=real_pipe, out=tmp_path)
    names = sorted(p.suffix for p in result.paths)
    assert names == [".json", ".md", ".png", ".png"] or names == [".json", ".md", ".png"]
    o = result.summary["overall"]
    assert o["citation_validity"] == 1.0
    assert o["hit@5"] >= 0.9 and o["accuracy"] >= 0.9 and o["speaker_attribution"] >= 0.95
    md = result.paths[1].read_text()
    assert o["turn_ndcg@10"] >= 0.9 and o["turn_recall@10"] >= 0.9
    assert "| Turn nDCG@10 (first 10 turns read) |" in md and "## By kind of question" in md
    assert o["false_wrong_premise"] == 0 and '| False "did not talk about" replies (must be 0) | 0 |' in md


def test_misattribution_is_read_from_the_offsets_not_the_chunk() -> None:
    turns = [Turn("d", 0, "Ann", 0, 10, ((0, 4), (5, 10))), Turn("d", 1, "Bob", 12, 20, ((12, 20),))]

    def cite(speaker: str | None, start: int, end: int) -> Citation:
        return Citation(1, "d#0.1", "d", "d.txt", speaker, start, end, "x", 0.0)

    assert not is_misattributed(cite("Ann", 0, 10), turns)  # two paragraphs of one turn
    assert is_misattributed(cite("Bob", 0, 4), turns)  # Ann's words credited to Bob
    assert is_misattributed(cite("Ann", 5, 15), turns)  # runs into Bob's turn
    assert is_misattributed(cite("Ann", 10, 12), turns)  # between turns: nobody's words


def test_formats_set_is_well_formed() -> None:
    questions = load_set(ROOT / "eval" / "sets" / "formats.jsonl")
    sources = {g.source.split("/")[-1] for q in questions for g in q.gold}
    assert len(questions) >= 60 and len(sources) >= 10
    assert {"ambiguous", "wrong-premise", "absent", "two-people"} <= {q.kind for q in questions}
    assert all(q.gold for q in questions if q.answerable)


@pytest.mark.slow
def test_formats_set_has_no_misattribution(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from rag import build_index
    from rag.config import Settings

    monkeypatch.chdir(ROOT)  # the set names its sources relative to the repository
    build_index([FORMATS.relative_to(ROOT)], tmp_path / "index", settings=Settings())
    pipe = Pipeline.load(tmp_path / "index")
    result = run_eval(ROOT / "eval" / "sets" / "formats.jsonl", pipe=pipe, out=None)
    o = result.summary["overall"]
    assert o["misattributed_citations"] == 0 and o["false_wrong_premise"] == 0
    assert o["wrong_premise_replies"] >= 3  # the set's wrong premises still say who did speak
    assert o["speaker_attribution"] == 1.0 and o["citation_validity"] == 1.0
    assert o["accuracy"] >= 0.95, result.summary["failures"]


def test_wrong_premise_set_is_well_formed() -> None:
    questions = load_set(ROOT / "eval" / "sets" / "wrong-premise.jsonl")
    premises = [q for q in questions if q.kind == "wrong-premise"]
    controls = {q.id.removeprefix("pt-"): q for q in questions if q.kind == "premise-true"}
    assert len(premises) >= 40 and len(controls) == len(premises)
    for q in premises:
        control = controls[q.id.removeprefix("wp-")]  # the same question about someone who did say it
        assert not q.answerable and q.said_by and q.gold and q.speaker not in q.said_by
        assert control.answerable and control.speaker in q.said_by and control.gold
        assert control.doc_id == q.doc_id and not control.said_by
    assert len({q.doc_id for q in questions}) >= 30


@pytest.mark.slow
def test_wrong_premise_right_needs_the_reply_and_who_did_say_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Three real transcripts: a wrong premise is caught only by the reply that quotes `said_by`."""
    from rag import build_index
    from rag.config import Settings

    monkeypatch.chdir(ROOT)  # the set names its sources relative to the repository
    docs = ("clinic-timestamps", "design-review-otter", "commons-debate")
    build_index([(FORMATS / f"{d}.txt").relative_to(ROOT) for d in docs], tmp_path / "index", settings=Settings())
    rows = [json.loads(line) for line in (ROOT / "eval" / "sets" / "wrong-premise.jsonl").open(encoding="utf-8")]
    rows = [r for r in rows if r["doc_id"] in docs]
    kofi = next(r for r in rows if r["question"].startswith("What did Kofi Mensah"))
    rows.append({**kofi, "id": "kofi-wrong-said-by", "said_by": ["Ms. Raman"]})  # Dr. Okafor said it, not Ms. Raman
    (tmp_path / "set.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")

    result = run_eval(tmp_path / "set.jsonl", pipe=Pipeline.load(tmp_path / "index"), out=None)
    records = {r["id"]: r for r in result.records}
    assert records[kofi["id"]]["wrong_premise_right"] is True  # "Kofi Mensah did not talk about ...; Dr. Okafor did"
    wrong = records["kofi-wrong-said-by"]
    assert wrong["wrong_premise_reply"] and wrong["wrong_premise_right"] is False
    assert "wrong premise, other speaker quoted" in wrong["failed"]
    for r in result.records:
        said_by = next(x.get("said_by") for x in rows if x["id"] == r["id"])
        if not said_by:  # the controls: what the person did say, never denied
            assert r["wrong_premise_right"] is None and not r["false_wrong_premise"]
            continue
        by_them = bool(r["citations"]) and all(c["speaker"] in said_by for c in r["citations"])
        assert r["wrong_premise_right"] == (r["wrong_premise_reply"] and by_them)
        assert r["wrong_premise_right"] or r["failed"]
    o = result.summary["overall"]
    right = sum(bool(r["wrong_premise_right"]) for r in result.records)
    assert o["wrong_premises"] == sum(r["id"].startswith(("wp-", "kofi")) for r in rows)
    assert o["wrong_premise_right"] == right and o["wrong_premise_right_share"] == round(right / o["wrong_premises"], 4)
    assert o["false_wrong_premise"] == 0 and o["misattributed_citations"] == 0
