"""The collection's SQLite schema, versioned from day one with step migrations."""

from __future__ import annotations

import sqlite3

SCHEMA_VERSION = 5

# MIGRATIONS[n] upgrades a database at version n-1 to version n.
MIGRATIONS: dict[int, list[str]] = {
    1: [
        """CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL)""",
        # AUTOINCREMENT: ids are never reused, so a stale index can never confuse two items.
        # seq: the write batch that last changed this item's vector (drives index replay).
        """CREATE TABLE items (
            id INTEGER PRIMARY KEY AUTOINCREMENT,
            key TEXT NOT NULL UNIQUE,
            source TEXT NOT NULL,
            kind TEXT NOT NULL CHECK (kind IN ('image', 'text')),
            path TEXT,
            text TEXT,
            metadata TEXT NOT NULL DEFAULT '{}',
            size INTEGER,
            mtime_ns INTEGER,
            sha256 TEXT,
            vector BLOB NOT NULL,
            seq INTEGER NOT NULL,
            created_at REAL NOT NULL,
            updated_at REAL NOT NULL
        )""",
        "CREATE INDEX items_seq ON items(seq)",
        "CREATE INDEX items_source ON items(source)",
        # Deleted ids, so readers holding an older index snapshot can replay removals.
        "CREATE TABLE tombstones (id INTEGER PRIMARY KEY, seq INTEGER NOT NULL)",
        "CREATE INDEX tombstones_seq ON tombstones(seq)",
        """CREATE TABLE errors (
            key TEXT PRIMARY KEY,
            source TEXT NOT NULL,
            path TEXT NOT NULL,
            reason TEXT NOT NULL,
            at REAL NOT NULL
        )""",
    ],
    # Annotations: metadata that jointspace or the user adds (zero-shot tags...), kept apart from
    # the source's metadata so re-syncing a source never wipes them. Reads merge both.
    2: ["ALTER TABLE items ADD COLUMN annotations TEXT NOT NULL DEFAULT '{}'"],
    # Derived state kept with the collection (query banks, calibrations, compressed codes...):
    # opaque bytes by name, with the seq of the items it was computed from so readers can tell
    # whether it is stale.
    3: ["""CREATE TABLE state (
            name TEXT PRIMARY KEY,
            seq INTEGER NOT NULL,
            data BLOB NOT NULL,
            updated_at REAL NOT NULL
        )"""],
    # Items per kind (info, and every search's "is this collection mixed?") from an index, not
    # a scan of the table, whose rows carry the vectors: ~2.4 GB read at 1M x 512.
    4: ["CREATE INDEX items_kind ON items(kind)"],
    # Folded vectors: an empty vector blob now means "held by the flat snapshot" (meta
    # folded_seq, store/sqlite.py). No table changes; the version stops older jointspace
    # releases, which would read an empty blob as a damaged vector.
    5: [],
}


def migrate(conn: sqlite3.Connection) -> int:
    """Bring ``conn`` to SCHEMA_VERSION, one step per transaction; returns the version."""
    version = conn.execute("PRAGMA user_version").fetchone()[0]
    if version > SCHEMA_VERSION:
        from jointspace.errors import CorruptCollectionError

        raise CorruptCollectionError(
            f"collection schema version {version} is newer than this jointspace ({SCHEMA_VERSION})",
            hint="upgrade jointspace to open it",
        )
    while version < SCHEMA_VERSION:
        conn.execute("BEGIN IMMEDIATE")
        try:
            # re-read under the write lock: another process opening it may have migrated already
            version = conn.execute("PRAGMA user_version").fetchone()[0]
            if version < SCHEMA_VERSION:
                version += 1
                for stmt in MIGRATIONS[version]:
                    conn.execute(stmt)
                conn.execute(f"PRAGMA user_version = {version}")
            conn.execute("COMMIT")
        except BaseException:
            if conn.in_transaction:
                conn.execute("ROLLBACK")
            raise
    return version
