"""The chat people use: cited answers they can check at a glance, in a Gradio page.

`build_app(chat)` lays out the page; `Chat` holds the loaded pipeline (swapped, never mutated,
when an upload adds a document) and answers through rag's public API only; `main()` builds the
index when it is missing or stale, loads it once, and serves on 127.0.0.1.
"""

from __future__ import annotations

import argparse
import copy
import html
import json
import logging
import os
import re
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
    Recorder,
    Settings,
    SourceError,
    add_generator_options,
    build_index,
    corpus_roots,
    generator_from_options,
    load_documents,
    split_turns,
)
from rag.index import RECORDINGS
from rag.recordings import is_recording, transcript_file, write_atomic
from rag.transcribe import Pace
from rag.views import documents_json, message_text
from ui.conversations import Conversations, new_id
from ui.format import (
    carried_line,
    corpus_line,
    count,
    documents_rows,
    export_markdown,
    plain,
    plain_answer,
    render_answer,
    searched_line,
)
from ui.guard import (
    NOT_UPLOADED,
    SESSION_COOKIE,
    LoginThrottle,
    UploadLedger,
    UploadLimits,
    only_own_uploads,
    refuse_other_origins,
    refuse_uploads,
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
MAX_LISTED = 50  # past conversations shown
_BROWSER_ID = re.compile(r"[0-9a-f]{32}")

CSS = """
.gradio-container {max-width: 1180px !important; margin: auto;}
#corpus, #corpus p {color: var(--body-text-color-subdued); font-size: 0.9em;}
.status {font-size: 0.85em; color: var(--body-text-color-subdued); margin-bottom: 4px;}
.refusal {border-left: 4px solid #b45309; background: rgba(217,119,6,0.08); padding: 8px 12px; border-radius: 4px;}
a.cite {font-weight: 600; text-decoration: none; color: #1d4ed8; cursor: pointer;}
.dark a.cite {color: #93c5fd;}
a.cite:hover {text-decoration: underline;}
.answer p.said {margin: 6px 0 2px;}
.answer p.in-doc {margin: 2px 0 0 12px; font-style: italic;}
.answer ul.quotes {margin: 2px 0 6px 1.2em; padding-left: 0.6em;}
.answer ul.quotes li {margin: 2px 0;}
.sources {margin-top: 8px;}
details.source-card {border: 1px solid var(--border-color-primary); border-radius: 6px;
  padding: 4px 10px; margin: 6px 0; background: var(--background-fill-secondary);}
details.source-card[open] {padding-bottom: 8px;}
details.source-card summary {cursor: pointer; overflow-wrap: anywhere;}
details.source-card .doc {color: var(--body-text-color-subdued); font-size: 0.85em; margin-left: 4px;}
details.source-card .turn-text {margin-top: 6px; line-height: 1.5; overflow-wrap: anywhere;}
/* the quote: dark text on light yellow in both themes (15:1), never the theme's light grey on yellow */
details.source-card mark, .dark details.source-card mark {background: #fde68a; color: #1f2937; padding: 0 2px;}
details.source-card .where {font-size: 0.8em; color: var(--body-text-color-subdued); margin-top: 6px;
  overflow-wrap: anywhere;}
details.source-card.flash {outline: 2px solid #2563eb;}
.generation {font-size: 0.85em; color: var(--body-text-color-subdued); margin-top: 6px;}
.plain-copy, .pick-name, .pick-doc {display: none;}
button.copy-plain, button.candidate {font-size: 0.85em; margin-top: 6px; padding: 3px 10px; border-radius: 4px;
  border: 1px solid var(--border-color-primary); background: var(--background-fill-primary);
  color: var(--body-text-color); cursor: pointer;}
.candidates {display: flex; flex-wrap: wrap; gap: 6px; margin-top: 6px;}
button.candidate {margin-top: 0; font-weight: 600;}
.hidden-control {display: none !important;}
/* the status line is in each answer; this copy is for screen readers (a live region), not shown twice */
#searching {position: absolute !important; width: 1px; height: 1px; overflow: hidden; clip-path: inset(50%);
  white-space: nowrap;}
#who {font-size: 0.9em;}
#who a {color: #1d4ed8;} .dark #who a {color: #93c5fd;}
/* a focus ring everyone can see, in both themes */
:is(a, button, input, textarea, select, summary, [tabindex]):focus-visible {
  outline: 3px solid #2563eb !important; outline-offset: 2px !important;}
.dark :is(a, button, input, textarea, select, summary, [tabindex]):focus-visible {outline-color: #93c5fd !important;}
#question textarea:focus {outline: 3px solid #2563eb !important; outline-offset: 1px;}
.dark #question textarea:focus {outline-color: #93c5fd !important;}
/* dropdown text never runs under its arrow */
#speaker input, #document input, #doomed input {padding-right: 28px !important; text-overflow: ellipsis;}
/* table cells break between words, not inside them */
#documents-table td, #documents-table th, #documents-table span {word-break: normal !important;
  overflow-wrap: normal !important; hyphens: none;}
#upload .file-preview, #upload .wrap {padding-right: 32px;}
@media (max-width: 640px) {
  .gradio-container {padding: 6px !important;}
  #chat {height: 46vh !important; min-height: 260px;}
  #title h2 {font-size: 1.15em; margin: 0;}
  #title p {display: none;}
  #documents-table {overflow-x: auto;}
  #documents-table th, #documents-table td {font-size: 0.85em;}
}
"""

# Pages may load nothing from other sites: no image, script, style, font or form target from a
# transcript can reach out, whatever gets past escaping.
CSP = (
    "default-src 'self'; script-src 'self' 'unsafe-inline'; style-src 'self' 'unsafe-inline'; "
    "img-src 'self' data: blob:; font-src 'self' data:; connect-src 'self'; media-src 'self' blob: data:; "
    "object-src 'none'; base-uri 'self'; form-action 'self'; frame-ancestors 'self'"
)

# Clicking [n] opens its source card and brings it into view; the rest is keyboard and scrolling.
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
// A "which one?" button asks the question again for that person (and their document).
document.addEventListener("click", (event) => {
  const button = event.target.closest("button.candidate");
  if (!button) return;
  const pick = document.querySelector("#pick textarea, #pick input");
  if (!pick) return;
  pick.value = JSON.stringify({
    name: button.querySelector(".pick-name")?.textContent || "",
    doc: button.querySelector(".pick-doc")?.textContent || "",
  });
  pick.dispatchEvent(new Event("input", {bubbles: true}));
  setTimeout(() => document.querySelector("#pick-go")?.click(), 50);
});
// The start of a new answer scrolls into view inside the chat (not its end).
function scrollToAnswerStart() {
  const live = document.getElementById("searching");  // read out by screen readers, shown in the answer
  if (live && !live.getAttribute("role")) {
    live.setAttribute("role", "status");
    live.setAttribute("aria-live", "polite");
  }
  const rows = document.querySelectorAll("#chat .bot-row");
  const last = rows[rows.length - 1];
  if (rows.length < (window.ragSeen || 0)) window.ragSeen = 0;  // a new or reopened conversation
  if (!last || rows.length === window.ragSeen || !last.querySelector(".answer, .refusal")) return;
  window.ragSeen = rows.length;
  let box = last.parentElement;
  while (box && box !== document.body && !(box.scrollHeight > box.clientHeight + 2 &&
         /(auto|scroll)/.test(getComputedStyle(box).overflowY))) box = box.parentElement;
  if (!box || box === document.body) { last.scrollIntoView({block: "start"}); return; }
  const user = last.previousElementSibling;
  const top = (user && user.classList.contains("user-row")) ? user : last;
  box.scrollTop += top.getBoundingClientRect().top - box.getBoundingClientRect().top - 4;
}
new MutationObserver(() => requestAnimationFrame(scrollToAnswerStart))
  .observe(document.documentElement, {childList: true, subtree: true});
// Keyboard: Tab from the question box goes straight to [1] of the newest answer.
document.addEventListener("keydown", (event) => {
  if (event.key !== "Tab" || event.shiftKey || event.altKey || event.ctrlKey) return;
  if (!event.target.closest || !event.target.closest("#question")) return;
  const rows = document.querySelectorAll("#chat .bot-row");
  const last = rows[rows.length - 1];
  const first = last && last.querySelector("a.cite");
  if (!first || window.ragTabbed === rows.length) return;
  window.ragTabbed = rows.length;
  event.preventDefault();
  first.focus();
});
// Tab out of a dropdown closes its list and goes on to the next control (Gradio's own Tab
// handling reopens the list and drops the focus on the page).
document.addEventListener("keydown", (event) => {
  if (event.key !== "Tab" || event.altKey || event.ctrlKey) return;
  const input = event.target.closest && event.target.closest("input[role=combobox]");
  if (!input) return;
  event.preventDefault();
  event.stopImmediatePropagation();
  const stops = [...document.querySelectorAll(
    "a[href], button, input:not([type=hidden]), textarea, select, summary, [tabindex]")]
    .filter((el) => !el.disabled && el.tabIndex >= 0 && el.getClientRects().length &&
            getComputedStyle(el).visibility !== "hidden");
  const at = stops.indexOf(input);
  const next = stops[(at + (event.shiftKey ? -1 : 1) + stops.length) % stops.length];
  input.blur();
  setTimeout(() => next && next.focus(), 0);
}, true);
</script>
"""


# Gradio's page before sign-in gets neither the head above nor a title: added to "/" as it is sent.
LOGIN_HEAD = (
    "<title>Ask the transcripts</title><script>\n"
    + """
// Gradio's login page: a title and labels in sentence case.
function tidyLogin() {
  if (!document.querySelector("input[type=password]")) return;
  if (!document.title) document.title = "Sign in · Ask the transcripts";
  for (const span of document.querySelectorAll("label > span")) {
    const text = span.textContent.trim();
    if (text === "username") span.textContent = "User name";
    else if (text === "password") span.textContent = "Password";
  }
}
new MutationObserver(tidyLogin).observe(document.documentElement, {childList: true, subtree: true});
"""
    + "</script>"
)


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
        conversations: Path | None = None,
        limits: UploadLimits = UploadLimits(),  # noqa: B008 (frozen)
    ) -> None:
        self.generator = generator  # a language model for fluent answers, or None
        self._use(pipe)
        self.index = index
        self.sources = sources
        self.uploads = uploads
        self.embedder = embedder  # None: the packaged model; tests pass a fake
        self.read_only = read_only  # no uploads, no deletes (a chat others can reach)
        self.limits = limits  # the largest upload, per type
        self._build_lock = threading.Lock()
        # past conversations live next to the uploads, one folder per login or browser
        self.conversations = Conversations(conversations or uploads.parent / "conversations")
        self.login_required = False  # set by launch() when the chat asks for a login
        self.ledger: UploadLedger | None = None  # set by launch(): which session uploaded which file

    def _use(self, pipe: Pipeline) -> None:
        """Swap in a pipeline (at start and after an upload), with its model-writing twin."""
        self.pipe = pipe
        # the same loaded index and caches, answering through the model
        self.fluent = None if self.generator is None else copy.copy(pipe)
        if self.fluent is not None:
            self.fluent.generator = self.generator

    def refreshed(self) -> Pipeline:
        """The pipeline over the index on disk now, the fluent twin swapped with it: a document a
        shell removed (`rag remove`) is gone from both, never quoted by the model's answers."""
        newer = self.pipe.refreshed()
        if newer is not self.pipe:
            self._use(newer)
        return self.pipe

    def speakers(self) -> list[str]:
        return [ANYONE, *(p.name for p in self.pipe.speakers())]

    def documents(self) -> list[str]:
        return [EVERY_DOCUMENT, *self.pipe.documents]

    # --- who is asking, and their past conversations ---

    def owner(self, browser: str, request: gr.Request | None) -> str:
        """Whose conversations these are: the login when there is one, else this browser's id.

        With a login set and none given (cannot happen through the page), nobody: "".
        """
        user = getattr(request, "username", None) if request is not None else None
        if user:
            return f"user:{user}"
        if self.login_required:
            return ""
        return f"browser:{browser}" if _BROWSER_ID.fullmatch(browser or "") else ""

    def past_choices(self, owner: str) -> list[tuple[str, str]]:
        if not owner:
            return []
        return [
            (f"{c.title} · {time.strftime('%d %b %H:%M', time.localtime(c.updated))}", c.conv_id)
            for c in self.conversations.list(owner)[:MAX_LISTED]
        ]

    def arrive(self, browser: str, request: gr.Request) -> tuple[str, Any, Any]:
        """On page load: give a new browser its id; list its (or the login's) conversations."""
        if not _BROWSER_ID.fullmatch(browser or ""):
            browser = new_id()
        owner = self.owner(browser, request)
        user = getattr(request, "username", None)
        who = f"Signed in as **{plain(user)}** · [Log out](/logout)" if user else ""
        return browser, gr.update(choices=self.past_choices(owner), value=None), gr.update(value=who)

    def remember(
        self,
        browser: str,
        conv_id: str,
        messages: list[dict[str, Any]],
        exchanges: list[dict[str, Any]],
        request: gr.Request,
    ) -> tuple[str, Any, Any]:
        """After each answer: save the conversation on the server (a new one gets an id)."""
        owner = self.owner(browser, request)
        if not owner or not exchanges:
            return conv_id, gr.update(), gr.update()
        conv_id = conv_id if _BROWSER_ID.fullmatch(conv_id or "") else new_id()
        conv = self.conversations.save(owner, conv_id, _plain_messages(messages), exchanges)
        return conv_id, gr.update(choices=self.past_choices(owner), value=conv_id), gr.update(value=conv.title)

    def reopen(self, browser: str, conv_id: str | None, request: gr.Request) -> tuple[Any, ...]:
        conv = self.conversations.get(self.owner(browser, request), conv_id or "")
        if conv is None:
            return gr.update(), gr.update(), gr.update(), gr.update(), "That conversation is gone; pick another."
        return conv.messages, conv.exchanges, conv.conv_id, conv.title, ""

    def rename(self, browser: str, conv_id: str, title: str, request: gr.Request) -> tuple[Any, str]:
        owner = self.owner(browser, request)
        if not conv_id:
            return gr.update(), "Ask something first; then the conversation can be named."
        conv = self.conversations.rename(owner, conv_id, title or "")
        if conv is None:
            return gr.update(), "Type a name first."
        return gr.update(choices=self.past_choices(owner), value=conv_id), f"Renamed to “{plain(conv.title)}”."

    def ask_forget(self, browser: str, conv_id: str, request: gr.Request) -> tuple[Any, str, str]:
        conv = self.conversations.get(self.owner(browser, request), conv_id or "")
        if conv is None:
            return gr.update(visible=False), "", "Nothing to delete: this conversation is not saved yet."
        return gr.update(visible=True), f"Delete “{plain(conv.title)}”? This cannot be undone.", ""

    def forget(self, browser: str, conv_id: str, request: gr.Request) -> tuple[Any, ...]:
        owner = self.owner(browser, request)
        gone = self.conversations.delete(owner, conv_id or "")
        said = "Conversation deleted." if gone else "It was already gone."
        fresh = ([], "", [], gr.update(visible=False), "", gr.update(choices=self.past_choices(owner), value=None), "")
        return (gr.update(visible=False), said, *fresh)

    # --- pickers ---

    def speaker_choices(self, doc_id: str | None) -> list[tuple[str, str]]:
        """Speakers to pick, each saying where they speak; only the document's when one is chosen."""
        people = [p for p in self.pipe.speakers() if doc_id is None or doc_id in p.doc_ids]
        return [(ANYONE, ANYONE), *((p.where, p.name) for p in people)]

    def narrow_speakers(self, document: str | None, speaker: str | None) -> Any:
        doc_id = None if not document or document == EVERY_DOCUMENT else document
        choices = self.speaker_choices(doc_id)
        keep = speaker if speaker in {value for _, value in choices} else ANYONE
        return gr.update(choices=choices, value=keep)

    def respond_pick(
        self, pick: str, history: list[dict[str, Any]], exchanges: list[dict[str, Any]], fluent: bool = False
    ) -> Iterator[tuple[list[dict[str, Any]], str, list[dict[str, Any]], str]]:
        """A "which one?" button: the last question again, for that person in their document."""
        try:
            chosen = json.loads(pick or "{}")
        except ValueError:
            chosen = {}
        name, doc = str(chosen.get("name") or ""), str(chosen.get("doc") or "")
        earlier = [message_text(m.get("content")) for m in history if m.get("role") == "user"]
        question = next((q for q in reversed(earlier) if q.strip()), "")
        if not name or not question:
            yield history, "Pick a person from an answer first.", exchanges, ""
            return
        yield from self.respond(question, history, name, exchanges, fluent, doc or None)

    def ask_delete(self, doc_id: str | None) -> tuple[Any, str]:
        if not doc_id:
            return gr.update(visible=False), ""
        return gr.update(visible=True), f"Delete **{plain(doc_id)}** from disk and from the index?"

    def deletable(self) -> list[str]:
        """Documents added through the chat (in the uploads folder): the ones it may delete."""
        uploads = self.uploads.resolve()
        return [d.doc_id for d in self.pipe.documents.values() if Path(d.source).resolve().is_relative_to(uploads)]

    def refresh(self) -> tuple[str, Any, Any, Any, Any, Any]:
        """What every page load and every change shows, read from the index now in use."""
        self.refreshed()
        deletable = self.deletable()
        can_delete = not self.read_only and bool(deletable)
        return (
            corpus_line(self.pipe),
            gr.update(choices=self.speaker_choices(None)),
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
        self.refreshed()  # a build from a shell (rag add, rag remove) may have swapped in a new generation
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
            who = ", ".join(query.speakers) if query.speakers and not query.unclear else None
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
            text = f'<div class="refusal"><b>Cannot ask that.</b> {html.escape(sentence(str(err)), quote=False)}</div>'
            yield [*history, {"role": "assistant", "content": text}], plain(sentence(str(err))), exchanges, ""
            return
        assert answer is not None
        took = f"in {(time.perf_counter() - started) * 1000:,.0f} ms"
        carried = carried_line(query, pipe.read(message, doc_id=doc_id), picked=chosen is not None)
        asked_back = query.unclear and not answer.hits  # who is meant is unclear: nothing was searched
        looked = searched_line(pipe, answer, doc_id=doc_id)
        looked = "Nothing searched: who is meant is not clear." if asked_back else looked
        searched = " ".join(x for x in (note, carried, looked, "" if asked_back else took) if x)
        content = render_answer(pipe, answer, len(exchanges), searched=searched)
        # newlines as character references: a blank line would end the HTML block in Markdown
        copy_text = html.escape(plain_answer(answer), quote=True).replace("\n", "&#10;")
        # Gradio's sanitiser keeps classes but drops data- attributes: the text rides in a hidden div
        content += f'<div class="plain-copy">{copy_text}</div><button class="copy-plain">Copy answer</button>'
        exchanges = [*exchanges, {"question": message, "speaker": chosen, "answer": answer.to_dict()}]
        yield [*history, {"role": "assistant", "content": content}], plain(searched), exchanges, ""

    def ask_api(self, question: str, speaker: str = "", history: list[str] | None = None) -> dict[str, Any]:
        """For programs: the same JSON as `rag ask --json`."""
        try:
            self.refreshed()
            answer = self.pipe.ask(question, history=history or [], speaker=speaker or None)
        except RagError as err:
            return {"question": question, "error": str(err)}
        return answer.to_dict()

    def upload(
        self,
        paths: str | list[str] | None,
        request: gr.Request | None = None,
        progress: Any = gr.Progress(),  # noqa: B008
    ) -> tuple[Any, ...]:
        """Add transcripts to the index on disk, one line of result per file; on any problem with
        a file the index stays as it was for that file. Served (`ledger` set), only files this
        browser session uploaded are read."""
        if self.read_only:
            return ("This chat is read-only; uploads are off.", *self.refresh())
        chosen = [paths] if isinstance(paths, str) else [p for p in paths or [] if p]
        if not chosen:
            return (f"Choose a transcript ({TYPES}) first.", *self.refresh())
        session = request.cookies.get(SESSION_COOKIE) if request is not None else None
        lines = []
        for path in chosen:
            src = Path(path)
            if self.ledger is not None and not self.ledger.is_from(path, session):
                lines.append(f"**Not added.** {plain(NOT_UPLOADED)}")
                continue
            try:
                lines.append(self._add(src, progress))
            except RagError as err:
                lines.append(f"**{plain(src.name)}: not added.** {plain(sentence(str(err)))}")
        return ("\n\n".join(lines), *self.refresh())

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
        too_big = self.limits.check(name, src.stat().st_size, is_recording=is_recording(src))
        if too_big:
            raise SourceError(too_big)
        doc_id = Path(name).stem  # as the build names a file at the top of the uploads folder
        existing = {d.doc_id: d.source for d in self.pipe.documents.values()}
        target = self.uploads / name
        # before any transcribing: a clash must not cost minutes, nor touch another recording's transcript
        if doc_id in existing and Path(existing[doc_id]).resolve() != target.resolve():
            raise SourceError(f"a document named {doc_id!r} is already indexed ({existing[doc_id]}); rename the file")
        kept = self.index / RECORDINGS
        with tempfile.TemporaryDirectory() as tmp:
            staged = Path(tmp) / name
            shutil.copyfile(src, staged)
            # a recording is transcribed once: here, into a staging folder (seeded with the transcript
            # the index keeps for it, reused while the audio is the same), then kept for the build
            heard = Path(tmp) / RECORDINGS
            if transcript_file(kept, doc_id).is_file():
                heard.mkdir()
                shutil.copyfile(transcript_file(kept, doc_id), transcript_file(heard, doc_id))
            recorder = Recorder(heard, model=self.pipe.settings.asr_model, progress=_reporter(progress))
            try:
                doc = load_documents([staged], recorder=recorder)[0]  # checks empty, binary, encoding, JSON shape
            except SourceError as err:  # the person knows the file by its name, not our staging path
                raise SourceError(str(err).replace(f"{staged}: ", "").replace(str(staged), name)) from err
            if not any(t.speaker for t in split_turns(doc)):
                raise SourceError("no speaker labels found; start each turn with 'Name: ...'")
            with self._build_lock:
                transcript = transcript_file(kept, doc_id)
                was = transcript.read_text("utf-8") if transcript.is_file() else None
                if transcript_file(heard, doc_id).is_file():  # the build reads it instead of transcribing
                    write_atomic(transcript, transcript_file(heard, doc_id).read_text("utf-8"))
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
                    if was is not None:  # the old recording's transcript, with any names given to it
                        write_atomic(transcript, was)
                    raise
        chunks = sum(c.doc_id == doc.doc_id for c in self.pipe.chunks)
        speakers = sorted({t.speaker for t in split_turns(doc) if t.speaker})
        verb = "Updated" if doc.doc_id in report.changed else "Added"
        by = ", ".join(plain(s) for s in speakers) or "the narration"
        return f"**{verb} {plain(name)}**{renamed}: {count(chunks, 'passage')} by {by}. Ask away."


_DOCS_PAGES = {"/docs", "/docs/oauth2-redirect", "/redoc"}


def sentence(text: str) -> str:
    """An error as a sentence: sentence("no speaker matches 'X'") -> "No speaker matches 'X'." """
    text = text.strip()
    if not text:
        return text
    text = text[0].upper() + text[1:]
    return text if text[-1] in ".?!" else text + "."


def _reporter(progress: Any) -> Any:
    """Gradio's progress bar for a build: counts of documents and passages, and for a recording
    its audio done, elapsed, time left and speed (as the CLI shows it)."""
    if progress is None:
        return None
    pace = Pace()

    def report(stage: str, done: int, total: int) -> None:
        if stage == "transcribe":
            progress(done / max(total, 1), desc=f"transcribing: {pace(done, total)}")
        else:
            progress(done / max(total, 1), desc=f"{stage} {done}/{total}")

    return report


def build_app(chat: Chat) -> gr.Blocks:
    """The page: chat on the left; pickers, examples, past conversations, documents and upload on
    the right (below the chat on a phone). Corpus line, pickers, documents and the list of
    conversations are read again on every load."""
    with gr.Blocks(title="rag · ask the transcripts") as app:
        gr.Markdown(
            "## Ask the transcripts\nEvery answer quotes the speaker's own words; click [1] to see the source.",
            elem_id="title",
        )
        who = gr.Markdown("", elem_id="who")
        corpus = gr.Markdown(corpus_line(chat.pipe), elem_id="corpus")
        exchanges = gr.State([])
        conv_id = gr.State("")
        browser = gr.BrowserState("", storage_key="rag-chat-browser", secret=chat.conversations.secret())
        with gr.Row(equal_height=False):
            with gr.Column(scale=3, min_width=320):
                chatbot = gr.Chatbot(
                    elem_id="chat",
                    label="Conversation",
                    height=520,
                    autoscroll=False,  # the page scrolls to the start of a new answer, not its end
                    buttons=[],  # "Copy answer" in each answer copies plain text with its sources
                    feedback_options=None,
                    show_label=False,
                    placeholder="Ask what someone said, e.g. “What did Dannenberg say about Helsinki?”",
                )
                with gr.Row():
                    box = gr.Textbox(
                        label="Question",
                        show_label=False,
                        placeholder="Ask a question…",
                        scale=5,
                        elem_id="question",
                        submit_btn=False,
                        max_lines=4,
                    )
                    send = gr.Button("Ask", variant="primary", scale=1, min_width=80, elem_id="ask")
                status = gr.Markdown("", elem_id="searching")
                pick = gr.Textbox("", label="Which one", elem_id="pick", elem_classes=["hidden-control"])
                pick_go = gr.Button("Ask for this one", elem_id="pick-go", elem_classes=["hidden-control"])
            with gr.Column(scale=2, min_width=280, elem_id="side"):
                fluent = gr.Checkbox(
                    False,
                    label=f"Fluent answer ({getattr(chat.generator, 'name', 'no model')})",
                    info="A language model writes the answer; every sentence is checked against its sources "
                    "and unsupported ones are removed.",
                    visible=chat.generator is not None,
                    elem_id="fluent",
                )
                with gr.Row():
                    document = gr.Dropdown(
                        chat.documents(),
                        value=EVERY_DOCUMENT,
                        label="Document",
                        elem_id="document",
                        info="Only this document is searched.",
                        min_width=220,  # on a phone the two pickers stack, each wide enough for its text
                    )
                    speaker = gr.Dropdown(
                        chat.speaker_choices(None),
                        value=ANYONE,
                        label="Speaker",
                        elem_id="speaker",
                        info="Only this person's words are searched.",
                        min_width=220,
                    )
                gr.Examples(EXAMPLES, inputs=box, label="Try")
                with gr.Accordion("Conversations", open=True, elem_id="conversations"):
                    past = gr.Radio([], label="Past conversations", elem_id="past", value=None)
                    with gr.Row():
                        clear = gr.Button("New conversation", elem_id="clear", size="sm")
                        export = gr.Button("Export conversation", elem_id="export", size="sm")
                    with gr.Row():
                        title = gr.Textbox(label="Name of this conversation", elem_id="title-box", scale=3)
                        rename = gr.Button("Rename", elem_id="rename", size="sm", scale=1, min_width=80)
                    forget = gr.Button("Delete conversation", elem_id="forget", size="sm", variant="stop")
                    with gr.Column(visible=False, elem_id="forget-confirm") as forget_row:
                        forget_ask = gr.Markdown("", elem_id="forget-question")
                        with gr.Row():
                            forget_yes = gr.Button("Yes, delete it", variant="stop", size="sm", elem_id="forget-yes")
                            forget_no = gr.Button("Cancel", size="sm", elem_id="forget-no")
                    conv_status = gr.Markdown("", elem_id="conv-status")
                    download = gr.File(label="Conversation (Markdown)", visible=False, elem_id="download")
                with gr.Accordion("Documents", open=False, elem_id="documents"):
                    table = gr.Dataframe(
                        documents_rows(documents_json(chat.pipe)),
                        headers=["Document", "Speakers", "Turns", "Added (UTC)"],
                        datatype=["str", "str", "str", "str"],
                        interactive=False,
                        wrap=True,
                        column_widths=["27%", "31%", "18%", "24%"],
                        elem_id="documents-table",
                        label="Documents",
                        show_label=False,
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
                    with gr.Column(visible=False, elem_id="delete-confirm") as delete_row:
                        delete_ask = gr.Markdown("", elem_id="delete-question")
                        with gr.Row():
                            delete_yes = gr.Button("Yes, delete it", variant="stop", size="sm", elem_id="delete-yes")
                            delete_no = gr.Button("Cancel", size="sm", elem_id="delete-no")
                    delete_status = gr.Markdown("", elem_id="delete-status")
                with gr.Accordion(
                    "Add transcripts or recordings", open=False, elem_id="add", visible=not chat.read_only
                ):
                    gr.Markdown(
                        "'Name:' text (.txt, .md), captions (.vtt, .srt), Whisper or QMSum .json, up to "
                        f"{chat.limits.transcript / 1e6:.0f} MB each; recordings (.wav, .mp3, .m4a, .mp4, …) up to "
                        f"{chat.limits.recording / 1e6:.0f} MB, transcribed here; several at once.",
                        elem_id="upload-help",
                    )
                    upload = gr.File(
                        file_count="multiple",
                        label="Files to add",  # short: a long label runs under the box's buttons
                        file_types=list(TRANSCRIPT_SUFFIXES),
                        type="filepath",
                        elem_id="upload",
                    )
                    upload_status = gr.Markdown("", elem_id="upload-status", min_height=56)  # room for progress

        ask_inputs = [box, chatbot, speaker, exchanges, fluent, document]
        ask_outputs = [chatbot, status, exchanges, box]
        shown = [corpus, speaker, document, table, doomed, remove]
        kept = [browser, conv_id, chatbot, exchanges]
        remembered = [conv_id, past, title]
        box.submit(chat.respond, ask_inputs, ask_outputs, api_name=False).then(
            chat.remember, kept, remembered, api_name=False
        )
        send.click(chat.respond, ask_inputs, ask_outputs, api_name=False).then(
            chat.remember, kept, remembered, api_name=False
        )
        pick_go.click(chat.respond_pick, [pick, chatbot, exchanges, fluent], ask_outputs, api_name=False).then(
            chat.remember, kept, remembered, api_name=False
        )
        document.input(chat.narrow_speakers, [document, speaker], [speaker], api_name=False)
        # the progress (a recording's audio done, time left, x real time) in the status only, not over the pickers
        upload.upload(
            chat.upload,
            [upload],
            [upload_status, *shown],
            api_name=False,
            show_progress="full",
            show_progress_on=[upload_status],
        )
        remove.click(chat.ask_delete, [doomed], [delete_row, delete_ask], api_name=False)
        delete_no.click(lambda: gr.update(visible=False), None, [delete_row], api_name=False)
        delete_yes.click(lambda: gr.update(visible=False), None, [delete_row], api_name=False).then(
            chat.delete,
            [doomed],
            [delete_status, *shown],
            api_name=False,
            show_progress="full",
            show_progress_on=[delete_status],
        )
        export.click(lambda ex: _export(ex), [exchanges], [download], api_name=False)
        fresh = ([], "", [], gr.update(visible=False), "", gr.update(value=None), "")
        new_outputs = [chatbot, status, exchanges, download, conv_id, past, title]
        clear.click(lambda: fresh, None, new_outputs, api_name=False)
        chatbot.clear(lambda: fresh[1:], None, new_outputs[1:], api_name=False)
        past.input(chat.reopen, [browser, past], [chatbot, exchanges, conv_id, title, conv_status], api_name=False)
        rename.click(chat.rename, [browser, conv_id, title], [past, conv_status], api_name=False)
        forget.click(chat.ask_forget, [browser, conv_id], [forget_row, forget_ask, conv_status], api_name=False)
        forget_no.click(lambda: gr.update(visible=False), None, [forget_row], api_name=False)
        forget_yes.click(chat.forget, [browser, conv_id], [forget_row, conv_status, *new_outputs], api_name=False)
        only_own_uploads(upload, app)  # an event reads no file the page did not upload, and no URL
        only_own_uploads(chatbot, app)  # this chat is text: no file rides in its history
        app.load(chat.refresh, None, shown, api_name=False)
        app.load(chat.arrive, [browser], [browser, past, who], api_name=False)
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
    auth: tuple[str, str] | list[tuple[str, str]] | None = None,
) -> Server:
    """Start the chat at / and the HTTP API at /v1 on one port, without blocking; `.close()` stops it.

    `auth`: a user name and password the chat asks for. With `auth` and no `token`, /v1 is off
    (it would be an open door beside a locked one).
    """
    from fastapi import FastAPI, Request, Response

    from rag.serve import create_app

    chat.login_required = auth is not None
    blocks = build_app(chat)
    blocks.queue(default_concurrency_limit=4)
    theme = chat_theme()
    # one process, one loaded index, one port
    api = FastAPI() if auth is not None and token is None else create_app(lambda: chat.pipe, token=token)

    # Swagger's page loads its script from a CDN that the CSP blocks: the chat's port has none
    # (the schema stays at /openapi.json; `rag serve` has the docs page).
    api.router.routes = [r for r in api.router.routes if getattr(r, "path", "") not in _DOCS_PAGES]

    @api.middleware("http")
    async def policy(request: Request, call_next: Any) -> Any:
        response = await call_next(request)
        response.headers.setdefault("Content-Security-Policy", CSP)
        response.headers.setdefault("X-Content-Type-Options", "nosniff")
        return response

    if auth is not None:

        @api.middleware("http")
        async def titled_login(request: Request, call_next: Any) -> Any:
            if request.method != "GET" or request.url.path != "/":
                return await call_next(request)
            request.scope["headers"] = [(k, v) for k, v in request.scope["headers"] if k != b"accept-encoding"]
            response = await call_next(request)
            if not response.headers.get("content-type", "").startswith("text/html"):
                return response
            body = b"".join([chunk async for chunk in response.body_iterator])
            body = body.replace(b"</head>", LOGIN_HEAD.encode() + b"</head>", 1)
            headers = {k: v for k, v in response.headers.items() if k.lower() != "content-length"}
            return Response(body, status_code=response.status_code, headers=headers)

    if chat.read_only:
        api.middleware("http")(refuse_uploads)
    else:
        chat.ledger = UploadLedger()
        api.middleware("http")(chat.ledger)
    if auth is not None:
        api.middleware("http")(LoginThrottle())
    api.middleware("http")(refuse_other_origins)  # outermost: a cross-site request meets nothing else

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
        max_file_size=0 if chat.read_only else chat.limits.largest,
        show_error=False,  # only gr.Error texts reach the page: no path or traceback from Gradio
        auth=auth,
        auth_message="This chat asks for a user name and password.",
    )
    add_player(app, documents=lambda: chat.pipe.documents, allowed=gradio_login(app))  # recordings play
    return Server(app, host=host, port=port)


def chat_theme() -> Any:
    """Gradio's Soft theme with every text at 4.5:1 or more in light and dark (its grey #9ca3af
    and its indigo labels are 2.4-3.6:1 on their backgrounds)."""
    return gr.themes.Soft(
        font=["system-ui", "Segoe UI", "Helvetica", "Arial", "sans-serif"],
        font_mono=["ui-monospace", "monospace"],
    ).set(
        body_text_color_subdued="*neutral_600",
        body_text_color_subdued_dark="*neutral_300",
        block_info_text_color="*neutral_600",
        block_info_text_color_dark="*neutral_300",
        block_label_text_color="*primary_800",
        block_title_text_color="*primary_800",
        input_placeholder_color="*neutral_500",
        input_placeholder_color_dark="*neutral_300",
        button_primary_background_fill="*primary_600",
        button_primary_background_fill_hover="*primary_700",
        checkbox_label_background_fill_selected="*primary_600",
        color_accent="*primary_600",
    )


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m ui", description="Serve the chat over the transcripts.")
    p.add_argument("--index", type=Path, default=Path("index"))
    p.add_argument("--sources", type=Path, nargs="*", default=[Path("seeds")], help="transcripts (default: seeds/)")
    p.add_argument("--uploads", type=Path, default=Path("uploads"), help="where uploaded transcripts are kept")
    p.add_argument(
        "--conversations", type=Path, help="where past conversations are kept (default: conversations/ beside uploads)"
    )
    p.add_argument("--host", default="127.0.0.1", help="default 127.0.0.1 (this machine only)")
    p.add_argument("--port", type=int, default=7860)
    p.add_argument("--no-build", action="store_true", help="serve the index as it is")
    p.add_argument("--no-uploads", action="store_true", help="read-only: no uploads, no deletes")
    p.add_argument(
        "--max-recording-mb", type=float, default=500, help="largest recording an upload may be (default 500)"
    )
    p.add_argument("--max-transcript-mb", type=float, default=5, help="largest transcript an upload may be (default 5)")
    p.add_argument("--auth", metavar="USER:PASS", help="ask for this user name and password (see --auth-env)")
    p.add_argument("--auth-env", metavar="NAME", help="the same, read from this environment variable")
    p.add_argument(
        "--token-env", metavar="NAME", help="the /v1 API wants this bearer token (off with --auth without it)"
    )
    add_generator_options(p)
    args = p.parse_args(argv)
    bad = _bad_numbers(args)
    if bad:
        print(f"rag: error: {bad}", file=sys.stderr)
        return 2
    handler = logging.StreamHandler(sys.stderr)
    handler.setLevel(logging.WARNING)  # bm25s sets its own logger to DEBUG; filter at the handler
    logging.basicConfig(level=logging.WARNING, handlers=[handler], format="%(message)s")
    try:
        auth = _auth(args.auth or (os.environ.get(args.auth_env, "").strip("\r\n") if args.auth_env else None))
        token = os.environ.get(args.token_env, "").strip() if args.token_env else None
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
        conversations=args.conversations,
        limits=UploadLimits(transcript=int(args.max_transcript_mb * 1e6), recording=int(args.max_recording_mb * 1e6)),
    )
    try:
        app = launch(chat, host=args.host, port=args.port, quiet=True, token=token, auth=auth)
    except (RuntimeError, OSError) as err:
        print(f"rag: error: {str(err).splitlines()[0] if str(err) else err!r}", file=sys.stderr)
        return 1
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


