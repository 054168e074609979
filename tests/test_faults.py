"""Fault injection: every file of an index emptied, truncated, garbled and deleted; builds killed
with SIGKILL at random moments; two builders and a reader at once.

What must hold: a damaged index gives one line that names the file and `rag build --index DIR`
(never a traceback, never a quiet wrong answer), `rag check` finds what loading cannot, and a build
repairs it; a killed build leaves an index that answers; concurrent builders either finish or say
"another build (pid N) is writing"; a reader never fails and never gets a wrong answer.
"""

from __future__ import annotations

import errno
import os
import random
import shutil
import signal
import subprocess
import sys
import textwrap
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from rag import Pipeline, RagError, build_index
from rag.index import Index, verify
from tests.conftest import DATA, ROOT, SEEDS, FakeEmbedder

HELSINKI = "What did Dannenberg say about Helsinki?"
MODES = ("empty", "truncate", "garble", "delete")
ENV = {**os.environ, "HF_HUB_OFFLINE": "1", "PYTHONPATH": str(ROOT)}


def damage(path: Path, mode: str, seed: int = 0) -> None:
    data = path.read_bytes()
    if mode == "empty":
        path.write_bytes(b"")
    elif mode == "truncate":
        path.write_bytes(data[: len(data) // 2])
    elif mode == "garble":  # same size, different bytes: only a checksum (or the parser) can tell
        rng = random.Random(seed)
        start = len(data) // 3
        noise = bytes(rng.randrange(256) for _ in range(min(64, len(data) - start)))
        path.write_bytes(data[:start] + noise + data[start + len(noise) :])
    else:
        path.unlink()


def index_files(index: Path) -> list[str]:
    return sorted(p.relative_to(index).as_posix() for p in index.rglob("*") if p.is_file())


@pytest.fixture(scope="module")
def clean(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("clean") / "index"
    build_index([SEEDS], out, embedder=FakeEmbedder())
    return out


FAKE_FILES = [
    "manifest.json",
    "chunks/names.json",
    "chunks/quoted.npy",
    "chunks/rows.npy",
    "chunks/text.bin",
    "documents.index.json",
    "documents.jsonl",
    "vectors.faiss",
    "bm25/data.csc.index.npy",
    "bm25/indices.csc.index.npy",
    "bm25/indptr.csc.index.npy",
    "bm25/params.index.json",
    "bm25/vocab.index.json",
    "sentences/offsets.npy",
    "sentences/spans.npy",
    "sentences/vectors.npy",
]


def test_the_fault_list_covers_every_file(clean: Path) -> None:
    assert index_files(clean) == sorted(FAKE_FILES)


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("name", FAKE_FILES)
def test_a_damaged_file_is_named_and_a_build_repairs_it(clean: Path, tmp_path: Path, name: str, mode: str) -> None:
    index = tmp_path / "index"
    shutil.copytree(clean, index)
    damage(index / name, mode)
    try:
        pipe = Pipeline.load(index, embedder=FakeEmbedder())
        answer = pipe.ask(HELSINKI)
    except RagError as err:
        message = str(err)
        assert "\n" not in message and "rag build --index" in message, message
        stem = Path(name).name if name != "manifest.json" else "manifest"
        assert stem in message or (name.startswith("bm25/") and "bm25" in message), message
    else:
        # It loaded: then the damage must not have changed an answer, and `rag check` must see it.
        assert mode == "garble", f"{name} {mode} loaded quietly"
        assert answer.answerable and answer.citations[0].speaker == "Dannenberg"
        assert any(name in line for line in verify(index)), f"rag check missed a garbled {name}"
    report = build_index([SEEDS], index, embedder=FakeEmbedder())
    assert report.chunks > 0 and not verify(index)
    assert Pipeline.load(index, embedder=FakeEmbedder()).ask(HELSINKI).citations[0].speaker == "Dannenberg"


def test_a_manifest_from_another_format_is_refused(clean: Path, tmp_path: Path) -> None:
    import json

    index = tmp_path / "index"
    shutil.copytree(clean, index)
    manifest = json.loads((index / "manifest.json").read_text())
    (index / "manifest.json").write_text(json.dumps({**manifest, "format": 99}))
    with pytest.raises(RagError, match="index format 99, this rag reads format 3; run: rag build --index"):
        Pipeline.load(index, embedder=FakeEmbedder())


def test_a_truncated_document_table_never_loads_quietly(clean: Path, tmp_path: Path) -> None:
    index = tmp_path / "index"
    shutil.copytree(clean, index)
    (index / "documents.jsonl").write_text("")
    with pytest.raises(RagError, match="documents.jsonl is 0 bytes"):
        Pipeline.load(index, embedder=FakeEmbedder())
    with pytest.raises(RagError, match="documents.jsonl is shorter than documents.index.json says"):
        Index.load(index, check=False)  # even without the size check


# --- the real model: encoder.onnx, and the command line as a person uses it ----------------------


def rag(*args: str, cwd: Path = ROOT) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "rag", *args], capture_output=True, text=True, env=ENV, cwd=cwd, timeout=300
    )


@pytest.mark.slow
@pytest.mark.parametrize("mode", [*MODES, "random"])
def test_encoder_faults_through_the_cli(real_index: Path, tmp_path: Path, mode: str) -> None:
    index = tmp_path / "index"
    shutil.copytree(real_index, index)
    if mode == "random":  # the whole file replaced by random bytes of the same size
        (index / "encoder.onnx").write_bytes(os.urandom((index / "encoder.onnx").stat().st_size))
    else:
        damage(index / "encoder.onnx", mode)
    p = rag("ask", HELSINKI, "--index", str(index))
    assert "Traceback" not in p.stderr
    if mode == "delete":  # optional file: the answer comes, with one line saying torch is loaded
        assert p.returncode == 0 and "Dannenberg said" in p.stdout
        assert "encoder.onnx is missing: loading torch instead" in p.stderr
    elif mode == "garble" and p.returncode == 0:
        # 64 bytes of 90 MB of weights: it still runs; checking 90 MB on every start would cost
        # more than the start itself, so `rag check` is where this is found
        c = rag("check", "--index", str(index))
        assert c.returncode == 1 and "encoder.onnx has changed since the build" in c.stdout
    else:
        lines = [x for x in p.stderr.splitlines() if x.startswith("rag:")]
        assert p.returncode == 1 and len(lines) == 1, p.stderr
        assert "encoder.onnx" in lines[0] and "rag build --index" in lines[0]
    if mode in ("garble", "delete", "random"):  # rag build puts a working encoder back
        b = rag("build", str(SEEDS.relative_to(ROOT)), "--index", str(index))
        assert b.returncode == 0, b.stderr
        ok = rag("ask", HELSINKI, "--index", str(index))
        assert ok.returncode == 0 and "Dannenberg said" in ok.stdout and "torch" not in ok.stderr


@pytest.mark.slow
@pytest.mark.parametrize(
    "name", ["chunks/rows.npy", "documents.index.json", "vectors.faiss", "bm25/vocab.index.json", "manifest.json"]
)
def test_cli_gives_one_line_for_a_damaged_file(real_index: Path, tmp_path: Path, name: str) -> None:
    index = tmp_path / "index"
    shutil.copytree(real_index, index)
    damage(index / name, "truncate")
    p = rag("ask", HELSINKI, "--index", str(index))
    assert p.returncode == 1 and "Traceback" not in p.stderr
    assert len(p.stderr.strip().splitlines()) == 1 and f"rag build --index {index}" in p.stderr
    c = rag("check", "--index", str(index))
    assert c.returncode == 1 and len(c.stderr.strip().splitlines()) == 1


@pytest.mark.slow
def test_rag_check_verifies_checksums_and_offsets(real_index: Path, tmp_path: Path) -> None:
    index = tmp_path / "index"
    shutil.copytree(real_index, index)
    ok = rag("check", "--index", str(index))
    assert ok.returncode == 0 and ok.stdout.strip().endswith("checked: ok"), ok.stdout
    damage(index / "chunks" / "text.bin", "garble", seed=3)
    bad = rag("check", "--index", str(index))
    assert bad.returncode == 1 and "chunks/text.bin" in bad.stdout + bad.stderr


# --- killed builds and concurrent writers ---------------------------------------------------------

SLOW_BUILD = textwrap.dedent(
    """
    import sys, time
    from pathlib import Path
    from rag import build_index
    from tests.conftest import FakeEmbedder

    import rag.files

    class Slow(FakeEmbedder):
        def embed(self, texts):
            time.sleep(0.3)
            return super().embed(texts)

    if sys.argv[2] == "--pause-in-swap":  # a kill between the two renames of the swap
        rename = rag.files.os.replace

        def slow_replace(a, b):
            rename(a, b)
            time.sleep(1.0)

        rag.files.os.replace = slow_replace
        del sys.argv[2]
    paths = [Path(p) for p in sys.argv[2:]]
    build_index(paths, Path(sys.argv[1]), embedder=Slow(), prune=True)
    """
)


def _builder(out: Path, *paths: Path) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-c", SLOW_BUILD, str(out), *map(str, paths)],
        env=ENV,
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


@pytest.mark.parametrize("seed", [1, 2, 3, 4, 5, "swap"])
def test_kill_9_at_a_random_moment_leaves_an_index_that_answers(tmp_path: Path, seed: int | str) -> None:
    out = tmp_path / "index"
    build_index([SEEDS], out, embedder=FakeEmbedder())
    more = tmp_path / "more"
    shutil.copytree(DATA, more)
    if seed == "swap":
        proc = _builder(out, Path("--pause-in-swap"), SEEDS, more)
        _wait_for(lambda: any(tmp_path.glob(".index.old-*")))  # the old index is moved aside: kill now
    else:
        proc = _builder(out, SEEDS, more)
        time.sleep(random.Random(seed).uniform(0.5, 4.0))  # import, read, embed or save: wherever it is
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=30)
    pipe = Pipeline.load(out, embedder=FakeEmbedder())  # the old index, or the new one: never half
    assert pipe.ask(HELSINKI).citations[0].speaker == "Dannenberg"
    build_index([SEEDS, more], out, embedder=FakeEmbedder())  # the next build cleans what was left
    assert sorted(p.name for p in tmp_path.iterdir() if p.name.startswith(".index")) == [".index.lock"]
    assert not verify(out)


