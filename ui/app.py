"""The chat people use: cited answers they can check at a glance, in a Gradio page.

`build_app(chat)` lays out the page; `Chat` holds the loaded pipeline (swapped, never mutated,
when an upload adds a document) and answers through rag's public API only; `main()` builds the
index when it is missing or stale, loads it once, and serves on 127.0.0.1.
"""

from __future__ import annotations

import argparse
import copy
import html
import logging
import os
import shutil
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import gradio as gr

from rag import (
    TRANSCRIPT_SUFFIXES,
    Pipeline,
    RagError,
    Settings,
    SourceError,
    add_generator_options,
    build_index,
    corpus_roots,
    generator_from_options,
    load_documents,
    split_turns,
)
from rag.views import documents_json, message_text
from ui.format import (
    corpus_line,
    count,
    documents_rows,
    export_markdown,
    plain,
    plain_answer,
    render_answer,
    searched_line,
)
from ui.player import add_player, gradio_login

log = logging.getLogger("rag.ui")
TYPES = ", ".join(TRANSCRIPT_SUFFIXES)

ANYONE = "Anyone"
EVERY_DOCUMENT = "All documents"
EXAMPLES = [
    "What did Dannenberg say about Helsinki?",
    "What did the former CIA acting director say about Putin?",
    "What did Medvedev write?",
    "How long did the Trump-Putin call last?",
]
MAX_UPLOAD_BYTES = 5_000_000

CSS = """
.gradio-container {max-width: 1180px !important; margin: auto;}
#corpus {color: var(--body-text-color-subdued); font-size: 0.9em;}
.status {font-size: 0.85em; color: var(--body-text-color-subdued); margin-bottom: 4px;}
.refusal {border-left: 4px solid #d97706; background: rgba(217,119,6,0.08); padding: 8px 12px; border-radius: 4px;}
.answer a.cite {font-weight: 600; text-decoration: none; color: #2563eb; cursor: pointer;}
.sources {margin-top: 8px;}
details.source-card {border: 1px solid var(--border-color-primary); border-radius: 6px;
  padding: 4px 10px; margin: 6px 0; background: var(--background-fill-secondary);}
details.source-card[open] {padding-bottom: 8px;}
details.source-card summary {cursor: pointer; overflow-wrap: anywhere;}
details.source-card .doc {color: var(--body-text-color-subdued); font-size: 0.85em; margin-left: 4px;}
details.source-card .turn-text {margin-top: 6px; line-height: 1.5; overflow-wrap: anywhere;}
details.source-card mark {background: #fde68a; color: inherit; padding: 0 2px;}
details.source-card .where {font-size: 0.8em; color: var(--body-text-color-subdued); margin-top: 6px;
  overflow-wrap: anywhere;}
details.source-card.flash {outline: 2px solid #2563eb;}
.generation {font-size: 0.85em; color: var(--body-text-color-subdued); margin-top: 6px;}
.plain-copy {display: none;}
button.copy-plain {font-size: 0.8em; margin-top: 6px; padding: 2px 10px; border-radius: 4px;
  border: 1px solid var(--border-color-primary); background: var(--background-fill-primary); cursor: pointer;}
"""

# Pages may load nothing from other sites: no image, script, style, font or form target from a
# transcript can reach out, whatever gets past escaping.
CSP = (
    "default-src 'self'; script-src 'self' 'unsafe-inline'; style-src 'self' 'unsafe-inline'; "
    "img-src 'self' data: blob:; font-src 'self' data:; connect-src 'self'; media-src 'self' blob: data:; "
    "object-src 'none'; base-uri 'self'; form-action 'self'; frame-ancestors 'self'"
)

