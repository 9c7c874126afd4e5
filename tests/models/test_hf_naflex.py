"""SigLIP 2 NaFlex: the processor returns three inputs per image, packed into one vector."""

import numpy as np
import pytest
import torch
from conftest import _tower, build_clip_tokenizer, pattern_rgb
from PIL import Image

from jointspace.models import load_embedder


@pytest.fixture(scope="module")
def naflex_dir(tmp_path_factory):
    from transformers import Siglip2Config, Siglip2ImageProcessorPil, Siglip2Model

    directory = tmp_path_factory.mktemp("tiny_siglip2")
    tok = build_clip_tokenizer(max_length=64)
    config = Siglip2Config(
        text_config=_tower(vocab_size=len(tok), max_position_embeddings=64),
        vision_config=_tower(num_patches=16, patch_size=8),
    )
    torch.manual_seed(0)
    Siglip2Model(config).eval().save_pretrained(directory)
    tok.save_pretrained(directory)
    Siglip2ImageProcessorPil(patch_size=8, max_num_patches=16).save_pretrained(directory)
    return directory


def _images():
    return [Image.fromarray(pattern_rgb(w, h, seed=w)) for w, h in [(50, 30), (20, 90), (64, 64)]]


def test_naflex_inputs_are_packed_and_match_transformers(naflex_dir):
    from transformers import AutoImageProcessor, AutoModel

    emb = load_embedder(f"hf:{naflex_dir}", device="cpu")
    layout = emb.image_preprocessor().layout
    assert layout is not None
    assert [f.key for f in layout.fields] == [
        "pixel_attention_mask",
        "pixel_values",
        "spatial_shapes",
    ]
    images = _images()
    ours = emb.embed_images(images)
    model = AutoModel.from_pretrained(naflex_dir).eval()
    inputs = AutoImageProcessor.from_pretrained(naflex_dir)(images=images, return_tensors="pt")
    with torch.no_grad():
        ref = model.get_image_features(**inputs).pooler_output.numpy()
    ref /= np.linalg.norm(ref, axis=1, keepdims=True)
    assert (ours * ref).sum(axis=1).min() >= 0.9999


def test_naflex_batching_matches_one_by_one(naflex_dir):
    emb = load_embedder(f"hf:{naflex_dir}", device="cpu")
    images = _images()
    single = np.concatenate([emb.embed_images([im]) for im in images])
    np.testing.assert_allclose(emb.embed_images(images), single, atol=1e-5)
    assert emb.max_text_tokens == 64 and emb.embed_texts(["a dog"]).shape == (1, emb.dim)