def _wait_for(condition: Callable[[], bool], timeout: float = 60) -> None:
    stop = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < stop, "the build never reached the point to kill it at"
        time.sleep(0.01)


def test_two_builders_and_a_reader(tmp_path: Path) -> None:
    out = tmp_path / "index"
    build_index([SEEDS], out, embedder=FakeEmbedder())
    more = tmp_path / "more"
    shutil.copytree(DATA, more)
    stop = time.monotonic() + 15
    errors: list[str] = []
    loads = 0

    def read() -> None:
        nonlocal loads
        while time.monotonic() < stop:
            try:
                answer = Pipeline.load(out, embedder=FakeEmbedder()).ask(HELSINKI)
                if not answer.citations or answer.citations[0].speaker != "Dannenberg":
                    errors.append(f"wrong answer: {answer.text[:80]}")
            except Exception as err:  # noqa: BLE001 - any failure of a reader is the finding
                errors.append(f"{type(err).__name__}: {err}")
            loads += 1

    reader = threading.Thread(target=read)
    reader.start()
    outcomes: list[str] = []
    corpora = [(SEEDS, more), (SEEDS,)]
    i = 0
    while time.monotonic() < stop - 3:
        a, b = _builder(out, *corpora[i % 2]), _builder(out, *corpora[(i + 1) % 2])
        for proc in (a, b):
            _, err = proc.communicate(timeout=120)
            if proc.returncode == 0:
                outcomes.append("built")
            else:
                last = err.strip().splitlines()[-1] if err.strip() else ""
                assert "another build (pid" in last and f"is writing {out}/; try again when it ends" in last, err
                outcomes.append("busy")
        i += 1
    reader.join()
    assert not errors, errors[:5]
    assert loads > 10 and "built" in outcomes
    print(f"\nconcurrency: {len(outcomes)} builds ({outcomes.count('busy')} told another build is writing), "
          f"{loads} reader loads, 0 errors")  # fmt: skip


