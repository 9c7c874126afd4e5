"""``QdrantStore``: the Store protocol over a Qdrant collection (a server, a cluster, local mode).

Qdrant holds the truth: one point per item with a deterministic id (53 bits of the key's hash, so
a re-run upserts the same points), the unit vector as the dense vector ``dense`` (dot product =
cosine), BM25 term weights as the sparse vector ``bm25`` (IDF modifier), and the payload
``key, source, kind, path, text, metadata`` (the source's), ``annotations``, ``fields`` (the two
merged: what filters and results see), ``size, mtime_ns, sha256`` (change detection) and ``seq``.
The model, dim and format sit in the collection's metadata; seq, derived state and error records
in the companion collection (see ``companion.py``).

Writes are not transactional across points (Qdrant has no multi-point transactions): a killed
batch may be half-applied; re-running the sync converges, because ids are deterministic and
fingerprints decide what is re-embedded. The writer lock is per process (one ``QdrantStore``);
on a server nothing stops two processes writing at once — run one writer per collection.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from jointspace.errors import (
    CollectionError,
    CollectionLockedError,
    CorruptCollectionError,
)
from jointspace.store.base import (
    Fingerprint,
    ItemPage,
    KeywordInputs,
    NewItem,
    StateBlob,
    StoredItem,
    WriteBatch,
    canonical_json,
    check_dims,
    check_model,
    keyword_text,
)
from jointspace.store.filters import Clause, Filter
from jointspace.store.qdrant import sparse
from jointspace.store.qdrant.companion import Companion, point_id
from jointspace.store.qdrant.filters import to_qdrant
from jointspace.store.qdrant.location import Target, translated
from jointspace.store.qdrant.writes import apply_batch, read_payloads
from jointspace.store.registry import API_KEY_ENV, StoreOptions

if TYPE_CHECKING:
    from jointspace.store.qdrant.sink import QdrantSink

DENSE, SPARSE = "dense", "bm25"
META_KEY = "jointspace"
FORMAT_VERSION = "1"
_PAGE = 1024


class QdrantStore:
    """One jointspace collection in Qdrant (plus its companion collection)."""

    def __init__(self, target: Target, client: Any, *, readonly: bool = False,
                 options: StoreOptions | None = None) -> None:
        self.target = target
        self.options = options or StoreOptions()
        self.client = client
        self.name = target.name
        self.location = target.label
        self.directory: Path | None = target.path
        self.readonly = readonly
        self.companion = Companion(client, target.name)
        meta = (client.get_collection(self.name).config.metadata or {}).get(META_KEY)
        try:
            self.model, self.dim = meta["model"], int(meta["dim"])
            self.index_kind = meta.get("index", "flat")
        except (KeyError, TypeError, ValueError) as exc:
            raise CorruptCollectionError(
                f"{self.location} is not a jointspace collection (no model/dim in its metadata)",
                hint="index into a new collection name, or check the location",
            ) from exc
        self._lock = threading.RLock()
        self._held = 0

    # --- lifecycle and writer ---------------------------------------------------------------
    def check_model(self, model: str, dim: int | None = None) -> None:
        check_model(self.location, (self.model, self.dim), model, dim,
                    hint="use a new collection name for a different model")

    @contextmanager
    def writer(self, timeout: float = 0.0) -> Iterator[QdrantStore]:
        if self.readonly:
            raise CollectionError(f"{self.location} was opened read-only",
                                  hint="open it without readonly to write")
        got = self._lock.acquire(timeout=timeout) if timeout > 0 else self._lock.acquire(False)
        if not got:
            raise CollectionLockedError(f"another writer in this process holds {self.location}",
                                        hint="wait for it to finish, then retry")
        self._held += 1
        try:
            yield self
        finally:
            self._held -= 1
            self._lock.release()

    def close(self) -> None:
        self.client.close()

    # --- writes ----------------------------------------------------------------------------
    def write(self, batch: WriteBatch) -> None:
        if not self._held:
            raise CollectionLockedError("write() needs the writer lock; use `with store.writer():`")
        check_dims(batch, self.dim)
        if batch:
            apply_batch(self, batch, self.companion.bump_seq())

    def worker_sink(self) -> QdrantSink | None:
        """Workers may upsert into a server; a local-mode folder opens in one process only."""
        from jointspace.store.qdrant.sink import QdrantSink

        if self.target.path is not None:
            return None
        key = self.options.api_key or os.environ.get(API_KEY_ENV)  # the actors' nodes lack it
        return QdrantSink(self.target, replace(self.options, api_key=key), self.dim,
                          self.seq() + 1)

    def save_index(self) -> None:
        """Nothing to do: Qdrant maintains its own indexes."""

    def write_state(self, name: str, data: bytes, seq: int | None = None) -> None:
        if not self._held:
            raise CollectionLockedError("write_state() needs the writer lock; "
                                        "use `with store.writer():`")
        self.companion.write_state(name, data, self.seq() if seq is None else seq)

    # --- reads -----------------------------------------------------------------------------
    def count(self) -> int:
        return self.client.count(self.name, exact=True).count

    def seq(self) -> int:
        return self.companion.seq()

    def read_state(self, name: str) -> StateBlob | None:
        return self.companion.read_state(name)

    def errors(self) -> list[tuple[str, str]]:
        return self.companion.errors()

    def fingerprints(self, keys: Sequence[str]) -> dict[str, Fingerprint]:
        out: dict[str, Fingerprint] = {}
        keys = list(keys)
        for start in range(0, len(keys), _PAGE):
            chunk = keys[start : start + _PAGE]
            for p in self.payloads([point_id(k) for k in chunk]).values():
                if p["key"] in chunk:  # a hash collision never passes for the key
                    out[p["key"]] = Fingerprint(point_id(p["key"]), p.get("size"),
                                                p.get("mtime_ns"), p.get("sha256"),
                                                canonical_json(p.get("metadata") or {}),
                                                p.get("text"))
        return out

    def keys_of_source(self, source: str) -> dict[str, int]:
        flt = Filter((Clause("source", "=", source),))
        return {p.payload["key"]: int(p.id) for p in self._scroll(flt, payload=["key"])}

    def search(self, queries: np.ndarray, k: int,
               where: Filter | None = None) -> list[list[tuple[int, float]]]:
        flt = to_qdrant(where) if where is not None else None
        return [[(int(p.id), float(p.score)) for p in
                 self._query(np.asarray(q, np.float32).tolist(), DENSE, k, flt)]
                for q in queries]

    def keyword_search(self, query: str, depth: int,
                       where: Filter | None = None) -> tuple[list[int], np.ndarray]:
        from qdrant_client import models

        idx, values = sparse.query_vector(query)
        if not idx:
            return [], np.zeros(0, np.float32)
        flt = to_qdrant(where) if where is not None else None
        points = [p for p in self._query(models.SparseVector(indices=idx, values=values), SPARSE,
                                         depth, flt) if p.score > 0]
        return [int(p.id) for p in points], np.array([p.score for p in points], np.float32)

    def filter_ids(self, where: Filter) -> np.ndarray:
        ids = [int(p.id) for p in self._scroll(where, payload=False)]
        return np.sort(np.asarray(ids, np.int64))

    def scan_vectors(self, where: Filter | None = None,
                     batch: int = 4096) -> Iterator[tuple[np.ndarray, np.ndarray]]:
        for page in self._pages(where, payload=False, vectors=True, batch=batch):
            yield (np.array([int(p.id) for p in page], np.int64),
                   np.asarray([p.vector[DENSE] for p in page], np.float32).reshape(-1, self.dim))

    def scan_items(self, batch: int = 1024) -> Iterator[ItemPage]:
        for page in self._pages(None, payload=True, vectors=True, batch=batch):
            items = [NewItem(key=p.payload["key"], source=p.payload["source"],
                             kind=p.payload["kind"], path=p.payload.get("path"),
                             text=p.payload.get("text"), metadata=p.payload.get("metadata") or {},
                             size=p.payload.get("size"), mtime_ns=p.payload.get("mtime_ns"),
                             sha256=p.payload.get("sha256"),
                             vector=np.asarray(p.vector[DENSE], np.float32)) for p in page]
            yield ItemPage([int(p.id) for p in page], items,
                           [p.payload.get("annotations") or {} for p in page])

    def keyword_inputs(self) -> KeywordInputs:
        seq = self.seq()
        points = sorted(self._scroll(None, payload=["text", "fields"]), key=lambda p: int(p.id))
        return KeywordInputs(seq, [int(p.id) for p in points],
                             [keyword_text(p.payload.get("text"), p.payload.get("fields"))
                              for p in points])

    def cache_dir(self) -> Path | None:
        return None  # Qdrant answers keyword queries itself; nothing to cache beside it

    def get(self, ids: Sequence[int]) -> list[StoredItem]:
        found = self.payloads([int(i) for i in ids])
        return [_item(int(i), found[int(i)]) for i in ids if int(i) in found]

    def vectors(self, ids: Sequence[int]) -> np.ndarray:
        ids = [int(i) for i in ids]
        points = {int(p.id): p.vector[DENSE] for p in
                  self.client.retrieve(self.name, ids, with_payload=False, with_vectors=[DENSE])}
        rows = [points[i] for i in ids if i in points]
        return np.asarray(rows, np.float32).reshape(len(rows), self.dim)

    def info(self) -> dict[str, Any]:
        kinds = {}
        for kind in ("image", "text"):
            flt = to_qdrant(Filter((Clause("kind", "=", kind),)))
            n = self.client.count(self.name, count_filter=flt, exact=True).count
            if n:
                kinds[kind] = n
        params = self.client.get_collection(self.name).config.params
        return {"path": self.location, "backend": "qdrant", "count": sum(kinds.values()),
                "kinds": kinds, "errors": len(self.errors()), "seq": self.seq(),
                "format": FORMAT_VERSION, "index": self.index_kind, "size_bytes": None,
                "shards": getattr(params, "shard_number", None),
                "replicas": getattr(params, "replication_factor", None)}

    # --- helpers ---------------------------------------------------------------------------
    def payloads(self, ids: list[int]) -> dict[int, dict[str, Any]]:
        return read_payloads(self.client, self.name, ids)

    def _query(self, query: Any, using: str, limit: int, flt: Any) -> list[Any]:
        from qdrant_client import models

        exact = None
        if self.target.path is None and using == DENSE and self.index_kind == "flat":
            exact = models.SearchParams(exact=True)  # local mode is always exact
        return self.client.query_points(self.name, query=query, using=using, limit=limit,
                                        query_filter=flt, search_params=exact,
                                        with_payload=False).points

    def _pages(self, where: Filter | None, *, payload: Any, vectors: bool,
               batch: int) -> Iterator[list[Any]]:
        flt = to_qdrant(where) if where is not None else None
        offset = None
        while True:
            points, offset = self.client.scroll(
                self.name, scroll_filter=flt, limit=batch, offset=offset, with_payload=payload,
                with_vectors=[DENSE] if vectors else False)
            if points:
                yield points
            if offset is None:
                return

    def _scroll(self, where: Filter | None, *, payload: Any) -> list[Any]:
        return [p for page in self._pages(where, payload=payload, vectors=False, batch=_PAGE)
                for p in page]


def _translating(cls: type) -> type:
    """Wrap the store's plain methods so a server's failures leave as JointspaceErrors."""
    import functools

    def wrap(fn: Any) -> Any:
        @functools.wraps(fn)
        def inner(self: QdrantStore, *args: Any, **kwargs: Any) -> Any:
            with translated(self.target):
                return fn(self, *args, **kwargs)
        return inner

    for name in ("count", "seq", "read_state", "errors", "fingerprints", "keys_of_source",
                 "search", "keyword_search", "filter_ids", "keyword_inputs", "get", "vectors",
                 "info", "write", "write_state"):
        setattr(cls, name, wrap(getattr(cls, name)))
    return cls


QdrantStore = _translating(QdrantStore)


def _item(pid: int, p: dict[str, Any]) -> StoredItem:
    return StoredItem(pid, p["key"], p["source"], p["kind"], p.get("path"), p.get("text"),
                      dict(p.get("fields") or {}))
