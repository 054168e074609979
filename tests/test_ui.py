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
    assert "James Okafor" in [v for _, v in speakers["choices"]] and "panel" in documents["choices"]
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
        ("big.txt", b"Ann: " + b"word " * 1_100_000, "5.5 MB is over the 5 MB limit for a transcript (.txt); split it"),
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
    assert text.startswith(f"**{name}: not added.**") and message.lower() in text.lower(), text
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


# --- the chat's server, attacked on loopback (issue 26: 1, 2, 5, 6, 19) ---


@pytest.fixture
def served(fake_chat: Chat) -> Any:
    """The chat with uploads on, served on a free loopback port; yields (base URL, chat)."""
    from tests.conftest import free_port
    from ui.app import launch

    port = free_port()
    app = launch(fake_chat, host="127.0.0.1", port=port, quiet=True)
    try:
        yield f"http://127.0.0.1:{port}", fake_chat
    finally:
        app.close()


def _event(base: str, elem_id: str, trigger: str, data: list[Any], client: Any = None) -> dict[str, Any]:
    """Fire the event `trigger` of the component `elem_id` the way the page does (queue/join, then
    read the event stream); returns the final message."""
    import json
    import uuid

    import httpx

    client = client or httpx.Client(base_url=base, timeout=60)
    config = client.get("/config").json()
    comp = next(c["id"] for c in config["components"] if c.get("props", {}).get("elem_id") == elem_id)
    fn = next(d["id"] for d in config["dependencies"] if [comp, trigger] in [list(t) for t in d["targets"]])
    session = uuid.uuid4().hex
    body = {"data": data, "event_data": None, "fn_index": fn, "trigger_id": comp, "session_hash": session}
    joined = client.post("/gradio_api/queue/join", json=body)
    assert joined.status_code == 200, joined.text
    with client.stream("GET", "/gradio_api/queue/data", params={"session_hash": session}) as stream:
        for line in stream.iter_lines():
            if line.startswith("data:"):
                msg = json.loads(line[5:])
                if msg.get("msg") == "process_completed":
                    return dict(msg)
    raise AssertionError("the event never completed")


def test_an_upload_event_reads_only_files_uploaded_through_the_page(served: Any, tmp_path: Path) -> None:
    import socket

    import httpx

    base, chat = served
    secret = tmp_path / "secret_notes.txt"
    secret.write_text("Ann: the database password is hunter2.\nBob: noted, the database password.\n")
    looked_up: list[str] = []
    real_getaddrinfo = socket.getaddrinfo

    def spy(host: Any, *args: Any, **kwargs: Any) -> Any:  # records, then resolves as before
        looked_up.append(str(host))
        return real_getaddrinfo(host, *args, **kwargs)

    socket.getaddrinfo = spy  # type: ignore[assignment]
    try:
        for path in (str(secret), "http://evil.example/secret_notes.txt", "/etc/hostname"):
            fd = {"path": path, "orig_name": "x.txt", "meta": {"_type": "gradio.FileData"}}
            msg = _event(base, "upload", "upload", [[fd]])
            assert msg["success"] is False, msg
            shown = str(msg)
            assert "That file was not uploaded through this page" in shown
            assert path not in shown and str(tmp_path) not in shown and "secret_notes" not in shown
    finally:
        socket.getaddrinfo = real_getaddrinfo  # type: ignore[assignment]
    assert "evil.example" not in looked_up
    assert "secret_notes" not in chat.pipe.documents and not (chat.uploads / "secret_notes.txt").exists()
    hits = httpx.post(f"{base}/v1/search", json={"query": "database password hunter2"}).json()["hits"]
    assert all("hunter2" not in h["text"] for h in hits)
    # a file uploaded in one browser session cannot be added from another
    with httpx.Client(base_url=base, timeout=60) as owner, httpx.Client(base_url=base, timeout=60) as other:
        owner.get("/")  # each browser gets its session cookie with the page
        other.get("/")
        assert owner.cookies.get("rag-session") != other.cookies.get("rag-session")
        assert httpx.post(f"{base}/gradio_api/upload", files={"files": ("a.txt", b"Ann: hi")}).status_code == 403
        stored = owner.post(
            "/gradio_api/upload", files={"files": ("panel.txt", (DATA / "panel.txt").read_bytes())}
        ).json()
        fd = {"path": stored[0], "orig_name": "panel.txt", "meta": {"_type": "gradio.FileData"}}
        stolen = _event(base, "upload", "upload", [[fd]], other)
        assert "Not added." in str(stolen["output"]["data"][0]) and stored[0] not in str(stolen)
        assert "panel" not in chat.pipe.documents
        msg = _event(base, "upload", "upload", [[fd]], owner)  # the page that uploaded it: taken
    assert msg["success"] is True and "Added panel.txt" in str(msg["output"]["data"][0])
    assert "panel" in chat.pipe.documents


