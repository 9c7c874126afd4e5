"""``check``: verify a collection's integrity, say how to repair it, and repair what can be.

Checked: SQLite's own ``integrity_check``; the metadata (model, dim, seq); every item's vector
(length == dim, finite, unit norm) and seq; ids never reused (tombstones, AUTOINCREMENT counter);
the faiss snapshot (present, checksum, seq) and — after replaying the change log as an open would —
the index holding exactly the truth's ids and vectors; orphan snapshot / temp files; error records.
When vectors are folded (``store/local.py``: the snapshot holds their only copy) the whole
snapshot file is hashed as well, and a missing or damaged one is an error.

``repair=True`` takes the writer lock, rebuilds the index from SQLite (the durable truth), saves a
fresh snapshot, deletes orphan files and stale error records, then checks again. Items whose only
vector copy was in a lost snapshot are removed, so that ``jointspace index SOURCE`` embeds them
again. A damaged SQLite file cannot be repaired here: restore it or re-index into a new collection.
"""

from __future__ import annotations

import sqlite3
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from jointspace.errors import (
    CollectionError,
    CollectionNotFoundError,
    CorruptCollectionError,
    JointspaceError,
)
from jointspace.store.base import WriteBatch
from jointspace.store.faiss_index import INDEX_META, VectorIndex, file_hash
from jointspace.store.local import DB_FILE, LocalStore

ERROR, WARNING = "error", "warning"
_CHUNK = 4096
REPAIR_HINT = "run `jointspace check COLLECTION --repair`"
REINDEX_HINT = ("restore collection.sqlite from a backup, or re-index the source into a new "
                "collection (`jointspace index SOURCE -c NEW_DIR`)")


@dataclass
class Finding:
    """One problem: ``error`` (wrong answers or unusable) or ``warning`` (works, needs care)."""

    severity: str
    code: str
    message: str
    fix: str | None = None


@dataclass
class CheckReport:
    path: str
    model: str | None = None
    dim: int | None = None
    counts: dict[str, int] = field(default_factory=dict)
    index: dict[str, Any] = field(default_factory=dict)
    findings: list[Finding] = field(default_factory=list)
    repaired: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not any(f.severity == ERROR for f in self.findings)

    def add(self, severity: str, code: str, message: str, fix: str | None = None) -> None:
        self.findings.append(Finding(severity, code, message, fix))

    def to_dict(self) -> dict[str, Any]:
        return asdict(self) | {"ok": self.ok}


def check_collection(path: str | Path, *, repair: bool = False,
                     lock_timeout: float = 0.0) -> CheckReport:
    """Check the collection at ``path``; with ``repair`` fix the index and orphans first."""
    directory = Path(path)
    if not (directory / DB_FILE).is_file():
        raise CollectionNotFoundError(f"no collection at {directory}",
                                      hint="give the directory holding collection.sqlite")
    repaired = _repair(directory, lock_timeout) if repair else []
    report = CheckReport(str(directory), repaired=repaired)
    try:
        store = LocalStore.open(directory, readonly=True)
    except JointspaceError as exc:
        report.add(ERROR, "unreadable", exc.message, REINDEX_HINT)
        return report
    try:
        _check_truth(store, report)
        if report.ok:
            _check_index(store, report)
        _check_files(directory, report)
    except sqlite3.DatabaseError as exc:
        report.add(ERROR, "sqlite-damaged", f"reading the items failed: {exc}", REINDEX_HINT)
    finally:
        store.close()
    return report


# --- the truth ------------------------------------------------------------------------------
def _check_truth(store: LocalStore, report: CheckReport) -> None:
    conn = store.truth.conn
    problems = [r[0] for r in conn.execute("PRAGMA integrity_check(20)").fetchall()]
    if problems != ["ok"]:
        report.add(ERROR, "sqlite-damaged", "SQLite integrity check failed: "
                   + "; ".join(problems[:5]), REINDEX_HINT)
        return
    report.model, report.dim = store.model, store.dim
    with store.truth.transaction() as c:
        seq = store.truth.seq(c)
        kinds = dict(c.execute("SELECT kind, count(*) FROM items GROUP BY kind").fetchall())
        report.counts = {
            "items": sum(kinds.values()), "images": kinds.get("image", 0),
            "texts": kinds.get("text", 0), "seq": seq,
            "errors": c.execute("SELECT count(*) FROM errors").fetchone()[0],
            "tombstones": c.execute("SELECT count(*) FROM tombstones").fetchone()[0],
        }
        _check_vectors(c, store.dim, seq, store.truth.folded_seq(c), report)
        _check_ids(c, seq, report)


