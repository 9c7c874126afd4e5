"""World groupings: same-colour groups (hard negatives) and same-objects groups (extra positives)."""

import numpy as np
import pytest

from jointspace.worlds.groups import image_groups


def _obj(colour, shape, texture="solid", size="small", x=0.2):
    return {"colour": colour, "shape": shape, "texture": texture, "size": size, "x": x}


def test_objects_groups_ignore_size_place_and_order_only():
    rows = [
        {"objects": [_obj("red", "circle"), _obj("blue", "star")]},
        {"objects": [_obj("blue", "star", size="large", x=0.9), _obj("red", "circle")]},  # = 0
        {"objects": [_obj("red", "hexagon"), _obj("blue", "star")]},  # another shape
        {"objects": [_obj("red", "circle", texture="striped"), _obj("blue", "star")]},  # texture
        {"objects": [_obj("red", "circle")]},  # fewer objects
        {"objects": [_obj("red", "circle"), _obj("red", "circle")]},  # two of them
        {"objects": [_obj("red", "circle")], "scene_text": "dog"},  # written text
        {"objects": [_obj("red", "circle", size="large")], "scene_text": None},  # = 4
        {"objects": []},
    ]
    ids = image_groups(rows, "objects")
    assert ids.dtype == np.int64 and ids.tolist() == [0, 0, 1, 2, 3, 4, 5, 3, 6]


def test_colour_groups_and_unknown_grouping():
    rows = [{"objects": [_obj("red", "circle")]}, {"objects": [_obj("red", "star")]},
            {"objects": [_obj("blue", "star")]}, {"objects": []}]
    ids = image_groups(rows, "colour").tolist()
    assert ids[0] == ids[1] != ids[2]
    with pytest.raises(ValueError, match="unknown world grouping"):
        image_groups(rows, "size")
