"""Image-text recall against a naive per-query sort on seeded data."""

from __future__ import annotations

import numpy as np
import pytest

from jointspace.evaluate.itm import (
    image_to_text_ranks,
    recall_at,
    recall_curve,
    retrieval_metrics,
    text_to_image_ranks,
)


def _naive(sim, text_image, ks):
    """Sort every query's candidates; hits by the textbook definition."""
    n_images, n_texts = sim.shape
    i2t, t2i = {k: 0 for k in ks}, {k: 0 for k in ks}
    for i in range(n_images):
        order = sorted(range(n_texts), key=lambda t: -sim[i, t])
        for k in ks:
            i2t[k] += any(text_image[t] == i for t in order[:k])
    for t in range(n_texts):
        order = sorted(range(n_images), key=lambda i: -sim[i, t])
        for k in ks:
            t2i[k] += text_image[t] in order[:k]
    return {k: i2t[k] / n_images for k in ks}, {k: t2i[k] / n_texts for k in ks}


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_recall_matches_naive_reference(seed):
    rng = np.random.default_rng(seed)
    n_images, per = 23, rng.integers(1, 6, size=23)
    text_image = np.repeat(np.arange(n_images), per)
    img = rng.normal(size=(n_images, 8))
    txt = img[text_image] + rng.normal(scale=1.5, size=(len(text_image), 8))  # noisy captions
    sim = img @ txt.T
    ks = (1, 5, 10)
    ref_i2t, ref_t2i = _naive(sim, text_image, ks)
    assert recall_at(image_to_text_ranks(sim, text_image, chunk=5), ks) == pytest.approx(ref_i2t)
    assert recall_at(text_to_image_ranks(sim, text_image, chunk=7), ks) == pytest.approx(ref_t2i)
    m = retrieval_metrics(sim, text_image, ks)
    assert m["i2t_R@5"] == pytest.approx(ref_i2t[5]) and m["t2i_R@1"] == pytest.approx(ref_t2i[1])


def test_perfect_and_constant_scorers():
    text_image = np.array([0, 0, 1, 1, 2])
    perfect = (np.arange(3)[:, None] == text_image[None, :]).astype(float)
    m = retrieval_metrics(perfect, text_image, (1,))
    assert m["i2t_R@1"] == 1.0 and m["t2i_R@1"] == 1.0
    # ties go against the model: a constant scorer ranks every correct item last
    const = np.zeros((3, 5))
    assert recall_at(text_to_image_ranks(const, text_image), (1, 3)) == {1: 0.0, 3: 1.0}
    assert image_to_text_ranks(const, text_image).tolist() == [3, 3, 4]


def test_image_without_captions_never_hits():
    sim = np.ones((2, 1))
    assert image_to_text_ranks(sim, np.array([0])).tolist() == [0, 1]


def test_recall_curve_is_cumulative():
    curve = recall_curve(np.array([0, 0, 2, 9]), 4)
    assert curve.tolist() == [0.5, 0.5, 0.75, 0.75]
