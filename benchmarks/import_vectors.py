"""Importing precomputed embeddings from parquet: `index V.parquet --vector-column emb`.

    .venv/bin/python benchmarks/import_vectors.py [--n 1000000] [--dim 512] [--rounds 1]

Both sides run in their own subprocess (so peak RSS is each side's own), alternating rounds, on
the same generated parquet file (fixed_size_list<float32>[dim], an id and a text column):

- reference: what a strong engineer would write for the same result: pyarrow record batches ->
  numpy -> one SQLite transaction per batch (``executemany`` into the same ``items`` table: key,
  text, vector blob), then an exact faiss ``IndexIDMap2(IndexFlatIP)`` filled from SQLite in pages
  and written to disk — a durable truth plus an index snapshot, as a collection has;
- jointspace: ``import_vectors`` into a new local collection (``Collection.create`` with a
  ``hash:DIM`` model: no model runs), which also checks dims, normalises, keys rows like
  ``index MANIFEST``, keeps metadata and saves the index snapshot.

Prints seconds and peak RSS per side and the time ratio jointspace / reference (median).
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

BATCH = 8192


def make_parquet(path: Path, n: int, dim: int) -> None:
    import pyarrow as pa
    import pyarrow.parquet as pq

    rng = np.random.default_rng(0)
    schema = pa.schema([("id", pa.string()), ("text", pa.string()),
                        ("emb", pa.list_(pa.float32(), dim))])
    with pq.ParquetWriter(path, schema) as w:
        for s in range(0, n, 50_000):
            m = min(50_000, n - s)
            v = rng.normal(size=(m, dim)).astype(np.float32)
            v /= np.linalg.norm(v, axis=1, keepdims=True)
            w.write_table(pa.table({
                "id": [f"doc{i}" for i in range(s, s + m)],
                "text": [f"passage number {i}" for i in range(s, s + m)],
                "emb": pa.FixedSizeListArray.from_arrays(pa.array(v.ravel()), dim)}, schema=schema))


def run_reference(parquet: Path, out: Path, dim: int) -> None:
    import sqlite3

    import faiss
    import pyarrow.parquet as pq

    from jointspace.store.schema import migrate

    out.mkdir(parents=True)
    conn = sqlite3.connect(out / "collection.sqlite", isolation_level=None)
    conn.execute("PRAGMA journal_mode = WAL")
    conn.execute("PRAGMA synchronous = FULL")
    migrate(conn)
    source = str(parquet.resolve())
    now = time.time()
    pf = pq.ParquetFile(parquet, pre_buffer=False, buffer_size=1 << 20)  # stream, as jointspace
    for seq, rb in enumerate(pf.iter_batches(batch_size=BATCH), 1):
        vecs = rb.column("emb").flatten().to_numpy().reshape(-1, dim)
        ids, texts = rb.column("id").to_pylist(), rb.column("text").to_pylist()
        conn.execute("BEGIN IMMEDIATE")
        conn.executemany(
            "INSERT INTO items (key, source, kind, text, metadata, vector, seq, created_at, "
            "updated_at) VALUES (?, ?, 'text', ?, '{}', ?, ?, ?, ?)",
            [(f"{source}#{k}", source, t, v.tobytes(), seq, now, now)
             for k, t, v in zip(ids, texts, vecs)])
        conn.execute("COMMIT")
    index = faiss.IndexIDMap2(faiss.IndexFlatIP(dim))
    last = 0
    while True:
        rows = conn.execute("SELECT id, vector FROM items WHERE id > ? ORDER BY id LIMIT ?",
                            (last, BATCH)).fetchall()
        if not rows:
            break
        last = rows[-1][0]
        index.add_with_ids(np.frombuffer(b"".join(r[1] for r in rows), np.float32)
                           .reshape(len(rows), dim), np.array([r[0] for r in rows], np.int64))
    faiss.write_index(index, str(out / "index.faiss"))
    conn.close()


def run_jointspace(parquet: Path, out: Path, dim: int) -> None:
    from jointspace.query import Collection
    from jointspace.transfer.vectors import Columns, import_vectors

    with Collection.create(out, model=f"hash:{dim}") as col:
        report = import_vectors(col.store, parquet, Columns("emb"), batch=BATCH)
        assert report.failed == 0 and col.count() == report.added


def side(args: argparse.Namespace) -> None:
    """One side, in this process; prints {"seconds", "max_rss_mb"}."""
    from jointspace.runtime import configure_process

    configure_process()
    t = time.perf_counter()
    (run_reference if args.side == "reference" else run_jointspace)(args.parquet, args.out,
                                                                     args.dim)
    seconds = time.perf_counter() - t
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(json.dumps({"seconds": seconds, "max_rss_mb": rss}))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--n", type=int, default=1_000_000)
    ap.add_argument("--dim", type=int, default=512)
    ap.add_argument("--rounds", type=int, default=1)
    ap.add_argument("--workdir", type=Path, default=None, help="Scratch folder (default: a temp "
                                                               "folder, removed afterwards).")
    ap.add_argument("--side", choices=["reference", "jointspace"], help=argparse.SUPPRESS)
    ap.add_argument("--parquet", type=Path, help=argparse.SUPPRESS)
    ap.add_argument("--out", type=Path, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.side:
        return side(args)

    work = Path(tempfile.mkdtemp(dir=args.workdir))
    try:
        parquet = work / "vectors.parquet"
        t = time.perf_counter()
        make_parquet(parquet, args.n, args.dim)
        print(f"{args.n} x {args.dim} parquet: {parquet.stat().st_size / 2**20:.0f} MiB, "
              f"written in {time.perf_counter() - t:.1f}s")
        results: dict[str, list[dict]] = {"reference": [], "jointspace": []}
        for r in range(args.rounds):
            order = ("reference", "jointspace") if r % 2 == 0 else ("jointspace", "reference")
            for name in order:
                out = work / f"{name}-{r}"
                p = subprocess.run([sys.executable, __file__, "--side", name, "--parquet",
                                    str(parquet), "--out", str(out), "--dim", str(args.dim)],
                                   capture_output=True, text=True, env=os.environ)
                if p.returncode:
                    raise SystemExit(p.stderr)
                results[name].append(json.loads(p.stdout.strip().splitlines()[-1]))
                shutil.rmtree(out)
                res = results[name][-1]
                print(f"round {r + 1}: {name:10s} {res['seconds']:7.1f} s  "
                      f"({args.n / res['seconds']:,.0f} rows/s)  peak RSS "
                      f"{res['max_rss_mb']:,.0f} MiB")
        ratios = [j["seconds"] / f["seconds"]
                  for j, f in zip(results["jointspace"], results["reference"])]
        js = statistics.median(x["seconds"] for x in results["jointspace"])
        print(f"jointspace / reference time: {statistics.median(ratios):.2f} (median of "
              f"{len(ratios)}; target <= 1.5); jointspace {js:.0f} s for {args.n:,} rows "
              f"(target: a few minutes for 1M x 512 on 2 cores)")
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
