"""rag as an MCP server for agents: search and ask the transcripts, list speakers and documents.

    rag mcp [--index DIR]          # stdio, one JSON-RPC message per line (the MCP SDK's transport)

Tools: `search_transcripts(query, k, speaker, doc_id)`, `ask_transcripts(question, history,
speaker, doc_id)`, `list_speakers()`, `list_documents()`. Their results are the same JSON as
`rag search --json`, `rag ask --json`, `rag speakers --json` and GET /v1/documents. Built on the
maintained `mcp` SDK; a RagError (a bound crossed: k, history, a lone surrogate, an unknown
document) becomes the tool's error message, never a traceback. A stdin line that is not a JSON-RPC
message gets the spec's error reply (-32700 parse error, -32600 invalid request) instead of the
silence of the SDK's own reader; the SDK still does everything else.
"""

from __future__ import annotations

import json
import sys
from collections.abc import AsyncIterator, Callable
from typing import TYPE_CHECKING, Any, TypeVar

from rag.errors import RagError
from rag.views import (
    answer_json,
    check_document,
    check_json_text,
    check_request,
    documents_json,
    search_json,
    speakers_json,
)

if TYPE_CHECKING:
    from mcp.server.mcpserver import MCPServer

    from rag.pipeline import Pipeline


T = TypeVar("T")


def create_server(pipe: Pipeline) -> MCPServer:
    """An MCP server whose tools answer from `pipe` (from the newest generation of its index)."""
    try:
        from mcp.server.mcpserver import MCPServer
        from mcp.server.mcpserver.exceptions import ToolError
    except ImportError as err:
        raise ImportError(f"the MCP server needs its extra: pip install -e '.[serve]' ({err})") from err

    server = MCPServer(
        "rag",
        instructions=(
            "Speaker-aware search over interview and meeting transcripts. Every quote in a result is "
            "the exact source text at [start:end] of its document, by the speaker named."
        ),
    )

    def answering(call: Callable[[], T]) -> T:
        """A RagError becomes the tool's error text for the client (one line), not a server traceback."""
        try:
            return call()
        except RagError as err:
            raise ToolError(str(err)) from err

    @server.tool()
    def search_transcripts(
        query: str, k: int = 5, speaker: str | None = None, doc_id: str | None = None
    ) -> dict[str, Any]:
        """The best passages for a query, best first, optionally by one speaker or in one document."""

        def search() -> dict[str, Any]:
            texts = [("query", query), ("speaker", speaker), ("doc_id", doc_id)]
            check_request(pipe.settings, k=k, texts=texts)
            now = pipe.refreshed()
            check_document(now, doc_id)
            return search_json(now, query, k=k, speaker=speaker, doc_id=doc_id)

        return answering(search)

    @server.tool()
    def ask_transcripts(
        question: str, history: list[str] | None = None, speaker: str | None = None, doc_id: str | None = None
    ) -> dict[str, Any]:
        """An answer that quotes the transcripts with verified citations, or a refusal saying why."""

        def ask() -> dict[str, Any]:
            texts = [("question", question), ("speaker", speaker), ("doc_id", doc_id)]
            check_request(pipe.settings, history=history or [], texts=texts)
            now = pipe.refreshed()
            check_document(now, doc_id)
            return answer_json(now, now.ask(question, history=history or [], speaker=speaker, doc_id=doc_id))

        return answering(ask)

    @server.tool()
    def list_speakers() -> list[dict[str, Any]]:
        """Everyone who speaks (and who is quoted), with aliases, roles and documents."""
        return speakers_json(pipe.refreshed())

    @server.tool()
    def list_documents() -> list[dict[str, Any]]:
        """The documents of the index with their speakers, turns and chunks."""
        return documents_json(pipe.refreshed())

    return server


def run(pipe: Pipeline) -> None:
    """Serve over stdio until the client closes the connection."""
    import anyio

    anyio.run(serve_stdio, create_server(pipe))


async def serve_stdio(server: MCPServer) -> None:
    """`server.run("stdio")`, with stdin read through `_CheckedLines`, which answers bad lines."""
    from mcp.server.stdio import stdio_server

    lines = _CheckedLines()
    async with stdio_server(stdin=lines) as (read, write):  # type: ignore[arg-type]
        lines.replies = write
        lowlevel = server._lowlevel_server  # what MCPServer.run_stdio_async runs, with the SDK's reader
        await lowlevel.run(read, write, lowlevel.create_initialization_options())