def test_a_read_only_chat_takes_no_bytes(fake_chat: Chat, tmp_path: Path) -> None:
    import gradio as gr
    import httpx

    from tests.conftest import free_port
    from ui.app import launch

    fake_chat.read_only = True
    port = free_port()
    app = launch(fake_chat, host="127.0.0.1", port=port, quiet=True)
    folder = Path(gr.utils.get_upload_folder())
    before = {p for p in folder.rglob("*")} if folder.exists() else set()
    try:
        base = f"http://127.0.0.1:{port}"
        for route in ("/gradio_api/upload", "/gradio_api/upload/", "/gradio_api/upload?upload_id=x"):
            r = httpx.post(base + route, files={"files": ("f.txt", b"Ann: hello there\n" * 1000)})
            assert r.status_code == 403 and "read-only" in r.text, (route, r.status_code)
    finally:
        app.close()
    after = {p for p in folder.rglob("*")} if folder.exists() else set()
    assert not any(p.name == "f.txt" for p in after - before)


def test_cors_allows_only_the_chats_own_origin_under_any_host(served: Any) -> None:
    import httpx

    base, _ = served
    ask = {"data": ["What did Dannenberg say about Helsinki?", "", []]}
    for host in ("127.0.0.1", "chat.example.org:7860", "10.1.2.3:7860"):
        evil = {"Origin": "https://evil.example", "Host": host}
        pre = httpx.options(f"{base}/gradio_api/run/ask", headers={**evil, "Access-Control-Request-Method": "POST"})
        assert "access-control-allow-origin" not in pre.headers and pre.status_code == 403
        post = httpx.post(f"{base}/gradio_api/run/ask", headers=evil, json=ask)
        assert post.status_code == 403 and "access-control-allow-origin" not in post.headers
        assert "Dannenberg" not in post.text
        page = httpx.get(f"{base}/config", headers=evil)
        assert page.status_code == 403 and "access-control-allow-origin" not in page.headers
    # the chat's own page, under that same Host, still works
    own = {"Origin": "http://chat.example.org:7860", "Host": "chat.example.org:7860"}
    assert httpx.get(f"{base}/config", headers=own).status_code == 200
    assert httpx.get(f"{base}/config").status_code == 200  # no Origin: a program, not a page


def test_the_login_slows_down_repeated_wrong_passwords(fake_chat: Chat) -> None:
    import httpx

    from tests.conftest import free_port
    from ui.app import launch

    port = free_port()
    app = launch(fake_chat, host="127.0.0.1", port=port, quiet=True, auth=("ann", "s3cret"))
    try:
        with httpx.Client(base_url=f"http://127.0.0.1:{port}") as client:
            codes = [
                client.post("/login", data={"username": "ann", "password": f"guess{i}"}).status_code for i in range(50)
            ]
            checked = codes.count(400)
            assert codes[:5] == [400] * 5 and codes.count(429) >= 38 and checked <= 12, codes
            # while refused, even the right password is not looked at
            right = client.post("/login", data={"username": "ann", "password": "s3cret"})
            assert right.status_code == 429 and "try again in" in right.json()["error"]
    finally:
        app.close()


