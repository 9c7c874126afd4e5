"""The embedded store: a collection directory holding SQLite (truth) and a faiss snapshot.

    DIR/collection.sqlite   items, vectors, errors, meta  (WAL; one transaction per batch)
    DIR/index.json          which faiss snapshot is current, at which seq, its checksum
    DIR/index-<seq>.faiss   the snapshot
    DIR/write.lock          held (flock) by the one process allowed to write

The snapshot is a cache of SQLite, rebuilt from it when missing or damaged, with one exception:
a flat or hnsw index of all dimensions holding ``FOLD_MIN_BYTES`` of vectors or more (both keep
the float vectors) is *folded*. Each
save of its snapshot empties the SQLite copies of the vectors it now durably holds
(``SqliteTruth.fold``) and VACUUMs the freed pages, so a large collection keeps its float vectors
once (1M x 512: 2.4 GB instead of 4.5 GB on disk). The snapshot is then the only copy of those
vectors: opening loads it (a missing or damaged one is an error, never a silent rebuild),
reads of folded vectors take them from the loaded index, and ``jointspace check --repair``
removes the items whose vectors a damaged snapshot lost, so that ``jointspace index`` embeds
them again from their sources. Small collections keep both copies: they cost little there.
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
from jointspace.store.faiss_index import FLAT, HNSW, INDEX_KINDS, MMAP_MIN_BYTES, VectorIndex
from jointspace.store.filters import Filter
from jointspace.store.sqlite import SqliteTruth, create_database, unpack

DB_FILE = "collection.sqlite"
LOCK_FILE = "write.lock"
PURGED_KEY = "tombstones_purged"  # meta: tombstones up to this seq were compacted away
FOLD_MIN_BYTES = MMAP_MIN_BYTES  # flat snapshots this large hold the only copy of their vectors


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
        """Snapshot the index so the next open replays less (writer only); a large flat one then
        holds the only copy of the vectors (folded, see the module docstring)."""
        with self._index_lock:
            index = self._synced(None)
            try:
                index.save(self.directory)
                if self._lock_fd is not None and self._foldable(index):
                    folded = self.truth.fold(index.seq)  # the snapshot is durable by now
                    self.truth.reclaim(folded * 4 * index.dim)
            except OSError as exc:
                raise CollectionError(
                    f"could not save the index snapshot in {self.directory}: "
                    f"{exc.strerror or exc}",
                    hint="all items are committed to SQLite and searchable (the index is rebuilt "
                         "from it on open); free disk space or fix permissions, then run "
                         "`jointspace check COLLECTION --repair`",
                ) from exc

    def _foldable(self, index: VectorIndex) -> bool:
        return (index.kind in (FLAT, HNSW) and not index.prefix
                and index.ntotal * index.dim * 4 >= FOLD_MIN_BYTES)

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
        return self.truth.vectors(ids.tolist(), self.dim)  # code kinds never fold

    def _fill(self, ids: np.ndarray) -> np.ndarray:
        """Vectors of folded items, from the flat index that holds their only copy."""
        with self._index_lock:
            folded = self.truth.folded_seq()
            if self._index is None or self._index.seq < folded:
                self._index = self._snapshot(folded)
            vecs = self._index.vectors_of(ids)
        if vecs is None:  # the index is newer than the caller's read and lost one of them
            raise CollectionError(f"{self.location} changed while it was being read",
                                  hint="retry: the writer deleted some of the items meanwhile")
        return vecs

    def filter_ids(self, where: Filter) -> np.ndarray:
        with self.truth.transaction() as conn:
            return np.sort(self.truth.filter_ids(where, conn))

    def scan_vectors(self, where: Filter | None = None,
                     batch: int = 4096) -> Iterator[tuple[np.ndarray, np.ndarray]]:
        for rows in self.truth.scan("vector", where, batch):
            yield unpack(rows, self._fill)

    def scan_items(self, batch: int = 1024) -> Iterator[ItemPage]:
        cols = "key, source, kind, path, text, metadata, annotations, size, mtime_ns, sha256, vector"
        for rows in self.truth.scan(cols, None, batch):
            _, vecs = unpack([(r[0], r[11]) for r in rows], self._fill)
            items = [NewItem(key=r[1], source=r[2], kind=r[3], path=r[4], text=r[5],
                             metadata=json.loads(r[6]), size=r[8], mtime_ns=r[9], sha256=r[10],
                             vector=v) for r, v in zip(rows, vecs)]
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
        return self.truth.vectors(ids, self.dim, self._fill)

    def errors(self) -> list[tuple[str, str]]:
        return self.truth.errors()

    def seq(self) -> int:
        with self.truth.locked():
            return self.truth.seq()

    def changes_since(self, seq: int) -> tuple[np.ndarray, np.ndarray, np.ndarray] | None:
        """(written ids, their vectors, deleted ids) after ``seq``; None when the tombstones
        that far back were compacted away (derived state that old must be recomputed)."""
        with self._index_lock, self.truth.transaction() as conn:  # _fill's lock order
            if seq < _purged_seq(conn):
                return None
            pages = list(self.truth.changed_pages(seq, conn, fill=self._fill))
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
        folded = self.truth.folded_seq(conn)
        if self._index is None or self._index.seq < folded:
            # an index older than the fold could not replay the folded items: load the snapshot
            self._index = self._opened(conn, folded)
        seq = self.truth.seq(conn)
        # a snapshot from the future means the truth was replaced, unless vectors are folded:
        # then the writer saved it after this read began, and it holds more, not less
        future = seq < self._index.seq and not folded
        if future or self._index.seq < _purged_seq(conn):
            # (or one older than the tombstones compaction kept: replaying would miss deletions)
            self._index = self._build(conn)
            self.rebuilt = True
        elif seq > self._index.seq:
            self._replay(self._index, seq, conn)
            if self._index.stale:
                self._index = self._fresh(conn, source=self._index)
        return self._index

    def _opened(self, conn, folded: int) -> VectorIndex:
        """The snapshot; without one, a rebuild from SQLite (unless the vectors are folded)."""
        if folded:
            return self._snapshot(folded)
        index = VectorIndex.load(self.directory, self.dim, self.index_kind, self.index_dim)
        if index is None:
            index = self._build(conn)
            self.rebuilt = True
        return index

    def _snapshot(self, folded: int) -> VectorIndex:
        """The snapshot holding the only copy of the vectors folded up to seq ``folded``."""
        index = VectorIndex.load(self.directory, self.dim, self.index_kind, self.index_dim)
        if index is None or index.seq < folded:
            raise CorruptCollectionError(
                f"{self.directory}: the index snapshot, which holds the only copy of most of the "
                "collection's vectors, is missing or damaged",
                hint=f"run `jointspace check {self.directory} --repair`: it removes the items "
                     "whose vectors were lost, and `jointspace index SOURCE -c "
                     f"{self.directory}` then embeds them again from their files")
        return index

    def _replay(self, index: VectorIndex, seq: int, conn) -> None:
        """Bring ``index`` from its seq to ``seq``: deletions, then changed vectors."""
        none = np.zeros(0, np.int64)
        index.apply(none, np.zeros((0, self.dim), np.float32),
                    self.truth.deleted_since(index.seq, conn))
        for ids, vecs in self.truth.changed_pages(index.seq, conn):
            index.apply(ids, vecs, none)
        index.seq = seq

    def _build(self, conn) -> VectorIndex:
        folded = self.truth.folded_seq(conn)
        if not folded:
            return self._fresh(conn)
        # the folded vectors exist only in the snapshot: rebuilding is loading it and replaying
        # what came after (compaction saves a snapshot before it purges); an hnsw graph that
        # replay left stale (it cannot delete) is then rebuilt from its own vectors
        index = self._snapshot(max(folded, _purged_seq(conn)))
        seq = self.truth.seq(conn)
        if seq > index.seq:
            self._replay(index, seq, conn)
        return self._fresh(conn, source=index) if index.stale else index

    def _fresh(self, conn, source: VectorIndex | None = None) -> VectorIndex:
        """A new index of every item: vectors from SQLite, folded ones from ``source``."""
        index = VectorIndex(self.dim, self.index_kind, prefix=self.index_dim)
        fill = None if source is None else _strict(source.vectors_of)
        # page by page: faiss grows its storage in place (realloc), so the peak stays near the
        # index itself; a preallocated array of everything would double it
        index.fill(self.truth.changed_pages(-1, conn, fill=fill))
        index.seq = self.truth.seq(conn)
        return index


def _strict(vectors_of):
    """``vectors_of`` that raises, rather than returns None, for an id the index lacks."""
    def fill(ids: np.ndarray) -> np.ndarray:
        vecs = vectors_of(ids)
        if vecs is None:
            raise CorruptCollectionError("the index snapshot lacks vectors it holds the only "
                                         "copy of", hint="run `jointspace check COLLECTION`")
        return vecs
    return fill


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