# Clicking [n] opens its source card and brings it into view.
HEAD = """
<script>
document.addEventListener("click", (event) => {
  const link = event.target.closest("a.cite");
  if (!link) return;
  event.preventDefault();
  const card = document.getElementById(link.getAttribute("href").slice(1));
  if (!card) return;
  card.open = true;
  card.scrollIntoView({block: "nearest", behavior: "smooth"});
  card.classList.add("flash");
  setTimeout(() => card.classList.remove("flash"), 1200);
});
// "Copy answer" puts the answer and its sources on the clipboard as plain text.
document.addEventListener("click", async (event) => {
  const button = event.target.closest("button.copy-plain");
  if (!button) return;
  const holder = button.parentElement && button.parentElement.querySelector(".plain-copy");
  const text = holder ? holder.textContent : "";
  try {
    await navigator.clipboard.writeText(text);
  } catch (err) {  // not a secure context: the old way
    const area = document.createElement("textarea");
    area.value = text;
    document.body.appendChild(area);
    area.select();
    document.execCommand("copy");
    area.remove();
  }
  button.textContent = "Copied";
  setTimeout(() => (button.textContent = "Copy answer"), 1500);
});
// A new answer scrolls into view, even after a source card was opened higher up.
new MutationObserver(() => {
  const rows = document.querySelectorAll("#chat .bot-row");
  const last = rows[rows.length - 1];
  if (last && last.dataset.seen !== "1") {
    last.dataset.seen = "1";
    last.scrollIntoView({block: "nearest"});
  }
}).observe(document.documentElement, {childList: true, subtree: true});
</script>
"""


