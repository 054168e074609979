"""rag over HTTP: a JSON API, an OpenAI-compatible chat endpoint, OpenAPI docs at /docs.

    GET  /v1/health            {"status", "documents", "chunks", "model"}
    POST /v1/ask               the JSON of `rag ask --json`
    POST /v1/search            the JSON of `rag search --json`
    GET  /v1/speakers          the JSON of `rag speakers --json`
    GET  /v1/documents         one row per document
    GET  /v1/models            one model, "rag"
    POST /v1/chat/completions  the last user message answered, earlier ones as history; stream or not

Bad input is a 4xx with {"error": "one line"}; with a token every route but /v1/health needs
`Authorization: Bearer TOKEN` (the docs, /docs, /redoc and /openapi.json, too). A body is read up
to 256 KB whatever its headers say, and must be UTF-8 JSON; the guard covers /v1 and the docs
only, so the chat that ui/ mounts on this app keeps its own upload limit. `create_app(pipe)`
builds the app around one loaded Pipeline (the chat in ui/ mounts itself on it); `rag serve`
runs it with uvicorn on 127.0.0.1.
This module does not answer questions itself; `Pipeline` does.
"""

from __future__ import annotations

import json
import secrets
import time
import uuid
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any

from rag.config import Settings
from rag.errors import RagError, UnknownDocumentError, UnknownSpeakerError
from rag.types import Answer
from rag.views import (
    answer_json,
    check_document,
    check_json_text,
    check_request,
    documents_json,
    message_text,
    search_json,
    speakers_json,
)

try:
    from fastapi import FastAPI, Request
    from fastapi.exceptions import RequestValidationError
    from fastapi.responses import JSONResponse, StreamingResponse
    from pydantic import BaseModel, Field
except ImportError as err:  # pragma: no cover - the extra is part of the test install
    raise ImportError(f"the HTTP service needs its extra: pip install -e '.[serve]' ({err})") from err

if TYPE_CHECKING:
    from rag.pipeline import Pipeline

MAX_BODY = 256_000  # bytes; a question is at most a few KB, history included
MODEL = "rag"
DOCS = ("/docs", "/redoc", "/openapi.json")  # FastAPI's own routes (and /docs/oauth2-redirect)
_BOUNDS = Settings()  # the schema shows the default bounds; each request is checked against its pipeline's


class AskBody(BaseModel):
    question: str
    history: list[str] = Field(default_factory=list, max_length=_BOUNDS.max_history)
    speaker: str | None = None
    doc_id: str | None = None
    k: int = Field(default=5, ge=1, le=_BOUNDS.max_k)
    after: str | None = None  # ISO date: only documents dated on or after it
    before: str | None = None


class SearchBody(BaseModel):
    query: str
    k: int = Field(default=5, ge=1, le=_BOUNDS.max_k)
    speaker: str | None = None
    doc_id: str | None = None
    after: str | None = None
    before: str | None = None


class Message(BaseModel):
    role: str
    content: str | list[dict[str, Any]] | None = None


class ChatBody(BaseModel):
    model: str = MODEL
    messages: list[Message]
    stream: bool = False


