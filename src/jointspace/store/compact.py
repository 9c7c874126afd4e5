"""Compaction: drop tombstones no snapshot needs any more, then VACUUM the SQLite file.

Tombstones let a reader bring an old index snapshot up to date. Compaction first saves a snapshot
at the current seq ``S``, then deletes tombstones up to ``S`` and records ``S`` as
``tombstones_purged`` in meta, all in one transaction; any index older than ``S`` (another
process's in-memory copy, an old snapshot file) is then rebuilt from SQLite instead of replayed, so
it can never keep an item whose tombstone is gone. VACUUM runs last and is atomic on its own: a
kill at any point leaves a consistent collection.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from jointspace.store.local import DB_FILE, PURGED_KEY, LocalStore


def compact_collection(path: str | Path, *, lock_timeout: float = 0.0,
                       vacuum: bool = True) -> dict[str, Any]:
    """Compact the collection at ``path`` (takes the writer lock); returns what it did."""
    directory = Path(path)
    store = LocalStore.open(directory)
    try:
        with store.writer(lock_timeout):
            before = _size(directory)
            store.save_index()
            seq = int(store.index_status()["seq"])
            truth = store.truth
            with truth.transaction(write=True) as c:
                purged = c.execute("DELETE FROM tombstones WHERE seq <= ?", (seq,)).rowcount
                c.execute("INSERT OR REPLACE INTO meta VALUES (?, ?)", (PURGED_KEY, str(seq)))
            if vacuum:
                with truth.locked() as conn:
                    conn.execute("VACUUM")
                    conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
            return {"tombstones_removed": purged, "seq": seq, "bytes_before": before,
                    "bytes_after": _size(directory)}
    finally:
        store.close()


def _size(directory: Path) -> int:
    return sum(p.stat().st_size for p in directory.glob(DB_FILE + "*") if p.is_file())
