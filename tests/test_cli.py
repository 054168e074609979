"""The `rag` command as other programs run it: JSON shapes, exit codes, one-line errors."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.conftest import SEED, SEEDS

HELSINKI = "What did Dannenberg say about Helsinki?"


def rag(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "HF_HUB_OFFLINE": "1"}
    return subprocess.run(
        [sys.executable, "-m", "rag", *args], capture_output=True, text=True, cwd=cwd, env=env, timeout=300
    )


def one_line_error(p: subprocess.CompletedProcess[str], code: int = 1) -> str:
    assert p.returncode == code, p.stderr
    lines = [line for line in p.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, p.stderr
    assert lines[0].startswith("rag: error: ")
    return lines[0]


def test_version_and_inspect_need_no_model() -> None:
    assert rag("--version").stdout.startswith("rag ")
    p = rag("inspect", str(SEED), "--json")
    assert p.returncode == 0
    doc = json.loads(p.stdout)[0]
    assert [t["speaker"] for t in doc["turns"]] == [None, "McLaughlin", "Dannenberg"]
    assert [x["reason"] for x in doc["excluded"]] == ["header", "promo", "promo", "promo"]


def test_missing_index(tmp_path: Path) -> None:
    line = one_line_error(rag("ask", HELSINKI, "--index", str(tmp_path / "none")))
    assert "no index at" in line and "run: rag build --index" in line


def test_build_errors_change_nothing(tmp_path: Path) -> None:
    empty = tmp_path / "empty"
    empty.mkdir()
    assert "no transcripts (.json, .md, .srt, .txt, .vtt)" in one_line_error(
        rag("build", str(empty), "--index", str(tmp_path / "i"))
    )
    (empty / "scan.txt").write_bytes(b"%PDF-1.4\x00\x00binary")
    assert "looks binary" in one_line_error(rag("build", str(empty), "--index", str(tmp_path / "i")))
    assert not (tmp_path / "i").exists()
    bad = one_line_error(rag("build", str(SEED), "--max-tokens", "4"))
    assert "--max-tokens 4 is too small" in bad


@pytest.mark.slow
class TestWithIndex:
    def test_ask_json(self, real_index: Path) -> None:
        p = rag("ask", HELSINKI, "--json", "--index", str(real_index), cwd=SEEDS.parent)
        assert p.returncode == 0, p.stderr
        d = json.loads(p.stdout)
        assert d["answerable"] is True and d["speaker"] == "Dannenberg"
        c = d["citations"][0]
        assert set(c) == {
            "n",
            "chunk_id",
            "doc_id",
            "source",
            "speaker",
            "start",
            "end",
            "quote",
            "score",
            "time_start",
            "time_end",
            "uncertain",
        }
        assert c["speaker"] == "Dannenberg" and c["source"] == "seeds/cipher-brief-trump-putin-call.txt"
        assert SEED.read_text(encoding="utf-8")[c["start"] : c["end"]] == c["quote"]
        assert "Helsinki in 2018" in c["quote"]

    def test_refusal_is_an_answer(self, real_index: Path) -> None:
        p = rag("ask", "What did Zelensky say in the interview?", "--json", "--index", str(real_index))
        assert p.returncode == 0
        assert json.loads(p.stdout)["answerable"] is False

    def test_search_json(self, real_index: Path) -> None:
        p = rag("search", "Helsinki", "--speaker", "Dannenberg", "--k", "3", "--json", "--index", str(real_index))
        d = json.loads(p.stdout)
        assert d["query"] == "Helsinki" and d["speaker"] == "Dannenberg"
        assert [h["rank"] for h in d["hits"]] == [1, 2, 3]
        assert set(d["hits"][0]) == {
            "rank",
            "chunk_id",
            "doc_id",
            "source",
            "speaker",
            "start",
            "end",
            "text",
            "score",
            "time_start",
            "time_end",
            "uncertain",
            "turn",
            "last_turn",
            "passage_end",
            "passage",
        }
        assert all(h["speaker"] == "Dannenberg" and h["passage"].startswith(h["text"]) for h in d["hits"])

    def test_speakers(self, real_index: Path) -> None:
        d = json.loads(rag("speakers", "--json", "--index", str(real_index)).stdout)
        assert [p["name"] for p in d if p["kind"] == "speaker"] == ["Dannenberg", "McLaughlin"]

    def test_bad_questions_and_speakers(self, real_index: Path) -> None:
        idx = ["--index", str(real_index)]
        assert "the question is empty" in one_line_error(rag("ask", "  ", *idx))
        assert "over the 2,000 limit" in one_line_error(rag("ask", "why " * 25_600, *idx))
        line = one_line_error(rag("ask", "What about Putin?", "--speaker", "Zelensky", *idx))
        assert "no speaker matches 'Zelensky'; speakers: Dannenberg, McLaughlin" in line
        assert "k must be a whole number from 1 to 100, not 0" in one_line_error(rag("search", "x", "--k", "0", *idx))

    def test_other_model_and_truncated_index(self, real_index: Path, tmp_path: Path) -> None:
        other = tmp_path / "other"
        shutil.copytree(real_index, other)
        manifest = json.loads((other / "manifest.json").read_text())
        (other / "manifest.json").write_text(json.dumps({**manifest, "model": "bge-small-en"}))
        line = one_line_error(rag("ask", HELSINKI, "--index", str(other)))
        assert "was built with 'bge-small-en', settings ask for 'all-MiniLM-L6-v2'; run: rag build" in line
        cut = tmp_path / "cut"
        shutil.copytree(real_index, cut)
        data = (cut / "vectors.faiss").read_bytes()
        (cut / "vectors.faiss").write_bytes(data[:100])
        assert "vectors.faiss is 100 bytes, the build wrote" in one_line_error(
            rag("ask", HELSINKI, "--index", str(cut))
        )

    def test_ctrl_c_during_build_keeps_the_old_index(self, real_index: Path, tmp_path: Path) -> None:
        out = tmp_path / "index"
        shutil.copytree(real_index, out)
        before = {p.name: p.read_bytes() for p in out.iterdir() if p.is_file() and p.suffix != ".onnx"}
        src = tmp_path / "src"
        src.mkdir()
        shutil.copy(SEED, src)
        # a long new source, so that the build is still embedding when Ctrl-C arrives
        turns = [
            f"{'Ann' if i % 2 else 'Bob'}: Turn {i} is about trams, bridges and budget number {i * 7}. " * 3
            for i in range(3000)
        ]
        (src / "long-meeting.txt").write_text("\n".join(turns))
        env = {**os.environ, "HF_HUB_OFFLINE": "1"}
        proc = subprocess.Popen(
            [sys.executable, "-m", "rag", "build", str(src), "--index", str(out)],
            stderr=subprocess.PIPE,
            text=True,
            env=env,
            # a test run started in the background inherits an ignored SIGINT; a user's shell does not
            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
        )
        time.sleep(3.0)
        assert proc.poll() is None, "the build ended before Ctrl-C; make the source longer"
        proc.send_signal(signal.SIGINT)
        _, err = proc.communicate(timeout=120)
        assert proc.returncode == 130, err
        assert "interrupted; nothing was changed" in err
        assert {p.name: p.read_bytes() for p in out.iterdir() if p.is_file() and p.suffix != ".onnx"} == before
        assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".index")] in ([], [".index.lock"])
        p = rag("ask", HELSINKI, "--json", "--index", str(out))
        assert json.loads(p.stdout)["answerable"] is True
