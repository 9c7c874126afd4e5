"""`index --engine ray` images/s vs the local engine, same machine, same process, same model.

    .venv/bin/python benchmarks/ray_ingest.py [--n 240] [--rounds 3] [--actors 1] [--batch 32]

Builds a random-init ViT-B/32-sized CLIP (as benchmarks/ingest.py does), copies COCO-mini photos
into a temp folder until there are --n files, starts one local Ray (2 CPUs here, 127.0.0.1 only,
no dashboard) outside the timings, then alternates rounds:
  local: Collection.add(folder) with the default engine (decode worker processes + model here)
  ray:   Collection.add(folder, engine=RayEngine(actors=N)) on the running Ray: decode tasks,
         an actor pool that loads the model, results streamed back to this single writer
Each round indexes into a fresh collection. Prints images/s for both, the per-round ratio
ray/local and the median. Ray's start-up (once per `jointspace index` run) is printed apart.

Multi-node (not measured here): on the head `ray start --head --port 6379`, on each worker node
`ray start --address HEAD:6379`, then on the head
`jointspace index /shared/photos -c COL --engine ray --ray-address HEAD:6379 --actors <GPUs>`.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from ingest import build_model, make_folder  # noqa: E402 - the same model and photos as ingest.py


def rate(model: str, folder: Path, out: Path, batch: int, engine) -> float:
    from jointspace.query import Collection

    with Collection.create(out, model=model) as col:
        if engine is None:
            _ = col.embedder  # the local engine embeds here: load before timing
        start = time.perf_counter()
        report = col.add(folder, batch_size=batch, engine=engine)
        seconds = time.perf_counter() - start
    assert report.failed == 0 and report.added > 0, report.to_dict()
    return report.added / seconds


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--n", type=int, default=240)
    ap.add_argument("--batch", type=int, default=32)
    ap.add_argument("--actors", type=int, default=1)
    ap.add_argument("--cpus", type=int, default=None, help="local Ray CPUs (default: all)")
    ap.add_argument("--rounds", type=int, default=3)
    args = ap.parse_args()

    from jointspace.engines.ray import RayEngine, connect, import_ray
    from jointspace.runtime import configure_process

    configure_process()
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        build_model(tmp / "model")
        make_folder(tmp / "photos", args.n)
        model = f"hf:{tmp / 'model'}"
        start = time.perf_counter()
        connect(None, args.cpus)
        startup = time.perf_counter() - start
        engine = RayEngine(actors=args.actors)
        pairs = []
        try:
            for r in range(args.rounds):
                local = rate(model, tmp / "photos", tmp / f"local{r}", args.batch, None)
                ray = rate(model, tmp / "photos", tmp / f"ray{r}", args.batch, engine)
                pairs.append((local, ray))
                print(f"round {r + 1}: local {local:.1f} images/s, ray {ray:.1f} images/s, "
                      f"ratio {ray / local:.3f}", flush=True)
        finally:
            import_ray().shutdown()
    ratios = sorted(b / a for a, b in pairs)
    local, ray = (sorted(p[i] for p in pairs)[len(pairs) // 2] for i in (0, 1))
    print(f"images: {args.n}  batch: {args.batch}  actors: {args.actors}  rounds: {args.rounds}")
    print(f"local Ray start-up (once per run, not in the rates): {startup:.1f} s")
    print(f"local engine: {local:6.1f} images/s (median)")
    print(f"ray engine:   {ray:6.1f} images/s (median; includes the actor pool start and model "
          "load of each run)")
    print(f"ratio ray/local (median of {len(ratios)} interleaved pairs): "
          f"{ratios[len(ratios) // 2]:.3f}  [min {ratios[0]:.3f}, max {ratios[-1]:.3f}]")


if __name__ == "__main__":
    main()