class Chat:
    """The loaded pipeline and where uploads go. Queries read `self.pipe`; uploads and deletes swap it."""

    def __init__(
        self,
        pipe: Pipeline,
        *,
        index: Path,
        sources: list[Path],
        uploads: Path,
        embedder: Any = None,
        generator: Any = None,
        read_only: bool = False,
    ) -> None:
        self.generator = generator  # a language model for fluent answers, or None
        self._use(pipe)
        self.index = index
        self.sources = sources
        self.uploads = uploads
        self.embedder = embedder  # None: the packaged model; tests pass a fake
        self.read_only = read_only  # no uploads, no deletes (a chat others can reach)
        self._build_lock = threading.Lock()

    def _use(self, pipe: Pipeline) -> None:
        """Swap in a pipeline (at start and after an upload), with its model-writing twin."""
        self.pipe = pipe
        # the same loaded index and caches, answering through the model
        self.fluent = None if self.generator is None else copy.copy(pipe)
        if self.fluent is not None:
            self.fluent.generator = self.generator

    def speakers(self) -> list[str]:
        return [ANYONE, *(p.name for p in self.pipe.speakers())]

    def documents(self) -> list[str]:
        return [EVERY_DOCUMENT, *self.pipe.documents]

    def deletable(self) -> list[str]:
        """Documents added through the chat (in the uploads folder): the ones it may delete."""
        uploads = self.uploads.resolve()
        return [d.doc_id for d in self.pipe.documents.values() if Path(d.source).resolve().is_relative_to(uploads)]

    def refresh(self) -> tuple[str, Any, Any, Any, Any, Any]:
        """What every page load and every change shows, read from the index now in use."""
        deletable = self.deletable()
        can_delete = not self.read_only and bool(deletable)
        return (
            corpus_line(self.pipe),
            gr.update(choices=self.speakers()),
            gr.update(choices=self.documents()),
            gr.update(value=documents_rows(documents_json(self.pipe))),
            gr.update(choices=deletable, value=None, visible=can_delete),
            gr.update(visible=can_delete),
        )

    def respond(
        self,
        message: str,
        history: list[dict[str, Any]],
        speaker: str | None,
        exchanges: list[dict[str, Any]],
        fluent: bool = False,
        document: str | None = None,
    ) -> Iterator[tuple[list[dict[str, Any]], str, list[dict[str, Any]], str]]:
        """Answer `message`, first showing what is searched, then the answer with its sources
        (a model's answer sentence by sentence, as each one is verified)."""
        pipe = self.fluent if fluent and self.fluent is not None else self.pipe
        message = (message or "").strip()
        if not message:
            yield history, "Type a question first.", exchanges, ""
            return
        earlier = [message_text(m.get("content")) for m in history if m.get("role") == "user"]
        earlier = [e for e in earlier if e.strip()]
        chosen = None if not speaker or speaker == ANYONE else speaker
        doc_id = None if not document or document == EVERY_DOCUMENT else document
        history = [*history, {"role": "user", "content": message}]
        note = ""
        started = time.perf_counter()
        try:
            if doc_id is not None and doc_id not in pipe.documents:
                raise SourceError(f"{doc_id} is no longer in the index; choose another document")
            if chosen is not None:
                chosen, note = _picker_or_question(pipe, message, earlier, chosen, doc_id)
            query = pipe.read(message, history=earlier, speaker=chosen, doc_id=doc_id)
            who = ", ".join(query.speakers) if query.speakers else None
            searching = f"Searching {who}'s answers…" if who else "Searching all transcripts…"
            yield (
                [*history, {"role": "assistant", "content": f'<div class="status">{plain(searching)}</div>'}],
                searching,
                exchanges,
                "",
            )
            answer = None
            for answer in pipe.ask_stream(message, history=earlier, speaker=chosen, doc_id=doc_id):
                if answer.mode == "generating":
                    content = render_answer(pipe, answer, len(exchanges), searched="Writing… (each sentence checked)")
                    yield [*history, {"role": "assistant", "content": content}], "Writing…", exchanges, ""
        except RagError as err:
            text = f'<div class="refusal"><b>Cannot ask that.</b> {html.escape(str(err), quote=False)}</div>'
            yield [*history, {"role": "assistant", "content": text}], str(err), exchanges, ""
            return
        assert answer is not None
        took = f"in {(time.perf_counter() - started) * 1000:,.0f} ms"
        searched = f"{note} {searched_line(pipe, answer, doc_id=doc_id)} {took}".strip()
        content = render_answer(pipe, answer, len(exchanges), searched=searched)
        # newlines as character references: a blank line would end the HTML block in Markdown
        copy_text = html.escape(plain_answer(answer), quote=True).replace("\n", "&#10;")
        # Gradio's sanitiser keeps classes but drops data- attributes: the text rides in a hidden div
        content += f'<div class="plain-copy">{copy_text}</div><button class="copy-plain">Copy answer</button>'
        exchanges = [*exchanges, {"question": message, "speaker": chosen, "answer": answer.to_dict()}]
        yield [*history, {"role": "assistant", "content": content}], searched, exchanges, ""

    def ask_api(self, question: str, speaker: str = "", history: list[str] | None = None) -> dict[str, Any]:
        """For programs: the same JSON as `rag ask --json`."""
        try:
            answer = self.pipe.ask(question, history=history or [], speaker=speaker or None)
        except RagError as err:
            return {"question": question, "error": str(err)}
        return answer.to_dict()

    def upload(self, path: str | None, progress: Any = gr.Progress()) -> tuple[Any, ...]:  # noqa: B008
        """Add a transcript to the index on disk; on any problem the index stays as it was."""
        if self.read_only:
            return ("This chat is read-only; uploads are off.", *self.refresh())
        if not path:
            return (f"Choose a transcript ({TYPES}) first.", *self.refresh())
        src = Path(path)
        try:
            message = self._add(src, progress)
        except RagError as err:
            return (f"**{plain(src.name)}: not added.** {plain(str(err))}", *self.refresh())
        return (message, *self.refresh())

    def delete(self, doc_id: str | None, progress: Any = gr.Progress()) -> tuple[Any, ...]:  # noqa: B008
        """Remove a document added through the chat: its file goes, the index is rebuilt without it,
        and on any problem both stay as they were."""
        if self.read_only:
            return ("This chat is read-only; deleting is off.", *self.refresh())
        if not doc_id:
            return ("Choose a document to delete first.", *self.refresh())
        try:
            message = self._delete(doc_id, progress)
        except RagError as err:
            return (f"**{plain(doc_id)}: not deleted.** {plain(str(err))}", *self.refresh())
        return (message, *self.refresh())

    def _delete(self, doc_id: str, progress: Any) -> str:
        with self._build_lock:
            doc = self.pipe.documents.get(doc_id)
            if doc is None:
                raise SourceError("it is not in the index (deleted already?)")
            if doc_id not in self.deletable():
                raise SourceError(f"only documents added here can be deleted; it comes from {doc.source}")
            target = Path(doc.source)
            kept = target.read_bytes()
            target.unlink()
            try:
                self._rebuild(progress)
            except BaseException:
                target.write_bytes(kept)
                raise
        return f"**Deleted {plain(doc_id)}.**"

    def _rebuild(self, progress: Any) -> Any:
        report = build_index(
            _corpus(self.index, self.sources, self.uploads),
            self.index,
            embedder=self.embedder,
            progress=_reporter(progress),
        )
        self._use(Pipeline.load(self.index, settings=self.pipe.settings, embedder=self.embedder))
        return report

    def _add(self, src: Path, progress: Any) -> str:
        # A name starting with a dot is a hidden file, which a build skips: keep it without the dots.
        name = src.name.lstrip(".")
        if not Path(name).stem or Path(name).suffix == "":
            raise SourceError(f"{src.name!r} has no name before its type; rename it, e.g. interview.txt")
        renamed = f" (saved as {plain(name)}: names starting with a dot are hidden files)" if name != src.name else ""
        if src.suffix.lower() not in TRANSCRIPT_SUFFIXES:
            raise SourceError(f"unsupported file type {src.suffix or '(none)'!r}; upload {TYPES}")
        if src.stat().st_size > MAX_UPLOAD_BYTES:
            raise SourceError(
                f"{src.stat().st_size / 1e6:.1f} MB is over the {MAX_UPLOAD_BYTES / 1e6:.0f} MB upload limit; split it"
            )
        with tempfile.TemporaryDirectory() as tmp:
            staged = Path(tmp) / name
            shutil.copyfile(src, staged)
            try:
                doc = load_documents([staged])[0]  # checks empty, binary, encoding, JSON shape
            except SourceError as err:  # the person knows the file by its name, not our staging path
                raise SourceError(str(err).replace(f"{staged}: ", "").replace(str(staged), name)) from err
            if not any(t.speaker for t in split_turns(doc)):
                raise SourceError("no speaker labels found; start each turn with 'Name: ...'")
            existing = {d.doc_id: d.source for d in self.pipe.documents.values()}
            target = self.uploads / name
            if doc.doc_id in existing and Path(existing[doc.doc_id]).resolve() != target.resolve():
                raise SourceError(
                    f"a document named {doc.doc_id!r} is already indexed ({existing[doc.doc_id]}); rename the file"
                )
            with self._build_lock:
                self.uploads.mkdir(parents=True, exist_ok=True)
                previous = target.read_bytes() if target.exists() else None
                shutil.copyfile(staged, target)
                try:
                    report = self._rebuild(progress)
                except BaseException:
                    if previous is None:
                        target.unlink(missing_ok=True)
                    else:
                        target.write_bytes(previous)
                    raise
        chunks = sum(c.doc_id == doc.doc_id for c in self.pipe.chunks)
        speakers = sorted({t.speaker for t in split_turns(doc) if t.speaker})
        verb = "Updated" if doc.doc_id in report.changed else "Added"
        by = ", ".join(plain(s) for s in speakers) or "the narration"
        return f"**{verb} {plain(name)}**{renamed}: {count(chunks, 'passage')} by {by}. Ask away."


