import itertools

import numpy as np

from jointspace.worlds.scene import SceneOptions, heldout_pairs, sample_scene
from jointspace.worlds.vocab import COLOURS, SHAPES, SIZES, compositions


def test_heldout_pairs_cover_every_colour_and_shape_once():
    held = heldout_pairs(0)
    assert sorted(s for _, s in held) == sorted(SHAPES)
    assert sorted(c for c, _ in held) == sorted(COLOURS)
    assert heldout_pairs(0) == held
    assert heldout_pairs(1) != held  # the seed picks which pairs


def test_sampled_scenes_use_only_allowed_pairs_and_do_not_overlap():
    held = set(heldout_pairs(3))
    allowed = [p for p in compositions() if p not in held]
    counts = np.zeros(4, int)
    for i in range(400):
        scene = sample_scene(np.random.default_rng([3, i]), allowed, SceneOptions())
        counts[len(scene.objects)] += 1
        for o in scene.objects:
            assert (o.colour, o.shape) not in held
            r = SIZES[o.size][0]
            assert r <= o.x <= 1 - r and r <= o.y <= 1 - r
        for a, b in itertools.combinations(scene.objects, 2):
            assert np.hypot(a.x - b.x, a.y - b.y) > a.radius + b.radius
    assert counts[0] == 0 and counts[1] > counts[2] > counts[3] > 0


def test_required_pair_comes_first():
    held = heldout_pairs(0)
    for i in range(50):
        scene = sample_scene(np.random.default_rng(i), compositions(), SceneOptions(), required=held)
        assert (scene.objects[0].colour, scene.objects[0].shape) in held


def test_text_keeps_objects_out_of_the_bottom_band():
    opts = SceneOptions(text_prob=1.0)
    for i in range(100):
        scene = sample_scene(np.random.default_rng(i), compositions(), opts)
        assert scene.scene_text
        assert all(o.y + o.radius <= 0.78 for o in scene.objects)
