import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from jointspace.errors import BadInputError
from jointspace.worlds import SPLITS, WorldConfig, generate_world, load_world_meta, split_counts


def _rows(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines()]


@pytest.fixture(scope="module")
def world(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("world")
    generate_world(WorldConfig(out=str(out), n=600, seed=4, shard_size=100, workers=1))
    return out


def test_split_counts_add_up():
    assert split_counts(50_000, (0.8, 0.05, 0.1, 0.05)) == {
        "train": 40_000, "val": 2_500, "test": 5_000, "heldout": 2_500}
    assert sum(split_counts(7, (0.8, 0.05, 0.1, 0.05)).values()) == 7
    with pytest.raises(BadInputError):
        split_counts(10, (1, 2))


def test_manifests_images_and_labels_agree(world):
    meta = load_world_meta(world / "train" / "pairs.jsonl")
    held = {tuple(p) for p in meta["heldout_pairs"]}
    all_rows = _rows(world / "pairs.jsonl")
    assert len(all_rows) == 600 and meta["counts"] == split_counts(600, (0.8, 0.05, 0.1, 0.05))
    for split in SPLITS:
        rows = _rows(world / split / "pairs.jsonl")
        assert len(rows) == meta["counts"][split]
        for row in rows:
            assert row["split"] == split and 1 <= len(row["captions"]) <= 4
            pairs = {(o["colour"], o["shape"]) for o in row["objects"]}
            assert row["labels"] == sorted(f"{c} {s}" for c, s in pairs)
            if split == "heldout":
                assert pairs & held  # every held-out image shows a held-out pair
            else:
                assert not pairs & held  # ... and no other split ever does
            img = Image.open(world / split / row["file"])
            assert img.size == (64, 64) and img.mode == "RGB"
    first = all_rows[0]
    assert (world / first["file"]).is_file() and first["file"].startswith("train/")


def test_shards_hold_the_same_samples(world):
    import webdataset as wds

    shards = sorted((world / "shards").glob("train-*.tar"))
    assert len(shards) == 5  # 480 train samples, 100 per shard
    rows = {r["index"]: r for r in _rows(world / "train" / "pairs.jsonl")}
    seen = 0
    for sample in wds.WebDataset([str(s) for s in shards], shardshuffle=False).decode("pil"):
        row = sample["json"]
        assert row == rows[row["index"]]
        disk = np.asarray(Image.open(world / "train" / row["file"]))
        assert np.array_equal(np.asarray(sample["png"]), disk)
        assert sample["txt"] == row["captions"][0]
        seen += 1
    assert seen == len(rows)


def test_same_seed_same_bytes_whatever_the_worker_count(tmp_path, world):
    out = tmp_path / "again"
    generate_world(WorldConfig(out=str(out), n=600, seed=4, shard_size=100, workers=2))
    assert (out / "pairs.jsonl").read_bytes() == (world / "pairs.jsonl").read_bytes()
    assert (out / "shards" / "test-000000.tar").read_bytes() == (
        world / "shards" / "test-000000.tar").read_bytes()
    other = tmp_path / "other"
    generate_world(WorldConfig(out=str(other), n=20, seed=5, shard_size=0))
    assert _rows(other / "pairs.jsonl")[0] != _rows(world / "pairs.jsonl")[0]
    assert not (other / "shards").exists()
