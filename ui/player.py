"""Citations play: a route serving each recording with HTTP byte ranges, and the player for a source card.

`add_player(api, documents=..., allowed=...)` adds `GET /media/{doc_id}` to the FastAPI app the chat
is mounted on; it serves only documents read from recordings (`format == "recording"`), only to a
request `allowed` accepts (the chat's login: `gradio_login(api)`), with `Range` support so the
browser can seek. `player_html(citation)` is an `<audio>` (or `<video>`) element that starts at
the cited time (a media fragment `#t=START,END`). Uses only rag's public API.
"""

from __future__ import annotations

import html
import mimetypes
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any
from urllib.parse import quote

from fastapi import HTTPException, Request
from fastapi.responses import FileResponse

from rag import Citation, Document

VIDEO = (".mp4", ".webm", ".mov", ".mkv")
ROUTE = "/media"


def add_player(
    api: Any, *, documents: Callable[[], Mapping[str, Document]], allowed: Callable[[Any], bool] | None = None
) -> None:
    """Serve recordings at /media/{doc_id} on `api` (a FastAPI app), to requests `allowed` accepts."""

    @api.get(ROUTE + "/{doc_id:path}", include_in_schema=False)
    def media(doc_id: str, request: Request) -> FileResponse:
        if allowed is not None and not allowed(request):
            raise HTTPException(status_code=401, detail="log in to the chat to play recordings")
        doc = documents().get(doc_id)
        path = Path(doc.source) if doc is not None else None
        if doc is None or doc.format != "recording" or path is None or not path.is_file():
            raise HTTPException(status_code=404, detail=f"no recording {doc_id!r}")
        kind = mimetypes.guess_type(path.name)[0] or "application/octet-stream"
        return FileResponse(path, media_type=kind)  # Starlette answers Range requests (206)


def gradio_login(api: Any) -> Callable[[Any], bool]:
    """A check that a request carries the login of the Gradio chat mounted on `api` (its session cookie).

    Call after `gr.mount_gradio_app`; without a login on the chat every request is allowed.
    """
    from starlette.routing import Mount

    apps = [r.app for r in api.routes if isinstance(r, Mount) and hasattr(r.app, "tokens")]

    def allowed(request: Any) -> bool:
        for app in apps:
            if getattr(app, "auth", None) is None:
                return True
            cookie = request.cookies.get(f"access-token-{app.cookie_id}") or request.cookies.get(
                f"access-token-unsecure-{app.cookie_id}"
            )
            if cookie in app.tokens:
                return True
        return not apps

    return allowed


def player_html(c: Citation, *, document: Document | None = None) -> str:
    """The player of a source card: starts at the cited time, stops at its end; "" for a transcript.

    Says so when the quote is from a stretch whose speaker is uncertain (the document's cues).
    """
    if document is None or document.format != "recording" or c.time_start is None:
        return ""
    uncertain = c.uncertain or any(q.uncertain and q.start < c.end and c.start < q.end for q in document.cues)
    tag = "video" if Path(c.source).suffix.lower() in VIDEO else "audio"
    end = f",{c.time_end:.2f}" if c.time_end is not None else ""
    src = f"{ROUTE}/{quote(c.doc_id)}#t={c.time_start:.2f}{end}"
    note = (
        '<p class="uncertain">The speaker of this stretch is uncertain (overlapping or unclear voices).</p>'
        if uncertain
        else ""
    )
    return f'<{tag} class="cite-player" controls preload="metadata" src="{html.escape(src)}"></{tag}>{note}'
