"""Who is who: quoted people, aliases from the text, names in questions."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from rag.analysis import analyse
from rag.config import Settings
from rag.load import load_document
from rag.names import asked_about_person, find_quoted
from rag.roster import match_people
from rag.types import Person
from tests.conftest import DATA, SEED


@pytest.fixture(scope="module")
def roster() -> tuple[Person, ...]:
    return analyse(load_document(SEED), Settings()).people


def test_seed_roster(roster: tuple[Person, ...]) -> None:
    by_name = {p.name: p for p in roster}
    assert [p.name for p in roster if p.kind == "speaker"] == ["Dannenberg", "McLaughlin"]
    assert by_name["McLaughlin"].aliases == ("John McLaughlin",)
    assert by_name["McLaughlin"].roles == ("former CIA Acting Director",)
    assert by_name["Dannenberg"].aliases == ("Rob Dannenberg",)
    assert by_name["Dannenberg"].roles == ("former chief of the agency's Central Eurasia division",)
    quoted = {p.name: p.aliases for p in roster if p.kind == "quoted"}
    assert quoted["Medvedev"] == ("Dmitry Medvedev",)
    assert {"Bildt", "Hegseth", "Trump", "Ryabkov"} <= set(quoted)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ('"Europe is mad," former Russian President Dmitry Medvedev wrote on Telegram.', ("Medvedev",)),
        ("In Brussels on Wednesday, Hegseth said that NATO was not in the cards.", ("Hegseth",)),
        ("Russian Deputy Foreign Minister Sergei Ryabkov recently said about Ukraine, “no”.", ("Ryabkov",)),
        ("“It's innovative,” Bildt wrote, “to concede first.”", ("Bildt",)),
        ("“No,” said Hegseth.", ("Hegseth",)),
        ("In Putin’s June speech, he said Kyiv must renounce NATO.", ("Putin",)),
        ("Trump’s stated aim is a swift end to the war.", ()),
        ("He said it was over.", ()),
        ("I've said before that we accept it. We'll say so again.", ()),  # contractions, not names
        ("O'Brien said no.", ("O'Brien",)),
    ],
)
def test_find_quoted(text: str, expected: tuple[str, ...]) -> None:
    assert find_quoted(text) == expected


@pytest.mark.parametrize(
    ("question", "names", "how"),
    [
        ("What did Dannenberg say about Helsinki?", ("Dannenberg",), "exact"),
        ("what did dannenberg say about helsinki", ("Dannenberg",), "exact"),
        ("What is Dannenberg's view of Chamberlain?", ("Dannenberg",), "exact"),
        ("What did John McLaughlin say about gifts?", ("McLaughlin",), "exact"),
        ("What did the former CIA acting director say about Putin?", ("McLaughlin",), "role"),
        ("What did the former chief of the Central Eurasia division say?", ("Dannenberg",), "role"),
        ("What did Danenberg say about China?", ("Dannenberg",), "fuzzy"),
        ("What did McLaughin think of NATO?", ("McLaughlin",), "fuzzy"),
        ("What did Medvedev write on Telegram?", ("Medvedev",), "exact"),
        ("What did Dmitry Medvedev write?", ("Medvedev",), "exact"),
    ],
)
def test_match_people(roster: tuple[Person, ...], question: str, names: tuple[str, ...], how: str) -> None:
    m = match_people(question, roster)
    assert m is not None and (m.names, m.how) == (names, how)
    assert question[m.start : m.end] == m.text


@pytest.mark.parametrize(
    "question",
    [
        "Where might Trump and Putin meet?",  # quoted people, but not asked what they said
        "How long did the call last?",
        "How long did the Trump-Putin call last?",  # "call" is a noun here, not "did Trump call ..."
        "What is the GDP of Germany?",
    ],
)
def test_no_speaker_in_topic_questions(roster: tuple[Person, ...], question: str) -> None:
    assert match_people(question, roster) is None


def test_unknown_person_in_speaker_position(roster: tuple[Person, ...]) -> None:
    assert match_people("What did Zelensky say in the interview?", roster) is None
    assert asked_about_person("What did Zelensky say in the interview?") == "Zelensky"
    assert asked_about_person("According to Angela Merkel, what is next?") == "Angela Merkel"
    assert asked_about_person("What did he say?") is None
    assert asked_about_person("How long did the call last?") is None


def test_group_and_label_aliases() -> None:
    people = [
        Person("Professor B", "speaker"),
        Person("Professor C", "speaker"),
        Person("Grad A", "speaker"),
        Person("The Acting Chair (Mr. Bruce Stanton)", "speaker", ("Bruce Stanton", "Stanton")),
    ]
    m = match_people("What did the professor think about the results?", people)
    assert m is not None and m.names == ("Professor B", "Professor C") and m.how == "group"
    m = match_people("What did Stanton say about the budget?", people)
    assert m is not None and m.names == ("The Acting Chair (Mr. Bruce Stanton)",)


def test_label_roles_and_user_aliases() -> None:
    t = analyse(load_document(DATA / "panel.txt"), Settings(aliases={"the transit chief": "James Okafor"}))
    by_name = {p.name: p for p in t.people}
    assert by_name["Maria Lopez"].roles == ("moderator",)
    assert "the transit chief" in by_name["James Okafor"].aliases
    m = match_people("What did the moderator ask?", t.people)
    assert m is not None and m.names == ("Maria Lopez",)
    m = match_people("What did the transit chief say about the delay?", t.people)
    assert m is not None and m.names == ("James Okafor",)


MEETING = [
    Person("Marketing", "speaker", doc_ids=("m",), named=False),
    Person("Project Manager", "speaker", ("Manager",), doc_ids=("m",), named=False),
    Person("Industrial Designer", "speaker", ("Designer",), doc_ids=("m",), named=False),
]


@pytest.mark.parametrize(
    ("question", "how", "names"),
    [
        ("What did Marketing and the Project Manager say about the buttons?", "several",
         ("Marketing", "Project Manager")),
        ("Why did Marketing disagree with the Project Manager about the buttons?", "parties",
         ("Marketing", "Project Manager")),
        ("What did Marketing say about the buttons?", "exact", ("Marketing",)),
    ],
)  # fmt: skip
def test_two_people_in_one_question(question: str, how: str, names: tuple[str, ...]) -> None:
    m = match_people(question, MEETING)
    assert m is not None and (m.how, m.names) == (how, names)


def test_the_group_as_subject_filters_nobody() -> None:
    assert match_people("Why did the group disagree with the Project Manager about the budget?", MEETING) is None


def test_role_labels_do_not_link_across_documents() -> None:
    from rag.people import merge_people

    a = Person("Project Manager", "speaker", doc_ids=("m1",), named=False)
    b = Person("Project Manager", "speaker", doc_ids=("m2",), named=False)
    c = Person("Anna Weber", "speaker", doc_ids=("council",))
    d = Person("Anna Weber", "speaker", doc_ids=("press",))
    merged = merge_people([[a, c], [b, d]])
    assert sorted((p.name, p.doc_ids) for p in merged) == [
        ("Anna Weber", ("council", "press")),
        ("Project Manager", ("m1",)),
        ("Project Manager", ("m2",)),
    ]


def test_letters_after_names_are_titles_not_names(tmp_path: Path) -> None:
    """A committee transcript: "AM" ends several labels, so it is letters after a name (document
    evidence, no list); the text's "Siân Gwenllian" is that speaker, not a second, quoted person."""
    src = tmp_path / "committee.txt"
    src.write_text(
        "Lynne Neagle AM: We move on to questions about mental health from Siân Gwenllian.\n"
        "Sian Gwenllian AM: Can you assure us that mental health support will be a priority this year?\n"
        "Kirsty Williams: It will. We are funding counsellors in every secondary school from April.\n"
        "Lynne Neagle AM: Thank you. Now to the budget.\n"
        "Sian Gwenllian AM: The budget for school counsellors looks too small for that promise.\n",
        encoding="utf-8",
    )
    people = analyse(load_document(src), Settings()).people
    speakers = {p.name: p for p in people if p.kind == "speaker"}
    assert set(speakers) == {"Lynne Neagle AM", "Sian Gwenllian AM", "Kirsty Williams"}
    assert (
        "Sian Gwenllian" in speakers["Sian Gwenllian AM"].aliases and "AM" not in speakers["Sian Gwenllian AM"].aliases
    )
    assert not [p for p in people if p.kind == "quoted" and "Gwenllian" in p.name]
    m = match_people("What did Sian Gwenllian say about counsellors?", people)
    assert m is not None and m.names == ("Sian Gwenllian AM",)
    m = match_people("What did Lynne Neagle ask?", people)
    assert m is not None and m.names == ("Lynne Neagle AM",)
    # one label with capitals at the end is not evidence: "Speaker A", "Bob MD" stay as they are
    alone = analyse(load_document(_write(tmp_path / "two.txt", "Bob MD: Hello there.\nAnn Lee: Hi Bob.\n")), Settings())
    assert {p.name for p in alone.people if p.kind == "speaker"} == {"Bob MD", "Ann Lee"}