def _reporter(progress: Any) -> Any:
    if progress is None:
        return None

    def report(stage: str, done: int, total: int) -> None:
        progress(done / max(total, 1), desc=f"{stage} {done}/{total}")

    return report


def build_app(chat: Chat) -> gr.Blocks:
    """The page: chat on the left; speaker and document pickers, examples, documents, upload and
    export on the right. The corpus line, pickers and documents are read again on every load."""
    with gr.Blocks(title="rag · ask the transcripts") as app:
        gr.Markdown("## Ask the transcripts\nEvery answer quotes the speaker's own words; click [1] to see the source.")
        corpus = gr.Markdown(corpus_line(chat.pipe), elem_id="corpus")
        exchanges = gr.State([])
        with gr.Row(equal_height=False):
            with gr.Column(scale=3, min_width=320):
                chatbot = gr.Chatbot(
                    elem_id="chat",
                    height=520,
                    buttons=[],  # "Copy answer" in each answer copies plain text with its sources
                    feedback_options=None,
                    show_label=False,
                    placeholder="Ask what someone said, e.g. “What did Dannenberg say about Helsinki?”",
                )
                with gr.Row():
                    box = gr.Textbox(
                        show_label=False,
                        placeholder="Ask a question…",
                        scale=5,
                        elem_id="question",
                        submit_btn=False,
                        max_lines=4,
                    )
                    send = gr.Button("Ask", variant="primary", scale=1, min_width=80, elem_id="ask")
                status = gr.Markdown("", elem_id="searching")
            with gr.Column(scale=2, min_width=280):
                fluent = gr.Checkbox(
                    False,
                    label=f"Fluent answer ({getattr(chat.generator, 'name', 'no model')})",
                    info="A language model writes the answer; every sentence is checked against its sources "
                    "and unsupported ones are removed.",
                    visible=chat.generator is not None,
                    elem_id="fluent",
                )
                with gr.Row():
                    speaker = gr.Dropdown(
                        chat.speakers(),
                        value=ANYONE,
                        label="Speaker",
                        elem_id="speaker",
                        info="Only this person's words are searched.",
                    )
                    document = gr.Dropdown(
                        chat.documents(),
                        value=EVERY_DOCUMENT,
                        label="Document",
                        elem_id="document",
                        info="Only this document is searched.",
                    )
                gr.Examples(EXAMPLES, inputs=box, label="Try")
                with gr.Accordion("Documents", open=False, elem_id="documents"):
                    table = gr.Dataframe(
                        documents_rows(documents_json(chat.pipe)),
                        headers=["Document", "Speakers", "Turns", "Added"],
                        datatype=["str", "str", "str", "str"],
                        interactive=False,
                        wrap=True,
                        column_widths=["30%", "40%", "12%", "18%"],
                        elem_id="documents-table",
                    )
                    deletable = chat.deletable()
                    with gr.Row():
                        doomed = gr.Dropdown(
                            deletable,
                            value=None,
                            label="Delete a document you added",
                            visible=not chat.read_only and bool(deletable),
                            elem_id="doomed",
                        )
                        remove = gr.Button(
                            "Delete",
                            variant="stop",
                            size="sm",
                            visible=not chat.read_only and bool(deletable),
                            elem_id="delete",
                        )
                    delete_status = gr.Markdown("", elem_id="delete-status")
                with gr.Accordion("Add a transcript", open=False, elem_id="add", visible=not chat.read_only):
                    upload = gr.File(
                        label="'Name:' text (.txt, .md), captions (.vtt, .srt), Whisper or QMSum .json",
                        file_types=list(TRANSCRIPT_SUFFIXES),
                        type="filepath",
                        elem_id="upload",
                    )
                    upload_status = gr.Markdown("", elem_id="upload-status")
                with gr.Row():
                    export = gr.Button("Export conversation", elem_id="export", size="sm")
                    clear = gr.Button("New conversation", elem_id="clear", size="sm")
                download = gr.File(label="Conversation (Markdown)", visible=False, elem_id="download")

        ask_inputs = [box, chatbot, speaker, exchanges, fluent, document]
        ask_outputs = [chatbot, status, exchanges, box]
        shown = [corpus, speaker, document, table, doomed, remove]
        box.submit(chat.respond, ask_inputs, ask_outputs, api_name=False)
        send.click(chat.respond, ask_inputs, ask_outputs, api_name=False)
        upload.upload(chat.upload, [upload], [upload_status, *shown], api_name=False, show_progress="full")
        remove.click(chat.delete, [doomed], [delete_status, *shown], api_name=False, show_progress="full")
        export.click(lambda ex: _export(ex), [exchanges], [download], api_name=False)
        reset = ([], "", [], gr.update(visible=False))
        clear.click(lambda: reset, None, [chatbot, status, exchanges, download], api_name=False)
        chatbot.clear(lambda: reset[1:], None, [status, exchanges, download], api_name=False)
        app.load(chat.refresh, None, shown, api_name=False)
        gr.api(chat.ask_api, api_name="ask")
    return app


