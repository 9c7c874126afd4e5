import json

import numpy as np
import pytest

from jointspace.models.base import BaseEmbedder, l2_normalize
from jointspace.worlds import WorldConfig, generate_world
from jointspace.worlds.evaluate import evaluate_world, gallery_rows
from jointspace.worlds.metrics import (
    precision_at_k,
    relevance,
    single_object_queries,
    single_object_targets,
)
from jointspace.worlds.vocab import compositions

_CLASSES = {f"{c} {s}": i for i, (c, s) in enumerate(compositions())}


def test_relevance_and_targets_follow_the_labels():
    rows = [
        {"objects": [{"colour": "red", "shape": "circle"}]},
        {"objects": [{"colour": "blue", "shape": "star"}, {"colour": "red", "shape": "circle"}]},
        {"objects": [{"colour": "red", "shape": "star"}]},
    ]
    queries = single_object_queries([("red", "star")])
    assert len(queries) == 100 and sum(q.heldout for q in queries) == 1
    texts = {q.text for q in queries}
    assert {"a red circle", "an orange star"} <= texts and "a orange star" not in texts
    rel = relevance(rows, queries)
    red_circle = _CLASSES["red circle"]
    assert rel[red_circle].tolist() == [True, True, False]
    assert rel.sum() == 4
    keep, targets = single_object_targets(rows)
    assert keep.tolist() == [0, 2] and targets.tolist() == [red_circle, _CLASSES["red star"]]


def test_precision_at_k_matches_brute_force():
    rng = np.random.default_rng(0)
    sim = rng.normal(size=(7, 30))
    rel = rng.random((7, 30)) < 0.3
    got = precision_at_k(sim, rel, 5)
    for i in range(7):
        best = sorted(range(30), key=lambda j: -sim[i, j])[:5]
        assert got[i] == pytest.approx(np.mean([rel[i, j] for j in best]))


class _OracleText(BaseEmbedder):
    """Texts -> one-hot of the composition they name (the canonical words only)."""

    name, dim, modalities = "oracle", len(_CLASSES), frozenset({"text"})

    def _embed_text_batch(self, texts):
        out = np.zeros((len(texts), self.dim), np.float32)
        for i, t in enumerate(texts):
            for label, j in _CLASSES.items():
                if label in t:
                    out[i, j] = 1
        return out + 1e-3


def test_an_oracle_scores_perfectly(tmp_path):
    world = tmp_path / "w"
    generate_world(WorldConfig(out=str(world), n=3000, seed=0, shard_size=0, image_size=16))
    rows = gallery_rows(world)
    img = np.zeros((len(rows), len(_CLASSES)), np.float32)
    for j, r in enumerate(rows):
        for o in r["objects"]:
            img[j, _CLASSES[f"{o['colour']} {o['shape']}"]] = 1
    rep = evaluate_world(_OracleText(), world, image_vectors=l2_normalize(img), k=3)
    held_pairs = json.loads((world / "world.json").read_text())["heldout_pairs"]
    queries = single_object_queries([tuple(p) for p in held_pairs])
    n_rel = relevance(rows, queries).sum(1)
    best = np.minimum(n_rel, 3) / 3  # an oracle fills the top 3 with every relevant image it has
    held = np.array([q.heldout for q in queries])
    assert rep.p_at_k["seen"] == pytest.approx(best[~held].mean(), abs=1e-4)
    assert rep.p_at_k["heldout"] == pytest.approx(best[held].mean(), abs=1e-4) == 1.0
    assert rep.zero_shot["seen_top1"] == 1.0 and rep.zero_shot["heldout_top1"] == 1.0
    assert rep.zero_shot["n_heldout"] > 0 and rep.zero_shot["chance"] == 0.01
    assert 0 <= rep.recall["t2i_R@1"] <= 1
    cm = np.array(rep.confusion["heldout"])
    assert cm.sum() == rep.zero_shot["n_heldout"] and np.trace(cm) == cm.sum()


def test_paraphrase_queries_use_synonyms_only():
    from jointspace.worlds.metrics import paraphrase_queries
    from jointspace.worlds.vocab import COLOURS, SHAPES

    queries = paraphrase_queries([("red", "circle")])
    assert [(q.colour, q.shape) for q in queries] == compositions()
    for q in queries:
        words = q.text.split(" ", 1)[1]
        assert q.colour not in words.split() and words.startswith(COLOURS[q.colour][1][1])
        assert words.endswith(SHAPES[q.shape][1][0])
    assert queries[0].text == "a crimson disc" and queries[0].heldout
