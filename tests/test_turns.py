"""Speaker turns: the seed's segmentation pinned exactly, label styles, boilerplate."""

from __future__ import annotations

from pathlib import Path

import pytest

from rag.load import load_document, parse_document
from rag.turns import find_excluded, is_boilerplate, is_header, paragraphs, split_turns
from rag.types import Document
from tests.conftest import DATA, QMSUM, SEED


def _doc(text: str) -> Document:
    return parse_document(text.encode(), doc_id="t", source="t.txt")


def _texts(doc: Document, turn_index: int) -> list[str]:
    turn = split_turns(doc)[turn_index]
    return [doc.text[s:e] for s, e in turn.paragraphs]


@pytest.fixture(scope="module")
def seed() -> Document:
    return load_document(SEED)


@pytest.fixture(scope="module")
def lines(seed: Document) -> list[str]:
    return seed.text.split("\n")


def test_seed_has_narration_then_two_speakers(seed: Document) -> None:
    turns = split_turns(seed)
    assert [(t.index, t.speaker) for t in turns] == [(0, None), (1, "McLaughlin"), (2, "Dannenberg")]


def test_seed_narration_is_the_intro_without_the_header(seed: Document, lines: list[str]) -> None:
    assert _texts(seed, 0) == lines[0:9]


def test_seed_mclaughlin_turn_is_every_paragraph_and_no_ad(seed: Document, lines: list[str]) -> None:
    expected = [lines[10].removeprefix("McLaughlin: "), *lines[11:16], *lines[17:22]]
    assert _texts(seed, 1) == expected
    assert not any("Honors Dinner" in p for p in _texts(seed, 1))


def test_seed_dannenberg_turn_is_every_paragraph_and_no_ad(seed: Document, lines: list[str]) -> None:
    expected = [lines[22].removeprefix("Dannenberg: "), *lines[23:28], *lines[29:37]]
    assert _texts(seed, 2) == expected
    assert not any("nightcap" in p or p.startswith("Read more") for p in _texts(seed, 2))


def test_seed_excludes_the_header_and_three_promotions(seed: Document, lines: list[str]) -> None:
    excluded = [(x.reason, seed.text[x.start : x.end]) for x in find_excluded(seed)]
    assert excluded == [
        ("header", "THE EXPERTS"),
        ("promo", lines[16]),
        ("promo", lines[28]),
        ("promo", lines[37]),
    ]


def test_turn_offsets_are_slices_of_the_text(seed: Document) -> None:
    for turn in split_turns(seed):
        assert seed.text[turn.start : turn.end].startswith(seed.text[slice(*turn.paragraphs[0])])
        for s, e in turn.paragraphs:
            assert seed.text[s:e] == seed.text[s:e].strip() and e > s


def test_label_styles() -> None:
    doc = load_document(DATA / "panel.txt")
    speakers = [t.speaker for t in split_turns(doc)]
    assert speakers == ["Maria Lopez", "James Okafor", "Maria Lopez", "James Okafor", "Priya Nair"]
    assert [x.reason for x in find_excluded(doc)] == ["header", "note", "promo"]


def test_qa_labels_and_a_note_inside_a_question_stays_the_question() -> None:
    doc = load_document(DATA / "qa-interview.txt")
    turns = split_turns(doc)
    assert [t.speaker for t in turns] == [None, "Q", "A", "Q", "A", "Q", "A"]
    assert doc.text[turns[5].start : turns[5].end] == "Note: the next question came from a listener."
    # the hard-wrapped second line of an answer stays in that answer
    assert doc.text[turns[4].start : turns[4].end].endswith("recover between them.")


def test_hard_wrapped_paragraphs_join() -> None:
    doc = load_document(DATA / "wrapped.txt")
    turns = split_turns(doc)
    assert [t.speaker for t in turns] == ["Host", "Guest", "Host", "Guest"]
    assert len(turns[0].paragraphs) == 1
    assert doc.text[slice(*turns[0].paragraphs[0])].endswith("directly to\nrestaurants.")


def test_a_colon_inside_a_sentence_is_not_a_label() -> None:
    doc = _doc("Ann: Hello.\nOn Thursday, Trump said: of course they would.\nBob: Yes.")
    assert [t.speaker for t in split_turns(doc)] == ["Ann", "Bob"]
    assert _texts(doc, 0) == ["Hello.", "On Thursday, Trump said: of course they would."]


def test_note_and_update_are_not_speakers() -> None:
    doc = _doc("Ann: Hello.\nNote: recorded in 2024.\nBob: Yes.\nUpdate: corrected a name.")
    assert [t.speaker for t in split_turns(doc)] == ["Ann", "Bob"]
    assert [x.reason for x in find_excluded(doc)] == ["note", "note"]


def test_a_lone_unintroduced_label_is_not_a_speaker() -> None:
    doc = _doc("Europe: a continent in trouble.\nThe rest of the article follows here.")
    assert [t.speaker for t in split_turns(doc)] == [None]


def test_label_on_its_own_line_starts_the_turn() -> None:
    doc = _doc("Ann:\nHello there.\nBob:\nHi.")
    assert [(t.speaker, _t) for t, _t in zip(split_turns(doc), [0, 1], strict=False)] == [("Ann", 0), ("Bob", 1)]
    assert _texts(doc, 0) == ["Hello there."]


def test_all_caps_labels_take_the_spelling_used_in_the_text() -> None:
    doc = _doc("We spoke with John McLaughlin.\nMCLAUGHLIN: Thanks.\nHOST: Welcome.")
    assert [t.speaker for t in split_turns(doc)] == [None, "McLaughlin", "Host"]


