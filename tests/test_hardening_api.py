"""Issue 26, the server and CLI side: what an attacker or a clumsy caller sends to `rag serve`,
`rag mcp` and the `rag` command gets a one-line refusal, never a 5xx, a traceback or silence.

Real servers on loopback: `rag serve`'s app in a uvicorn subprocess and `rag mcp`'s stdio loop in
a subprocess, both on the fake-embedder index (tests/conftest.py); the chat's server in a thread.
The fuzz tests at the end (hypothesis, bounded) hold the same over random bodies and JSON-RPC lines.
"""

from __future__ import annotations

import json
import os
import queue
import select
import shutil
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from rag import Pipeline, build_index
from tests.conftest import ROOT, SEED, FakeEmbedder, free_port

HELSINKI = "What did Dannenberg say about Helsinki?"
ENV = {**os.environ, "HF_HUB_OFFLINE": "1", "PYTHONPATH": str(ROOT)}
TOKEN = "s3cret-token"
AUTH = {"Authorization": f"Bearer {TOKEN}"}

SERVE = (
    "import sys, uvicorn; from rag import Pipeline; from rag.serve import create_app; "
    "from tests.conftest import FakeEmbedder; "
    "app = create_app(Pipeline.load(sys.argv[1], embedder=FakeEmbedder()), token=sys.argv[3] or None); "
    "uvicorn.run(app, host='127.0.0.1', port=int(sys.argv[2]), log_level='warning')"
)
MCP = (
    "import sys; from rag import Pipeline; from rag.mcp_server import run; "
    "from tests.conftest import FakeEmbedder; run(Pipeline.load(sys.argv[1], embedder=FakeEmbedder()))"
)


class Served:
    """The HTTP app of `rag serve` in its own process on a free port; stderr kept for the asserts."""

    def __init__(self, index: Path, token: str = "") -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.stderr = open(index.parent / f"serve-{self.port}.err", "w+")  # noqa: SIM115 - closed in close()
        self.proc = subprocess.Popen(
            [sys.executable, "-c", SERVE, str(index), str(self.port), token],
            env=ENV, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=self.stderr,
        )  # fmt: skip
        deadline = time.monotonic() + 60
        while True:
            try:
                if httpx.get(f"{self.url}/v1/health").status_code == 200:
                    return
            except httpx.TransportError:
                pass
            assert self.proc.poll() is None and time.monotonic() < deadline, self.errors()
            time.sleep(0.1)

    def errors(self) -> str:
        self.stderr.flush()
        self.stderr.seek(0)
        return self.stderr.read()

    def close(self) -> None:
        self.proc.terminate()
        self.proc.wait(timeout=20)
        self.stderr.close()


@pytest.fixture(scope="module")
def served(fake_index: Path) -> Iterator[Served]:
    server = Served(fake_index)
    yield server
    server.close()
    assert "Traceback" not in Path(server.stderr.name).read_text()


@pytest.fixture(scope="module")
def locked(fake_index: Path) -> Iterator[Served]:
    server = Served(fake_index, token=TOKEN)
    yield server
    server.close()


def one_line_error(r: httpx.Response, status: int) -> str:
    assert r.status_code == status, r.text
    assert r.headers["content-type"].startswith("application/json"), r.headers
    body = r.json()
    assert set(body) == {"error"} and "\n" not in body["error"], body
    return str(body["error"])


# --- 3: the body limit limits what is read, chunked or not ----------------------------------------


