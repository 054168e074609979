"""The index: exact search matches brute force, save/load round-trips, corruption is caught."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest

import rag.store
from rag import IndexCorruptError, IndexNotFoundError, Pipeline, Settings, build_index
from rag.index import Index, tokenize
from rag.table import ChunkTable
from tests.conftest import DATA, SEEDS, FakeEmbedder


def test_tokenize() -> None:
    assert tokenize("What did Dannenberg say about Helsinki?") == ["dannenberg", "helsinki"]
    assert tokenize("Putin’s preparations {disfmarker} prepared") == ["putin", "prepar", "prepar"]


def test_dense_top_k_equals_brute_force(fake_index: Path) -> None:
    index = Index.load(fake_index)
    q = FakeEmbedder().embed(["Helsinki meeting preparation notetakers"])[0]
    ids, scores = index.dense(q, n=7)
    brute = index.vectors(np.arange(len(index.chunks))) @ q
    expected = np.argsort(-brute, kind="stable")[:7]
    assert np.allclose(scores, brute[expected], atol=1e-6)
    assert set(ids.tolist()) == set(expected.tolist())


def test_filtered_search_stays_inside_the_rows(fake_index: Path) -> None:
    index = Index.load(fake_index)
    rows = index.rows(speakers=["Dannenberg"])
    assert rows is not None and len(rows) > 0
    inside = rows.ids.tolist()
    assert all(index.chunks[r].speaker == "Dannenberg" or "Dannenberg" in index.chunks[r].quoted for r in inside)
    everyone = [r for r, c in enumerate(index.chunks) if c.speaker == "Dannenberg" or "Dannenberg" in c.quoted]
    assert inside == everyone
    q = FakeEmbedder().embed(["Putin"])[0]
    ids, _ = index.dense(q, n=50, rows=rows)
    assert set(ids.tolist()) <= set(inside)
    ids, scores = index.lexical(tokenize("Putin war"), n=50, rows=rows)
    assert set(ids.tolist()) <= set(inside) and (scores > 0).all()
    doc_rows = index.rows(doc_id="panel")
    assert doc_rows is not None and {index.chunks[r].doc_id for r in doc_rows.ids.tolist()} == {"panel"}
    assert doc_rows.where == 'doc_id == "panel"'
    assert rows.where == 'array_contains_any(people, ["Dannenberg"])'


def test_hnsw_above_the_threshold_matches_exact(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(rag.store, "HNSW_THRESHOLD", 5)
    out = tmp_path / "index"
    build_index([SEEDS], out, embedder=FakeEmbedder())
    index = Index.load(out)
    assert index.manifest["index_type"] == "hnsw"
    q = FakeEmbedder().embed(["Helsinki"])[0]
    ids, _ = index.dense(q, n=3)
    assert ids[0] == int(np.argmax(index.vectors(np.arange(len(index.chunks))) @ q))
    rows = np.array([1, 2, 3], dtype=np.int64)
    big = np.arange(len(index.chunks), dtype=np.int64)
    assert set(index.dense(q, n=3, rows=rows)[0].tolist()) <= {1, 2, 3}
    assert len(index.dense(q, n=3, rows=big)[0]) == 3


def test_save_load_round_trip(fake_index: Path, tmp_path: Path) -> None:
    a = Index.load(fake_index)
    a.save(tmp_path / "copy")
    b = Index.load(tmp_path / "copy")
    assert list(a.chunks) == list(b.chunks) and len(a.chunks) > 10
    assert dict(a.transcripts) == dict(b.transcripts)
    every = np.arange(len(a.chunks))
    assert np.array_equal(a.vectors(every), b.vectors(every))
    assert a.store.document_frequencies() == b.store.document_frequencies()
    assert np.array_equal(a.lexical_of(["helsinki"], every), b.lexical_of(["helsinki"], every))


@pytest.fixture
def broken(fake_index: Path, tmp_path: Path) -> Path:
    out = tmp_path / "index"
    shutil.copytree(fake_index, out)
    return out


def test_missing_index(tmp_path: Path) -> None:
    with pytest.raises(IndexNotFoundError, match=r"no index at .*nowhere/; run: rag build --index"):
        Index.load(tmp_path / "nowhere")


def test_truncated_faiss_file(broken: Path) -> None:
    data = (broken / "vectors.faiss").read_bytes()
    (broken / "vectors.faiss").write_bytes(data[: len(data) // 2])
    with pytest.raises(
        IndexCorruptError, match=r"vectors.faiss is [\d,]+ bytes, the build wrote [\d,]+; run: rag build"
    ):
        Index.load(broken)
    with pytest.raises(IndexCorruptError, match="vectors.faiss is corrupt or truncated; run: rag build"):
        Index.load(broken, check=False)  # the loader itself still refuses it


def test_missing_file(broken: Path) -> None:
    (broken / "chunks" / "rows.npy").unlink()
    with pytest.raises(IndexCorruptError, match="chunks/rows.npy is missing"):
        Index.load(broken)


def test_garbage_chunk_table(broken: Path) -> None:
    rows = broken / "chunks" / "rows.npy"
    rows.write_bytes(b"{not numpy\n")
    with pytest.raises(IndexCorruptError, match="chunks/rows.npy is .* bytes, the build wrote"):
        Index.load(broken)
    with pytest.raises(IndexCorruptError, match="chunks/rows.npy is unreadable"):
        Index.load(broken, check=False)


def test_a_changed_chunk_record_is_caught_at_load(broken: Path) -> None:
    """A speaker id flipped inside rows.npy (same size, still valid numpy) must not quietly change
    who said what: the table's checksum refuses it."""
    table = ChunkTable.load(broken / "chunks", mmap=False)
    records = table.records.copy()
    records["speaker"][0] = (records["speaker"][0] + 1) % len(table.names)
    np.save(broken / "chunks" / "rows.npy", records)
    with pytest.raises(IndexCorruptError, match=r"rows.npy does not match its checksum \(.*\); run: rag build"):
        Index.load(broken)


