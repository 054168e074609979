"""Sentence vectors: stored at build time, one per sentence, reused when a chunk is unchanged,
added to an index built before them; and quotes that can stand alone."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from rag import Pipeline, build_index
from rag.index import Index
from rag.text import split_sentences
from tests.conftest import SEEDS, FakeEmbedder


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("sentences") / "index"
    build_index([SEEDS], out, embedder=FakeEmbedder())
    return out


def test_every_sentence_of_every_chunk_has_its_own_vector(built: Path) -> None:
    index = Index.load(built)
    assert index.sentences is not None
    fake = FakeEmbedder()
    total = 0
    for row, chunk in enumerate(index.chunks):
        spans, vectors = index.sentences.of(row)
        assert [tuple(s) for s in spans.tolist()] == split_sentences(chunk.text)
        alone = fake.embed([chunk.text[s:e] for s, e in spans.tolist()])
        assert np.abs(vectors.astype(np.float32) - alone).max() < 2e-3  # float16 on disk
        total += len(spans)
    assert total == len(index.sentences) > len(index.chunks)


def test_an_index_built_before_sentence_vectors_answers_and_a_build_adds_them(built: Path, tmp_path: Path) -> None:
    old = tmp_path / "index"
    shutil.copytree(built, old)
    shutil.rmtree(old / "sentences")
    manifest = json.loads((old / "manifest.json").read_text())
    manifest["files"] = {k: v for k, v in manifest["files"].items() if not k.startswith("sentences/")}
    del manifest["sentences"]
    (old / "manifest.json").write_text(json.dumps(manifest))

    pipe = Pipeline.load(old, embedder=FakeEmbedder())
    assert pipe.index.sentences is None
    answer = pipe.ask("What did Dannenberg say about Helsinki?")
    assert answer.answerable and answer.citations[0].speaker == "Dannenberg"

    fake = FakeEmbedder()
    report = build_index([SEEDS], old, embedder=fake)
    index = Index.load(old)
    assert not report.is_noop and report.embedded == 0  # the chunks' vectors are kept
    assert index.sentences is not None and fake.embedded == len(index.sentences)
    assert build_index([SEEDS], old, embedder=FakeEmbedder()).is_noop


def test_sentence_vectors_can_be_left_out_and_the_choice_is_kept(tmp_path: Path) -> None:
    out = tmp_path / "index"
    fake = FakeEmbedder()
    report = build_index([SEEDS], out, embedder=fake, sentences=False)
    assert Index.load(out).sentences is None and fake.embedded == report.chunks
    answer = Pipeline.load(out, embedder=FakeEmbedder()).ask("What did Dannenberg say about Helsinki?")
    assert answer.answerable and answer.citations[0].speaker == "Dannenberg"
    assert build_index([SEEDS], out, embedder=FakeEmbedder()).is_noop  # no flag: the index's own choice
    again = build_index([SEEDS], out, embedder=FakeEmbedder(), sentences=True)
    assert not again.is_noop and again.embedded == 0 and again.sentences == len(Index.load(out).sentences or ())


def test_sentences_embedded_another_way_are_embedded_again(built: Path, tmp_path: Path) -> None:
    """Reuse needs the same sentences and the same recipe (what text is embedded for each)."""
    old = tmp_path / "index"
    shutil.copytree(built, old)
    manifest = json.loads((old / "manifest.json").read_text())
    (old / "manifest.json").write_text(json.dumps({**manifest, "sentences": {"recipe": 0}}))
    report = build_index([SEEDS], old, embedder=FakeEmbedder())
    assert report.embedded == 0 and report.sentences == len(Index.load(old).sentences or ()) > 0


@pytest.mark.parametrize(
    ("question", "quote"),
    [
        # "Objection, Your Honor." alone says nothing; the ground of the objection follows it
        ("What did Ms. Okonjo object to?", "Objection, Your Honor. Foundation. She has not said how she knows"),
        ("What did Priya say about the address form?", "We cut it from nine fields to five"),
    ],
)
def test_a_short_lead_in_is_quoted_with_what_follows(formats_pipe: Pipeline, question: str, quote: str) -> None:
    answer = formats_pipe.ask(question)
    assert answer.answerable and quote in answer.citations[0].quote
