"""Fixed inputs on which runtimes are compared with eager fp32 (parity) and timed (``auto``)."""

from __future__ import annotations

from typing import Any

import numpy as np

# Sentences of varied length and vocabulary, so padding and truncation are exercised.
PROBE_TEXTS = [
    "a photo of a dog", "a red car parked on the street", "two people riding bikes near a river",
    "cat", "a bowl of fruit on a wooden kitchen table next to a window with the sun shining in",
    "the quick brown fox jumps over the lazy dog", "a blue square left of a yellow circle",
    "Protein folding in bacteria under heat stress: a randomised study of 120 samples.",
] * 4 + [
    # long texts, cut at the model's token limit (where int8 errors accumulate most)
    "Background: chronic inflammation of the airways in asthma involves many cell types, and the "
    "role of each in remodelling is debated. Methods: we followed 412 adults for ten years, "
    "measuring lung function, sputum eosinophils and serum markers every six months. " * 6,
    "A man in a red jacket walks his two dogs along a snowy mountain path at sunset while a small "
    "group of hikers rests on wooden benches near a frozen lake and children build a snowman. " * 6,
]


def probe_images(n: int = 16, seed: int = 0) -> list[Any]:
    """``n`` deterministic RGB pictures of varied sizes and aspect ratios (gradients, blocks, noise)."""
    from PIL import Image

    rng = np.random.default_rng(seed)
    sizes = [(64, 64), (96, 48), (40, 120), (160, 100), (33, 57), (256, 192), (72, 72), (50, 200)]
    out = []
    for i in range(n):
        w, h = sizes[i % len(sizes)]
        y, x = np.mgrid[0:h, 0:w]
        img = np.stack([x * 255 // max(w - 1, 1), y * 255 // max(h - 1, 1),
                        ((x + y) * (i + 1)) % 256], -1).astype(np.int64)
        y0, x0 = rng.integers(0, h // 2), rng.integers(0, w // 2)
        img[y0 : y0 + h // 3, x0 : x0 + w // 3] = rng.integers(0, 256, 3)
        img = np.clip(img + rng.integers(-25, 26, img.shape), 0, 255).astype(np.uint8)
        out.append(Image.fromarray(img))
    return out
