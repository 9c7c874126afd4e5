"""P@10 on the demo world with vectors truncated to their first N dimensions (issue 10 §4).

    .venv/bin/python benchmarks/matryoshka.py --world runs/demo/world \\
        --model hf:RUN/train/model [--plain hf:runs/demo/train/model] [--dims 64,128,256]

Embeds the world's test + held-out gallery and the 100 single-object queries once per model, then
scores every prefix length from the same vectors: the first N dimensions of image and query,
renormalised (what `--index KIND --dim N` indexes). Train the model with
`jointspace demo --set 'matryoshka=[64,128,256]'`; `--plain` adds the same rows for a model
trained without nested losses, so the table shows what they buy. Target: P@10 at 128 dims
>= 0.95 x the full-dimension P@10.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

from jointspace.models import load_embedder
from jointspace.store.codes import truncate
from jointspace.worlds.evaluate import gallery_rows
from jointspace.worlds.generate import load_world_meta
from jointspace.worlds.metrics import (
    paraphrase_queries,
    precision_at_k,
    relevance,
    single_object_queries,
)


def prefix_table(model: str, world: str, dims: list[int], k: int) -> list[tuple]:
    from jointspace.evaluate.images import embed_image_files

    embedder = load_embedder(model)
    rows = gallery_rows(world)
    images, _, errors = embed_image_files(embedder, [r["file"] for r in rows])
    if errors:
        raise SystemExit(f"{len(errors)} world images failed to decode: {errors[0]}")
    held_pairs = load_world_meta(world)["heldout_pairs"]
    queries = single_object_queries(held_pairs)
    para = paraphrase_queries(held_pairs)
    qvec, pvec = embedder.embed_texts([q.text for q in queries]), embedder.embed_texts(
        [q.text for q in para])
    rel, prel = relevance(rows, queries), relevance(rows, para)
    held = np.array([q.heldout for q in queries])
    out = []
    for d in [*(d for d in dims if d < images.shape[1]), images.shape[1]]:
        im, q, p = (truncate(v, d) for v in (images, qvec, pvec))
        pk = precision_at_k(q @ im.T, rel, k)
        out.append((d, pk[~held].mean(), pk[held].mean(), pk.mean(),
                    precision_at_k(p @ im.T, prel, k).mean()))
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--world", required=True)
    ap.add_argument("--model", required=True, help="the Matryoshka-trained model")
    ap.add_argument("--plain", help="a model trained without nested losses, for comparison")
    ap.add_argument("--dims", default="64,128,256")
    ap.add_argument("--k", type=int, default=10)
    args = ap.parse_args()
    dims = [int(d) for d in args.dims.split(",")]
    if not (Path(args.world) / "test" / "pairs.jsonl").is_file():
        raise SystemExit(f"error: {args.world} is not a world (no test/pairs.jsonl); draw one "
                         "with `jointspace world generate` or `jointspace demo`")
    print(f"{'model':<11} {'dims':>5} {'P@10 seen':>10} {'held-out':>9} {'all':>7} "
          f"{'paraphrase':>11} {'all / full':>11}")
    for name, model in (("matryoshka", args.model), ("plain", args.plain)):
        if not model:
            continue
        table = prefix_table(model, args.world, dims, args.k)
        full = table[-1][3]
        for d, seen, held, every, para in table:
            print(f"{name:<11} {d:>5} {seen:>10.3f} {held:>9.3f} {every:>7.3f} {para:>11.3f} "
                  f"{every / full:>11.3f}")
    print("target: P@10 (all) at 128 dims >= 0.95 x full, for the Matryoshka-trained model")


if __name__ == "__main__":
    from jointspace.errors import JointspaceError

    try:
        main()
    except JointspaceError as exc:  # a wrong --world or --model: say so, no traceback
        raise SystemExit(f"error: {exc}") from None
