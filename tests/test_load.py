"""Reading sources: text and QMSum JSON, and every kind of bad input."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from rag import EmptyCorpusError, SourceError, load_documents
from rag.load import find_sources, load_document
from tests.conftest import DATA, QMSUM, ROOT, SEED


def test_seed_loads_with_its_exact_text() -> None:
    doc = load_document(SEED)
    assert doc.doc_id == "cipher-brief-trump-putin-call"
    assert doc.text == SEED.read_bytes().decode("utf-8")
    assert doc.format == "text"
    assert len(doc.sha256) == 64


def test_qmsum_json_renders_one_line_per_turn() -> None:
    doc = load_document(QMSUM / "Bed002.json")
    raw = json.loads((QMSUM / "Bed002.json").read_text())["meeting_transcripts"]
    lines = doc.text.split("\n")
    assert doc.format == "qmsum"
    assert len(lines) == len(raw)
    assert lines[1] == f"{raw[1]['speaker']}: {' '.join(raw[1]['content'].split())}"


def test_a_bare_list_of_turns_is_accepted(tmp_path: Path) -> None:
    p = tmp_path / "m.json"
    p.write_text(json.dumps([{"speaker": "A", "content": "hello there"}]))
    assert load_document(p).text == "A: hello there"


def test_directory_expands_to_sorted_transcripts() -> None:
    paths = find_sources([DATA])
    assert paths == sorted(paths)
    names = [p.name for p in paths]
    assert "meeting.json" in names and "panel.txt" in names and "team-zoom.vtt" in names


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"", "is empty"),
        (b"   \n\n  ", "is empty"),
        (b"\x89PNG\r\n\x1a\n\x00\x00\x00", "looks binary"),
        (b"Ann: hello there.\n" * 600 + b"\x00\x00\xff junk", "NUL bytes from offset 10,800 on"),
        ("Caf\u00e9 au lait: tr\u00e8s bon".encode("latin-1"), "not valid UTF-8 (byte 0xe9 at offset 3)"),
    ],
)
def test_bad_text_sources_give_one_clear_error(tmp_path: Path, content: bytes, message: str) -> None:
    p = tmp_path / "bad.txt"
    p.write_bytes(content)
    with pytest.raises(SourceError, match=message.replace("(", r"\(").replace(")", r"\)")):
        load_document(p)


def test_too_large_source_is_refused(tmp_path: Path) -> None:
    p = tmp_path / "huge.txt"
    p.write_text("Ann: " + "word " * 3000)
    with pytest.raises(SourceError, match="over the 0 MB limit"):
        load_document(p, max_bytes=1000)


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("{not json", "invalid JSON at line 1"),
        ('{"meeting_transcripts": []}', "expected a list of"),
        ('[{"speaker": "A"}]', "turn 0 needs string fields"),
        ('[{"speaker": " ", "content": "x"}]', "turn 0 has an empty speaker"),
    ],
)
def test_bad_json_sources(tmp_path: Path, content: str, message: str) -> None:
    p = tmp_path / "bad.json"
    p.write_text(content)
    with pytest.raises(SourceError, match=message):
        load_document(p)


def test_directory_without_transcripts(tmp_path: Path) -> None:
    (tmp_path / "notes.pdf").write_bytes(b"%PDF")
    with pytest.raises(EmptyCorpusError, match="no transcripts"):
        load_documents([tmp_path])


def test_missing_path_and_unsupported_suffix(tmp_path: Path) -> None:
    with pytest.raises(SourceError, match="no such file or directory"):
        load_documents([tmp_path / "nope.txt"])
    (tmp_path / "x.pdf").write_bytes(b"%PDF")
    with pytest.raises(SourceError, match="unsupported file type '.pdf'"):
        load_documents([tmp_path / "x.pdf"])


def test_two_sources_with_one_doc_id(tmp_path: Path) -> None:
    (tmp_path / "talk.txt").write_text("Ann: hi")
    (tmp_path / "talk.json").write_text('[{"speaker": "A", "content": "x"}]')
    with pytest.raises(SourceError, match="share the doc_id 'talk'"):
        load_documents([tmp_path])


def test_equal_file_names_in_two_folders_are_two_documents(tmp_path: Path) -> None:
    for month in ("2024-05", "2024-06"):
        (tmp_path / month).mkdir()
        (tmp_path / month / "standup.txt").write_text(f"Ann: The {month} standup.\nBob: Noted.")
    assert sorted(d.doc_id for d in load_documents([tmp_path])) == ["2024-05/standup", "2024-06/standup"]


def test_errors_are_also_builtin_errors() -> None:
    assert issubclass(SourceError, ValueError)
    assert issubclass(EmptyCorpusError, ValueError)


UTF16_TEXT = "Ann: We met in Zürich.\nBob: And then in Łódź.\n"


@pytest.mark.parametrize(
    ("data", "iconv"),
    [
        (UTF16_TEXT.encode("utf-16"), "utf-16"),  # with a byte-order mark, as Windows Notepad saves it
        (b"\xfe\xff" + UTF16_TEXT.encode("utf-16-be"), "utf-16"),
        (UTF16_TEXT.encode("utf-16-le"), "utf-16le"),  # no mark: told apart by where the NUL bytes are
        (UTF16_TEXT.encode("utf-16-be"), "utf-16be"),
    ],
    ids=["bom-le", "bom-be", "le", "be"],
)
def test_utf16_is_named_with_the_command_that_converts_it(tmp_path: Path, data: bytes, iconv: str) -> None:
    p = tmp_path / "meeting.txt"
    p.write_bytes(data)
    with pytest.raises(SourceError) as err:
        load_document(p)
    assert str(err.value) == (
        f"{p}: UTF-16; re-save it as UTF-8 (e.g. iconv -f {iconv} -t utf-8 {p} > {tmp_path / 'meeting-utf8.txt'})"
    )
    converted = subprocess.run(["iconv", "-f", iconv, "-t", "utf-8", str(p)], capture_output=True, check=True)
    p.write_bytes(converted.stdout)
    assert load_document(p).text.lstrip("\ufeff") == UTF16_TEXT  # the command given works


def test_utf16_through_the_cli_is_one_line(tmp_path: Path) -> None:
    p = tmp_path / "meeting.txt"
    p.write_bytes(UTF16_TEXT.encode("utf-16"))
    done = subprocess.run(
        [sys.executable, "-m", "rag", "build", str(p), "--index", str(tmp_path / "index")],
        env={**os.environ, "HF_HUB_OFFLINE": "1", "PYTHONPATH": str(ROOT)},
        capture_output=True,
        text=True,
    )
    assert done.returncode == 1 and done.stderr.count("\n") == 1 and "UTF-16; re-save it as UTF-8" in done.stderr


@pytest.mark.parametrize(
    "content",
    [
        "[" * 1000 + "]" * 1000,
        '{"segments": ' + "[" * 5000 + "]" * 5000 + "}",
        '{"meeting_transcripts": [' + '{"a": ' * 100_000 + "1" + "}" * 100_000 + "]}",
    ],
    ids=["lists", "segments", "objects"],
)
def test_json_nested_too_deeply_is_one_line(tmp_path: Path, content: str) -> None:
    p = tmp_path / "deep.json"
    p.write_text(content)
    with pytest.raises(SourceError) as err:
        load_documents([p])  # what the chat's upload calls too
    assert str(err.value).startswith(f"{p}: JSON nested too deeply (")
    assert "\n" not in str(err.value)
    done = subprocess.run(
        [sys.executable, "-m", "rag", "build", str(p), "--index", str(tmp_path / "index")],
        env={**os.environ, "HF_HUB_OFFLINE": "1", "PYTHONPATH": str(ROOT)},
        capture_output=True,
        text=True,
    )
    assert done.returncode == 1 and done.stderr.count("\n") == 1, done.stderr[-500:]
    assert "JSON nested too deeply" in done.stderr and "Traceback" not in done.stderr
