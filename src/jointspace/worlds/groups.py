"""Groupings of a world's images from their labels, for hard-negative training batches.

``colour``: the colour of an image's first object. A batch filled from one group pits same-colour
circles against same-colour hexagons (and every other same-colour pair), so the shape, not the
colour, must tell them apart: the distinction left after colours are learnt.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from jointspace.worlds.vocab import colour_names

GROUPINGS = ("colour",)


def image_groups(rows: Sequence[dict], by: str = "colour") -> np.ndarray:
    """(n,) int64 group id per manifest row (rows without objects: group 0)."""
    if by not in GROUPINGS:
        raise ValueError(f"unknown world grouping {by!r}; use one of {GROUPINGS}")
    index = {c: i for i, c in enumerate(colour_names())}
    return np.asarray([index[r["objects"][0]["colour"]] if r.get("objects") else 0 for r in rows],
                      np.int64)
