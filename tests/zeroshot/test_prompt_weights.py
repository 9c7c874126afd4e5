"""ZPE prompt weights: a constructed bad template must lose its weight, with no labels used."""

from __future__ import annotations

import numpy as np
import pytest

from jointspace.errors import BadInputError
from jointspace.models import load_embedder
from jointspace.zeroshot.classifier import build_classifier, template_weight_table, weight_prompts
from jointspace.zeroshot.prompt_weights import (
    softmax_weights,
    weighted_class_vectors,
    zpe_scores,
    zpe_weights,
)


def _unit(x):
    return (x / np.linalg.norm(x, axis=-1, keepdims=True)).astype(np.float32)


def good_and_bad_templates(seed: int = 0):
    """Images of 6 classes; template 0 points at the classes, templates 1-3 are noise."""
    rng = np.random.default_rng(seed)
    d, c, n = 32, 6, 300
    centres = _unit(rng.normal(size=(c, d)))
    targets = rng.integers(0, c, n)
    images = _unit(centres[targets] + rng.normal(0, 0.35, (n, d)))
    good = _unit(centres + rng.normal(0, 0.1, (c, d)))
    bad = _unit(rng.normal(size=(3, c, d)))
    return images, targets, np.concatenate([good[None], bad]), centres


def test_zpe_down_weights_the_bad_templates_and_beats_equal_weights():
    images, targets, prompts, _ = good_and_bad_templates()
    scores = zpe_scores(images, prompts)
    assert scores[0] > scores[1:].max()
    w = zpe_weights(images, prompts, temperature=1.0)
    assert w[0] > 0.9 and abs(w.sum() - 1) < 1e-9
    equal = weighted_class_vectors(prompts, np.full(4, 0.25))
    zpe = weighted_class_vectors(prompts, w)
    acc = lambda cls: ((images @ cls.T).argmax(1) == targets).mean()  # noqa: E731
    assert acc(zpe) > acc(equal) + 0.1


def test_zpe_scores_match_a_loop_reference():
    images, _, prompts, _ = good_and_bad_templates(1)
    ref = []
    for t in prompts:
        logits = 100 * images @ t.T
        ref.append((logits - logits.mean(0)).max(1).mean())
    np.testing.assert_allclose(zpe_scores(images, prompts), ref, rtol=1e-4)


def test_class_bias_does_not_earn_weight():
    """A template that makes one class win on every image has high raw but low ZPE score."""
    images, _, prompts, centres = good_and_bad_templates(2)
    biased = prompts[0].copy()
    biased[0] = _unit(images.mean(0) + 0.05 * centres[0])  # near every image: always wins
    both = np.stack([prompts[0], biased])
    raw = (100 * images @ both.transpose(0, 2, 1)).max(2).mean(1)
    assert zpe_scores(images, both)[0] > zpe_scores(images, both)[1]
    assert raw[1] > raw[0] - 20  # raw max-logit would not separate them as clearly


def test_weight_prompts_on_a_classifier_and_equal_is_identity():
    model = load_embedder("hash:64")
    clf = build_classifier(model, ["red", "green", "blue"],
                           templates=["a photo of {}.", "{} zzz qqq", "{}"], keep_prompts=True)
    assert clf.prompt_vectors.shape == (3, 3, 64)
    np.testing.assert_allclose(weighted_class_vectors(clf.prompt_vectors, np.full(3, 1 / 3)),
                               clf.weights, atol=1e-6)  # equal weights reproduce the mean
    images = clf.prompt_vectors[0]  # images that "look like" template 0
    weighted = weight_prompts(clf, images, "zpe", temperature=0.5)
    table = template_weight_table(weighted)
    assert abs(sum(r["weight"] for r in table) - 1) < 1e-5 and len(table) == 3
    assert weight_prompts(clf, images, "equal") is clf
    assert template_weight_table(clf)[0]["weight"] == pytest.approx(1 / 3, abs=1e-6)
    with pytest.raises(BadInputError):
        weight_prompts(build_classifier(model, ["a", "b"]), images, "zpe")
    with pytest.raises(BadInputError):
        weight_prompts(clf, images, "magic")
    with pytest.raises(BadInputError):
        softmax_weights(np.ones(2), 0.0)
