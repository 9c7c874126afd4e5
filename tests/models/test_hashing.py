import pickle
import subprocess
import sys

import numpy as np
import pytest
from PIL import Image

from jointspace.errors import BadInputError
from jointspace.models import load_embedder
from jointspace.models.hashing import HashEmbedder


def _images():
    rng = np.random.default_rng(0)
    return [
        Image.fromarray(rng.integers(0, 256, (h, w, 3), dtype=np.uint8))
        for h, w in [(20, 30), (64, 64), (7, 100), (33, 33), (50, 10)]
    ]


def test_shapes_dtype_and_norms():
    emb = load_embedder("hash:32")
    imgs = emb.embed_images(_images())
    txts = emb.embed_texts(["a cat", "", "Dogs and cats!", "x " * 1000])
    for out, n in [(imgs, 5), (txts, 4)]:
        assert out.shape == (n, 32) and out.dtype == np.float32
        np.testing.assert_allclose(np.linalg.norm(out, axis=1), 1.0, rtol=1e-5)


def test_batching_matches_one_by_one():
    emb = HashEmbedder(16)
    emb.batch_size = 2
    images = _images()
    together = emb.embed_images(images)
    single = np.concatenate([emb.embed_images([im]) for im in images])
    np.testing.assert_allclose(together, single, atol=1e-6)
    texts = ["a", "b c", "c d e", "the end"]
    np.testing.assert_allclose(
        emb.embed_texts(texts), np.concatenate([emb.embed_texts([t]) for t in texts]), atol=1e-6
    )


def test_text_is_a_hashed_bag_of_words():
    emb = HashEmbedder(256)
    a, b, c = emb.embed_texts(["red cat sits", "sits, CAT red!", "blue whale swims"])
    assert a @ b == pytest.approx(1.0, abs=1e-6)  # same tokens, any order / case / punctuation
    assert a @ c < 0.9


def test_deterministic_across_processes():
    code = (
        "from jointspace.models.hashing import HashEmbedder;"
        "print(HashEmbedder(8).embed_texts(['hello world'])[0].round(6).tolist())"
    )
    outs = {
        subprocess.run(
            [sys.executable, "-c", code], capture_output=True, text=True, check=True
        ).stdout
        for _ in range(2)
    }
    assert len(outs) == 1
    here = HashEmbedder(8).embed_texts(["hello world"])[0].round(6).tolist()
    assert outs.pop().strip() == str(here)


def test_preprocessor_pickles_and_matches():
    emb = HashEmbedder(8)
    prep = pickle.loads(pickle.dumps(emb.image_preprocessor()))
    im = _images()[0]
    np.testing.assert_allclose(
        emb.embed_preprocessed(np.stack([prep(im)])), emb.embed_images([im]), atol=1e-6
    )


def test_accepts_non_rgb_images():
    emb = HashEmbedder(8)
    out = emb.embed_images([Image.new("L", (9, 9), 30), Image.new("RGBA", (9, 9), (1, 2, 3, 4))])
    assert out.shape == (2, 8)


@pytest.mark.parametrize("spec", ["0", "-3", "abc", "99999"])
def test_invalid_dim(spec):
    with pytest.raises(BadInputError):
        load_embedder(f"hash:{spec}")


def test_vectors_do_not_depend_on_the_batch():
    from PIL import Image

    emb = load_embedder("hash:64")
    texts = [f"word{i} shared words {i % 7}" for i in range(50)]
    one_by_one = np.concatenate([emb.embed_texts([t]) for t in texts])
    assert np.array_equal(emb.embed_texts(texts), one_by_one)
    images = [Image.new("RGB", (20, 20), (i * 5, 255 - i * 5, i)) for i in range(20)]
    assert np.array_equal(emb.embed_images(images),
                          np.concatenate([emb.embed_images([im]) for im in images]))
