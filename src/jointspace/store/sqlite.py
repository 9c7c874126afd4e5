"""The durable truth of a collection: one SQLite file in WAL mode.

Every write batch is a single IMMEDIATE transaction that bumps the ``seq`` counter; items whose
vector changed carry that seq, deletions leave a tombstone with it. Any reader can therefore bring
an index snapshot taken at seq ``s`` up to date by replaying ``deleted_since(s)`` and
``changed_pages(s)``.

Folded vectors: once a durable snapshot at seq ``S`` holds them, ``fold(S)`` empties the
vector blobs of items unchanged since ``S`` (meta ``folded_seq``), so a large collection stores
its float vectors once (``store/local.py`` says when). Reads that meet an empty blob take the
vector from the caller's ``fill`` (the snapshot); this module never reads the snapshot itself.
"""

from __future__ import annotations

import json
import os
import sqlite3
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from urllib.parse import quote

import numpy as np

from jointspace.errors import (
    CollectionError,
    CollectionLockedError,
    CorruptCollectionError,
    JointspaceError,
)
from jointspace.iters import batched
from jointspace.store.base import (
    Fingerprint,
    KeywordInputs,
    StateBlob,
    StoredItem,
    WriteBatch,
    canonical_json,
    keyword_text,
)
from jointspace.store.durable import fsync_dir
from jointspace.store.filters import Filter
from jointspace.store.schema import SCHEMA_VERSION, migrate

_CHUNK = 900  # stay under SQLite's bound-parameter limit
PAGE_SIZE = 16384
FOLDED_KEY = "folded_seq"  # meta: empty vector blobs of items with seq <= this are in the snapshot
# ids -> their float vectors, for items whose SQLite copy was folded into the snapshot
Fill = Callable[[np.ndarray], np.ndarray]


