"""The embedded store: a collection directory holding SQLite (truth) and a faiss snapshot (cache).

    DIR/collection.sqlite   items, vectors, errors, meta  (WAL; one transaction per batch)
    DIR/index.json          which faiss snapshot is current, at which seq, its checksum
    DIR/index-<seq>.faiss   the snapshot
    DIR/write.lock          held (flock) by the one process allowed to write
"""

from __future__ import annotations

import fcntl
import os
import threading
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

import numpy as np

from jointspace.errors import (
    CollectionError,
    CollectionLockedError,
    CollectionNotFoundError,
    CorruptCollectionError,
    ModelMismatchError,
)
from jointspace.store.base import Fingerprint, StateBlob, StoredItem, WriteBatch
from jointspace.store.faiss_index import FLAT, INDEX_KINDS, VectorIndex
from jointspace.store.filters import Filter
from jointspace.store.sqlite import SqliteTruth

DB_FILE = "collection.sqlite"
LOCK_FILE = "write.lock"
PURGED_KEY = "tombstones_purged"  # meta: tombstones up to this seq were compacted away


class LocalStore:
    """SQLite + faiss in one directory. Safe for many threads; one writing process at a time."""

    def __init__(self, directory: Path, truth: SqliteTruth) -> None:
        self.directory = directory
        self.truth = truth
        meta = truth.get_meta()
        try:
            self.model, self.dim = meta["model"], int(meta["dim"])
            self.index_kind = meta.get("index", FLAT)
        except (KeyError, ValueError) as exc:
            raise CorruptCollectionError(
                f"{directory}: collection metadata is incomplete ({exc})",
                hint="re-create the collection with `jointspace index SOURCE --collection DIR`",
            ) from exc
        self.meta = meta
        self._index: VectorIndex | None = None
        self._index_lock = threading.RLock()
        self._lock_fd: int | None = None
        self.rebuilt = False  # whether opening had to rebuild the index from SQLite

    # --- lifecycle ----------------------------------------------------------------------
    @classmethod
    def create(cls, directory: Path, model: str, dim: int, index: str = FLAT) -> LocalStore:
        if index not in INDEX_KINDS:
            raise ValueError(f"index must be one of {INDEX_KINDS}")
        directory.mkdir(parents=True, exist_ok=True)
        truth = SqliteTruth(directory / DB_FILE)
        meta = truth.get_meta()
        if "model" not in meta:
            initial = {"model": model, "dim": str(dim), "index": index, "seq": "0",
                       "created_at": str(time.time())}
            # OR IGNORE: of processes creating it at once, the first wins; the others then see
            # its model (and refuse if theirs differs) instead of overwriting it
            with truth.transaction(write=True) as c:
                c.executemany("INSERT OR IGNORE INTO meta VALUES (?, ?)", list(initial.items()))
        store = cls(directory, truth)
        store.check_model(model, dim)
        return store

    @classmethod
    def open(cls, directory: Path, *, readonly: bool = False) -> LocalStore:
        if not (directory / DB_FILE).is_file():
            raise CollectionNotFoundError(
                f"no collection at {directory}",
                hint="create one with `jointspace index SOURCE --collection DIR`",
            )
        return cls(directory, SqliteTruth(directory / DB_FILE, readonly=readonly))

    def check_model(self, model: str, dim: int | None = None) -> None:
        if model != self.model or (dim is not None and dim != self.dim):
            raise ModelMismatchError(
                f"collection {self.directory} was built with {self.model} (dim {self.dim}); "
                f"refusing to mix in {model}" + (f" (dim {dim})" if dim is not None else ""),
                hint="use a new --collection directory for a different model",
            )

    def close(self) -> None:
        self.release_writer()
        self.truth.close()

    # --- the writer lock ------------------------------------------------------------------
    def acquire_writer(self, timeout: float = 0.0) -> None:
        """Become the one writing process, waiting up to ``timeout`` seconds."""
        if self._lock_fd is not None:
            return
        try:
            fd = os.open(self.directory / LOCK_FILE, os.O_RDWR | os.O_CREAT, 0o644)
        except OSError as exc:
            raise CollectionError(
                f"cannot write to {self.directory}: {exc.strerror or exc}",
                hint="the collection is read-only here (permissions or a read-only mount); "
                     "searching works, writing needs write access",
            ) from exc
        deadline = time.monotonic() + timeout
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() >= deadline:
                    os.close(fd)
                    raise CollectionLockedError(
                        f"another process is writing to {self.directory}",
                        hint="wait for it to finish (searching works meanwhile), then retry",
                    ) from None
                time.sleep(0.05)
        self._lock_fd = fd

    def release_writer(self) -> None:
        if self._lock_fd is not None:
            os.close(self._lock_fd)  # closing the descriptor drops the flock
            self._lock_fd = None

    @contextmanager
    def writer(self, timeout: float = 0.0) -> Iterator[LocalStore]:
        held = self._lock_fd is not None
        self.acquire_writer(timeout)
        try:
            yield self
        finally:
            if not held:
                self.release_writer()

    # --- writes -------------------------------------------------------------------------
    def write(self, batch: WriteBatch) -> None:
        """Commit one batch atomically (caller holds the writer lock)."""
        if self._lock_fd is None:
            raise CollectionLockedError("write() needs the writer lock; use `with store.writer():`")
        for item in batch.upserts:
            if item.vector.shape != (self.dim,):
                raise ModelMismatchError(f"vector of shape {item.vector.shape} in a dim "
                                         f"{self.dim} collection")
        if batch:
            self.truth.write(batch)

    def save_index(self) -> None:
        """Snapshot the index so the next open replays less (writer only)."""
        with self._index_lock:
            index = self._synced(None)
            try:
                index.save(self.directory)
            except OSError as exc:
                raise CollectionError(
                    f"could not save the index snapshot in {self.directory}: "
                    f"{exc.strerror or exc}",
                    hint="all items are committed to SQLite and searchable (the index is rebuilt "
                         "from it on open); free disk space or fix permissions, then run "
                         "`jointspace check COLLECTION --repair`",
                ) from exc

    def rebuild_index(self) -> VectorIndex:
        """Rebuild the faiss index from SQLite and snapshot it when we may write."""
        with self._index_lock, self.truth.transaction() as conn:
            self._index = self._build(conn)
        self.rebuilt = True
        return self._index

    # --- reads --------------------------------------------------------------------------
    def count(self) -> int:
        return self.truth.count()

    def fingerprints(self, keys: Sequence[str]) -> dict[str, Fingerprint]:
        return self.truth.fingerprints(keys)

    def keys_of_source(self, source: str) -> dict[str, int]:
        return self.truth.keys_of_source(source)

    def search(
        self, queries: np.ndarray, k: int, where: Filter | None = None
    ) -> list[list[tuple[int, float]]]:
        """Exact top-k (id, cosine) per query row, on a consistent snapshot of the truth."""
        with self._index_lock, self.truth.transaction() as conn:
            index = self._synced(conn)
            allowed = self.truth.filter_ids(where, conn) if where is not None else None
            scores, ids = index.search(queries, k, allowed)
        return [
            [(int(i), float(s)) for i, s in zip(id_row, score_row) if i >= 0]
            for id_row, score_row in zip(ids, scores)
        ]

    def get(self, ids: Sequence[int]) -> list[StoredItem]:
        return self.truth.get(ids)

    def vectors(self, ids: Sequence[int]) -> np.ndarray:
        return self.truth.vectors(ids, self.dim)

    def errors(self) -> list[tuple[str, str]]:
        return self.truth.errors()

    def seq(self) -> int:
        with self.truth.locked():
            return self.truth.seq()

    def read_state(self, name: str) -> StateBlob | None:
        return self.truth.get_state(name)

    def write_state(self, name: str, data: bytes, seq: int | None = None) -> None:
        """Store derived state under ``name`` (caller holds the writer lock)."""
        if self._lock_fd is None:
            raise CollectionLockedError("write_state() needs the writer lock; "
                                        "use `with store.writer():`")
        self.truth.put_state(name, data, seq)

    def index_status(self) -> dict[str, int | str | bool]:
        with self._index_lock:
            index = self._synced(None)
            return {"kind": index.kind, "ntotal": index.ntotal, "seq": index.seq,
                    "rebuilt_on_open": self.rebuilt}

    # --- index maintenance ------------------------------------------------------------------
    def _synced(self, conn) -> VectorIndex:
        """The in-memory index, brought up to the truth's current seq."""
        if conn is None:
            with self.truth.transaction() as c:
                return self._synced(c)
        if self._index is None:
            self._index = VectorIndex.load(self.directory, self.dim, self.index_kind)
            if self._index is None:
                self._index = self._build(conn)
                self.rebuilt = True
        seq = self.truth.seq(conn)
        if seq < self._index.seq or self._index.seq < _purged_seq(conn):
            # a snapshot from the future (the truth was replaced), or one older than the
            # tombstones compaction kept: replaying it would miss deletions
            self._index = self._build(conn)
            self.rebuilt = True
        elif seq > self._index.seq:
            ids, vecs, deleted = self.truth.changes_since(self._index.seq, conn)
            self._index.apply(ids, vecs, deleted)
            self._index.seq = seq
            if self._index.stale:
                self._index = self._build(conn)
        return self._index

    def _build(self, conn) -> VectorIndex:
        index = VectorIndex(self.dim, self.index_kind)
        ids, vecs = self.truth.all_vectors(conn)
        if len(ids):
            index.apply(ids, vecs, np.zeros(0, np.int64))
        index.seq = self.truth.seq(conn)
        return index


def _purged_seq(conn) -> int:
    row = conn.execute("SELECT value FROM meta WHERE key = ?", (PURGED_KEY,)).fetchone()
    return int(row[0]) if row else 0
