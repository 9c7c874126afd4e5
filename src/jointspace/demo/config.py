"""What the demo does, as data: its settings, the training recipe, and the example queries."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any


@dataclass
class DemoConfig:
    workdir: str = "runs/demo"  # world/, train/, collection/, report.html live here
    n: int = 50_000  # world size (all splits)
    seed: int = 0  # world and training seed
    retrain: bool = False  # train again even when a finished run with the same settings exists
    train: dict[str, Any] = field(default_factory=dict)  # TrainConfig overrides of the recipe
    k: int = 10  # results per query (and the K of precision@K)
    progress: bool = True  # progress bars on a terminal

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


# The demo recipe: a CNN image tower from scratch under the locked all-MiniLM-L6-v2 text tower,
# CLIP loss, batch 256, 12 epochs = 1,872 steps, and four things found for issue 13:
# - same-objects positives: images of the same objects under other captions are pairs, not
#   negatives ("positive_groups": "objects", worlds/groups.py);
# - a head that also reads the pooled third stage ("cnn_pool_stages": 2): small shapes at a finer
#   scale, so circles and hexagons stop being confused on seen compositions;
# - 1,024 extra cached caption vectors per step as image->text negatives ("extra_texts");
# - a 16-channel first stage ("cnn_widths"): ~1.17x a step, spent on a 12th epoch.
# World seeds 0 / 1 / 2 (test split, demo defaults): see benchmarks/README.md for the table and
# the ablation (each change alone, 10 to 13 epochs, both first-stage widths). Training times for
# seed 0 on a quiet 2-core avx512_bf16 machine, first compile included, are in the README.
# relu, bf16 autocast + torch.compile of the image tower: bf16 only where the CPU has it natively
# ("auto"); compile falls back to eager if it fails.
# Batch 512 + lr 3e-3 was slower and worse; lr 3e-3 at 256 no better. Tried and not adopted
# (benchmarks/README.md): a 10x faster learnt temperature, an MLP text head, same-colour
# hard-negative batches ("hard_groups": "colour"), the positives at 9 epochs alone or with a 5x5
# stem, keeping the last weights instead of the best validated, counterfactual (NegCLIP-style)
# negative captions. Caching the 40k caption vectors adds ~47 s.
RECIPE: dict[str, Any] = {
    "init": "recipe:cnn-minilm",
    "loss": "clip",
    "lock": "text",
    "batch_size": 256,
    "epochs": 12.0,
    "lr": 2e-3,
    "captions_per_image": 1,
    "max_images": 40_000,
    "val_images": 500,
    "val_every": 100,
    "fast_text": True,  # bf16 caption caching: ~1.6x faster, cos > 0.9999 to fp32
    "precision": "auto",  # bf16 autocast where the CPU computes bf16 natively, else fp32
    "compile": True,  # torch.compile the image tower (~18-26 s once, then ~1.3-1.5x a bf16 step)
    "positive_groups": "objects",  # same objects in a batch: positives (worlds/groups.py)
    "extra_texts": 1024,  # captions of 1,024 more images as image->text negatives per step
    # a 16-channel first stage: its map is the largest (32 x 32), so half the channels make a
    # step ~1.17x faster, which pays for the 12th epoch
    "recipe_overrides": {"cnn_activation": "relu", "cnn_pool_stages": 2,
                         "cnn_widths": [16, 64, 128, 256]},
}


@dataclass(frozen=True)
class DemoQuery:
    title: str  # what the query shows off
    text: str | None = None  # a text query
    image_of: str | None = None  # or: an image query, the first gallery image with this label
    where: str | None = None  # optional metadata filter
    judge: tuple[str, str] | None = None  # (colour, shape) that makes a hit relevant


def default_queries(heldout: list[tuple[str, str]]) -> list[DemoQuery]:
    """Seen and held-out compositions, paraphrases, a relation, an image and a filtered query."""
    held = {tuple(p) for p in heldout}

    def seen(*options: tuple[str, str]) -> tuple[str, str]:
        return next(p for p in options if p not in held)

    hc, hs = heldout[0]
    hc2, hs2 = heldout[1 % len(heldout)]
    star = seen(("blue", "star"), ("green", "star"))
    disc = seen(("red", "circle"), ("blue", "circle"))
    heart = seen(("yellow", "heart"), ("purple", "heart"))
    cross = seen(("orange", "cross"), ("cyan", "cross"))
    synonym = {"red": "scarlet", "blue": "cobalt", "yellow": "golden", "purple": "violet"}
    return [
        DemoQuery("seen composition", f"a {star[0]} star", judge=star),
        DemoQuery("held-out composition (never in training)", f"a {hc} {hs}", judge=(hc, hs)),
        DemoQuery("paraphrase with synonyms", f"a {synonym[disc[0]]} disc", judge=disc),
        DemoQuery("free-form wording", f"picture containing one {synonym[heart[0]]} love heart",
                  judge=heart),
        DemoQuery("relation", "a green square to the left of a pink ring"),
        DemoQuery("counting", "two black triangles"),
        DemoQuery("image query (more like this picture)", image_of=f"{cross[0]} cross",
                  judge=cross),
        # the held-out split holds the images of held-out compositions
        DemoQuery("filtered: held-out split only", f"a {hc2} {hs2}",
                  where="split = heldout", judge=(hc2, hs2)),
    ]