def _check_vectors(c: sqlite3.Connection, dim: int, seq: int, folded: int,
                   report: CheckReport) -> None:
    bad_size, bad_value, bad_norm, ahead, last = [], [], [], [], 0
    report.counts["folded"] = 0  # vectors whose only copy is the snapshot (checked there)
    while True:
        rows = c.execute("SELECT id, vector, seq FROM items WHERE id > ? ORDER BY id LIMIT ?",
                         (last, _CHUNK)).fetchall()
        if not rows:
            break
        last = rows[-1][0]
        good = []
        for i, blob, item_seq in rows:
            if item_seq > seq:
                ahead.append(i)
            if blob == b"" and item_seq <= folded:
                report.counts["folded"] += 1
            elif not isinstance(blob, bytes) or len(blob) != 4 * dim:
                bad_size.append(i)
            else:
                good.append((i, blob))
        if good:
            vecs = np.frombuffer(b"".join(b for _, b in good), np.float32).reshape(len(good), dim)
            finite = np.isfinite(vecs).all(axis=1)
            norms = np.linalg.norm(np.where(finite[:, None], vecs, 0), axis=1)
            bad_value += [good[j][0] for j in np.flatnonzero(~finite)]
            bad_norm += [good[j][0] for j in np.flatnonzero(finite & (np.abs(norms - 1) > 1e-3))]
    for ids, sev, code, what in (
        (bad_size, ERROR, "vector-size", f"vectors whose size is not dim={dim}"),
        (bad_value, ERROR, "vector-nonfinite", "vectors with NaN or infinite values"),
        (bad_norm, WARNING, "vector-norm", "vectors that are not unit length"),
        (ahead, ERROR, "seq-ahead", f"items written by a batch after the recorded seq {seq}"),
    ):
        if ids:
            report.add(sev, code, f"{len(ids)} {what} (ids {_sample(ids)})", REINDEX_HINT)


def _check_ids(c: sqlite3.Connection, seq: int, report: CheckReport) -> None:
    back = [r[0] for r in c.execute(
        "SELECT items.id FROM items JOIN tombstones ON items.id = tombstones.id")]
    if back:
        report.add(ERROR, "id-reused", f"{len(back)} deleted ids are live again "
                   f"(ids {_sample(back)})", REINDEX_HINT)
    late = c.execute("SELECT count(*) FROM tombstones WHERE seq > ?", (seq,)).fetchone()[0]
    if late:
        report.add(ERROR, "seq-ahead", f"{late} deletions after the recorded seq {seq}",
                   REINDEX_HINT)
    top = c.execute("SELECT max(m) FROM (SELECT max(id) AS m FROM items UNION ALL "
                    "SELECT max(id) FROM tombstones)").fetchone()[0] or 0
    counter = c.execute("SELECT seq FROM sqlite_sequence WHERE name='items'").fetchone()
    if top and (counter is None or counter[0] < top):
        report.add(ERROR, "id-counter", f"the id counter is behind the largest id {top}: new "
                   "items would reuse ids", REINDEX_HINT)
    stale = c.execute("SELECT count(*) FROM errors WHERE key IN (SELECT key FROM items)")
    n = stale.fetchone()[0]
    if n:
        report.add(WARNING, "stale-errors", f"{n} error records for items that are indexed",
                   REPAIR_HINT)


# --- the index ------------------------------------------------------------------------------
def _check_index(store: LocalStore, report: CheckReport) -> None:
    directory = store.directory
    snapshot = VectorIndex.load(directory, store.dim, store.index_kind, store.index_dim)
    with store._index_lock, store.truth.transaction() as c:
        seq, folded = store.truth.seq(c), store.truth.folded_seq(c)
        state = _snapshot_state(directory, snapshot, seq)
        if folded and (state != "ok" or not _holds_folded(directory, snapshot, folded)):
            report.index = {"kind": store.index_kind, "snapshot": "lost",
                            "snapshot_seq": snapshot.seq if snapshot else None, "seq": seq}
            _lost(report, f"the index snapshot holding the only copy of "
                  f"{report.counts.get('folded', 0)} vectors is missing or damaged")
            return
        report.index = {"kind": store.index_kind, "snapshot": state,
                        "snapshot_seq": snapshot.seq if snapshot else None, "seq": seq}
        if state != "ok":
            report.add(WARNING, f"snapshot-{state}", _SNAPSHOT_TEXT[state], REPAIR_HINT)
        index = store._synced(c)  # what an open would search: snapshot + replayed change log
        try:
            ids, vecs = store.truth.all_vectors(c, fill=store._fill)
        except CollectionError:  # a folded item the snapshot lacks: its vector is lost
            _lost(report, "the index snapshot lacks vectors it holds the only copy of")
            return
    got_ids, got_vecs = index.contents()
    report.index["ntotal"] = len(got_ids)
    if len(set(got_ids.tolist())) != len(got_ids):
        report.add(ERROR, "index-duplicates", "the index holds an id twice", REPAIR_HINT)
    missing = np.setdiff1d(ids, got_ids)
    phantom = np.setdiff1d(got_ids, ids)
    if len(missing) or len(phantom):
        report.add(ERROR, "index-mismatch", f"index vs truth: {len(missing)} items missing "
                   f"(ids {_sample(missing)}), {len(phantom)} phantom ids "
                   f"({_sample(phantom)})", REPAIR_HINT)
        return
    order = np.argsort(got_ids, kind="stable")
    vecs = index.encoded(vecs) if len(ids) else vecs  # the code kinds hold codes, not floats
    if len(ids) and not np.array_equal(got_vecs[order], vecs):
        differ = ids[np.any(got_vecs[order] != vecs, axis=1)]
        report.add(ERROR, "index-vectors", f"{len(differ)} index vectors differ from the stored "
                   f"ones (ids {_sample(differ)})", REPAIR_HINT)


