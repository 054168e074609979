"""A Milvus store: vectors, BM25 and filters held by Milvus, for corpora past one machine.

The same `pymilvus.MilvusClient` calls talk to a Milvus cluster (`uri="http://host:19530"` and a
token), to `milvus-lite server` on a port, or to Milvus Lite embedded in a file (the default:
`milvus.db` inside the index directory). rag keeps its chunk table, transcripts and manifest in
its own files; Milvus holds one entity per chunk:

    key      INT64 primary key: the chunk's content key (`rag.table.chunk_key`), stable across builds
    doc_id   VARCHAR, people ARRAY<VARCHAR> (the speaker and whom the chunk quotes): the filters
    terms    rag's BM25 terms (`rag.text.tokenize`, stemmed), analysed by Milvus's BM25 function
    sparse   the BM25 vector Milvus derives from `terms`
    vector   the chunk's embedding (inner product)

Fusion stays in rag (`search.py`): one dense and one BM25 search per ranking, fused with rag's
speaker prior and passages, so answers are the same whichever store holds the rows
(docs/scaling.md says why not Milvus's own ranker). A build inserts only chunks whose key the
collection lacks, and deletes the keys the new index no longer has after it is in place.

    rag build --store milvus                                  # Milvus Lite in index/milvus.db
    rag build --store milvus --milvus-uri http://db:19530 --milvus-token-env MILVUS_TOKEN

Over 350 lines on purpose: one store, one client; connecting, the schema, writing, filtering
and both searches are the store protocol's verbs for one engine.
"""

from __future__ import annotations

import hashlib
import json
import logging
import math
import os
import re
from collections import Counter
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from rag.errors import IndexCorruptError, SourceError, first_line
from rag.store import HNSW_EF_SEARCH, Rows
from rag.table import ChunkTable
from rag.text import tokenize
from rag.types import Chunk

log = logging.getLogger(__name__)

LITE_FILE = "milvus.db"  # the default: Milvus Lite inside the index directory
BATCH = 1_000  # rows per insert
KEYS_PER_FILTER = 16_384  # a filter with more keys is split into several deletes
CONNECT_SECONDS = 30  # a busy server (Milvus Lite on a loaded machine) can take a while to accept
KEYS_IN_FILTER = 4_096  # a search filter of up to this many rows is sent as their keys
BM25 = {"bm25_k1": 1.5, "bm25_b": 0.75}  # bm25s's defaults, so both stores rank alike
_PLAIN = re.compile(r"[a-z0-9]+")


def spec(given: dict[str, Any], out: Path) -> dict[str, Any]:
    """The manifest's "store" entry: kind, uri (a Milvus Lite file inside the index directory
    unless given), the name of the environment variable holding the token, and the collection."""
    uri = given.get("uri") or LITE_FILE
    if _is_server(uri):
        index = given.get("index") or "HNSW"
    else:
        index = given.get("index") or "FLAT"
        if not uri.endswith(".db"):
            raise SourceError(f"--milvus-uri {uri}: give http://HOST:PORT or a path ending in .db (Milvus Lite)")
    where = Path(os.path.abspath(out))
    collection = given.get("collection") or (
        "rag_" + re.sub(r"\W", "_", where.name)[:40] + "_" + hashlib.sha256(str(where).encode()).hexdigest()[:8]
    )
    if not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]{0,254}", collection):
        raise SourceError(f"--milvus-collection {collection!r}: use letters, digits and _, starting with a letter")
    return {
        "kind": "milvus",
        "uri": uri,
        "token_env": given.get("token_env"),
        "collection": collection,
        "index": index,
    }