def test_the_throttle_waits_twice_as_long_each_time_and_forgets_after_success() -> None:
    from ui.guard import LoginThrottle

    t = LoginThrottle(free=3, first=1.0, longest=8.0)
    for _ in range(3):
        assert t.wait("a", 0.0) == 0.0
        t.failed("a", 0.0)
    assert t.wait("a", 0.0) == 1.0 and t.wait("b", 0.0) == 0.0  # per client
    t.failed("a", 1.0)
    assert t.wait("a", 1.0) == 2.0
    for _ in range(5):
        t.failed("a", 10.0)
    assert t.wait("a", 10.0) == 8.0  # capped
    t.succeeded("a")
    assert t.wait("a", 10.0) == 0.0


def test_token_env_strips_a_trailing_newline(fake_chat: Chat, monkeypatch: pytest.MonkeyPatch) -> None:
    import argparse

    from ui import app as ui_app

    seen: dict[str, Any] = {}

    def fake_launch(chat: Any, **kwargs: Any) -> Any:  # the server is not under test here
        seen.update(kwargs)
        raise SystemExit(0)

    monkeypatch.setenv("CHAT_TOKEN", "s3cret-token\n")
    monkeypatch.setenv("CHAT_LOGIN", "ann:pw\n")
    monkeypatch.setattr(ui_app, "launch", fake_launch)
    monkeypatch.setattr(ui_app.Pipeline, "load", staticmethod(lambda *a, **k: fake_chat.pipe))
    with pytest.raises(SystemExit):
        ui_app.main(["--no-build", "--token-env", "CHAT_TOKEN", "--auth-env", "CHAT_LOGIN"])
    assert seen["token"] == "s3cret-token" and seen["auth"] == ("ann", "pw")
    assert isinstance(argparse.ArgumentParser, type)


def test_errors_in_the_status_line_are_text(fake_chat: Chat) -> None:
    *_, (history, status, _, _) = fake_chat.respond(
        "What did he say?", [], "Mallory <script>alert(1)</script>", [], False, None
    )
    assert "<script>" not in status and "&lt;script&gt;" in status
    assert "<script>" not in history[-1]["content"]


def test_the_chat_port_loads_no_docs_page_from_a_cdn(served: Any) -> None:
    import httpx

    base, _ = served
    for page in ("/docs", "/redoc"):
        r = httpx.get(base + page)
        assert r.status_code == 404 or ("cdn" not in r.text and "https://" not in r.text), page
    assert httpx.get(base + "/v1/health").status_code == 200


# --- issue 28: how answers read, conversations, pickers ---


def _answer(text: str, cites: list[tuple[str, str]], **kw: Any) -> Any:
    from rag import Answer, Citation

    citations = tuple(
        Citation(i + 1, f"c{i}", doc, f"{doc}.txt", who, 0, 1, "q", 1.0) for i, (who, doc) in enumerate(cites)
    )
    return Answer("q?", text, kw.pop("answerable", True), citations=citations, **kw)


