"""Generated answers from a real local model: llama.cpp's OpenAI-compatible server running
Qwen2.5-Coder-0.5B-Instruct on a free loopback port. Every shown citation must verify.

Needs `make llm qwen` (llama-cpp-python[server] and the GGUF); deselect with -m "not llm".
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from rag import LlamaCpp, OpenAIChat, Pipeline
from tests.conftest import ROOT, SEED, free_port

pytestmark = pytest.mark.llm

GGUF = Path(os.environ.get("RAG_QWEN_GGUF", ROOT / "models" / "qwen2.5-coder-0.5b-instruct-q4.gguf"))
QUESTIONS = [
    ("What did Dannenberg say about Helsinki?", "Dannenberg"),
    ("What did McLaughlin say about Putin being a KGB case officer?", "McLaughlin"),
    ("What did Medvedev write?", "Medvedev"),
    ("How long did the Trump-Putin call last?", None),
]


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    if not GGUF.is_file():
        pytest.fail(f"{GGUF} is missing: run make qwen (or set RAG_QWEN_GGUF)")
    port = free_port()
    cmd = [
        sys.executable,
        "-m",
        "llama_cpp.server",
        "--model",
        str(GGUF),
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--n_ctx",
        "4096",
        "--model_alias",
        "qwen",
    ]
    log = tmp_path_factory.mktemp("llm") / "server.log"
    out = log.open("w")  # a file, not a pipe: the server logs a lot and would block on a full pipe
    proc = subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}/v1"
    try:
        for _ in range(120):
            if proc.poll() is not None:
                pytest.fail(f"llama_cpp.server exited: {log.read_text()[-2000:]}")
            try:
                with urllib.request.urlopen(f"{url}/models", timeout=1) as r:
                    if r.status == 200:
                        break
            except OSError:
                time.sleep(0.5)
        else:
            pytest.fail("llama_cpp.server did not start within 60 s")
        yield url
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
        out.close()


def _assert_verified(answer) -> None:  # type: ignore[no-untyped-def]
    text = SEED.read_text(encoding="utf-8")
    assert answer.citations, answer.text
    for c in answer.citations:
        assert text[c.start : c.end] == c.quote
    numbers = {c.n for c in answer.citations}
    import re

    assert {int(n) for n in re.findall(r"\[(\d+)\]", answer.text)} <= numbers


def test_generated_answers_through_the_openai_backend(real_pipe: Pipeline, server: str) -> None:
    pipe = Pipeline(
        real_pipe.index, real_pipe.embedder, real_pipe.settings, generator=OpenAIChat(server, "qwen", timeout=120)
    )
    modes = []
    for question, speaker in QUESTIONS:
        a = pipe.ask(question)
        assert a.answerable
        _assert_verified(a)
        if speaker in ("Dannenberg", "McLaughlin"):
            assert all(c.speaker == speaker for c in a.citations)
        modes.append(a.mode)
        assert json.loads(json.dumps(a.to_dict()))["mode"] == a.mode
    assert "generated" in modes  # the model did answer, and at least one answer verified
    refusal = pipe.ask("What did Dannenberg say about Taiwan?")
    assert not refusal.answerable and refusal.mode == "extractive"


def test_streaming_from_the_server(server: str) -> None:
    pieces = list(OpenAIChat(server, "qwen").stream([{"role": "user", "content": "Say OK."}]))
    assert "".join(pieces).strip()


def test_in_process_llama_cpp(real_pipe: Pipeline) -> None:
    pipe = Pipeline(real_pipe.index, real_pipe.embedder, real_pipe.settings, generator=LlamaCpp(GGUF))
    a = pipe.ask(QUESTIONS[0][0])
    assert a.answerable and a.mode in ("generated", "fallback")
    _assert_verified(a)
    steps = list(pipe.ask_stream(QUESTIONS[0][0]))  # streamed: the same answer, verified on the way
    assert steps[-1].mode == a.mode and steps[-1].text == a.text
    for step in steps:
        _assert_verified(step)
