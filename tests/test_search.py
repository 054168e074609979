"""Passages and the speaker prior, on a real meeting (QMSum Bed002) with the fake embedder."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from rag import Pipeline, build_index
from rag.config import Settings
from rag.evaluate import ranked_turns
from tests.conftest import QMSUM, FakeEmbedder

MEETING = QMSUM / "Bed002.json"


@pytest.fixture(scope="module")
def meeting(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("meeting") / "index"
    build_index([MEETING], out, embedder=FakeEmbedder())
    return out


def _recall_at_10(pipe: Pipeline) -> float:
    """Share of gold turns among the first ten turns read, over the meeting's own questions."""
    found = total = 0
    for item in json.loads(MEETING.read_text())["specific_query_list"]:
        gold = {f"Bed002:{t}" for a, b in item["relevant_text_span"] for t in range(int(a), int(b) + 1)}
        read = ranked_turns(pipe.search(item["query"], k=10, doc_id="Bed002"))[:10]
        found += len(gold & set(read))
        total += min(len(gold), 10)
    return found / total


def test_passages_read_more_of_the_discussion_than_single_turns(meeting: Path) -> None:
    turns = Pipeline.load(meeting, embedder=FakeEmbedder())
    single = Pipeline.load(meeting, embedder=FakeEmbedder(), settings=Settings(passage_turns=0))
    assert _recall_at_10(turns) > _recall_at_10(single)


def test_a_passage_is_its_chunk_and_the_turns_after_it(meeting: Path) -> None:
    pipe = Pipeline.load(meeting, embedder=FakeEmbedder())
    doc = pipe.documents["Bed002"]
    for hit in pipe.search("Summarize the discussion about the recording equipment", k=10):
        turns = pipe.index.transcripts["Bed002"].turns
        assert 1 <= len(hit.turns) <= 5 and hit.turns[0] == hit.chunk.turn
        text = pipe.passage(hit)
        assert text.startswith(hit.chunk.text) and len(text) <= Settings().passage_chars
        assert text == doc.text[hit.chunk.start : turns[hit.turns[-1]].end if len(hit.turns) > 1 else hit.chunk.end]
        assert hit.to_dict()["last_turn"] == hit.turns[-1]


def test_a_named_speaker_ranks_first_without_hiding_the_others(meeting: Path) -> None:
    pipe = Pipeline.load(meeting, embedder=FakeEmbedder())
    question = "What did Professor C think about setting up the recording equipment?"
    hits = pipe.search(question, k=10)
    turns = pipe.index.transcripts["Bed002"].turns
    assert hits[0].chunk.speaker == "Professor C"
    read = {turns[int(u.split(":")[1])].speaker for u in ranked_turns(hits)}
    assert len(read) > 2  # the replies around Professor C's turns are read too
    assert len({h.chunk.speaker for h in pipe.search(question, k=40)}) > 1  # others rank after, not out
    assert all(h.chunk.speaker == "Professor C" for h in pipe.search(question, k=10, speaker="Professor C"))


def test_a_negated_question_keeps_its_topic(fake_pipe: Pipeline) -> None:
    assert fake_pipe.read("Why didn't Dannenberg trust Putin?").topic == "trust Putin"
    assert fake_pipe.read("Why did McLaughlin not trust Putin?").topic == "trust Putin"
    assert fake_pipe.read("What did Dannenberg say about Helsinki?").topic == "Helsinki"
