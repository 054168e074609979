"""Building: incremental, atomic, interrupted, and fed bad sources."""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import pytest

from rag import Pipeline, Settings, SourceError, build_index
from rag.index import Index
from tests.conftest import DATA, ROOT, FakeEmbedder


def _manifest(path: Path) -> dict:  # type: ignore[type-arg]
    return json.loads((path / "manifest.json").read_text())


def test_incremental_build_embeds_only_what_changed(seed_copy: Path, tmp_path: Path) -> None:
    (seed_copy / "panel.txt").write_bytes((DATA / "panel.txt").read_bytes())
    out = tmp_path / "index"
    first = FakeEmbedder()
    r1 = build_index([seed_copy], out, embedder=first)
    assert set(r1.added) == {"cipher-brief-trump-putin-call", "panel"} and r1.embedded == r1.chunks

    same = FakeEmbedder()
    r2 = build_index([seed_copy], out, embedder=same)
    assert r2.is_noop and same.calls == 0 and r2.chunks == r1.chunks

    (seed_copy / "panel.txt").write_text(
        (DATA / "panel.txt").read_text() + "\nPriya Nair: And one more thing about bikes.\n"
    )
    changed = FakeEmbedder()
    r3 = build_index([seed_copy], out, embedder=changed)
    index = Index.load(out)
    panel = [i for i, c in enumerate(index.chunks) if c.doc_id == "panel"]
    assert index.sentences is not None
    panel_sentences = sum(len(index.sentences.of(i)[0]) for i in panel)
    assert r3.changed == ("panel",) and r3.kept == ("cipher-brief-trump-putin-call",)
    # the changed document's chunks and their sentences are embedded; the kept one's are reused
    assert r3.embedded == len(panel) and changed.embedded == len(panel) + panel_sentences

    (seed_copy / "panel.txt").unlink()
    r4 = build_index([seed_copy], out, embedder=FakeEmbedder())
    assert r4.removed == ("panel",) and r4.embedded == 0
    assert {c.doc_id for c in Index.load(out).chunks} == {"cipher-brief-trump-putin-call"}


def test_reused_vectors_equal_fresh_ones(seed_copy: Path, tmp_path: Path) -> None:
    (seed_copy / "panel.txt").write_bytes((DATA / "panel.txt").read_bytes())
    out = tmp_path / "index"
    build_index([seed_copy], out, embedder=FakeEmbedder())
    (seed_copy / "panel.txt").write_text("MARIA LOPEZ: Changed.\nJAMES OKAFOR: Yes.\n")
    build_index([seed_copy], out, embedder=FakeEmbedder())
    index = Index.load(out)
    rows = [i for i, c in enumerate(index.chunks) if c.doc_id == "cipher-brief-trump-putin-call"]
    fresh = FakeEmbedder().embed([index.chunks[i].embed_text for i in rows])
    assert abs(index.vectors(np.array(rows)) - fresh).max() < 1e-6


def test_changed_settings_rebuild_everything(seed_copy: Path, tmp_path: Path) -> None:
    out = tmp_path / "index"
    build_index([seed_copy], out, embedder=FakeEmbedder())
    again = FakeEmbedder()
    report = build_index([seed_copy], out, embedder=again, settings=Settings(max_tokens=100))
    assert report.embedded == report.chunks > 0 and again.calls > 0
    assert _manifest(out)["chunking"]["max_tokens"] == 100


def test_interrupted_build_leaves_the_old_index(seed_copy: Path, tmp_path: Path) -> None:
    out = tmp_path / "index"
    build_index([seed_copy], out, embedder=FakeEmbedder())
    before = (out / "manifest.json").read_text()
    (seed_copy / "panel.txt").write_bytes((DATA / "panel.txt").read_bytes())

    def stop(stage: str, done: int, total: int) -> None:
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        build_index([seed_copy], out, embedder=FakeEmbedder(), progress=stop)
    assert (out / "manifest.json").read_text() == before
    assert Pipeline.load(out, embedder=FakeEmbedder()).search("Helsinki")
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".index")] == [
        ".index.lock"
    ]  # the writer lock, empty


@pytest.mark.parametrize(
    ("name", "content", "message"),
    [
        ("blob.txt", b"\x00\x01\x02binary", "looks binary"),
        ("latin.txt", "Ann: caf\u00e9".encode("latin-1"), "not valid UTF-8"),
        ("empty.txt", b"", "is empty"),
    ],
)
def test_a_bad_source_changes_nothing(seed_copy: Path, tmp_path: Path, name: str, content: bytes, message: str) -> None:
    out = tmp_path / "index"
    build_index([seed_copy], out, embedder=FakeEmbedder())
    before = {p.name: p.read_bytes() for p in out.iterdir() if p.is_file()}
    (seed_copy / name).write_bytes(content)
    with pytest.raises(SourceError, match=message):
        build_index([seed_copy], out, embedder=FakeEmbedder())
    assert {p.name: p.read_bytes() for p in out.iterdir() if p.is_file()} == before