def test_several_quotes_become_a_list_grouped_by_speaker_and_document() -> None:
    from ui.format import quote_list, render_quote_list

    text = "A said: “x one” [1] B said: “y <b>” [2] A also said: “z” [3]"
    grouped = quote_list(_answer(text, [("A", "d1"), ("B", "d1"), ("A", "d1")]))
    assert grouped is not None
    assert [(g.speaker, g.quotes) for g in grouped[0]] == [
        ("A", (("", (("x one", 1), ("z", 3))),)),
        ("B", (("", (("y <b>", 2),)),)),
    ]
    html = render_quote_list(grouped, 0, [1, 2, 3])
    assert html.startswith(
        '<p class="said">A said:</p><ul class="quotes"><li>“x one” <a class="cite" href="#cite-0-1">'
    )
    assert "“y &lt;b&gt;”" in html and "\n" not in html
    # two documents: each speaker's quotes per document
    many = quote_list(_answer(text, [("A", "d1"), ("B", "d1"), ("A", "d2")]))
    assert many is not None and many[0][0].quotes == (("d1", (("x one", 1),)), ("d2", (("z", 3),)))
    assert '<p class="in-doc">in d2</p>' in render_quote_list(many, 0, [1, 2, 3])
    # anything else is shown as written: one quote, narration, a model's answer, a refusal, extra words
    assert quote_list(_answer("A said: “x” [1]", [("A", "d1")])) is None
    assert (
        quote_list(_answer("The article's narration says: “x” [1] A said: “y” [2]", [(None, "d"), ("A", "d")])) is None
    )
    assert quote_list(_answer(text, [("A", "d1"), ("B", "d1"), ("A", "d1")], mode="generated")) is None
    assert quote_list(_answer(text + " But not about Helsinki.", [("A", "d1"), ("B", "d1"), ("A", "d1")])) is None
    inner = "A said: “He wants a “neutral,” subservient Ukraine.” [1] A also said: “Clearly.” [2]"
    nested = quote_list(_answer(inner, [("A", "d1"), ("A", "d1")]))
    assert nested is not None and nested[0][0].quotes[0][1][0] == ("He wants a “neutral,” subservient Ukraine.", 1)
    closing = quote_list(_answer(text + " (This is a note.)", [("A", "d1"), ("B", "d1"), ("A", "d1")]))
    assert closing is not None and closing[1] == "(This is a note.)"


def test_which_one_offers_buttons_only_when_the_answer_lists_candidates() -> None:
    from dataclasses import dataclass

    from rag import Answer, Person
    from ui.format import candidate_buttons

    plain_reply = _answer("Which Weber do you mean? …", [], answerable=False, reason="ambiguous name 'Weber'")
    assert candidate_buttons(plain_reply) == ""  # nothing parsed out of the text

    @dataclass(frozen=True)
    class WithCandidates(Answer):
        candidates: tuple[Person, ...] = ()

    people = (
        Person("Weber", "speaker", ("Anna Weber",), doc_ids=("weber-council",)),
        Person("Weber <i>", "speaker", ("Dan Weber",), doc_ids=("weber-podcast",)),
    )
    html = candidate_buttons(WithCandidates("q", "Which Weber?", False, candidates=people))
    assert html.count('<button class="candidate" type="button">') == 2
    assert "Weber (Anna Weber) in weber-council" in html and '<span class="pick-doc">weber-podcast</span>' in html
    assert "<i>" not in html and "Weber &lt;i&gt;" in html


def test_exports_keep_cue_times_and_searched_names_each_speaker() -> None:
    from ui.format import export_markdown, span_clock

    assert span_clock(26, 33.4) == "00:00:26–00:00:33" and span_clock(None, None) == ""
    cite = {
        "n": 1,
        "speaker": "Ann",
        "source": "a.vtt",
        "start": 0,
        "end": 3,
        "quote": "hi",
        "time_start": 3725.0,
        "time_end": 3730.0,
    }
    md = export_markdown([{"question": "q", "answer": {"answer": "Ann said", "answerable": True, "citations": [cite]}}])
    assert "[1] Ann, a.vtt (characters 0–3, at 01:02:05–01:02:10):" in md


def test_searched_line_names_each_speaker(fake_chat: Chat) -> None:
    answer = fake_chat.pipe.ask("What did Dannenberg and McLaughlin say about NATO?")
    assert searched_line(fake_chat.pipe, answer).startswith("Searched Dannenberg's and McLaughlin's answers (")


