"""Why hubness reduction cannot lift world t2i R@1 much: most misses are ties on the objects.

    .venv/bin/python benchmarks/hubness_ties.py --model hf:runs/demo/train/model \\
        --world runs/demo/world [--images 1000] [--json]

On the same pairs as benchmarks/quality.py's hubness rows (the first 1,000 test images, their
4,000 captions), each caption is parsed into the (colour, shape) objects it names (any synonym;
a shape without a colour word names the shape alone), and an image *fits* the caption when it
holds all of them. Printed: how many plain t2i R@1 misses put a fitting image first (a tie on
everything but size, place and relation words), how many images fit a caption, and the R@1 a
model that ranks fitting images in random order would get (the object-only ceiling).
"""

from __future__ import annotations

import argparse
import json
import os
import re
import sys
from pathlib import Path

import numpy as np

os.environ.setdefault("HF_HUB_OFFLINE", "1")
sys.path.insert(0, str(Path(__file__).resolve().parent))

from jointspace.worlds.vocab import COLOURS, SHAPES  # noqa: E402 - after the offline default

_COLOUR_WORDS = {w: c for c, (_, words) in COLOURS.items() for w in words}
_SHAPE_WORDS = {w: s for s, forms in SHAPES.items() for form in forms for w in form}
# longest first, so "plus sign" wins over a shorter overlapping word; hyphens join words
_WORDS = re.compile(r"(?<![\w-])(" + "|".join(
    re.escape(w) for w in sorted([*_COLOUR_WORDS, *_SHAPE_WORDS], key=len, reverse=True))
    + r")(?![\w-])")


def named_objects(caption: str) -> set[tuple[str | None, str]]:
    """(colour or None, shape) of each shape word, with the colour word right before it."""
    named, colour = set(), None
    for m in _WORDS.finditer(caption.lower()):
        word = m.group(1)
        if word in _COLOUR_WORDS:
            colour = _COLOUR_WORDS[word]
        else:
            named.add((colour, _SHAPE_WORDS[word]))
            colour = None
    return named


def fits(named: set[tuple[str | None, str]], pairs: set[tuple[str, str]]) -> bool:
    """Whether an image holding the (colour, shape) ``pairs`` has every named object."""
    shapes = {s for _, s in pairs}
    return all((c, s) in pairs if c else s in shapes for c, s in named)


def tie_stats(rows: list[dict], captions: list[str], text_image: np.ndarray,
              t2i: np.ndarray) -> dict[str, float]:
    """``t2i``: (captions, images) scores; ``text_image``: each caption's own image row."""
    top = t2i.argmax(1)
    held = [{(o["colour"], o["shape"]) for o in r["objects"]} for r in rows]  # once per image
    fitting = [np.array([fits(named, pairs) for pairs in held])
               for named in map(named_objects, captions)]  # each caption parsed once
    n_fit = np.array([f.sum() for f in fitting])
    miss = top != text_image
    tie = np.array([f[t] for f, t in zip(fitting, top, strict=True)]) & miss
    return {"captions": len(captions),
            "own image fits its caption": float(np.mean([f[i] for f, i in
                                                         zip(fitting, text_image, strict=True)])),
            "t2i R@1": float(1 - miss.mean()),
            "misses": int(miss.sum()),
            "misses whose top-1 fits the caption": float(tie.sum() / max(1, miss.sum())),
            "images fitting a caption (median)": float(np.median(n_fit)),
            "captions fitting only their own image": float(np.mean(n_fit == 1)),
            "object-only ceiling R@1": float(np.mean(1 / np.maximum(n_fit, 1)))}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--model", default="hf:runs/demo/train/model")
    ap.add_argument("--world", type=Path, default=Path("runs/demo/world"))
    ap.add_argument("--images", type=int, default=1000)
    ap.add_argument("--cache", type=Path,
                    default=Path(os.path.expanduser("~/.cache/jointspace/quality")))
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()
    if not (args.world / "test").is_dir():
        ap.error(f"{args.world} is not a generated world (no test split): run `make demo` first")

    from quality_data import world_split

    from jointspace.models import load_embedder

    split = world_split(args.world, "test", load_embedder(args.model), args.cache, args.images)
    stats = tie_stats(split.rows, split.captions, split.text_image, split.txt @ split.img.T)
    if args.json:
        print(json.dumps(stats))
        return
    for name, value in stats.items():
        print(f"{name:<40} {value:.4f}" if isinstance(value, float) else f"{name:<40} {value}")


if __name__ == "__main__":
    main()
