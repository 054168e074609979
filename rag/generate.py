"""Optional generated answers: numbered sources in a prompt, and two backends behind one method.

`OpenAIChat` speaks the OpenAI chat-completions protocol over HTTP (Ollama, vLLM, llama.cpp's
server, LM Studio, OpenAI); `LlamaCpp` runs a GGUF file in-process with llama-cpp-python. Neither is
imported unless asked for. What the model writes is never shown as is: `verify.py` checks every
sentence against its sources first. API keys are passed in by the caller (the CLI reads the
environment), never read here.
"""

from __future__ import annotations

import argparse
import json
import logging
import socket
import time
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from rag.chunk import count_tokens
from rag.errors import LLMError
from rag.types import Hit

log = logging.getLogger(__name__)

Message = dict[str, str]

INSTRUCTIONS = """You answer questions about interview transcripts using only the numbered sources.
Rules:
- Use only facts stated in the sources. Never add outside knowledge.
- End every sentence with the number of the source it comes from, in square brackets, like [2].
- Say who said it ("Dannenberg said ..."). Narration is the article, not a speaker.
- Keep it short: one to three sentences, close to the source's own words.
- If the sources do not answer the question, reply exactly: The sources do not say."""

# One worked example as an earlier turn: small models follow a shown format far better than a described one.
EXAMPLE_QUESTION = """Sources:

[1] Alice (city-panel):
The bridge will open in May, a month late, because the steel arrived late.

[2] Bob (city-panel):
Cyclists want painted lanes now.

Question: What did Alice say about the bridge?"""
EXAMPLE_ANSWER = "Alice said the bridge will open in May, a month late, because the steel arrived late [1]."


class Generator(Protocol):
    """Anything that turns chat messages into a completion.

    A generator may also have `stream(messages) -> Iterator[str]`, the completion piece by piece;
    `Pipeline.ask_stream` then shows each sentence as soon as it is verified.
    """

    name: str

    def generate(self, messages: list[Message]) -> str: ...


@dataclass(frozen=True, slots=True)
class Prompt:
    messages: list[Message]
    sources: list[Hit]  # source [n] is sources[n - 1]


def build_prompt(question: str, hits: Sequence[Hit], *, history: Sequence[str] = (), budget: int = 1500) -> Prompt:
    """Numbered sources (best first, within `budget` cl100k tokens) and the instructions.

    Example: build_prompt("What did X say?", hits).messages[1]["content"] starts with "Sources:"
    """
    blocks: list[str] = []
    sources: list[Hit] = []
    used = 0
    for hit in hits:
        c = hit.chunk
        who = c.speaker or ("the article's narration" + (f", quoting {', '.join(c.quoted)}" if c.quoted else ""))
        block = f"[{len(sources) + 1}] {who} ({c.doc_id}):\n{' '.join(c.text.split())}"
        cost = count_tokens(block)
        if sources and used + cost > budget:
            break
        blocks.append(block)
        sources.append(hit)
        used += cost
    asked = question
    if history:
        asked = f"{question}\n(Earlier in this conversation: {' / '.join(history[-3:])})"
    user = "Sources:\n\n" + "\n\n".join(blocks) + f"\n\nQuestion: {asked}"
    messages = [
        {"role": "system", "content": INSTRUCTIONS},
        {"role": "user", "content": EXAMPLE_QUESTION},
        {"role": "assistant", "content": EXAMPLE_ANSWER},
        {"role": "user", "content": user},
    ]
    return Prompt(messages, sources)