class MilvusStore:
    """Chunk rows held by a Milvus collection; row ids are mapped to and from chunk keys."""

    kind = "milvus"

    def __init__(self, client: Any, spec: dict[str, Any], table: ChunkTable, folder: Path) -> None:
        self.client = client
        self.spec = spec
        self.name = spec["collection"]
        self.table = table
        self.folder = folder
        self._keys = table.keys
        self._order = np.argsort(self._keys, kind="stable")
        self._sorted = self._keys[self._order]
        self._stale: np.ndarray = np.zeros(0, dtype=np.int64)
        self._terms: dict[str, Any] | None = None
        self.carry: tuple[str, ...] = (LITE_FILE,) if spec["uri"] == LITE_FILE else ()

    # --- building ------------------------------------------------------------------------------

    @classmethod
    def create(
        cls,
        table: ChunkTable,
        chunks: Sequence[Chunk],
        vectors: np.ndarray,
        spec: dict[str, Any],
        *,
        previous: Any,
        folder: Path | None,
        dim: int,
    ) -> MilvusStore:
        """Bring the collection to `table`: insert the rows it lacks now; the rows only `previous`
        used are deleted by `commit`, once the new index is in place.

        `previous`: the Index this one replaces when it used this very collection (None: start the
        collection afresh). Rows of `vectors` for chunks `previous` already holds may be zeros.
        """
        folder = Path(folder or ".")
        folder.mkdir(parents=True, exist_ok=True)
        client = _connect(spec, folder)
        old_keys = previous.chunks.keys if previous is not None else np.zeros(0, dtype=np.int64)
        if previous is None or not client.has_collection(spec["collection"]):
            if client.has_collection(spec["collection"]):
                client.drop_collection(spec["collection"])
            _create_collection(client, spec, dim)
            old_keys = np.zeros(0, dtype=np.int64)
        store = cls(client, spec, table, folder)
        new = np.flatnonzero(~np.isin(table.keys, old_keys))
        for i in range(0, len(new), BATCH):
            batch = new[i : i + BATCH].tolist()
            client.upsert(spec["collection"], [_entity(chunks[r], int(table.keys[r]), vectors[r]) for r in batch])
        if len(new):
            client.flush(spec["collection"])  # seal the new rows into indexed segments (unsealed ones are scanned)
        store._stale = np.setdiff1d(old_keys, table.keys)
        store._terms = _term_stats(chunks)
        log.info("milvus %s: %d rows inserted, %d to delete", spec["collection"], len(new), len(store._stale))
        return store

    def save(self, folder: Path) -> None:
        """The term counts (for rag's idf weights); the rows are already in Milvus."""
        (folder / "milvus.terms.json").write_text(json.dumps(self._stats(), ensure_ascii=False))
        if self.carry:  # the swap moves the Lite database: stop this process's server for it first
            release(self.spec, self.folder)

    def commit(self) -> None:
        """Delete the rows only the replaced index used (after the swap: a crash before it leaves
        the old index whole)."""
        stale = self._stale.tolist()
        if self.carry:  # the swap moved the Lite database: reconnect to where it is now
            self.client = _connect(self.spec, self.folder)
        for i in range(0, len(stale), KEYS_PER_FILTER):
            self.client.delete(self.name, filter=f"key in {stale[i : i + KEYS_PER_FILTER]}")
        if stale:
            self.client.flush(self.name)
        self._stale = np.zeros(0, dtype=np.int64)

    # --- loading ------------------------------------------------------------------------------

    @classmethod
    def open(cls, folder: Path, spec: dict[str, Any], table: ChunkTable) -> MilvusStore:
        client = _connect(spec, folder)
        if not client.has_collection(spec["collection"]):
            raise IndexCorruptError(
                f"the Milvus collection {spec['collection']} at {_shown(spec, folder)} is missing; "
                f"run: rag build --index {folder}"
            )
        client.load_collection(spec["collection"])
        return cls(client, spec, table, folder)

    def check(self, rows: int, dim: int) -> str | None:
        info = self.client.describe_collection(self.name)
        field: dict[str, Any] = next((f for f in info.get("fields", []) if f.get("name") == "vector"), {})
        if int(field.get("params", {}).get("dim", dim)) != dim:
            return f"the Milvus collection {self.name} holds {field['params']['dim']}-d vectors, manifest says {dim}"
        held = int(self.client.query(self.name, filter="", output_fields=["count(*)"])[0]["count(*)"])
        if held < rows:
            return f"the Milvus collection {self.name} holds {held} rows for {rows} chunks"
        return None

    # --- scoring -------------------------------------------------------------------------------

    def dense(self, query: np.ndarray, *, n: int, rows: Rows | None = None) -> tuple[np.ndarray, np.ndarray]:
        params: dict[str, Any] = {"metric_type": "IP"}
        if self.spec["index"] == "HNSW":
            params["params"] = {"ef": max(HNSW_EF_SEARCH, n)}
        found = self.client.search(
            self.name,
            data=[np.asarray(query, dtype=np.float32).tolist()],
            anns_field="vector",
            limit=n,
            filter=self._where(rows),
            search_params=params,
            output_fields=["key"],
        )
        return _ranked(*self._rows(found[0]))

    def lexical(self, terms: Sequence[str], *, n: int, rows: Rows | None = None) -> tuple[np.ndarray, np.ndarray]:
        """Milvus finds the candidates (twice as many as asked for); rag scores them with the
        statistics of the whole index, as bm25s would. Milvus's own BM25 statistics are per
        segment, keep deleted rows until compaction and, in Milvus Lite served over gRPC, cover
        only the filtered rows, so its scores alone would make answers depend on the store."""
        found = self.client.search(
            self.name,
            data=[" ".join(_encode(t) for t in terms)],
            anns_field="sparse",
            limit=2 * n,
            filter=self._where(rows),
            search_params={"metric_type": "BM25"},
            output_fields=["key"],
        )
        ids, _ = self._rows(found[0])
        scores = self.lexical_of(terms, ids)
        ids, scores = _ranked(ids[scores > 0], scores[scores > 0])
        return ids[:n], scores[:n]

    def lexical_of(self, terms: Sequence[str], rows: np.ndarray) -> np.ndarray:
        """bm25s's "lucene" BM25 of each row, from the row's own text and the index's term counts."""
        stats = self._stats()
        df, n, avgdl = stats["df"], stats["n"], stats["avgdl"]
        k1, b = BM25["bm25_k1"], BM25["bm25_b"]
        idf = {t: math.log(1 + (n - df[t] + 0.5) / (df[t] + 0.5)) for t in set(terms) if t in df}
        out = np.zeros(len(rows), dtype=np.float32)
        for i, row in enumerate(rows.tolist()):
            words = tokenize(self.table[row].embed_text) or ["_"]
            norm = k1 * (1 - b + b * len(words) / avgdl)
            counts = Counter(words)
            out[i] = sum(idf[t] * counts[t] / (counts[t] + norm) for t in terms if t in idf and counts[t])
        return out

    def vectors(self, rows: np.ndarray) -> np.ndarray:
        keys = self._keys[rows].tolist()
        got = {}
        for i in range(0, len(keys), KEYS_PER_FILTER):
            part = keys[i : i + KEYS_PER_FILTER]
            got.update(
                {int(e["key"]): e["vector"] for e in self.client.get(self.name, ids=part, output_fields=["vector"])}
            )
        missing = [k for k in keys if k not in got]
        if missing:
            raise IndexCorruptError(
                f"the Milvus collection {self.name} lacks {len(missing)} of the index's chunks; "
                f"run: rag build --index {self.folder}"
            )
        return np.array([got[k] for k in keys], dtype=np.float32).reshape(len(keys), -1)

    def document_frequencies(self) -> dict[str, int]:
        df: dict[str, int] = self._stats()["df"]
        return df

    def _stats(self) -> dict[str, Any]:
        """{"n": rows, "avgdl": mean terms per row, "df": term -> rows holding it} (milvus.terms.json)."""
        if self._terms is None:
            self._terms = json.loads((self.folder / "milvus.terms.json").read_text(encoding="utf-8"))
        return self._terms

    def _where(self, rows: Rows | None) -> str:
        """The filter as Milvus reads it: the rows' keys when there are few (a primary-key lookup:
        34 ms where `array_contains_any` took 955 ms in Milvus Lite at 20k rows), else the filter's
        expression over `doc_id` and `people`."""
        if rows is None:
            return ""
        if rows.where and len(rows.ids) > KEYS_IN_FILTER:
            return rows.where
        return f"key in {self._keys[rows.ids].tolist()}"

    def _rows(self, found: Sequence[Any]) -> tuple[np.ndarray, np.ndarray]:
        """(row ids, scores) of Milvus results; keys this index does not have (rows a crashed build
        inserted) are left out."""
        keys = np.array([int(h.get("entity", {}).get("key", h.get("key", h.get("id")))) for h in found], dtype=np.int64)
        scores = np.array([float(h["distance"]) for h in found], dtype=np.float32)
        at = np.clip(np.searchsorted(self._sorted, keys), 0, max(len(self._sorted) - 1, 0))
        known = (self._sorted[at] == keys) if len(self._sorted) else np.zeros(len(keys), dtype=bool)
        return self._order[at[known]].astype(np.int64), scores[known]


