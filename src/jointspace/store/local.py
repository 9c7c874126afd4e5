"""The embedded store: a collection directory holding SQLite (truth) and a faiss snapshot (cache).

    DIR/collection.sqlite   items, vectors, errors, meta  (WAL; one transaction per batch)
    DIR/index.json          which faiss snapshot is current, at which seq, its checksum
    DIR/index-<seq>.faiss   the snapshot
    DIR/write.lock          held (flock) by the one process allowed to write
"""

from __future__ import annotations

import fcntl
import json
import os
import stat
import threading
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

import numpy as np

from jointspace.errors import (
    BadInputError,
    CollectionError,
    CollectionLockedError,
    CollectionNotFoundError,
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
    check_dims,
    check_model,
)
from jointspace.store.faiss_index import FLAT, INDEX_KINDS, VectorIndex
from jointspace.store.filters import Filter
from jointspace.store.sqlite import SqliteTruth, create_database

DB_FILE = "collection.sqlite"
LOCK_FILE = "write.lock"
PURGED_KEY = "tombstones_purged"  # meta: tombstones up to this seq were compacted away


def check_index_kind(index: str) -> None:
    """Refuse an index kind faiss_index does not build."""
    if index not in INDEX_KINDS:
        raise BadInputError(f"unknown index kind {index!r}",
                            hint=f"use one of {', '.join(INDEX_KINDS)}")