def test_qmsum_turns_keep_their_index() -> None:
    doc = load_document(QMSUM / "Bed002.json")
    turns = split_turns(doc)
    assert turns[4].index == 4 and turns[4].speaker == "Grad B"
    assert doc.text[turns[4].start : turns[4].end] == "So , which is my bar ? Mah ! Number one ."


def test_crlf_and_bom_do_not_leak_into_paragraphs() -> None:
    doc = parse_document("\ufeffAnn: Hi.\r\nBob: Yo.\r\n".encode(), doc_id="t", source="t.txt")
    assert _texts(doc, 0) == ["Hi."] and _texts(doc, 1) == ["Yo."]
    assert all(not doc.text[s:e].endswith("\r") for s, e in paragraphs(doc.text))


@pytest.mark.parametrize(
    "text",
    [
        "The Cipher Brief Honors Dinner is on April 18th. Apply now for your seat. "
        "Find out more at cipherbriefhonors.com",
        "Everyone needs a good nightcap. Ours is a M-F newsletter. Sign up today.",
        "Read more expert-driven national security insights in The Cipher Brief",
        "Subscribe to our podcast for weekly interviews.",
    ],
)
def test_promotions_are_boilerplate(text: str) -> None:
    assert is_boilerplate(text)


@pytest.mark.parametrize(
    "text",
    [
        "Putin will not sign up to any agreement that limits him.",
        "The event in Helsinki in 2018 was a mistake.",
        "I would read more into the timing than the words.",
        "We need to register how the Europeans see this, and the dinner talk matters less.",
    ],
)
def test_speech_is_not_boilerplate(text: str) -> None:
    assert not is_boilerplate(text)


def test_qmsum_has_no_false_promotions() -> None:
    import json

    flagged = [
        t["content"]
        for p in sorted(QMSUM.glob("*.json"))
        for t in json.loads(p.read_text())["meeting_transcripts"]
        if is_boilerplate(t["content"])
    ]
    assert flagged == []


def test_headers() -> None:
    assert is_header("THE EXPERTS") and is_header("Part Two of the Interview")
    assert not is_header("Absolutely") and not is_header("Yes, of course.")


def test_diarization_ids_of_any_length_are_labels() -> None:
    ids = [998, 999, 1000, 1001, 10000, 123456]
    doc = _doc("".join(f"Speaker {i}: I am number {i}.\n" for i in ids * 2))
    turns = split_turns(doc)
    assert [t.speaker for t in turns] == [f"Speaker {i}" for i in ids * 2]
    assert [doc.text[slice(*t.paragraphs[0])] for t in turns] == [f"I am number {i}." for i in ids * 2]
    from rag.formats.labels import is_diarized

    assert is_diarized("Speaker 1000") and is_diarized("SPEAKER_10000")


@pytest.mark.parametrize(
    ("label", "speaker", "hidden"),
    [
        ("Ali\u200bce:", "Alice", "U+200B"),  # zero-width space
        ("Bob\u202e:", "Bob", "U+202E"),  # right-to-left override
        ("\u2067Alice\u2069:", "Alice", "U+2067"),  # right-to-left isolate ... pop directional isolate
        ("Bob:\u200b", "Bob", "U+200B"),  # after the colon
    ],
    ids=["zwsp", "rlo", "isolate", "after-colon"],
)
def test_invisible_characters_in_a_label_are_read_through_and_warned_about(
    label: str, speaker: str, hidden: str
) -> None:
    from rag.turns import segment

    doc = _doc(
        f"Alice: The budget is fine.\nBob: We must rebuild the harbour.\n{label} Words of this turn.\nAlice: Yes.\n"
    )
    seg = segment(doc)
    assert [t.speaker for t in seg.turns] == ["Alice", "Bob", speaker, "Alice"]
    third = seg.turns[2]
    assert [doc.text[s:e] for s, e in third.paragraphs] == ["Words of this turn."]  # offsets into the original
    assert any("line 3" in w and hidden in w and "invisible" in w and f"read as {speaker!r}" in w for w in seg.warnings)


def test_a_zero_width_joiner_inside_a_persian_name_is_part_of_it() -> None:
    from rag.turns import segment

    name = "\u0645\u06cc\u200c\u0631\u0627"  # ZWNJ between two Arabic-script letters: spelling, not noise
    doc = _doc(f"{name}: سلام.\nBob: Hello.\n{name}: خداحافظ.\n")
    seg = segment(doc)
    assert [t.speaker for t in seg.turns] == [name, "Bob", name] and not seg.warnings


def test_a_hidden_override_in_a_label_does_not_give_bob_alice_s_words(tmp_path: Path) -> None:
    from rag import Pipeline, build_index
    from tests.conftest import FakeEmbedder

    src = tmp_path / "harbour.txt"
    src.write_text(
        "Alice: The ferry timetable changes in May and the fares rise.\n"
        "Bob\u202e: Rebuilding the harbour wall must come before anything else, the storms broke it.\n"
        "Alice: I would rather fix the ferry first.\n",
        encoding="utf-8",
    )
    report = build_index([src], tmp_path / "index", embedder=FakeEmbedder())
    assert any("U+202E" in w for w in report.warnings)
    pipe = Pipeline.load(tmp_path / "index", embedder=FakeEmbedder())
    answer = pipe.ask("What did Bob say about rebuilding the harbour?")
    cited = answer.citations[0]
    doc = pipe.documents[cited.doc_id]
    assert cited.speaker == "Bob" and "harbour wall" in cited.quote and "\u202e" not in cited.quote
    assert doc.text[cited.start : cited.end] == cited.quote