def create_app(pipeline: Pipeline | Callable[[], Pipeline], *, token: str | None = None) -> FastAPI:
    """The HTTP app around a loaded pipeline. Example: uvicorn.run(create_app(Pipeline.load("index"))).

    `pipeline` may be a function returning the current one (the chat swaps it after an upload).
    """
    app = FastAPI(title="rag", version=_version(), description=__doc__)

    def current() -> Pipeline:  # the index's generation on disk now: `rag add` may have swapped it
        return (pipeline() if callable(pipeline) else pipeline).refreshed()

    def error(status: int, message: str) -> JSONResponse:
        return JSONResponse({"error": one_line(message)}, status_code=status)

    app.add_middleware(_Guard, token=token)

    @app.exception_handler(RequestValidationError)
    async def invalid(_: Request, err: RequestValidationError) -> JSONResponse:
        first = err.errors()[0] if err.errors() else {}
        where = ".".join(str(x) for x in first.get("loc", ()) if x != "body") or "body"
        return error(422 if first.get("type") != "json_invalid" else 400, f"{where}: {first.get('msg', 'invalid')}")

    @app.exception_handler(RagError)
    async def refused(_: Request, err: RagError) -> JSONResponse:
        return error(404 if isinstance(err, UnknownSpeakerError | UnknownDocumentError) else 400, str(err))

    def checked(body: AskBody | SearchBody) -> Pipeline:
        """The pipeline, once the body is within its bounds and names a document it has."""
        pipe = current()
        text = body.question if isinstance(body, AskBody) else body.query
        history = body.history if isinstance(body, AskBody) else []
        texts = [("question", text), ("speaker", body.speaker), ("doc_id", body.doc_id)]
        check_request(pipe.settings, k=body.k, history=history, texts=texts)
        check_document(pipe, body.doc_id)
        return pipe

    @app.get("/v1/health")
    def health() -> dict[str, Any]:
        return {
            "status": "ok",
            "documents": len(current().documents),
            "chunks": len(current().chunks),
            "model": current().index.manifest.get("model"),
        }

    @app.post("/v1/ask")
    def ask(body: AskBody) -> dict[str, Any]:
        pipe = checked(body)
        answer = pipe.ask(
            body.question,
            history=body.history,
            speaker=body.speaker,
            doc_id=body.doc_id,
            k=body.k,
            after=body.after,
            before=body.before,
        )
        return answer_json(pipe, answer)

    @app.post("/v1/search")
    def search(body: SearchBody) -> dict[str, Any]:
        return search_json(
            checked(body),
            body.query,
            k=body.k,
            speaker=body.speaker,
            doc_id=body.doc_id,
            after=body.after,
            before=body.before,
        )

    @app.get("/v1/speakers")
    def speakers() -> list[dict[str, Any]]:
        return speakers_json(current())

    @app.get("/v1/documents")
    def documents() -> list[dict[str, Any]]:
        return documents_json(current())

    @app.get("/v1/models")
    def models() -> dict[str, Any]:
        return {"object": "list", "data": [{"id": MODEL, "object": "model", "created": 0, "owned_by": "rag"}]}

    @app.post("/v1/chat/completions", response_model=None)
    def chat(body: ChatBody) -> Any:
        users = [message_text(m.content) for m in body.messages if m.role == "user"]
        users = [u for u in users if u.strip()]
        if not users:
            return error(400, "messages: no user message to answer; send at least one {'role': 'user', 'content': ...}")
        answer = current().ask(users[-1], history=users[:-1][-5:])
        content = chat_content(answer)
        reply_id = f"chatcmpl-{uuid.uuid4().hex[:24]}"
        created = int(time.time())
        if not body.stream:
            return {
                "id": reply_id,
                "object": "chat.completion",
                "created": created,
                "model": MODEL,
                "choices": [
                    {"index": 0, "message": {"role": "assistant", "content": content}, "finish_reason": "stop"}
                ],
                "usage": {"prompt_tokens": 0, "completion_tokens": 0, "total_tokens": 0},
                "rag": answer_json(current(), answer),  # the structured citations ride along
            }
        return StreamingResponse(_stream(reply_id, created, content, answer), media_type="text/event-stream")

    return app


class _Guard:
    """ASGI middleware for /v1 and the docs: the token, then the body, read (never trusted from its
    headers) up to MAX_BODY bytes, chunked or not, and refused unless it is UTF-8 JSON with valid
    Unicode strings. Every other path (the chat ui/ mounts here, with its own limits) passes as is."""

    def __init__(self, app: Any, *, token: str | None) -> None:
        self.app, self.token = app, token

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        path = scope.get("path", "") if scope["type"] == "http" else ""
        api = path == "/v1" or path.startswith("/v1/")
        if not api and not path.startswith(DOCS):
            await self.app(scope, receive, send)
            return
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope.get("headers", [])}
        if self.token and path != "/v1/health":
            given = headers.get("authorization", "")
            if not secrets.compare_digest(given.encode(), f"Bearer {self.token}".encode()):
                await _reply(send, 401, "missing or wrong token; send the header Authorization: Bearer TOKEN")
                return
        if not api:
            await self.app(scope, receive, send)
            return
        size = headers.get("content-length")
        if size is not None and (not size.isdigit() or int(size) > MAX_BODY):
            await _reply(send, 413, f"the request body is over {MAX_BODY:,} bytes; send a shorter question")
            return
        body = bytearray()
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                return  # the client left; nobody to answer
            body += message.get("body", b"")
            if len(body) > MAX_BODY:
                await _reply(send, 413, f"the request body is over {MAX_BODY:,} bytes; send a shorter question")
                return
            if not message.get("more_body", False):
                break
        problem = body_problem(bytes(body)) if body else None
        if problem:
            await _reply(send, 400, problem)
            return
        replayed = False

        async def replay() -> dict[str, Any]:
            nonlocal replayed
            if replayed:
                return dict(await receive())  # after the body: wait for the disconnect
            replayed = True
            return {"type": "http.request", "body": bytes(body), "more_body": False}

        await self.app(scope, replay, send)