class LocalStore:
    """SQLite + faiss in one directory. Safe for many threads; one writing process at a time."""

    def __init__(self, directory: Path, truth: SqliteTruth) -> None:
        self.directory = directory
        self.location = str(directory)
        self.readonly = truth.readonly
        self.truth = truth
        meta = truth.get_meta()
        try:
            self.model, self.dim = meta["model"], int(meta["dim"])
            self.index_kind = meta.get("index", FLAT)
            # Matryoshka truncation: the index holds this renormalised prefix (None: all dims)
            self.index_dim = int(meta["index_dim"]) if meta.get("index_dim") else None
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
    def create(cls, directory: Path, model: str, dim: int, index: str = FLAT,
               index_dim: int | None = None) -> LocalStore:
        check_index_kind(index)
        if index_dim is not None and not 0 < index_dim <= dim:
            raise BadInputError(f"--dim {index_dim} is outside 1..{dim} (the model's dimension)",
                                hint="pass a prefix length no larger than the model's dim")
        try:
            directory.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise CollectionError(
                f"cannot create a collection at {directory}: {exc.strerror or exc}",
                hint="choose a --collection directory you can write to (not an existing file)",
            ) from exc
        create_database(directory / DB_FILE)  # complete or absent, even if killed meanwhile
        truth = SqliteTruth(directory / DB_FILE)
        meta = truth.get_meta()
        if "model" not in meta:
            initial = {"model": model, "dim": str(dim), "index": index, "seq": "0",
                       "created_at": str(time.time())}
            if index_dim is not None and index_dim < dim:
                initial["index_dim"] = str(index_dim)
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
        check_model(self.location, (self.model, self.dim), model, dim,
                    hint="use a new --collection directory for a different model")

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
        if batch.upserted:
            raise CollectionError("a local collection has no worker sink: its batches carry "
                                  "their vectors", hint="write the batch with its vectors")
        check_dims(batch, self.dim)
        if batch:
            self.truth.write(batch)

    def worker_sink(self) -> None:
        """None: one process writes a local collection, so results come back to it."""
        return None

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
            scores, ids = index.search(queries, k, allowed, self._fetch)
        return [
            [(int(i), float(s)) for i, s in zip(id_row, score_row) if i >= 0]
            for id_row, score_row in zip(ids, scores)
        ]

    def _fetch(self, ids: np.ndarray) -> np.ndarray:
        """Float vectors for a compressed index's shortlist (inside search's transaction)."""
        return self.truth.vectors(ids.tolist(), self.dim)

    def filter_ids(self, where: Filter) -> np.ndarray:
        with self.truth.transaction() as conn:
            return np.sort(self.truth.filter_ids(where, conn))

    def scan_vectors(self, where: Filter | None = None,
                     batch: int = 4096) -> Iterator[tuple[np.ndarray, np.ndarray]]:
        for rows in self.truth.scan("vector", where, batch):
            ids = np.fromiter((r[0] for r in rows), np.int64, len(rows))
            vecs = np.frombuffer(b"".join(r[1] for r in rows), np.float32).reshape(len(rows), -1)
            yield ids, vecs

    def scan_items(self, batch: int = 1024) -> Iterator[ItemPage]:
        cols = "key, source, kind, path, text, metadata, annotations, size, mtime_ns, sha256, vector"
        for rows in self.truth.scan(cols, None, batch):
            items = [NewItem(key=r[1], source=r[2], kind=r[3], path=r[4], text=r[5],
                             metadata=json.loads(r[6]), size=r[8], mtime_ns=r[9], sha256=r[10],
                             vector=np.frombuffer(r[11], np.float32)) for r in rows]
            yield ItemPage([r[0] for r in rows], items, [json.loads(r[7]) for r in rows])

    def keyword_inputs(self) -> KeywordInputs:
        return self.truth.keyword_inputs()

    def keyword_search(self, query: str, depth: int,
                       where: Filter | None = None) -> tuple[list[int], np.ndarray] | None:
        return None  # no keyword index of its own: the caller builds one (query/keywords.py)

    def cache_dir(self) -> Path | None:
        return self.directory

    def info(self) -> dict[str, object]:
        meta = self.truth.get_meta()
        summary = self.truth.summary()
        size = _files_size(self.directory)
        return {"path": self.location, "backend": "local",
                "count": sum(summary["kinds"].values()), "kinds": summary["kinds"],
                "errors": summary["errors"], "seq": int(meta.get("seq", 0)),
                "format": self.truth.schema_version(), "index": self.index_kind,
                "index_dim": self.index_dim or self.dim,
                "size_bytes": size}

    def get(self, ids: Sequence[int]) -> list[StoredItem]:
        return self.truth.get(ids)

    def vectors(self, ids: Sequence[int]) -> np.ndarray:
        return self.truth.vectors(ids, self.dim)

    def errors(self) -> list[tuple[str, str]]:
        return self.truth.errors()

    def seq(self) -> int:
        with self.truth.locked():
            return self.truth.seq()

    def changes_since(self, seq: int) -> tuple[np.ndarray, np.ndarray, np.ndarray] | None:
        """(written ids, their vectors, deleted ids) after ``seq``; None when the tombstones
        that far back were compacted away (derived state that old must be recomputed)."""
        with self.truth.transaction() as conn:
            if seq < _purged_seq(conn):
                return None
            pages = list(self.truth.changed_pages(seq, conn))
            ids = np.concatenate([p[0] for p in pages]) if pages else np.zeros(0, np.int64)
            vecs = (np.concatenate([p[1] for p in pages]) if pages
                    else np.zeros((0, self.dim), np.float32))
            return ids, vecs, self.truth.deleted_since(seq, conn)

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
            return {"kind": index.kind, "dim": index.width, "ntotal": index.ntotal,
                    "seq": index.seq,
                    "rebuilt_on_open": self.rebuilt}

    # --- index maintenance ------------------------------------------------------------------
    def _synced(self, conn) -> VectorIndex:
        """The in-memory index, brought up to the truth's current seq."""
        if conn is None:
            with self.truth.transaction() as c:
                return self._synced(c)
        if self._index is None:
            self._index = VectorIndex.load(self.directory, self.dim, self.index_kind,
                                           self.index_dim)
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
            none = np.zeros(0, np.int64)
            self._index.apply(none, np.zeros((0, self.dim), np.float32),
                              self.truth.deleted_since(self._index.seq, conn))
            for ids, vecs in self.truth.changed_pages(self._index.seq, conn):
                self._index.apply(ids, vecs, none)
            self._index.seq = seq
            if self._index.stale:
                self._index = self._build(conn)
        return self._index

    def _build(self, conn) -> VectorIndex:
        index = VectorIndex(self.dim, self.index_kind, prefix=self.index_dim)
        # page by page: faiss grows its storage in place (realloc), so the peak stays near the
        # index itself; a preallocated array of everything would double it
        index.fill(self.truth.changed_pages(-1, conn))
        index.seq = self.truth.seq(conn)
        return index


def _purged_seq(conn) -> int:
    row = conn.execute("SELECT value FROM meta WHERE key = ?", (PURGED_KEY,)).fetchone()
    return int(row[0]) if row else 0


def _files_size(directory: Path) -> int:
    """Bytes in the directory's files; a file a writer renames away meanwhile is skipped."""
    total = 0
    for f in directory.iterdir():
        try:
            st = f.stat()
        except FileNotFoundError:  # e.g. index.json.tmp, renamed between listing and stat
            continue
        if stat.S_ISREG(st.st_mode):
            total += st.st_size
    return total