def post_chunked(url: str, total: int) -> tuple[int, bytes, int]:
    """POST a valid JSON body of about `total` bytes with chunked encoding and no Content-Length,
    stopping as soon as the server answers. Returns (bytes sent, response head, status)."""
    host, port = url.removeprefix("http://").split(":")
    head = (
        f"POST /v1/ask HTTP/1.1\r\nHost: {host}\r\nContent-Type: application/json\r\n"
        "Transfer-Encoding: chunked\r\nConnection: close\r\n\r\n"
    ).encode()
    opening = json.dumps({"question": HELSINKI, "pad": ""})[:-2].encode()  # ... "pad": "
    piece = b"x" * 65_536
    sent, reply = 0, b""
    with socket.create_connection((host, int(port)), timeout=30) as s:
        s.sendall(head)

        def chunk(data: bytes) -> None:
            s.sendall(f"{len(data):x}\r\n".encode() + data + b"\r\n")

        try:
            chunk(opening)
            while sent < total:
                chunk(piece)
                sent += len(piece)
                if select.select([s], [], [], 0)[0]:
                    break  # the server answered before the body ended
            else:
                chunk(b'"}')
                s.sendall(b"0\r\n\r\n")
        except (BrokenPipeError, ConnectionResetError):
            pass
        while True:
            try:
                data = s.recv(65_536)
            except ConnectionResetError:
                break
            if not data:
                break
            reply += data
    status = int(reply.split(b" ", 2)[1]) if reply.startswith(b"HTTP/1.1 ") else 0
    return sent, reply, status


def test_a_chunked_body_is_cut_off_at_the_limit(served: Served) -> None:
    sent, reply, status = post_chunked(served.url, 8_000_000)
    assert status == 413, reply[:300]
    assert b"request body is over 256,000 bytes" in reply
    assert sent < 8_000_000  # answered before the client finished sending
    # a body under the limit, chunked the same way, is answered
    sent, reply, status = post_chunked(served.url, 100_000)
    assert status == 200, reply[:300]


# --- 4: every size a caller sets is bounded, the same way everywhere ------------------------------


@pytest.mark.parametrize("k", [-1, 0, 101, 10**9, 10**30, "ten", 2.5])
def test_http_k_out_of_bounds_is_a_422_in_one_line(served: Served, k: object) -> None:
    for route, field in (("ask", "question"), ("search", "query")):
        r = httpx.post(f"{served.url}/v1/{route}", json={field: HELSINKI, "k": k})
        assert one_line_error(r, 422).startswith("k: "), r.text


def test_http_history_and_names_are_bounded(served: Served) -> None:
    r = httpx.post(f"{served.url}/v1/ask", json={"question": HELSINKI, "history": ["What about NATO?"] * 21})
    assert "history: List should have at most 20 items" in one_line_error(r, 422)
    r = httpx.post(f"{served.url}/v1/ask", json={"question": HELSINKI, "history": ["y" * 3000]})
    assert "history[0] is 3,000 characters, over the 2,000 limit" in one_line_error(r, 400)
    for field in ("speaker", "doc_id"):
        r = httpx.post(f"{served.url}/v1/search", json={"query": HELSINKI, field: "Dannenberg " * 300})
        assert f"the {field} is 3,300 characters, over the 2,000 limit" in one_line_error(r, 400)


def test_cli_k_out_of_bounds_is_one_line(fake_index: Path) -> None:
    for k in ("1000000000", "0", "-1"):
        p = rag("search", "Helsinki", "--k", k, "--index", str(fake_index))
        assert f"k must be a whole number from 1 to 100, not {k}" in cli_error(p)
    assert "invalid int value: 'many'" in cli_error(rag("search", "Helsinki", "--k", "many"))


# --- 6: the API's docs need the token too --------------------------------------------------------


def test_docs_need_the_token(locked: Served) -> None:
    for route in ("/docs", "/redoc", "/openapi.json", "/docs/oauth2-redirect"):
        assert "Bearer" in one_line_error(httpx.get(f"{locked.url}{route}"), 401), route
        assert httpx.get(f"{locked.url}{route}", headers=AUTH).status_code == 200, route
    assert httpx.get(f"{locked.url}/v1/health").status_code == 200


# --- 9: the chat's uploads are not under the API's body limit ------------------------------------


