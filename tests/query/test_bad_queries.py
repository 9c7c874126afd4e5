"""Known failures are BadInputErrors from the library itself, whatever skin calls it (issue 12)."""

from __future__ import annotations

import pytest

from jointspace.errors import BadInputError, CollectionError, NotFoundError
from jointspace.query import Collection


@pytest.fixture
def col(tmp_path):
    with Collection.create(tmp_path / "col", "hash:16") as c:
        c.add_texts(["alpha", "beta"])
        yield c


@pytest.mark.parametrize("weights", [{"text_weight": float("nan")},
                                     {"text_weight": float("inf")},
                                     {"negative_weight": float("nan")}])
def test_weights_must_be_finite(col, weights):
    with pytest.raises(BadInputError, match="finite"):
        col.search("alpha", negative="beta", **weights)


@pytest.mark.parametrize("bad", [2**63, 2**64, -1, 0, "x"])
def test_item_ids_out_of_range(col, bad):
    with pytest.raises(BadInputError):
        col.remove([bad])
    with pytest.raises((BadInputError, NotFoundError)):
        col.search(item_id=bad)
    assert col.count() == 2


def test_a_missing_id_is_not_found(col):
    with pytest.raises(NotFoundError):
        col.get(2**63 - 1)


def test_an_empty_remove_filter_is_refused(col):
    with pytest.raises(BadInputError, match="empty"):
        col.remove(where="   ")
    assert col.count() == 2


def test_hybrid_without_any_text_says_so(tmp_path):
    import numpy as np
    from PIL import Image

    Image.fromarray(np.zeros((8, 8, 3), np.uint8)).save(tmp_path / "a.png")
    with Collection.create(tmp_path / "col", "hash:16") as c:
        c.add([tmp_path / "a.png"], workers=0)
        with pytest.raises(BadInputError, match="hybrid search needs texts"):
            c.search("a", hybrid=True)


def test_bad_index_kind_and_unusable_paths(tmp_path):
    with pytest.raises(BadInputError, match="unknown index kind"):
        Collection.create(tmp_path / "c", "hash:8", index="ivf")
    (tmp_path / "file").write_text("x")
    with pytest.raises(CollectionError, match="cannot create a collection"):
        Collection.create(tmp_path / "file", "hash:8")
    with pytest.raises(CollectionError):
        Collection.create(tmp_path / "file" / "sub", "hash:8")