def _ranked(ids: np.ndarray, scores: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Best first, ties by row as FaissStore orders them."""
    order = np.lexsort((ids, -scores))
    return ids[order], scores[order]


def _connect(spec: dict[str, Any], folder: Path) -> Any:
    """A MilvusClient for the store; one line naming the fix when Milvus cannot be reached."""
    try:
        from pymilvus import MilvusClient
    except ImportError as err:
        raise SourceError("the Milvus store needs pymilvus and milvus-lite: pip install 'rag[milvus]'") from err
    uri = spec["uri"]
    local = not _is_server(uri)
    if local:
        uri = str((folder / uri).resolve()) if not Path(uri).is_absolute() else uri
        lock = Path(uri) / "LOCK"
        if lock.exists() and _locked_elsewhere(lock):
            raise SourceError(
                f"{uri} is open in another process (a running rag serve or chat?); stop it, or serve the "
                "database with `milvus-lite server` and build with --milvus-uri http://127.0.0.1:PORT"
            )
    token = ""
    if spec.get("token_env"):
        token = os.environ.get(spec["token_env"], "")
        if not token:
            raise SourceError(f"the Milvus token variable {spec['token_env']} is empty or unset; export it first")
    # Keepalive pings every 5 minutes, not pymilvus's 10 s: gRPC servers on default settings (Milvus
    # Lite's) answer frequent pings on an idle connection with GOAWAY "too_many_pings".
    options = {"grpc_options": {"grpc.keepalive_time_ms": 300_000}, "timeout": CONNECT_SECONDS}
    try:
        return MilvusClient(uri=uri, token=token, **options) if token else MilvusClient(uri=uri, **options)
    except Exception as err:  # noqa: BLE001  (grpc, connection and config errors all mean one thing here)
        raise SourceError(
            f"cannot reach Milvus at {_shown(spec, folder)} ({first_line(err)}); start it, or build with "
            "another --milvus-uri"
        ) from err


def reachable(spec: dict[str, Any], folder: Path) -> None:
    """Raise the one-line SourceError `_connect` gives, before a build spends time embedding (a
    Milvus Lite file is only checked for another process's lock: connecting would create it)."""
    if _is_server(spec["uri"]):
        _connect(spec, folder)
        return
    lock = (folder / spec["uri"]).resolve() / "LOCK"
    if lock.exists() and _locked_elsewhere(lock):
        _connect(spec, folder)  # says which process holds it and what to do


def _locked_elsewhere(lock: Path) -> bool:
    """Whether another process holds Milvus Lite's lock on its data directory (this process's own
    in-process server is reused by pymilvus and does not count)."""
    import fcntl

    try:
        from milvus_lite.server_manager import server_manager_instance

        if os.path.abspath(lock.parent) in getattr(server_manager_instance, "_servers", {}):
            return False
    except ImportError:
        return False
    with lock.open("a") as f:
        try:
            fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            return True
        fcntl.flock(f, fcntl.LOCK_UN)
    return False


def release(spec: dict[str, Any], folder: Path) -> None:
    """Stop this process's Milvus Lite server for the store (before its directory is moved)."""
    if _is_server(spec["uri"]):
        return
    try:
        from milvus_lite.server_manager import server_manager_instance
    except ImportError:
        return
    server_manager_instance.release_server(str((folder / spec["uri"]).resolve()))


def _create_collection(client: Any, spec: dict[str, Any], dim: int) -> None:
    from pymilvus import DataType, Function, FunctionType, MilvusClient

    schema = MilvusClient.create_schema(auto_id=False)
    schema.add_field("key", DataType.INT64, is_primary=True)
    schema.add_field("doc_id", DataType.VARCHAR, max_length=1024)
    schema.add_field("people", DataType.ARRAY, element_type=DataType.VARCHAR, max_capacity=256, max_length=512)
    schema.add_field("terms", DataType.VARCHAR, max_length=65535, enable_analyzer=True)
    schema.add_field("sparse", DataType.SPARSE_FLOAT_VECTOR)
    schema.add_field("vector", DataType.FLOAT_VECTOR, dim=dim)
    schema.add_function(
        Function(
            name="bm25", function_type=FunctionType.BM25, input_field_names=["terms"], output_field_names=["sparse"]
        )
    )
    index = client.prepare_index_params()
    dense: dict[str, Any] = {"M": 32, "efConstruction": 80} if spec["index"] == "HNSW" else {}
    index.add_index("vector", index_type=spec["index"], metric_type="IP", params=dense)
    index.add_index("sparse", index_type="SPARSE_INVERTED_INDEX", metric_type="BM25", params=BM25)
    index.add_index("doc_id", index_type="INVERTED")
    client.create_collection(spec["collection"], schema=schema, index_params=index, consistency_level="Strong")


def _entity(c: Chunk, key: int, vector: np.ndarray) -> dict[str, Any]:
    people = ([c.speaker] if c.speaker else []) + list(c.quoted)
    return {
        "key": key,
        "doc_id": c.doc_id,
        "people": people[:256],
        "terms": " ".join(_encode(t) for t in tokenize(c.embed_text)) or "_",
        "vector": np.asarray(vector, dtype=np.float32).tolist(),
    }


def _encode(term: str) -> str:
    """A rag term as one token of Milvus's standard analyzer: plain ASCII terms as they are, any
    other ("don't", "über", "我们") as a stable hex name, so both stores count the same terms."""
    if _PLAIN.fullmatch(term):
        return term
    return "x" + hashlib.blake2b(term.encode(), digest_size=8).hexdigest()


def _term_stats(chunks: Sequence[Chunk]) -> dict[str, Any]:
    """What BM25 needs beyond a row's own text, counted over every row as bm25s counts them."""
    df: dict[str, int] = {}
    total = 0
    for c in chunks:
        words = tokenize(c.embed_text) or ["_"]
        total += len(words)
        for t in set(words):
            df[t] = df.get(t, 0) + 1
    return {"n": len(chunks), "avgdl": total / max(len(chunks), 1), "df": df}


def _is_server(uri: str) -> bool:
    return uri.startswith(("http://", "https://", "tcp://", "unix:"))


def _shown(spec: dict[str, Any], folder: Path) -> str:
    uri = spec["uri"]
    return uri if _is_server(uri) or Path(uri).is_absolute() else str(folder / uri)
