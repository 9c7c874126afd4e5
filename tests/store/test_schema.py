import sqlite3

import pytest

from jointspace.errors import CorruptCollectionError
from jointspace.store import LocalStore
from jointspace.store.local import DB_FILE
from jointspace.store.schema import MIGRATIONS, SCHEMA_VERSION


def test_v1_collection_is_migrated_in_place(tmp_path):
    (tmp_path / "c").mkdir()
    conn = sqlite3.connect(tmp_path / "c" / DB_FILE)
    for stmt in MIGRATIONS[1]:
        conn.execute(stmt)
    conn.execute("PRAGMA user_version = 1")
    conn.executemany("INSERT INTO meta VALUES (?, ?)",
                     [("model", "hash:4"), ("dim", "4"), ("seq", "1"), ("format", "1")])
    conn.execute("INSERT INTO items (key, source, kind, text, metadata, vector, seq, created_at, "
                 "updated_at) VALUES ('k', 's', 'text', 't', '{\"a\": 1}', ?, 1, 0, 0)",
                 (b"\0" * 16,))
    conn.commit()
    conn.close()

    store = LocalStore.open(tmp_path / "c", readonly=True)  # e.g. `jointspace search`
    assert store.truth.conn.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION
    assert store.get([1])[0].metadata == {"a": 1}
    store.close()
    # info() reports the format the file is now at, not the stale meta "format" row it was born with
    from jointspace.models.hashing import HashEmbedder
    from jointspace.query import Collection

    with Collection(LocalStore.open(tmp_path / "c", readonly=True), HashEmbedder(4)) as col:
        assert col.info()["format"] == SCHEMA_VERSION == 5


def test_newer_schema_is_refused(tmp_path):
    LocalStore.create(tmp_path / "c", "hash:4", 4).close()
    conn = sqlite3.connect(tmp_path / "c" / DB_FILE)
    conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION + 1}")
    conn.commit()
    conn.close()
    with pytest.raises(CorruptCollectionError, match="newer"):
        LocalStore.open(tmp_path / "c")


def test_new_collections_use_large_pages_and_old_ones_keep_theirs(tmp_path):
    from jointspace.store.sqlite import PAGE_SIZE

    LocalStore.create(tmp_path / "new", "hash:4", 4).close()
    conn = sqlite3.connect(tmp_path / "new" / DB_FILE)
    assert conn.execute("PRAGMA page_size").fetchone()[0] == PAGE_SIZE == 16384
    conn.close()
    # an existing file keeps its page size (SQLite cannot change it in WAL mode) and still opens
    (tmp_path / "old").mkdir()
    conn = sqlite3.connect(tmp_path / "old" / DB_FILE)
    conn.execute("PRAGMA page_size = 4096")
    for stmt in MIGRATIONS[1]:
        conn.execute(stmt)
    conn.execute("PRAGMA user_version = 1")
    conn.executemany("INSERT INTO meta VALUES (?, ?)",
                     [("model", "hash:4"), ("dim", "4"), ("seq", "1"), ("format", "1")])
    conn.commit()
    conn.close()
    store = LocalStore.open(tmp_path / "old")
    assert store.truth.conn.execute("PRAGMA page_size").fetchone()[0] == 4096
    store.close()


def test_kind_counts_come_from_an_index_not_a_table_scan(tmp_path):
    store = LocalStore.create(tmp_path / "c", "hash:4", 4)
    plan = store.truth.conn.execute(
        "EXPLAIN QUERY PLAN SELECT kind, count(*) FROM items GROUP BY kind").fetchall()
    store.close()
    assert any("COVERING INDEX items_kind" in row[-1] for row in plan), plan


def test_a_new_database_appears_complete_and_a_dead_builders_leftovers_go(tmp_path):
    from jointspace.store.sqlite import create_database

    db = tmp_path / DB_FILE
    dead = tmp_path / f".{DB_FILE}.99999999.tmp"  # no such process
    dead.write_bytes(b"half a database")
    create_database(db)
    conn = sqlite3.connect(db)
    tables = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")}
    assert {"items", "meta", "state"} <= tables
    assert conn.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION
    conn.close()
    assert not dead.exists() and [p.name for p in tmp_path.iterdir()] == [DB_FILE]
    before = db.stat().st_mtime_ns
    create_database(db)  # there already: left alone
    assert db.stat().st_mtime_ns == before
