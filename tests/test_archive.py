"""Who said what across an archive: one person per identity, the right document, answers that say where.

Runs on the series set (eval/data/series/transcripts: a podcast, a court, a council and sprint
reviews, invented for these checks) indexed with the fake embedder, and on small files written here.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from rag import Pipeline, QuestionError, build_index
from rag.dates import document_date, find_dates, in_range, matches
from rag.people import is_positional, merge_people
from rag.types import Person
from tests.conftest import ROOT, FakeEmbedder

SERIES = ROOT / "eval" / "data" / "series" / "transcripts"


@pytest.fixture(scope="module")
def series(tmp_path_factory: pytest.TempPathFactory) -> Pipeline:
    out = tmp_path_factory.mktemp("series") / "index"
    build_index([SERIES], out, embedder=FakeEmbedder())
    return Pipeline.load(out, embedder=FakeEmbedder())


def person(pipe: Pipeline, name: str) -> Person:
    found = [p for p in pipe.speakers() if p.name == name]
    assert len(found) == 1, [p.where for p in pipe.speakers() if name.split()[-1] in p.name]
    return found[0]


def test_recurring_people_are_one_person_across_documents(series: Pipeline) -> None:
    morrow = person(series, "Chief Justice Morrow")  # a title-and-surname label, and a voice tag with Jr.
    assert len(morrow.doc_ids) == 5 and {label for _, label in morrow.labels} == {
        "Chief Justice Morrow",
        "Harold T. Morrow, Jr.",
    }
    ruiz = person(series, "Councillor Ana Ruiz")  # four label forms over five meetings
    assert {"Cllr Ruiz", "Ruiz", "Councillor Ruiz"} <= {label for _, label in ruiz.labels}
    assert "same full name" in ruiz.linked or "is" in ruiz.linked
    assert len(person(series, "Marcus Adeyemi").doc_ids) == 4  # "Marcus:" in episode 1


def test_namesakes_and_positional_labels_stay_apart(series: Pipeline) -> None:
    webers = {p.name: p.doc_ids for p in series.speakers() if "Weber" in p.name}
    assert set(webers) == {"Lena Weber", "Councillor Tom Weber"}
    assert all(d.startswith("podcast/") for d in webers["Lena Weber"])
    assert all(d.startswith("council/") for d in webers["Councillor Tom Weber"])
    for label in ("Speaker 2", "THE CHAIR", "The Clerk"):
        assert all(len(p.doc_ids) == 1 for p in series.speakers() if p.name == label)


def test_a_surname_joins_a_full_name_only_when_the_documents_share_someone() -> None:
    def speaker(name: str, doc: str, *aliases: str) -> Person:
        return Person(name, "speaker", aliases, (), (doc,))

    clinic = [speaker("Ms. Raman", "clinic"), speaker("Dr. Hale", "clinic")]
    review = [speaker("Priya Raman", "review"), speaker("Tom Byrne", "review")]
    apart = merge_people([clinic, review])
    assert sorted(p.name for p in apart if "Raman" in p.name) == ["Ms. Raman", "Priya Raman"]
    again = [speaker("Ms. Raman", "clinic-2"), speaker("Tom Byrne", "clinic-2")]  # Tom Byrne speaks in both
    joined = merge_people([review, again])
    raman = next(p for p in joined if "Raman" in p.name)
    assert raman.doc_ids == ("clinic-2", "review") and "Priya Raman" in raman.linked


def test_positional_labels_are_recognised_from_their_shape_and_the_text() -> None:
    assert is_positional(Person("Speaker 12", "speaker"))
    assert is_positional(Person("Grad B", "speaker"))
    assert is_positional(Person("THE WITNESS", "speaker"))
    assert is_positional(Person("Marketing", "speaker", named=False))
    assert not is_positional(Person("Justice Gorsuch", "speaker"))
    assert not is_positional(Person("The Acting Chair (Mr. Bruce Stanton)", "speaker"))


def test_a_recurring_speaker_is_answered_without_naming_the_document(series: Pipeline) -> None:
    answer = series.ask("What did Justice Kim say about the geofence warrant?")
    assert answer.answerable, answer.text
    assert {c.doc_id for c in answer.citations} == {"court/2024-09-11-state-v-reyes"}
    assert {c.speaker for c in answer.citations} <= {"Justice Kim", "Samuel J. Kim"}


def test_the_topic_says_which_namesake_is_meant(series: Pipeline) -> None:
    answer = series.ask("What did Weber say about the gravel under the Rhine valley?")
    assert answer.answerable, answer.text
    assert all(c.doc_id.startswith("podcast/") for c in answer.citations)
    answer = series.ask("What did Weber say about the Brook Street culvert?")
    assert answer.answerable, answer.text
    assert all(c.doc_id.startswith("council/") for c in answer.citations)


def test_which_one_lists_structured_candidates(series: Pipeline) -> None:
    answer = series.ask("What did Speaker 2 say?")  # no topic: nothing to choose by
    assert not answer.answerable and answer.reason.startswith("ambiguous name")
    assert {d for p in answer.candidates for d in p.doc_ids} == {"sprint/sprint-41-review", "sprint/sprint-45-review"}
    as_json = answer.to_dict()["candidates"]
    assert {tuple(c["documents"]) for c in as_json} == {("sprint/sprint-41-review",), ("sprint/sprint-45-review",)}


def test_a_date_in_the_question_chooses_the_meeting(series: Pipeline) -> None:
    answer = series.ask("At the 14 May 2024 meeting, what did Ruiz say about the Kingsway crossing?")
    assert answer.answerable, answer.text
    assert {c.doc_id for c in answer.citations} == {"council/2024-05-14-council"}
    absent = series.ask("What did Mayor Bell say at the 14 May 2024 council meeting about the library?")
    assert not absent.answerable and not absent.citations, absent.text  # he was away that day


def test_a_date_range_filters_documents_and_bad_dates_say_the_form(series: Pipeline) -> None:
    hits = series.search("culvert", k=10, after="2024-04", before="2024-05-31")
    assert hits and {h.chunk.doc_id for h in hits} <= {
        "council/2024-04-09-council",
        "council/2024-04-09-council-recording",
        "council/2024-05-14-council",
    }
    with pytest.raises(QuestionError, match="after must be a date like 2024-05-14"):
        series.search("culvert", after="last spring")


def test_quotes_from_several_documents_are_grouped_under_their_names(series: Pipeline) -> None:
    answer = series.ask("What did Ruiz say about route seven?")
    docs = list(dict.fromkeys(c.doc_id for c in answer.citations))
    if len(docs) > 1:
        assert answer.text.startswith(f"From {len(docs)} documents.")
        assert all(f"In {d}:" in answer.text for d in docs)
        assert [c.n for c in answer.citations] == list(range(1, len(answer.citations) + 1))
    else:
        assert "In " not in answer.text.split(":")[0]


def test_dates_are_read_from_names_headers_and_questions() -> None:
    assert document_date("council/2024-03-12-council") == "2024-03-12"
    assert document_date("ashford-council-june", "Ashford Borough Council, 11 June 2024. Present: ...") == "2024-06-11"
    assert [d.iso for d in find_dates("In the argument of September 11, 2024, what")] == ["2024-09-11"]
    assert [d.iso for d in find_dates("at the May 2024 meeting")] == ["2024-05"]
    assert [d.iso for d in find_dates("the 12 March meeting")] == ["****-03-12"]
    assert matches("2024-03-12", "****-03-12") and matches("2024-05-14", "2024-05")
    assert not matches("2024-04-09", "2024-05") and not matches(None, "2024-05")
    assert in_range("2024-05-14", "2024-05", None) and not in_range("2024-04-09", "2024-05", None)


def test_two_copies_of_one_interview_are_one_person(tmp_path: Path) -> None:
    seed = (ROOT / "seeds" / "cipher-brief-trump-putin-call.txt").read_text(encoding="utf-8")
    (tmp_path / "src").mkdir()
    (tmp_path / "src" / "cipher-brief.txt").write_text(seed, encoding="utf-8")
    (tmp_path / "src" / "interview-copy.txt").write_text(seed, encoding="utf-8")
    build_index([tmp_path / "src"], tmp_path / "index", embedder=FakeEmbedder())
    pipe = Pipeline.load(tmp_path / "index", embedder=FakeEmbedder())
    answer = pipe.ask("What did Dannenberg say about Helsinki?")
    assert answer.answerable and "Which" not in answer.text, answer.text
    assert all("Helsinki" in c.quote for c in answer.citations[:1])


def test_the_cli_takes_a_date_range_and_names_the_documents(series: Pipeline, tmp_path: Path) -> None:
    data = json.dumps(series.ask("What did Ruiz say about route seven?", after="2024-06").to_dict())
    assert "ashford-council-june" in data and "2024-03-12-council" not in data


def test_who_said_what_prefers_certain_stretches_of_a_recording(tmp_path: Path) -> None:
    segments = [
        {
            "start": 0.0,
            "end": 3.0,
            "speaker": "SPEAKER_00",
            "text": "Welcome, let's start with money.",
            "uncertain": "",
        },
        {
            "start": 3.2,
            "end": 6.0,
            "speaker": "SPEAKER_01",
            "text": "The budget goes to the tram line first.",
            "uncertain": "overlap",
        },
        {"start": 6.5, "end": 9.0, "speaker": "SPEAKER_00", "text": "Fine, next item.", "uncertain": ""},
        {
            "start": 9.5,
            "end": 13.0,
            "speaker": "SPEAKER_01",
            "text": "The budget for the harbour wall is four million.",
            "uncertain": "",
        },
    ]
    (tmp_path / "src").mkdir()
    (tmp_path / "src" / "meeting.json").write_text(json.dumps({"segments": segments}), encoding="utf-8")
    build_index([tmp_path / "src"], tmp_path / "index", embedder=FakeEmbedder())
    pipe = Pipeline.load(tmp_path / "index", embedder=FakeEmbedder())
    answer = pipe.ask("What did SPEAKER_01 say about the budget?")
    assert answer.answerable and answer.citations[0].quote.startswith("The budget for the harbour wall")
    assert not answer.citations[0].uncertain
    assert all(c.uncertain == ("tram" in c.quote) for c in answer.citations)


def test_a_date_with_no_document_says_so(series: Pipeline) -> None:
    answer = series.ask("At the 3 January 2019 meeting, what did Ruiz say about the crossing?")
    assert not answer.answerable and "no document is dated 2019-01-03" in answer.text
    away = series.ask("What did Mayor Bell say at the 14 May 2024 council meeting about the library?")
    assert "in the documents of 2024-05-14 (council/2024-05-14-council)" in away.text
    with pytest.raises(QuestionError, match="not '2024-13'"):
        series.search("culvert", after="2024-13")
