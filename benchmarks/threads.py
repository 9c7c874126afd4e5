"""Query latency under different torch / faiss thread settings, in one process each.

    .venv/bin/python benchmarks/threads.py [--n 100000] [--queries 150]

Each configuration runs in a fresh subprocess (OpenMP reads its settings at start-up) that loads a
random-init CLIP text tower with ViT-B/32 sizes and a flat index of --n 512-d vectors, then times
--queries end-to-end text queries (tokenize + encode + exact search). It prints p50 / p99 latency
per configuration and the ratio of each to the first (the default jointspace setting).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time

CONFIGS = [
    # (label, env); the first is what the CLI and the service use
    ("default: all cores, OMP passive wait", {"OMP_WAIT_POLICY": "PASSIVE"}),
    ("all cores, OMP active wait (libgomp default)", {"OMP_WAIT_POLICY": "ACTIVE"}),
    ("one thread for both (faiss=1 forces torch=1)", {"JOINTSPACE_FAISS_THREADS": "1",
                                                      "OMP_WAIT_POLICY": "PASSIVE"}),
]


def child(n: int, queries: int) -> None:
    import numpy as np
    import torch
    from transformers import CLIPTextConfig, CLIPTextModelWithProjection

    from jointspace.runtime import configure_faiss, configure_torch
    from jointspace.store.faiss_index import VectorIndex

    configure_torch()
    configure_faiss()
    model = CLIPTextModelWithProjection(CLIPTextConfig()).eval()
    rng = np.random.default_rng(0)
    vecs = rng.normal(size=(n, 512)).astype(np.float32)
    vecs /= np.linalg.norm(vecs, axis=1, keepdims=True)
    index = VectorIndex(512)
    index.apply(np.arange(n, dtype=np.int64), vecs, np.zeros(0, np.int64))
    ids = torch.from_numpy(rng.integers(0, 49000, (queries + 10, 12)))
    times = []
    for i in range(queries + 10):
        t = time.perf_counter()
        with torch.inference_mode():
            q = model(input_ids=ids[i : i + 1]).text_embeds.numpy()
        index.search(q / np.linalg.norm(q), 20)
        if i >= 10:  # warm-up
            times.append(time.perf_counter() - t)
    times.sort()
    # batch throughput of the same tower, to see what the setting costs the model itself
    batch = torch.from_numpy(rng.integers(0, 49000, (64, 32)))
    t = time.perf_counter()
    for _ in range(3):
        with torch.inference_mode():
            model(input_ids=batch)
    rate = 3 * 64 / (time.perf_counter() - t)
    print(json.dumps({"p50": times[len(times) // 2], "p99": times[int(len(times) * 0.99) - 1],
                      "torch_threads": torch.get_num_threads(), "batch_rate": rate}))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--n", type=int, default=100_000)
    ap.add_argument("--queries", type=int, default=150)
    ap.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child:
        return child(args.n, args.queries)
    results = []
    for label, env in CONFIGS:
        out = subprocess.run(
            [sys.executable, __file__, "--child", "--n", str(args.n), "--queries",
             str(args.queries)],
            env={**os.environ, **env}, capture_output=True, text=True, check=True,
        )
        results.append((label, json.loads(out.stdout.strip().splitlines()[-1])))
    base = results[0][1]
    print(f"{args.n} vectors, {args.queries} text queries per configuration, cpus: {os.cpu_count()}")
    for label, r in results:
        print(f"{label:46s} p50 {r['p50'] * 1e3:7.2f} ms  p99 {r['p99'] * 1e3:7.2f} ms  "
              f"(x{r['p50'] / base['p50']:.2f} / x{r['p99'] / base['p99']:.2f} vs default)  "
              f"torch threads {r['torch_threads']}  batch-64 encode {r['batch_rate']:.0f} texts/s "
              f"(x{r['batch_rate'] / base['batch_rate']:.2f})")


if __name__ == "__main__":
    main()
