"""Training throughput: `jointspace.train` vs a plain PyTorch fp32 loop, same model, data and batch.

    .venv/bin/python benchmarks/train.py [--steps 60] [--batch 256] [--rounds 3] [--threads 2]
                                         [--augment none|shift] [--world DIR] [--images N]
                                         [--cache DIR] [--bf16] [--compile] [--compile-fp32]
                                         [--overrides JSON]

Both sides train the demo recipe's model (its CNN image tower from scratch, locked
all-MiniLM-L6-v2 text tower with cached caption vectors, CLIP loss, AdamW) on the same
pre-decoded world images:
  plain:      index a batch, scale pixels, embed, normalise, symmetric cross-entropy, step
              (fp32, foreach AdamW: what a careful engineer writes first)
  jointspace: train(TrainConfig(...)) — its loop time only (setup, caching and saving excluded):
              channels-last uint8 batches, fused AdamW, optional bf16 autocast (--bf16)
Rounds alternate the sides so background load hits both alike; prints samples/s (medians), the
ratios, and samples/s as a fraction of the machine's measured peak for the image tower's FLOPs.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import tempfile
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")

from jointspace.demo.config import RECIPE  # noqa: E402 - after the offline default


def _config(world: Path, cache: Path, out: Path, steps: int, batch: int, seed: int,
            augment: str = "none", precision: str = "fp32", compile: bool = False):
    from jointspace.train import TrainConfig

    return TrainConfig(
        data=str(world / "train" / "pairs.jsonl"), out=str(out), init="recipe:cnn-minilm",
        lock="text", batch_size=batch, steps=steps, captions_per_image=1, augment=augment,
        seed=seed, log_every=10**9, checkpoint_every=10**9, resume=False, cache_dir=str(cache),
        max_images=int(os.environ.get("BENCH_IMAGES", "0")) or None, val_fraction=0.0,
        progress=False, threads=int(os.environ["BENCH_THREADS"]),
        precision=precision, compile=compile,
        recipe_overrides=json.loads(os.environ.get("BENCH_OVERRIDES") or "null")
        or RECIPE["recipe_overrides"])


def _setup(world: Path, cache: Path, seed: int):
    """The same model, images and cached caption vectors jointspace.train starts from."""
    import numpy as np
    import torch

    from jointspace.train.distributed import Dist
    from jointspace.train.loop import _setup as train_setup

    s = train_setup(_config(world, cache, cache / "unused", 1, 1, seed), Dist())
    s.t.train_mode(True)
    caption_of = torch.from_numpy(s.ids[s.data.start[:-1]])  # one caption per image
    return s.t, torch.from_numpy(s.data.images), s.text, caption_of, np.random.default_rng(seed)


def plain_rate(world: Path, cache: Path, steps: int, batch: int, seed: int) -> float:
    import torch
    import torch.nn.functional as F

    t, images, text, caption_of, gen = _setup(world, cache, seed)
    params = [p for p in t.model.parameters() if p.requires_grad]
    opt = torch.optim.AdamW(params, lr=2e-3, weight_decay=0.05)
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


def jointspace_run(world: Path, cache: Path, out: Path, steps: int, batch: int, seed: int,
                   augment: str, side: str = "fp32"):
    """``side``: fp32, bf16, or bf16+compile (its one-off compile is timed apart, not a step)."""
    from jointspace.train import train

    return train(_config(world, cache, out, steps, batch, seed, augment, side.split("+")[0],
                         compile=side.endswith("+compile")))


def tower_flops(world: Path, cache: Path, batch: int) -> float:
    """FLOPs of one training step's image side (forward + backward) per sample."""
    from torch.utils.flop_counter import FlopCounterMode

    t, images, *_ = _setup(world, cache, 0)
    pixels = images[:batch].float() / 127.5 - 1.0
    with FlopCounterMode(display=False) as counter:
        t.model.get_image_features(pixels).square().mean().backward()
    return counter.get_total_flops() / batch


def peak_flops(dtype_name: str = "float32", n: int = 2048, reps: int = 6) -> float:
    """Best measured GFLOP/s of an n x n matmul (the machine's practical peak)."""
    import torch

    dtype = getattr(torch, dtype_name)
    a, b = torch.randn(n, n).to(dtype), torch.randn(n, n).to(dtype)
    best = float("inf")
    for _ in range(reps):
        t0 = time.perf_counter()
        a @ b
        best = min(best, time.perf_counter() - t0)
    return 2 * n**3 / best