class SqliteTruth:
    """Thread-safe access to ``collection.sqlite``."""

    def __init__(self, path: Path, *, readonly: bool = False) -> None:
        self.path = path
        self.readonly = readonly
        self._lock = threading.RLock()
        try:
            self.conn = _connect(path, readonly)
            self.conn.execute("PRAGMA busy_timeout = 30000")
            if not readonly:
                # A new file only (ignored once it has pages): a 2 KB vector row leaves half of
                # a 4 KB page empty; 16 KB pages hold 6-7 such rows (benchmarks/scale.py: disk).
                self.conn.execute(f"PRAGMA page_size = {PAGE_SIZE}")
                _patiently(self.conn, "PRAGMA journal_mode = WAL")
                # FULL: a commit the caller saw is on disk, even across power loss.
                self.conn.execute("PRAGMA synchronous = FULL")
                migrate(self.conn)
            elif self.conn.execute("PRAGMA user_version").fetchone()[0] < SCHEMA_VERSION:
                _migrate_separately(path)
            self.conn.execute("SELECT count(*) FROM meta").fetchone()
        except sqlite3.Error as exc:
            raise db_error(exc, path) from exc

    # --- transactions -------------------------------------------------------------------
    @contextmanager
    def locked(self) -> Iterator[sqlite3.Connection]:
        """The connection, exclusively; SQLite errors leave as JointspaceErrors with a hint."""
        with self._lock:
            try:
                yield self.conn
            except sqlite3.Error as exc:
                raise db_error(exc, self.path) from exc

    @contextmanager
    def transaction(self, write: bool = False) -> Iterator[sqlite3.Connection]:
        """A consistent snapshot (reads) or an exclusive-writer transaction (writes)."""
        with self.locked():
            _patiently(self.conn, "BEGIN IMMEDIATE" if write else "BEGIN")
            try:
                yield self.conn
                self.conn.execute("COMMIT")
            except BaseException:
                # SQLite may already have rolled back (disk full, I/O error): a failing ROLLBACK
                # must not hide the real error, nor leave the connection inside a transaction.
                if self.conn.in_transaction:
                    try:
                        self.conn.execute("ROLLBACK")
                    except sqlite3.Error:
                        pass
                raise

    # --- meta ---------------------------------------------------------------------------
    def get_meta(self) -> dict[str, str]:
        with self.locked():
            return dict(self.conn.execute("SELECT key, value FROM meta").fetchall())

    def schema_version(self) -> int:
        """The collection format: the schema version the file is at (SQLite's user_version)."""
        with self.locked():
            return int(self.conn.execute("PRAGMA user_version").fetchone()[0])

    def set_meta(self, values: dict[str, str]) -> None:
        with self.transaction(write=True) as c:
            c.executemany("INSERT OR REPLACE INTO meta VALUES (?, ?)", list(values.items()))

    def seq(self, conn: sqlite3.Connection | None = None) -> int:
        row = (conn or self.conn).execute("SELECT value FROM meta WHERE key='seq'").fetchone()
        return int(row[0]) if row else 0

    # --- writes -------------------------------------------------------------------------
    def write(self, batch: WriteBatch) -> int:
        """Apply a batch atomically; returns the new seq."""
        now = time.time()
        with self.transaction(write=True) as c:
            seq = self.seq(c) + 1
            c.executemany(
                """INSERT INTO items (key, source, kind, path, text, metadata, size, mtime_ns,
                    sha256, vector, seq, created_at, updated_at)
                VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?)
                ON CONFLICT(key) DO UPDATE SET source=excluded.source, kind=excluded.kind,
                    path=excluded.path, text=excluded.text, metadata=excluded.metadata,
                    size=excluded.size, mtime_ns=excluded.mtime_ns, sha256=excluded.sha256,
                    vector=excluded.vector, seq=excluded.seq, updated_at=excluded.updated_at""",
                [(it.key, it.source, it.kind, it.path, it.text, canonical_json(it.metadata),
                  it.size, it.mtime_ns, it.sha256,
                  np.ascontiguousarray(it.vector, dtype=np.float32).tobytes(), seq, now, now)
                 for it in batch.upserts],
            )
            for key, size, mtime_ns, metadata, text in batch.touches:
                c.execute(
                    """UPDATE items SET size=?, mtime_ns=?, updated_at=?,
                        metadata=COALESCE(?, metadata), text=COALESCE(?, text) WHERE key=?""",
                    (size, mtime_ns, now,
                     canonical_json(metadata) if metadata is not None else None, text, key),
                )
            for chunk in batched(batch.deletes, _CHUNK):
                marks = ",".join("?" * len(chunk))
                c.execute(f"DELETE FROM items WHERE id IN ({marks})", chunk)
                c.executemany("INSERT OR REPLACE INTO tombstones VALUES (?, ?)",
                              [(i, seq) for i in chunk])
            c.executemany(
                "INSERT OR REPLACE INTO errors VALUES (?,?,?,?,?)",
                [(key, src, path, why, now) for key, src, path, why in batch.errors],
            )
            c.executemany("UPDATE items SET annotations = json_patch(annotations, ?) WHERE id = ?",
                          [(canonical_json(patch), int(i)) for i, patch in batch.annotations])
            for chunk in batched(batch.clear_errors, _CHUNK):
                c.execute(f"DELETE FROM errors WHERE key IN ({','.join('?' * len(chunk))})", chunk)
            c.execute("INSERT OR REPLACE INTO meta VALUES ('seq', ?)", (str(seq),))
        return seq

    # --- reads --------------------------------------------------------------------------
    def count(self) -> int:
        with self.locked():
            return self.conn.execute("SELECT count(*) FROM items").fetchone()[0]

    def fingerprints(self, keys: Sequence[str]) -> dict[str, Fingerprint]:
        out: dict[str, Fingerprint] = {}
        with self.locked():
            for chunk in batched(list(keys), _CHUNK):
                rows = self.conn.execute(
                    "SELECT key, id, size, mtime_ns, sha256, metadata, text FROM items "
                    f"WHERE key IN ({','.join('?' * len(chunk))})",
                    chunk,
                ).fetchall()
                for key, *rest in rows:
                    out[key] = Fingerprint(*rest)
        return out

    def keys_of_source(self, source: str) -> dict[str, int]:
        with self.locked():
            rows = self.conn.execute("SELECT key, id FROM items WHERE source=?", (source,))
            return dict(rows.fetchall())

    def changed_pages(self, seq: int, conn: sqlite3.Connection, batch: int = 8192,
                      fill: Fill | None = None) -> Iterator[tuple[np.ndarray, np.ndarray]]:
        """(ids, vectors) changed after ``seq`` (every item for seq < 0), in pages by id.

        Memory stays at one page however many items changed (a bulk import, a rebuild). Call
        inside one transaction so the pages are a consistent snapshot.
        """
        ids = [r[0] for r in conn.execute("SELECT id FROM items WHERE seq > ? ORDER BY id",
                                          (seq,))]
        for start in range(0, len(ids), batch):
            lo, hi = ids[start], ids[min(start + batch, len(ids)) - 1]
            # +seq: walk the id range by rowid rather than the seq index
            yield unpack(conn.execute("SELECT id, vector FROM items WHERE id BETWEEN ? AND ? "
                                      "AND +seq > ? ORDER BY id", (lo, hi, seq)).fetchall(), fill)

    def deleted_since(self, seq: int, conn: sqlite3.Connection) -> np.ndarray:
        gone = conn.execute("SELECT id FROM tombstones WHERE seq > ?", (seq,)).fetchall()
        return np.array([g[0] for g in gone], dtype=np.int64)

    def all_vectors(self, conn: sqlite3.Connection | None = None,
                    fill: Fill | None = None) -> tuple[np.ndarray, np.ndarray]:
        rows = (conn or self.conn).execute("SELECT id, vector FROM items ORDER BY id").fetchall()
        return unpack(rows, fill)

    def filter_ids(self, where: Filter, conn: sqlite3.Connection | None = None) -> np.ndarray:
        sql, params = where.to_sql()
        try:
            rows = (conn or self.conn).execute(f"SELECT id FROM items WHERE {sql}", params)
            return np.fromiter((r[0] for r in rows), dtype=np.int64)
        except sqlite3.OperationalError as exc:
            from jointspace.errors import FilterSyntaxError

            raise FilterSyntaxError(f"filter could not be evaluated: {exc}") from exc

    def get(self, ids: Sequence[int], conn: sqlite3.Connection | None = None) -> list[StoredItem]:
        c = conn or self.conn
        found: dict[int, StoredItem] = {}
        with self.locked():
            for chunk in batched(_storable_ids(ids), _CHUNK):
                rows = c.execute(
                    "SELECT id, key, source, kind, path, text, metadata, annotations FROM items "
                    f"WHERE id IN ({','.join('?' * len(chunk))})",
                    chunk,
                )
                for r in rows:
                    found[r[0]] = StoredItem(*r[:6], metadata=merged_metadata(r[6], r[7]))
        return [found[i] for i in ids if i in found]

    def vectors(self, ids: Sequence[int], dim: int, fill: Fill | None = None) -> np.ndarray:
        """The vectors of those of ``ids`` that exist, in that order."""
        rows: dict[int, bytes] = {}
        with self.locked():
            for chunk in batched(_storable_ids(ids), _CHUNK):
                rows.update(self.conn.execute(
                    f"SELECT id, vector FROM items WHERE id IN ({','.join('?' * len(chunk))})",
                    chunk,
                ))
        found = [(i, rows[i]) for i in map(int, ids) if i in rows]
        return unpack(found, fill)[1] if found else np.zeros((0, dim), np.float32)

    # --- folding ----------------------------------------------------------------------------
    def folded_seq(self, conn: sqlite3.Connection | None = None) -> int:
        """0, or the seq up to which empty vector blobs mean "in the snapshot"."""
        with self.locked():
            row = (conn or self.conn).execute("SELECT value FROM meta WHERE key = ?",
                                              (FOLDED_KEY,)).fetchone()
        return int(row[0]) if row else 0

    def fold(self, seq: int) -> int:
        """Empty the vector blobs of items unchanged since ``seq``; returns how many.

        Call only once a durable snapshot at ``seq`` holds every item's vector: from then on it
        is their only copy. Items folded before are not read again (their seq is at most the
        previous ``folded_seq``; a later write gives an item a later seq and a full blob).
        """
        with self.transaction(write=True) as c:
            since = self.folded_seq(c)
            n = c.execute("UPDATE items SET vector = x'' WHERE seq > ? AND seq <= ? "
                          "AND length(vector) > 0", (since, seq)).rowcount
            if n:
                c.execute("INSERT OR REPLACE INTO meta VALUES (?, ?)", (FOLDED_KEY, str(seq)))
        return n

    def folded_ids(self) -> np.ndarray:
        """Ids of the items whose vector is held only by the snapshot."""
        with self.locked() as c:
            rows = c.execute("SELECT id FROM items WHERE length(vector) = 0 ORDER BY id")
            return np.fromiter((r[0] for r in rows), np.int64)

    def unfold(self) -> None:
        """Forget ``folded_seq`` (once no folded item is left, e.g. after removing them)."""
        with self.transaction(write=True) as c:
            c.execute("DELETE FROM meta WHERE key = ?", (FOLDED_KEY,))

    def reclaim(self, freed: int, min_share: float = 0.25) -> bool:
        """VACUUM when ``freed`` bytes (a fold's emptied blobs) are at least ``min_share`` of the
        file; returns whether it did. Shrunk rows leave their pages part-empty rather than free,
        and SQLite never gives space back by itself. Readers carry on meanwhile (WAL)."""
        with self.locked() as c:
            pages = c.execute("PRAGMA page_count").fetchone()[0]
            if freed < min_share * pages * c.execute("PRAGMA page_size").fetchone()[0]:
                return False
            c.execute("VACUUM")
            c.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        return True

    def errors(self) -> list[tuple[str, str]]:
        with self.locked():
            return self.conn.execute("SELECT path, reason FROM errors ORDER BY path").fetchall()

    def scan(self, columns: str, where: Filter | None, batch: int) -> Iterator[list[tuple]]:
        """Rows of ``SELECT id, <columns>`` (matching ``where``) in pages of ``batch``, by id.

        Paged by id so a long scan never holds the lock (or a read transaction) for long.
        """
        sql, params = where.to_sql() if where is not None else ("1", [])
        last = -1
        while True:
            with self.locked() as c:
                rows = c.execute(f"SELECT id, {columns} FROM items WHERE id > ? AND ({sql}) "
                                 "ORDER BY id LIMIT ?", [last, *params, batch]).fetchall()
            if not rows:
                return
            yield rows
            last = rows[-1][0]

    def keyword_inputs(self) -> KeywordInputs:
        with self.transaction() as c:
            seq = self.seq(c)
            rows = c.execute("SELECT id, text, metadata, annotations FROM items ORDER BY id")
            ids, texts = [], []
            for i, text, meta, notes in rows:
                ids.append(i)
                texts.append(keyword_text(text, merged_metadata(meta, notes)))
        return KeywordInputs(seq, ids, texts)

    def summary(self) -> dict[str, object]:
        """Items per kind and the number of error records, on one snapshot."""
        with self.transaction() as c:
            kinds = dict(c.execute("SELECT kind, count(*) FROM items GROUP BY kind").fetchall())
            n_errors = c.execute("SELECT count(*) FROM errors").fetchone()[0]
        return {"kinds": kinds, "errors": n_errors}

    # --- derived state ------------------------------------------------------------------
    def get_state(self, name: str) -> StateBlob | None:
        with self.locked():
            row = self.conn.execute("SELECT data, seq FROM state WHERE name = ?", (name,)).fetchone()
        return StateBlob(bytes(row[0]), int(row[1])) if row else None

    def put_state(self, name: str, data: bytes, seq: int | None = None) -> None:
        """Store ``data`` under ``name``, stamped with ``seq`` (default: the current seq)."""
        with self.transaction(write=True) as c:
            stamp = self.seq(c) if seq is None else seq
            c.execute("INSERT OR REPLACE INTO state VALUES (?, ?, ?, ?)",
                      (name, stamp, sqlite3.Binary(data), time.time()))

    def delete_state(self, name: str) -> None:
        with self.transaction(write=True) as c:
            c.execute("DELETE FROM state WHERE name = ?", (name,))

    def state_names(self) -> list[str]:
        with self.locked():
            return [r[0] for r in self.conn.execute("SELECT name FROM state ORDER BY name")]

    def close(self) -> None:
        with self._lock:
            self.conn.close()


