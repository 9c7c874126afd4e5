"""Combining query vectors: composed image + text queries and negative terms (pure maths)."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from jointspace.errors import BadInputError
from jointspace.models.base import l2_normalize


def compose(
    positives: Sequence[tuple[np.ndarray, float]],
    negatives: Sequence[tuple[np.ndarray, float]] = (),
) -> np.ndarray:
    """``normalize(sum w_i * p_i - sum v_j * n_j)`` over unit vectors; returns a (dim,) unit vector.

    With one positive of weight 1 and no negatives this is the positive itself, so plain
    queries keep exact cosine scores.
    """
    if not positives:
        raise BadInputError("a query needs at least one positive term (text, image or item)")
    weights = [w for _, w in positives] + [w for _, w in negatives]
    if not all(isinstance(w, (int, float)) and np.isfinite(w) for w in weights):
        raise BadInputError(f"query weights must be finite numbers, got {weights}",
                            hint="e.g. --image-weight 0.5 --text-weight 1")
    total = sum(w * v for v, w in positives) - sum(w * v for v, w in negatives)
    total = np.asarray(total, dtype=np.float32)
    if not np.isfinite(total).all() or float(np.linalg.norm(total)) < 1e-6:
        raise BadInputError(
            "the query terms cancel out", hint="lower the negative weight or change the terms"
        )
    return l2_normalize(total[None, :])[0]