def test_a_300_kb_upload_reaches_the_chat_and_v1_keeps_its_limit(tmp_path: Path) -> None:
    from ui.app import Chat, launch

    seeds = tmp_path / "seeds"
    seeds.mkdir()
    shutil.copy(SEED, seeds)
    index = tmp_path / "index"
    fake = FakeEmbedder()
    build_index([seeds], index, embedder=fake)
    chat = Chat(
        Pipeline.load(index, embedder=fake), index=index, sources=[seeds], uploads=tmp_path / "u", embedder=fake
    )
    lines = [
        f"{'Ann' if i % 2 else 'Bob'}: item {i} of the budget, the harbour and the tram line." for i in range(5000)
    ]
    meeting = tmp_path / "long-meeting.txt"
    meeting.write_text("\n\n".join(lines), encoding="utf-8")
    assert 256_000 < meeting.stat().st_size < 5_000_000
    port = free_port()
    server = launch(chat, host="127.0.0.1", port=port, quiet=True)
    try:
        url = f"http://127.0.0.1:{port}"
        with httpx.Client() as browser, meeting.open("rb") as f:
            browser.get(f"{url}/")  # the page gives the session cookie an upload is recorded under
            r = browser.post(f"{url}/gradio_api/upload", files={"files": (meeting.name, f, "text/plain")}, timeout=60)
        assert r.status_code == 200, r.text
        stored = r.json()[0]
        assert Path(stored).stat().st_size == meeting.stat().st_size
        from types import SimpleNamespace

        from ui.guard import SESSION_COOKIE

        session = SimpleNamespace(cookies={SESSION_COOKIE: browser.cookies[SESSION_COOKIE]})  # the uploading page's
        message = chat.upload(stored, request=session, progress=None)[0]  # type: ignore[arg-type]
        assert message.startswith("**Added long-meeting.txt**"), message
        big = httpx.post(f"{url}/v1/ask", json={"question": "x", "pad": "y" * 300_000})
        assert "request body is over" in one_line_error(big, 413)
    finally:
        server.close()


# --- 14, 16: a lone surrogate, invalid UTF-8, malformed JSON: 400 {"error": words} ----------------


@pytest.mark.parametrize(
    ("route", "body"),
    [
        ("ask", b'{"question": "\\ud800 Helsinki"}'),
        ("search", b'{"query": "Helsinki \\udfff"}'),
        ("chat/completions", b'{"messages": [{"role": "user", "content": "\\ud800"}]}'),
        ("ask", b'{"question": "Helsinki", "speaker": "\\ud83d"}'),
    ],
)
def test_a_lone_surrogate_is_a_400(served: Served, route: str, body: bytes) -> None:
    r = httpx.post(f"{served.url}/v1/{route}", content=body, headers={"content-type": "application/json"})
    assert "holds a lone surrogate (U+D" in one_line_error(r, 400)


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (b'{"question": "caf\xe9"}', "the body is not valid UTF-8 (byte 17"),
        (b'{"question": "a" "k": 3}', "the body is not valid JSON: expecting ',' delimiter at line 1 column 18"),
        (b"{not json", "the body is not valid JSON: expecting property name enclosed in double quotes at line 1"),
        (b"[" * 50_000 + b"]" * 50_000, "nested too deeply"),
        (b'{"question": "a", "k": 1' + b"0" * 5000 + b"}", "the body is not usable JSON: Exceeds the limit"),
    ],
)
def test_bad_bytes_and_bad_json_are_said_in_words(served: Served, body: bytes, message: str) -> None:
    r = httpx.post(f"{served.url}/v1/ask", content=body, headers={"content-type": "application/json"})
    assert message in one_line_error(r, 400)


# --- 17: an unknown document is said to be unknown ------------------------------------------------


def test_an_unknown_doc_id_is_a_404(served: Served) -> None:
    for route, field in (("ask", "question"), ("search", "query")):
        r = httpx.post(f"{served.url}/v1/{route}", json={field: HELSINKI, "doc_id": "nosuchdoc"})
        assert one_line_error(r, 404).startswith("no document 'nosuchdoc'; documents: cipher-brief-trump-putin-call")
    ok = httpx.post(f"{served.url}/v1/ask", json={"question": HELSINKI, "doc_id": "cipher-brief-trump-putin-call"})
    assert ok.status_code == 200 and ok.json()["answerable"]


