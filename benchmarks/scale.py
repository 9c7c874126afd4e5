"""How cost grows with collection size, per index kind (random unit vectors, realistic metadata).

    .venv/bin/python benchmarks/scale.py [--sizes 10000 100000 1000000] [--kinds flat int8 ...]

For each size one child process writes the SQLite truth (seeded random unit vectors, dim 512,
batches of 10,000 items with a path, year, label and score each, as `jointspace index` commits
them) and computes the exact top-10 of the probe queries as it goes. Then per index kind, each in
a fresh child process so its peak RSS is its own:

- build: on a fresh copy of the truth (copying is not timed), rebuild the index from SQLite and
  save its snapshot (``LocalStore.rebuild_index`` + ``save_index``; a flat snapshot of 64 MiB or
  more then folds the SQLite copies of the vectors and VACUUMs, and that is timed too),
- open: ``LocalStore.open`` + loading the snapshot (what the first search of a process pays),
- warm query p50/p99 (k=10, single query, through ``LocalStore.search``) and recall@10 vs exact,
- cold CLI: wall time of a fresh ``jointspace search TEXT -c DIR`` process (hash:512 model; the
  page cache stays warm: it is not dropped on a shared machine),
- service: ``jointspace serve`` on the collection, the probe queries sent one at a time as text
  (``GET /api/collections/col/search?q=...``, the hash:512 model embeds them: the probe vectors
  are those embeddings), p50 over HTTP on loopback and recall@10 vs exact,
- disk: the whole collection directory, and its ratio to the raw fp32 vectors plus the metadata
  as JSON (what the items hold, measured per size).

The truth write time is shared by all kinds (printed once per size). One table is printed.
"""

from __future__ import annotations

import argparse
import json
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

DIM, BATCH, K, N_QUERIES = 512, 10_000, 10, 100
MODEL = "hash:512"
LABELS = ["cat", "dog", "car", "tree", "beach", "city", "food", "portrait", "night", "snow"]


def _rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _unit(rng, n: int) -> np.ndarray:
    x = rng.standard_normal((n, DIM), dtype=np.float32)
    return x / np.linalg.norm(x, axis=1, keepdims=True)


def probe_texts() -> list[str]:
    return [f"probe query number {i}" for i in range(N_QUERIES)]


def _metadata(i: int, v: np.ndarray) -> dict:
    return {"year": int(1990 + i % 35), "label": LABELS[i % 10], "score": float(v[0])}


def child_write(directory: Path, n: int) -> dict:
    """Write ``n`` items; return timings and the exact top-k ids of the probe queries."""
    from jointspace.models import load_embedder
    from jointspace.store import LocalStore, NewItem, WriteBatch

    rng = np.random.default_rng(n)
    queries = load_embedder(MODEL).embed_texts(probe_texts())  # what the service embeds
    raw_bytes = 0
    best_s = np.full((N_QUERIES, 0), -np.inf, np.float32)
    best_i = np.zeros((N_QUERIES, 0), np.int64)
    store = LocalStore.create(directory, MODEL, DIM)
    t = time.perf_counter()
    with store.writer():
        for start in range(0, n, BATCH):
            vecs = _unit(rng, min(BATCH, n - start))
            batch = [NewItem(key=f"/photos/{start + i:07d}.jpg", source="/photos", kind="image",
                             vector=v, path=f"/photos/{start + i:07d}.jpg",
                             metadata=_metadata(start + i, v)) for i, v in enumerate(vecs)]
            store.write(WriteBatch(upserts=batch))
            raw_bytes += vecs.nbytes + sum(len(it.key) + len(json.dumps(it.metadata))
                                           for it in batch)
            scores = queries @ vecs.T  # ids are 1.. in insertion order
            best_s = np.concatenate([best_s, scores], axis=1)
            best_i = np.concatenate([best_i, np.arange(start + 1, start + 1 + len(vecs))[None]
                                     .repeat(N_QUERIES, 0)], axis=1)
            top = np.argsort(-best_s, axis=1, kind="stable")[:, :K]
            best_s, best_i = (np.take_along_axis(a, top, 1) for a in (best_s, best_i))
    seconds = time.perf_counter() - t
    store.close()
    np.save(directory.parent / "queries.npy", queries)
    np.save(directory.parent / "exact.npy", best_i)
    (directory.parent / "raw_bytes").write_text(str(raw_bytes))
    return {"write_s": seconds, "write_rss_mb": _rss_mb()}


