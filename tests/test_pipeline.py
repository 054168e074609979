"""The whole pipeline with the real model on the seed: the answers people ask for."""

from __future__ import annotations

import warnings

import numpy as np
import pytest

from rag import Pipeline, QuestionError, UnknownSpeakerError
from rag.embed import OnnxEmbedder, TorchEmbedder, packaged_model_path
from tests.conftest import SEED

pytestmark = pytest.mark.slow


def _check_quotes(pipe: Pipeline, answer) -> None:  # type: ignore[no-untyped-def]
    text = SEED.read_text(encoding="utf-8")
    for c in answer.citations:
        assert text[c.start : c.end] == c.quote


def test_helsinki(real_pipe: Pipeline) -> None:
    a = real_pipe.ask("What did Dannenberg say about Helsinki?")
    assert a.answerable and a.speaker == "Dannenberg"
    assert a.citations and a.citations[0].speaker == "Dannenberg"
    assert "Helsinki in 2018" in a.citations[0].quote
    assert a.text.startswith("Dannenberg said: “Putin will be well prepared")
    assert "[1]" in a.text
    _check_quotes(real_pipe, a)


@pytest.mark.parametrize(
    "question",
    [
        "What did Rob Dannenberg say about Helsinki?",
        "What did the former chief of the Central Eurasia division say about Helsinki?",
        "What did Danenberg say about Helsinki?",
        "what did dannenberg say about helsinki",
    ],
)
def test_helsinki_by_alias_role_typo_and_case(real_pipe: Pipeline, question: str) -> None:
    a = real_pipe.ask(question)
    assert a.answerable and a.speaker == "Dannenberg"
    assert any("Helsinki" in c.quote for c in a.citations)
    assert all(c.speaker == "Dannenberg" for c in a.citations)


def test_quoted_person_is_reported_as_narration(real_pipe: Pipeline) -> None:
    a = real_pipe.ask("What did Medvedev write?")
    assert a.answerable and a.speaker == "Medvedev"
    assert any("jealousy and rage" in c.quote for c in a.citations)
    assert all(c.speaker is None for c in a.citations)
    assert a.reason == "reported in the article's narration, not said in the interview"
    assert "not said in the interview" in a.text


def test_unknown_speaker_is_refused_with_the_roster(real_pipe: Pipeline) -> None:
    a = real_pipe.ask("What did Zelensky say in the interview?")
    assert not a.answerable and not a.citations
    assert "Zelensky does not speak in the transcripts" in a.text
    assert "Speakers: Dannenberg, McLaughlin." in a.text


@pytest.mark.parametrize(
    "question",
    [
        "What did Dannenberg say about Taiwan?",
        "What is the GDP of Germany?",
        "When is the Cipher Brief Honors Dinner?",
    ],
)
def test_refusals(real_pipe: Pipeline, question: str) -> None:
    a = real_pipe.ask(question)
    assert not a.answerable and not a.citations and a.reason


def test_ads_are_never_cited(real_pipe: Pipeline) -> None:
    for q in [
        "How do I apply for the Honors Dinner?",
        "Tell me about the Nightcap newsletter",
        "Read more insights",
    ]:
        a = real_pipe.ask(q)
        assert not any(w in c.quote for c in a.citations for w in ("Apply now", "Nightcap", "Read more"))
        assert not any(w in h.chunk.text for h in a.hits for w in ("Apply now", "nightcap", "Read more"))


def test_follow_ups_keep_speaker_and_topic(real_pipe: Pipeline) -> None:
    history = ["What did Dannenberg say about Helsinki?"]
    a = real_pipe.ask("Why was that a mistake?", history=history)
    assert a.answerable and a.speaker == "Dannenberg"
    assert "This was a mistake and should not be repeated." in a.citations[0].quote
    first = real_pipe.ask(history[0])
    b = real_pipe.ask("What else did he say?", history=history)
    assert b.answerable and b.speaker == "Dannenberg"
    assert not {(c.start, c.end) for c in b.citations} & {(c.start, c.end) for c in first.citations}


def test_speaker_filter_overrides_and_unknown_speaker_raises(real_pipe: Pipeline) -> None:
    a = real_pipe.ask("What about Putin?", speaker="the former CIA acting director")
    assert a.speaker == "McLaughlin" and all(c.speaker == "McLaughlin" for c in a.citations)
    with pytest.raises(UnknownSpeakerError, match="no speaker matches 'Zelensky'; speakers: Dannenberg, McLaughlin"):
        real_pipe.ask("What about Putin?", speaker="Zelensky")


def test_bad_questions(real_pipe: Pipeline) -> None:
    with pytest.raises(QuestionError, match="the question is empty"):
        real_pipe.ask("   ")
    with pytest.raises(QuestionError, match="102,400 characters, over the 2,000 limit"):
        real_pipe.ask("x" * 102_400)


def test_search_ranks_the_speaker_asked_first_and_filters_on_request(real_pipe: Pipeline) -> None:
    hits = real_pipe.search("What did McLaughlin say about NATO?", k=10)
    assert hits[0].chunk.speaker == "McLaughlin" and [h.rank for h in hits] == list(range(1, 11))
    assert {h.chunk.speaker for h in hits} > {"McLaughlin"}  # a prior, not a wall: the others stay reachable
    only = real_pipe.search("NATO", speaker="McLaughlin", k=10)
    assert only and all(h.chunk.speaker == "McLaughlin" for h in only)