class _CheckedLines:
    """The lines of stdin for the SDK's reader, less those that are not JSON-RPC messages: each of
    those gets its error reply on the SDK's write stream (so replies never interleave)."""

    def __init__(self) -> None:
        self.replies: Any = None  # the SDK's write stream, set once the transport is open

    def __aiter__(self) -> AsyncIterator[str]:
        return self._lines()

    async def _lines(self) -> AsyncIterator[str]:
        import anyio
        import anyio.to_thread
        from mcp.shared.message import SessionMessage
        from mcp_types import jsonrpc_message_adapter

        stdin = sys.stdin.buffer
        while True:
            line = await anyio.to_thread.run_sync(stdin.readline)
            if not line:
                return
            if not line.strip():
                continue
            reply = line_reply(line)
            if reply is None:
                yield line.decode("utf-8")
            else:
                await self.replies.send(SessionMessage(jsonrpc_message_adapter.validate_python(reply)))


PARSE_ERROR, INVALID_REQUEST = -32700, -32600  # JSON-RPC 2.0, section 5.1


def line_reply(line: bytes) -> dict[str, Any] | None:
    """The reply a stdin line gets without reaching the SDK, or None when it is a message for it.

    Not JSON: -32700; not a JSON-RPC object: -32600; a tool call whose arguments hold a lone
    surrogate (which the SDK's parser drops without a word): the tool's error result.
    Example: line_reply(b"[]")["error"] -> {"code": -32600, "message": "Invalid Request: a JSON-RPC
    message is an object, not an array"}
    """
    from mcp_types import jsonrpc_message_adapter
    from pydantic import ValidationError

    def error(code: int, message: str, request_id: str | int | None = None) -> dict[str, Any]:
        return {"jsonrpc": "2.0", "id": request_id, "error": {"code": code, "message": message}}

    try:
        data = json.loads(line.decode("utf-8"))
    except UnicodeDecodeError as err:
        return error(PARSE_ERROR, f"Parse error: the line is not valid UTF-8 (byte {err.start})")
    except (ValueError, RecursionError) as err:
        return error(PARSE_ERROR, f"Parse error: {' '.join(str(err).split())[:160] or 'nested too deeply'}")
    if not isinstance(data, dict):
        kind = {list: "an array", str: "a string", bool: "a boolean", type(None): "null"}.get(type(data), "a number")
        return error(INVALID_REQUEST, f"Invalid Request: a JSON-RPC message is an object, not {kind}")
    raw_id = data.get("id")
    request_id = raw_id if isinstance(raw_id, str | int) and not isinstance(raw_id, bool) else None
    if isinstance(request_id, str) and not _is_unicode(request_id):
        request_id = None
    if data.get("jsonrpc") != "2.0":
        return error(INVALID_REQUEST, 'Invalid Request: the message needs "jsonrpc": "2.0"', request_id)
    if "id" in data and request_id is None:  # the SDK would take it for a notification and stay silent
        return error(INVALID_REQUEST, f"Invalid Request: the id must be a string or a whole number, not {raw_id!r:.40}")
    try:
        check_json_text(data, "message")
    except RagError as err:
        params = data.get("params")
        if data.get("method") == "tools/call" and request_id is not None and isinstance(params, dict):
            why = str(err).replace("message.params.arguments.", "")
            text = f"Error executing tool {params.get('name')}: {why}".encode("utf-8", "backslashreplace").decode()
            return {
                "jsonrpc": "2.0",
                "id": request_id,
                "result": {"content": [{"type": "text", "text": text}], "isError": True},
            }
        return error(INVALID_REQUEST, f"Invalid Request: {err}", request_id)
    try:
        jsonrpc_message_adapter.validate_json(line, by_name=False)
    except ValidationError as err:
        first: dict[str, Any] = dict(err.errors()[0]) if err.errors() else {}
        where = ".".join(str(x) for x in first.get("loc", ())[1:]) or "message"
        return error(
            INVALID_REQUEST, f"Invalid Request: {where}: {first.get('msg', 'not a JSON-RPC message')}", request_id
        )
    return None


def _is_unicode(text: str) -> bool:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True
