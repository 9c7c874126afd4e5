"""Near-duplicate detection on COCO-mini plus generated variants: precision / recall over pairs.

    .venv/bin/python benchmarks/quality_duplicates.py [--coco ../shared/data/coco_mini]
        [--model hf:runs/demo/train/model]

Photos are split by position into a calibration half (even) and a report half (odd). In each
half, every other photo gets five variants (half size, JPEG q35, 90 % crop, 4 degree rotation,
PNG re-encode); a true pair is two files of the same photo. Thresholds are chosen on the
calibration half (best F1) and reported on the other, for three signals: embedding cosine alone,
perceptual hash alone (all pairs), and both (embedding neighbours confirmed by the hash). Plain =
exact sha256 grouping only. Models: a random-init ViT-B/32-sized CLIP and the demo model.
"""

from __future__ import annotations

import argparse
import hashlib
import io
import itertools
import json
from pathlib import Path

import numpy as np

HASH_DISTANCES = tuple(range(0, 33, 2))
MIN_PRECISION = 0.97  # calibration rule: most recall at this precision (else best F1)


def corpus(coco: Path) -> list[dict]:
    """Every photo and its variants as {photo, half, bytes, sha256}."""
    from PIL import Image

    from jointspace.curate.variants import make_variants

    rows = [json.loads(line) for line in (coco / "pairs.jsonl").read_text().splitlines()]
    out = []
    for i, row in enumerate(rows):
        data = (coco / row["file"]).read_bytes()
        files = [data]
        if (i // 2) % 2 == 0:  # every other photo of each half gets variants
            files += [v for _, _, v in make_variants(Image.open(io.BytesIO(data)))]
        out += [{"photo": i, "half": i % 2, "bytes": b, "sha256": hashlib.sha256(b).hexdigest()}
                for b in files]
    return out


def random_vit_b32():
    """A random-init CLIP with ViT-B/32's vision tower (seeded), images only."""
    import torch
    from transformers import CLIPConfig, CLIPImageProcessor, CLIPModel

    from jointspace.models.hf import HFEmbedder

    torch.manual_seed(0)
    model = CLIPModel(CLIPConfig()).eval()  # defaults: ViT-B/32, 224 px, projection 512
    return HFEmbedder("random-init:clip-vit-b-32", model, CLIPImageProcessor(), None, "cpu")


def embed(embedder, items: list[dict], cache: Path | None) -> np.ndarray:
    """Image vectors of every item (cached by model name and content)."""
    from jointspace.ingest.decode import load_image

    key = hashlib.sha256("".join([embedder.name] + [it["sha256"] for it in items]).encode())
    path = cache / f"dups-{key.hexdigest()[:16]}.npy" if cache else None
    if path is not None and path.exists():
        return np.load(path)
    out = []
    for s in range(0, len(items), 64):
        out.append(embedder.embed_images([load_image(it["bytes"]) for it in items[s:s + 64]]))
    vectors = np.concatenate(out)
    if path is not None:
        path.parent.mkdir(parents=True, exist_ok=True)
        np.save(path, vectors)
    return vectors


def true_pairs(items: list[dict]) -> set[tuple[int, int]]:
    by_photo: dict[int, list[int]] = {}
    for r, it in enumerate(items):
        by_photo.setdefault(it["photo"], []).append(r)
    return {p for rows in by_photo.values() for p in itertools.combinations(rows, 2)}


def predicted_pairs(groups: list[list[int]]) -> set[tuple[int, int]]:
    return {p for g in groups for p in itertools.combinations(sorted(g), 2)}


def score(groups: list[list[int]], items: list[dict]) -> tuple[float, float]:
    truth, pred = true_pairs(items), predicted_pairs(groups)
    tp = len(truth & pred)
    return (tp / len(pred) if pred else 1.0), (tp / len(truth) if truth else 1.0)


def hash_groups(hashes: np.ndarray, max_distance: int) -> list[list[int]]:
    """Connected components of all pairs within ``max_distance`` bits (hash alone)."""
    import scipy.sparse as sp
    from scipy.sparse.csgraph import connected_components

    x = hashes[:, None] ^ hashes[None, :]
    dist = np.unpackbits(x.view(np.uint8).reshape(len(hashes), len(hashes), 8), axis=2).sum(2)
    a, b = np.nonzero(np.triu(dist <= max_distance, 1))
    n = len(hashes)
    _, label = connected_components(sp.coo_matrix((np.ones(len(a)), (a, b)), shape=(n, n)),
                                    directed=False)
    groups: dict[int, list[int]] = {}
    for r, lab in enumerate(label):
        groups.setdefault(int(lab), []).append(r)
    return [g for g in groups.values() if len(g) > 1]


def cosine_grid(vectors: np.ndarray, steps: int = 40) -> list[float]:
    """Candidate thresholds: quantiles of the nearest-neighbour cosines (model-independent)."""
    from jointspace.zeroshot.propagation import knn

    _, sims = knn(vectors, vectors, 10, exclude_self=True)
    qs = np.quantile(sims.ravel(), np.linspace(0.5, 0.999, steps))
    return sorted({round(float(q), 6) for q in qs})


def evaluate_signals(vectors: np.ndarray, hashes: list[int], items: list[dict]) -> dict:
    """Each signal's setting chosen on half 0 (best F1), scored on half 1."""
    from jointspace.curate.duplicates import group_duplicates

    def subset(half):
        rows = [r for r, it in enumerate(items) if it["half"] == half]
        return rows, [items[r] for r in rows]

    def run(rows, sub, threshold, distance, alone=None, *, signal):
        digests = [it["sha256"] for it in sub]
        if signal == "hash":
            return hash_groups(np.array([hashes[r] for r in rows], np.uint64), distance)
        return [g[0] for g in group_duplicates(
            vectors[rows], digests, threshold=threshold, k=10,
            hashes=[hashes[r] for r in rows] if signal == "both" else None,
            max_hash_distance=distance if signal == "both" else None,
            hash_alone_distance=alone if signal == "both" else None)]

    def f1(p, r):
        return 2 * p * r / (p + r) if p + r else 0.0

    cal, report = subset(0), subset(1)
    thresholds = cosine_grid(vectors[cal[0]])
    out = {}
    grids = {"embedding": [(t, None, None) for t in thresholds],
             "hash": [(None, d, None) for d in HASH_DISTANCES],
             "both": [(t, d, a) for t in thresholds[::4] for d in range(12, 23, 2)
                      for a in (None, 8, 10, 12)]}
    for signal, grid in grids.items():
        def rank(tda, signal=signal):
            p, r = score(run(*cal, *tda, signal=signal), cal[1])
            return (p >= MIN_PRECISION, r if p >= MIN_PRECISION else f1(p, r), tda[0] or 0)

        best = max(grid, key=rank)
        p, r = score(run(*report, *best, signal=signal), report[1])
        out[signal] = {"threshold": best[0], "max_hash_distance": best[1],
                       "hash_alone_distance": best[2], "precision": p, "recall": r}
    exact = run(*report, 1.01, None, signal="embedding")  # above any cosine: sha256 only
    out["exact"] = dict(zip(("precision", "recall"), score(exact, report[1]), strict=True))
    return out


def rows(args: argparse.Namespace) -> list[dict]:
    from jointspace.curate.phash import phash
    from jointspace.ingest.decode import load_image
    from jointspace.models import load_embedder

    items = corpus(Path(args.coco))
    hashes = [phash(load_image(it["bytes"])) for it in items]
    out = []
    models = [("random ViT-B/32", random_vit_b32())]
    if getattr(args, "model", None):
        models.append(("demo model", load_embedder(f"hf:{args.model}")))
    details = {}
    for name, embedder in models:
        cache = Path(args.cache) if getattr(args, "cache", None) else None
        res = evaluate_signals(embed(embedder, items, cache), hashes, items)
        details[name] = res
        for signal in ("embedding", "hash", "both"):
            s = res[signal]
            method = (f"near-duplicates, {signal} ({name}; cos >= {s['threshold']}, hash <= "
                      f"{s['max_hash_distance']}, hash alone <= {s['hash_alone_distance']}; "
                      "chosen on half 1)")
            for metric in ("precision", "recall"):
                out.append({"method": method, "data": "coco_mini+variants", "split": "half 2",
                            "metric": f"pair {metric}", "plain": res["exact"][metric],
                            "with_method": s[metric]})
    args.duplicate_details = details | {"items": len(items),
                                        "true_pairs": len(true_pairs(items))}
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--coco", default=str(Path(__file__).resolve().parents[2]
                                          / "shared/data/coco_mini"))
    ap.add_argument("--model", default=None, help="the demo model directory (hf:DIR)")
    ap.add_argument("--cache", default=str(Path.home() / ".cache/jointspace/quality"),
                    help="where image vectors are cached between runs")
    args = ap.parse_args()
    for r in rows(args):
        print(f"{r['method'][:100]:<100} {r['metric']:<16} plain {r['plain']:.4f}  "
              f"method {r['with_method']:.4f}")
    print(json.dumps(args.duplicate_details, indent=1))


if __name__ == "__main__":
    main()
