"""The "no good match" cut-off measured on the user's own pairs: the ablation rows of a report.

The cut-off is fitted as a collection fits it (query/calibration.py: caption-image matches plus a
null of captions against random images), on one half of the images and their captions. It is
reported on the other half, whose gallery leaves out a share of the images: their captions are
queries with no good match, which should return nothing, while the captions of the images still
there should keep their image. Plain search returns the top ``k`` whatever the scores.
"""

from __future__ import annotations

import numpy as np

from jointspace.errors import BadInputError
from jointspace.query.calibration import DEFAULT_MISS, fit_kind, null_and_match

ABSENT_SHARE = 0.1  # of the reported half's images, left out of its gallery
RESULTS = 10  # results a search returns at most


def calibration_ablation(image_vecs: np.ndarray, text_vecs: np.ndarray, text_image: np.ndarray,
                         *, miss: float = DEFAULT_MISS, k: int = RESULTS,
                         seed: int = 0) -> list[dict]:
    """Plain top-``k`` vs ``min_score=auto`` rows (unit vectors; ``text_image[t]``: the image
    of caption ``t``)."""
    n = len(image_vecs)
    if n < 20:
        raise BadInputError(f"measuring the cut-off needs at least 20 images, not {n}",
                            hint="evaluate more pairs, or leave out --min-score")
    rng = np.random.default_rng(seed)
    order = rng.permutation(n)
    fit, report = order[: n // 2], order[n // 2:]
    fit_caps = np.flatnonzero(np.isin(text_image, fit))
    null, match = null_and_match(text_vecs[fit_caps], image_vecs[fit], text_vecs[fit_caps],
                                 image_vecs[text_image[fit_caps]], rng)
    cut = fit_kind(null, match, len(fit), miss=miss).cut
    absent = rng.choice(report, size=max(1, round(ABSENT_SHARE * len(report))), replace=False)
    gallery = np.setdiff1d(report, absent)
    queries = np.flatnonzero(np.isin(text_image, report))
    sims = text_vecs[queries] @ image_vecs[gallery].T  # (queries, gallery)
    top = np.argsort(-sims, axis=1, kind="stable")[:, :k]
    top_sims = np.take_along_axis(sims, top, axis=1)
    relevant = gallery[top] == text_image[queries][:, None]
    is_absent = np.isin(text_image[queries], absent)
    plain = _rates(np.ones_like(relevant), relevant, is_absent)
    auto = _rates(top_sims >= cut, relevant, is_absent)
    name = f"min-score auto (miss={miss:g}; fitted on half the images)"
    return [{"method": name, "metric": m, "plain": plain[m], "with_method": auto[m]}
            for m in plain] + [{"method": name, "metric": "cut-off (cosine)", "plain": None,
                                "with_method": cut}]


def _rates(returned: np.ndarray, relevant: np.ndarray, is_absent: np.ndarray) -> dict[str, float]:
    """What users see when only ``returned`` results are shown (rows: queries)."""
    count = returned.sum(axis=1)
    hits = (returned & relevant).sum(axis=1)
    present = ~is_absent
    shown = count[present].sum()
    return {
        "absent: share returning nothing": _mean(count[is_absent] == 0),
        "present: share returning their image": _mean(hits[present] > 0),
        "present: precision of returned": float(hits[present].sum() / shown) if shown else 0.0,
        "results per query": _mean(count),
    }


def _mean(x: np.ndarray) -> float:
    return float(np.mean(x)) if len(x) else 0.0