@pytest.mark.slow
def test_cli_unknown_doc_is_one_line(real_index: Path) -> None:
    p = rag("ask", HELSINKI, "--doc", "nosuchdoc", "--index", str(real_index))
    assert "no document 'nosuchdoc'; documents: cipher-brief-trump-putin-call" in cli_error(p)
    p = rag("search", "Helsinki", "--doc", "nosuchdoc", "--index", str(real_index))
    assert "no document 'nosuchdoc'" in cli_error(p)


# --- 18: a port out of range, an empty folder ---------------------------------------------------


def rag(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "rag", *args], capture_output=True, text=True, cwd=ROOT, env=ENV, timeout=300
    )


def cli_error(p: subprocess.CompletedProcess[str]) -> str:
    assert p.returncode == 1, (p.returncode, p.stderr)
    lines = [line for line in p.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("rag: error: "), p.stderr
    return lines[0]


def test_a_port_out_of_range_is_one_line(fake_index: Path) -> None:
    for port in ("99999", "0", "-1", "http"):
        line = cli_error(rag("serve", "--port", port, "--index", str(fake_index)))
        assert f"--port '{port}' is not a port; use 1 to 65535" in line


def test_adding_an_empty_folder_is_refused_and_roots_stay_unique(tmp_path: Path) -> None:
    seeds = tmp_path / "seeds"
    seeds.mkdir()
    shutil.copy(SEED, seeds)
    index = tmp_path / "index"
    build_index([seeds], index, embedder=FakeEmbedder())
    manifest = json.loads((index / "manifest.json").read_text())
    empty = tmp_path / "empty"
    empty.mkdir()
    for _ in range(2):
        line = cli_error(rag("add", str(empty), "--index", str(index)))
        assert "no transcripts (.json, .md, .srt, .txt, .vtt) or recordings in" in line and str(empty) in line
        assert json.loads((index / "manifest.json").read_text()) == manifest
    # a folder given twice (as `rag add` of a root did) is one root
    build_index([seeds, empty, empty], tmp_path / "other", embedder=FakeEmbedder())
    assert json.loads((tmp_path / "other" / "manifest.json").read_text())["roots"] == ["../empty", "../seeds"]


# --- MCP over stdio: bad lines get JSON-RPC errors, bad arguments tool errors -------------------


class McpProcess:
    """`rag mcp` as a subprocess speaking raw JSON-RPC lines (to send what no SDK client would)."""

    def __init__(self, index: Path) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, "-c", MCP, str(index)],
            env=ENV, cwd=ROOT, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
        )  # fmt: skip
        self.replies: queue.Queue[dict[str, Any]] = queue.Queue()
        self.stderr: list[bytes] = []
        threading.Thread(target=self._read, daemon=True).start()
        threading.Thread(target=lambda: self.stderr.extend(self.proc.stderr or []), daemon=True).start()
        hello = {"protocolVersion": "2025-06-18", "capabilities": {}, "clientInfo": {"name": "t", "version": "1"}}
        self.send({"jsonrpc": "2.0", "id": "init", "method": "initialize", "params": hello})
        assert "result" in self.reply(), "initialize failed"
        self.send({"jsonrpc": "2.0", "method": "notifications/initialized"})

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            self.replies.put(json.loads(line))

    def send(self, message: dict[str, Any] | bytes) -> None:
        assert self.proc.stdin is not None
        line = message if isinstance(message, bytes) else json.dumps(message).encode()
        self.proc.stdin.write(line + b"\n")
        self.proc.stdin.flush()

    def reply(self, timeout: float = 30) -> dict[str, Any]:
        try:
            return self.replies.get(timeout=timeout)
        except queue.Empty:
            raise AssertionError(f"no reply in {timeout} s; stderr: {b''.join(self.stderr)[-2000:]!r}") from None

    def call(self, tool: str, arguments: dict[str, Any], request_id: int) -> dict[str, Any]:
        params = {"name": tool, "arguments": arguments}
        self.send({"jsonrpc": "2.0", "id": request_id, "method": "tools/call", "params": params})
        return self.reply()

    def close(self) -> str:
        if self.proc.stdin:
            self.proc.stdin.close()
        self.proc.wait(timeout=20)
        return b"".join(self.stderr).decode("utf-8", "replace")


