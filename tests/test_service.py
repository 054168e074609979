"""rag for other programs: the HTTP API, the OpenAI-compatible endpoint, the MCP server and the
LangChain and LlamaIndex retrievers, each exercised through its real server or framework.

The fast tests run a real uvicorn server on a free loopback port around the fake-embedder index;
the `slow` ones start `rag serve` and `rag mcp` as a user would, on the real model, and hold the
contract: Python, CLI, HTTP and MCP give the same answer and citations.
"""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from rag import Pipeline
from rag.serve import create_app
from rag.views import search_json
from tests.conftest import ROOT, free_port

HELSINKI = "What did Dannenberg say about Helsinki?"
ENV = {**os.environ, "HF_HUB_OFFLINE": "1", "PYTHONPATH": str(ROOT)}


class Uvicorn:
    """A real server in a thread, stopped by the test."""

    def __init__(self, app: Any) -> None:
        import uvicorn

        self.port = free_port()
        self.server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=self.port, log_level="warning"))
        self.thread = threading.Thread(target=self.server.run, daemon=True)
        self.thread.start()
        while not self.server.started:
            time.sleep(0.02)
        self.url = f"http://127.0.0.1:{self.port}"

    def close(self) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=10)


@pytest.fixture(scope="module")
def api(fake_pipe: Pipeline) -> Iterator[str]:
    server = Uvicorn(create_app(fake_pipe))
    yield server.url
    server.close()


@pytest.fixture(scope="module")
def locked(fake_pipe: Pipeline) -> Iterator[str]:
    server = Uvicorn(create_app(fake_pipe, token="s3cret-token"))
    yield server.url
    server.close()


def test_health_and_listing_routes(api: str, fake_pipe: Pipeline) -> None:
    health = httpx.get(f"{api}/v1/health").json()
    assert health == {
        "status": "ok",
        "documents": len(fake_pipe.documents),
        "chunks": len(fake_pipe.chunks),
        "model": "fake-hash-384",
    }
    speakers = httpx.get(f"{api}/v1/speakers").json()
    dannenberg = next(s for s in speakers if s["name"] == "Dannenberg")
    assert dannenberg["kind"] == "speaker" and dannenberg["documents"] == ["cipher-brief-trump-putin-call"]
    docs = httpx.get(f"{api}/v1/documents").json()
    seed = next(d for d in docs if d["doc_id"] == "cipher-brief-trump-putin-call")
    assert seed["speakers"] == ["McLaughlin", "Dannenberg"] and seed["chunks"] > 0  # in order of speaking
    assert httpx.get(f"{api}/docs").status_code == 200 and "openapi" in httpx.get(f"{api}/openapi.json").text


def test_ask_and_search_return_the_library_json(api: str, fake_pipe: Pipeline) -> None:
    r = httpx.post(f"{api}/v1/ask", json={"question": HELSINKI})
    assert r.status_code == 200 and r.json() == fake_pipe.ask(HELSINKI).to_dict()
    r = httpx.post(f"{api}/v1/search", json={"query": "Helsinki", "k": 3, "speaker": "Dannenberg"})
    body = r.json()
    assert body["speaker"] == "Dannenberg" and [h["rank"] for h in body["hits"]] == [1, 2, 3]
    assert body["hits"] == search_json(fake_pipe, "Helsinki", k=3, speaker="Dannenberg", doc_id=None)["hits"]


@pytest.mark.parametrize(
    ("route", "payload", "status", "message"),
    [
        ("ask", {"question": "  "}, 400, "the question is empty"),
        ("ask", {"question": "x" * 3000}, 400, "over the 2,000 limit"),
        ("ask", {"question": HELSINKI, "speaker": "Nobody Atall"}, 404, "no speaker matches 'Nobody Atall'"),
        ("ask", {"question": HELSINKI, "k": 0}, 422, "k: Input should be greater than or equal to 1"),
        ("ask", {}, 422, "question: Field required"),
        ("search", {"query": ""}, 400, "the question is empty"),
    ],
)
def test_bad_input_is_a_4xx_with_one_line(
    api: str, route: str, payload: dict[str, Any], status: int, message: str
) -> None:
    r = httpx.post(f"{api}/v1/{route}", json=payload)
    assert r.status_code == status and message in r.json()["error"] and "\n" not in r.json()["error"], r.text


def test_malformed_json_and_huge_bodies(api: str) -> None:
    r = httpx.post(f"{api}/v1/ask", content=b"{not json", headers={"content-type": "application/json"})
    assert r.status_code == 400 and "JSON" in r.json()["error"]
    r = httpx.post(f"{api}/v1/ask", json={"question": "x", "history": ["y" * 1000] * 400})
    assert r.status_code == 413 and "request body is over" in r.json()["error"]


