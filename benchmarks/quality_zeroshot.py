"""Ablation rows for the zero-shot quality layer: plain vs ZLaP vs ZPE, same vectors, one run.

    .venv/bin/python benchmarks/quality_zeroshot.py [--model hf:runs/demo/train/model]
        [--world runs/demo/world] [--tune-world DIR] [--report-world DIR ...] [--json]

- ZLaP (transductive label propagation): its knobs (k, alpha, gamma) are grid-searched on the
  ``--tune-world`` gallery and reported on ``--world`` (the model's own world, test + heldout
  splits) and every ``--report-world``. Classes are the 100 colour x shape compositions with the
  world's prompt ("a red circle"); "held-out" always means compositions the *model* never saw in
  training (the ``--world``'s heldout pairs), whatever world the images come from.
- ZPE (prompt weights): templates = imagenet80 + the world's own caption leads; its temperature
  is chosen on ``--tune-world`` and reported on the others; plain = equal weights, same templates.
- Timing: propagation over 10,000 images (median of 3, interleaved with the plain classifier).
- Near-duplicates rows come from ``benchmarks/quality_duplicates.py`` (``--coco``).

``rows(args)`` returns ``[{method, data, split, metric, plain, with_method}]`` for
``benchmarks/quality.py``; run this file alone to print them.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import statistics
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
WORLD_LEADS = ("a {}", "a picture of a {}", "an image of a {}", "a photo showing a {}",
               "a drawing of a {}", "there is a {}")
GRID = {"k": (5, 10, 20), "alpha": (0.3, 0.5, 0.7, 0.9), "gamma": (1.0, 2.0, 3.0, 5.0)}
TEMPERATURES = (0.05, 0.1, 0.2, 0.5, 1.0, 2.0, 5.0)


def add_arguments(ap: argparse.ArgumentParser) -> None:
    ap.add_argument("--model", default=str(ROOT / "runs/demo/train/model"),
                    help="the demo model directory (loaded as hf:DIR)")
    ap.add_argument("--world", default=str(ROOT / "runs/demo/world"),
                    help="the world the model was trained on (seed 0)")
    ap.add_argument("--tune-world", default=None, help="world used only to tune the knobs")
    ap.add_argument("--report-world", action="append", default=[],
                    help="more worlds to report on (other seeds)")
    ap.add_argument("--cache", default=str(Path.home() / ".cache/jointspace/quality"),
                    help="where image vectors are cached between runs")
    ap.add_argument("--time-n", type=int, default=10_000, help="images in the timing row")
    ap.add_argument("--coco", default=str(ROOT.parent / "shared/data/coco_mini"))
    ap.add_argument("--skip-duplicates", action="store_true")


def world_set(embedder, world: str, model_held: set, cache: Path) -> dict:
    """Single-object gallery images (test + heldout) of a world: vectors, targets, held mask."""
    from jointspace.worlds.evaluate import gallery_rows
    from jointspace.worlds.metrics import single_object_targets
    from jointspace.worlds.vocab import compositions

    rows = gallery_rows(world)
    keep, targets = single_object_targets(rows)
    files = [rows[j]["file"] for j in keep]
    vectors = cached_vectors(embedder, files, cache)
    held = np.array([compositions()[t] in model_held for t in targets])
    return {"name": world_name(world), "vectors": vectors, "targets": targets, "held": held}


def world_name(world: str) -> str:
    """"world seed N": world directories are often all called "world"."""
    from jointspace.worlds.generate import load_world_meta

    return f"world seed {load_world_meta(world)['config']['seed']}"


def cached_vectors(embedder, files: list[str], cache: Path) -> np.ndarray:
    from jointspace.evaluate.images import embed_image_files

    key = hashlib.sha256("\n".join([embedder.name, *files]).encode()).hexdigest()[:16]
    path = cache / f"{key}.npy"
    if path.exists():
        return np.load(path)
    vectors, ok, errors = embed_image_files(embedder, files, batch_size=256)
    if errors:
        raise RuntimeError(f"{len(errors)} images failed: {errors[0]}")
    cache.mkdir(parents=True, exist_ok=True)
    np.save(path, vectors)
    return vectors


def split_top1(scores: np.ndarray, ws: dict) -> dict[str, float]:
    from jointspace.zeroshot.metrics import topk_accuracy

    t, h = ws["targets"], ws["held"]
    return {"seen": topk_accuracy(scores[~h], t[~h], 1),
            "heldout": topk_accuracy(scores[h], t[h], 1), "all": topk_accuracy(scores, t, 1)}


def tune_propagation(ws: dict, classes: np.ndarray):
    """Grid search on the tuning world: best mean of seen and held-out top-1."""
    from jointspace.zeroshot.propagation import PropagationSettings, propagate

    best, best_score = None, -1.0
    for k in GRID["k"]:
        for alpha in GRID["alpha"]:
            for gamma in GRID["gamma"]:
                s = PropagationSettings(k=k, alpha=alpha, gamma=gamma)
                acc = split_top1(propagate(ws["vectors"], classes, s).scores, ws)
                score = (acc["seen"] + acc["heldout"]) / 2
                if score > best_score:
                    best, best_score = s, score
    return best, best_score


def tune_temperature(ws: dict, prompt_vectors: np.ndarray) -> float:
    from jointspace.zeroshot import prompt_weights as pw

    scores = pw.zpe_scores(ws["vectors"], prompt_vectors)

    def acc(t: float) -> float:
        cls = pw.weighted_class_vectors(prompt_vectors, pw.softmax_weights(scores, t))
        return split_top1(ws["vectors"] @ cls.T, ws)["all"]

    return max(TEMPERATURES, key=acc)


def timing_rows(embedder, world: str, classes: np.ndarray, settings, n: int,
                cache: Path) -> list[dict]:
    """Seconds to classify ``n`` world images: plain matrix product vs propagation."""
    from jointspace.worlds.evaluate import read_rows
    from jointspace.zeroshot.propagation import propagate

    rows = [r["file"] for s in ("train", "val", "test", "heldout") for r in read_rows(world, s)]
    vectors = cached_vectors(embedder, rows[:n], cache)
    plain, method = [], []
    for _ in range(3):  # interleaved rounds on a shared machine: medians
        t = time.perf_counter()
        (vectors @ classes.T).argmax(1)
        plain.append(time.perf_counter() - t)
        t = time.perf_counter()
        propagate(vectors, classes, settings).scores.argmax(1)
        method.append(time.perf_counter() - t)
    return [{"method": f"ZLaP time ({len(vectors)} images, 100 classes, median of 3)",
             "data": world_name(world), "split": "all", "metric": "seconds",
             "plain": statistics.median(plain), "with_method": statistics.median(method)}]


def rows(args: argparse.Namespace) -> list[dict]:
    from jointspace.models import load_embedder
    from jointspace.worlds.generate import load_world_meta
    from jointspace.worlds.vocab import compositions
    from jointspace.zeroshot import prompt_weights as pw
    from jointspace.zeroshot.classifier import build_classifier
    from jointspace.zeroshot.propagation import propagate
    from jointspace.zeroshot.templates import IMAGENET_80

    cache = Path(args.cache)
    embedder = load_embedder(f"hf:{args.model}")
    model_held = {tuple(p) for p in load_world_meta(args.world)["heldout_pairs"]}
    labels = [f"{c} {s}" for c, s in compositions()]
    from jointspace.worlds.captions import article

    own = build_classifier(embedder, labels, templates="none",
                           names={lb: f"{article(lb)} {lb}" for lb in labels})
    mixed = build_classifier(embedder, labels, templates=IMAGENET_80 + WORLD_LEADS,
                             keep_prompts=True)
    tune_ws = world_set(embedder, args.tune_world, model_held, cache) if args.tune_world else None
    report = [world_set(embedder, w, model_held, cache) for w in [args.world, *args.report_world]]
    settings, tuned_on = None, "defaults (no --tune-world)"
    temperature = pw.DEFAULT_TEMPERATURE
    if tune_ws is not None:
        settings, _ = tune_propagation(tune_ws, own.weights)
        temperature = tune_temperature(tune_ws, mixed.prompt_vectors)
        tuned_on = tune_ws["name"]
    from jointspace.zeroshot.propagation import PropagationSettings

    settings = settings or PropagationSettings()
    out: list[dict] = []
    zlap = (f"ZLaP transductive (k={settings.k}, alpha={settings.alpha}, "
            f"gamma={settings.gamma}; tuned on {tuned_on})")
    zpe = f"ZPE prompt weights (T={temperature}; tuned on {tuned_on}) vs equal, imagenet80+world"
    for ws in report:
        plain = split_top1(ws["vectors"] @ own.weights.T, ws)
        prop = split_top1(propagate(ws["vectors"], own.weights, settings).scores, ws)
        for split in ("seen", "heldout", "all"):
            out.append({"method": zlap, "data": ws["name"], "split": split, "metric": "top1",
                        "plain": plain[split], "with_method": prop[split]})
        weights = pw.zpe_weights(ws["vectors"], mixed.prompt_vectors, temperature)
        zcls = pw.weighted_class_vectors(mixed.prompt_vectors, weights)
        eq = split_top1(ws["vectors"] @ mixed.weights.T, ws)
        zz = split_top1(ws["vectors"] @ zcls.T, ws)
        for split in ("seen", "heldout", "all"):
            out.append({"method": zpe, "data": ws["name"], "split": split, "metric": "top1",
                        "plain": eq[split], "with_method": zz[split]})
        top = np.argsort(-weights)
        ws["zpe_top"] = [(mixed.templates[i], round(float(weights[i]), 4)) for i in top[:8]]
        ws["zpe_bottom"] = [(mixed.templates[i], round(float(weights[i]), 5)) for i in top[-3:]]
    if args.time_n:
        out += timing_rows(embedder, args.tune_world or args.world, own.weights, settings,
                           args.time_n, cache)
    if not args.skip_duplicates:
        sys.path.insert(0, str(Path(__file__).resolve().parent))
        import quality_duplicates

        out += quality_duplicates.rows(args)
    args.details = {"zpe_weights": {ws["name"]: {"top": ws["zpe_top"], "bottom": ws["zpe_bottom"]}
                                    for ws in report},
                    "n_images": {ws["name"]: {"seen": int((~ws["held"]).sum()),
                                              "heldout": int(ws["held"].sum())} for ws in report},
                    "settings": settings.to_dict(), "temperature": temperature}
    return out


def print_rows(out: list[dict]) -> None:
    print(f"{'method':<78} {'data':<8} {'split':<8} {'metric':<10} {'plain':>8} {'method':>8}")
    for r in out:
        print(f"{r['method'][:78]:<78} {r['data'][:8]:<8} {r['split']:<8} {r['metric']:<10} "
              f"{r['plain']:>8.4f} {r['with_method']:>8.4f}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    add_arguments(ap)
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()
    out = rows(args)
    if args.json:
        print(json.dumps({"rows": out, "details": args.details}, indent=1))
    else:
        print_rows(out)
        print(json.dumps(args.details, indent=1))


if __name__ == "__main__":
    main()