@pytest.fixture(scope="module")
def mcp(fake_index: Path) -> Iterator[McpProcess]:
    server = McpProcess(fake_index)
    yield server
    assert "Traceback" not in server.close()


def tool_error(reply: dict[str, Any], request_id: int) -> str:
    assert reply["id"] == request_id and reply["result"]["isError"], reply
    return " ".join(c["text"] for c in reply["result"]["content"])


def test_mcp_k_out_of_bounds_is_a_tool_error(mcp: McpProcess) -> None:
    for i, k in enumerate((-1, 0, 10**9, 10**30)):
        reply = mcp.call("search_transcripts", {"query": "Helsinki", "k": k}, 100 + i)
        assert f"k must be a whole number from 1 to 100, not {k}" in tool_error(reply, 100 + i)
    reply = mcp.call("ask_transcripts", {"question": HELSINKI, "history": ["NATO?"] * 21}, 110)
    assert "history has 21 questions, over the 20 limit" in tool_error(reply, 110)
    reply = mcp.call("search_transcripts", {"query": "Helsinki", "speaker": "x" * 2001}, 112)
    assert "the speaker is 2,001 characters, over the 2,000 limit" in tool_error(reply, 112)
    ok = mcp.call("search_transcripts", {"query": "Helsinki", "k": 2}, 111)
    assert not ok["result"].get("isError") and len(ok["result"]["structuredContent"]["hits"]) == 2


def test_mcp_lone_surrogate_and_unknown_doc_are_tool_errors(mcp: McpProcess) -> None:
    line = b'{"jsonrpc": "2.0", "id": 120, "method": "tools/call", "params": {"name": "ask_transcripts", '
    mcp.send(line + b'"arguments": {"question": "\\ud800 Helsinki"}}}')
    assert "question holds a lone surrogate (U+D800) at character 0" in tool_error(mcp.reply(), 120)
    reply = mcp.call("ask_transcripts", {"question": HELSINKI, "doc_id": "nosuchdoc"}, 121)
    assert "no document 'nosuchdoc'; documents: cipher-brief-trump-putin-call" in tool_error(reply, 121)


@pytest.mark.parametrize(
    ("line", "code", "request_id", "message"),
    [
        (b"{not json", -32700, None, "Parse error: Expecting property name"),
        (b"[]", -32600, None, "a JSON-RPC message is an object, not an array"),
        (b"42", -32600, None, "a JSON-RPC message is an object, not a number"),
        (b'"ping"', -32600, None, "not a string"),
        (b'{"id": 7, "method": "tools/list"}', -32600, 7, 'the message needs "jsonrpc": "2.0"'),
        (b'{"jsonrpc": "2.0", "id": 8, "method": "tools/\xff"}', -32700, None, "not valid UTF-8 (byte 45)"),
        (b'{"jsonrpc": "2.0", "id": 9, "method": "tools/call", "params": 42}', -32600, 9, "params"),
        (b'{"jsonrpc": "1.0", "id": "a", "method": "ping"}', -32600, "a", '"jsonrpc": "2.0"'),
        (b'{"jsonrpc": "2.0", "id": 0.25, "method": "ping"}', -32600, None, "id must be a string or a whole number"),
        (b'{"jsonrpc": "2.0", "id": true, "method": "ping"}', -32600, None, "not True"),
    ],
)
def test_mcp_malformed_lines_get_json_rpc_errors(
    mcp: McpProcess, line: bytes, code: int, request_id: object, message: str
) -> None:
    mcp.send(line)
    reply = mcp.reply()
    assert reply["jsonrpc"] == "2.0" and reply["id"] == request_id and reply["error"]["code"] == code, reply
    assert message in reply["error"]["message"], reply
    mcp.send({"jsonrpc": "2.0", "id": "still-there", "method": "ping"})
    assert mcp.reply() == {"jsonrpc": "2.0", "id": "still-there", "result": {}}


