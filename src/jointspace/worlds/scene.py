"""Scenes as plain data, and seeded sampling of them.

A scene is a background plus 1-3 non-overlapping objects and optional scene text. Positions are
centre coordinates in [0, 1] (y grows downwards), so labels do not depend on the pixel size.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field

import numpy as np

from jointspace.worlds.vocab import (
    BACKGROUNDS,
    COLOURS,
    SCENE_WORDS,
    SHAPES,
    SIZES,
    horizontal_word,
    vertical_word,
)


@dataclass
class SceneObject:
    colour: str  # canonical colour name (vocab.COLOURS)
    shape: str  # canonical shape name (vocab.SHAPES)
    size: str  # small | medium | large
    x: float  # centre, fraction of the width
    y: float  # centre, fraction of the height (0 = top)
    texture: str = "solid"  # solid | striped
    rotation: float = 0.0  # degrees, small jitter only (a 45° square would be a diamond)

    @property
    def radius(self) -> float:
        return SIZES[self.size][0]

    @property
    def label(self) -> str:
        return f"{self.colour} {self.shape}"

    def to_dict(self) -> dict:
        d = asdict(self)
        d["x"], d["y"], d["rotation"] = round(self.x, 4), round(self.y, 4), round(self.rotation, 2)
        d["h"], d["v"] = horizontal_word(self.x), vertical_word(self.y)
        return d


@dataclass
class Scene:
    objects: list[SceneObject]
    background: str = "plain"  # plain | gradient | noisy
    background_level: int = 140  # mean grey level of the background
    scene_text: str | None = None  # a word painted along the bottom edge, if any
    seed: list[int] = field(default_factory=list)  # the per-image seed it was drawn from

    def to_dict(self) -> dict:
        return {
            "objects": [o.to_dict() for o in self.objects],
            "background": self.background,
            "scene_text": self.scene_text,
        }


@dataclass
class SceneOptions:
    object_counts: tuple[float, float, float] = (0.5, 0.3, 0.2)  # P(1), P(2), P(3) objects
    striped_prob: float = 0.1  # chance an object is striped rather than solid
    noisy_background_prob: float = 0.3  # chance of a noisy background (else plain or gradient)
    text_prob: float = 0.1  # chance of a painted word along the bottom edge
    max_rotation: float = 15.0  # degrees of rotation jitter


def heldout_pairs(seed: int) -> list[tuple[str, str]]:
    """The colour x shape pairs never shown in training: one per shape, each colour used once.

    So every colour and every shape is still seen in training, only the combination is new.
    """
    colours, shapes = list(COLOURS), list(SHAPES)
    perm = np.random.default_rng([seed, 7919]).permutation(len(colours))
    return [(colours[perm[i % len(colours)]], shape) for i, shape in enumerate(shapes)]


def sample_scene(
    rng: np.random.Generator,
    allowed: list[tuple[str, str]],
    options: SceneOptions,
    *,
    required: list[tuple[str, str]] | None = None,
) -> Scene:
    """Draw a scene whose objects use only ``allowed`` pairs; the first one from ``required`` if given."""
    n = int(rng.choice(3, p=np.asarray(options.object_counts) / sum(options.object_counts))) + 1
    text = str(rng.choice(SCENE_WORDS)) if rng.random() < options.text_prob else None
    bottom_limit = 0.78 if text else 1.0  # keep objects clear of the text band
    objects: list[SceneObject] = []
    for i in range(n):
        pool = required if (i == 0 and required) else allowed
        colour, shape = pool[int(rng.integers(len(pool)))]
        obj = _place(rng, colour, shape, objects, options, bottom_limit)
        if obj is None:  # no room left for another object: a smaller scene is fine
            break
        objects.append(obj)
    r = rng.random()
    background = (
        "noisy" if r < options.noisy_background_prob
        else BACKGROUNDS[int(rng.integers(2))]  # plain or gradient
    )
    return Scene(objects, background, int(rng.integers(95, 171)), text)


def _place(
    rng: np.random.Generator,
    colour: str,
    shape: str,
    others: list[SceneObject],
    options: SceneOptions,
    bottom_limit: float,
) -> SceneObject | None:
    sizes = list(SIZES)
    for _ in range(30):
        size = sizes[int(rng.integers(len(sizes)))]
        r = SIZES[size][0]
        x = rng.uniform(r + 0.02, 1 - r - 0.02)
        y = rng.uniform(r + 0.02, bottom_limit - r - 0.02)
        if all(np.hypot(x - o.x, y - o.y) > r + o.radius + 0.04 for o in others):
            texture = "striped" if rng.random() < options.striped_prob else "solid"
            rot = float(rng.uniform(-options.max_rotation, options.max_rotation))
            return SceneObject(colour, shape, size, float(x), float(y), texture, rot)
    return None
