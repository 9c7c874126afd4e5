"""Retrieval with hubness reduction beside the plain run: the ablation rows of a report."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from jointspace.evaluate.itm import retrieval_metrics
from jointspace.query.hubness import k_occurrence, rescore, skewness


def hubness_sim(sim: np.ndarray, bank_texts: np.ndarray, bank_images: np.ndarray,
                image_vecs: np.ndarray, text_vecs: np.ndarray, method: str,
                **knobs) -> tuple[np.ndarray, np.ndarray]:
    """(t2i, i2t) re-scored (images x texts) matrices: text queries are normalised with the text
    bank over the image gallery, image queries with the image bank over the caption gallery."""
    t2i = rescore(method, sim.T, bank_texts @ image_vecs.T, **knobs).T
    i2t = rescore(method, sim, bank_images @ text_vecs.T, **knobs)
    return t2i, i2t


def ablation(sim: np.ndarray, t2i: np.ndarray, i2t: np.ndarray, text_image: np.ndarray,
             method: str, ks: Sequence[int]) -> tuple[dict[str, float], list[dict]]:
    """Metrics with the method (t2i from one matrix, i2t from the other) and plain-vs-method rows."""
    plain = retrieval_metrics(sim, text_image, ks)
    from_t2i, from_i2t = retrieval_metrics(t2i, text_image, ks), retrieval_metrics(i2t, text_image,
                                                                                   ks)
    fixed = {m: (from_t2i if m.startswith("t2i") else from_i2t)[m] for m in plain
             if m.startswith(("t2i", "i2t"))}
    rows = [{"method": f"hubness {method}", "metric": m, "plain": plain[m], "with_method": v}
            for m, v in fixed.items()]
    for name, before, after in (("t2i skew@10", sim.T, t2i.T), ("i2t skew@10", sim, i2t)):
        rows.append({"method": f"hubness {method}", "metric": name,
                     "plain": skewness(k_occurrence(before, 10)),
                     "with_method": skewness(k_occurrence(after, 10))})
    return fixed, rows
