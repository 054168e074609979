"""Generated answers: parsing, marker checks, support and speaker checks, and the fallbacks."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from rag import Pipeline
from rag.errors import LLMError
from rag.generate import OpenAIChat, build_prompt
from rag.types import Hit
from rag.verify import parse_claims, verify

HELSINKI = "What did Dannenberg say about Helsinki?"


@pytest.fixture(scope="module")
def sources(fake_pipe: Pipeline) -> list[Hit]:
    """Four sources: the Helsinki passage first, then three McLaughlin passages."""
    helsinki = [h for h in fake_pipe.search("Helsinki notetakers aides 2018", k=10) if "Helsinki" in h.chunk.text]
    others = [h for h in fake_pipe.search("NATO allies consultation", k=10, speaker="McLaughlin")][:3]
    return [helsinki[0], *others]


def _check(pipe: Pipeline, answer: str, sources: list[Hit], **kw: Any):  # type: ignore[no-untyped-def]
    return verify(answer, sources, pipe.documents, pipe.roster, None, **kw)


def test_parse_claims() -> None:
    claims = parse_claims("Dannenberg said x [1]. McLaughlin said y [2][3]. No marker here. [4]")
    assert [(c.text, c.markers) for c in claims] == [
        ("Dannenberg said x.", (1,)),
        ("McLaughlin said y.", (2, 3)),
        ("No marker here.", (4,)),
    ]
    assert parse_claims("A said b [1, 2].")[0].markers == (1, 2)


def test_a_correct_answer_is_kept_with_the_supporting_sentence(fake_pipe: Pipeline, sources: list[Hit]) -> None:
    v = _check(
        fake_pipe,
        "Dannenberg said Putin will remember Trump's failure to bring aides or notetakers "
        "to their private meeting in Helsinki in 2018 [1].",
        sources,
    )
    assert v.kept == 1 and not v.dropped
    c = v.citations[0]
    assert c.speaker == "Dannenberg" and "Helsinki in 2018" in c.quote
    assert fake_pipe.documents[c.doc_id].text[c.start : c.end] == c.quote
    assert v.text.endswith("[1]")


def test_wrong_speaker_is_dropped(fake_pipe: Pipeline, sources: list[Hit]) -> None:
    v = _check(
        fake_pipe, "McLaughlin said Putin will remember Trump's failure to bring notetakers to Helsinki [1].", sources
    )
    assert v.kept == 0
    assert v.dropped[0].reason == "names McLaughlin, but the cited passage is by Dannenberg"


def test_hallucination_is_dropped(fake_pipe: Pipeline, sources: list[Hit]) -> None:
    v = _check(fake_pipe, "Dannenberg said China will invade Taiwan in 2027 with a fleet of drones [1].", sources)
    assert v.kept == 0 and v.dropped[0].reason == "not supported by the cited sources"


def test_a_marker_past_the_sources_is_dropped(fake_pipe: Pipeline, sources: list[Hit]) -> None:
    v = _check(fake_pipe, "Dannenberg said Putin will remember the notetakers in Helsinki [5].", sources)
    assert v.kept == 0 and v.dropped[0].reason == "cites [5], but there are 4 sources"
    v = _check(fake_pipe, "Dannenberg said Putin will remember the notetakers and aides in Helsinki [1][5].", sources)
    assert v.kept == 1 and v.text.endswith("[1]")


def test_mixed_answer_keeps_and_renumbers(fake_pipe: Pipeline, sources: list[Hit]) -> None:
    answer = (
        "Dannenberg said Trump failed to bring aides or notetakers to Helsinki in 2018 [1]. "
        "He also predicted a Russian victory by Christmas [1]. "
        "The war will end next spring. "
        "The meeting in Helsinki was a mistake according to the sources [1]."
    )
    v = _check(fake_pipe, answer, sources)
    assert v.total == 4
    reasons = [d.reason for d in v.dropped]
    assert "no citation, and no source supports it" in reasons and "not supported by the cited sources" in reasons
    assert all(f"[{c.n}]" in v.text for c in v.citations) and "[2]" not in v.text


def test_an_uncited_but_supported_sentence_gets_its_citation(fake_pipe: Pipeline, sources: list[Hit]) -> None:
    v = _check(
        fake_pipe,
        "Dannenberg said Putin will remember Trump's failure to bring aides or notetakers "
        "to their private meeting in Helsinki in 2018.",
        sources,
    )
    assert v.kept == 1 and v.text.endswith("[1]") and "Helsinki in 2018" in v.citations[0].quote


def test_a_flipped_negation_is_not_support(fake_pipe: Pipeline, sources: list[Hit]) -> None:
    v = _check(fake_pipe, "Dannenberg said Putin will not be prepared for this meeting [1].", sources)
    assert v.kept == 0


def test_flag_mode_keeps_unsupported_sentences_marked(fake_pipe: Pipeline, sources: list[Hit]) -> None:
    v = _check(fake_pipe, "Dannenberg said China will invade Taiwan in 2027 [1].", sources, flag=True)
    assert "(unsupported: not in the cited sources)" in v.text and not v.citations


def test_prompt_numbers_sources_within_budget(sources: list[Hit]) -> None:
    prompt = build_prompt(HELSINKI, sources, history=["What did McLaughlin say?"], budget=200)
    user = prompt.messages[-1]["content"]
    assert [m["role"] for m in prompt.messages] == ["system", "user", "assistant", "user"]  # one worked example
    assert user.startswith("Sources:\n\n[1] Dannenberg (cipher-brief-trump-putin-call):")
    assert "Earlier in this conversation: What did McLaughlin say?" in user
    assert len(prompt.sources) < len(sources)  # the budget cut the last ones
    assert "End every sentence with the number of the source" in prompt.messages[0]["content"]


class Scripted:
    """A fake model (a collaborator): returns a fixed text or raises."""

    name = "scripted"

    def __init__(self, reply: str | Exception) -> None:
        self.reply = reply
        self.calls = 0

    def generate(self, messages: list[dict[str, str]]) -> str:
        self.calls += 1
        if isinstance(self.reply, Exception):
            raise self.reply
        return self.reply


def _pipe(fake_pipe: Pipeline, reply: str | Exception) -> Pipeline:
    return Pipeline(fake_pipe.index, fake_pipe.embedder, fake_pipe.settings, generator=Scripted(reply))


def test_generated_answer_through_the_pipeline(fake_pipe: Pipeline) -> None:
    a = _pipe(
        fake_pipe,
        "Dannenberg said Putin will remember Trump's failure to bring aides or notetakers "
        "to the private meeting in Helsinki in 2018 [1].",
    ).ask(HELSINKI)
    assert a.mode == "generated" and a.answerable and a.citations[0].speaker == "Dannenberg"
    assert a.to_dict()["mode"] == "generated"


def test_model_errors_fall_back_to_the_extractive_answer(fake_pipe: Pipeline) -> None:
    a = _pipe(fake_pipe, LLMError("cannot reach http://127.0.0.1:9/v1/chat/completions")).ask(HELSINKI)
    assert a.mode == "fallback" and a.answerable and a.citations
    assert a.reason.startswith("language model unavailable: cannot reach")


def test_nothing_supported_falls_back(fake_pipe: Pipeline) -> None:
    a = _pipe(fake_pipe, "The sources do not say.").ask(HELSINKI)
    assert a.mode == "fallback" and a.citations and "could be verified" in a.reason
    assert [d.reason for d in a.dropped] == ["says the sources do not answer"]


class Streaming(Scripted):
    """A scripted model that streams its reply a few characters at a time, as a server does."""

    def stream(self, messages: list[dict[str, str]]) -> Iterator[str]:
        text = self.generate(messages)
        for i in range(0, len(text), 7):
            yield text[i : i + 7]


def test_a_streamed_answer_arrives_sentence_by_sentence(fake_pipe: Pipeline) -> None:
    reply = (
        "Dannenberg said Putin will remember Trump's failure to bring aides or notetakers "
        "to the private meeting in Helsinki in 2018 [1]. The moon is made of cheese [1]. "
        "Dannenberg said Putin will be well prepared for this meeting [1]."
    )
    pipe = Pipeline(fake_pipe.index, fake_pipe.embedder, fake_pipe.settings, generator=Streaming(reply))
    steps = list(pipe.ask_stream(HELSINKI))
    assert [a.mode for a in steps[:-1]] == ["generating"] * (len(steps) - 1) and steps[-1].mode == "generated"
    assert "Helsinki in 2018" in steps[0].text and "well prepared" not in steps[0].text  # shown before the rest
    assert all("cheese" not in a.text for a in steps)  # an unsupported sentence is never shown
    assert steps[-1] == pipe.ask(HELSINKI)  # the last step is the answer ask() gives
    assert [a.mode for a in _pipe(fake_pipe, reply).ask_stream(HELSINKI)][-1] == "generated"  # no stream(): one call


def test_refusals_never_call_the_model(fake_pipe: Pipeline) -> None:
    pipe = _pipe(fake_pipe, "Zelensky said many things [1].")
    a = pipe.ask("What did Zelensky say in the interview?")
    assert not a.answerable and pipe.generator.calls == 0  # type: ignore[union-attr]


# --- the HTTP backend against a stub server ------------------------------------------------------


class _Stub(BaseHTTPRequestHandler):
    mode = "ok"
    hits = 0

    def do_POST(self) -> None:  # noqa: N802
        type(self).hits += 1
        self.rfile.read(int(self.headers["Content-Length"]))
        if self.mode == "slow":
            time.sleep(2)
        codes = {"401": 401, "429": 429, "500": 500}
        if self.mode in codes:
            self.send_response(codes[self.mode])
            self.end_headers()
            return
        body = {
            "ok": {"choices": [{"message": {"content": "Hello [1]."}}]},
            "empty": {"choices": [{"message": {"content": "  "}}]},
            "malformed": {"nothing": True},
            "slow": {"choices": [{"message": {"content": "late"}}]},
        }[self.mode]
        data = json.dumps(body).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, *args: Any) -> None:
        pass


@pytest.fixture
def stub() -> Iterator[tuple[str, type[_Stub]]]:
    handler = type("Handler", (_Stub,), {"mode": "ok", "hits": 0})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    server.handle_error = lambda *args: None  # type: ignore[method-assign]  # a client that gave up
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/v1", handler
    server.shutdown()
    server.server_close()


MESSAGES = [{"role": "user", "content": "hi"}]


def test_openai_backend_ok_and_sends_the_key(stub: tuple[str, type[_Stub]]) -> None:
    url, _ = stub
    assert OpenAIChat(url, "m", api_key="secret").generate(MESSAGES) == "Hello [1]."


@pytest.mark.parametrize(
    ("mode", "message", "tries"),
    [
        ("401", "HTTP 401 from .* check the API key", 1),
        ("429", "HTTP 429 from .* after 3 tries", 3),
        ("500", "HTTP 500 from .* after 3 tries", 3),
        ("malformed", "malformed response from .*no choices", 1),
        ("empty", "empty completion from", 1),
    ],
)
def test_openai_backend_errors(stub: tuple[str, type[_Stub]], mode: str, message: str, tries: int) -> None:
    url, handler = stub
    handler.mode = mode
    with pytest.raises(LLMError, match=message):
        OpenAIChat(url, "m", retries=2).generate(MESSAGES)
    assert handler.hits == tries


def test_openai_backend_timeout_and_server_down(stub: tuple[str, type[_Stub]]) -> None:
    url, handler = stub
    handler.mode = "slow"
    with pytest.raises(LLMError, match=r"no answer from .* within 0.3 s"):
        OpenAIChat(url, "m", timeout=0.3, retries=1).generate(MESSAGES)
    with pytest.raises(LLMError, match=r"cannot reach http://127.0.0.1:9/v1/chat/completions .*is the server running"):
        OpenAIChat("http://127.0.0.1:9/v1", "m", retries=0).generate(MESSAGES)
