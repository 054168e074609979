"""Transcript styles of issue 25, pinned turn by turn (tests/data/styles/).

Every transcript there is read with `split_turns` and compared with its pin file: each pinned turn
must start inside a turn of the right person (text that is nobody's turn, such as a notice or a
stage direction, inside no speaker's turn), and no person may be split over two speaker names.
Files the current reading gets wrong are xfail until the structure inference of issue 25 lands;
the data checks below hold now and always.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from eval.styles_check import STYLES, People, check_file, load_expected, locate, regions, true_speakers
from rag import Document, load_documents

STEMS = sorted(p.stem for p in (STYLES / ".expected").glob("*.json"))
# Files the structure inference does not read as pinned yet (eval/styles_check.py lists why).
NOT_READ_YET = {
    # ">>" captions: who speaks is inferred where two kinds of evidence agree (tests/test_captions.py
    # checks no turn is anyone else's); the turns resting on the back and forth alone stay nobody's
    "auto-captions-reservoir",
    "captions-call-in",
    "captions-city-desk",
    "captions-no-names",
    "captions-panel",
    # real press briefing: a reporter's follow-up "Q" with no new call ("Go ahead, Josh.") stays
    # "Q" (unnamed) where the pin names the reporter last called on; one "(Inaudible)?" shows why
    "real-whitehouse-briefing-kirby",
}
ISSUE_25 = pytest.mark.xfail(strict=True, reason="issue 25: structure inference")


@pytest.fixture(scope="module")
def documents() -> dict[str, Document]:
    return {d.doc_id: d for d in load_documents([STYLES / "transcripts"])}


@pytest.mark.parametrize("stem", [pytest.param(s, marks=ISSUE_25) if s in NOT_READ_YET else s for s in STEMS])
def test_style_is_read_as_pinned(stem: str, documents: dict[str, Document]) -> None:
    check = check_file(documents[stem], load_expected(stem))
    assert check.ok, f"{stem}: {check.right}/{check.pins} pins right\n" + "\n".join(check.wrong)


def test_every_transcript_is_pinned(documents: dict[str, Document]) -> None:
    assert sorted(documents) == STEMS
    assert len(STEMS) >= 32


@pytest.mark.parametrize("stem", STEMS)
def test_pins_are_found_in_order_and_name_known_people(stem: str, documents: dict[str, Document]) -> None:
    expected = load_expected(stem)
    pins = locate(documents[stem], expected)
    assert all(p.start >= 0 for p in pins), [p.words for p in pins if p.start < 0]
    names = {p["name"] for p in expected["people"]}
    assert {p.speaker for p in pins if p.speaker} == names  # every person speaks, nobody unlisted
    assert 20 <= sum(p.speaker is not None for p in pins) <= 80
    assert all(p.kind in ("turn", "header", "narration", "stage", "notice") for p in pins)


def test_eval_set_gold_is_the_quoted_text(documents: dict[str, Document]) -> None:
    rows = [json.loads(line) for line in Path("eval/sets/styles.jsonl").read_text(encoding="utf-8").splitlines()]
    by_source = {d.source: d for d in documents.values()}
    assert len(rows) >= 160
    for row in rows:
        spans = [by_source[g["source"]].text[g["start"] : g["end"]] for g in row["gold"]]
        assert spans == row["gold_quotes"], row["id"]
        assert row["answerable"] == bool(row["gold"]), row["id"]
        if row.get("doc_id"):
            assert row["doc_id"] in documents, row["id"]


def test_answer_spans_are_judged_by_the_pins_not_by_the_labels() -> None:
    text = "Q. Did you see it?\nA. I did.\nMS. ROE: Objection.\n"
    doc = Document(doc_id="d", source="d.txt", text=text)
    expected = {
        "turns": [["Ann Lee", "Did you see it?"], ["Bo Chan", "I did."], ["Ms. Roe", "Objection."]],
        "people": [
            {"name": "Ann Lee", "labels": [], "names": []},
            {"name": "Bo Chan", "labels": [], "names": ["the witness"]},
            {"name": "Ms. Roe", "labels": ["MS. ROE"], "names": []},
        ],
    }
    pins = locate(doc, expected)
    spans = regions(text, pins)
    answer = text.index("A. I did.")
    assert true_speakers(pins, spans, answer, answer + len("A. I did.")) == {"Bo Chan"}
    assert true_speakers(pins, spans, 0, answer + 3) == {"Ann Lee", "Bo Chan"}  # crosses a turn
    people = People(expected["people"])
    assert people.exact("MS. ROE") == "Ms. Roe" == people.exact("Ms. Roe")
    assert people.exact("A") is None  # an answer line's letter names nobody
