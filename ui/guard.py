"""What stands between the chat and the outside: which files an event may read, which origins may
call it, how fast a login may be guessed, and that a read-only chat takes no bytes.

Each guard is small and separate so it can be tested on a real server. None of them reads or
changes the index; they refuse requests before Gradio or rag sees them.
"""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import gradio as gr
from gradio_client import utils as client_utils
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

NOT_UPLOADED = "That file was not uploaded through this page; choose it again with the upload button."


def is_own_upload(path: str, uploaded: set[str], folder: Path) -> bool:
    """True when `path` is a file Gradio's upload route wrote (it is in `uploaded`) inside `folder`.

    A URL, a path outside the folder, or one that only resolves into it through a link is refused.
    Example: is_own_upload("/etc/passwd", {...}, Path("gradio-cache")) -> False
    """
    if client_utils.is_http_url_like(path) or "://" in path:
        return False
    given = Path(path)
    if not given.is_absolute() or given.is_symlink():
        return False
    resolved = given.resolve()
    return str(given) in uploaded and resolved.is_relative_to(folder.resolve()) and resolved.is_file()


def only_own_uploads(component: Any, blocks: gr.Blocks) -> Any:
    """Make `component` (a gr.File, a gr.Chatbot) read only files `blocks`' upload route wrote.

    Gradio copies any `FileData.path` (or downloads any URL) an event names into its cache before
    the handler runs, by calling the component's move_resource_to_block_cache; this wraps that
    method on the one component, refusing anything else without naming it. Returns `component`.
    """
    sync_move = component.move_resource_to_block_cache
    async_move = component.async_move_resource_to_block_cache

    def vet(url_or_file_path: Any) -> None:
        path = "" if url_or_file_path is None else str(url_or_file_path)
        uploaded = set(getattr(blocks, "upload_file_set", set()))
        if not path or not is_own_upload(path, uploaded, Path(gr.utils.get_upload_folder())):
            raise gr.Error(NOT_UPLOADED)

    def move(url_or_file_path: Any) -> str | None:
        vet(url_or_file_path)
        return sync_move(url_or_file_path)  # type: ignore[no-any-return]

    async def move_async(url_or_file_path: Any) -> str | None:
        vet(url_or_file_path)
        return await async_move(url_or_file_path)  # type: ignore[no-any-return]

    component.move_resource_to_block_cache = move
    component.async_move_resource_to_block_cache = move_async
    return component


Next = Callable[[Request], Awaitable[Response]]


def is_same_origin(request: Request) -> bool:
    """No Origin header, or an Origin whose host:port is the Host the request was sent to.

    Example: Origin "https://evil.example", Host "chat.example.org:7860" -> False
    """
    origin = request.headers.get("origin")
    if origin is None:
        return True
    host = request.headers.get("host", "")
    parts = urlsplit(origin)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        return False
    default = {"http": "80", "https": "443"}[parts.scheme]
    return _with_port(parts.netloc, default) == _with_port(host, default) or parts.netloc.lower() == host.lower()


def _with_port(netloc: str, default: str) -> str:
    netloc = netloc.lower()
    if netloc.endswith("]") or ":" not in netloc.rsplit("]", 1)[-1]:
        return f"{netloc}:{default}"
    return netloc


async def refuse_other_origins(request: Request, call_next: Next) -> Response:
    """Only the chat's own page may call it: a cross-site request (or its preflight) gets 403 and
    no Access-Control-Allow-* header, whatever Host it was sent under."""
    if not is_same_origin(request):
        return JSONResponse({"error": "cross-site requests are refused; open the chat's own page"}, status_code=403)
    return await call_next(request)


def is_upload_route(path: str) -> bool:
    """Gradio's routes that take file bytes: /gradio_api/upload (and with a trailing slash)."""
    return path.rstrip("/").endswith("/upload")


async def refuse_uploads(request: Request, call_next: Next) -> Response:
    """Read-only: the upload route answers 403 before a byte of the body is read."""
    if is_upload_route(request.url.path):
        return JSONResponse({"error": "this chat is read-only; uploads are off"}, status_code=403)
    return await call_next(request)


