"""The speaker structure of a text transcript, inferred from the document (issue 25).

Each test writes a short transcript in one shape and checks who says what, what is nobody's turn,
and what the text itself tells about the speakers. The 39 pinned transcripts of tests/data/styles are
checked turn by turn in test_styles.py; these tests are the rules, one by one, with the cases
that must not change reading (a list item, a sentence with a colon, a heading).
"""

from __future__ import annotations

import subprocess
import sys

from rag import Document, split_turns
from rag.analysis import analyse
from rag.asides import is_notice, is_stage
from rag.config import Settings
from rag.names import fold_name
from rag.roster import Roster
from rag.structure import infer
from rag.turns import segment
from tests.conftest import ROOT


def _doc(text: str, name: str = "t") -> Document:
    return Document(doc_id=name, source=f"{name}.txt", text=text)


def _said(doc: Document) -> list[tuple[str | None, str]]:
    return [(t.speaker, doc.text[t.start : t.end].split("\n")[0][:30]) for t in split_turns(doc)]


def test_names_on_their_own_line_with_a_time_open_turns() -> None:
    doc = _doc(
        "Weekly sync\n\n[00:00:01] Ana Ruiz\nMorning all.\n\n[00:00:05] Bo Chen\nMorning. Quick one from me.\n\n"
        "It is about the release.\n\n[00:00:12] Ana Ruiz\nGo on.\n"
    )
    assert _said(doc) == [
        (None, "Weekly sync"),
        ("Ana Ruiz", "Morning all."),
        ("Bo Chen", "Morning. Quick one from me."),
        ("Ana Ruiz", "Go on."),
    ]
    turns = split_turns(doc)
    assert turns[2].time_start == 5.0 and len(turns[2].paragraphs) == 2  # the second paragraph is still Bo's


def test_a_heading_on_its_own_line_is_not_a_speaker() -> None:
    doc = _doc("Agenda\nBudget review\n\nAna Ruiz: We start with the budget.\nBo Chen: Fine.\nAna Ruiz: Good.\n")
    assert [s for s, _ in _said(doc)] == [None, "Ana Ruiz", "Bo Chen", "Ana Ruiz"]


def test_dash_and_bracket_labels_need_names_that_recur() -> None:
    dash = _doc("Ana - We should go.\nBo — Agreed.\nAna - Then book it.\n- a list item\nBo — Done.\n")
    assert [s for s, _ in _said(dash)] == ["Ana", "Bo", "Ana", "Bo"]
    assert "- a list item" in dash.text[split_turns(dash)[2].start : split_turns(dash)[2].end]
    once = _doc("Note - this is a memo about the move.\nWe leave on Friday.\n")
    assert [s for s, _ in _said(once)] == [None]
    brackets = _doc("[Ana] Hello.\n[laughter]\n[Bo] Hi there.\n[Ana] Shall we?\n[Bo] Yes.\n")
    seg = segment(brackets)
    assert [t.speaker for t in seg.turns] == ["Ana", "Bo", "Ana", "Bo"]
    assert [x.reason for x in seg.excluded] == ["stage"]


def test_qa_lines_take_the_examiner_of_the_last_by_line_and_the_sworn_witness() -> None:
    doc = _doc(
        "JANE ROE, having been first duly sworn, testified as follows:\n"
        "BY MR. SMITH:\n"
        "Q. Where were you?\nA. At home.\nQ. Alone?\nA. Yes.\n"
        "MS. LEE: Objection.\n"
        "BY MS. LEE:\n"
        "Q. Who else was there?\nA. Nobody.\n"
        "(Recess taken at 3:12 p.m.)\n"
    )
    seg = segment(doc)
    assert [(t.speaker, doc.text[t.start : t.end][:12]) for t in seg.turns] == [
        (None, "JANE ROE, ha"),
        ("Mr. Smith", "Where were y"),
        ("Jane Roe", "At home."),
        ("Mr. Smith", "Alone?"),
        ("Jane Roe", "Yes."),
        ("Ms. Lee", "Objection."),
        ("Ms. Lee", "Who else was"),
        ("Jane Roe", "Nobody."),
    ]
    assert {x.reason for x in seg.excluded} == {"header", "stage"}


def test_qa_without_an_examiner_keeps_q_and_a() -> None:
    doc = _doc("Q: When did you start?\nA: In 1998.\nQ: Why?\nA: The whales.\n")
    assert [t.speaker for t in split_turns(doc)] == ["Q", "A", "Q", "A"]


