import re

import numpy as np

from jointspace.worlds.captions import make_captions, relation
from jointspace.worlds.scene import Scene, SceneObject, SceneOptions, sample_scene
from jointspace.worlds.vocab import COLOURS, SHAPES, compositions

_COLOUR_OF = {w: c for c, (_, words) in COLOURS.items() for w in words}
_SHAPE_OF = {w: s for s, forms in SHAPES.items() for form in forms for w in form}


def _mentioned(text: str, table: dict[str, str]) -> set[str]:
    found = set()
    # longest words first so "five-pointed star" is not also read as "star" twice
    for word in sorted(table, key=len, reverse=True):
        if re.search(rf"(?<![\w-]){re.escape(word)}(?![\w-])", text):
            found.add(table[word])
            text = re.sub(rf"(?<![\w-]){re.escape(word)}(?![\w-])", " ", text)
    return found


def test_captions_only_name_colours_and_shapes_in_the_scene():
    for i in range(300):
        rng = np.random.default_rng(i)
        scene = sample_scene(rng, compositions(), SceneOptions(text_prob=0.3))
        caps = make_captions(scene, rng, k=4)
        assert caps and len(set(caps)) == len(caps)
        colours = {o.colour for o in scene.objects}
        shapes = {o.shape for o in scene.objects}
        for cap in caps:
            assert _mentioned(cap, _COLOUR_OF) <= colours, (cap, scene)
            assert _mentioned(cap, _SHAPE_OF) <= shapes, (cap, scene)
            assert not re.search(r"\ba [aeiou]", cap), cap  # "an amber", not "a amber"


def test_single_object_captions_name_its_shape():
    obj = SceneObject("red", "star", "large", 0.2, 0.5)
    scene = Scene([obj])
    for i in range(50):
        for cap in make_captions(scene, np.random.default_rng(i), k=3):
            assert _mentioned(cap, _SHAPE_OF) == {"star"}
            assert "right" not in cap  # the star is on the left


def test_relation_follows_coordinates():
    left = SceneObject("red", "circle", "small", 0.2, 0.5)
    right = SceneObject("blue", "square", "small", 0.8, 0.55)
    top = SceneObject("green", "star", "small", 0.5, 0.1)
    assert relation(left, right) == "left of" and relation(right, left) == "right of"
    assert relation(top, SceneObject("red", "ring", "small", 0.55, 0.9)) == "above"
    assert relation(left, SceneObject("red", "ring", "small", 0.25, 0.55)) is None  # too close


def test_relation_captions_are_true():
    a = SceneObject("red", "circle", "small", 0.2, 0.5)
    b = SceneObject("blue", "square", "small", 0.8, 0.5)
    scene = Scene([a, b])
    for i in range(80):
        for cap in make_captions(scene, np.random.default_rng(i), k=4):
            for word in ("left", "right"):
                if word in cap:
                    first = min(cap.find(w) for w in ("circle", "disc", "disk", "red", "crimson",
                                                       "scarlet") if w in cap)
                    second = min(cap.find(w) for w in ("square", "box", "block", "blue", "cobalt",
                                                        "sapphire") if w in cap)
                    # "X left of Y" with X the circle, or "Y right of X"
                    assert (word == "left") == (first < second), cap
