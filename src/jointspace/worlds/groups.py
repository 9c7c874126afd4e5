"""Groupings of a world's images from their labels, for training batches.

``colour``: the colour of an image's first object. A batch filled from one group pits same-colour
circles against same-colour hexagons (and every other same-colour pair), so the shape, not the
colour, must tell them apart: the distinction left after colours are learnt (hard negatives).

``objects``: the same multiset of objects (colour, shape, texture) and the same scene text, whatever
their size and place. Two such images in a batch show what each other's captions name (up to
where and how big), so they are extra positives, not negatives (``--positive-groups``).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from jointspace.worlds.vocab import colour_names

GROUPINGS = ("colour", "objects")


def image_groups(rows: Sequence[dict], by: str = "colour") -> np.ndarray:
    """(n,) int64 group id per manifest row (``colour``: rows without objects are group 0)."""
    if by not in GROUPINGS:
        raise ValueError(f"unknown world grouping {by!r}; use one of {GROUPINGS}")
    if by == "objects":
        ids: dict[tuple, int] = {}  # numbered in order of first appearance
        return np.asarray([ids.setdefault(_objects_key(r), len(ids)) for r in rows], np.int64)
    index = {c: i for i, c in enumerate(colour_names())}
    return np.asarray([index[r["objects"][0]["colour"]] if r.get("objects") else 0 for r in rows],
                      np.int64)


def _objects_key(row: dict) -> tuple:
    objects = sorted((o["colour"], o["shape"], o.get("texture", "solid"))
                     for o in row.get("objects") or [])
    return tuple(objects), row.get("scene_text")
