"""Generate a world on disk: images per split, ``pairs.jsonl`` manifests and webdataset shards.

Layout of ``out/``::

    world.json                 the config, vocabulary, held-out pairs and counts
    pairs.jsonl                every image (file relative to out/, captions, split, labels)
    <split>/pairs.jsonl        the same rows for one split, files relative to <split>/
    <split>/images/000123.png
    shards/<split>-000000.tar  webdataset shards: <key>.png, <key>.json, <key>.txt

Each image is drawn from its own seed ``[seed, index]``, so the output does not depend on the
number of worker processes.
"""

from __future__ import annotations

import io
import json
import os
import time
from collections.abc import Callable, Iterator
from contextlib import ExitStack
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

from jointspace.errors import BadInputError
from jointspace.worlds.captions import make_captions
from jointspace.worlds.draw import render_scene
from jointspace.worlds.scene import SceneOptions, heldout_pairs, sample_scene
from jointspace.worlds.shards import ShardWriter
from jointspace.worlds.vocab import COLOURS, SHAPES, compositions

SPLITS = ("train", "val", "test", "heldout")
FORMAT_VERSION = 1


@dataclass
class WorldConfig:
    out: str  # output directory
    n: int = 50_000  # total images over all splits
    seed: int = 0  # world seed: same seed + config -> same bytes
    image_size: int = 64  # side of the square images in pixels
    captions_per_image: int = 4  # distinct captions per image
    fractions: tuple[float, float, float, float] = (0.8, 0.05, 0.1, 0.05)  # train/val/test/heldout
    scene: SceneOptions = field(default_factory=SceneOptions)  # object counts, noise, text
    shard_size: int = 5000  # samples per webdataset shard; 0 = no shards
    workers: int = 0  # processes for drawing; 0 = os.cpu_count()


@dataclass
class WorldSummary:
    out: str
    counts: dict[str, int]  # images per split
    heldout_pairs: list[tuple[str, str]]
    seconds: float
    manifest: str  # path of the all-splits pairs.jsonl
    shards: list[str]

    def to_dict(self) -> dict:
        return asdict(self)


def split_counts(n: int, fractions: tuple[float, ...]) -> dict[str, int]:
    """Images per split; rounding leftovers go to train."""
    if len(fractions) != len(SPLITS) or min(fractions) < 0 or sum(fractions) <= 0:
        raise BadInputError(f"bad split fractions {fractions}", hint="give 4 non-negative numbers")
    total = sum(fractions)
    counts = {s: int(n * f / total) for s, f in zip(SPLITS, fractions)}
    counts["train"] += n - sum(counts.values())
    return counts


def generate_world(config: WorldConfig, progress: Callable[[int, int], None] | None = None) -> WorldSummary:
    """Draw ``config.n`` scenes, write images, manifests and shards; return what was written."""
    if config.n < 1:
        raise BadInputError(f"--n must be at least 1, got {config.n}", hint="e.g. --n 50000")
    t0 = time.perf_counter()
    out = Path(config.out)
    counts = split_counts(config.n, config.fractions)
    held = heldout_pairs(config.seed)
    jobs = _jobs(config, counts)
    for split in SPLITS:
        (out / split / "images").mkdir(parents=True, exist_ok=True)
    shards = ShardWriter(out / "shards", config.shard_size) if config.shard_size else None
    done = 0
    with ExitStack() as stack:
        writers = {s: stack.enter_context(open(out / s / "pairs.jsonl", "w")) for s in SPLITS}
        all_rows = stack.enter_context(open(out / "pairs.jsonl", "w"))
        if shards:
            stack.callback(shards.close)
        for row, png in _run(jobs, config, held):
            split = row["split"]
            (out / split / row["file"]).write_bytes(png)
            writers[split].write(json.dumps(row) + "\n")
            all_rows.write(json.dumps({**row, "file": f"{split}/{row['file']}"}) + "\n")
            if shards:
                shards.write(split, row, png)
            done += 1
            if progress and (done % 500 == 0 or done == config.n):
                progress(done, config.n)
    shard_paths = shards.paths if shards else []
    summary = WorldSummary(str(out), counts, held, round(time.perf_counter() - t0, 2),
                           str(out / "pairs.jsonl"), shard_paths)
    _write_world_json(out, config, summary)
    return summary


def _jobs(config: WorldConfig, counts: dict[str, int]) -> list[tuple[int, str]]:
    jobs, index = [], 0
    for split in SPLITS:
        for _ in range(counts[split]):
            jobs.append((index, split))
            index += 1
    return jobs


def _run(jobs, config: WorldConfig, held) -> Iterator[tuple[dict, bytes]]:
    workers = config.workers or os.cpu_count() or 1
    chunks = [jobs[i : i + 256] for i in range(0, len(jobs), 256)]
    args = [(chunk, config.seed, config.image_size, config.captions_per_image, config.scene, held)
            for chunk in chunks]
    if workers <= 1 or len(jobs) < 512:
        for a in args:
            yield from _draw_chunk(a)
        return
    import multiprocessing as mp

    with mp.get_context("spawn").Pool(workers) as pool:
        for rows in pool.imap(_draw_chunk, args):
            yield from rows


def _draw_chunk(args) -> list[tuple[dict, bytes]]:
    chunk, seed, size, k, options, held = args
    held_set = set(held)
    seen = [p for p in compositions() if p not in held_set]
    out = []
    for index, split in chunk:
        rng = np.random.default_rng([seed, index])
        required = held if split == "heldout" else None
        scene = sample_scene(rng, seen if split != "heldout" else compositions(), options,
                             required=required)
        scene.seed = [seed, index, 1]
        img = render_scene(scene, size)
        buf = io.BytesIO()
        img.save(buf, format="PNG", compress_level=1)
        row = {
            "file": f"images/{index:06d}.png",
            "captions": make_captions(scene, rng, k),
            "split": split,
            "index": index,
            **scene.to_dict(),
            "labels": sorted({o.label for o in scene.objects}),
            "n_objects": len(scene.objects),
        }
        out.append((row, buf.getvalue()))
    return out


def _write_world_json(out: Path, config: WorldConfig, summary: WorldSummary) -> None:
    meta = {
        "format_version": FORMAT_VERSION,
        "config": {k: v for k, v in asdict(config).items() if k != "out"},
        "colours": list(COLOURS),
        "shapes": list(SHAPES),
        "heldout_pairs": [list(p) for p in summary.heldout_pairs],
        "counts": summary.counts,
        "seconds": summary.seconds,
    }
    (out / "world.json").write_text(json.dumps(meta, indent=2) + "\n")


def load_world_meta(path: str | os.PathLike) -> dict:
    """Read ``world.json`` from a world directory (or the directory of a manifest inside it)."""
    p = Path(path)
    for candidate in (p, p.parent, p.parent.parent):
        if (candidate / "world.json").is_file():
            return json.loads((candidate / "world.json").read_text())
    raise BadInputError(f"no world.json at or above {path}",
                        hint="generate one with `jointspace world generate --out DIR`")