_SNAPSHOT_TEXT = {
    "missing": "no index snapshot: every open rebuilds the index from SQLite",
    "corrupt": "the index snapshot is damaged (checksum, format or size): ignored and rebuilt "
               "from SQLite on every open",
    "future": "the index snapshot is newer than the SQLite truth (restored from elsewhere?): "
              "ignored and rebuilt on every open",
}


def _lost(report: CheckReport, what: str) -> None:
    report.add(ERROR, "snapshot-lost", what, f"{REPAIR_HINT}: it removes those items; then "
               "`jointspace index SOURCE -c COLLECTION` embeds them again from their files")


def _holds_folded(directory: Path, snapshot: VectorIndex | None, folded: int) -> bool:
    """The snapshot exists, covers the fold, and its whole file matches its recorded hash."""
    return snapshot is not None and snapshot.seq >= folded and _whole_file_ok(directory)


def _whole_file_ok(directory: Path) -> bool:
    """The current snapshot file hashes to its recorded sha256 (opening only spot-checks it)."""
    import json

    try:
        meta = json.loads((directory / INDEX_META).read_text())
        return file_hash(directory / Path(meta["file"]).name) == meta["sha256"]
    except (OSError, ValueError, KeyError, TypeError):
        return False


def _snapshot_state(directory: Path, snapshot: VectorIndex | None, seq: int) -> str:
    if snapshot is None:
        return "corrupt" if (directory / INDEX_META).exists() else "missing"
    return "future" if snapshot.seq > seq else "ok"


# --- files and repair -------------------------------------------------------------------------
def orphan_files(directory: Path) -> list[Path]:
    """Snapshot files no ``index.json`` points at, and temp files of interrupted writes."""
    import json

    try:
        current = json.loads((directory / INDEX_META).read_text()).get("file")
    except (OSError, ValueError, AttributeError):
        current = None
    return sorted(p for p in directory.iterdir() if p.is_file() and (
        p.name.endswith(".tmp") or (p.name.startswith("index-") and p.suffix == ".faiss"
                                    and p.name != current)))


def _check_files(directory: Path, report: CheckReport) -> None:
    orphans = orphan_files(directory)
    if orphans:
        size = sum(p.stat().st_size for p in orphans)
        report.add(WARNING, "orphan-files", f"{len(orphans)} leftover file(s), {size} bytes: "
                   + ", ".join(p.name for p in orphans[:5]), REPAIR_HINT)


def _repair(directory: Path, lock_timeout: float) -> list[str]:
    done = []
    store = LocalStore.open(directory)
    try:
        with store.truth.locked() as conn:
            problems = [r[0] for r in conn.execute("PRAGMA quick_check(5)").fetchall()]
        if problems != ["ok"]:
            raise CorruptCollectionError(
                f"{directory / DB_FILE} is damaged ({'; '.join(problems)}); the index can only be "
                "rebuilt from an intact SQLite file", hint=REINDEX_HINT)
        with store.writer(lock_timeout):
            lost = _lost_folded(store, directory)
            if len(lost):
                store.write(WriteBatch(deletes=lost.tolist()))
                store.truth.unfold()
                done.append(f"removed {len(lost)} items whose vectors were lost with the index "
                            "snapshot: `jointspace index SOURCE -c COLLECTION` embeds them again")
            index = store.rebuild_index()
            store.save_index()
            done.append(f"rebuilt the index from SQLite ({index.ntotal} vectors) and saved it")
            orphans = orphan_files(directory)
            for p in orphans:
                p.unlink(missing_ok=True)
            if orphans:
                done.append(f"deleted {len(orphans)} orphan file(s)")
            with store.truth.transaction(write=True) as c:
                n = c.execute("DELETE FROM errors WHERE key IN (SELECT key FROM items)").rowcount
            if n:
                done.append(f"cleared {n} stale error record(s)")
    finally:
        store.close()
    return done


def _lost_folded(store: LocalStore, directory: Path) -> np.ndarray:
    """Ids of folded items whose only vector copy, the snapshot, is missing or damaged."""
    folded = store.truth.folded_seq()
    if not folded:
        return np.zeros(0, np.int64)
    snapshot = VectorIndex.load(directory, store.dim, store.index_kind, store.index_dim)
    if _holds_folded(directory, snapshot, folded):
        return np.zeros(0, np.int64)
    return store.truth.folded_ids()


def _sample(ids, n: int = 5) -> str:
    ids = [int(i) for i in ids]
    return ", ".join(map(str, ids[:n])) + (", ..." if len(ids) > n else "")
