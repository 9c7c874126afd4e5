"""Exact single-query search vs the memory-bandwidth bound (numpy ``matrix @ query``).

    .venv/bin/python benchmarks/exact_search.py [--n 1000000] [--dim 512] [--queries 30]

Both sides hold the same unit vectors in memory; the reference is what a strong engineer writes by
hand: one BLAS matrix-vector product plus ``argpartition`` for the top k. jointspace's side is the
whole ``Collection.search_vector`` path (snapshot transaction, change-log check, flat scan, hit
hydration), twice: in the process that wrote the collection (its index in memory) and in a
collection opened afresh, as every CLI search and service start does (its snapshot memory-mapped).
Raw faiss ``IndexFlatIP.search`` is printed for context. Rounds alternate the sides so
machine drift hits both; the ratio is of medians. Filtered searches are checked for exactness.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np
from search import build

from jointspace.query import Collection  # benchmarks/search.py: the same collection layout


def median_ms(fn, queries) -> float:
    times = []
    for q in queries:
        t = time.perf_counter()
        fn(q)
        times.append(time.perf_counter() - t)
    return statistics.median(times) * 1e3


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--n", type=int, default=1_000_000)
    ap.add_argument("--dim", type=int, default=512)
    ap.add_argument("--queries", type=int, default=30)
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--k", type=int, default=10)
    args = ap.parse_args()

    from jointspace.runtime import configure_process

    configure_process()
    import faiss

    rng = np.random.default_rng(0)
    vecs = rng.standard_normal((args.n, args.dim), dtype=np.float32)
    vecs /= np.linalg.norm(vecs, axis=1, keepdims=True)
    buckets = rng.integers(0, 100, args.n)
    queries = rng.standard_normal((args.queries, args.dim), dtype=np.float32)
    queries /= np.linalg.norm(queries, axis=1, keepdims=True)
    ids = np.arange(1, args.n + 1)

    def numpy_ref(q):
        scores = vecs @ q
        top = np.argpartition(-scores, args.k)[: args.k]
        return ids[top[np.argsort(-scores[top])]]

    raw = faiss.IndexFlatIP(args.dim)
    raw.add(vecs)
    with tempfile.TemporaryDirectory() as tmp:
        t = time.perf_counter()
        col = build(Path(tmp) / "c", vecs, buckets, batch=20_000)
        print(f"built {args.n} x {args.dim} in {time.perf_counter() - t:.1f} s")
        col.search_vector(queries[0], k=args.k)  # load the snapshot before timing
        opened = Collection.open(Path(tmp) / "c", readonly=True)
        opened.search_vector(queries[0], k=args.k)
        mapped = opened.store._index.mapped is not None
        ref_t, ours_t, open_t, faiss_t = [], [], [], []
        for _ in range(args.rounds):
            ref_t.append(median_ms(numpy_ref, queries))
            ours_t.append(median_ms(lambda q: col.search_vector(q, k=args.k), queries))
            open_t.append(median_ms(lambda q: opened.search_vector(q, k=args.k), queries))
            faiss_t.append(median_ms(lambda q: raw.search(q[None], args.k), queries))
        ref, ours, reopened, fa = (statistics.median(x) for x in (ref_t, ours_t, open_t, faiss_t))
        print(f"numpy matrix @ query:      median {ref:8.2f} ms/query")
        print(f"Collection.search_vector:  median {ours:8.2f} ms/query  (the writer's process)")
        print(f"  opened afresh:           median {reopened:8.2f} ms/query  "
              f"(snapshot {'memory-mapped' if mapped else 'read into memory'})")
        print(f"raw faiss IndexFlatIP:     median {fa:8.2f} ms/query  (context)")
        for name, times in (("writer", ours_t), ("opened", open_t)):
            ratios = [o / r for o, r in zip(times, ref_t)]
            print(f"ratio jointspace ({name}) / numpy: {statistics.median(times) / ref:.3f}  "
                  f"(per-round {min(ratios):.2f}-{max(ratios):.2f}; target <= 1.2)")
        for pct in (1, 10):
            mask = buckets < pct
            exact, probes = 0, queries[:10]
            for q in probes:
                s = vecs[mask] @ q
                want = (ids[mask][np.argsort(-s)[: args.k]]).tolist()
                got = [h.id for h in col.search_vector(q, k=args.k, where=f"bucket < {pct}")]
                exact += got == want
            t_f = median_ms(lambda q, p=pct: col.search_vector(q, k=args.k,
                                                                where=f"bucket < {p}"), queries)
            print(f"filtered {pct:>2}% ({mask.sum()} items): exact {exact}/{len(probes)}, median {t_f:.2f} ms")
        opened.close()
        col.close()


if __name__ == "__main__":
    main()
