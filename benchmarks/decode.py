"""Opt-in fast decode (JPEG draft mode) vs exact decode on large photos.

    .venv/bin/python benchmarks/decode.py [--photos 12] [--side 3000]

Upscales COCO-mini photos to --side px JPEGs in a temp dir (large camera-like files), then for a
random-init CLIP with ViT-B/32 sizes (224 px input) measures decode + preprocess time per image,
exact vs `load_image(fast=True)` (shorter side kept >= 448 px) and vs draft at the model's own
224 px, and the cosine between the resulting embeddings. Exact and fast runs alternate per photo.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "coco_mini" / "images"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--photos", type=int, default=12)
    ap.add_argument("--side", type=int, default=3000)
    args = ap.parse_args()

    from jointspace.runtime import configure_process

    configure_process()
    import numpy as np
    from PIL import Image
    from transformers import CLIPConfig, CLIPImageProcessor, CLIPModel

    from jointspace.ingest.decode import load_image
    from jointspace.models import load_embedder

    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        CLIPModel(CLIPConfig()).save_pretrained(tmp / "model")
        CLIPImageProcessor(size={"shortest_edge": 224}, crop_size=224).save_pretrained(tmp / "model")
        emb = load_embedder(f"hf:{tmp / 'model'}")
        prep = emb.image_preprocessor()
        photos = []
        for i, src in enumerate(sorted(DATA.rglob("*.jpg"))[: args.photos]):
            im = Image.open(src).convert("RGB")
            scale = args.side / max(im.size)
            im = im.resize((round(im.width * scale), round(im.height * scale)), Image.LANCZOS)
            photos.append(tmp / f"big{i}.jpg")
            im.save(photos[-1], quality=92)

        modes = {"exact": {}, "fast (>=448 px)": {"fast": True}, "draft 224 px": {"draft_size": 224}}
        times: dict[str, list[float]] = {m: [] for m in modes}
        arrays: dict[str, list] = {m: [] for m in modes}
        for path in photos:
            data = path.read_bytes()
            for mode, kwargs in modes.items():
                t = time.perf_counter()
                arrays[mode].append(prep(load_image(data, **kwargs)))
                times[mode].append(time.perf_counter() - t)
        vecs = {m: emb.embed_preprocessed(np.stack(a)) for m, a in arrays.items()}
        size = Image.open(photos[0]).size
    exact = statistics.median(times["exact"])
    print(f"{len(photos)} photos of about {size[0]}x{size[1]} px, ViT-B/32-sized random-init CLIP")
    for mode in modes:
        med = statistics.median(times[mode])
        cos = (vecs[mode] * vecs["exact"]).sum(axis=1)
        print(f"{mode:16s} decode+preprocess {med * 1e3:7.1f} ms/image  speed-up x{exact / med:5.2f}"
              f"  cosine vs exact min {cos.min():.5f} mean {cos.mean():.5f}")


if __name__ == "__main__":
    main()
