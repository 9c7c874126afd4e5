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


# The demo recipe: a CNN image tower from scratch under the locked all-MiniLM-L6-v2 text tower.
# Same-objects positives (images of the same objects under other captions are pairs, not
# negatives) + 12 epochs = 1,872 steps, measured on world seeds 0 / 1 / 2 (test split, demo
# defaults): P@10 seen 0.940 / 0.950 / 0.942, held-out 0.980 / 0.990 / 0.980, paraphrase
# 0.947 / 0.950 / 0.954, zero-shot held-out 0.887 / 0.885 / 0.854, t2i R@1 0.550 / 0.550 /
# 0.537 (the previous recipe, without the positives and at 9 epochs: seen 0.892, held-out
# 0.977, paraphrase 0.901, zero-shot held-out 0.841, t2i R@1 0.577 on the means). Training
# took 218.5 s (seed 0) and 204.6 s (seed 2) on a quiet 2-core avx512_bf16 machine.
# relu, bf16 autocast + torch.compile of the image tower: bf16 only where the CPU has it natively
# ("auto"); compile falls back to eager if it fails.
# Batch 512 + lr 3e-3 was slower and worse; lr 3e-3 at 256 no better. Tried and not adopted
# (benchmarks/README.md): a 10x faster learnt temperature, an MLP text head, same-colour
# hard-negative batches ("hard_groups": "colour"), the positives at 9 epochs alone or with a 5x5
# stem. Caching the 40k caption vectors adds ~47 s.
# Extra texts (issue 13 margin): each step also scores the batch against the cached caption
# vectors of 1,024 other training images (1,280 image->text candidates, same-objects ones are
# pairs): seeds 0 / 1 at 2 threads P@10 seen 0.954 / 0.972 (recipe 0.940 / 0.950), paraphrase
# 0.952 / 0.969, zero-shot held-out 0.880 / 0.907 (0.887 / 0.885), held-out P@10 0.970 / 0.980
# (-0.010 each); on top of 2 pooling stages, three seeds, zero-shot held-out 0.881 -> 0.915. No
# per-step cost that serialized quiet runs could tell from noise (benchmarks/README.md).
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
    "compile": True,  # torch.compile the image tower (~12 s once, then ~1.3x a bf16 step)
    "positive_groups": "objects",  # same objects in a batch: positives (worlds/groups.py)
    "extra_texts": 1024,  # captions of 1,024 more images as image->text negatives per step
    "recipe_overrides": {"cnn_activation": "relu"},
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