def child_build(directory: Path, kind: str) -> dict:
    from jointspace.store import LocalStore

    truth = directory.parent / "col"  # kept pristine: a flat build folds its vectors away
    shutil.rmtree(directory, ignore_errors=True)
    directory.mkdir()
    for f in truth.glob("collection.sqlite*"):
        shutil.copyfile(f, directory / f.name)
    store = LocalStore.open(directory)
    store.truth.set_meta({"index": kind})
    store.close()
    store = LocalStore.open(directory)
    t = time.perf_counter()
    with store.writer():
        store.rebuild_index()
        store.save_index()
    seconds = time.perf_counter() - t
    store.close()
    return {"build_s": seconds, "build_rss_mb": _rss_mb()}


def child_query(directory: Path) -> dict:
    from jointspace.store import LocalStore

    queries = np.load(directory.parent / "queries.npy")
    exact = np.load(directory.parent / "exact.npy")
    t = time.perf_counter()
    store = LocalStore.open(directory, readonly=True)
    store.index_status()  # loads the snapshot
    open_s = time.perf_counter() - t
    assert not store.rebuilt, "the snapshot was not used"
    times, found = [], 0
    for q, want in zip(queries, exact):
        t = time.perf_counter()
        hits = store.search(q[None], K)[0]
        times.append(time.perf_counter() - t)
        found += len({i for i, _ in hits} & set(want.tolist()))
    store.close()
    return {"open_s": open_s, "p50_ms": float(np.percentile(times, 50) * 1e3),
            "p99_ms": float(np.percentile(times, 99) * 1e3), "recall": found / exact.size,
            "query_rss_mb": _rss_mb()}