def _write(path: Path, text: str) -> Path:
    path.write_text(text, encoding="utf-8")
    return path


def test_a_capitalised_ordinary_word_before_said_is_nobody(tmp_path: Path) -> None:
    """QMSum's hearings listed "I've", "Having" and "Education" as people quoted in the text. A word
    the document also writes in lower case is an ordinary word at the start of a sentence."""
    src = _write(
        tmp_path / "hearing.txt",
        "Chair: The education committee is having a long session. Minister, the auditor was critical.\n"
        "Minister: Having said that, the scheme is on track. Education said the pilot worked, and "
        "Dr Palmer said the same in her review.\n"
        "Chair: Auditor said it was late.\n",
    )
    people = analyse(load_document(src), Settings()).people
    assert [p.name for p in people if p.kind == "quoted"] == ["Palmer"]
    m = match_people("What did Having say about the scheme?", people)
    assert m is None or "Having" not in m.names


# --- analysis near-linear in the number of speakers, with the same results as before --------------

GOLDEN = Path(__file__).with_name("analysis-before.json")
GOLDEN_SOURCES = ("tests/data", "seeds", "eval/data/qmsum/val")
GOLDEN_GENERATED = ((2000, 0), (300, 1))


def analysis_digests(root: Path) -> dict[str, str]:
    """sha256 (16 hex) of each document's analysis (turns, excluded, people, warnings) under the
    repository's test data, the seeds, the QMSum meetings and two generated town halls."""
    import hashlib
    import json

    from bench.speakers import many_speakers
    from rag.documents import to_dict
    from rag.load import collect_sources, parse_document

    def digest(data: bytes, doc_id: str, source: str) -> str:
        t = to_dict(analyse(parse_document(data, doc_id=doc_id, source=source), Settings()))
        del t["document"]
        return hashlib.sha256(json.dumps(t, sort_keys=True, ensure_ascii=False).encode()).hexdigest()[:16]

    out = {}
    for folder in GOLDEN_SOURCES:
        if (root / folder).is_dir():
            for p, d in collect_sources([root / folder]):
                source = f"{folder}/{p.relative_to(root / folder).as_posix()}"
                out[f"{folder}/{d}"] = digest(p.read_bytes(), d, source)
    for n, seed in GOLDEN_GENERATED:
        out[f"many_speakers({n}, {seed})"] = digest(many_speakers(n, seed).encode(), "t", "t.txt")
    return out


