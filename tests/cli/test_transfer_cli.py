"""copy / export / index --vector-column / qdrant+local locations, at the CLI's boundary."""

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

JS = str(Path(sys.executable).parent / "jointspace")


def run(*args, ok=True, env=None):
    p = subprocess.run([JS, *map(str, args)], capture_output=True, text=True, timeout=120,
                       env=env)
    assert (p.returncode == 0) == ok, p.stderr + p.stdout
    return p


def test_vectors_import_copy_to_qdrant_export_and_search(tmp_path):
    rng = np.random.default_rng(0)
    vecs = rng.normal(size=(20, 16)).astype(np.float32)
    pq.write_table(pa.table({"id": [f"d{i}" for i in range(20)],
                             "text": [f"doc item{i}" for i in range(20)],
                             "emb": pa.FixedSizeListArray.from_arrays(pa.array(vecs.ravel()), 16),
                             "year": [2000 + i for i in range(20)]}), tmp_path / "v.parquet")
    local, remote = tmp_path / "col", f"qdrant+local:{tmp_path / 'q'}"
    r = json.loads(run("index", tmp_path / "v.parquet", "-c", local, "--model", "hash:16",
                       "--vector-column", "emb", "--json").stdout)
    assert (r["added"], r["failed"]) == (20, 0)
    bad = run("index", tmp_path / "v.parquet", "-c", tmp_path / "c2", "--model", "hash:32",
              "--vector-column", "emb", ok=False)
    assert "dim 32" in bad.stderr and "Traceback" not in bad.stderr

    c = json.loads(run("copy", local, remote, "--json").stdout)
    assert (c["copied"], c["count"]) == (20, 20)
    info = json.loads(run("info", "-c", remote, "--json").stdout)
    assert (info["count"], info["model"], info["backend"]) == (20, "hash:16", "qdrant")
    hits = json.loads(run("search", "doc", "-c", remote, "--where", "year >= 2015", "--k", "50",
                          "--json").stdout)["results"]
    assert sorted(h["metadata"]["year"] for h in hits) == list(range(2015, 2020))
    hybrid = json.loads(run("search", "item7", "-c", remote, "--hybrid", "--fusion", "rrf", "--k", "1",
                            "--json").stdout)["results"]
    assert hybrid[0]["text"] == "doc item7"
    assert json.loads(run("check", remote, "--json").stdout)["ok"] is True

    e = json.loads(run("export", tmp_path / "out.parquet", "-c", remote, "--json").stdout)
    assert e["rows"] == 20
    table = pq.read_table(tmp_path / "out.parquet")
    got = dict(zip(table.column("key").to_pylist(), table.column("vector").to_pylist()))
    key = f"{(tmp_path / 'v.parquet').resolve()}#d3"
    np.testing.assert_allclose(got[key], vecs[3] / np.linalg.norm(vecs[3]), atol=1e-6)


def test_missing_qdrant_collection_and_bad_location_say_what_to_do(tmp_path):
    r = run("info", "-c", f"qdrant+local:{tmp_path / 'none'}", ok=False)
    assert "no collection" in r.stderr and "Traceback" not in r.stderr
    r = run("info", "-c", "qdrant://host:6333/", ok=False)
    assert "names no collection" in r.stderr


def test_an_unreadable_vectors_file_creates_no_collection(tmp_path):
    (tmp_path / "empty.parquet").write_bytes(b"")
    bad = run("index", tmp_path / "empty.parquet", "-c", tmp_path / "col", "--model", "hash:16",
              "--vector-column", "emb", ok=False)
    assert "cannot read" in bad.stderr and "Traceback" not in bad.stderr
    assert not (tmp_path / "col").exists()