def test_the_token_guards_every_route_but_health(locked: str) -> None:
    assert httpx.get(f"{locked}/v1/health").status_code == 200
    for method, route in (("GET", "speakers"), ("GET", "documents"), ("GET", "models"), ("POST", "ask")):
        r = httpx.request(method, f"{locked}/v1/{route}", json={"question": HELSINKI})
        assert r.status_code == 401 and "Bearer" in r.json()["error"]
    wrong = httpx.post(f"{locked}/v1/ask", json={"question": HELSINKI}, headers={"Authorization": "Bearer nope"})
    assert wrong.status_code == 401
    ok = httpx.post(f"{locked}/v1/ask", json={"question": HELSINKI}, headers={"Authorization": "Bearer s3cret-token"})
    assert ok.status_code == 200 and ok.json()["answerable"]


def test_openai_client_plain_and_streaming(api: str, fake_pipe: Pipeline) -> None:
    from openai import OpenAI

    client = OpenAI(base_url=f"{api}/v1", api_key="unused", max_retries=0)
    assert [m.id for m in client.models.list()] == ["rag"]
    messages = [
        {"role": "system", "content": "You answer from transcripts."},
        {"role": "user", "content": "What did McLaughlin say about NATO?"},
        {"role": "assistant", "content": "..."},
        {"role": "user", "content": [{"type": "text", "text": HELSINKI}]},
    ]
    reply = client.chat.completions.create(model="rag", messages=messages)  # type: ignore[arg-type]
    content = reply.choices[0].message.content or ""
    expected = fake_pipe.ask(HELSINKI, history=["What did McLaughlin say about NATO?"])
    assert content.startswith(expected.text) and "\nSources:\n[1] Dannenberg, cipher-brief-trump-putin-call" in content
    extra = (reply.model_extra or {})["rag"]
    assert extra["citations"] == expected.to_dict()["citations"]
    stream = client.chat.completions.create(model="rag", messages=messages, stream=True)  # type: ignore[arg-type]
    pieces = [c.choices[0].delta.content or "" for c in stream if c.choices]
    assert "".join(pieces) == content and len(pieces) > 2


def test_openai_endpoint_refuses_without_a_user_message(api: str) -> None:
    r = httpx.post(
        f"{api}/v1/chat/completions", json={"model": "rag", "messages": [{"role": "system", "content": "x"}]}
    )
    assert r.status_code == 400 and "no user message" in r.json()["error"]


# --- MCP ----------------------------------------------------------------------------------------

FAKE_MCP = (
    "import sys; from rag import Pipeline; from rag.mcp_server import create_server; "
    "from tests.conftest import FakeEmbedder; "
    "create_server(Pipeline.load(sys.argv[1], embedder=FakeEmbedder())).run('stdio')"
)


def mcp_session(command: list[str], calls: list[tuple[str, dict[str, Any]]]) -> tuple[list[str], list[Any]]:
    """Tool names, then each call's structured result, through the SDK's own stdio client."""
    from mcp import ClientSession, StdioServerParameters
    from mcp.client.stdio import stdio_client

    async def go() -> tuple[list[str], list[Any]]:
        params = StdioServerParameters(command=command[0], args=command[1:], env=ENV, cwd=str(ROOT))
        async with stdio_client(params) as (read, write), ClientSession(read, write) as session:
            await session.initialize()
            tools = [t.name for t in (await session.list_tools()).tools]
            results = []
            for name, args in calls:
                result = await session.call_tool(name, args)
                if result.is_error:
                    results.append({"error": " ".join(c.text for c in result.content if hasattr(c, "text"))})
                    continue
                data = result.structured_content
                results.append(data.get("result", data) if isinstance(data, dict) and set(data) == {"result"} else data)
            return tools, results

    return asyncio.run(asyncio.wait_for(go(), timeout=120))


