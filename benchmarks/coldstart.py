"""Cold `jointspace search "text" -c DIR --json`: wall time from process start to JSON printed.

    .venv/bin/python benchmarks/coldstart.py [--items 100000] [--runtime auto] [--runs 3]

Builds a collection of --items image items (random unit vectors; the vectors' origin does not
matter for the cold path) for a random-init CLIP with ViT-B/32 sizes, indexed "with" --runtime
(recorded in the collection, so a plain `search` runs that runtime), warms the export cache, then
alternates per run:
  baseline: `python -c pass` (the interpreter's own start, a floor no CLI can beat);
  open:     `python -c "Collection.open(DIR, readonly=True).count()"` plus a vector search
            (opening the collection and its index, no model);
  search:   `python -m jointspace search "a dog on a beach" -c DIR --json`, which must print results
            and, with an ONNX runtime, never import torch or transformers (checked each run).
Prints medians; targets: search <= 1.0 s at 100k items, <= 1.5 s at 1M; open <= 1 s at 1M.
The page cache is warm (the files were just written): this is a cold *process*, not a cold disk.
"""

from __future__ import annotations

import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

# Runs the CLI in-process, then reports (on stderr) whether torch / transformers were imported.
SEARCH = """
import atexit, json, sys
atexit.register(lambda: print(json.dumps({m: m in sys.modules for m in ("torch", "transformers")}),
                               file=sys.stderr))
sys.argv = ["jointspace", "search", "a dog on a beach", "-c", sys.argv[1], "--json", "-k", "10"]
from jointspace.cli import main
main()
"""
OPEN = """
import sys
import numpy as np
from jointspace.query import Collection
col = Collection.open(sys.argv[1], readonly=True)
col.search_vector(np.ones(col.store.dim, np.float32) / np.sqrt(col.store.dim), k=10)
print(col.count())
"""


def build(directory: Path, model_dir: Path, runtime: str, items: int) -> None:
    import numpy as np

    from jointspace.models import load_embedder
    from jointspace.query import Collection
    from jointspace.query.runtimes import record_runtimes
    from jointspace.store.base import NewItem, WriteBatch

    embedder = load_embedder(f"hf:{model_dir}", runtime=runtime)  # exports once if needed
    rng = np.random.default_rng(0)
    with Collection.create(directory, embedder=embedder, runtime=runtime) as col:
        with col.store.writer():
            for start in range(0, items, 20_000):
                n = min(20_000, items - start)
                vecs = rng.standard_normal((n, embedder.dim)).astype(np.float32)
                vecs /= np.linalg.norm(vecs, axis=1, keepdims=True)
                col.store.write(WriteBatch(upserts=[
                    NewItem(key=f"img/{start + i:07d}.jpg", source="bench", kind="image",
                            vector=vecs[i], path=f"/photos/{start + i:07d}.jpg",
                            metadata={"n": start + i}) for i in range(n)]))
            record_runtimes(col.store, runtime, embedder.runtimes)
            col.store.save_index()


def timed(args: list[str]) -> tuple[float, float, subprocess.CompletedProcess]:
    """(wall seconds, CPU seconds of the child, its result)."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    done = subprocess.run(args, capture_output=True, text=True, env=os.environ.copy())
    seconds = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if done.returncode != 0:
        raise SystemExit(f"{args[:3]} failed: {done.stderr[-2000:]}")
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return seconds, cpu, done


def main() -> None:
    from bench_models import build_vit_b32_clip, model_bench_parser

    ap = model_bench_parser(__doc__)
    ap.add_argument("--items", type=int, default=100_000)
    ap.add_argument("--runs", type=int, default=3)
    args = ap.parse_args()


    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        model_dir = build_vit_b32_clip(args.model_dir or tmp / "model")
        start = time.perf_counter()
        build(tmp / "col", model_dir, args.runtime, args.items)
        size = sum(f.stat().st_size for f in (tmp / "col").iterdir())
        print(f"built {args.items} items ({size / 1e6:.0f} MB) in {time.perf_counter() - start:.0f} s",
              flush=True)
        rows = []
        for r in range(args.runs):
            base, _, _ = timed([sys.executable, "-c", "pass"])
            opened, open_cpu, _ = timed([sys.executable, "-c", OPEN, str(tmp / "col")])
            search, search_cpu, done = timed([sys.executable, "-c", SEARCH, str(tmp / "col")])
            result = json.loads(done.stdout)
            imported = json.loads(done.stderr.strip().splitlines()[-1])
            assert len(result["results"]) == 10, result
            rows.append((base, opened, search, open_cpu, search_cpu))
            print(f"run {r + 1}: python start {base:.2f} s, open+vector search {opened:.2f} s "
                  f"(cpu {open_cpu:.2f} s), search CLI {search:.2f} s (cpu {search_cpu:.2f} s), "
                  f"runtimes {result.get('runtimes')}, imported {imported}", flush=True)
    base, opened, search, open_cpu, search_cpu = (statistics.median(c) for c in zip(*rows))
    target = 1.0 if args.items <= 100_000 else 1.5
    print(f"items: {args.items}  runtime: {args.runtime}  cores: {os.cpu_count()}  "
          f"(medians of {args.runs})")
    print(f"python -c pass:                 {base:.2f} s")
    print(f"open collection + vector search: {opened:.2f} s wall, {open_cpu:.2f} s cpu "
          f"(target <= 1.0 s at 1M)")
    print(f"search CLI, start to JSON:       {search:.2f} s wall, {search_cpu:.2f} s cpu "
          f"(target <= {target} s wall)")
    print("cpu = user + sys of the child: on a busy machine, the wall time it would take alone")


if __name__ == "__main__":
    main()