# --- before and while writing -------------------------------------------------------------------


def test_no_room_is_said_before_any_embedding(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import collections

    import rag.files

    out = tmp_path / "index"
    build_index([SEEDS], out, embedder=FakeEmbedder())
    before = {p.name: p.read_bytes() for p in out.iterdir() if p.is_file()}
    usage = collections.namedtuple("usage", "total used free")
    monkeypatch.setattr(rag.files.shutil, "disk_usage", lambda _: usage(10**9, 10**9 - 1000, 1000))
    fake = FakeEmbedder()
    with pytest.raises(RagError, match=r"has 0 MB free, the index needs about [\d,]+ MB; free some space"):
        build_index([SEEDS, DATA / "panel.txt"], out, embedder=fake)
    assert fake.embedded == 0  # refused before the slow part
    assert {p.name: p.read_bytes() for p in out.iterdir() if p.is_file()} == before


def test_a_failed_write_is_one_line_and_keeps_the_previous_index(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import errno

    import rag.documents

    out = tmp_path / "index"
    build_index([SEEDS], out, embedder=FakeEmbedder())
    before = {p.name: p.read_bytes() for p in out.iterdir() if p.is_file()}

    def full_disk(*args: object, **kwargs: object) -> None:
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(rag.documents, "_write_line", full_disk)
    with pytest.raises(RagError, match=r"could not write the index to .* \(No space left on device\); the previous"):
        build_index([SEEDS, DATA / "panel.txt"], out, embedder=FakeEmbedder())
    assert {p.name: p.read_bytes() for p in out.iterdir() if p.is_file()} == before
    assert not list(tmp_path.glob(".index.tmp-*"))


def test_changed_and_deleted_sources_are_noticed(tmp_path: Path) -> None:
    from rag.index import stale_sources

    src = tmp_path / "src"
    shutil.copytree(SEEDS, src)
    (src / "talk.txt").write_text("Ann: The budget review moves to Friday.\nBob: Finance needs the figures first.\n")
    out = tmp_path / "index"
    build_index([src], out, embedder=FakeEmbedder())
    pipe = Pipeline.load(out, embedder=FakeEmbedder())
    assert stale_sources(pipe.index.manifest) == []
    seed = src / "cipher-brief-trump-putin-call.txt"
    seed.write_text(seed.read_text().replace("Helsinki", "Helsingfors"))
    (src / "talk.txt").unlink()
    lines = stale_sources(pipe.index.manifest)
    assert any(
        "cipher-brief-trump-putin-call.txt changed since the index was built; run: rag build" in x for x in lines
    )
    assert any("talk.txt is gone since the index was built" in x for x in lines)
    answer = pipe.ask(HELSINKI)  # still the words the index holds, and still exact
    assert "Helsinki" in answer.citations[0].quote
    doc = pipe.documents[answer.citations[0].doc_id]
    assert doc.text[answer.citations[0].start : answer.citations[0].end] == answer.citations[0].quote


def test_a_build_that_would_drop_documents_needs_prune(tmp_path: Path) -> None:
    out = tmp_path / "index"
    build_index([SEEDS, DATA / "panel.txt"], out, embedder=FakeEmbedder())
    with pytest.raises(RagError, match=r"would drop 1 document\(s\) .*: cipher-brief-trump-putin-call; pass --prune"):
        build_index([DATA / "panel.txt"], out, embedder=FakeEmbedder())
    assert build_index(None, out, embedder=FakeEmbedder()).is_noop  # no paths: its own sources
    report = build_index([DATA / "panel.txt"], out, embedder=FakeEmbedder(), prune=True)
    assert report.removed == ("cipher-brief-trump-putin-call",)


# --- a long-lived reader and a server while `rag add` / `rag remove` change the index ------------

MEETINGS = 150  # more than rag.documents.CACHED: most reads of a document go to documents.jsonl


def _meetings(root: Path) -> tuple[Path, Path]:
    """A corpus of meetings and, in a root listed first, one more whose presence shifts every line."""
    corpus, early = root / "corpus", root / "early"
    corpus.mkdir()
    early.mkdir()
    for i in range(MEETINGS):
        (corpus / f"m{i:03d}.txt").write_text(
            f"Chair{i}: Welcome to meeting {i}.\n\nBob{i} Lane: The harbour{i} needs rebuilding before winter.\n\n"
            + f"Carol{i} Diaz: I disagree about the budget{i}, it is far too small.\n" * 4,
            encoding="utf-8",
        )
    (early / "aaa.txt").write_text(
        "Zed Quill: Zebras crossed the harbour road at dawn.\n\nYann Ode: Yaks do not swim.\n", encoding="utf-8"
    )
    return corpus, early


CYCLES = textwrap.dedent(
    """
    import sys
    from pathlib import Path
    from rag import build_index
    from tests.conftest import FakeEmbedder

    index, corpus, early = map(Path, sys.argv[1:4])
    for _ in range(int(sys.argv[4])):
        build_index([early, corpus], index, embedder=FakeEmbedder())  # rag add early/
        build_index([corpus], index, embedder=FakeEmbedder(), prune=True)  # rag remove aaa
    build_index([early, corpus], index, embedder=FakeEmbedder())
    """
)
FAKE_SERVE = (
    "import sys, uvicorn; from rag import Pipeline; from rag.serve import create_app; "
    "from tests.conftest import FakeEmbedder; "
    "uvicorn.run(create_app(Pipeline.load(sys.argv[1], embedder=FakeEmbedder())), host='127.0.0.1', "
    "port=int(sys.argv[2]), log_level='warning')"
)


def _start_server(command: list[str], port: int) -> subprocess.Popen[str]:
    import httpx

    proc = subprocess.Popen(command, env=ENV, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 120
    while True:
        try:
            if httpx.get(f"http://127.0.0.1:{port}/v1/health").status_code == 200:
                return proc
        except httpx.TransportError:
            pass
        if proc.poll() is not None or time.monotonic() > deadline:
            proc.kill()
            raise AssertionError(proc.stderr.read() if proc.stderr else "the server did not start")
        time.sleep(0.1)


def test_a_reader_and_a_server_outlive_add_and_remove_in_another_process(tmp_path: Path) -> None:
    import httpx

    from tests.conftest import free_port

    corpus, early = _meetings(tmp_path)
    out = tmp_path / "index"
    build_index([corpus], out, embedder=FakeEmbedder())
    port = free_port()
    server = _start_server([sys.executable, "-c", FAKE_SERVE, str(out), str(port)], port)
    held = Pipeline.load(out, embedder=FakeEmbedder())  # never refreshed: keeps its generation whole
    live = Pipeline.load(out, embedder=FakeEmbedder())  # refreshed before each question
    writer = subprocess.Popen(
        [sys.executable, "-c", CYCLES, str(out), str(corpus), str(early), "6"],
        env=ENV,
        cwd=ROOT,
        stderr=subprocess.PIPE,
        text=True,
    )
    errors: list[str] = []
    counts = {"held": 0, "live": 0, "http": 0}
    seen: set[int] = set()  # documents in the live pipeline's generations: both states are seen

    def asked(i: int) -> tuple[str, str]:
        return f"What did Bob{i} Lane say about the harbour{i}?", f"Bob{i} Lane"

    def check(who: str, speaker: str | None, text: str) -> None:
        counts[who] += 1
        if speaker != expected:
            errors.append(f"{who}: {text[:160]}")

    try:
        with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=60) as http:
            n = 0
            while writer.poll() is None:
                question, expected = asked(n % MEETINGS)
                for who, pipe in (("held", held), ("live", live.refreshed())):
                    try:
                        answer = pipe.ask(question)
                        check(who, answer.citations[0].speaker if answer.citations else None, answer.text)
                    except Exception as err:  # noqa: BLE001 - any failure of a reader is the finding
                        check(who, None, f"{type(err).__name__}: {err}")
                seen.add(len(live.refreshed().documents))
                r = http.post("/v1/ask", json={"question": question})
                body = r.json()
                cited = body["citations"][0]["speaker"] if r.status_code == 200 and body.get("citations") else None
                check("http", cited, f"{r.status_code} {body}")
                n += 1
            assert writer.wait() == 0, writer.stderr.read() if writer.stderr else ""
            corrupt = [e for e in errors if "corrupt" in e]
            assert not errors, (f"{len(errors)} errors, {len(corrupt)} corrupt in {counts}", errors[:3])
            # After the last build (aaa.txt added): the server and the live pipeline answer from it.
            zed = "What did Zed Quill say about zebras?"
            r = http.post("/v1/ask", json={"question": zed})
            assert r.status_code == 200 and r.json()["citations"][0]["speaker"] == "Zed Quill", r.text
            assert http.get("/v1/health").json()["documents"] == MEETINGS + 1
        assert live.refreshed().ask(zed).citations[0].speaker == "Zed Quill"
        assert len(held.documents) == MEETINGS  # the held pipeline still reads its own generation
    finally:
        writer.kill()
        server.terminate()
        server.wait(timeout=20)
    assert seen == {MEETINGS, MEETINGS + 1}  # the live pipeline followed the adds and the removes
    assert min(counts.values()) > 20, counts
    print(f"\n13 builds under readers: {counts} questions, 0 errors, 0 corrupt")


def test_a_newer_generation_that_does_not_load_or_changes_model_is_skipped(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    class Other(FakeEmbedder):
        name = "other-fake-384"

    out = tmp_path / "index"
    build_index([SEEDS], out, embedder=FakeEmbedder())
    pipe = Pipeline.load(out, embedder=FakeEmbedder())
    assert pipe.refreshed() is pipe  # nothing changed: one stat
    build_index([SEEDS, DATA / "panel.txt"], out, embedder=FakeEmbedder())
    damage(out / "documents.jsonl", "truncate")
    with caplog.at_level("WARNING", logger="rag.index"):
        assert pipe.refreshed() is pipe and pipe.ask(HELSINKI).citations[0].speaker == "Dannenberg"
    assert "documents.jsonl is" in caplog.text and "still answering from the generation loaded before" in caplog.text
    build_index([SEEDS, DATA / "panel.txt"], out, embedder=FakeEmbedder())  # repaired
    newer = pipe.refreshed()
    assert newer is not pipe and newer is pipe.refreshed() and "panel" in newer.documents
    assert newer.ask(HELSINKI).citations[0].speaker == "Dannenberg"
    build_index([SEEDS], out, embedder=Other(), prune=True)
    caplog.clear()
    with caplog.at_level("WARNING", logger="rag.index"):
        assert pipe.refreshed() is newer
    assert (
        "was rebuilt with model 'other-fake-384'; still answering with 'fake-hash-384' until restarted" in caplog.text
    )


@pytest.mark.slow
def test_rag_serve_outlives_rag_add_build_and_remove(tmp_path: Path) -> None:
    """As a user runs them: `rag serve` answering while `rag add`, `rag build`, `rag remove` run in a shell."""
    import httpx

    from tests.conftest import free_port

    MEETINGS = 80  # over rag.documents.CACHED
    GONE = ("m005", "m010")
    corpus, early = tmp_path / "corpus", tmp_path / "a-early"  # "../a-early" sorts before "../corpus"
    corpus.mkdir()
    early.mkdir()
    for i in range(MEETINGS):
        (corpus / f"m{i:03d}.txt").write_text(
            f"Chair{i}: Welcome to meeting {i}.\n\nBob{i} Lane: The harbour{i} needs rebuilding before winter.\n\n"
            f"Carol{i} Diaz: I disagree about the budget{i}, it is far too small.\n",
            encoding="utf-8",
        )
    (early / "aaa.txt").write_text(
        "Zed Quill: Zebras crossed the harbour road at dawn.\n\nYann Ode: Yaks do not swim.\n", encoding="utf-8"
    )
    out = tmp_path / "index"

    def rag(*args: str) -> None:
        done = subprocess.run([sys.executable, "-m", "rag", *args, "--index", str(out)], env=ENV, cwd=ROOT,
                              capture_output=True, text=True, timeout=600)  # fmt: skip
        assert done.returncode == 0, done.stderr

    rag("build", str(corpus))
    port = free_port()
    server = _start_server([sys.executable, "-m", "rag", "serve", "--index", str(out), "--port", str(port)], port)
    stop = threading.Event()
    errors: list[str] = []
    asked = 0

    def client() -> None:
        nonlocal asked
        with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=60) as http:
            while not stop.is_set():
                i = asked % MEETINGS
                if f"m{i:03d}" in GONE:  # removed for a while: "not in the transcripts" is right then
                    i += 1
                r = http.post("/v1/ask", json={"question": f"What did Bob{i} Lane say about the harbour{i}?"})
                body = r.json()
                if r.status_code != 200 or not body["citations"] or body["citations"][0]["speaker"] != f"Bob{i} Lane":
                    errors.append(f"{r.status_code} {str(body)[:200]}")
                r = http.post("/v1/search", json={"query": f"harbour{i}", "k": 3})  # reads the documents' text
                body = r.json()
                if r.status_code != 200 or f"harbour{i} needs" not in body["hits"][0]["passage"]:
                    errors.append(f"{r.status_code} {str(body)[:200]}")
                asked += 1

    thread = threading.Thread(target=client)
    thread.start()
    try:
        for gone in GONE:  # each build moves the lines of documents.jsonl that the server reads
            rag("remove", gone)
            rag("add", str(early / "aaa.txt"))
            with (corpus / "m003.txt").open("a", encoding="utf-8") as f:
                f.write("Carol3 Diaz: And one more thing about the budget3.\n")
            rag("build")  # m003 changed: every later line moves
            rag("remove", "aaa")
            rag("add", str(corpus / f"{gone}.txt"))  # back, now at the end
        rag("add", str(early / "aaa.txt"))
        stop.set()
        thread.join(timeout=120)
        with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=60) as http:
            zed = http.post("/v1/ask", json={"question": "What did Zed Quill say about zebras?"}).json()
            documents = http.get("/v1/health").json()["documents"]
    finally:
        stop.set()
        server.terminate()
        server.wait(timeout=20)
    corrupt = [e for e in errors if "corrupt" in e]
    assert not errors, (f"{len(errors)} errors ({len(corrupt)} corrupt) in {asked}", errors[:3])
    assert asked > 20 and documents == MEETINGS + 1 and zed["citations"][0]["speaker"] == "Zed Quill"
    print(f"\nrag serve through 11 CLI builds: {asked} questions, 0 errors, 0 corrupt")


# --- real full, read-only and unwritable targets (mounted for the test; skipped where not allowed) --


@contextmanager
def _mount(where: Path, *args: str) -> Iterator[Path]:
    """`mount ARGS WHERE` for the test, always unmounted after it; skips where mounting is not allowed."""
    where.mkdir(parents=True, exist_ok=True)
    if shutil.which("mount") is None or os.geteuid() != 0:
        pytest.skip("mounting needs root and mount(8)")
    done = subprocess.run(["mount", *args, str(where)], capture_output=True, text=True)
    if done.returncode != 0:
        pytest.skip(f"mounting is not permitted here ({done.stderr.strip()})")
    try:
        yield where
    finally:
        if subprocess.run(["umount", str(where)], capture_output=True).returncode != 0:
            subprocess.run(["umount", "-l", str(where)], capture_output=True)


def _fill(folder: Path) -> Path:
    """Write zeros into `folder` until its file system has no byte left."""
    fill = folder / "fill"
    with fill.open("wb", buffering=0) as f:
        for block in (1 << 20, 4096, 1):
            try:
                while True:
                    f.write(b"\0" * block)
            except OSError as err:
                assert err.errno == errno.ENOSPC, err
    return fill


def _rag(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "rag", *args], env=env or ENV, cwd=ROOT, capture_output=True, text=True, timeout=300
    )