def test_markup_and_roles_in_labels_are_read_through() -> None:
    doc = _doc(
        "<b>Mayor Ellen Voss</b>: Item seven.\n<b>Marcus Lee, Planning Officer</b>: Thank you.\n"
        "<i>(Applause)</i>\n_Ellen Voss_: Next.\nLEON DUVAL, CFO: Margins fell.\n"
    )
    seg = segment(doc)
    assert [t.speaker for t in seg.turns] == ["Mayor Ellen Voss", "Marcus Lee", "Ellen Voss", "Leon Duval"]
    assert all("<" not in doc.text[t.start : t.end] for t in seg.turns)
    assert [x.reason for x in seg.excluded] == ["stage"]


def test_stage_directions_and_notices_are_nobodys_words() -> None:
    assert is_stage("(SOUNDBITE OF CROWD CHATTER)") and is_stage("10:39 AM *Priya joined #incident*")
    assert is_stage("[Laughter. Moderator's note: general agreement]")
    assert not is_stage("(laughs) I agree.") and not is_stage("[Ana] Hello.")
    assert is_notice("Copyright © 2026 Radio. All rights reserved.") and is_notice("Transcribed by https://otter.ai")
    assert not is_notice("We transcribed the interviews ourselves.")
    doc = _doc("Ana: The river rose.\nBo: It did.\n\nCopyright 2026 Example Radio. This transcript may be revised.\n")
    seg = segment(doc)
    assert [t.speaker for t in seg.turns] == ["Ana", "Bo"] and [x.reason for x in seg.excluded] == ["notice"]


def test_surname_labels_join_the_full_name_and_a_shared_surname_does_not() -> None:
    doc = _doc("CHIDI NWOSU: Night buses matter.\nFIONA MACLEAN: They do.\nNWOSU: Especially at two.\nMACLEAN: Yes.\n")
    assert [t.speaker for t in split_turns(doc)] == ["Chidi Nwosu", "Fiona Maclean", "Chidi Nwosu", "Fiona Maclean"]
    two = _doc("ANA BERG: One.\nELS BERG: Two.\nBERG: Three.\nANA BERG: Four.\n")
    assert "Berg" in [t.speaker for t in split_turns(two)]  # which Berg is not guessed


def test_the_reading_and_its_runner_up_are_kept_for_inspect() -> None:
    st = infer("[00:01] Ana\nHi.\n\n[00:04] Bo\nHello.\n\n[00:09] Ana\nBye.\n")
    assert st.reading.startswith("names on their own line") and "3 lines" in st.reading
    out = subprocess.run(
        [sys.executable, "-m", "rag", "inspect", "tests/data/styles/transcripts/deposition-ashworth.txt"],
        capture_output=True,
        text=True,
        cwd=ROOT,
        check=True,
    ).stdout
    assert "read as: Q. and A. lines" in out and "runner-up:" in out


def _people(text: str) -> dict[str, tuple[set[str], set[str]]]:
    t = analyse(_doc(text), Settings())
    return {p.name: (set(p.aliases), set(p.roles)) for p in t.people if p.kind == "speaker"}


def test_ids_take_the_names_their_speakers_give() -> None:
    people = _people(
        "SPEAKER_00: Good morning, you're speaking with Imogen.\n"
        "SPEAKER_01: Hi, it's Arjun Mehta. My crown feels too high.\n"
        "SPEAKER_00: Let me get the dentist.\n"
        "SPEAKER_02: Hello, it's Dr. Halloran here.\n"
        "SPEAKER_01: Thanks.\n"
    )
    assert "Imogen" in people["SPEAKER_00"][0]
    assert {"Arjun Mehta", "Mehta"} <= people["SPEAKER_01"][0]
    assert "Dr. Halloran" in people["SPEAKER_02"][0]


def test_a_name_two_labels_claim_is_nobodys() -> None:
    people = _people("Speaker 1: Hi, I'm Dana Park.\nSpeaker 2: And I'm Dana Park too, funnily.\nSpeaker 1: Ha.\n")
    assert not any("Dana Park" in aliases for aliases, _ in people.values())


def test_first_name_labels_take_the_full_name_the_text_writes() -> None:
    people = _people(
        "In the room: Callum Reid (producer), Noor Haddad (design).\n\n"
        "Callum: Okay, recording.\nNoor: The tutorial is too long.\nCallum: Agreed.\nNoor: Cut it.\n"
    )
    assert {"Callum Reid", "Reid"} <= people["Callum"][0] and "Noor Haddad" in people["Noor"][0]


def test_hosts_give_guests_their_names_and_roles() -> None:
    people = _people(
        "KWAME: Welcome to Tide Lines, I'm Kwame Boateng. My guest today is the marine ecologist Dr. Inês Carvalho.\n"
        "INÊS: Thanks for having me.\nKWAME: Why seagrass?\nINÊS: It buries carbon.\n"
    )
    aliases, roles = people["Inês"]
    assert "Carvalho" in aliases and {"guest", "marine ecologist"} <= roles
    assert "host" in people["Kwame"][1]


