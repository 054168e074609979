"""Every format and label style people really bring, pinned turn by turn (tests/data/formats/).

Each sample is a realistic transcript written for these tests. The expected speakers are the
attribution a careful reader would make; a change that moves one turn to another speaker fails here.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from rag import SourceError, build_index, load_documents
from rag.analysis import analyse
from rag.config import Settings
from rag.formats import choose
from rag.formats.labels import read_label
from rag.load import find_sources, load_document, parse_document
from rag.text import tokenize
from rag.turns import split_turns
from tests.conftest import FORMATS, FakeEmbedder

N = None  # narration

EXPECTED = {
    "court-hearing.txt": ("text", [N, "THE COURT", "Mr. Devlin", "THE WITNESS", "Mr. Devlin", "THE WITNESS",
                                   "Ms. Okonjo", "THE COURT", "Mr. Devlin", "THE WITNESS", "Ms. Okonjo", "THE COURT"]),
    "commons-debate.txt": ("text", [N, "The SPEAKER", "Dame Helen Ashcroft", "Ms. Patel", "Dame Helen Ashcroft",
                                    "Mr. Graham", "The SPEAKER", "Ms. Patel", "Mr. Graham"]),
    "europe-panel.txt": ("text", [N, "Élodie Martin", "Özlem Yılmaz", "Élodie Martin", "Łukasz Nowak",
                                  "Özlem Yılmaz", "Élodie Martin", "Łukasz Nowak"]),
    "product-sync.txt": ("text", [N, "Alice Moreno", "Speaker 2", "Alice Moreno", "Speaker 2", "Speaker 3",
                                  "Alice Moreno"]),
    "launch-planning.txt": ("text", [N, "Rosa Jiménez", "Tom Becker", "Rosa Jiménez", "Tom Becker", "Rosa Jiménez"]),
    "weber-podcast.txt": ("text", [N, "Host", "Weber", "Host", "Weber", "Host", "Weber"]),
    "weber-council.txt": ("text", [N, "Chair", "Weber", "Mei Lin", "Chair", "Weber", "Mei Lin"]),
    "team-zoom.vtt": ("webvtt", ["Jordan Ellis", "Farah Siddiqui", "Jordan Ellis", "Farah Siddiqui", "Jordan Ellis"]),
    "vendor-teams.vtt": ("webvtt", ["Kenji Watanabe", "Grace Adeyemi", "Kenji Watanabe", "Grace Adeyemi"]),
    "oral-history.srt": ("srt", ["Interviewer", "Margaret Doyle", "Interviewer", "Margaret Doyle"]),
    "support-call-whisperx.json": ("whisper", ["SPEAKER_00", "SPEAKER_01", "SPEAKER_00", "SPEAKER_01", "SPEAKER_00"]),
    "design-review-otter.txt": ("otter", [N, "Priya Raman", "Chidi Okafor", "Priya Raman", "Chidi Okafor",
                                          "Priya Raman"]),
    "clinic-timestamps.txt": ("text", [N, "Dr. Amaka Okafor", "Ms. Raman", "Dr. Amaka Okafor", "Kofi Mensah",
                                       "Ms. Raman", "Kofi Mensah"]),
    "book-club.md": ("text", [N, "Caroline", "Melanie", "Caroline", "Melanie"]),
    "shanghai-meeting.txt": ("text", [N, "王小明", "李娜", "王小明", "李娜"]),
}  # fmt: skip


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_each_sample_splits_into_the_right_speakers(name: str) -> None:
    doc = load_document(FORMATS / name)
    fmt, speakers = EXPECTED[name]
    turns = split_turns(doc)
    assert doc.format == fmt
    assert [t.speaker for t in turns] == speakers
    for t in turns:  # offsets are the contract, whatever the format
        for s, e in t.paragraphs:
            assert doc.text[s:e] == doc.text[s:e].strip() and doc.text[s:e]


def test_every_sample_is_in_the_table() -> None:
    assert sorted(p.name for p in FORMATS.iterdir()) == sorted(EXPECTED)


def _texts(doc_name: str) -> list[tuple[str | None, str]]:
    doc = load_document(FORMATS / doc_name)
    return [(t.speaker, doc.text[t.start : t.end]) for t in split_turns(doc)]


def test_the_witness_answers_are_the_witness_s_not_the_lawyer_s() -> None:
    turns = _texts("court-hearing.txt")
    assert ("THE WITNESS", "I was the night supervisor at the Corvale distribution warehouse on Pier Road.") in turns
    assert all("forklift charger" not in text for who, text in turns if who != "THE WITNESS")


def test_list_items_and_sentence_colons_stay_in_the_speaker_s_turn() -> None:
    doc = load_document(FORMATS / "launch-planning.txt")
    t = analyse(doc, Settings())
    rosa = doc.text[t.turns[1].start : t.turns[1].end]
    assert rosa.startswith("We have three priorities before the launch:\nFirst: the billing migration")
    assert "Third: support gets the macros" in rosa
    assert "Plan B: freeze new sign-ups" in doc.text[t.turns[2].start : t.turns[2].end]
    assert "The rule is simple: no wave starts" in doc.text[t.turns[4].start : t.turns[4].end]
    assert "LAUNCH CHECKLIST" in [doc.text[x.start : x.end] for x in t.excluded]
    assert {p.name for p in t.people if p.kind == "speaker"} == {"Rosa Jiménez", "Tom Becker"}
    (warning,) = t.warnings  # the labels not taken are named, with their lines
    assert "line 6 'First'" in warning and "line 12 'Plan B'" in warning


def test_office_holder_and_constituency_labels_name_the_person() -> None:
    t = analyse(load_document(FORMATS / "commons-debate.txt"), Settings())
    people = {p.name: p for p in t.people}
    assert people["Dame Helen Ashcroft"].roles == ("The Secretary of State for Environment",)
    assert set(people["Ms. Patel"].roles) == {"Leeds North", "Lab"}
    assert "Patel" in people["Ms. Patel"].aliases


@pytest.mark.parametrize(
    ("name", "first", "last"),
    [
        ("team-zoom.vtt", (2.14, 6.9), (34.3, 41.02)),
        ("vendor-teams.vtt", (1.0, 5.5), (25.2, 30.0)),
        ("oral-history.srt", (1.0, 4.2), (16.5, 25.6)),
        ("support-call-whisperx.json", (0.52, 4.1), (24.5, 30.8)),
        ("design-review-otter.txt", (3.0, 18.0), (62.0, None)),
        ("clinic-timestamps.txt", (5.0, 19.0), (70.0, None)),
    ],
)
def test_timed_formats_keep_times_not_roles(name: str, first: tuple[float, float], last: tuple[float, float]) -> None:
    t = analyse(load_document(FORMATS / name), Settings())
    timed = [x for x in t.turns if x.speaker is not None]
    assert (timed[0].time_start, timed[0].time_end) == first
    assert (timed[-1].time_start, timed[-1].time_end) == last
    assert all(":" not in role for p in t.people for role in p.roles)  # "(00:00:47)" is a time, not a role


def test_srt_label_carries_into_unlabelled_cues() -> None:
    doc = load_document(FORMATS / "oral-history.srt")
    doyle = [doc.text[t.start : t.end] for t in split_turns(doc) if t.speaker == "Margaret Doyle"]
    assert doyle[0] == (
        "In 1961. I was sixteen, and my mother had worked there before me. "
        "The looms were so loud that we learned to lip-read each other."
    )
    assert doc.text.splitlines()[1].startswith("Margaret Doyle: In 1961.")  # the stored, rendered transcript


def test_vtt_voice_tags_and_entities() -> None:
    doc = load_document(FORMATS / "vendor-teams.vtt")
    assert (
        doc.text.splitlines()[-1] == "Grace Adeyemi: Then let's order the heated cases & a spare battery per scanner."
    )
    cues = [c for c in doc.cues if c.speaker == "Grace Adeyemi"]
    assert [(c.time_start, c.time_end) for c in cues] == [(5.9, 12.25), (12.7, 18.0), (25.2, 30.0)]
    assert all(doc.text[c.start : c.end] for c in cues)


@pytest.mark.parametrize(
    ("line", "name", "roles", "time"),
    [
        ("THE COURT: Sustained.", "THE COURT", (), None),
        ("The SPEAKER: Order.", "The SPEAKER", (), None),
        ("Özlem Yılmaz: Hallo.", "Özlem Yılmaz", (), None),
        ("Łukasz Nowak: Cześć.", "Łukasz Nowak", (), None),
        ("王小明：你好。", "王小明", (), None),
        ("Speaker 2: Yes.", "Speaker 2", (), None),
        ("SPEAKER_00: Yes.", "SPEAKER_00", (), None),
        ("[00:01:23] Alice: Hi.", "Alice", (), 83.0),
        ("00:01:23 Alice Moreno: Hi.", "Alice Moreno", (), 83.0),
        ("Alice Moreno (00:01:23): Hi.", "Alice Moreno", (), 83.0),
        ("**Alice:** Hi.", "Alice", (), None),
        ("**Alice**: Hi.", "Alice", (), None),
        ("Ms. PATEL (Leeds North) (Lab): Will she?", "Ms. PATEL", ("Leeds North", "Lab"), None),
        ("The Secretary of State for Environment (Dame Helen Ashcroft): I beg to move.", "Dame Helen Ashcroft",
         ("The Secretary of State for Environment",), None),
        ("Mei Lin (town treasurer): It costs more.", "Mei Lin", ("town treasurer",), None),
    ],
)  # fmt: skip
def test_label_shapes(line: str, name: str, roles: tuple[str, ...], time: float | None) -> None:
    label = read_label(line)
    assert label is not None and (label.name, label.roles, label.time) == (name, roles, time)


@pytest.mark.parametrize(
    "line",
    ["The plan is simple: we wait.", "http://example.org: a link", "the chair: lower case", "Note that: x", "12: a"],
)
def test_sentences_with_colons_are_not_labels(line: str) -> None:
    label = read_label(line)
    assert label is None or label.name in {"Note"}  # "Note" is read, then refused as a marker by rag.turns


def test_namesakes_in_two_documents_stay_two_people(formats_pipe) -> None:  # type: ignore[no-untyped-def]
    webers = [p for p in formats_pipe.speakers() if p.name == "Weber"]
    assert sorted(p.doc_ids for p in webers) == [("weber-council",), ("weber-podcast",)]
    answer = formats_pipe.ask("What did Weber say about the bike lanes?")
    assert not answer.answerable and "weber-council" in answer.text and "weber-podcast" in answer.text
    anna = formats_pipe.ask("What did Weber say about the bike lanes?", doc_id="weber-council")
    assert anna.answerable and {c.doc_id for c in anna.citations} == {"weber-council"}
    assert all(c.speaker == "Weber" for c in anna.citations)
    dan = formats_pipe.ask("What did Dan Weber say about the painted lanes?")
    assert dan.answerable and {c.doc_id for c in dan.citations} == {"weber-podcast"}


@pytest.mark.parametrize(
    ("question", "speaker", "doc_id"),
    [
        ("What did Alice say about the permissions prompt?", "Alice Moreno", "product-sync"),
        ("What did Dr. Okafor say about the reminders?", "Dr. Amaka Okafor", "clinic-timestamps"),
        ("What did Ms. Raman say about no-shows?", "Ms. Raman", "clinic-timestamps"),
        ("What did Priya say about the address form?", "Priya Raman", "design-review-otter"),
        ("What did the treasurer say about the separators?", "Mei Lin", "weber-council"),
        ("What did the Secretary of State say about the schemes?", "Dame Helen Ashcroft", "commons-debate"),
        ("What did Özlem say about the gauges?", "Özlem Yılmaz", "europe-panel"),
        ("What did the witness say about the forklift charger?", "THE WITNESS", "court-hearing"),
    ],
)
def test_first_names_titles_and_roles_find_the_speaker(formats_pipe, question, speaker, doc_id) -> None:  # type: ignore[no-untyped-def]
    answer = formats_pipe.ask(question)
    assert answer.answerable, answer.text
    assert {c.speaker for c in answer.citations} == {speaker}
    assert {c.doc_id for c in answer.citations} == {doc_id}


def test_an_ambiguous_surname_asks_which_one(formats_pipe) -> None:  # type: ignore[no-untyped-def]
    answer = formats_pipe.ask("What did Raman say?")
    assert not answer.answerable and answer.reason.startswith("ambiguous name")
    assert "Ms. Raman in clinic-timestamps" in answer.text and "Priya Raman in design-review-otter" in answer.text


def test_a_name_resolves_within_the_document_asked_about(formats_pipe) -> None:  # type: ignore[no-untyped-def]
    answer = formats_pipe.ask("What did Raman say about no-shows?", doc_id="clinic-timestamps")
    assert answer.answerable and {c.speaker for c in answer.citations} == {"Ms. Raman"}


def test_two_people_named_get_an_answer_each(formats_pipe) -> None:  # type: ignore[no-untyped-def]
    answer = formats_pipe.ask("What did Rosa Jiménez and Tom Becker say about the billing migration?")
    assert answer.answerable
    assert {c.speaker for c in answer.citations} == {"Rosa Jiménez", "Tom Becker"}
    assert [c.n for c in answer.citations] == list(range(1, len(answer.citations) + 1))


def test_a_wrong_premise_says_who_did_speak(formats_pipe) -> None:  # type: ignore[no-untyped-def]
    answer = formats_pipe.ask("What did Caroline say about her charity race?")
    assert not answer.answerable and answer.reason.startswith("wrong premise")
    assert answer.citations and {c.speaker for c in answer.citations} == {"Melanie"}
    assert "Caroline did not talk about" in answer.text


def test_citations_carry_times_from_the_cues(formats_pipe) -> None:  # type: ignore[no-untyped-def]
    answer = formats_pipe.ask("What did Farah Siddiqui say about the pager rotation?")
    assert answer.answerable
    c = answer.citations[0]
    assert c.speaker == "Farah Siddiqui" and c.time_start == 26.6 and c.time_end == 33.9
    assert c.to_dict()["time_start"] == 26.6


def test_cjk_text_is_indexed_and_found(tmp_path: Path) -> None:
    assert tokenize("退货率还是很高") == ["退货", "货率", "率还", "还是", "是很", "很高"]
    assert tokenize("Wir sprachen über Äpfel") == ["wir", "sprachen", "über", "äpfel"]
    out = tmp_path / "index"
    report = build_index([FORMATS / "shanghai-meeting.txt"], out, embedder=FakeEmbedder())  # CJK only
    assert report.chunks == 5
    from rag import Pipeline

    pipe = Pipeline.load(out, embedder=FakeEmbedder())
    hits = pipe.search("退货率")
    assert hits and hits[0].chunk.speaker == "李娜"


def test_a_folder_lists_the_files_it_cannot_read(tmp_path: Path) -> None:
    (tmp_path / "a.txt").write_text("Ann: The budget review moves to Friday.\nBob: Finance needs the figures first.\n")
    (tmp_path / "minutes.pdf").write_bytes(b"%PDF-1.4")
    (tmp_path / "notes.docx").write_bytes(b"PK")
    skipped: list[Path] = []
    assert [p.name for p in find_sources([tmp_path], skipped=skipped)] == ["a.txt"]
    assert sorted(p.name for p in skipped) == ["minutes.pdf", "notes.docx"]
    report = build_index([tmp_path], tmp_path / "index", embedder=FakeEmbedder())
    assert any("minutes.pdf" in w and "notes.docx" in w for w in report.warnings), report.warnings


@pytest.mark.parametrize(
    ("name", "content", "message"),
    [
        ("x.json", '{"foo": 1}', "not a transcript JSON rag knows"),
        ("x.json", '{"segments": [{"start": 0, "end": 1}]}', "not a transcript JSON rag knows"),
        ("x.json", '{"segments": [{"start": "a", "end": 1, "text": "hi"}]}', "numeric 'start' and 'end'"),
        ("x.vtt", "not a caption file", "not a valid WebVTT file"),
        ("x.srt", "1\n00:00:01,000 --> 00:00:02,000\n\n", "no words in this srt file"),
    ],
)
def test_broken_files_say_what_is_wrong(name: str, content: str, message: str) -> None:
    with pytest.raises(SourceError, match=message):
        parse_document(content.encode(), doc_id="x", source=name)


def test_a_vtt_saved_as_txt_is_sniffed() -> None:
    text = (FORMATS / "team-zoom.vtt").read_text()
    assert choose(".txt", text, "x.txt").NAME == "webvtt"
    assert choose(".json", json.dumps({"segments": [{"start": 0, "end": 1, "text": "hi"}]}), "x").NAME == "whisper"


def test_every_sample_loads_together() -> None:
    docs = load_documents([FORMATS])
    assert len(docs) == len(EXPECTED) and all(d.text for d in docs)
