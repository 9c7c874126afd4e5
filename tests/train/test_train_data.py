import json

import numpy as np
import pytest
import torch
from PIL import Image

from jointspace.errors import BadInputError
from jointspace.models.dual_encoder import image_processor
from jointspace.train.data import load_pair_data, normalise, shard_paths


def test_manifest_and_shards_give_the_same_pairs(small_world, tmp_path):
    proc = image_processor(16)
    a = load_pair_data(str(small_world / "train" / "pairs.jsonl"), proc)
    b = load_pair_data(str(small_world / "shards" / "train-{000000..000002}.tar"), proc)
    c = load_pair_data(str(small_world), proc, split="train", cache_dir=tmp_path)
    assert len(a) == len(b) == len(c) == 128
    assert a.images.shape == (128, 3, 16, 16) and a.images.dtype == np.uint8
    assert np.array_equal(a.images, b.images) and np.array_equal(a.images, c.images)
    assert a.captions == b.captions == c.captions
    rows = [json.loads(line) for line in (small_world / "train" / "pairs.jsonl").open()]
    assert a.captions[a.start[5] : a.start[6]] == rows[5]["captions"]
    assert list(a.text_image[: len(rows[0]["captions"])]) == [0] * len(rows[0]["captions"])


def test_pixels_equal_the_processor_output(small_world):
    proc = image_processor(16)
    data = load_pair_data(str(small_world / "val" / "pairs.jsonl"), proc)
    rows = [json.loads(line) for line in (small_world / "val" / "pairs.jsonl").open()]
    img = Image.open(small_world / "val" / rows[3]["file"]).convert("RGB")
    want = proc(images=img, return_tensors="np")["pixel_values"][0]
    got = normalise(torch.from_numpy(data.images[3:4]), proc)[0].numpy()
    np.testing.assert_allclose(got, want, atol=1e-6)


def test_limits_and_cache(small_world, tmp_path):
    proc = image_processor(16)
    spec = str(small_world / "train" / "pairs.jsonl")
    data = load_pair_data(spec, proc, captions_per_image=1, max_images=10, cache_dir=tmp_path)
    assert len(data) == 10 and len(data.captions) == 10 and list(np.diff(data.start)) == [1] * 10
    cached = list(tmp_path.glob("images-*.npy"))
    assert len(cached) == 1
    np.save(cached[0], np.zeros_like(data.images))  # a second load must read the cache
    again = load_pair_data(spec, proc, captions_per_image=1, max_images=10, cache_dir=tmp_path)
    assert not again.images.any()


def test_bad_sources_say_what_to_do(small_world, tmp_path):
    with pytest.raises(BadInputError, match="shard"):
        shard_paths(str(tmp_path / "nothing-*.tar"))
    with pytest.raises(BadInputError):
        load_pair_data(str(small_world / "train" / "pairs.jsonl"), image_processor(16),
                       split="no-such-split")