def test_onnx_and_torch_give_the_same_vectors(real_index) -> None:  # type: ignore[no-untyped-def]
    path = packaged_model_path()
    onnx = OnnxEmbedder(real_index / "encoder.onnx", path, name="m")
    torch = TorchEmbedder(path, name="m")
    texts = ["What did Dannenberg say about Helsinki?", SEED.read_text()[:600], "Yeah ."]
    a, b = onnx.embed(texts), torch.embed(texts)
    assert np.all((a * b).sum(axis=1) >= 0.999)


def test_the_answer_json_shape(real_pipe: Pipeline) -> None:
    d = real_pipe.ask("What did Dannenberg say about Helsinki?").to_dict()
    assert list(d)[:6] == ["question", "answer", "answerable", "speaker", "citations", "reason"]
    assert d["mode"] == "extractive" and d["dropped"] == [] and d["candidates"] == []
    assert list(d["citations"][0]) == [
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
    ]


def test_onnx_and_torch_rank_the_seed_set_alike(real_index, real_pipe: Pipeline) -> None:  # type: ignore[no-untyped-def]
    """Same top-10 for every seed question whichever backend embeds the query."""
    import json

    from tests.conftest import ROOT

    torch_pipe = Pipeline(real_pipe.index, TorchEmbedder(packaged_model_path(), name="m"), real_pipe.settings)
    assert isinstance(real_pipe.embedder, OnnxEmbedder)
    rows = [json.loads(line) for line in (ROOT / "eval" / "sets" / "seed.jsonl").read_text().splitlines()]
    differ = 0
    for row in rows:
        a = [h.chunk.chunk_id for h in real_pipe.search(row["question"], k=10, history=row["history"])]
        b = [h.chunk.chunk_id for h in torch_pipe.search(row["question"], k=10, history=row["history"])]
        differ += a != b
    assert differ == 0


def test_a_vector_does_not_depend_on_the_batch_it_was_embedded_in(real_index) -> None:  # type: ignore[no-untyped-def]
    """Float32 ONNX: a text embedded alone, or in a padded batch with others, gets the same vector,
    so incremental builds and fresh ones agree, and a query (embedded alone) meets the same space.
    (Dynamic int8 weights failed this: cosine 0.973 between a chunk batched and alone.)"""
    from rag.index import Index
    from rag.vectors import embed_chunks

    index = Index.load(real_index)
    embedder = OnnxEmbedder(real_index / "encoder.onnx", packaged_model_path(), name="m")
    chunks = [index.chunks[i] for i in range(len(index.chunks))]
    batched = embed_chunks(chunks, embedder)
    alone = np.concatenate([embed_chunks([c], embedder) for c in chunks])
    assert np.all((batched * alone).sum(axis=1) >= 0.99999)
    assert np.allclose(batched, index.vectors(np.arange(len(chunks))), atol=1e-5)  # what the build stored


def test_stored_sentence_vectors_are_the_sentences_own(real_index, real_pipe: Pipeline) -> None:  # type: ignore[no-untyped-def]
    from rag.chunk import clean_for_embedding

    sentences = real_pipe.index.sentences
    assert sentences is not None
    for row in (0, 7, len(real_pipe.index.chunks) - 1):
        chunk = real_pipe.index.chunks[row]
        spans, stored = sentences.of(row)
        own = real_pipe.embedder.embed([clean_for_embedding(chunk.text[s:e]) for s, e in spans.tolist()])
        assert np.all((stored.astype(np.float32) * own).sum(axis=1) >= 0.999)  # float16 on disk


def test_the_quote_is_the_sentence_that_carries_a_paraphrased_fact(real_pipe: Pipeline) -> None:
    """No word of the question is in the answer's sentence ("a gift to Putin, a big win"): lexical
    overlap alone quotes a sentence about Trump's confidence; the sentence vectors find the gift."""
    from dataclasses import replace

    question = "Why would sitting down with the US leader be a reward for the Russian president?"
    answer = real_pipe.ask(question)
    assert answer.answerable and "gift" in answer.text
    words_only = Pipeline(real_pipe.index, real_pipe.embedder, replace(real_pipe.settings, sentence_weight=0.0))
    assert "gift" not in words_only.ask(question).text


def test_an_encoder_without_token_type_ids_embeds(tmp_path) -> None:  # type: ignore[no-untyped-def]
    """MPNet-style encoders (all-mpnet-base-v2) take no token_type_ids: rag build with such a
    model failed with "Invalid input name: token_type_ids". A tiny encoder with that signature."""
    import torch

    class Tiny(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.table = torch.nn.Embedding(31_000, 8)

        def forward(self, input_ids, attention_mask):  # type: ignore[no-untyped-def]
            return self.table(input_ids) * attention_mask.unsqueeze(-1)

    path = tmp_path / "tiny.onnx"
    ids = torch.ones(1, 4, dtype=torch.long)
    axes = {n: {0: "batch", 1: "seq"} for n in ("input_ids", "attention_mask", "last_hidden_state")}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the exporter's deprecation notes, as in rag.embed
        torch.onnx.export(
            Tiny(),
            (ids, ids),
            str(path),
            input_names=["input_ids", "attention_mask"],
            output_names=["last_hidden_state"],
            dynamic_axes=axes,
            dynamo=False,
        )
    embedder = OnnxEmbedder(path, packaged_model_path(), name="tiny")
    vectors = embedder.embed(["Helsinki was a disaster.", "No."])
    assert vectors.shape == (2, 8) and np.allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)