def _export(exchanges: list[dict[str, Any]]) -> Any:
    if not exchanges:
        return gr.update(visible=False)
    path = Path(tempfile.mkdtemp(prefix="rag-export-")) / f"conversation-{time.strftime('%Y%m%d-%H%M%S')}.md"
    path.write_text(export_markdown(exchanges), encoding="utf-8")
    return gr.update(value=str(path), visible=True)


class Server:
    """The chat and rag's HTTP API on one uvicorn server, running in a thread; `close()` stops it."""

    def __init__(self, app: Any, *, host: str, port: int) -> None:
        import uvicorn

        config = uvicorn.Config(app, host=host, port=port, log_level="warning", lifespan="on")
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self.server.run, daemon=True)
        self.thread.start()
        deadline = time.monotonic() + 60
        while not self.server.started:
            if not self.thread.is_alive() or time.monotonic() > deadline:
                raise RuntimeError(f"the server did not start on {host}:{port}; is the port in use? try --port")
            time.sleep(0.05)

    def close(self) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=10)


def launch(
    chat: Chat,
    *,
    host: str = "127.0.0.1",
    port: int = 7860,
    quiet: bool = False,
    token: str | None = None,
    auth: tuple[str, str] | None = None,
) -> Server:
    """Start the chat at / and the HTTP API at /v1 on one port, without blocking; `.close()` stops it.

    `auth`: a user name and password the chat asks for. With `auth` and no `token`, /v1 is off
    (it would be an open door beside a locked one).
    """
    from fastapi import FastAPI, Request

    from rag.serve import create_app

    blocks = build_app(chat)
    blocks.queue(default_concurrency_limit=4)
    theme = gr.themes.Soft(
        font=["system-ui", "Segoe UI", "Helvetica", "Arial", "sans-serif"],
        font_mono=["ui-monospace", "monospace"],
    )
    # one process, one loaded index, one port
    api = FastAPI() if auth is not None and token is None else create_app(lambda: chat.pipe, token=token)

    @api.middleware("http")
    async def policy(request: Request, call_next: Any) -> Any:
        response = await call_next(request)
        response.headers.setdefault("Content-Security-Policy", CSP)
        response.headers.setdefault("X-Content-Type-Options", "nosniff")
        return response

    app = gr.mount_gradio_app(
        api,
        blocks,
        path="/",
        server_name=host,
        server_port=port,
        ssr_mode=False,
        css=CSS,
        head=HEAD,
        theme=theme,
        max_file_size=MAX_UPLOAD_BYTES,
        show_error=True,
        auth=auth,
        auth_message="This chat asks for a user name and password.",
    )
    add_player(app, documents=lambda: chat.pipe.documents, allowed=gradio_login(app))  # recordings play
    return Server(app, host=host, port=port)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m ui", description="Serve the chat over the transcripts.")
    p.add_argument("--index", type=Path, default=Path("index"))
    p.add_argument("--sources", type=Path, nargs="*", default=[Path("seeds")], help="transcripts (default: seeds/)")
    p.add_argument("--uploads", type=Path, default=Path("uploads"), help="where uploaded transcripts are kept")
    p.add_argument("--host", default="127.0.0.1", help="default 127.0.0.1 (this machine only)")
    p.add_argument("--port", type=int, default=7860)
    p.add_argument("--no-build", action="store_true", help="serve the index as it is")
    p.add_argument("--no-uploads", action="store_true", help="read-only: no uploads, no deletes")
    p.add_argument("--auth", metavar="USER:PASS", help="ask for this user name and password (see --auth-env)")
    p.add_argument("--auth-env", metavar="NAME", help="the same, read from this environment variable")
    p.add_argument(
        "--token-env", metavar="NAME", help="the /v1 API wants this bearer token (off with --auth without it)"
    )
    add_generator_options(p)
    args = p.parse_args(argv)
    handler = logging.StreamHandler(sys.stderr)
    handler.setLevel(logging.WARNING)  # bm25s sets its own logger to DEBUG; filter at the handler
    logging.basicConfig(level=logging.WARNING, handlers=[handler], format="%(message)s")
    try:
        auth = _auth(args.auth or (os.environ.get(args.auth_env, "") if args.auth_env else None))
        token = os.environ.get(args.token_env) if args.token_env else None
        if args.token_env and not token:
            raise ValueError(f"--token-env {args.token_env}: that environment variable is empty or unset")
    except ValueError as err:
        p.error(str(err))
    if args.host not in ("127.0.0.1", "localhost", "::1") and auth is None:
        print(f"rag: warning: serving on {args.host} without --auth: anyone who can reach it can ask", file=sys.stderr)
    started = time.perf_counter()
    try:
        if not args.no_build:
            paths = _corpus(args.index, args.sources, args.uploads)
            report = build_index(paths, args.index, progress=_print_progress)
            print(f"\rindex: {report.chunks} passages ({report.embedded} embedded now)        ", file=sys.stderr)
        pipe = Pipeline.load(args.index, settings=Settings())
    except RagError as err:
        print(f"rag: error: {err}", file=sys.stderr)
        return 1
    try:
        generator = generator_from_options(args, os.environ)
    except RagError as err:
        print(f"rag: error: {err}", file=sys.stderr)
        return 1
    chat = Chat(
        pipe,
        index=args.index,
        sources=args.sources,
        uploads=args.uploads,
        generator=generator,
        read_only=args.no_uploads,
    )
    app = launch(chat, host=args.host, port=args.port, quiet=True, token=token, auth=auth)
    api = "off (pass --token-env with --auth)" if auth is not None and token is None else "/v1"
    print(
        f"rag chat ready in {time.perf_counter() - started:.1f} s: http://{args.host}:{args.port} (API {api})",
        flush=True,
    )
    try:
        while True:
            time.sleep(3600)
    except KeyboardInterrupt:
        app.close()
    return 0