def _json_object(text: str) -> dict:
    try:
        value = json.loads(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(f"not JSON: {exc}") from None
    if not isinstance(value, dict):
        raise argparse.ArgumentTypeError('expected a JSON object, e.g. {"cnn_widths": [16, 64]}')
    return value


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--steps", type=int, default=60)
    ap.add_argument("--batch", type=int, default=256)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--augment", default="none", choices=["none", "shift"])
    ap.add_argument("--bf16", action="store_true", help="also time jointspace with bf16 autocast")
    ap.add_argument("--compile", action="store_true",
                    help="also time bf16 autocast with the image tower torch.compiled")
    ap.add_argument("--compile-fp32", action="store_true",
                    help="also time fp32 with the image tower torch.compiled")
    ap.add_argument("--overrides", type=_json_object, default=None,
                    help="model settings as a JSON object (default: the demo recipe's "
                         "recipe_overrides)")
    ap.add_argument("--world", type=Path, help="an existing world (default: draw 6000 images)")
    ap.add_argument("--images", type=int, default=0, help="train on the first N images only")
    ap.add_argument("--cache", type=Path, help="image/text cache dir to reuse (default: a temp dir)")
    args = ap.parse_args()

    import numpy as np
    import torch

    torch.set_num_threads(args.threads)
    os.environ["BENCH_THREADS"] = str(args.threads)
    os.environ["BENCH_IMAGES"] = str(args.images)
    os.environ["BENCH_OVERRIDES"] = json.dumps(args.overrides) if args.overrides else ""
    sides = ["plain", "fp32"] + (["bf16"] if args.bf16 else []) + (
        ["fp32+compile"] if args.compile_fp32 else []) + (
        ["bf16+compile"] if args.compile else [])
    rates: dict[str, list[float]] = {s: [] for s in sides}
    losses: dict[str, list[float]] = {}
    with tempfile.TemporaryDirectory() as tmp:
        tmp_path = Path(tmp)
        world = args.world
        if world is None:
            from jointspace.worlds import WorldConfig, generate_world

            world = tmp_path / "world"
            generate_world(WorldConfig(out=str(world), n=6000, seed=0, shard_size=0))
        cache = args.cache or tmp_path / "cache"
        jointspace_run(world, cache, tmp_path / "warm", 2, args.batch, 0, args.augment)  # caches
        for r in range(args.rounds):
            for side in sides:
                if side == "plain":
                    rates[side].append(plain_rate(world, cache, args.steps, args.batch, r))
                    continue
                res = jointspace_run(world, cache, tmp_path / f"{side}{r}", args.steps,
                                     args.batch, 0, args.augment, side)
                rates[side].append(res.samples_per_s)
                losses[side] = res.losses  # same seed every round: same curve
            print(f"round {r}: " + "  ".join(f"{s} {rates[s][-1]:.0f}/s" for s in sides),
                  flush=True)
        flops = tower_flops(world, cache, 64)
    peak32, peak16 = peak_flops("float32"), peak_flops("bfloat16")
    plain = statistics.median(rates["plain"])
    print(f"plain fp32 loop     : {plain:8.1f} samples/s")
    for side in sides[1:]:
        med = statistics.median(rates[side])
        pairs = [b / a for a, b in zip(rates["plain"], rates[side], strict=True)]
        print(f"jointspace {side:<12}: {med:8.1f} samples/s  ratio of medians {med / plain:.2f}x, "
              f"median pair {statistics.median(pairs):.2f}x [{min(pairs):.2f}, {max(pairs):.2f}]"
              f"  (target >= 1.5)")
    print(f"image tower: {flops / 1e6:.1f} MFLOP per sample (forward + backward); measured "
          f"matmul peak {peak32 / 1e9:.0f} GFLOP/s fp32, {peak16 / 1e9:.0f} GFLOP/s bf16")
    for side in sides:
        med = statistics.median(rates[side])
        print(f"  {side:<12}: {med * flops / 1e9:6.1f} GFLOP/s = {med * flops / peak32:.0%} of "
              f"the fp32 peak")
    if "bf16" in losses:
        a, b = np.array(losses["fp32"]), np.array(losses["bf16"])
        print(f"loss curve bf16 vs fp32 (same seed, {len(a)} steps): first {a[0]:.4f}/{b[0]:.4f}"
              f", last {a[-1]:.4f}/{b[-1]:.4f}, max |diff| {np.abs(a - b).max():.4f}")


if __name__ == "__main__":
    main()
