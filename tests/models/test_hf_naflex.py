"""SigLIP 2 NaFlex: the processor returns three inputs per image, packed into one vector."""

import numpy as np
import torch

from jointspace.models import load_embedder

SIZES = [(50, 30), (20, 90), (64, 64)]


def test_naflex_inputs_are_packed_and_match_transformers(tiny_siglip2_dir, pattern_image):
    from transformers import AutoImageProcessor, AutoModel

    emb = load_embedder(f"hf:{tiny_siglip2_dir}", device="cpu")
    layout = emb.image_preprocessor().layout
    assert layout is not None
    assert [f.key for f in layout.fields] == [
        "pixel_attention_mask",
        "pixel_values",
        "spatial_shapes",
    ]
    images = [pattern_image(w, h, seed=w) for w, h in SIZES]
    ours = emb.embed_images(images)
    model = AutoModel.from_pretrained(tiny_siglip2_dir).eval()
    inputs = AutoImageProcessor.from_pretrained(tiny_siglip2_dir)(
        images=images, return_tensors="pt"
    )
    with torch.no_grad():
        ref = model.get_image_features(**inputs).pooler_output.numpy()
    ref /= np.linalg.norm(ref, axis=1, keepdims=True)
    assert (ours * ref).sum(axis=1).min() >= 0.9999


def test_naflex_batching_matches_one_by_one(tiny_siglip2_dir, pattern_image):
    emb = load_embedder(f"hf:{tiny_siglip2_dir}", device="cpu")
    images = [pattern_image(w, h, seed=w) for w, h in SIZES]
    single = np.concatenate([emb.embed_images([im]) for im in images])
    np.testing.assert_allclose(emb.embed_images(images), single, atol=1e-5)
    assert emb.max_text_tokens == 64 and emb.embed_texts(["a dog"]).shape == (1, emb.dim)
