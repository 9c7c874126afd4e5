"""The quality layer's ablation table: each method against the plain method, same data, same run.

    .venv/bin/python benchmarks/quality.py --world runs/demo/world \\
        --model hf:runs/demo/train/model [--world runs/seed2/world ...] \\
        [--tune-world runs/seed1/world] [--scifact ../shared/data/scifact]

Rows (``method, data, split, metric, plain, with_method``):
- hubness (QB-Norm, CSLS): world test pairs (first 1,000 test images, their 4,000 captions)
  t2i / i2t R@1 and the k-occurrence skewness; the banks are as large as a collection keeps
  (4,096): the first 4,096 train captions (t2i) and 4,096 train images (i2t); beta / k tuned on
  the val split (first 1,000 val images). SciFact train: a third of the queries is
  the bank, a third tunes, a third reports nDCG@10.
- modality balancing: 1,000 test images plus two captions each in one collection, the 100
  single-object queries.
- min-score auto: the same 1,000 test images (their first caption each), a tenth of the
  compositions removed at a time, the 100 single-object queries; ``miss`` tuned on val.
- zero-shot rows (ZLaP, ZPE, knobs tuned on --tune-world) and near-duplicate rows (COCO-mini plus
  variants) from benchmarks/quality_zeroshot.py.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import sys
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

MISSES = (0.1, 0.2, 0.25, 0.3, 0.4)


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--world", action="append", type=Path, default=[],
                   help="A generated world (repeatable; the first also gets modality and "
                        "calibration rows).")
    p.add_argument("--model", default="hf:runs/demo/train/model")
    p.add_argument("--scifact", type=Path, default=HERE.parent.parent / "shared/data/scifact")
    p.add_argument("--cache", type=Path,
                   default=Path(os.path.expanduser("~/.cache/jointspace/quality")))
    p.add_argument("--pairs-images", type=int, default=1000)
    p.add_argument("--bank-images", type=int, default=4096,
                   help="Train images in the i2t bank (their captions, two each, fill the t2i "
                        "bank up to the 4,096 a collection keeps).")
    p.add_argument("--tune-world", type=Path, default=None,
                   help="A world used only to tune the zero-shot knobs (ZLaP, ZPE); without "
                        "it they keep their defaults.")
    p.add_argument("--skip", action="append", default=[],
                   choices=("hubness", "modality", "calibration", "scifact", "zeroshot",
                            "duplicates"), help="Leave a part out (repeatable).")
    p.add_argument("--json", action="store_true", help="Print the rows as JSON lines too.")
    args = p.parse_args(argv)
    rows = collect(args)
    print_table(rows)
    if args.json:
        for r in rows:
            print(json.dumps(r))


def collect(args) -> list[dict]:
    from jointspace.models import load_embedder

    rows: list[dict] = []
    embedder = load_embedder(args.model) if args.world else None
    for n, world in enumerate(args.world):
        rows += world_rows(world, embedder, args, first=n == 0)
    if "scifact" not in args.skip and args.scifact.is_dir():
        rows += scifact(args)
    if "zeroshot" not in args.skip:
        rows += zeroshot_rows(args)
    return rows


def world_rows(world: Path, embedder, args, *, first: bool) -> list[dict]:
    from quality_data import world_split
    from quality_hubness import world_rows as hub_rows
    from quality_world import calibration_rows, modality_rows, scratch, world_queries

    from jointspace.query.quality_setup import BANK_MAX
    from jointspace.worlds.generate import load_world_meta

    meta = load_world_meta(world)
    data = f"world seed {meta['config']['seed']}"
    t0 = time.perf_counter()
    val = world_split(world, "val", embedder, args.cache, args.pairs_images)
    test = world_split(world, "test", embedder, args.cache, args.pairs_images)
    rows: list[dict] = []
    train = world_split(world, "train", embedder, args.cache, args.bank_images,
                        captions_per_image=2)
    if "hubness" not in args.skip:
        rows += hub_rows(data, val, test, train.txt[:BANK_MAX], train.img[:BANK_MAX])
    print(f"[{data}: hubness {time.perf_counter() - t0:.0f} s]", file=sys.stderr)
    if not first:
        return rows
    queries = world_queries(meta["heldout_pairs"])
    qvec = embedder.embed_texts([q.text for q in queries])
    work = scratch()
    if "modality" not in args.skip:
        rows += modality_rows(data, test, qvec, queries, embedder.name, work,
                              train.txt[:BANK_MAX])
    if "calibration" not in args.skip:
        miss = tune_miss(data, val, qvec, queries, embedder.name, work)
        rows += calibration_rows(data, "test", test, qvec, queries, embedder.name, work,
                                 miss=miss)
    print(f"[{data}: all {time.perf_counter() - t0:.0f} s]", file=sys.stderr)
    return rows


def tune_miss(data, split, qvec, queries, model, work) -> float:
    """The calibration's ``miss`` closest to all three targets on the validation split."""
    from quality_world import calibration_rows

    targets = (0.9, 0.95, 0.9)
    best, best_score = MISSES[0], -1.0
    for miss in MISSES:
        got = [r["with_method"] for r in calibration_rows(data, "val", split, qvec, queries,
                                                          model, work / f"tune{miss}", miss=miss)]
        score = min(g / t for g, t in zip(got, targets, strict=True))
        print(f"  tune miss={miss}: {np.round(got, 3).tolist()}", file=sys.stderr)
        if score > best_score:
            best, best_score = miss, score
    return best