def test_the_analysis_is_what_the_per_name_regexes_gave() -> None:
    """The digests in analysis-before.json pin the analysis (turns, aliases, roles, people quoted,
    warnings) of every document: first made by the per-name regexes that the text indexes replaced
    (commit c2a913f, identical digest for digest), regenerated on each deliberate change to the
    analysis since (names with suffixes and middle initials, titles such as Cllr and Host), as
    `analysis_digests(ROOT)` written as JSON."""
    import json

    from tests.conftest import ROOT

    expected = json.loads(GOLDEN.read_text())
    got = analysis_digests(ROOT)
    assert len(got) >= 20
    assert {k: v for k, v in got.items() if expected.get(k) != v} == {}


_ALPHABET = "AaBbKkİıSſ  \t\n,;'’-._Zé1"
_TEXTS = st.text(alphabet=_ALPHABET, max_size=60)
_WORDS = st.text(alphabet="AaBbKkİıSſ'’-._Zé1", min_size=1, max_size=6)


@settings(max_examples=400, deadline=None)
@given(text=_TEXTS, surnames=st.lists(_WORDS, min_size=1, max_size=4))
def test_full_names_and_occurrences_match_the_regex_over_the_whole_text(text: str, surnames: list[str]) -> None:
    import re

    from rag.names import find_full_names
    from rag.people import _Runs

    runs = _Runs(text, surnames)
    for s in surnames:
        assert runs.full_names(s) == find_full_names(text, s)
        for first in ("A", "Bb", "Ka-B"):
            full = f"{first} {s}"
            assert runs.occurrences(full) == [m.span() for m in re.finditer(re.escape(full), text)]


@settings(max_examples=400, deadline=None)
@given(text=_TEXTS, word=_WORDS)
def test_has_word_is_the_word_boundary_regex(text: str, word: str) -> None:
    import re

    from rag.text import has_word

    assert has_word(text, word) == (re.search(rf"\b{re.escape(word)}\b", text) is not None)


@settings(max_examples=400, deadline=None)
@given(text=_TEXTS, name=st.lists(_WORDS, min_size=1, max_size=2).map(" ".join))
def test_introduced_is_the_regex_over_the_whole_text(text: str, name: str) -> None:
    import re

    from rag.colon import _introduced

    last = name.split()[-1]
    pattern = rf"(?<=[^\W\d_,;’'][ \t])(?:{re.escape(name)}|{re.escape(last)})\b"
    before = (
        len(last) >= 3 and last[0].isupper() and any(m.group(0)[0].isupper() for m in re.finditer(pattern, text, re.I))
    )
    assert _introduced(text, name, 1) == before
