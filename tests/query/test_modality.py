"""Modality balancing: exact per-kind moments, and a two-cone collection that must interleave."""

from __future__ import annotations

import numpy as np

from jointspace.query.derived import all_vectors
from jointspace.query.modality import ModalityStats, modality_gap, standardise


def _unit(x):
    return (x / np.linalg.norm(x, axis=-1, keepdims=True)).astype(np.float32)


def test_standardise_equals_brute_force_z_scores_and_stats_add_up():
    rng = np.random.default_rng(0)
    imgs, txts = _unit(rng.standard_normal((30, 8)) + 2), _unit(rng.standard_normal((20, 8)) - 1)
    stats = ModalityStats(8)
    stats.add("image", imgs[:11])
    stats.add("image", imgs[11:])  # added in two steps: same as one
    stats.add("text", txts)
    q = _unit(rng.standard_normal((3, 8)))
    items = np.vstack([imgs, txts])
    kinds = np.array(["image"] * 30 + ["text"] * 20)
    z = standardise(q @ items.T, q, kinds, stats)
    for kind, block in (("image", imgs), ("text", txts)):
        s = q @ block.T
        want = (s - s.mean(axis=1, keepdims=True)) / s.std(axis=1, keepdims=True)
        np.testing.assert_allclose(z[:, kinds == kind], want, atol=1e-5)
    again = ModalityStats.from_bytes(stats.to_bytes())
    assert again.count == stats.count
    assert abs(modality_gap(again) - float(np.linalg.norm(imgs.mean(0) - txts.mean(0)))) < 1e-6
    assert modality_gap(ModalityStats(8)) is None


def two_cones(n=50, dim=24, seed=0):
    """Texts sit in their own cone close to every text query; images match by topic only."""
    rng = np.random.default_rng(seed)
    t_axis, i_axis = np.eye(dim)[0], np.eye(dim)[1]
    topics = _unit(rng.standard_normal((5, dim)) * np.r_[0, 0, np.ones(dim - 2)])
    items, topic_of = [], []
    for j in range(n):
        t = j % 5
        noise = rng.standard_normal(dim) * 0.04
        noise[:2] = 0
        items.append(("image", _unit(0.6 * i_axis + 0.5 * topics[t] + noise), f"img {j}"))
        items.append(("text", _unit(0.9 * t_axis + 0.3 * topics[t] + noise), f"caption {j}"))
        topic_of += [t, t]
    queries = _unit(0.9 * t_axis[None] + 0.3 * topics)  # text queries live in the text cone
    return items, np.array(topic_of), queries


def test_balancing_interleaves_a_two_cone_collection(vector_collection):
    items, topic_of, queries = two_cones()
    col = vector_collection(items)
    for t, q in enumerate(queries):
        plain = col.search_vector(q, k=10, balance_modalities=False)
        assert {h.kind for h in plain} == {"text"}  # the gap: texts crowd out every image
        balanced = col.search_vector(q, k=10, balance_modalities=True)
        kinds = [h.kind for h in balanced]
        assert kinds.count("image") == 5  # each kind its fair share of the top 10
        assert all(topic_of[h.id - 1] == t for h in balanced)  # and all on topic
        only = [h.id for h in col.search_vector(q, k=10, kind="image")]
        got = [h.id for h in balanced if h.kind == "image"]
        assert got == only[: len(got)]  # within a kind the order is the plain one
    # default: a mixed collection balances
    assert [h.id for h in col.search_vector(queries[0], k=10)] == \
        [h.id for h in col.search_vector(queries[0], k=10, balance_modalities=True)]
    assert col.quality_info()["modality_gap"] > 0.5
    # a cut-off that drops every image: the share goes to nobody, texts fill the list
    cut = max(h.score for h in col.search_vector(queries[0], k=10, kind="image")) + 1e-3
    kept = col.search_vector(queries[0], k=10, balance_modalities=True, min_score=cut)
    assert kept and {h.kind for h in kept} == {"text"} and min(h.score for h in kept) >= cut


def test_stats_follow_adds_and_deletes(vector_collection):
    from jointspace.store import NewItem, WriteBatch

    items, _, _ = two_cones(n=10)
    col = vector_collection(items)
    col._derived.modality()  # computed and stored at this seq
    rng = np.random.default_rng(3)
    with col.store.writer():
        col.store.write(WriteBatch(upserts=[NewItem(key="extra", source="t", kind="image",
                                                    vector=_unit(rng.standard_normal(24)))]))
    ids, vecs = all_vectors(col.store)
    kinds = np.array([it.kind for it in col.store.get(ids.tolist())])
    stats = col._derived.modality()
    np.testing.assert_allclose(stats.mean("image"), vecs[kinds == "image"].mean(0), atol=1e-6)
    with col.store.writer():
        col.store.write(WriteBatch(deletes=[1, 2, 3]))
    ids, vecs = all_vectors(col.store)
    kinds = np.array([it.kind for it in col.store.get(ids.tolist())])
    stats = col._derived.modality()
    assert stats.count == {"image": int((kinds == "image").sum()),
                           "text": int((kinds == "text").sum())}
    np.testing.assert_allclose(stats.mean("text"), vecs[kinds == "text"].mean(0), atol=1e-6)


def test_balanced_order_gives_each_kind_its_share_above_the_floor():
    from jointspace.query.modality import balanced_order

    # texts are far more exceptional than images: plain z order would be 6 texts then images
    z = np.array([9.0, 8.5, 8.0, 7.5, 7.0, 6.5, 3.0, 2.9, 2.8, 1.0])
    kinds = np.array(["text"] * 6 + ["image"] * 4)
    order = balanced_order(z, kinds, floor=2.5, limit=6)
    got = kinds[order].tolist()
    assert got == ["text", "image", "text", "image", "text", "image"]
    assert order[kinds[order] == "text"].tolist() == [0, 1, 2]  # within a kind: z order
    # every prefix holds at least p // 2 of each kind while candidates clear the floor
    full = balanced_order(z, kinds, floor=2.5)
    assert full[:6].tolist() == order.tolist()  # a prefix does not depend on the limit
    for p in range(1, 7):
        assert min((kinds[full[:p]] == k).sum() for k in ("text", "image")) >= p // 2
    # the image at z=1.0 is below the floor: no guaranteed slot, texts come first again
    assert kinds[full].tolist()[6:] == ["text", "text", "text", "image"]
    # a floor above every image: the plain z order
    assert balanced_order(z, kinds, floor=5.0).tolist() == np.argsort(-z).tolist()
    # one kind: the plain z order
    assert balanced_order(z[:6], kinds[:6]).tolist() == list(range(6))
    assert balanced_order(np.zeros(0), np.array([], str)).tolist() == []
