"""The chat's formatting and handlers, on the real engine (and a fake embedder for uploads)."""

from __future__ import annotations

import html as html_lib
import shutil
from pathlib import Path
from typing import Any

import pytest

from rag import Pipeline
from tests.conftest import DATA, SEED, FakeEmbedder
from ui.app import ANYONE, Chat
from ui.format import export_markdown, highlight, link_markers, render_answer, searched_line

HELSINKI = "What did Dannenberg say about Helsinki?"


def test_link_markers_escape_and_link_only_real_citations() -> None:
    out = link_markers("He said “<b>x</b>” [1] and [5]", 3, [1])
    assert out == 'He said “&lt;b&gt;x&lt;/b&gt;” <a class="cite" href="#cite-3-1">[1]</a> and [5]'


def test_highlight() -> None:
    assert highlight("a <b> c", 2, 5) == "a <mark>&lt;b&gt;</mark> c"


def _last(gen: Any) -> Any:
    *_, last = gen
    return last


@pytest.mark.slow
class TestWithRealEngine:
    def test_answer_card_highlights_the_quote_in_its_turn(self, real_pipe: Pipeline) -> None:
        answer = real_pipe.ask(HELSINKI)
        html = render_answer(real_pipe, answer, 0, searched=searched_line(real_pipe, answer))
        assert 'href="#cite-0-1"' in html and 'id="cite-0-1"' in html
        assert "<mark>Putin will be well prepared for this meeting" in html
        assert '<b class="who">Dannenberg</b>' in html
        assert "Searched Dannenberg's answers (6 passages)" in html
        assert "score" not in html.split('class="where"')[1]  # no bare retrieval score on the card
        assert "paragraph 5 of 14 of this turn" in html

    def test_refusal_looks_different_and_says_what_was_searched(self, real_pipe: Pipeline) -> None:
        answer = real_pipe.ask("What did Dannenberg say about Taiwan?")
        html = render_answer(real_pipe, answer, 1, searched=searched_line(real_pipe, answer))
        assert '<div class="refusal">' in html and "<mark>" not in html
        assert "Searched Dannenberg's answers" in html

    def test_respond_shows_the_search_then_the_answer_and_keeps_the_thread(
        self, real_pipe: Pipeline, tmp_path: Path
    ) -> None:
        chat = Chat(real_pipe, index=tmp_path / "i", sources=[], uploads=tmp_path / "u")
        steps = list(chat.respond(HELSINKI, [], ANYONE, []))
        assert "Searching Dannenberg" in steps[0][0][-1]["content"]
        history, status, exchanges, box = steps[-1]
        assert box == "" and len(exchanges) == 1 and "(6 passages) in " in status and status.endswith(" ms")
        attribute = history[-1]["content"].split('<div class="plain-copy">')[1].split("</div>")[0]
        assert "\n" not in attribute  # a blank line would end the HTML block when Gradio reads Markdown
        plain = html_lib.unescape(attribute)
        assert plain.startswith("Dannenberg said: “") and "\n\n[1] Dannenberg, seeds/" in plain and "<" not in plain
        history, _, exchanges, _ = _last(chat.respond("Why was that a mistake?", history, ANYONE, exchanges))
        assert "This was a mistake and should not be repeated." in history[-1]["content"]
        assert 'id="cite-1-1"' in history[-1]["content"]
        md = export_markdown(exchanges)
        assert md.startswith("# Conversation\n\n## 1. What did Dannenberg say about Helsinki?")
        assert "> Putin will be well prepared for this meeting" in md
        assert "[1] Dannenberg, seeds/cipher-brief-trump-putin-call.txt (characters 10531–" in md

    def test_speaker_picker_and_api(self, real_pipe: Pipeline, tmp_path: Path) -> None:
        chat = Chat(real_pipe, index=tmp_path / "i", sources=[], uploads=tmp_path / "u")
        assert chat.speakers() == [ANYONE, "Dannenberg", "McLaughlin"]
        history, *_ = _last(chat.respond("What about Putin?", [], "McLaughlin", []))
        assert "Searched McLaughlin's answers" in history[-1]["content"]
        d = chat.ask_api(HELSINKI)
        assert d["answerable"] and d["citations"][0]["speaker"] == "Dannenberg"
        assert chat.ask_api("x", speaker="Zelensky")["error"].startswith("no speaker matches 'Zelensky'")


