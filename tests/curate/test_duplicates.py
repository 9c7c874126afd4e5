"""Near-duplicates: generated variants with a known answer, hash maths, keep rules, marking."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from jointspace.curate.duplicates import find_duplicates, group_duplicates, mark_duplicates
from jointspace.curate.phash import hamming, phash
from jointspace.curate.variants import VARIANTS, make_variants
from jointspace.errors import BadInputError
from jointspace.models import load_embedder
from jointspace.query import Collection


def photo(seed: int, size: tuple[int, int] = (96, 72)) -> Image.Image:
    """A smooth random picture: coloured noise upsampled, different for every seed."""
    rng = np.random.default_rng(seed)
    small = rng.integers(0, 256, (6, 8, 3), dtype=np.uint8)
    return Image.fromarray(small).resize(size, Image.Resampling.BICUBIC)


@pytest.fixture(scope="module")
def photo_folder(tmp_path_factory) -> tuple[Path, list[set[str]]]:
    """8 photos; photos 0-2 have all 5 variants, photo 3 an exact byte copy."""
    root = tmp_path_factory.mktemp("dups")
    expected = []
    for i in range(8):
        img = photo(i)
        img.save(root / f"p{i}.jpg", quality=92)
        group = {f"p{i}.jpg"}
        if i < 3:
            for name, suffix, data in make_variants(img):
                (root / f"p{i}_{name}{suffix}").write_bytes(data)
                group.add(f"p{i}_{name}{suffix}")
        if i == 3:
            (root / "p3_copy.jpg").write_bytes((root / "p3.jpg").read_bytes())
            group.add("p3_copy.jpg")
        if len(group) > 1:
            expected.append(group)
    return root, expected


def test_phash_is_close_for_variants_and_far_for_other_photos():
    img = photo(0)
    h = phash(img)
    for name, _, data in make_variants(img):
        import io

        assert hamming(h, phash(Image.open(io.BytesIO(data)))) <= 12, name
    others = [hamming(h, phash(photo(s))) for s in range(1, 20)]
    assert min(others) > 12 and 20 < np.mean(others) < 44
    assert hamming(5, 6) == 2 and hamming(h, h) == 0


def test_groups_of_constructed_vectors():
    v = np.eye(6, dtype=np.float32)
    v[1] = (v[0] + 0.05 * v[2]) / np.linalg.norm(v[0] + 0.05 * v[2])  # 1 ~ 0
    digests = ["a", None, "b", "c", "c", "d"]  # 3 and 4 are byte-identical
    groups = group_duplicates(v, digests, threshold=0.99, k=3)
    assert [(g[0], g[2]) for g in groups] == [([3, 4], True), ([0, 1], False)]
    assert groups[1][1] == pytest.approx(float(v[0] @ v[1]), abs=1e-6)
    vetoed = group_duplicates(v, digests, threshold=0.99, k=3, hashes=[0, 2**64 - 1, 0, 0, 0, 0],
                              max_hash_distance=8)
    assert [g[0] for g in vetoed] == [[3, 4]]  # the hash vetoes the near link, not the exact one
    rescued = group_duplicates(v, digests, threshold=0.99, k=3, hashes=[0, 0, 0, 2**40 - 1, 2**40 - 1, 7],
                               hash_alone_distance=2)  # rows 0, 1, 2 hash alike, cosine 0
    assert [sorted(g[0]) for g in rescued] == [[3, 4], [0, 1, 2]]


def test_find_duplicates_in_a_collection_with_variants(tmp_path, photo_folder):
    root, expected = photo_folder
    with Collection.create(tmp_path / "c", embedder=load_embedder("hash:64")) as col:
        col.add(root, workers=0)
        report = find_duplicates(col, threshold=0.85, max_hash_distance=16, keep="largest")
        found = [{Path(p).name for p in g.paths} for g in report.groups]
        assert sorted(map(sorted, found)) == sorted(map(sorted, expected))
        assert len(expected[0]) == 1 + len(VARIANTS)
        copy_group = next(g for g in report.groups if g.exact)
        assert copy_group.score == 1.0 and len(copy_group.ids) == 2
        for g in report.groups:  # largest keeps the full-size original over its half copy
            assert g.keep in g.ids
            assert not Path(g.paths[g.ids.index(g.keep)]).name.endswith("_half.jpg")
        assert report.marked == 0 and all("duplicate_of" not in col.get(i).metadata
                                          for g in report.groups for i in g.ids)
        n = mark_duplicates(col, report)
        assert n == sum(len(g.ids) - 1 for g in report.groups)
        for g in report.groups:
            for i in g.ids:
                meta = col.get(i).metadata
                assert meta.get("duplicate_of") == (None if i == g.keep else g.keep)
        first = find_duplicates(col, threshold=0.85, max_hash_distance=16, keep="first")
        assert all(g.keep == min(g.ids) for g in first.groups)
        with pytest.raises(BadInputError):
            find_duplicates(col, keep="newest")
        with pytest.raises(BadInputError):
            mark_duplicates(col, find_duplicates(col, threshold=0.9))
