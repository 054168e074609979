"""A relevance model learned from labelled meetings (issue 27): what a question asks for, as a vector.

The encoder places a question near passages that share its words' meaning, not near passages
that answer it. `RelevanceModel.query` moves the question's vector by a learned linear map,
q' = (I + A) q, normalised, fitted on QMSum's training split so that the passages inside the
gold turns of each question score above the other passages of the same meeting (a listwise
softmax over the fused candidates and a sample of the meeting's other rows; `eval/relevance.py`
retrains it from the vendored split with a fixed seed). The chunk vectors are untouched, so an
index needs no rebuild; at query time it is one 384 x 384 matrix-vector product.

The adapted vector only ranks (the dense list the fusion reads); `Hit.dense` and the answer gate
keep the encoder's own cosine, which their thresholds were calibrated on. This module loads and
applies the map; choosing rows, fusing and growing passages are `search.py`'s.
"""

from __future__ import annotations

import hashlib
import json
import logging
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np

log = logging.getLogger(__name__)

MODEL_PATH = Path(__file__).resolve().parent / "models" / "relevance.json"


@dataclass(frozen=True, slots=True)
class RelevanceModel:
    """A learned map of question vectors for one encoder (`encoder`, `dim`).

    Example: load_model().query(vector) -> the (dim,) float32 vector the dense ranking uses
    """

    name: str
    encoder: str  # the embedding model whose vectors it was fitted on (an index's manifest "model")
    matrix: np.ndarray  # (dim, dim) float32: I + A
    sha256: str  # of the weights file, recorded in index manifests and eval reports
    manifest: dict[str, Any]

    @property
    def dim(self) -> int:
        return int(self.matrix.shape[0])

    def query(self, vector: np.ndarray) -> np.ndarray:
        """(I + A) q, L2-normalised ((dim,) float32)."""
        out = self.matrix @ vector.astype(np.float32)
        norm = float(np.linalg.norm(out))
        return (out / norm if norm > 0 else vector).astype(np.float32)

    def fits(self, manifest: dict[str, Any]) -> bool:
        """True when an index with this manifest was built with the encoder the model was fitted on."""
        return manifest.get("model") == self.encoder and int(manifest.get("dim", 0)) == self.dim

    def describe(self) -> dict[str, str]:
        """What an index manifest or an eval report records about the model."""
        return {"name": self.name, "sha256": self.sha256}


def load_model(path: Path | None = None) -> RelevanceModel:
    """The relevance model whose manifest is `path` (default: the one shipped in rag/models/),
    loaded once per path.

    Raises:
        ValueError: the manifest or its weights file is missing or does not match; retrain with
            `python eval/relevance.py train`.
    """
    return _load(str(path or MODEL_PATH))


@lru_cache(maxsize=4)
def _load(path: str) -> RelevanceModel:
    manifest_path = Path(path)
    try:
        manifest: dict[str, Any] = json.loads(manifest_path.read_text(encoding="utf-8"))
        weights = manifest_path.parent / str(manifest["weights"])
        raw = weights.read_bytes()
    except (OSError, ValueError, KeyError) as err:
        raise ValueError(
            f"{path}: not a relevance model ({err}); retrain it with `python eval/relevance.py train`"
        ) from err
    sha = hashlib.sha256(raw).hexdigest()
    if sha != manifest.get("weights_sha256"):
        raise ValueError(f"{weights} does not match its manifest {path}; retrain with `python eval/relevance.py train`")
    adapter = np.load(weights, allow_pickle=False).astype(np.float32)  # (dim, dim): A
    dim = int(manifest["dim"])
    if adapter.shape != (dim, dim):
        raise ValueError(f"{weights} holds a {adapter.shape} map, the manifest says {dim}-d; retrain it")
    strength = float(manifest.get("strength", 1.0))  # how far the map moves a question (0: not at all)
    matrix = np.eye(dim, dtype=np.float32) + np.float32(strength) * adapter
    return RelevanceModel(str(manifest["name"]), str(manifest["encoder"]), matrix, sha, manifest)
