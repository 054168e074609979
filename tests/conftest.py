"""Shared fixtures: the seed, small transcripts, a deterministic fake embedder, built indexes.

The fake embedder hashes words into a fixed random space, so texts that share words are close;
it stands in for the model (a collaborator) in fast tests. Tests marked `slow` use the real model.
"""

from __future__ import annotations

import hashlib
import os
import re
import socket
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pytest

# A guard, set by the tests (never by `import rag`): nothing may reach the Hugging Face hub.
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")

from rag import Pipeline, build_index  # noqa: E402
from rag.config import Settings  # noqa: E402
from rag.embed import WordPieces, packaged_model_path  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
SEEDS = ROOT / "seeds"
SEED = SEEDS / "cipher-brief-trump-putin-call.txt"
DATA = Path(__file__).resolve().parent / "data"
FORMATS = DATA / "formats"  # one realistic transcript per format and label style (tests/test_formats.py)


def _find_qmsum() -> Path:
    """The QMSum validation meetings vendored in eval/data (or $RAG_QMSUM, an optional override)."""
    return Path(os.environ["RAG_QMSUM"]) if os.environ.get("RAG_QMSUM") else ROOT / "eval" / "data" / "qmsum" / "val"


QMSUM = _find_qmsum()


class FakeEmbedder:
    """Bag of hashed words, signed, L2-normalised: deterministic and fast. Counts its calls."""

    name = "fake-hash-384"
    dim = 384

    def __init__(self) -> None:
        self.calls = 0
        self.embedded = 0
        self.fits = WordPieces(packaged_model_path()).fits

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        self.calls += 1
        self.embedded += len(texts)
        out = np.zeros((len(texts), self.dim), dtype=np.float32)
        for i, text in enumerate(texts):
            for word in re.findall(r"\w+", text.lower()):
                h = int.from_bytes(hashlib.md5(word.encode()).digest()[:8], "little")
                out[i, h % self.dim] += 1.0 if (h >> 32) & 1 else -1.0
        norms = np.linalg.norm(out, axis=1, keepdims=True)
        return out / np.maximum(norms, 1e-12)


@pytest.fixture
def fake() -> FakeEmbedder:
    return FakeEmbedder()


@pytest.fixture
def seed_copy(tmp_path: Path) -> Path:
    """A private copy of seeds/ that a test may change."""
    d = tmp_path / "seeds"
    d.mkdir()
    (d / SEED.name).write_bytes(SEED.read_bytes())
    return d


@pytest.fixture(scope="session")
def fake_index(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The seed and the small test transcripts, indexed with the fake embedder."""
    out = tmp_path_factory.mktemp("fake") / "index"
    build_index([SEEDS, *sorted(p for p in DATA.iterdir() if p.is_file())], out, embedder=FakeEmbedder())
    return out


@pytest.fixture(scope="session")
def fake_pipe(fake_index: Path) -> Pipeline:
    return Pipeline.load(fake_index, embedder=FakeEmbedder())


@pytest.fixture(scope="session")
def formats_pipe(tmp_path_factory: pytest.TempPathFactory) -> Pipeline:
    """Every sample format in tests/data/formats, indexed with the fake embedder."""
    out = tmp_path_factory.mktemp("formats") / "index"
    build_index([FORMATS], out, embedder=FakeEmbedder())
    return Pipeline.load(out, embedder=FakeEmbedder())


@pytest.fixture(scope="session")
def real_index(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The seed indexed with the real model (torch to build, ONNX encoder exported)."""
    out = tmp_path_factory.mktemp("real") / "index"
    build_index([SEEDS], out, settings=Settings())
    return out


@pytest.fixture(scope="session")
def real_pipe(real_index: Path) -> Pipeline:
    return Pipeline.load(real_index)


def free_port() -> int:
    """A free TCP port on the loopback interface, for a server a test starts and stops."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])
