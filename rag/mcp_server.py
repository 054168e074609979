"""rag as an MCP server for agents: search and ask the transcripts, list speakers and documents.

    rag mcp [--index DIR]          # stdio, one JSON-RPC message per line (the MCP SDK's transport)

Tools: `search_transcripts(query, k, speaker, doc_id)`, `ask_transcripts(question, history,
speaker, doc_id)`, `list_speakers()`, `list_documents()`. Their results are the same JSON as
`rag search --json`, `rag ask --json`, `rag speakers --json` and GET /v1/documents. Built on the
maintained `mcp` SDK; a RagError becomes the tool's error message, never a traceback.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any, TypeVar

from rag.errors import RagError
from rag.views import documents_json, search_json, speakers_json

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
        return answering(lambda: search_json(pipe.refreshed(), query, k=k, speaker=speaker, doc_id=doc_id))

    @server.tool()
    def ask_transcripts(
        question: str, history: list[str] | None = None, speaker: str | None = None, doc_id: str | None = None
    ) -> dict[str, Any]:
        """An answer that quotes the transcripts with verified citations, or a refusal saying why."""
        return answering(
            lambda: pipe.refreshed().ask(question, history=history or [], speaker=speaker, doc_id=doc_id).to_dict()
        )

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
    create_server(pipe).run("stdio")