@pytest.fixture
def fake_chat(tmp_path: Path) -> Chat:
    from rag import build_index

    seeds = tmp_path / "seeds"
    seeds.mkdir()
    shutil.copy(SEED, seeds)
    index = tmp_path / "index"
    fake = FakeEmbedder()
    build_index([seeds], index, embedder=fake)
    return Chat(
        Pipeline.load(index, embedder=fake),
        index=index,
        sources=[seeds],
        uploads=tmp_path / "uploads",
        embedder=fake,
    )


def test_upload_adds_a_document_without_restart(fake_chat: Chat, tmp_path: Path) -> None:
    src = tmp_path / "panel.txt"
    shutil.copy(DATA / "panel.txt", src)
    message, corpus, speakers, documents, table, doomed, delete = fake_chat.upload(str(src), progress=None)
    assert message.startswith("**Added panel.txt**: ") and "James Okafor, Maria Lopez, Priya Nair" in message
    assert corpus.startswith("2 documents · 5 speakers")
    assert "James Okafor" in speakers["choices"] and "panel" in documents["choices"]
    assert [r[0] for r in table["value"]] == ["cipher-brief-trump-putin-call", "panel"]
    assert doomed["choices"] == ["panel"] and doomed["visible"] and delete["visible"]  # only what was added here
    assert any(h.chunk.doc_id == "panel" for h in fake_chat.pipe.search("tram extension March"))
    assert (tmp_path / "uploads" / "panel.txt").exists()


@pytest.mark.parametrize(
    ("name", "content", "message"),
    [
        ("scan.txt", b"%PDF\x00\x00\x01", "looks binary"),
        ("empty.txt", b"  \n", "the file is empty"),
        ("essay.txt", b"Just an essay. Nobody speaks here.", "no speaker labels found"),
        ("notes.pdf", b"%PDF-1.4", "unsupported file type '.pdf'"),
        ("big.txt", b"Ann: " + b"word " * 1_100_000, "over the 5 MB upload limit"),
        ("latin.txt", "Ann: café\nBob: oui".encode("latin-1"), "not valid UTF-8"),
        ("cipher-brief-trump-putin-call.txt", b"Ann: hi\nBob: yo", "already indexed"),
    ],
)
def test_bad_uploads_leave_the_index_as_it_was(
    fake_chat: Chat, tmp_path: Path, name: str, content: bytes, message: str
) -> None:
    before = {p.name: p.read_bytes() for p in fake_chat.index.iterdir() if p.is_file()}
    chunks_before = len(fake_chat.pipe.chunks)
    src = tmp_path / "in" / name
    src.parent.mkdir()
    src.write_bytes(content)
    text, corpus, *_ = fake_chat.upload(str(src), progress=None)
    assert text.startswith(f"**{name}: not added.**") and message in text, text
    assert str(src.parent) not in text  # never the staging path
    assert {p.name: p.read_bytes() for p in fake_chat.index.iterdir() if p.is_file()} == before
    assert len(fake_chat.pipe.chunks) == chunks_before
    assert not (tmp_path / "uploads" / name).exists()


def test_follow_ups_read_history_in_every_shape_gradio_sends(fake_chat: Chat) -> None:
    """Gradio 6 sends earlier messages as lists of parts; the follow-up must still see them."""
    parts = [
        {"role": "user", "content": [{"type": "text", "text": HELSINKI}]},
        {"role": "assistant", "content": [{"type": "text", "text": "Dannenberg said: ..."}]},
    ]
    history, *_ = _last(fake_chat.respond("What else did he say?", parts, ANYONE, []))
    reply = history[-1]["content"]
    assert "Dannenberg" in reply and "McLaughlin said" not in reply
    assert fake_chat.pipe.read("What else did he say?", history=[HELSINKI]).speakers == ("Dannenberg",)


def test_names_from_documents_are_shown_as_text_not_markup(tmp_path: Path) -> None:
    import json

    from rag import build_index
    from ui.format import corpus_line

    evil = [
        "<a href=//evil.example/login>Sign in again</a>",
        "<img src=//evil.example/p.png>",
        "[click](//evil.example)",
    ]
    turns = [
        {"speaker": name, "content": f"Budget line {i} was approved by the committee today."}
        for i, name in enumerate(evil)
    ]
    (tmp_path / "m.json").write_text(json.dumps(turns))
    build_index([tmp_path / "m.json"], tmp_path / "index", embedder=FakeEmbedder())
    line = corpus_line(Pipeline.load(tmp_path / "index", embedder=FakeEmbedder()))
    assert "<a " not in line and "<img" not in line and "[click]" not in line
    assert "&lt;a href=//evil.example/login&gt;" in line and "\\[click\\]" in line