class LoginThrottle:
    """Per client: the first `free` wrong passwords are checked; after that each further check
    waits twice as long as the one before (1 s, 2 s, 4 s ... up to `longest`), and attempts inside
    the wait get 429 without the password being looked at. A right password clears the count."""

    def __init__(self, *, free: int = 5, first: float = 1.0, longest: float = 900.0) -> None:
        self.free, self.first, self.longest = free, first, longest
        self._failures: dict[str, tuple[int, float]] = {}  # client -> (wrong passwords, refused until)
        self._lock = threading.Lock()

    def wait(self, client: str, now: float) -> float:
        """Seconds this client must still wait before a password is checked (0: check it)."""
        with self._lock:
            _, until = self._failures.get(client, (0, 0.0))
        return max(0.0, until - now)

    def failed(self, client: str, now: float) -> None:
        with self._lock:
            n, _ = self._failures.get(client, (0, 0.0))
            n += 1
            delay = 0.0 if n < self.free else min(self.longest, self.first * 2 ** (n - self.free))
            self._failures[client] = (n, now + delay)
            if len(self._failures) > 10_000:  # many clients: forget those whose wait is over
                self._failures = {c: v for c, v in self._failures.items() if v[1] > now}

    def succeeded(self, client: str) -> None:
        with self._lock:
            self._failures.pop(client, None)

    async def __call__(self, request: Request, call_next: Next) -> Response:
        if request.method != "POST" or request.url.path.rstrip("/") != "/login":
            return await call_next(request)
        client = request.client.host if request.client else "?"
        left = self.wait(client, time.monotonic())
        if left > 0:
            return JSONResponse(
                {"error": f"too many wrong passwords; try again in {math.ceil(left)} s"},
                status_code=429,
                headers={"Retry-After": str(math.ceil(left))},
            )
        response = await call_next(request)
        if response.status_code == 200:
            self.succeeded(client)
        elif 400 <= response.status_code < 500:
            self.failed(client, time.monotonic())
        return response


SESSION_COOKIE = "rag-session"


class UploadLedger:
    """Which browser session each uploaded file came from, so an upload event in one session can
    never add a file another session uploaded (or any other file): the key is a random HttpOnly
    cookie the chat sets on its first answer to a browser."""

    def __init__(self, *, most: int = 10_000) -> None:
        self._owner: dict[str, str] = {}
        self._lock = threading.Lock()
        self.most = most

    def record(self, paths: list[str], session: str) -> None:
        with self._lock:
            for p in paths:
                self._owner[str(p)] = session
            while len(self._owner) > self.most:  # forget the oldest
                self._owner.pop(next(iter(self._owner)))

    def is_from(self, path: str, session: str | None) -> bool:
        with self._lock:
            return bool(session) and self._owner.get(str(path)) == session

    async def __call__(self, request: Request, call_next: Next) -> Response:
        """Give each browser a session cookie; note the files each upload request wrote."""
        import json
        import secrets

        session = request.cookies.get(SESSION_COOKIE)
        if is_upload_route(request.url.path) and request.method == "POST":
            if not session:
                return JSONResponse({"error": "reload the page, then upload again"}, status_code=403)
            request.scope["headers"] = [(k, v) for k, v in request.scope["headers"] if k != b"accept-encoding"]
            response = await call_next(request)
            body = b"".join([chunk async for chunk in response.body_iterator])  # type: ignore[attr-defined]
            if response.status_code == 200:
                try:
                    written = json.loads(body)
                except ValueError:
                    written = []
                self.record([p for p in written if isinstance(p, str)], session)
            headers = {k: v for k, v in response.headers.items() if k.lower() != "content-length"}
            return Response(body, status_code=response.status_code, headers=headers)
        response = await call_next(request)
        if not session:
            response.set_cookie(SESSION_COOKIE, secrets.token_urlsafe(24), httponly=True, samesite="strict")
        return response


@dataclass(frozen=True, slots=True)
class UploadLimits:
    """The largest file the chat takes, by type: transcripts are text and small, recordings are not.

    Gradio gets the larger one (it has a single limit); `check` refuses by type with the fix.
    """

    transcript: int = 5_000_000
    recording: int = 500_000_000

    @property
    def largest(self) -> int:
        return max(self.transcript, self.recording)

    def check(self, name: str, size: int, *, is_recording: bool) -> str | None:
        """The one-line refusal of a file over its type's limit, or None when it fits.

        Example: check("big.txt", 6_000_000, is_recording=False) ->
            "6.0 MB is over the 5 MB limit for a transcript (.txt); split it into several files"
        """
        limit = self.recording if is_recording else self.transcript
        if size <= limit:
            return None
        suffix = Path(name).suffix.lower()
        if is_recording:
            fix = f"start the chat with --max-recording-mb {math.ceil(size / 1e6)}, or add it with: rag add {name}"
            return f"{_size(size)} is over the {_size(limit, 0)} limit for a recording ({suffix}); {fix}"
        fix = "split it into several files"
        return f"{_size(size)} is over the {_size(limit, 0)} limit for a transcript ({suffix}); {fix}"


def _size(n: int, places: int = 1) -> str:
    """Bytes as people say them: _size(5_500_000) -> "5.5 MB", _size(2_000, 0) -> "2 kB"."""
    return f"{n / 1e6:.{places}f} MB" if n >= 1_000_000 else f"{n / 1e3:.{places}f} kB"