def _child(*args: str) -> dict:
    out = subprocess.run([sys.executable, __file__, "--child", *args], capture_output=True,
                         text=True, check=False)
    if out.returncode:
        raise SystemExit(f"child {args} failed:\n{out.stderr}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def _cold_cli(directory: Path) -> float:
    exe = str(Path(sys.executable).parent / "jointspace")
    t = time.perf_counter()
    subprocess.run([exe, "search", "a photo of a dog on a beach", "-c", str(directory), "--k",
                    str(K), "--json"], capture_output=True, check=True)
    return time.perf_counter() - t


def _serve(directory: Path) -> tuple[float, float]:
    """(p50 ms, recall@10) of the probe queries sent one at a time to ``jointspace serve``."""
    import httpx
    from serve_load import free_port  # benchmarks/serve_load.py

    port = free_port()
    exe = str(Path(sys.executable).parent / "jointspace")
    server = subprocess.Popen([exe, "serve", f"col={directory}", "--port", str(port),
                               "--log-level", "warning"], stdout=subprocess.DEVNULL)
    base = f"http://127.0.0.1:{port}/api"
    try:
        with httpx.Client(timeout=120) as client:
            for _ in range(1200):  # a 1M-item collection takes a while to open
                try:
                    client.get(f"{base}/health")
                    break
                except httpx.TransportError:
                    if server.poll() is not None:
                        raise SystemExit("jointspace serve exited") from None
                    time.sleep(0.1)
            exact = np.load(directory.parent / "exact.npy")

            def ask(text: str) -> list[int]:
                r = client.get(f"{base}/collections/col/search", params={"q": text, "k": K})
                r.raise_for_status()
                return [h["id"] for h in r.json()["results"]]

            for text in probe_texts()[:5]:
                ask(text)  # warm: model, index, connections
            times, found = [], 0
            for text, want in zip(probe_texts(), exact):
                t = time.perf_counter()
                got = ask(text)
                times.append(time.perf_counter() - t)
                found += len(set(got) & set(want.tolist()))
    finally:
        server.terminate()
        server.wait(timeout=60)
    return float(np.percentile(times, 50) * 1e3), found / exact.size


def _disk_mb(directory: Path) -> float:
    return sum(f.stat().st_size for f in directory.iterdir() if f.is_file()) / 1e6


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--sizes", type=int, nargs="+", default=[10_000, 100_000, 1_000_000])
    ap.add_argument("--kinds", nargs="+", default=["flat", "int8", "binary", "hnsw"])
    ap.add_argument("--hnsw-max", type=int, default=1_000_000, help="skip hnsw above this size")
    ap.add_argument("--dir", default=None, help="work directory (default: a temp dir)")
    ap.add_argument("--reuse", action="store_true",
                    help="keep a truth already written under --dir (write s not measured)")
    ap.add_argument("--serve", action="store_true", help="also time /search on jointspace serve")
    ap.add_argument("--child", nargs="+", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child:
        from jointspace.runtime import configure_process

        configure_process()
        what, directory, *rest = args.child
        fn = {"write": lambda: child_write(Path(directory), int(rest[0])),
              "build": lambda: child_build(Path(directory), rest[0]),
              "query": lambda: child_query(Path(directory))}[what]
        print(json.dumps(fn()))
        return

    root = Path(args.dir or tempfile.mkdtemp(prefix="jointspace-scale-"))
    print(f"{'items':>9} {'kind':6} {'write s':>8} {'build s':>8} {'open s':>7} "
          f"{'disk MB':>8} {'x raw':>5} {'idx MB':>7} {'RSS MB b/q':>11} {'cold CLI s':>10} "
          f"{'p50 ms':>7} {'p99 ms':>7} {'recall':>6} {'serve p50':>9} {'recall':>6}",
          flush=True)
    try:
        for n in args.sizes:
            work = root / str(n)
            col = work / "col"
            if args.reuse and (work / "exact.npy").is_file():
                w = {"write_s": float("nan")}
            else:
                shutil.rmtree(work, ignore_errors=True)
                work.mkdir(parents=True)
                w = _child("write", str(col), str(n))
            for kind in args.kinds:
                if kind == "hnsw" and n > args.hnsw_max:
                    print(f"{n:>9} {kind:6} skipped (above --hnsw-max)", flush=True)
                    continue
                kcol = work / kind  # a copy of the truth (not timed), indexed as this kind
                b = _child("build", str(kcol), kind)
                q = _child("query", str(kcol))
                cold = _cold_cli(kcol)
                serve_p50, serve_recall = _serve(kcol) if args.serve else (float("nan"),) * 2
                idx = sum(f.stat().st_size for f in kcol.glob("index-*.faiss")) / 1e6
                raw_mb = int((work / "raw_bytes").read_text()) / 1e6
                print(f"{n:>9} {kind:6} {w['write_s']:8.1f} {b['build_s']:8.1f} "
                      f"{q['open_s']:7.2f} {_disk_mb(kcol):8.0f} {_disk_mb(kcol) / raw_mb:5.2f} "
                      f"{idx:7.1f} {b['build_rss_mb']:5.0f}/{q['query_rss_mb']:<5.0f} "
                      f"{cold:10.2f} {q['p50_ms']:7.2f} {q['p99_ms']:7.2f} {q['recall']:6.3f} "
                      f"{serve_p50:9.2f} {serve_recall:6.3f}", flush=True)
                shutil.rmtree(kcol, ignore_errors=True)
            if not args.reuse:
                shutil.rmtree(work, ignore_errors=True)
    finally:
        if args.dir is None:
            shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()
