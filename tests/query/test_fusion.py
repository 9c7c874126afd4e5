"""Fusion maths against hand-computed values and a brute-force reference."""

from __future__ import annotations

import numpy as np
import pytest

from jointspace.errors import BadInputError
from jointspace.query.fusion import (
    convex_combination,
    normalize_scores,
    ranks,
    reciprocal_rank_fusion,
)


def test_ranks_descending_one_based():
    assert ranks(np.array([0.1, 0.9, 0.5])).tolist() == [3, 1, 2]


def test_rrf_hand_computed():
    dense = (["a", "b", "c"], [0.9, 0.8, 0.1])
    kw = (["c", "a"], [7.0, 3.0])
    ids, scores = reciprocal_rank_fusion([dense, kw], k=10)
    # a: 1/11 + 1/12, c: 1/13 + 1/11, b: 1/12
    expect = {"a": 1 / 11 + 1 / 12, "c": 1 / 13 + 1 / 11, "b": 1 / 12}
    assert ids == ["a", "c", "b"]
    np.testing.assert_allclose(scores, [expect[i] for i in ids])


def test_rrf_weights_and_limit():
    dense = ([1, 2], [0.9, 0.1])
    kw = ([2, 1], [5.0, 1.0])
    ids, _ = reciprocal_rank_fusion([dense, kw], k=0, weights=[1.0, 3.0], limit=1)
    assert ids == [2]  # 1/2 + 3/1 beats 1/1 + 3/2


def test_rrf_ties_are_broken_by_id():
    ids, scores = reciprocal_rank_fusion([(["b", "a"], [1.0, 0.5]), (["a", "b"], [1.0, 0.5])])
    assert ids == ["a", "b"] and scores[0] == scores[1]


def _brute_convex(runs, weights, norm):
    docs = sorted({d for ids, _ in runs for d in ids})
    total = dict.fromkeys(docs, 0.0)
    for (ids, scores), w in zip(runs, weights):
        s = np.asarray(scores, float)
        if norm == "minmax":
            n = (s - s.min()) / (s.max() - s.min())
        else:
            n = (s - s.mean()) / s.std()
        lookup = dict(zip(ids, n))
        for d in docs:
            total[d] += w * lookup.get(d, n.min())
    return total


@pytest.mark.parametrize("norm", ["minmax", "zscore"])
def test_convex_matches_brute_force_on_random_runs(norm):
    rng = np.random.default_rng(7)
    for _ in range(20):
        runs = []
        for _r in range(2):
            ids = rng.choice(50, size=rng.integers(3, 20), replace=False).tolist()
            runs.append((ids, rng.normal(size=len(ids)) * 5))
        w = rng.uniform(0, 1, size=2).tolist()
        ids, scores = convex_combination(runs, w, normalization=norm)
        ref = _brute_convex(runs, w, norm)
        assert set(ids) == set(ref)
        np.testing.assert_allclose(scores, [ref[d] for d in ids], atol=1e-9)
        assert np.all(np.diff(scores) <= 1e-12)


def test_convex_weight_one_reproduces_single_run_order():
    dense = (["a", "b", "c"], [0.3, 0.9, 0.5])
    kw = (["c", "d"], [9.0, 1.0])
    ids, _ = convex_combination([dense, kw], [1.0, 0.0], limit=3)
    assert ids == ["b", "c", "a"]


def test_normalize_constant_and_empty():
    assert normalize_scores(np.array([2.0, 2.0])).tolist() == [1.0, 1.0]
    assert normalize_scores(np.array([2.0, 2.0]), "zscore").tolist() == [0.0, 0.0]
    assert normalize_scores(np.array([])).size == 0


def test_bad_inputs_raise_with_hints():
    with pytest.raises(BadInputError):
        normalize_scores(np.array([1.0]), "softmax")  # type: ignore[arg-type]
    with pytest.raises(BadInputError):
        reciprocal_rank_fusion([(["a"], [1.0])], weights=[1.0, 2.0])
    with pytest.raises(BadInputError):
        convex_combination([(["a", "a"], [1.0, 2.0])], [1.0])
    with pytest.raises(BadInputError):
        convex_combination([(["a"], [1.0, 2.0])], [1.0])
