"""End-to-end `index` throughput vs a model-only loop, same model, same process.

    .venv/bin/python benchmarks/ingest.py [--n 1000] [--workers 1] [--threads 2] [--fast-decode]

Builds a random-init CLIP with ViT-B/32 sizes (224 px input, 512-d output), copies the COCO-mini
photos from ../shared/data into a temp folder until there are --n files, then times:
  reference: model.get_image_features on pre-decoded, pre-processed tensors (batches of --batch)
  jointspace: Collection.add(folder) — read, hash, decode, preprocess, embed, commit to SQLite
and prints images/s for both and the ratio (target >= 0.9).
"""

from __future__ import annotations

import argparse
import os
import shutil
import tempfile
import time
from pathlib import Path

DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "coco_mini" / "images"


def build_model(directory: Path) -> None:
    from transformers import CLIPConfig, CLIPImageProcessor, CLIPModel

    config = CLIPConfig()  # the defaults are ViT-B/32: 12 layers, 768 wide, patch 32, 224 px
    CLIPModel(config).save_pretrained(directory)
    CLIPImageProcessor(size={"shortest_edge": 224}, crop_size=224).save_pretrained(directory)


def make_folder(directory: Path, n: int) -> list[Path]:
    photos = sorted(DATA.rglob("*.jpg"))
    if not photos:
        raise SystemExit(f"no photos under {DATA}")
    directory.mkdir(parents=True)
    out = []
    for i in range(n):
        dst = directory / f"{i:05d}_{photos[i % len(photos)].name}"
        shutil.copyfile(photos[i % len(photos)], dst)
        out.append(dst)
    return out


def reference_rate(model_dir: Path, paths: list[Path], batch: int) -> float:
    import numpy as np
    import torch
    from PIL import Image, ImageOps
    from transformers import AutoImageProcessor, AutoModel

    model = AutoModel.from_pretrained(model_dir).eval()
    proc = AutoImageProcessor.from_pretrained(model_dir)
    pixels = [
        proc(images=[ImageOps.exif_transpose(Image.open(p)).convert("RGB")],
             return_tensors="np")["pixel_values"][0]
        for p in paths
    ]
    start = time.perf_counter()
    with torch.inference_mode():
        for i in range(0, len(pixels), batch):
            model.get_image_features(pixel_values=torch.from_numpy(np.stack(pixels[i:i + batch])))
    return len(pixels) / (time.perf_counter() - start)


def jointspace_rate(model_dir: Path, folder: Path, out: Path, batch: int, workers: int | None,
                    fast: bool) -> tuple[float, dict]:
    from jointspace.query import Collection

    col = Collection.create(out, model=f"hf:{model_dir}")
    _ = col.embedder  # load before timing, as the reference does
    start = time.perf_counter()
    report = col.add(folder, batch_size=batch, workers=workers, fast_decode=fast)
    rate = (report.added + report.updated) / (time.perf_counter() - start)
    col.close()
    return rate, report.to_dict()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--n", type=int, default=1000)
    ap.add_argument("--batch", type=int, default=64)
    ap.add_argument("--workers", type=int, default=None, help="decode processes (default: auto)")
    ap.add_argument("--threads", type=int, default=os.cpu_count(), help="torch intra-op threads")
    ap.add_argument("--fast-decode", action="store_true")
    ap.add_argument("--rounds", type=int, default=2,
                    help="reference/jointspace pairs, interleaved so machine drift hits both")
    args = ap.parse_args()

    from jointspace.runtime import configure_process

    configure_process()  # the CLI's thread settings, before torch loads
    import torch

    torch.set_num_threads(args.threads)
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        build_model(tmp / "model")
        paths = make_folder(tmp / "photos", args.n)
        pairs = []
        for r in range(args.rounds):
            ref = reference_rate(tmp / "model", paths, args.batch)
            ours, report = jointspace_rate(tmp / "model", tmp / "photos", tmp / f"col{r}",
                                           args.batch, args.workers, args.fast_decode)
            pairs.append((ref, ours))
            print(f"round {r + 1}: reference {ref:.1f} images/s, jointspace {ours:.1f} images/s, "
                  f"ratio {ours / ref:.3f}", flush=True)
    ratios = sorted(o / r for r, o in pairs)
    ref, ours = (sorted(p[i] for p in pairs)[len(pairs) // 2] for i in (0, 1))
    print(f"images: {args.n}  batch: {args.batch}  torch threads: {args.threads}  "
          f"workers: {args.workers if args.workers is not None else 'auto'}  "
          f"fast decode: {args.fast_decode}")
    print(f"reference (model only, pre-decoded tensors): {ref:8.1f} images/s (median)")
    print(f"jointspace index (end to end):               {ours:8.1f} images/s (median)")
    print(f"ratio (median of {len(ratios)} interleaved pairs): {ratios[len(ratios) // 2]:.3f}  "
          f"[min {ratios[0]:.3f}, max {ratios[-1]:.3f}]  (target >= 0.9)  "
          f"failed files: {report['failed']}")


if __name__ == "__main__":
    main()
