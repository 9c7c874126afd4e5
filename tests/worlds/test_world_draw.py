import numpy as np

from jointspace.worlds.draw import render_scene
from jointspace.worlds.scene import Scene, SceneObject
from jointspace.worlds.vocab import COLOURS, SHAPES, SIZES


def test_object_colour_at_centre_and_background_in_corners():
    for colour, (rgb, _) in COLOURS.items():
        scene = Scene([SceneObject(colour, "square", "large", 0.5, 0.5)], "plain", 130, seed=[1])
        img = np.asarray(render_scene(scene, 64), np.int32)
        assert img.shape == (64, 64, 3)
        assert np.abs(img[32, 32] - rgb).max() <= 13, colour
        assert np.abs(img[2, 2] - 130).max() <= 13


def test_shapes_differ_and_stay_inside_their_box():
    masks = {}
    for shape in SHAPES:
        scene = Scene([SceneObject("white", shape, "large", 0.5, 0.5)], "plain", 20, seed=[2])
        img = np.asarray(render_scene(scene, 64), np.float32).mean(-1)
        mask = img > 128
        _, xs = np.nonzero(mask)
        r = SIZES["large"][0] * 64
        assert xs.min() >= 32 - r - 1 and xs.max() <= 32 + r + 1, shape
        assert 40 < mask.sum() < (2 * r + 2) ** 2, shape
        masks[shape] = mask
    names = list(masks)
    for i, a in enumerate(names):
        for b in names[i + 1 :]:
            assert (masks[a] != masks[b]).sum() > 20, (a, b)
    assert not masks["ring"][32, 32] and masks["circle"][32, 32]  # the ring has a hole


def test_rendering_is_deterministic_and_text_is_painted():
    obj = SceneObject("red", "heart", "medium", 0.5, 0.4)
    a = np.asarray(render_scene(Scene([obj], "noisy", 120, seed=[5]), 64))
    b = np.asarray(render_scene(Scene([obj], "noisy", 120, seed=[5]), 64))
    assert np.array_equal(a, b)
    plain = np.asarray(render_scene(Scene([obj], "plain", 150, seed=[5]), 64), np.float32)
    text = np.asarray(render_scene(Scene([obj], "plain", 150, "stop", seed=[5]), 64), np.float32)
    band = slice(52, 64)
    assert np.abs(text[band] - plain[band]).max() > 80  # dark letters on the light band
    assert np.array_equal(text[:40], plain[:40])