def test_conversations_are_per_owner_atomic_and_refuse_forged_ids(tmp_path: Path) -> None:
    from ui.conversations import Conversations, new_id, title_for

    store = Conversations(tmp_path / "conversations")
    one, two = new_id(), new_id()
    messages = [{"role": "user", "content": HELSINKI}, {"role": "assistant", "content": "Dannenberg said…"}]
    store.save("user:ann", one, messages, [{"question": HELSINKI}])
    store.save("user:ann", two, [{"role": "user", "content": "x " * 80}], [])
    assert [c.conv_id for c in store.list("user:ann")] == [two, one]  # the latest first
    assert store.list("user:bob") == [] and store.get("user:bob", one) is None  # another login sees nothing
    assert store.get("user:ann", one).title == HELSINKI and title_for("x " * 80).endswith("…")
    assert store.rename("user:ann", one, "  Helsinki,   Dannenberg ").title == "Helsinki, Dannenberg"
    store.save("user:ann", one, [*messages, {"role": "user", "content": "Why?"}], [])
    assert store.get("user:ann", one).title == "Helsinki, Dannenberg"  # a rename survives the next answer
    again = Conversations(tmp_path / "conversations")  # as after a restart
    assert len(again.get("user:ann", one).messages) == 3 and again.secret() == store.secret()
    for forged in ("../../etc/passwd", "a" * 31, one.upper(), ""):
        assert store.get("user:ann", forged) is None and not store.delete("user:ann", forged)
        with pytest.raises(ValueError):
            store.save("user:ann", forged, messages, [])
    assert store.delete("user:bob", one) is False and store.get("user:ann", one) is not None
    assert store.delete("user:ann", one) and store.get("user:ann", one) is None
    assert not list((tmp_path / "conversations").rglob(".tmp-*"))


def test_the_chat_keeps_a_browsers_conversation_and_not_for_others(fake_chat: Chat) -> None:
    import gradio as gr

    class Asker:  # what Gradio passes as gr.Request: only the login matters here
        def __init__(self, username: str | None) -> None:
            self.username = username

    browser, _, who = fake_chat.arrive("", Asker(None))  # a new browser gets an id
    assert len(browser) == 32 and who["value"] == ""
    history, _, exchanges, _ = _last(fake_chat.respond(HELSINKI, [], ANYONE, []))
    conv_id, past, title = fake_chat.remember(browser, "", history, exchanges, Asker(None))
    assert past["value"] == conv_id and past["choices"][0][1] == conv_id and title["value"] == HELSINKI
    messages, kept, same, _, _ = fake_chat.reopen(browser, conv_id, Asker(None))
    assert same == conv_id and kept == exchanges and messages[0] == {"role": "user", "content": HELSINKI}
    other, *_ = fake_chat.arrive("", Asker(None))
    assert fake_chat.reopen(other, conv_id, Asker(None))[-1].startswith("That conversation is gone")
    fake_chat.login_required = True  # with a login, a browser id alone opens nothing
    assert fake_chat.owner(browser, Asker(None)) == "" and fake_chat.owner(browser, Asker("ann")) == "user:ann"
    _, _, who = fake_chat.arrive(browser, Asker("ann<b>"))
    assert who["value"] == "Signed in as **ann&lt;b&gt;** · [Log out](/logout)"
    assert isinstance(gr.update(), dict)


def test_speakers_follow_the_document_and_say_where_they_speak(fake_chat: Chat, tmp_path: Path) -> None:
    src = tmp_path / "panel.txt"
    shutil.copy(DATA / "panel.txt", src)
    fake_chat.upload(str(src), progress=None)
    everyone = fake_chat.speaker_choices(None)
    labels = {value: label for label, value in everyone}
    assert everyone[0] == (ANYONE, ANYONE) and labels["Dannenberg"].endswith(" in cipher-brief-trump-putin-call")
    narrowed = fake_chat.narrow_speakers("panel", "Dannenberg")
    assert narrowed["value"] == ANYONE and all("panel" in label for label, _ in narrowed["choices"][1:])
    assert fake_chat.narrow_speakers("panel", "James Okafor")["value"] == "James Okafor"