def test_chunk_count_mismatch(broken: Path) -> None:
    table = ChunkTable.load(broken / "chunks", mmap=False)
    n = len(table)
    ChunkTable.from_chunks(list(table)[:-1]).save(broken / "chunks")
    with pytest.raises(IndexCorruptError, match="chunks/.* is .* bytes"):
        Index.load(broken)
    with pytest.raises(IndexCorruptError, match=f"and {n - 1} chunks on disk, the manifest lists"):
        Index.load(broken, check=False)


def test_chunk_table_round_trips_every_field(fake_index: Path, tmp_path: Path) -> None:
    (tmp_path / "notes.txt").write_text("The hall was full. Nobody had a label here; this is narration only.\n")
    sources = [SEEDS, DATA, DATA / "formats", tmp_path / "notes.txt"]
    build_index(sources, tmp_path / "index", embedder=FakeEmbedder(), settings=Settings(max_tokens=50))
    chunks = list(Index.load(tmp_path / "index").chunks)
    assert any(c.quoted for c in chunks) and any(c.speaker is None for c in chunks)
    assert any(c.time_start is not None for c in chunks) and any(c.parts > 1 for c in chunks)
    table = ChunkTable.from_chunks(chunks)
    table.save(tmp_path / "t")
    again = ChunkTable.load(tmp_path / "t", mmap=True)
    assert list(again) == chunks
    assert [again.find(c.chunk_id) for c in chunks] == list(range(len(chunks)))
    assert again.find("nope#1.1") is None and again.find("garbage") is None


def test_unreadable_manifest(broken: Path) -> None:
    (broken / "manifest.json").write_text("[1, 2")
    with pytest.raises(IndexCorruptError, match="manifest.json is unreadable"):
        Index.load(broken)


def test_other_model_is_refused(broken: Path) -> None:
    manifest = json.loads((broken / "manifest.json").read_text())
    manifest["model"] = "bge-small-en"
    (broken / "manifest.json").write_text(json.dumps(manifest))
    from rag import IndexMismatchError

    with pytest.raises(IndexMismatchError, match="built with 'bge-small-en', settings ask for 'all-MiniLM-L6-v2'"):
        Pipeline.load(broken)


def test_data_fixture_has_all_formats(fake_index: Path) -> None:
    index = Index.load(fake_index)
    assert {"meeting", "panel", "qa-interview", "wrapped", "cipher-brief-trump-putin-call"} == set(index.transcripts)
    assert all(index.document(c.doc_id).text[c.start : c.end] == c.text for c in index.chunks)
    assert DATA.exists()


def test_saved_postings_score_exactly_as_bm25s(fake_index: Path) -> None:
    """Queries read BM25 from the saved posting lists (no bm25s, no scipy); the scores are bm25s's."""
    import random
    import subprocess
    import sys

    import bm25s
    import numpy as np

    from rag.postings import Postings

    reference = bm25s.BM25.load(str(fake_index / "bm25"), show_progress=False)
    postings = Postings.load(fake_index / "bm25", mmap=True)
    vocab = [t for t in reference.vocab_dict if t]
    rnd = random.Random(7)
    for _ in range(200):
        terms = [rnd.choice(vocab) for _ in range(rnd.randint(1, 6))]
        assert np.array_equal(reference.get_scores(terms), postings.get_scores(terms)), terms
    assert postings.get_scores([""]).sum() == 0  # bm25s keeps "" in the vocabulary with no postings
    code = (
        "import sys; from rag.index import Index; i = Index.load(sys.argv[1]); i.lexical(['helsinki'], n=3); "
        "print('bm25s' in sys.modules, 'scipy' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", code, str(fake_index)], capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["False", "False"]
