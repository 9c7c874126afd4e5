"""Search overhead of Collection.search_vector vs raw faiss, and exact filtered-search recall.

    .venv/bin/python benchmarks/search.py [--n 100000] [--dim 512] [--queries 200]

Both sides search the same vectors with the same exact IndexFlatIP; jointspace adds its SQLite
snapshot transaction, change-log check and hit hydration (path, text, metadata). Filtered recall is
measured against brute-force numpy over the matching subset at 1%, 4% and 10% selectivity.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np


def build(directory: Path, vecs: np.ndarray, buckets: np.ndarray, batch: int = 5000):
    """A local collection of ``vecs`` with a ``bucket`` per item (also used by exact_search.py)."""
    from jointspace.query import Collection
    from jointspace.store import LocalStore, NewItem, WriteBatch

    store = LocalStore.create(directory, "bench:random", vecs.shape[1])
    with store.writer():
        for s in range(0, len(vecs), batch):
            store.write(WriteBatch(upserts=[
                NewItem(key=f"item{i}", source="bench", kind="image", vector=vecs[i],
                        path=f"/photos/{i}.jpg", metadata={"bucket": int(buckets[i])})
                for i in range(s, min(s + batch, len(vecs)))
            ]))
        store.save_index()
    return Collection(store)


def timed(fn, queries) -> list[float]:
    out = []
    for q in queries:
        t = time.perf_counter()
        fn(q)
        out.append(time.perf_counter() - t)
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--n", type=int, default=100_000)
    ap.add_argument("--dim", type=int, default=512)
    ap.add_argument("--queries", type=int, default=200)
    ap.add_argument("--k", type=int, default=20)
    args = ap.parse_args()

    from jointspace.runtime import configure_process

    configure_process()  # the CLI's thread settings, before faiss loads
    import faiss

    rng = np.random.default_rng(0)
    vecs = rng.normal(size=(args.n, args.dim)).astype(np.float32)
    vecs /= np.linalg.norm(vecs, axis=1, keepdims=True)
    buckets = rng.integers(0, 100, args.n)
    queries = rng.normal(size=(args.queries, args.dim)).astype(np.float32)
    queries /= np.linalg.norm(queries, axis=1, keepdims=True)

    raw = faiss.IndexIDMap2(faiss.IndexFlatIP(args.dim))
    raw.add_with_ids(vecs, np.arange(1, args.n + 1, dtype=np.int64))
    with tempfile.TemporaryDirectory() as tmp:
        col = build(Path(tmp) / "c", vecs, buckets)
        col.search_vector(queries[0], k=args.k)  # load + replay before timing
        raw_t, ours_t = [], []
        for _ in range(3):  # interleave rounds so drift affects both sides
            raw_t += timed(lambda q: raw.search(q[None], args.k), queries)
            ours_t += timed(lambda q: col.search_vector(q, k=args.k), queries)
        raw_med, ours_med = statistics.median(raw_t), statistics.median(ours_t)
        print(f"vectors: {args.n} x {args.dim}  queries: {args.queries} x 3 rounds  k: {args.k}")
        print(f"raw faiss IndexFlatIP:     median {raw_med * 1e3:7.2f} ms/query")
        print(f"Collection.search_vector:  median {ours_med * 1e3:7.2f} ms/query")
        print(f"overhead ratio: {ours_med / raw_med:.3f}  (target <= 1.1)")

        for pct in (1, 4, 10):
            recalls = []
            mask = buckets < pct
            ids = np.flatnonzero(mask) + 1
            for q in queries[:50]:
                scores = vecs[mask] @ q
                truth = set(ids[np.argsort(-scores)[: args.k]].tolist())
                got = {h.id for h in col.search_vector(q, k=args.k, where=f"bucket < {pct}")}
                recalls.append(len(got & truth) / len(truth))
            print(f"filtered recall@{args.k} at {pct:>2}% selectivity ({mask.sum()} items): "
                  f"{min(recalls):.3f} min, {np.mean(recalls):.3f} mean  (target 1.0)")
        col.close()


if __name__ == "__main__":
    main()