def _auth(value: str | None) -> tuple[str, str] | None:
    """ "ann:secret" -> ("ann", "secret"); None -> None.

    Raises:
        ValueError: no colon, or an empty user name or password.
    """
    if value is None:
        return None
    user, sep, password = value.partition(":")
    if not sep or not user or not password:
        raise ValueError("--auth wants USER:PASS, both non-empty (or --auth-env NAME holding that)")
    return user, password


def _picker_or_question(
    pipe: Pipeline, message: str, earlier: list[str], chosen: str, doc_id: str | None = None
) -> tuple[str | None, str]:
    """When the picker and the question name different people, the question wins, and says so.

    Example: picker "Dannenberg", "What did McLaughlin say about NATO?" ->
        (None, "The question names McLaughlin, so the picker's Dannenberg was not used.")
    """
    named = pipe.read(message, history=earlier, doc_id=doc_id).speakers
    picked = pipe.resolve_speaker(chosen, doc_id=doc_id)
    if named and set(named) != set(picked):
        return None, f"The question names {', '.join(named)}, so the picker's {chosen} was not used."
    return chosen, ""


def _corpus(index: Path, sources: list[Path], uploads: Path | None) -> list[Path]:
    """What the index is built from: its own sources (as `rag build`/`rag add` left them), or
    `sources` for a new index; plus the uploads folder. Each once."""
    roots = [p for p in corpus_roots(index) if p.exists()] or sources
    paths = [*roots, *([uploads] if uploads is not None and uploads.exists() else [])]
    return list({p.resolve(): p for p in paths}.values())


def _print_progress(stage: str, done: int, total: int) -> None:
    print(f"\r{stage}: {done}/{total}", end="", file=sys.stderr, flush=True)
