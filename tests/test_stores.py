"""The store contract: the same retrieval tests against every store.

Stores: FAISS files (the default), Milvus Lite embedded in the index directory, and Milvus Lite
served by `milvus-lite server` on a loopback port, reached by URI as a Milvus cluster would be.
Each must give the rows, scores, filters and answers the FAISS reference gives, and keep them
through incremental builds and deletes.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from rag import Pipeline, RagError, build_index
from rag.index import Index
from rag.text import tokenize
from tests.conftest import DATA, ROOT, SEEDS, FakeEmbedder, free_port

pytest.importorskip("pymilvus")
pytest.importorskip("milvus_lite")

QUESTIONS = [json.loads(line)["question"] for line in (ROOT / "eval" / "sets" / "seed.jsonl").read_text().splitlines()]
QUERIES = ["Putin Helsinki meeting", "war in Ukraine", "budget figures Friday", "don't know über", "sanctions"]
STORES = ["faiss", "milvus-lite", "milvus-server"]


@pytest.fixture(scope="module")
def milvus_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """`milvus-lite server` on a free loopback port, stopped after the module."""
    port = free_port()
    data = tmp_path_factory.mktemp("milvus-server")
    exe = Path(sys.executable).parent / "milvus-lite"
    proc = subprocess.Popen(
        [str(exe), "server", "--data-dir", str(data), "--host", "127.0.0.1", "--port", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    try:
        deadline = time.monotonic() + 60
        while True:
            assert proc.poll() is None, f"milvus-lite server exited: {proc.stderr.read() if proc.stderr else ''}"
            with socket.socket() as s:
                if s.connect_ex(("127.0.0.1", port)) == 0:
                    break
            assert time.monotonic() < deadline, "milvus-lite server did not start in 60 s"
            time.sleep(0.1)
        yield f"http://127.0.0.1:{port}"
    finally:
        proc.terminate()
        proc.wait(timeout=30)


def _spec(store: str, server: str) -> dict[str, Any]:
    if store == "faiss":
        return {"kind": "faiss"}
    if store == "milvus-lite":
        return {"kind": "milvus"}
    return {"kind": "milvus", "uri": server}


SOURCES = [SEEDS, *sorted(p for p in DATA.iterdir() if p.is_file())]


@pytest.fixture(scope="module")
def reference(tmp_path_factory: pytest.TempPathFactory) -> Index:
    out = tmp_path_factory.mktemp("reference") / "index"
    build_index(SOURCES, out, embedder=FakeEmbedder())
    return Index.load(out)


def _built(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Path:
    server = request.getfixturevalue("milvus_server") if request.param == "milvus-server" else ""
    out = tmp_path_factory.mktemp(request.param) / "index"
    build_index(SOURCES, out, embedder=FakeEmbedder(), store=_spec(request.param, server))
    return out


@pytest.fixture(scope="module", params=STORES)
def built(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Path:
    return _built(request, tmp_path_factory)


@pytest.fixture(scope="module", params=STORES[1:])
def milvus_built(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Path:
    return _built(request, tmp_path_factory)


def test_the_manifest_names_the_store(built: Path) -> None:
    manifest = json.loads((built / "manifest.json").read_text())
    kind = manifest["store"]["kind"]
    assert kind == ("faiss" if built.parent.name.startswith("faiss") else "milvus")
    if kind == "milvus":
        assert manifest["store"]["collection"].startswith("rag_index_")
        assert (built / "milvus.db").is_dir() == (manifest["store"]["uri"] == "milvus.db")


def test_dense_search_is_exact(built: Path, reference: Index) -> None:
    index = Index.load(built)
    every = np.arange(len(reference.chunks))
    matrix = reference.vectors(every)
    for q in QUERIES:
        v = FakeEmbedder().embed([q])[0]
        ids, scores = index.dense(v, n=8)
        brute = matrix @ v
        assert np.allclose(scores, np.sort(brute)[::-1][:8], atol=1e-5), q
        assert np.allclose(brute[ids], scores, atol=1e-5), q
        assert np.allclose(index.similarity(v, ids), scores, atol=1e-5)


def test_lexical_search_scores_as_bm25s(built: Path, reference: Index) -> None:
    index = Index.load(built)
    for q in QUERIES:
        terms = tokenize(q)
        ids, scores = index.lexical(terms, n=10)
        ref_ids, ref_scores = reference.lexical(terms, n=10)
        assert ids.tolist() == ref_ids.tolist(), q
        assert np.allclose(scores, ref_scores, rtol=1e-4), q
        assert np.allclose(index.lexical_of(terms, ref_ids), ref_scores, rtol=1e-4)


@pytest.mark.parametrize(
    "how", [{"speakers": ["Dannenberg"]}, {"doc_id": "panel"}, {"speakers": ["Maria Lopez"], "doc_id": "panel"}]
)
def test_filters_keep_to_their_rows(built: Path, reference: Index, how: dict[str, Any]) -> None:
    index = Index.load(built)
    rows = index.rows(**how)
    assert rows is not None and len(rows) > 0
    allowed = set(rows.ids.tolist())
    for q in QUERIES:
        v = FakeEmbedder().embed([q])[0]
        ids, _ = index.dense(v, n=50, rows=rows)
        assert set(ids.tolist()) <= allowed and len(ids) == min(50, len(allowed))
        assert ids.tolist() == reference.dense(v, n=50, rows=reference.rows(**how))[0].tolist()
        lex, _ = index.lexical(tokenize(q), n=50, rows=rows)
        assert lex.tolist() == reference.lexical(tokenize(q), n=50, rows=reference.rows(**how))[0].tolist()


def test_people_filters_keep_to_each_persons_documents(built: Path, reference: Index) -> None:
    index = Index.load(built)
    people = [p for p in index.people() if p.doc_ids][:3]
    rows = index.rows(people=people)
    assert rows is not None and len(rows) > 0
    v = FakeEmbedder().embed(["what happened next"])[0]
    ids, _ = index.dense(v, n=30, rows=rows)
    assert ids.tolist() == reference.dense(v, n=30, rows=reference.rows(people=people))[0].tolist()


def test_every_seed_question_gets_the_same_answer(built: Path, reference: Index) -> None:
    """Answers, citations and offsets are identical whichever store holds the vectors."""
    mine = Pipeline(Index.load(built), FakeEmbedder())
    ref = Pipeline(reference, FakeEmbedder())
    for q in QUESTIONS:
        assert mine.ask(q).to_dict() == ref.ask(q).to_dict(), q
    for q in QUESTIONS[:20]:
        assert [h.chunk.chunk_id for h in mine.search(q, k=8)] == [h.chunk.chunk_id for h in ref.search(q, k=8)]


@pytest.mark.parametrize("store", STORES)
def test_incremental_builds_and_deletes_keep_the_store_in_step(
    store: str, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    server = request.getfixturevalue("milvus_server") if store == "milvus-server" else ""
    src = tmp_path / "src"
    src.mkdir()
    for p in SOURCES:
        if p.is_file():
            shutil.copy(p, src / p.name)
        else:
            shutil.copytree(p, src / p.name)
    out = tmp_path / "index"
    spec = {**_spec(store, server), "collection": f"incremental_{store.replace('-', '_')}"}
    build_index([src], out, embedder=FakeEmbedder(), store=spec)
    (src / "panel.txt").write_text("MARIA LOPEZ: The budget moves to Friday.\nJAMES OKAFOR: Finance agrees.\n")
    (src / "wrapped.txt").unlink()
    report = build_index([src], out, embedder=FakeEmbedder(), prune=True)
    assert report.changed == ("panel",) and report.removed == ("wrapped",) and report.embedded == 2
    fresh = tmp_path / "fresh"
    build_index([src], fresh, embedder=FakeEmbedder())
    a, b = Index.load(out), Index.load(fresh)
    assert a.manifest["store"]["kind"] == spec["kind"]  # kept without asking again
    assert list(a.chunks) == list(b.chunks)
    every = np.arange(len(a.chunks))
    assert np.allclose(a.vectors(every), b.vectors(every), atol=1e-6)
    if spec["kind"] == "milvus":
        held = a.store.client.query(a.store.name, filter="", output_fields=["count(*)"])[0]["count(*)"]  # type: ignore[attr-defined]
        assert held == len(a.chunks)  # the changed and removed documents' old rows are gone
    pa, pb = Pipeline(a, FakeEmbedder()), Pipeline(b, FakeEmbedder())
    for q in ["What did Maria Lopez say about the budget?", *QUESTIONS[:15]]:
        assert pa.ask(q).to_dict() == pb.ask(q).to_dict(), q


def test_a_lost_collection_is_one_line_naming_the_fix(tmp_path: Path) -> None:
    out = tmp_path / "index"
    build_index([SEEDS], out, embedder=FakeEmbedder(), store={"kind": "milvus"})
    index = Index.load(out)
    index.store.client.drop_collection(index.store.name)  # type: ignore[attr-defined]
    with pytest.raises(
        RagError, match=r"the Milvus collection rag_index_\w+ at .*milvus.db is missing; run: rag build"
    ):
        Index.load(out)
    report = build_index([SEEDS], out, embedder=FakeEmbedder())  # the repair: embedded again
    assert report.embedded == report.chunks > 0
    assert Pipeline.load(out, embedder=FakeEmbedder()).ask("What did Dannenberg say about Helsinki?").answerable


def test_a_database_open_in_another_process_is_one_line(tmp_path: Path) -> None:
    out = tmp_path / "index"
    build_index([SEEDS], out, embedder=FakeEmbedder(), store={"kind": "milvus"})
    from milvus_lite.server_manager import server_manager_instance

    server_manager_instance.release_all()  # this process lets go; another one takes it
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            f"from pymilvus import MilvusClient; MilvusClient({str(out / 'milvus.db')!r}); "
            "print('open', flush=True); import time; time.sleep(60)",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
        env={**os.environ, "HF_HUB_OFFLINE": "1"},
    )
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "open"
        with pytest.raises(
            RagError, match=r"milvus.db is open in another process .* --milvus-uri http://127.0.0.1:PORT"
        ):
            Index.load(out)
    finally:
        holder.kill()
        holder.wait()


@pytest.mark.slow
def test_cli_build_with_milvus_then_ask_without_flags(tmp_path: Path) -> None:
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "PYTHONPATH": str(ROOT)}

    def rag(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([sys.executable, "-m", "rag", *args], capture_output=True, text=True, env=env, cwd=ROOT)

    out = tmp_path / "index"
    bad = rag("build", str(SEEDS), "--index", str(out), "--store", "faiss", "--milvus-uri", "http://x:1")
    assert bad.returncode == 1 and bad.stderr.strip().splitlines() == [
        "rag: error: --milvus-uri, --milvus-token-env and --milvus-collection go with --store milvus"
    ]
    unset = rag("build", str(SEEDS), "--index", str(out), "--store", "milvus", "--milvus-token-env", "RAG_NO_SUCH_VAR")
    assert unset.returncode == 1 and "RAG_NO_SUCH_VAR is empty or unset; export it first" in unset.stderr
    ok = rag("build", str(SEEDS), "--index", str(out), "--store", "milvus")
    assert ok.returncode == 0, ok.stderr
    assert "Traceback" not in ok.stderr and "Method not implemented" not in ok.stderr
    ask = rag("ask", "What did Dannenberg say about Helsinki?", "--index", str(out), "--json")
    assert ask.returncode == 0, ask.stderr
    assert json.loads(ask.stdout)["citations"][0]["speaker"] == "Dannenberg"
    again = rag("build", "--index", str(out))
    assert again.returncode == 0 and "up to date" in again.stdout


@pytest.mark.slow
def test_the_seed_evaluation_is_the_same_on_milvus(real_pipe: Pipeline, tmp_path: Path) -> None:
    """The seed question set with the real model: the Milvus-backed index (Milvus Lite, embedded)
    gives every answer, citation and retrieval figure the FAISS one gives."""
    from rag.evaluate import run_eval

    out = tmp_path / "index"
    build_index([SEEDS], out, store={"kind": "milvus"})
    milvus = Pipeline.load(out)
    assert milvus.index.manifest["store"]["kind"] == "milvus"
    seed = ROOT / "eval" / "sets" / "seed.jsonl"
    a = run_eval(seed, pipe=milvus, out=None)
    b = run_eval(seed, pipe=real_pipe, out=None)
    assert [r["answer"] for r in a.records] == [r["answer"] for r in b.records]
    assert [r["citations"] for r in a.records] == [r["citations"] for r in b.records]
    timing = {"ask_ms_p50", "ask_ms_p95", "search_ms_p50", "search_ms_p95"}
    figures = {k: v for k, v in a.summary["overall"].items() if k not in timing}
    assert figures == {k: v for k, v in b.summary["overall"].items() if k not in timing}
    assert a.summary["overall"]["hit@5"] >= 0.98 and a.summary["overall"]["accuracy"] >= 0.95


def test_filter_expressions_select_what_the_table_selects(
    milvus_built: Path, reference: Index, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Large filters go to Milvus as expressions over doc_id and people, not as keys: forced here."""
    import rag.milvus

    index = Index.load(milvus_built)
    assert index.manifest["store"]["kind"] == "milvus"
    monkeypatch.setattr(rag.milvus, "KEYS_IN_FILTER", 0)
    people = [p for p in index.people() if p.doc_ids][:3]
    for how in ({"speakers": ["Dannenberg"]}, {"doc_id": "panel"}, {"people": people}):
        rows = index.rows(**how)  # type: ignore[arg-type]
        assert rows is not None and rows.where
        v = FakeEmbedder().embed(["the budget and the war"])[0]
        ids, _ = index.dense(v, n=100, rows=rows)
        assert set(ids.tolist()) <= set(rows.ids.tolist())
        assert len(ids) == min(100, len(rows))
        assert ids.tolist() == reference.dense(v, n=100, rows=reference.rows(**how))[0].tolist()  # type: ignore[arg-type]


def test_an_unreachable_server_is_one_line_before_any_embedding(tmp_path: Path) -> None:
    class Counting(FakeEmbedder):
        calls = 0

        def embed(self, texts: Any) -> np.ndarray:
            Counting.calls += 1
            return super().embed(texts)

    out = tmp_path / "index"
    uri = f"http://127.0.0.1:{free_port()}"  # nothing listens there
    with pytest.raises(
        RagError, match=rf"cannot reach Milvus at {uri} .*; start it, or build with another --milvus-uri"
    ):
        build_index([SEEDS], out, embedder=Counting(), store={"kind": "milvus", "uri": uri})
    assert Counting.calls == 0 and not out.exists()