def test_appearance_lines_are_headers_that_name_speakers() -> None:
    doc = _doc(
        "Hearing Officer: Judith Lambert\nFor the Board: Gideon Abernathy, Assistant Attorney General\n\n"
        "HEARING OFFICER LAMBERT: We're on the record.\nMR. ABERNATHY: Thank you.\n"
        "HEARING OFFICER LAMBERT: Go ahead.\nMR. ABERNATHY: The Board calls its witness.\n"
    )
    seg = segment(doc)
    assert [t.speaker for t in seg.turns] == ["Hearing Officer Lambert", "Mr. Abernathy"] * 2
    people = _people(doc.text)
    assert "Judith Lambert" in people["Hearing Officer Lambert"][0]
    assert "Assistant Attorney General" in people["Mr. Abernathy"][1]


def test_names_in_questions_match_without_accents_hyphens_or_case() -> None:
    assert fold_name("Søren Høj, Jean-Luc, Nguyễn") == "soren hoj, jean luc, nguyen"
    people = analyse(
        _doc("Søren Høj: The rotary club helps.\nJean-Luc Baumann: Screw caps.\nAl: Hardboard.\nSøren Høj: Yes.\n"),
        Settings(),
    ).people
    roster = Roster(people)
    for question, who in [
        ("What did Soren say about the club?", "Søren Høj"),
        ("What did Jean Luc say about caps?", "Jean-Luc Baumann"),
        ("What did Al say about hardboard?", "Al"),
    ]:
        mention = roster.match(question)
        assert mention is not None and mention.names == (who,), question
    assert roster.match("What is a good hardboard?") is None  # "a" is not a speaker


def test_captions_split_at_speaker_changes_and_titled_people_quoted_in_lower_case() -> None:
    doc = _doc(
        ">> good evening. the lake is low tonight and\nthe county may limit watering.\n"
        ">> behind me is the boat ramp. professor lena marsh said\nthe snowpack melted early.\n"
        ">> and what do anglers say?\n>> they have never seen it like this.\n"
    )
    seg = segment(doc)
    assert [t.speaker for t in seg.turns] == [None] * 4  # changes are marked, nobody is named: no guess
    assert doc.text[seg.turns[1].start : seg.turns[1].end].startswith("behind me")
    assert any("'>>'" in w for w in seg.warnings)
    quoted = [p.name for p in analyse(doc, Settings()).people if p.kind == "quoted"]
    assert quoted == ["Marsh"]


def test_namesakes_by_a_shared_particle_surname_are_told_apart_only_by_the_text() -> None:
    analysis_people = analyse(
        _doc(
            "Chair: Mr. van der Berg, the roof?\nPieter van der Berg: It leaks.\nChair: Thank you. Mrs. van der Berg?\n"
            "Els van der Berg: Insulate it first.\nChair: Noted.\nEls van der Berg: Good.\nPieter van der Berg: Fine.\n"
        ),
        Settings(),
    ).people
    roster = Roster(analysis_people)
    both = roster.match("What did van der Berg say about the roof?")
    assert both is not None and both.how == "ambiguous"  # which one is asked, never guessed
    pieter = roster.match("What did Mr. van der Berg say about the roof?")
    assert pieter is not None and pieter.names == ("Pieter van der Berg",)
    els = roster.match("What did Mrs. van der Berg say about insulation?")
    assert els is not None and els.names == ("Els van der Berg",)
    assert len([p for p in analysis_people if p.kind == "speaker"]) == 3


def test_web_page_exports_break_lines_at_br_and_congressional_labels_are_taken_once() -> None:
    doc = _doc(
        "<strong>Mr. NIELDS</strong>: Can you tell us what you know about that, sir?\n"
        "<br/><br/><strong>Mr. NORTH</strong>: You just took a long leap.\n"
        "<em>[The exhibit appears at p. 461.] </em><br/><br/><strong>Mr. NIELDS</strong>: Go on.\n"
        "Mr. SULLIVAN. What is it, counsel?\n"
        "<br/><br/><strong>Mr. NORTH</strong>: It represents the\n[Witness conferring with counsel.]\n"
    )
    seg = segment(doc)
    assert [t.speaker for t in seg.turns] == ["Mr. Nields", "Mr. North", "Mr. Nields", "Mr. Sullivan", "Mr. North"]
    assert [x.reason for x in seg.excluded] == ["stage", "stage"]
    assert all("<br" not in doc.text[s:e] for t in seg.turns for s, e in t.paragraphs)