class OpenAIChat:
    """Chat completions over HTTP, with timeouts and retries (429 and 5xx, with backoff).

    Example: OpenAIChat("http://127.0.0.1:8080/v1", "qwen").generate([{"role": "user", "content": "Hi"}])
    """

    def __init__(
        self,
        base_url: str,
        model: str,
        *,
        api_key: str | None = None,
        timeout: float = 60.0,
        retries: int = 2,
        max_tokens: int = 300,
    ) -> None:
        self.url = base_url.rstrip("/") + "/chat/completions"
        self.model = model
        self.name = f"openai:{model}"
        self.api_key = api_key
        self.timeout = timeout
        self.retries = retries
        self.max_tokens = max_tokens

    def generate(self, messages: list[Message]) -> str:
        body = {"model": self.model, "messages": messages, "temperature": 0, "max_tokens": self.max_tokens}
        data = self._post(body)
        try:
            text = data["choices"][0]["message"]["content"]
        except (KeyError, IndexError, TypeError) as err:
            raise LLMError(f"malformed response from {self.url}: no choices[0].message.content") from err
        if not isinstance(text, str) or not text.strip():
            raise LLMError(f"empty completion from {self.url}")
        return text.strip()

    def stream(self, messages: list[Message]) -> Iterator[str]:
        """Yield the completion piece by piece (server-sent events)."""
        body = {
            "model": self.model,
            "messages": messages,
            "temperature": 0,
            "max_tokens": self.max_tokens,
            "stream": True,
        }
        with self._open(body) as response:
            for raw in response:
                line = raw.decode("utf-8", "replace").strip()
                if not line.startswith("data:") or line == "data: [DONE]":
                    continue
                try:
                    delta = json.loads(line[5:])["choices"][0].get("delta", {}).get("content")
                except (ValueError, KeyError, IndexError) as err:
                    raise LLMError(f"malformed stream from {self.url}") from err
                if delta:
                    yield delta

    def _post(self, body: dict[str, Any]) -> dict[str, Any]:
        with self._open(body) as response:
            try:
                data = json.loads(response.read())
            except ValueError as err:
                raise LLMError(f"malformed response from {self.url}: not JSON") from err
        if not isinstance(data, dict):
            raise LLMError(f"malformed response from {self.url}: not a JSON object")
        return data

    def _open(self, body: dict[str, Any]) -> Any:
        import urllib.error
        import urllib.request

        headers = {"Content-Type": "application/json"}
        if self.api_key:
            headers["Authorization"] = f"Bearer {self.api_key}"
        request = urllib.request.Request(self.url, json.dumps(body).encode(), headers, method="POST")
        for attempt in range(self.retries + 1):
            try:
                return urllib.request.urlopen(request, timeout=self.timeout)  # noqa: S310 - the user's server
            except urllib.error.HTTPError as err:
                if err.code in (401, 403):
                    raise LLMError(f"HTTP {err.code} from {self.url}: check the API key") from err
                if err.code == 429 or err.code >= 500:
                    if attempt < self.retries:
                        time.sleep(0.5 * 2**attempt)
                        continue
                    raise LLMError(f"HTTP {err.code} from {self.url} after {attempt + 1} tries") from err
                raise LLMError(f"HTTP {err.code} from {self.url}: {err.reason}") from err
            except TimeoutError as err:
                if attempt < self.retries:
                    continue
                raise LLMError(f"no answer from {self.url} within {self.timeout:g} s") from err
            except urllib.error.URLError as err:
                if isinstance(err.reason, (TimeoutError, socket.timeout)) and attempt < self.retries:
                    continue
                raise LLMError(f"cannot reach {self.url} ({err.reason}); is the server running?") from err
        raise LLMError(f"no answer from {self.url}")  # not reached