def test_a_speaker_whose_name_holds_markup_can_be_picked(tmp_path: Path) -> None:
    import json

    from rag import build_index

    names = ["<img src=//evil.example/p.png>", "<form action=//x><input name=pw></form>", "Bob"]
    turns = [
        {"speaker": n, "content": f"The budget {w} was approved today."} for n, w in zip(names, "abc", strict=True)
    ]
    (tmp_path / "m.json").write_text(json.dumps(turns))
    build_index([tmp_path / "m.json"], tmp_path / "index", embedder=FakeEmbedder())
    chat = Chat(
        Pipeline.load(tmp_path / "index", embedder=FakeEmbedder()),
        index=tmp_path / "index",
        sources=[],
        uploads=tmp_path / "u",
    )
    for name in names:
        *_, (_, status, exchanges, _) = chat.respond("What about the budget?", [], name, [])
        assert exchanges and exchanges[-1]["answer"]["speaker"] == name, status


# --- recordings through the chat's upload (issue 29) ---


def test_upload_limits_are_per_type_and_say_which(fake_chat: Chat, tmp_path: Path) -> None:
    from ui.guard import UploadLimits

    assert UploadLimits().transcript == 5_000_000 and UploadLimits().recording == 500_000_000
    fake_chat.limits = UploadLimits(transcript=1_000, recording=20_000)
    (tmp_path / "in").mkdir()
    notes = tmp_path / "in" / "notes.txt"
    notes.write_text("Ann: " + "word " * 400)  # 2 kB: over the transcript limit
    said, *_ = fake_chat.upload(str(notes), progress=None)
    expected = "2.0 kB is over the 1 kB limit for a transcript (.txt); split it into several files."
    assert said == f"**notes.txt: not added.** {expected}"
    call = tmp_path / "in" / "call.wav"
    call.write_bytes(b"RIFF" + bytes(30_000))  # 30 kB: over the recording limit, refused before decoding
    said, *_ = fake_chat.upload(str(call), progress=None)
    assert said.startswith("**call.wav: not added.** 30.0 kB is over the 20 kB limit for a recording (.wav); ")
    assert "--max-recording-mb 1" in said and "\n" not in said
    assert not (fake_chat.uploads / "call.wav").exists() and len(fake_chat.pipe.documents) == 1


def test_the_port_is_checked_in_one_line(capsys: pytest.CaptureFixture[str]) -> None:
    from ui.app import main

    for port in ("70000", "0", "-1"):
        assert main(["--port", port, "--no-build"]) == 2
        err = capsys.readouterr().err
        assert err == f"rag: error: --port {port} is not a TCP port; use 1-65535 (default 7860)\n"
    assert main(["--max-recording-mb", "0"]) == 2
    assert capsys.readouterr().err == "rag: error: --max-recording-mb 0.0 must be more than 0 (megabytes)\n"


class _Bar:
    """What Gradio's progress bar is told: (fraction, description) per call."""

    def __init__(self) -> None:
        self.calls: list[tuple[float, str]] = []

    def __call__(self, fraction: float, desc: str = "") -> None:
        self.calls.append((fraction, desc))


