"""The premise check (rag.decide): "X did not talk about T" only with evidence by words and by
meaning; otherwise X's own closest words, with how close they are. Transcripts: tests/data/premise/
(a vendor sync where Tomasz commits to a task in his own words, a podcast whose guest answers the
host's question without the host's words)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from rag import Pipeline, build_index
from rag.config import Settings
from rag.metrics import is_false_wrong_premise
from rag.sentences import Sentences
from tests.conftest import DATA, FakeEmbedder

PREMISE = DATA / "premise"


@pytest.fixture(scope="module")
def fake_premise(tmp_path_factory: pytest.TempPathFactory) -> Pipeline:
    out = tmp_path_factory.mktemp("premise") / "index"
    build_index([PREMISE], out, embedder=FakeEmbedder())
    return Pipeline.load(out, embedder=FakeEmbedder())


@pytest.fixture(scope="module")
def real_premise(tmp_path_factory: pytest.TempPathFactory) -> Pipeline:
    out = tmp_path_factory.mktemp("premise-real") / "index"
    build_index([PREMISE], out, settings=Settings())
    return Pipeline.load(out)


def _said_by(answer, speaker: str, words: str) -> bool:  # type: ignore[no-untyped-def]
    return answer.answerable and any(c.speaker == speaker and words in c.quote for c in answer.citations)


def test_a_promise_in_the_speakers_own_words_is_quoted_not_denied(fake_premise: Pipeline) -> None:
    answer = fake_premise.ask("What did Tomasz promise to do?")
    assert _said_by(answer, "Tomasz", "I'll email their account manager this afternoon"), answer.text
    assert "did not talk about" not in answer.text and "cosine" in answer.text


def test_a_genuine_wrong_premise_still_says_who_did(fake_premise: Pipeline) -> None:
    answer = fake_premise.ask("What did Tomasz say about the parking permits?")
    assert not answer.answerable and answer.reason.startswith("wrong premise")
    assert "Tomasz did not talk about 'the parking permits'" in answer.text and "closest cosine" in answer.text
    assert answer.citations and answer.citations[0].speaker == "Maria"
    assert answer.evidence.closest is not None and answer.evidence.closest < Settings().premise_closeness


@pytest.mark.slow
@pytest.mark.parametrize(
    ("question", "speaker", "words"),
    [
        ("What did Tomasz promise to do?", "Tomasz", "I'll email their account manager"),
        ("What did Tomasz commit to?", "Tomasz", "I'll email their account manager"),
        ("What did Darius say about the money side of quitting his job?", "Darius", "paid myself nothing"),
    ],
)
def test_words_of_the_person_asked_about_are_never_denied(
    real_premise: Pipeline, question: str, speaker: str, words: str
) -> None:
    answer = real_premise.ask(question)
    assert _said_by(answer, speaker, words), answer.text
    assert not is_false_wrong_premise(True, answer.reason)


@pytest.mark.slow
@pytest.mark.parametrize(
    ("question", "who_did"),
    [
        ("What did Tomasz say about the parking permits?", "Maria"),
        ("What did Darius say about the parking permits?", "Maria"),
        ("What did Maria say about the deck oven?", "Darius"),
    ],
)
def test_real_wrong_premises_still_get_the_reply(real_premise: Pipeline, question: str, who_did: str) -> None:
    answer = real_premise.ask(question)
    assert not answer.answerable and answer.reason.startswith("wrong premise"), answer.text
    assert answer.citations[0].speaker == who_did
    assert answer.evidence.closest is not None and answer.evidence.closest < Settings().premise_closeness


def test_closest_sentence_is_the_brute_force_best() -> None:
    rng = np.random.default_rng(0)
    vectors = rng.standard_normal((9, 8)).astype(np.float32)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    offsets = np.array([0, 2, 2, 5, 9], dtype=np.int64)  # chunk 1 has no sentence
    spans = np.array([[i * 10, i * 10 + 5] for i in range(9)], dtype=np.int32)
    s = Sentences(offsets, spans, vectors.astype(np.float16))
    q = rng.standard_normal(8).astype(np.float32)
    q /= np.linalg.norm(q)
    for rows in ([0, 1, 2, 3], [3], [1, 2], [0, 3]):
        ids = [i for r in rows for i in range(offsets[r], offsets[r + 1])]
        best = max(ids, key=lambda i: float(vectors[i].astype(np.float16).astype(np.float32) @ q))
        row, span, cos = s.closest(q, np.array(rows))
        assert span == (best * 10, best * 10 + 5) and offsets[row] <= best < offsets[row + 1]
        assert cos == pytest.approx(float(vectors[best].astype(np.float16).astype(np.float32) @ q), abs=1e-5)
    assert s.closest(q, np.array([1])) is None


def test_a_speakers_own_rows_leave_out_the_rows_that_quote_them(fake_pipe: Pipeline) -> None:
    table = fake_pipe.index.chunks
    quoting = [r for r in range(len(table)) if table[r].quoted and table[r].speaker not in table[r].quoted]
    name = table[quoting[0]].quoted[0]
    everyone = table.rows_of_person(name)
    own = table.rows_spoken_by([name], everyone)
    assert quoting[0] in everyone and quoting[0] not in own
    assert all(table[int(r)].speaker == name for r in own)


def test_a_false_wrong_premise_is_a_denial_of_an_answerable_question() -> None:
    reason = "wrong premise: Tomasz did not speak about this; Priya did"
    assert is_false_wrong_premise(True, reason) and not is_false_wrong_premise(False, reason)
    assert not is_false_wrong_premise(True, "closest by meaning: cosine 0.55")


def test_the_premise_transcripts_are_read_as_their_speakers(fake_premise: Pipeline) -> None:
    speakers = {c.speaker for c in fake_premise.chunks}
    assert {"Priya", "Tomasz", "Maria", "Darius"} <= speakers, speakers
    assert Path(PREMISE / "vendor-sync.txt").exists()


@pytest.fixture(scope="module")
def real_debate(tmp_path_factory: pytest.TempPathFactory) -> Pipeline:
    out = tmp_path_factory.mktemp("debate") / "index"
    build_index([DATA / "formats" / "commons-debate.txt"], out, settings=Settings())
    return Pipeline.load(out)


@pytest.mark.slow
def test_a_wrong_premise_by_meaning_when_the_words_differ(real_debate: Pipeline) -> None:
    """Ms. Patel's "insurance premiums have tripled since the last flood" answers "how much insurance
    has gone up" with few of its words; Mr. Graham said nothing near it. The reply says so, with both
    closenesses; asked of Ms. Patel, her words are the answer."""
    answer = real_debate.ask("What did Mr. Graham say about how much insurance has gone up in Kirkstall?")
    assert not answer.answerable and answer.reason.startswith("wrong premise"), answer.text
    assert answer.citations[0].speaker == "Ms. Patel" and "premiums have tripled" in answer.citations[0].quote
    assert "where Ms. Patel's words are at" in answer.text
    control = real_debate.ask("What did Ms. Patel say about how much insurance has gone up in Kirkstall?")
    assert _said_by(control, "Ms. Patel", "premiums have tripled"), control.text
    off = Settings(premise_gap=2.0)  # without the meaning path, the old refusal comes back
    quiet = Pipeline(real_debate.index, real_debate.embedder, off).ask(
        "What did Mr. Graham say about how much insurance has gone up in Kirkstall?"
    )
    assert not quiet.reason.startswith("wrong premise"), quiet.text


@pytest.fixture(scope="module")
def real_setbuild(tmp_path_factory: pytest.TempPathFactory) -> Pipeline:
    out = tmp_path_factory.mktemp("setbuild") / "index"
    build_index([DATA / "styles" / "transcripts" / "two-letter-names-setbuild.txt"], out, settings=Settings())
    return Pipeline.load(out)


@pytest.mark.slow
def test_a_question_someone_else_answered_is_a_wrong_premise_for_a_third(real_setbuild: Pipeline) -> None:
    """Marisa asks "Can you use hardboard for the curve instead?" and Al answers; Bo said nothing near
    it. Asked about Bo, the reply says who did and quotes Al's answer; asked about Marisa, her question."""
    answer = real_setbuild.ask("What did Bo think of using hardboard for the curved section?")
    assert not answer.answerable and answer.reason == "wrong premise: Bo did not speak about this; Al did"
    assert answer.citations[0].speaker == "Al" and "Hardboard bends better" in answer.citations[0].quote
    assert "the question Marisa asked" in answer.text
    asker = real_setbuild.ask("What did Marisa think of using hardboard for the curved section?")
    assert _said_by(asker, "Marisa", "use hardboard for the curve"), asker.text