class LlamaCpp:
    """A GGUF model in this process, through llama-cpp-python (the `llm` extra)."""

    def __init__(
        self, model_path: Path, *, n_ctx: int = 4096, threads: int | None = None, max_tokens: int = 300
    ) -> None:
        try:
            from llama_cpp import Llama
        except ImportError as err:
            raise LLMError("llama-cpp-python is not installed; run: pip install -e '.[llm]'") from err
        if not Path(model_path).is_file():
            raise LLMError(f"{model_path}: no such GGUF file; see the README for getting Qwen2.5-0.5B")
        self.llm: Any = Llama(model_path=str(model_path), n_ctx=n_ctx, n_threads=threads, verbose=False)
        self.name = f"llama.cpp:{Path(model_path).name}"
        self.max_tokens = max_tokens

    def generate(self, messages: list[Message]) -> str:
        out = self.llm.create_chat_completion(messages=messages, temperature=0, max_tokens=self.max_tokens)
        text = out["choices"][0]["message"]["content"] or ""
        if not text.strip():
            raise LLMError("empty completion from the local model")
        return str(text).strip()

    def stream(self, messages: list[Message]) -> Iterator[str]:
        """Yield the completion piece by piece."""
        parts = self.llm.create_chat_completion(
            messages=messages, temperature=0, max_tokens=self.max_tokens, stream=True
        )
        for part in parts:
            delta = part["choices"][0].get("delta", {}).get("content")
            if delta:
                yield str(delta)


def add_generator_options(p: argparse.ArgumentParser) -> None:
    """Options for an optional language model (also read from RAG_LLM_* variables or --llm-config)."""
    g = p.add_argument_group("language model (optional; answers are verified against the sources)")
    g.add_argument(
        "--llm", choices=["openai", "llama"], help="openai: any OpenAI-compatible server; llama: a GGUF file"
    )
    g.add_argument("--llm-url", help="base URL, e.g. http://127.0.0.1:8080/v1 (env RAG_LLM_URL)")
    g.add_argument("--llm-model", help="model name for the server (env RAG_LLM_MODEL)")
    g.add_argument("--llm-key-env", help="environment variable holding the API key (default OPENAI_API_KEY)")
    g.add_argument("--llm-gguf", type=Path, help="GGUF file for --llm llama (env RAG_LLM_GGUF)")
    g.add_argument("--llm-timeout", type=float, help="seconds per request (default 60)")
    g.add_argument(
        "--llm-config", type=Path, help='JSON file with the keys above, e.g. {"llm": "openai", "llm_url": ...}'
    )
    g.add_argument(
        "--show-unsupported", action="store_true", help="mark unsupported sentences instead of removing them"
    )


def generator_from_options(args: argparse.Namespace, environ: Mapping[str, str]) -> Generator | None:
    """The language model asked for by flags, then --llm-config, then RAG_LLM_* variables; or None.

    `environ` is passed in (the CLI and UI pass os.environ); rag reads no environment itself.
    """
    config: dict[str, Any] = {}
    if getattr(args, "llm_config", None):
        try:
            config = json.loads(args.llm_config.read_text(encoding="utf-8"))
        except (OSError, ValueError) as err:
            raise LLMError(f"{args.llm_config}: cannot read the LLM config ({err})") from err

    def pick(name: str, env: str, default: Any = None) -> Any:
        value = getattr(args, name, None)
        return value if value is not None else config.get(name, environ.get(env, default))

    kind = pick("llm", "RAG_LLM")
    if not kind:
        return None
    timeout = float(pick("llm_timeout", "RAG_LLM_TIMEOUT", 60))
    if kind == "openai":
        url, model = pick("llm_url", "RAG_LLM_URL"), pick("llm_model", "RAG_LLM_MODEL", "default")
        if not url:
            raise LLMError("--llm openai needs --llm-url (or RAG_LLM_URL), e.g. http://127.0.0.1:8080/v1")
        key = environ.get(pick("llm_key_env", "RAG_LLM_KEY_ENV", "OPENAI_API_KEY"))
        return OpenAIChat(url, model, api_key=key, timeout=timeout)
    if kind == "llama":
        gguf = pick("llm_gguf", "RAG_LLM_GGUF")
        if not gguf:
            raise LLMError("--llm llama needs --llm-gguf PATH (or RAG_LLM_GGUF)")
        return LlamaCpp(Path(gguf))
    raise LLMError(f"unknown language model backend {kind!r}; use openai or llama")