def test_refuses_to_replace_a_folder_that_is_not_an_index(seed_copy: Path, tmp_path: Path) -> None:
    precious = tmp_path / "docs"
    precious.mkdir()
    (precious / "thesis.txt").write_text("years of work")
    with pytest.raises(SourceError, match="holds files but no index"):
        build_index([seed_copy], precious, embedder=FakeEmbedder())
    assert (precious / "thesis.txt").read_text() == "years of work"


def test_a_corrupt_index_is_rebuilt(seed_copy: Path, tmp_path: Path) -> None:
    out = tmp_path / "index"
    build_index([seed_copy], out, embedder=FakeEmbedder())
    (out / "vectors.faiss").write_bytes(b"garbage")
    report = build_index([seed_copy], out, embedder=FakeEmbedder())
    assert report.added == ("cipher-brief-trump-putin-call",)
    assert Index.load(out).chunks


def test_unlabelled_text_is_indexed_as_narration_with_a_warning(tmp_path: Path) -> None:
    src = tmp_path / "src"
    src.mkdir()
    (src / "essay.txt").write_text("This is an essay with no speakers at all. It talks about trams.")
    report = build_index([src], tmp_path / "index", embedder=FakeEmbedder())
    assert len(report.warnings) == 1
    assert report.warnings[0].endswith("essay.txt: no speaker labels found ('Name: ...'); indexed as narration")


def test_changed_analysis_code_reanalyses_and_reuses_vectors(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import json

    src = tmp_path / "src"
    src.mkdir()
    (src / "a.txt").write_text("Ann: The budget review moves to Friday.\nBob: Finance needs the figures first.\n")
    out = tmp_path / "index"
    build_index([src], out, embedder=FakeEmbedder())
    manifest = json.loads((out / "manifest.json").read_text())
    manifest["analysis"] = "older-code"  # as if the index was built before an attribution fix
    (out / "manifest.json").write_text(json.dumps(manifest))
    fake = FakeEmbedder()
    report = build_index([src], out, embedder=fake)
    assert report.reanalysed and not report.is_noop and report.embedded == 0
    assert fake.embedded == 0  # same chunks, same speakers: every vector reused
    assert json.loads((out / "manifest.json").read_text())["analysis"] != "older-code"
    assert build_index([src], out, embedder=FakeEmbedder()).is_noop


def test_embedding_batches_group_similar_lengths_within_a_budget() -> None:
    from rag.vectors import batches

    assert [b.tolist() for b in batches([30, 5, 6, 400])] == [[1, 2, 0], [3]]
    rng = np.random.default_rng(0)
    lengths = rng.integers(3, 257, size=2_000).tolist()
    got = batches(lengths, budget=1024, most=128)
    rows = np.concatenate(got)
    assert sorted(rows.tolist()) == list(range(2_000))  # every row once
    for b in got:
        longest = max(lengths[i] for i in b)
        assert len(b) <= 128 and (longest * len(b) <= 1024 or len(b) == 1)
    # short texts (QMSum's median is 21 word pieces) go in large batches: 85 rows of 12 pieces
    short = batches([12] * 1_000)
    assert len(short) == 12 and {len(b) for b in short[:-1]} == {85}


def test_fake_embedders_without_word_pieces_still_batch(tmp_path: Path) -> None:
    from rag.chunk import clean_for_embedding
    from rag.vectors import embed_chunks

    build_index([DATA / "panel.txt"], tmp_path / "index", embedder=FakeEmbedder())
    index = Index.load(tmp_path / "index")
    chunks = [index.chunks[i] for i in range(len(index.chunks))]
    fake = FakeEmbedder()
    direct = fake.embed([clean_for_embedding(c.embed_text) for c in chunks])
    assert np.allclose(embed_chunks(chunks, fake), direct)  # rows come back in input order


def test_a_long_document_logs_each_step_of_its_analysis(tmp_path: Path) -> None:
    """A 19 MB single-line file took minutes with nothing said when not on a terminal: each step
    of a long analysis is logged (at INFO: `rag -v`), and the build reports it as a stage."""
    import subprocess
    import sys

    big = tmp_path / "one-line.txt"
    sentence = "The council met again and Kalo Temirel said the budget was tight, while Sudo wrote that roads matter. "
    big.write_text(sentence * (1_100_000 // len(sentence)), encoding="utf-8")  # 1.1 MB, one line
    done = subprocess.run(
        [sys.executable, "-m", "rag", "inspect", "-v", str(big)],
        env={**os.environ, "HF_HUB_OFFLINE": "1", "PYTHONPATH": str(ROOT)},
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr
    steps = [line for line in done.stderr.splitlines() if "one-line.txt" in line]
    assert [s.split(": ", 2)[-1].split(";")[-1].strip() for s in steps[:3]] == [
        "finding speaker turns",
        "finding the people quoted",
        "reading who is who",
    ]
    assert "1.1 MB" in steps[0] and "analysed in" in steps[3]
    stages: list[str] = []
    build_index([big], tmp_path / "index", embedder=FakeEmbedder(), progress=lambda s, d, t: stages.append(s))
    assert stages[0] == "analyse"
