"""A seeded procedural world of image-caption pairs for offline training and evaluation.

``generate_world(WorldConfig(out=..., n=..., seed=...))`` writes images, ``pairs.jsonl``
manifests (with structured labels per image) and webdataset shards; see ``generate.py``.
Only numpy and Pillow are needed.
"""

from jointspace.worlds.generate import (
    SPLITS,
    WorldConfig,
    WorldSummary,
    generate_world,
    load_world_meta,
    split_counts,
)
from jointspace.worlds.scene import Scene, SceneObject, SceneOptions, heldout_pairs
from jointspace.worlds.vocab import colour_names, compositions, shape_names

__all__ = [
    "SPLITS",
    "Scene",
    "SceneObject",
    "SceneOptions",
    "WorldConfig",
    "WorldSummary",
    "colour_names",
    "compositions",
    "generate_world",
    "heldout_pairs",
    "load_world_meta",
    "shape_names",
    "split_counts",
]
