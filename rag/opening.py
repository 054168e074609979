"""Open an index for questions: the index and the model it was built with, loaded side by side.

The exported encoder (`encoder.onnx`) loads on a thread while the index's files are read and
checked (a third of a cold start); torch, slow and only a fallback, waits until the index is
known to be there. Answering is `pipeline.py`'s job.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from pathlib import Path

from rag.config import Settings
from rag.embed import Embedder, load_embedder, model_fingerprint, packaged_model_path
from rag.errors import IndexMismatchError
from rag.index import Index


def open_index(path: Path, settings: Settings, embedder: Embedder | None = None) -> tuple[Index, Embedder]:
    """The index at `path` and an embedder for it (`embedder` when given, else the index's model).

    Raises:
        IndexNotFoundError, IndexCorruptError: nothing usable at `path`.
        IndexMismatchError: the index was built with another model than `settings` name.
    """
    onnx = path / "encoder.onnx" if settings.backend in ("auto", "onnx") else None

    def model() -> Embedder:
        return load_embedder(settings.model_path or packaged_model_path(), name=settings.model_name, onnx_path=onnx)

    early = _Background(model) if embedder is None and onnx is not None and onnx.exists() else None
    try:
        index = Index.load(path)
        manifest = index.manifest
        if embedder is None:
            _check_model(manifest, settings, path)
    except BaseException:
        if early is not None:  # a process must not exit while onnxruntime is still loading: it aborts
            early.wait()
        raise
    if embedder is None:
        embedder = early.result() if early is not None else model()
    if embedder.dim != manifest.get("dim"):
        raise IndexMismatchError(
            f"{path}/ holds {manifest.get('dim')}-d vectors, the model makes {embedder.dim}-d; "
            f"run: rag build --index {path}"
        )
    return index, embedder


class _Background:
    """A model loading on a daemon thread while the index loads; `result()` waits for it and
    returns or raises what the call did."""

    def __init__(self, call: Callable[[], Embedder]) -> None:
        self._value: Embedder | None = None
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._run, args=(call,), daemon=True)
        self._thread.start()

    def _run(self, call: Callable[[], Embedder]) -> None:
        try:
            self._value = call()
        except BaseException as err:  # noqa: BLE001 - handed to the caller by result()
            self._error = err

    def wait(self) -> None:
        self._thread.join()

    def result(self) -> Embedder:
        self._thread.join()
        if self._error is not None:
            raise self._error
        assert self._value is not None
        return self._value


def _check_model(manifest: dict[str, object], settings: Settings, path: Path) -> None:
    """Raise IndexMismatchError when the index at `path` was built with another model than `settings` name."""
    built = manifest.get("model")
    if built != settings.model_name:
        raise IndexMismatchError(
            f"{path}/ was built with {built!r}, settings ask for {settings.model_name!r}; run: rag build --index {path}"
        )
    if settings.model_path is not None and manifest.get("model_sha256") not in (
        None,
        model_fingerprint(settings.model_path),
    ):
        raise IndexMismatchError(
            f"{path}/ was built with other weights than {settings.model_path}; run: rag build --index {path}"
        )