def _bad_numbers(args: argparse.Namespace) -> str:
    """What is wrong with --port and the upload limits, in one line ("" when nothing)."""
    if not 1 <= args.port <= 65535:
        return f"--port {args.port} is not a TCP port; use 1-65535 (default 7860)"
    for name in ("max_recording_mb", "max_transcript_mb"):
        if not getattr(args, name) > 0:
            return f"--{name.replace('_', '-')} {getattr(args, name)} must be more than 0 (megabytes)"
    return ""


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
    named = pipe.read(message, doc_id=doc_id).speakers  # the question's own words, not what it carries
    picked = pipe.resolve_speaker(chosen, doc_id=doc_id)
    if named and set(named) != set(picked):
        return None, f"The question names {', '.join(named)}, so the picker's {chosen} was not used."
    return chosen, ""  # a pronoun for someone else than the picker's person gets a question back (rag)


def _plain_messages(messages: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Chat messages as stored: role and text only (Gradio may send parts and metadata)."""
    return [
        {"role": m.get("role"), "content": message_text(m.get("content"))}
        for m in messages
        if m.get("role") in ("user", "assistant")
    ]


def _corpus(index: Path, sources: list[Path], uploads: Path | None) -> list[Path]:
    """What the index is built from: its own sources (as `rag build`/`rag add` left them), or
    `sources` for a new index; plus the uploads folder. Each once."""
    roots = [p for p in corpus_roots(index) if p.exists()] or sources
    paths = [*roots, *([uploads] if uploads is not None and uploads.exists() else [])]
    return list({p.resolve(): p for p in paths}.values())


def _print_progress(stage: str, done: int, total: int) -> None:
    print(f"\r{stage}: {done}/{total}", end="", file=sys.stderr, flush=True)