# --- fuzz: random bodies over HTTP, random lines over MCP ----------------------------------------

JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=40),
    lambda inner: st.lists(inner, max_size=5) | st.dictionaries(st.text(max_size=10), inner, max_size=5),
    max_leaves=20,
)
NUMBERS = st.integers(min_value=-(10**40), max_value=10**40) | st.floats() | st.sampled_from([0, -1, 10**9, 2**63])
WORDS = st.sampled_from(["Dannenberg", "McLaughlin", "Helsinki", "NATO", "what", "did", "say", "about", "tram", "the"])
QUESTION = st.lists(WORDS, min_size=1, max_size=12).map(" ".join).map(lambda q: q + "?")
TEXT = st.text(max_size=300) | st.sampled_from(["\ud800", "\u202e", "", " ", "x" * 2500, "Dannenberg", "panel"])


def mostly(good: st.SearchStrategy[Any], bad: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    """Right-typed four times in five, so most bodies reach the pipeline, the rest its checks."""
    return st.integers(min_value=0, max_value=4).flatmap(lambda i: good if i < 4 else bad)


FIELD = TEXT | NUMBERS | JSON
WORDING = mostly(QUESTION | TEXT, FIELD)
K = mostly(st.integers(min_value=1, max_value=100), NUMBERS | FIELD)
NAME = mostly(st.none() | st.sampled_from(["Dannenberg", "McLaughlin", "Maria Lopez", "panel", "nosuch"]), FIELD)
HISTORY = mostly(st.lists(QUESTION | TEXT, max_size=25), FIELD)
ASK = st.fixed_dictionaries(
    {"question": WORDING}, optional={"k": K, "history": HISTORY, "speaker": NAME, "doc_id": NAME}
)
SEARCH = st.fixed_dictionaries({"query": WORDING}, optional={"k": K, "speaker": NAME, "doc_id": NAME})
PARTS = st.lists(st.fixed_dictionaries({"type": st.just("text"), "text": WORDING}), max_size=3)
MESSAGE = st.fixed_dictionaries(
    {"role": mostly(st.sampled_from(["user", "system", "assistant"]), FIELD)},
    optional={"content": mostly(WORDING | PARTS, FIELD)},
)
CHAT = st.fixed_dictionaries(
    {"messages": mostly(st.lists(MESSAGE, min_size=1, max_size=6), FIELD)},
    optional={"stream": mostly(st.booleans(), FIELD), "model": mostly(st.just("rag"), FIELD)},
)
BODIES = st.one_of(
    st.tuples(st.just("ask"), mostly(ASK, JSON)),
    st.tuples(st.just("search"), mostly(SEARCH, JSON)),
    st.tuples(st.just("chat/completions"), mostly(CHAT, JSON)),
)
BUDGET = 180.0  # seconds per fuzz test: examples after it pass without a request
FUZZ = settings(max_examples=150, deadline=None, suppress_health_check=list(HealthCheck), derandomize=True)


def encode(body: Any, raw: bool) -> bytes:
    """JSON with \\uXXXX escapes (so lone surrogates travel), or, raw, UTF-8 with surrogates as is."""
    text = json.dumps(body, ensure_ascii=not raw)
    return text.encode("utf-8", "surrogatepass") if raw else text.encode()


@pytest.fixture(scope="module")
def clock() -> dict[str, float]:
    return {}


@FUZZ
@given(body=BODIES, raw=st.booleans(), junk=mostly(st.none(), st.binary(max_size=40)))
def test_fuzz_http_never_a_5xx_or_a_traceback(
    served: Served, clock: dict[str, float], body: tuple[str, Any], raw: bool, junk: bytes | None
) -> None:
    started = clock.setdefault("http", time.monotonic())
    if time.monotonic() - started > BUDGET:
        return
    route, payload = body
    content = junk if junk is not None and raw else encode(payload, raw)
    r = httpx.post(
        f"{served.url}/v1/{route}", content=content, headers={"content-type": "application/json"}, timeout=60
    )
    assert r.status_code < 500, (route, content[:300], r.text[:300])
    assert "Traceback" not in r.text
    if r.status_code >= 400:
        one_line_error(r, r.status_code)
    assert "Traceback" not in served.errors()


ID = mostly(
    st.integers(min_value=1, max_value=2**31),
    st.integers() | st.text(max_size=8) | st.none() | st.floats() | st.booleans() | JSON,
)
TOOLS = ["search_transcripts", "ask_transcripts", "ask_transcripts", "list_speakers", "list_documents"]
CALL = st.fixed_dictionaries(
    {"name": mostly(st.sampled_from(TOOLS), TEXT)},
    optional={
        "arguments": mostly(
            st.fixed_dictionaries(
                {"query": WORDING, "question": WORDING},
                optional={"k": K, "history": HISTORY, "speaker": NAME, "doc_id": NAME},
            ),
            FIELD,
        )
    },
)
OTHER = st.sampled_from(["tools/list", "ping", "initialize", "resources/list", "prompts/list", "nope"]) | st.text(
    max_size=12
)
RPC = st.fixed_dictionaries(
    {
        "jsonrpc": mostly(st.just("2.0"), FIELD),
        "method": mostly(st.just("tools/call"), OTHER | FIELD),
        "id": ID,
        "params": mostly(CALL, JSON),
    }
)
NOTE = st.fixed_dictionaries({"jsonrpc": st.just("2.0"), "method": OTHER | FIELD}, optional={"params": JSON})
LINES = mostly(RPC, NOTE | JSON | st.binary(max_size=60).filter(lambda b: b"\n" not in b and b"\r" not in b))


def expects_reply(line: bytes) -> tuple[bool, object]:
    """(whether JSON-RPC 2.0 owes this line a reply, the id the reply carries when it is known)."""
    try:
        data = json.loads(line.decode("utf-8"))
    except (ValueError, RecursionError):
        return bool(line.strip()), None
    if not isinstance(data, dict):
        return True, None
    is_id = isinstance(data.get("id"), str | int) and not isinstance(data.get("id"), bool)
    if data.get("jsonrpc") == "2.0" and isinstance(data.get("method"), str) and "id" not in data:
        return False, None  # a notification: never answered
    if data.get("jsonrpc") == "2.0" and "method" not in data and ("result" in data or "error" in data):
        return False, None  # a response to the server
    return True, data.get("id") if is_id else None


@FUZZ
@given(message=LINES)
def test_fuzz_mcp_always_a_reply_never_a_traceback(mcp: McpProcess, clock: dict[str, float], message: Any) -> None:
    started = clock.setdefault("mcp", time.monotonic())
    if time.monotonic() - started > BUDGET:
        return
    line = message if isinstance(message, bytes) else json.dumps(message).encode()
    owed, request_id = expects_reply(line)
    mcp.send(line)
    mcp.send({"jsonrpc": "2.0", "id": "sentinel", "method": "ping"})
    got: list[dict[str, Any]] = []
    while not any(r.get("id") == "sentinel" for r in got) or (owed and len(got) < 2):
        got.append(mcp.reply(timeout=60))
    others = [r for r in got if r.get("id") != "sentinel"]
    if owed:
        assert others and (request_id is None or any(r.get("id") in (request_id, None) for r in others)), (line, got)
    assert mcp.proc.poll() is None, line
    assert "Traceback" not in b"".join(mcp.stderr).decode("utf-8", "replace"), line