@pytest.mark.slow
def test_an_uploaded_recording_is_transcribed_once_with_audio_progress(
    fake_chat: Chat, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import re

    import rag.recordings
    from tests import synth
    from tests.test_recordings import TWO
    from ui.guard import UploadLimits

    if not synth.has_espeak():
        pytest.skip("needs Debian's espeak-ng (make test installs it)")
    pytest.importorskip("faster_whisper", reason='needs the audio extra: pip install -e ".[audio]"')
    samples, _ = synth.meeting(TWO[:3])
    src = synth.write_wav(tmp_path / "parks.wav", samples)
    fake_chat.limits = UploadLimits(transcript=1_000)  # a recording is not held to a transcript's limit
    assert src.stat().st_size > 100_000
    transcribed: list[str] = []
    real = rag.recordings.transcribe_recording

    def counted(path: Path, **kwargs: Any) -> Any:  # counts, then transcribes as before
        transcribed.append(path.name)
        return real(path, **kwargs)

    monkeypatch.setattr(rag.recordings, "transcribe_recording", counted)
    bar = _Bar()
    said, corpus, *_ = fake_chat.upload(str(src), progress=bar)
    assert said.startswith("**Added parks.wav**: ") and "Speaker 1, Speaker 2" in said, said
    assert transcribed == ["parks.wav"]  # once, not again by the build
    assert (fake_chat.index / "recordings" / "parks.json").is_file()
    shown = [desc for _, desc in bar.calls if desc.startswith("transcribing")]
    pace = re.compile(
        r"transcribing: 00:00:\d\d of 00:00:\d\d audio, \d+ s elapsed, about \d+ s left, \d+\.\dx real time"
    )
    assert shown and pace.fullmatch(shown[-1]), shown
    doc = fake_chat.pipe.documents["parks"]
    assert doc.format == "recording" and doc.cues and doc.cues[0].time_start is not None
    again, *_ = fake_chat.upload(str(src), progress=None)  # the same recording again: its kept transcript
    assert transcribed == ["parks.wav"] and "parks.wav" in again


# --- follow-ups and the speaker picker (issue 28, item 2) ---


def test_a_pronoun_for_another_speaker_than_the_pickers_gets_a_question_back(fake_chat: Chat) -> None:
    history, searched, exchanges, _ = _last(fake_chat.respond(HELSINKI, [], ANYONE, []))
    assert exchanges[-1]["answer"]["speaker"] == "Dannenberg"
    nato = "What did he say about NATO?"
    asked, searched, exchanges, _ = _last(fake_chat.respond(nato, history, "McLaughlin", exchanges))
    answer = exchanges[-1]["answer"]
    assert not answer["answerable"] and not answer["citations"]
    assert answer["answer"].startswith(
        "Who do you mean by 'he'? The earlier question was about Dannenberg, but the speaker chosen is McLaughlin;"
    )
    assert searched == "Nothing searched: who is meant is not clear."  # no claim that the question named him
    # the picker on the same person: "he" is him, and the status says what came from the earlier turn
    _, searched, exchanges, _ = _last(fake_chat.respond(nato, history, "Dannenberg", exchanges))
    answer = exchanges[-1]["answer"]
    assert answer["answerable"] and {c["speaker"] for c in answer["citations"]} == {"Dannenberg"}
    assert "NATO" in answer["answer"] and not searched.startswith("From the earlier question")  # the topic is new


def test_the_status_line_says_what_a_follow_up_carried(fake_chat: Chat) -> None:
    history, _, exchanges, _ = _last(fake_chat.respond(HELSINKI, [], ANYONE, []))
    first = {(c["start"], c["end"]) for c in exchanges[-1]["answer"]["citations"]}
    more, searched, exchanges, _ = _last(fake_chat.respond("What else did he say?", history, ANYONE, exchanges))
    assert searched.startswith("From the earlier question: Dannenberg; not what the last answer quoted. Searched")
    answer = exchanges[-1]["answer"]
    assert answer["answerable"] and {c["speaker"] for c in answer["citations"]} == {"Dannenberg"}
    assert not {(c["start"], c["end"]) for c in answer["citations"]} & first
    _, searched, exchanges, _ = _last(fake_chat.respond("And McLaughlin?", history, ANYONE, exchanges))
    assert searched.startswith("From the earlier question: the topic “Helsinki”. Searched McLaughlin's answers")
    _, searched, _, _ = _last(fake_chat.respond("Why was that a mistake?", history, ANYONE, exchanges))
    assert searched.startswith("From the earlier question: Dannenberg; the topic “Helsinki”. Searched")


# --- a deleted document answers nothing (issue 28, item 3) ---

TRAM = "When will the tram extension open?"


def _tram(chat: Chat, fluent: bool) -> dict[str, Any]:
    _, _, exchanges, _ = _last(chat.respond(TRAM, [], ANYONE, [], fluent))
    return dict(exchanges[-1]["answer"])


@pytest.mark.slow
def test_a_deleted_document_is_refused_in_every_answer_mode(real_index: Path, tmp_path: Path) -> None:
    """Deleted in the chat, or removed from a shell (`rag remove`) while the chat runs: a question
    only that document answers is refused, extractive and fluent alike (the real model, seed index)."""
    from rag import build_index
    from tests.test_verify import Streaming

    index = tmp_path / "index"
    shutil.copytree(real_index, index)
    seeds = tmp_path / "seeds"
    seeds.mkdir()
    shutil.copy(SEED, seeds)
    reply = "James Okafor said the tram extension will open in March, two months late [1]."
    chat = Chat(
        Pipeline.load(index), index=index, sources=[seeds], uploads=tmp_path / "uploads", generator=Streaming(reply)
    )
    src = tmp_path / "panel.txt"
    shutil.copy(DATA / "panel.txt", src)
    for removed_from_a_shell in (False, True):
        assert chat.upload(str(src), progress=None)[0].startswith("**Added panel.txt**")
        for fluent in (False, True):
            answer = _tram(chat, fluent)
            assert answer["answerable"] and {c["doc_id"] for c in answer["citations"]} == {"panel"}, answer
        if removed_from_a_shell:
            build_index([seeds, chat.uploads], index, prune=True, exclude=[str(chat.uploads / "panel.txt")])
        else:
            assert chat.delete("panel", progress=None)[0] == "**Deleted panel.**"
        for fluent in (False, True):
            answer = _tram(chat, fluent)
            assert not answer["answerable"] and not answer["citations"], (removed_from_a_shell, fluent, answer)
            assert "panel" not in answer["answer"] and "Okafor" not in answer["answer"]
        (chat.uploads / "panel.txt").unlink(missing_ok=True)


def test_after_a_delete_a_full_name_never_falls_back_to_a_namesakes_first_name(tmp_path: Path) -> None:
    """panel.txt's Priya Nair is deleted; Priya Raman (another document) shares her first name only."""
    from rag import build_index
    from tests.conftest import FORMATS

    fake = FakeEmbedder()
    index = tmp_path / "index"
    build_index([FORMATS], index, embedder=fake)
    chat = Chat(
        Pipeline.load(index, embedder=fake), index=index, sources=[FORMATS], uploads=tmp_path / "u", embedder=fake
    )
    assert "Priya Raman" in chat.speakers()
    src = tmp_path / "panel.txt"
    shutil.copy(DATA / "panel.txt", src)
    chat.upload(str(src), progress=None)
    question = "What did Priya Nair say about painted lanes?"
    _, _, exchanges, _ = _last(chat.respond(question, [], ANYONE, []))
    assert {c["speaker"] for c in exchanges[-1]["answer"]["citations"]} == {"Priya Nair"}
    assert chat.delete("panel", progress=None)[0] == "**Deleted panel.**"
    for asked in (question, "What did Priya Nair say?"):
        _, _, exchanges, _ = _last(chat.respond(asked, [], ANYONE, []))
        answer = exchanges[-1]["answer"]
        assert not answer["answerable"] and not answer["citations"], answer
        assert answer["answer"].startswith("Priya Nair does not speak in the transcripts")
    _, _, exchanges, _ = _last(chat.respond("What did Priya say?", [], ANYONE, []))  # her first name alone: her
    assert {c["speaker"] for c in exchanges[-1]["answer"]["citations"]} == {"Priya Raman"}


def test_the_server_takes_files_up_to_the_largest_per_type_limit(fake_chat: Chat) -> None:
    """Gradio has one limit: the recording one; the transcript limit is the chat's own check."""
    import httpx

    from tests.conftest import free_port
    from ui.app import launch
    from ui.guard import UploadLimits

    fake_chat.limits = UploadLimits(transcript=1_000, recording=8_000)
    port = free_port()
    app = launch(fake_chat, host="127.0.0.1", port=port, quiet=True)
    try:
        with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=60) as client:
            client.get("/")  # the page's session cookie
            fits = client.post("/gradio_api/upload", files={"files": ("call.wav", b"RIFF" + bytes(5_000))})
            assert fits.status_code == 200, fits.text  # over the transcript limit, under the recording one
            over = client.post("/gradio_api/upload", files={"files": ("call.wav", b"RIFF" + bytes(9_000))})
            assert over.status_code == 413, over.text
    finally:
        app.close()