def test_mcp_tools_over_stdio(fake_index: Path, fake_pipe: Pipeline) -> None:
    tools, (search, ask, speakers, documents, bad) = mcp_session(
        [sys.executable, "-c", FAKE_MCP, str(fake_index)],
        [
            ("search_transcripts", {"query": "Helsinki", "k": 3, "speaker": "Dannenberg"}),
            ("ask_transcripts", {"question": HELSINKI}),
            ("list_speakers", {}),
            ("list_documents", {}),
            ("ask_transcripts", {"question": " "}),
        ],
    )
    assert sorted(tools) == ["ask_transcripts", "list_documents", "list_speakers", "search_transcripts"]
    assert search["hits"] == search_json(fake_pipe, "Helsinki", k=3, speaker="Dannenberg", doc_id=None)["hits"]
    assert ask == fake_pipe.ask(HELSINKI).to_dict()
    assert any(s["name"] == "McLaughlin" for s in speakers)
    assert any(d["doc_id"] == "panel" for d in documents)
    assert "the question is empty" in bad["error"]


# --- framework retrievers -----------------------------------------------------------------------


def test_langchain_retriever_inside_a_chain(fake_pipe: Pipeline) -> None:
    from langchain_core.runnables import RunnableLambda

    from rag.integrations.langchain import TranscriptRetriever

    retriever = TranscriptRetriever(pipeline=fake_pipe, k=3)
    chain = retriever | RunnableLambda(lambda docs: [(d.metadata["speaker"], d.metadata["start"]) for d in docs])
    got = chain.invoke(HELSINKI)
    hits = fake_pipe.search(HELSINKI, k=3)
    assert got == [(h.chunk.speaker, h.chunk.start) for h in hits] and got[0][0] == "Dannenberg"
    doc = retriever.invoke(HELSINKI)[0]
    text = fake_pipe.documents[doc.metadata["doc_id"]].text
    assert text[doc.metadata["start"] : doc.metadata["end"]] == doc.page_content
    assert {"doc_id", "source", "speaker", "start", "end", "time_start", "time_end"} <= set(doc.metadata)


def test_llama_index_retriever_inside_a_query_engine(fake_pipe: Pipeline) -> None:
    from llama_index.core.llms.mock import MockLLM
    from llama_index.core.query_engine import RetrieverQueryEngine
    from llama_index.core.response_synthesizers.no_text import NoText

    from rag.integrations.llama_index import TranscriptRetriever

    retriever = TranscriptRetriever(fake_pipe, k=3, speaker="Dannenberg")
    engine = RetrieverQueryEngine(retriever=retriever, response_synthesizer=NoText(llm=MockLLM()))  # retrieval only
    response = engine.query("Helsinki")
    nodes = response.source_nodes
    assert len(nodes) == 3 and all(n.node.metadata["speaker"] == "Dannenberg" for n in nodes)
    assert [n.node.node_id for n in nodes] == [
        h.chunk.chunk_id for h in fake_pipe.search("Helsinki", k=3, speaker="Dannenberg")
    ]


# --- as a user starts them, on the real model; one contract across the four ways in ---------------


@pytest.fixture(scope="module")
def rag_serve(real_index: Path) -> Iterator[str]:
    port = free_port()
    env = {**ENV, "RAG_TEST_TOKEN": "tok-123"}
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "rag",
            "serve",
            "--index",
            str(real_index),
            "--port",
            str(port),
            "--token-env",
            "RAG_TEST_TOKEN",
        ],
        env=env,
        cwd=ROOT,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 90
    while True:
        try:
            if httpx.get(f"{url}/v1/health").status_code == 200:
                break
        except httpx.TransportError:
            pass
        assert proc.poll() is None and time.monotonic() < deadline, proc.stderr.read() if proc.stderr else ""
        time.sleep(0.2)
    yield url
    proc.terminate()
    proc.wait(timeout=20)


CONTRACT = [HELSINKI, "What did McLaughlin say about NATO?", "What did Zelensky say about the ceasefire?"]


@pytest.mark.slow
def test_python_cli_http_and_mcp_agree(real_index: Path, real_pipe: Pipeline, rag_serve: str) -> None:
    auth = {"Authorization": "Bearer tok-123"}
    assert httpx.post(f"{rag_serve}/v1/ask", json={"question": HELSINKI}).status_code == 401
    _, mcp = mcp_session(
        [sys.executable, "-m", "rag", "mcp", "--index", str(real_index)],
        [("ask_transcripts", {"question": q}) for q in CONTRACT],
    )
    for question, via_mcp in zip(CONTRACT, mcp, strict=True):
        python = real_pipe.ask(question).to_dict()
        cli = subprocess.run(
            [sys.executable, "-m", "rag", "ask", question, "--json", "--index", str(real_index)],
            capture_output=True, text=True, env=ENV, cwd=ROOT, timeout=120,
        )  # fmt: skip
        http = httpx.post(f"{rag_serve}/v1/ask", json={"question": question}, headers=auth).json()
        assert json.loads(cli.stdout) == python == http == via_mcp, question