def body_problem(body: bytes) -> str | None:
    """What is wrong with a request body, in words, or None when it is UTF-8 JSON whose strings
    are all valid Unicode. Example: body_problem(b'{"a": 1 "b"}') ->
    "the body is not valid JSON: expecting ',' delimiter at line 1 column 9"."""
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError as err:
        return f"the body is not valid UTF-8 (byte {err.start}: {body[err.start : err.start + 1]!r}); send UTF-8 JSON"
    try:
        data = json.loads(text)
    except json.JSONDecodeError as err:
        return f"the body is not valid JSON: {err.msg[0].lower()}{err.msg[1:]} at line {err.lineno} column {err.colno}"
    except RecursionError:
        return "the body is not usable JSON: nested too deeply; send a flat object"
    except ValueError as err:  # e.g. an integer of more than 4,300 digits
        return f"the body is not usable JSON: {' '.join(str(err).split())[:120]}"
    try:
        check_json_text(data)
    except RagError as err:
        return str(err)
    return None


def one_line(message: str) -> str:
    """A message on one line, writable as UTF-8 (a lone surrogate it quotes becomes an escape)."""
    return " ".join(message.encode("utf-8", "backslashreplace").decode("utf-8").split())


async def _reply(send: Any, status: int, message: str) -> None:
    """A {"error": "one line"} JSON response sent straight from the ASGI middleware."""
    payload = json.dumps({"error": one_line(message)}, ensure_ascii=False).encode("utf-8")
    headers = [(b"content-type", b"application/json"), (b"content-length", str(len(payload)).encode())]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": payload})


def chat_content(answer: Answer) -> str:
    """The answer with its [n] markers, then a short list of sources (speaker, document, quote)."""
    if not answer.citations:
        return answer.text
    lines = [answer.text, "", "Sources:"]
    for c in answer.citations:
        when = f", {c.when}" if c.when else ""
        quote = " ".join(c.quote.split())
        lines.append(f"[{c.n}] {c.speaker or 'narration'}, {c.doc_id}{when}: “{quote[:200]}”")
    return "\n".join(lines)


def _stream(reply_id: str, created: int, content: str, answer: Answer) -> Iterator[str]:
    """Server-sent events in the OpenAI chunk format: role, the content in pieces, stop, [DONE]."""

    def event(delta: dict[str, Any], finish: str | None = None, **extra: Any) -> str:
        chunk = {
            "id": reply_id,
            "object": "chat.completion.chunk",
            "created": created,
            "model": MODEL,
            "choices": [{"index": 0, "delta": delta, "finish_reason": finish}],
            **extra,
        }
        return f"data: {json.dumps(chunk, ensure_ascii=False)}\n\n"

    yield event({"role": "assistant", "content": ""})
    for line in content.splitlines(keepends=True):
        yield event({"content": line})
    yield event({}, "stop", rag=answer.to_dict())
    yield "data: [DONE]\n\n"


def _version() -> str:
    from rag import __version__

    return __version__


def run(pipe: Pipeline, *, host: str, port: int, token: str | None = None) -> None:
    """Serve until interrupted (uvicorn, one process)."""
    import uvicorn

    uvicorn.run(create_app(pipe, token=token), host=host, port=port, log_level="warning")


def run_workers(index: str, *, host: str, port: int, workers: int, token: str | None = None) -> None:
    """Serve with several worker processes; each loads the index (its large files memory-mapped,
    so the operating system shares their pages) and answers on the same port."""
    import os

    import uvicorn

    os.environ[_INDEX_ENV] = index  # how uvicorn's worker processes learn what to load
    if token:
        os.environ[_TOKEN_ENV] = token
    uvicorn.run("rag.serve:_worker_app", factory=True, host=host, port=port, workers=workers, log_level="warning")


_INDEX_ENV, _TOKEN_ENV = "RAG_SERVE_INDEX", "RAG_SERVE_TOKEN"


def _worker_app() -> FastAPI:
    """The app of one worker process (see `run_workers`): the environment is the process boundary."""
    import os

    from rag.pipeline import Pipeline

    return create_app(Pipeline.load(os.environ[_INDEX_ENV]), token=os.environ.get(_TOKEN_ENV) or None)