def test_when_the_picker_and_the_question_disagree_the_question_wins_and_says_so(fake_chat: Chat) -> None:
    history, searched, exchanges, _ = _last(
        fake_chat.respond("What did McLaughlin say about NATO?", [], "Dannenberg", [])
    )
    assert searched.startswith("The question names McLaughlin, so the picker's Dannenberg was not used.")
    answer = exchanges[-1]["answer"]
    assert answer["citations"] and all(c["speaker"] == "McLaughlin" for c in answer["citations"])
    # the picker still applies when the question names nobody
    _, searched, exchanges, _ = _last(fake_chat.respond("What about NATO?", [], "Dannenberg", []))
    assert "not used" not in searched and exchanges[-1]["answer"]["speaker"] == "Dannenberg"


def test_a_document_added_here_can_be_deleted_and_only_those(fake_chat: Chat, tmp_path: Path) -> None:
    src = tmp_path / "panel.txt"
    shutil.copy(DATA / "panel.txt", src)
    fake_chat.upload(str(src), progress=None)
    history, *_ = _last(fake_chat.respond("What about the tram extension?", [], ANYONE, [], False, "panel"))
    assert "Searched panel (" in history[-1]["content"]  # the document filter
    message, corpus, speakers, documents, table, doomed, delete = fake_chat.delete("panel", progress=None)
    assert message == "**Deleted panel.**" and corpus.startswith("1 document · 2 speakers")
    assert documents["choices"] == ["All documents", "cipher-brief-trump-putin-call"]
    assert not doomed["visible"] and not delete["visible"]
    assert not (tmp_path / "uploads" / "panel.txt").exists()
    assert all(c.doc_id != "panel" for c in fake_chat.pipe.chunks)
    refused, *_ = fake_chat.delete("cipher-brief-trump-putin-call", progress=None)
    assert "not deleted.** only documents added here can be deleted" in refused
    assert (fake_chat.sources[0] / SEED.name).exists() and len(fake_chat.pipe.documents) == 1


def test_a_hidden_file_name_is_kept_without_its_dots(fake_chat: Chat, tmp_path: Path) -> None:
    src = tmp_path / ".panel.txt"
    shutil.copy(DATA / "panel.txt", src)
    message, corpus, *_ = fake_chat.upload(str(src), progress=None)
    assert message.startswith("**Added panel.txt** (saved as panel.txt") and "passages by" in message
    assert corpus.startswith("2 documents") and (tmp_path / "uploads" / "panel.txt").exists()


def test_a_read_only_chat_takes_no_uploads_or_deletes(fake_chat: Chat, tmp_path: Path) -> None:
    fake_chat.read_only = True
    src = tmp_path / "panel.txt"
    shutil.copy(DATA / "panel.txt", src)
    assert fake_chat.upload(str(src), progress=None)[0] == "This chat is read-only; uploads are off."
    assert fake_chat.delete("cipher-brief-trump-putin-call", progress=None)[0].startswith("This chat is read-only")
    assert len(fake_chat.pipe.documents) == 1 and not (tmp_path / "uploads").exists()


def test_auth_option() -> None:
    from ui.app import _auth

    assert _auth("ann:s3:cret") == ("ann", "s3:cret") and _auth(None) is None
    for bad in ("ann", "ann:", ":pw"):
        with pytest.raises(ValueError, match="USER:PASS"):
            _auth(bad)


def test_a_fluent_answer_appears_sentence_by_sentence(fake_chat: Chat) -> None:
    from tests.test_verify import Streaming

    reply = (
        "Dannenberg said Putin will remember Trump's failure to bring aides or notetakers "
        "to the private meeting in Helsinki in 2018 [1]. "
        "Dannenberg said Putin will be well prepared for this meeting [1]."
    )
    chat = Chat(
        fake_chat.pipe, index=fake_chat.index, sources=[], uploads=fake_chat.uploads, generator=Streaming(reply)
    )
    steps = list(chat.respond(HELSINKI, [], ANYONE, [], True))
    writing = [s for s in steps if s[1] == "Writing…"]
    first = writing[0][0][-1]["content"].split('<div class="sources">')[0]
    assert "Helsinki in 2018" in first and "well prepared" not in first  # the second sentence came later
    assert steps[-1][2][-1]["answer"]["mode"] == "generated" and "well prepared" in steps[-1][0][-1]["content"]
