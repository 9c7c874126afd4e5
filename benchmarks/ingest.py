"""End-to-end `jointspace index` throughput vs a model-only eager-fp32 loop, same model, same run.

    .venv/bin/python benchmarks/ingest.py [--n 1000] [--runtime auto] [--rounds 2] [--ref-images 256]

Builds a random-init CLIP with ViT-B/32 sizes (224 px input, 512-d; benchmarks/bench_models.py),
copies the COCO-mini photos (../shared/data, 239 real JPEGs, 640 px) into a temp folder, then
distinct variants of them (a few pixels cropped, re-encoded as JPEG) until there are --n files,
warms the runtime's export cache once (timed and printed: that is the one-off cost a user pays on
first use), then alternates per round:
  reference: eager fp32 `get_image_features`, torch on all cores, batches of 32, on pre-decoded,
             pre-processed tensors (its rate does not depend on n, so it runs on --ref-images);
  cli:       `python -m jointspace index FOLDER -c NEW --runtime R --json` as a subprocess, wall
             time from process start to exit (import, model load, read, hash, decode, embed, commit);
  add:       `Collection.add(folder)` in this process with the same runtime (model loaded before).
Prints images/s, the ratios to the reference (target >= 2.0), and images/s as a fraction of the
machine's limit: measured peak fp32 GFLOP/s (a large matmul, all cores) / GFLOP per image.
"""

from __future__ import annotations

import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
DATA = HERE.parents[0].parent / "shared" / "data" / "coco_mini" / "images"
sys.path.insert(0, str(HERE))


def make_folder(directory: Path, n: int) -> list[Path]:
    photos = sorted(DATA.rglob("*.jpg"))
    if not photos:
        raise SystemExit(f"no photos under {DATA}")
    directory.mkdir(parents=True)
    out = []
    for i in range(n):
        src = photos[i % len(photos)]
        dst = directory / f"{i:05d}_{src.name}"
        if i < len(photos):
            shutil.copyfile(src, dst)
        else:  # a distinct JPEG of the same photo: a few pixels cropped, re-encoded
            from PIL import Image

            with Image.open(src) as im:
                cut = 1 + i // len(photos)
                im.convert("RGB").crop((cut, cut, im.width - cut, im.height - cut)).save(
                    dst, "JPEG", quality=90 - (i // len(photos)) % 10)
        out.append(dst)
    return out


def predecode(model_dir: Path, paths: list[Path]):
    import numpy as np
    from PIL import Image, ImageOps
    from transformers import AutoImageProcessor

    proc = AutoImageProcessor.from_pretrained(model_dir)
    return np.stack([proc(images=[ImageOps.exif_transpose(Image.open(p)).convert("RGB")],
                          return_tensors="np")["pixel_values"][0] for p in paths])


def reference_rate(model, pixels, batch: int = 32) -> float:
    import torch

    start = time.perf_counter()
    with torch.inference_mode():
        for i in range(0, len(pixels), batch):
            model.get_image_features(pixel_values=torch.from_numpy(pixels[i:i + batch]))
    return len(pixels) / (time.perf_counter() - start)


def cli_rate(model_dir: Path, folder: Path, out: Path, runtime: str, n: int) -> float:
    cmd = [sys.executable, "-m", "jointspace", "index", str(folder), "-c", str(out),
           "--model", f"hf:{model_dir}", "--runtime", runtime, "--json"]
    start = time.perf_counter()
    done = subprocess.run(cmd, capture_output=True, text=True, env=os.environ.copy())
    seconds = time.perf_counter() - start
    if done.returncode != 0:
        raise SystemExit(f"index failed: {done.stderr[-2000:]}")
    report = json.loads(done.stdout)
    assert report["added"] == n and report["failed"] == 0, report
    return n / seconds


def add_rate(embedder, folder: Path, out: Path, n: int) -> float:
    from jointspace.query import Collection

    col = Collection.create(out, embedder=embedder)
    start = time.perf_counter()
    report = col.add(folder)
    seconds = time.perf_counter() - start
    col.close()
    assert report.added == n and report.failed == 0
    return n / seconds


def machine_limit(model) -> tuple[float, float]:
    """(peak fp32 GFLOP/s of a 2048^3 matmul, GFLOP per image of the image tower)."""
    import torch
    from torch.utils.flop_counter import FlopCounterMode

    a, b = torch.randn(2048, 2048), torch.randn(2048, 2048)
    a @ b
    times = []
    for _ in range(5):
        start = time.perf_counter()
        a @ b
        times.append(time.perf_counter() - start)
    peak = 2 * 2048**3 / min(times) / 1e9
    with FlopCounterMode(display=False) as counter, torch.inference_mode():
        model.get_image_features(pixel_values=torch.zeros(1, 3, 224, 224))
    return peak, counter.get_total_flops() / 1e9


def main() -> None:
    from bench_models import build_vit_b32_clip, model_bench_parser

    ap = model_bench_parser(__doc__)
    ap.add_argument("--n", type=int, default=1000)
    ap.add_argument("--rounds", type=int, default=2)
    ap.add_argument("--ref-images", type=int, default=256)
    args = ap.parse_args()

    from jointspace.runtime import configure_process

    configure_process()  # the CLI's thread settings, before torch loads
    from transformers import AutoModel

    from jointspace.models import load_embedder

    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        model_dir = build_vit_b32_clip(args.model_dir or tmp / "model")
        paths = make_folder(tmp / "photos", args.n)
        start = time.perf_counter()
        embedder = load_embedder(f"hf:{model_dir}", runtime=args.runtime)
        print(f"runtime {args.runtime}: {embedder.runtimes} (first load incl. any export: "
              f"{time.perf_counter() - start:.1f} s)", flush=True)
        model = AutoModel.from_pretrained(model_dir).eval()
        pixels = predecode(model_dir, paths[: args.ref_images])
        rows = []
        for r in range(args.rounds):
            ref = reference_rate(model, pixels)
            cli = cli_rate(model_dir, tmp / "photos", tmp / f"cli{r}", args.runtime, args.n)
            add = add_rate(embedder, tmp / "photos", tmp / f"add{r}", args.n)
            rows.append((ref, cli, add))
            print(f"round {r + 1}: reference {ref:.1f} img/s, cli {cli:.1f} img/s "
                  f"(x{cli / ref:.2f}), Collection.add {add:.1f} img/s (x{add / ref:.2f})",
                  flush=True)
        peak, gflop = machine_limit(model)
    med = [statistics.median(col) for col in zip(*rows)]
    cli_ratio = statistics.median(c / r for r, c, _ in rows)
    add_ratio = statistics.median(a / r for r, _, a in rows)
    limit = peak / gflop
    print(f"images: {args.n}  runtime: {args.runtime} -> {embedder.runtimes}  cores: {os.cpu_count()}")
    print(f"reference (eager fp32, model only, pre-decoded, batch 32): {med[0]:7.1f} img/s")
    print(f"jointspace index CLI (end to end, process start included):  {med[1]:7.1f} img/s  "
          f"ratio x{cli_ratio:.2f} (target >= 2.0)")
    print(f"Collection.add (in process):                               {med[2]:7.1f} img/s  "
          f"ratio x{add_ratio:.2f} (target >= 2.0)")
    print(f"machine limit: {peak:.0f} GFLOP/s fp32 peak / {gflop:.2f} GFLOP per image = "
          f"{limit:.1f} img/s; reference at {med[0] / limit:.0%}, CLI at {med[1] / limit:.0%}, "
          f"add at {med[2] / limit:.0%} of it")


if __name__ == "__main__":
    main()
