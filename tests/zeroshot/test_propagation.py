"""Label propagation (ZLaP): constructed graphs, and oracles against dense numpy solves."""

from __future__ import annotations

import numpy as np
import pytest

from jointspace.errors import BadInputError
from jointspace.zeroshot.propagation import (
    PropagationSettings,
    block_cg,
    build_graph,
    inductive_from_neighbours,
    inductive_scores,
    knn,
    propagate,
    to_probabilities,
)


def _unit(x: np.ndarray) -> np.ndarray:
    return (x / np.linalg.norm(x, axis=-1, keepdims=True)).astype(np.float32)


def two_clusters(n: int = 60, seed: int = 0) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Two tight image clusters far apart (dim 2 = +-0.6), each only slightly closer to its
    class text on average, with enough spread along the text axes that the plain classifier
    mislabels a good share of both."""
    rng = np.random.default_rng(seed)
    d = 16
    classes = np.eye(d, dtype=np.float32)[:2]
    centres = np.zeros((2, d))
    centres[0, :3] = (0.58, 0.52, 0.6)
    centres[1, :3] = (0.52, 0.58, -0.6)
    targets = np.repeat([0, 1], n // 2)
    pts = centres[targets].copy()
    pts[:, :2] += rng.normal(0, 0.06, (n, 2))
    pts[:, 3:] += rng.normal(0, 0.08, (n, d - 3))  # neighbourhoods blind to the text axes
    return _unit(pts), classes, targets


def test_propagation_labels_two_clusters_the_plain_classifier_gets_wrong():
    images, classes, targets = two_clusters()
    plain = (images @ classes.T).argmax(1)
    assert (plain == targets).mean() < 0.85  # the constructed case is hard without the graph
    prop = propagate(images, classes, PropagationSettings(k=5, gamma=5.0, alpha=0.9))
    assert prop.scores.shape == (len(images), 2)
    assert (prop.scores.argmax(1) == targets).mean() == 1.0


def test_block_cg_matches_a_dense_solve():
    images, classes, _ = two_clusters(40, seed=3)
    s = PropagationSettings(k=4, gamma=2.0, alpha=0.7, tol=1e-10, max_iter=500)
    w = build_graph(images, classes, s)
    assert (abs(w - w.T) > 1e-12).nnz == 0  # symmetric
    lap = np.eye(w.shape[0]) - s.alpha * w.toarray()
    rhs = np.zeros((w.shape[0], 2))
    rhs[[0, 1], [0, 1]] = 1.0
    x, _ = block_cg(w, s.alpha, rhs, s.tol, s.max_iter)
    np.testing.assert_allclose(x, np.linalg.solve(lap, rhs), atol=1e-7)
    prop = propagate(images, classes, s)
    np.testing.assert_allclose(prop.node_scores, np.linalg.solve(lap, rhs), atol=1e-5)


def test_graph_links_images_to_k_images_and_k_texts_with_powered_text_weights():
    images, classes, _ = two_clusters(20, seed=1)
    s = PropagationSettings(k=3, gamma=4.0)
    ids, sims = knn(images, images, 3, exclude_self=True)
    assert not (ids == np.arange(20)[:, None]).any()
    brute = np.sort(np.partition(-(images @ images.T - 3 * np.eye(20)), 3, axis=1)[:, :3], 1)
    np.testing.assert_allclose(np.sort(-sims, 1), brute, atol=1e-5)
    w = build_graph(images, classes, s)
    assert w[:2, :2].nnz == 0  # text nodes never link to each other
    assert (w[2:, :2].getnnz(axis=1) >= 1).all()  # every image reaches a text node


def test_inductive_matches_a_dense_solve_for_a_new_node():
    images, classes, _ = two_clusters(30, seed=2)
    s = PropagationSettings(k=4, gamma=2.0, alpha=0.6, tol=1e-12, max_iter=500)
    prop = propagate(images, classes, s)
    new = _unit(images[:3] + 0.01)
    scores = inductive_scores(prop, images, classes, new)
    lap = np.eye(32) - s.alpha * build_graph(images, classes, s).toarray()
    for row in range(3):
        y = np.zeros(32)
        ids, sims = knn(images, new[row:row + 1], 4)
        tids, tsims = knn(classes, new[row:row + 1], 2)
        y[ids[0] + 2] = np.clip(sims[0], 0, None)
        y[tids[0]] = np.clip(tsims[0], 0, None) ** s.gamma
        np.testing.assert_allclose(scores[row], np.linalg.solve(lap, y)[:2], rtol=1e-4)
    direct = inductive_from_neighbours(prop, *knn(images, new, 4), *knn(classes, new, 2))
    np.testing.assert_allclose(direct, scores)


def test_inductive_labels_new_images_of_each_cluster():
    images, classes, targets = two_clusters(80, seed=4)
    prop = propagate(images[::2], classes, PropagationSettings(k=5, gamma=3.0, alpha=0.9))
    scores = inductive_scores(prop, images[::2], classes, images[1::2])
    assert (scores.argmax(1) == targets[1::2]).mean() >= 0.95


def test_probabilities_and_bad_input():
    p = to_probabilities(np.array([[2.0, 1.0, -1.0], [-1.0, -2.0, -3.0]]))
    np.testing.assert_allclose(p, [[2 / 3, 1 / 3, 0.0], [1 / 3, 1 / 3, 1 / 3]])
    with pytest.raises(BadInputError):
        PropagationSettings(alpha=1.0)
    with pytest.raises(BadInputError):
        propagate(np.ones((1, 4), np.float32), np.eye(4, dtype=np.float32)[:2])