def create_database(path: Path) -> None:
    """Make an empty, migrated collection database at ``path`` unless one is there.

    Built under a temporary name, then linked into place: a process killed while creating leaves
    no database, or a complete one, never a file without tables (a killed build leaves only its
    temporary file, which the next create removes once that process is gone).
    """
    if path.exists():
        return
    for stale in path.parent.glob(f".{path.name}.*.tmp*"):
        pid = stale.name.split(".")[-2]
        if pid.isdigit() and not _alive(int(pid)):
            stale.unlink(missing_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        SqliteTruth(tmp).close()  # closing the last connection checkpoints the WAL into it
        try:
            os.link(tmp, path)
        except FileExistsError:
            pass  # another process created it first: theirs stands
        except OSError:  # a filesystem without hard links
            if not path.exists():
                os.replace(tmp, path)
        fsync_dir(path.parent)
    finally:
        for leftover in (tmp, tmp.with_name(tmp.name + "-wal"), tmp.with_name(tmp.name + "-shm")):
            leftover.unlink(missing_ok=True)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _patiently(conn: sqlite3.Connection, sql: str, timeout: float = 30.0) -> None:
    """Run ``sql``, retrying SQLITE_BUSY for up to ``timeout`` seconds.

    The busy timeout covers most waits, but SQLite answers BUSY at once where waiting inside the
    library could deadlock (a connection that already reads asking to write, a journal-mode switch
    racing another opener); those are safe to retry from the outside.
    """
    deadline = time.monotonic() + timeout
    delay = 0.005
    while True:
        try:
            conn.execute(sql)
            return
        except sqlite3.OperationalError as exc:
            busy = (getattr(exc, "sqlite_errorname", "") or "").startswith("SQLITE_BUSY")
            if not busy or time.monotonic() >= deadline:
                raise
            time.sleep(delay)
            delay = min(delay * 2, 0.2)


def _connect(path: Path, readonly: bool) -> sqlite3.Connection:
    # quoted: a '?' or '#' in a directory name must not end the file name in a URI
    uri = "file:" + quote(str(path.absolute()))

    def connect(query: str) -> sqlite3.Connection:
        return sqlite3.connect(uri + query, uri=True, isolation_level=None,
                               check_same_thread=False, timeout=30)

    if not readonly:
        return connect("")
    conn = connect("?mode=ro")
    try:
        conn.execute("SELECT 1 FROM sqlite_master LIMIT 1").fetchone()
        return conn
    except sqlite3.OperationalError as exc:
        if not _may_read_immutable(path, getattr(exc, "sqlite_errorname", "")):
            raise
        conn.close()
    # WAL readers need to create the -shm file next to the database, which fails on read-only
    # media or in a directory we may not write. With no -wal file there is no pending write, so
    # the file is read as immutable: never written, it shows the last committed state.
    return connect("?mode=ro&immutable=1")


def _may_read_immutable(path: Path, error: str) -> bool:
    if Path(f"{path}-wal").exists() and not _on_readonly_fs(path):
        return False  # a writer may be active: only a real WAL reader sees its commits safely
    if error == "SQLITE_READONLY_DIRECTORY":
        return True
    return error == "SQLITE_CANTOPEN" and _on_readonly_fs(path)


def _on_readonly_fs(path: Path) -> bool:
    try:
        return bool(os.statvfs(path.parent).f_flag & os.ST_RDONLY)
    except OSError:
        return False


_CORRUPT_HINT = "the SQLite file is damaged; restore it from a backup or re-index the source"


def db_error(exc: sqlite3.Error, path: Path) -> JointspaceError:
    """A SQLite error as the JointspaceError that says what happened and what to do."""
    name = getattr(exc, "sqlite_errorname", "") or ""
    if name == "SQLITE_FULL":
        return CollectionError(f"disk full while writing {path}: {exc}",
                               hint="free some disk space and re-run; committed batches are kept")
    if name.startswith("SQLITE_IOERR"):
        return CollectionError(f"I/O error on {path}: {exc} ({name})",
                               hint="check free space, file-size limits and the disk; committed "
                                    "batches are kept, re-run to resume")
    if name.startswith("SQLITE_READONLY") or (name == "SQLITE_CANTOPEN" and _on_readonly_fs(path)):
        return CollectionError(f"{path} is read-only: {exc}",
                               hint="search works read-only; to write, fix the permissions or "
                                    "mount it writable")
    if name.startswith("SQLITE_CANTOPEN"):
        return CollectionError(f"cannot open {path}: {exc}",
                               hint="check that the directory exists and is readable, and (for "
                                    "a collection being written) writable")
    if name.startswith(("SQLITE_BUSY", "SQLITE_LOCKED")):
        return CollectionLockedError(f"{path} stayed locked: {exc}",
                                     hint="another process holds it; retry when it is done")
    if name.startswith(("SQLITE_CORRUPT", "SQLITE_NOTADB")) or not isinstance(
            exc, sqlite3.OperationalError):
        return CorruptCollectionError(f"cannot read {path}: {exc}", hint=_CORRUPT_HINT)
    return CollectionError(f"SQLite error on {path}: {exc}",
                           hint="run `jointspace check COLLECTION` to see what is wrong")


def _migrate_separately(path: Path) -> None:
    """Upgrade an older collection opened read-only, through a short-lived writable connection."""
    from jointspace.errors import CollectionError

    try:
        conn = sqlite3.connect(path, isolation_level=None, timeout=30)
        try:
            migrate(conn)
        finally:
            conn.close()
    except sqlite3.OperationalError as exc:
        raise CollectionError(
            f"{path} uses an older collection format and cannot be upgraded here ({exc})",
            hint="open it once where it is writable (e.g. `jointspace index` or `check`)",
        ) from exc


def merged_metadata(metadata: str, annotations: str) -> dict:
    """The metadata an item shows (from the two JSON columns): the source's, then annotations."""
    out = json.loads(metadata)
    out.update(json.loads(annotations))
    return out


def _storable_ids(ids) -> list[int]:
    """``ids`` that an item can have: SQLite integers are signed 64-bit, and a larger one
    (``jointspace remove 99999999999999999999``) is simply no item, not an OverflowError."""
    return [i for i in map(int, ids) if -(2**63) <= i < 2**63]


def unpack(rows, fill: Fill | None = None) -> tuple[np.ndarray, np.ndarray]:
    """(ids, vectors) of ``(id, blob)`` rows; folded rows (empty blobs) come from ``fill``."""
    ids, blobs = [], []
    for i, blob in rows:
        ids.append(i)
        blobs.append(blob)
    if not ids:
        return np.zeros(0, np.int64), np.zeros((0, 0), np.float32)
    ids_arr = np.asarray(ids, dtype=np.int64)
    folded = np.fromiter((not b for b in blobs), bool, len(blobs))
    if not folded.any():
        return ids_arr, np.frombuffer(b"".join(blobs), dtype=np.float32).reshape(len(ids), -1)
    if fill is None:
        raise CorruptCollectionError(
            f"{int(folded.sum())} items have no vector in SQLite and no index snapshot was "
            "given to read them from", hint="run `jointspace check COLLECTION`")
    from_snapshot = fill(ids_arr[folded])
    vecs = np.empty((len(ids), from_snapshot.shape[1]), np.float32)
    vecs[folded] = from_snapshot
    if not folded.all():
        vecs[~folded] = np.frombuffer(b"".join(blobs), np.float32).reshape(-1, vecs.shape[1])
    return ids_arr, vecs
