"""Passages and the speaker prior, on a real meeting (QMSum Bed002) with the fake embedder."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from rag import Pipeline, build_index
from rag.config import Settings
from rag.metrics import ranked_turns
from tests.conftest import QMSUM, ROOT, FakeEmbedder

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


# --- the conversation around a named speaker's words ---------------------------------------------


@pytest.fixture(scope="module")
def design_meeting(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A product meeting (tests/data/meetings) in which Marketing's view on the battery is a reply."""
    out = tmp_path_factory.mktemp("meeting") / "index"
    build_index([ROOT / "tests" / "data" / "meetings" / "design-meeting.txt"], out, embedder=FakeEmbedder())
    return out


def test_a_named_speakers_short_reply_is_found_through_the_turns_around_it(design_meeting: Path) -> None:
    """Marketing's view on the battery is a reply with no word of the topic in it; the topic is in
    the Industrial Designer's turn just before. With the conversation lent to the speaker's rows,
    the reply ranks first; without it, it ranks below turns that do not answer the question."""
    question = "What did Marketing think about the battery life?"
    pipe = Pipeline.load(design_meeting, embedder=FakeEmbedder())
    top = pipe.search(question, k=4)[0]
    assert top.chunk.speaker == "Marketing" and "never pay eight euros extra" in top.chunk.text
    alone = Pipeline(pipe.index, pipe.embedder, Settings(context_turns=0, context_chars=0))
    ranked = [h.chunk.text for h in alone.search(question, k=4)]
    assert "never pay eight euros extra" in ranked[3]


def test_speeches_lend_nothing_and_meetings_do(fake_pipe: Pipeline, design_meeting: Path) -> None:
    """The seed is three speeches (median turn 842 indexed words); a meeting's turns are short."""
    from rag.search import lend_context
    from rag.store import Rows

    index = fake_pipe.index
    words = dict(zip(index.chunks.doc_ids(), index.chunks.turn_words().tolist(), strict=True))
    assert words["cipher-brief-trump-putin-call"] > 500 and words["meeting"] < 30
    seed = index.chunks.rows_of_doc("cipher-brief-trump-putin-call")
    scores = {int(r): 1.0 for r in seed}
    speaker = Rows(seed[[index.chunks[int(r)].speaker == "Dannenberg" for r in seed]])
    assert len(speaker) and lend_context(index, scores, speaker, turns=3, chars=400, speech=100) == {}
    meeting = Pipeline.load(design_meeting, embedder=FakeEmbedder()).index
    rows = meeting.chunks.rows_of_doc("design-meeting")
    marketing = Rows(rows[[meeting.chunks[int(r)].speaker == "Marketing" for r in rows]])
    battery = next(int(r) for r in rows if "battery life" in meeting.chunks[int(r)].text)
    lent = lend_context(meeting, {battery: 0.5}, marketing, turns=1, chars=0, speech=100)
    assert [meeting.chunks[r].text[:28] for r in lent] == ["I would keep it cheap, custo"] and set(lent.values()) == {
        0.5
    }


@pytest.mark.parametrize(
    ("question", "speakers", "topic"),
    [
        # "designer" belongs to the label "Industrial Designer": left in, it matched every one of their chunks
        ("What did the user interface designer recommend about the buttons?", ("User Interface",), "the buttons"),
        ("What did the Industrial Design think about the battery?", ("Industrial Designer",), "the battery"),
        ("What did Marketing propose in the discussion about the colours?", ("Marketing",), "the colours"),
        ("What did Marketing say about the design of the case?", ("Marketing",), "the design of the case"),
    ],
)
def test_label_words_and_framing_leave_the_topic(
    design_meeting: Path, question: str, speakers: tuple[str, ...], topic: str
) -> None:
    pipe = Pipeline.load(design_meeting, embedder=FakeEmbedder())
    q = pipe.read(question)
    assert q.speakers == speakers and q.topic == topic


def test_a_follow_up_that_changes_only_the_person_carries_the_topic(fake_pipe: Pipeline) -> None:
    q = fake_pipe.read("And McLaughlin?", history=["What did Dannenberg say about Helsinki?"])
    assert q.speakers == ("McLaughlin",) and q.topic == "Helsinki" and q.carried
    answer = fake_pipe.ask("And McLaughlin?", history=["What did Dannenberg say about Helsinki?"])
    assert not answer.answerable or all(c.speaker == "McLaughlin" for c in answer.citations)
    assert "Helsinki" in answer.text or "Helsinki" in answer.reason or not answer.answerable


def test_a_pronoun_is_read_against_the_speaker_filter(fake_pipe: Pipeline) -> None:
    helsinki = ["What did Dannenberg say about Helsinki?"]
    asked = fake_pipe.ask("What did he say about NATO?", history=helsinki, speaker="McLaughlin")
    assert not asked.answerable and not asked.citations  # "he" is Dannenberg, the filter McLaughlin: ask
    assert asked.text.startswith(
        "Who do you mean by 'he'? The earlier question was about Dannenberg, but the speaker chosen is McLaughlin;"
    )
    same = fake_pipe.ask("What did he say about NATO?", history=helsinki, speaker="Dannenberg")
    assert same.answerable and {c.speaker for c in same.citations} == {"Dannenberg"}
    fresh = fake_pipe.ask("What did he say about NATO?", speaker="McLaughlin")  # nobody earlier: the filter's
    assert fresh.answerable and {c.speaker for c in fresh.citations} == {"McLaughlin"}
    named = fake_pipe.ask("What did McLaughlin say about NATO?", history=helsinki, speaker="McLaughlin")
    assert named.answerable and {c.speaker for c in named.citations} == {"McLaughlin"}


def test_anything_else_from_her_gives_her_other_words(formats_pipe: Pipeline) -> None:
    from rag.answer import topic_terms

    journey = ["What did Caroline say about the car journey?"]
    first = formats_pipe.ask(journey[0])
    assert first.answerable and {c.speaker for c in first.citations} == {"Caroline"}
    for question, pronoun in (("Anything else from her?", "her"), ("What else did she say?", "she")):
        q = formats_pipe.read(question, history=journey)
        assert q.speakers == ("Caroline",) and q.wants_other and q.pronoun == pronoun
        assert not topic_terms(q.topic)  # no topic: her other words, whatever they are about
        more = formats_pipe.ask(question, history=journey)
        assert more.answerable, more.reason
        assert {c.speaker for c in more.citations} == {"Caroline"}
        said = {(c.start, c.end) for c in first.citations}
        assert not {(c.start, c.end) for c in more.citations} & said  # other words, not the same again
    alone = formats_pipe.ask("Anything else from her?", history=["What about the car journey?"])
    assert not alone.answerable and alone.text.startswith("Who do you mean by 'her'? The question names nobody")
    picked = formats_pipe.ask("Anything else from her?", history=["What about the car journey?"], speaker="Caroline")
    assert picked.answerable and {c.speaker for c in picked.citations} == {"Caroline"}


def test_a_pronoun_with_nobody_before_it_asks_who(fake_pipe: Pipeline) -> None:
    answer = fake_pipe.ask("What did he say about Putin?")
    assert not answer.answerable and not answer.citations
    assert answer.text.startswith("Who do you mean by 'he'?")
    followed = fake_pipe.ask("What did he say about Putin?", history=["What did Dannenberg say about Helsinki?"])
    assert followed.answerable and {c.speaker for c in followed.citations} == {"Dannenberg"}
