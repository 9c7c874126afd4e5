import importlib.util
import pickle

import numpy as np
import pytest

from jointspace.errors import BadInputError, ModelUnavailableError
from jointspace.models import load_embedder
from jointspace.models.openclip import parse_openclip_spec

HAVE_OPEN_CLIP = importlib.util.find_spec("open_clip") is not None


@pytest.mark.skipif(HAVE_OPEN_CLIP, reason="open_clip is installed")
def test_missing_extra_says_how_to_install():
    with pytest.raises(ModelUnavailableError) as info:
        load_embedder("openclip:ViT-B-32/laion2b_s34b_b79k")
    err = info.value
    assert "open_clip package, which is not installed" in err.message
    assert "pip install 'jointspace[openclip]'" in err.hint
    assert "constraints" in err.hint and "torch==" in err.hint


@pytest.mark.parametrize(
    "spec, want",
    [
        ("ViT-B-32/laion2b_s34b_b79k", ("ViT-B-32", "laion2b_s34b_b79k")),
        ("ViT-B-32/random", ("ViT-B-32", None)),
        ("hf-hub:timm/ViT-B-16-SigLIP", ("hf-hub:timm/ViT-B-16-SigLIP", None)),
        ("local-dir:/models/clip", ("local-dir:/models/clip", None)),
    ],
)
def test_spec_parsing(spec, want):
    assert parse_openclip_spec(spec) == want


@pytest.mark.parametrize("spec", ["ViT-B-32", "/laion", "ViT-B-32/"])
def test_bad_specs(spec):
    with pytest.raises(BadInputError, match="openclip:<arch>/<pretrained tag>"):
        load_embedder(f"openclip:{spec}")


@pytest.mark.skipif(not HAVE_OPEN_CLIP, reason="needs the openclip extra")
def test_random_init_model_matches_plain_open_clip(sample_images_dir):  # pragma: no cover
    import open_clip
    import torch
    from PIL import Image, ImageOps

    from jointspace.ingest.decode import load_image

    emb = load_embedder("openclip:ViT-B-32/random", device="cpu")
    prep = pickle.loads(pickle.dumps(emb.image_preprocessor()))
    paths = [sample_images_dir / f for f in ("rgb.jpg", "cmyk.jpg", "exif_rotated.jpg")]
    ours = emb.embed_preprocessed(np.stack([prep(load_image(p)) for p in paths]))
    _, _, transform = open_clip.create_model_and_transforms("ViT-B-32", pretrained=None)
    x = torch.stack(
        [transform(ImageOps.exif_transpose(Image.open(p)).convert("RGB")) for p in paths]
    )
    with torch.no_grad():
        ref = emb.model.encode_image(x).numpy()
    ref /= np.linalg.norm(ref, axis=1, keepdims=True)
    assert (ours * ref).sum(axis=1).min() >= 0.9999
    assert emb.embed_texts(["a dog"]).shape == (1, emb.dim)
