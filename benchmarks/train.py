"""Training throughput: `jointspace.train` vs a plain PyTorch loop, same model, data and batch.

    .venv/bin/python benchmarks/train.py [--steps 60] [--batch 256] [--rounds 3] [--threads 2]
                                         [--augment none|shift] [--world DIR]

Both sides train the demo recipe (CNN image tower from scratch, locked all-MiniLM-L6-v2 text
tower with cached caption vectors, CLIP loss, AdamW) on the same pre-decoded world images:
  plain:      index a batch, scale pixels, embed, normalise, symmetric cross-entropy, step
  jointspace: train(TrainConfig(...)) — its loop time only (setup, caching and saving excluded)
Rounds alternate the two so background load hits both alike; prints samples/s (median) and
the ratio jointspace / plain (target >= 1.0).
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")


def plain_rate(world: Path, cache: Path, steps: int, batch: int, seed: int) -> float:
    import numpy as np
    import torch
    import torch.nn.functional as F

    from jointspace.train.data import load_pair_data
    from jointspace.train.text_cache import caption_ids
    from jointspace.train.trainable import build_trainable

    t = build_trainable("recipe:cnn-minilm", lock="text", seed=seed)
    data = load_pair_data(str(world / "train" / "pairs.jsonl"), t.processor,
                          captions_per_image=1, cache_dir=cache)
    unique, ids = caption_ids(data.captions)
    t.train_mode(False)
    with torch.inference_mode():
        text = torch.cat([t.text_frozen(t.tokenize(unique[i : i + 256]))
                          for i in range(0, len(unique), 256)]).clone()
    t.train_mode(True)
    images = torch.from_numpy(data.images)
    caption_of = torch.from_numpy(ids[data.start[:-1]])  # one caption per image
    params = [p for p in t.model.parameters() if p.requires_grad]
    opt = torch.optim.AdamW(params, lr=2e-3, weight_decay=0.05)
    gen = np.random.default_rng(seed)
    labels = torch.arange(batch)
    start = time.perf_counter()
    for _ in range(steps):
        idx = torch.from_numpy(gen.choice(len(images), batch, replace=False))
        pixels = images[idx].float() / 127.5 - 1.0
        img = F.normalize(t.model.get_image_features(pixels), dim=-1)
        txt = F.normalize(t.model.project_text(text[caption_of[idx]]), dim=-1)
        logits = t.model.logit_scale.exp() * img @ txt.T
        loss = (F.cross_entropy(logits, labels) + F.cross_entropy(logits.T, labels)) / 2
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
    return steps * batch / (time.perf_counter() - start)


def jointspace_rate(world: Path, cache: Path, out: Path, steps: int, batch: int, seed: int,
                    augment: str) -> float:
    from jointspace.train import TrainConfig, train

    result = train(TrainConfig(
        data=str(world / "train" / "pairs.jsonl"), out=str(out), init="recipe:cnn-minilm",
        lock="text", batch_size=batch, steps=steps, captions_per_image=1, augment=augment,
        seed=seed, log_every=10**9, checkpoint_every=10**9, resume=False, cache_dir=str(cache),
        progress=False, threads=int(os.environ["BENCH_THREADS"])))
    return result.samples_per_s


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--steps", type=int, default=60)
    ap.add_argument("--batch", type=int, default=256)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--augment", default="none", choices=["none", "shift"])
    ap.add_argument("--world", type=Path, help="an existing world (default: draw 6000 images)")
    args = ap.parse_args()

    import torch

    torch.set_num_threads(args.threads)
    os.environ["BENCH_THREADS"] = str(args.threads)
    with tempfile.TemporaryDirectory() as tmp:
        tmp_path = Path(tmp)
        world = args.world
        if world is None:
            from jointspace.worlds import WorldConfig, generate_world

            world = tmp_path / "world"
            generate_world(WorldConfig(out=str(world), n=6000, seed=0, shard_size=0))
        cache = tmp_path / "cache"
        plain, ours = [], []
        jointspace_rate(world, cache, tmp_path / "warm", 2, args.batch, 0, args.augment)  # caches
        for r in range(args.rounds):
            plain.append(plain_rate(world, cache, args.steps, args.batch, r))
            ours.append(jointspace_rate(world, cache, tmp_path / f"run{r}", args.steps,
                                        args.batch, r, args.augment))
            print(f"round {r}: plain {plain[-1]:.0f}/s  jointspace {ours[-1]:.0f}/s", flush=True)
    p, o = statistics.median(plain), statistics.median(ours)
    print(f"plain PyTorch loop : {p:8.1f} samples/s")
    print(f"jointspace.train   : {o:8.1f} samples/s  (augment={args.augment})")
    paired = [b / a for a, b in zip(plain, ours)]  # each pair ran back to back, same load
    print(f"ratio of medians   : {o / p:.2f}x")
    print(f"ratio, median pair : {statistics.median(paired):.2f}x  [min {min(paired):.2f}, "
          f"max {max(paired):.2f}]  (target >= 1.0)")


if __name__ == "__main__":
    main()