def _snapshot(index: Path) -> dict[str, bytes]:
    return {p.relative_to(index).as_posix(): p.read_bytes() for p in sorted(index.rglob("*")) if p.is_file()}


def test_a_disk_already_full_is_one_line_and_keeps_the_index(tmp_path: Path) -> None:
    with _mount(tmp_path / "small", "-t", "tmpfs", "-o", "size=110m", "tmpfs") as disk:  # a build asks ~100 MB
        out = disk / "index"
        build_index([SEEDS], out, embedder=FakeEmbedder())
        before = _snapshot(out)
        fill = _fill(disk)
        for args in (("build", str(SEEDS), str(DATA / "panel.txt")), ("add", str(DATA / "panel.txt"))):
            done = _rag(*args, "--index", str(out))
            assert done.returncode == 1 and done.stderr.count("\n") == 1, done.stderr
            assert done.stderr == (
                f"rag: error: cannot write in {disk}/ (No space left on device); "
                "free some space or choose another --index\n"
            )
        assert _snapshot(out) == before
        fill.unlink()
        assert Pipeline.load(out, embedder=FakeEmbedder()).ask(HELSINKI).citations[0].speaker == "Dannenberg"


FILLED_DURING = textwrap.dedent(
    """
    import sys, time
    from pathlib import Path
    import rag.build, rag.cli
    from tests.conftest import FakeEmbedder

    class Slow(FakeEmbedder):  # the model stands in; the write path under test is the real one
        def embed(self, texts):
            Path(sys.argv[1]).touch()
            time.sleep(1.0)
            return super().embed(texts)

    rag.build.load_embedder = lambda *args, **kwargs: Slow()
    sys.exit(rag.cli.main(sys.argv[2:]))
    """
)