def scifact(args) -> list[dict]:
    from quality_hubness import scifact_rows

    from jointspace.evaluate.beir import load_beir
    from jointspace.evaluate.cache import cached_embed_texts
    from jointspace.models import load_embedder

    ds = load_beir(args.scifact, "train")
    emb = load_embedder("sbert:all-MiniLM-L6-v2")
    docs, _ = cached_embed_texts(emb, ds.dense_texts())
    queries, _ = cached_embed_texts(emb, ds.queries)
    return scifact_rows(ds, docs, queries)


def zeroshot_rows(args) -> list[dict]:
    """Rows of benchmarks/quality_zeroshot.py (the zero-shot half of the layer), if present."""
    path = HERE / "quality_zeroshot.py"
    if not path.is_file():
        return []
    spec = importlib.util.spec_from_file_location("quality_zeroshot", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return list(module.rows(zeroshot_args(module, args)))


def zeroshot_args(module, args) -> argparse.Namespace:
    """Its own defaults (``add_arguments``), pointed at this run's model, worlds and cache."""
    ap = argparse.ArgumentParser()
    if hasattr(module, "add_arguments"):
        module.add_arguments(ap)
    zs = ap.parse_args([])
    mine = {"model": args.model.removeprefix("hf:"), "cache": str(args.cache),
            "skip_duplicates": "duplicates" in args.skip}
    if args.tune_world is not None:
        mine["tune_world"] = str(args.tune_world)
    if args.world:
        mine |= {"world": str(args.world[0]), "report_world": [str(w) for w in args.world[1:]]}
    for name, value in mine.items():
        if hasattr(zs, name) or not hasattr(module, "add_arguments"):
            setattr(zs, name, value)
    return zs


def print_table(rows: list[dict]) -> None:
    head = ("method", "data", "split", "metric", "plain", "with method", "delta")
    lines = [[str(r["method"]), str(r["data"]), str(r["split"]), str(r["metric"]),
              _fmt(r["plain"]), _fmt(r["with_method"]), _delta(r)] for r in rows]
    widths = [max(len(h), *(len(line[i]) for line in lines)) if lines else len(h)
              for i, h in enumerate(head)]
    print(" | ".join(h.ljust(w) for h, w in zip(head, widths, strict=True)))
    print("-|-".join("-" * w for w in widths))
    for line in lines:
        print(" | ".join(c.ljust(w) for c, w in zip(line, widths, strict=True)))


def _fmt(v) -> str:
    return "—" if v is None else f"{v:.4f}" if isinstance(v, float) else str(v)


def _delta(r: dict) -> str:
    a, b = r["plain"], r["with_method"]
    return f"{b - a:+.4f}" if isinstance(a, (int, float)) and isinstance(b, (int, float)) else ""


if __name__ == "__main__":
    main()