def test_a_disk_that_fills_during_a_build_is_one_line_and_keeps_the_index(tmp_path: Path) -> None:
    with _mount(tmp_path / "small", "-t", "tmpfs", "-o", "size=110m", "tmpfs") as disk:  # the build asks for ~100 MB
        out = disk / "index"
        build_index([SEEDS], out, embedder=FakeEmbedder())
        before = _snapshot(out)
        started = tmp_path / "embedding"
        build = subprocess.Popen(
            [sys.executable, "-c", FILLED_DURING, str(started), "build", str(SEEDS), str(DATA), "--index", str(out)],
            env=ENV,
            cwd=ROOT,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        _wait_for(started.exists)
        fill = _fill(disk)  # after the free-space check, before the index is written
        _, err = build.communicate(timeout=300)
        assert build.returncode == 1 and err == (
            f"rag: error: could not write the index to {out}/ (No space left on device); "
            "the previous index is unchanged; free some space or choose another --index\n"
        ), err
        assert _snapshot(out) == before
        assert not list(disk.glob(".index.tmp-*"))
        fill.unlink()
        assert Pipeline.load(out, embedder=FakeEmbedder()).ask(HELSINKI).citations[0].speaker == "Dannenberg"


def test_a_read_only_mount_is_one_line_and_keeps_the_index(tmp_path: Path) -> None:
    source = tmp_path / "disk"
    build_index([SEEDS], source / "index", embedder=FakeEmbedder())
    with _mount(tmp_path / "ro", "--bind", str(source)) as ro:
        subprocess.run(["mount", "-o", "remount,bind,ro", str(ro)], check=True)
        out = ro / "index"
        before = _snapshot(out)
        for args in (("build", str(SEEDS), str(DATA / "panel.txt")), ("add", str(DATA / "panel.txt"))):
            done = _rag(*args, "--index", str(out))
            assert done.returncode == 1 and done.stderr == (
                f"rag: error: cannot write in {ro}/ (Read-only file system); "
                "the file system is read-only; choose another --index\n"
            ), done.stderr
        assert _snapshot(out) == before
        assert Pipeline.load(out, embedder=FakeEmbedder()).ask(HELSINKI).citations[0].speaker == "Dannenberg"


def test_an_unwritable_target_is_one_line() -> None:
    done = _rag("build", str(SEEDS), "--index", "/proc/x")
    assert done.returncode == 1 and done.stderr == (
        "rag: error: cannot write in /proc/ (No such file or directory); choose another --index\n"
    ), done.stderr
