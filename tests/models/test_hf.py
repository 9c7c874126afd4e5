import pickle
import shutil

import numpy as np
import pytest
import torch
from PIL import Image, ImageOps
from transformers import AutoImageProcessor, AutoModel, AutoTokenizer

from jointspace.errors import BadInputError, ModelUnavailableError
from jointspace.ingest.decode import load_image
from jointspace.models import load_embedder

PARITY_FILES = ["rgb.jpg", "rgba.png", "palette.png", "gray.png", "cmyk.jpg", "exif_rotated.jpg"]
TEXTS = ["a photo of a dog", "a puppy", "tax law and public finance", "", "two people riding " * 3]


def _unit(x: torch.Tensor) -> np.ndarray:
    x = x.detach().float().numpy()
    return x / np.linalg.norm(x, axis=1, keepdims=True)


class Reference:
    """The plain transformers pipeline, written independently of jointspace."""

    def __init__(self, directory, text_kwargs):
        self.model = AutoModel.from_pretrained(directory).eval()
        self.processor = AutoImageProcessor.from_pretrained(directory)
        self.tokenizer = AutoTokenizer.from_pretrained(directory)
        self.text_kwargs = text_kwargs

    def images(self, paths) -> np.ndarray:
        pil = [ImageOps.exif_transpose(Image.open(p)).convert("RGB") for p in paths]
        inputs = self.processor(images=pil, return_tensors="pt")
        with torch.no_grad():
            return _unit(self.model.get_image_features(**inputs).pooler_output)

    def texts(self, texts) -> np.ndarray:
        inputs = self.tokenizer(texts, return_tensors="pt", **self.text_kwargs)
        with torch.no_grad():
            return _unit(self.model.get_text_features(**inputs).pooler_output)


MODELS = {
    "clip": ("tiny_clip_dir", {"padding": True, "truncation": True, "max_length": 77}, 16),
    "siglip": (
        "tiny_siglip_dir",
        {"padding": "max_length", "max_length": 64, "truncation": True},
        32,
    ),
}


@pytest.fixture(scope="module", params=sorted(MODELS))
def case(request):
    fixture, text_kwargs, dim = MODELS[request.param]
    directory = request.getfixturevalue(fixture)
    embedder = load_embedder(f"hf:{directory}", device="cpu")
    return embedder, Reference(directory, text_kwargs), dim


def test_loads_both_modalities(case):
    emb, _, dim = case
    assert emb.dim == dim and emb.modalities == frozenset({"image", "text"})
    assert emb.name.startswith("hf:/")


def test_outputs_are_normalised_float32(case, sample_images_dir):
    emb, _, dim = case
    imgs = emb.embed_images([load_image(sample_images_dir / f) for f in PARITY_FILES])
    txts = emb.embed_texts(TEXTS)
    for out, n in [(imgs, len(PARITY_FILES)), (txts, len(TEXTS))]:
        assert out.dtype == np.float32 and out.shape == (n, dim)
        np.testing.assert_allclose(np.linalg.norm(out, axis=1), 1.0, rtol=1e-5)
    assert emb.embed_texts([]).shape == (0, dim) and emb.embed_images([]).shape == (0, dim)


def test_image_parity_with_plain_transformers(case, sample_images_dir):
    emb, ref, _ = case
    paths = [sample_images_dir / f for f in PARITY_FILES]
    ours = emb.embed_images([load_image(p) for p in paths])
    cos = (ours * ref.images(paths)).sum(axis=1)
    assert cos.min() >= 0.9999, dict(zip(PARITY_FILES, cos.round(6)))


def test_preprocessor_gives_the_processors_exact_pixels(case, sample_images_dir):
    emb, ref, _ = case
    path = sample_images_dir / "exif_rotated.jpg"
    want = ref.processor(
        images=ImageOps.exif_transpose(Image.open(path)).convert("RGB"), return_tensors="np"
    )
    np.testing.assert_array_equal(
        emb.image_preprocessor()(load_image(path)), want["pixel_values"][0]
    )


def test_parity_check_is_sensitive(case, sample_images_dir):
    # The parity threshold must be able to fail: skipping the EXIF rotation changes the embedding.
    emb, ref, _ = case
    rotated = ref.images([sample_images_dir / "exif_rotated.jpg"])
    unrotated = emb.embed_images(
        [Image.open(sample_images_dir / "exif_rotated.jpg").convert("RGB")]
    )
    assert float((rotated @ unrotated.T)[0, 0]) < 0.9999


def test_text_parity_with_plain_transformers(case):
    emb, ref, _ = case
    long_text = "a dog " * 300  # beyond the token limit: truncated the same way
    texts = TEXTS + [long_text]
    cos = (emb.embed_texts(texts) * ref.texts(texts)).sum(axis=1)
    assert cos.min() >= 0.9999, cos


def test_batching_matches_one_by_one(case, sample_images_dir):
    emb, _, _ = case
    images = [load_image(sample_images_dir / f) for f in PARITY_FILES]
    emb.batch_size = 4
    try:
        together_i, together_t = emb.embed_images(images), emb.embed_texts(TEXTS)
    finally:
        emb.batch_size = 32
    single_i = np.concatenate([emb.embed_images([im]) for im in images])
    single_t = np.concatenate([emb.embed_texts([t]) for t in TEXTS])
    np.testing.assert_allclose(together_i, single_i, atol=1e-5)
    np.testing.assert_allclose(together_t, single_t, atol=1e-5)


def test_pooler_output_is_the_projected_embedding(case, sample_images_dir):
    # transformers 5 returns model outputs from get_*_features; pooler_output must equal the
    # projected embeddings the full forward pass uses.
    _, ref, _ = case
    image = load_image(sample_images_dir / "rgb.jpg")
    inputs = ref.processor(images=image, return_tensors="pt")
    tokens = ref.tokenizer(["a photo of a dog"], return_tensors="pt", **ref.text_kwargs)
    with torch.no_grad():
        full = ref.model(pixel_values=inputs["pixel_values"], **tokens)
        img = ref.model.get_image_features(**inputs).pooler_output
        txt = ref.model.get_text_features(**tokens).pooler_output
    np.testing.assert_allclose(_unit(img), _unit(full.image_embeds), atol=1e-5)
    np.testing.assert_allclose(_unit(txt), _unit(full.text_embeds), atol=1e-5)


def test_preprocessor_pickles(case, sample_images_dir):
    emb, _, _ = case
    prep = emb.image_preprocessor()
    clone = pickle.loads(pickle.dumps(prep))
    image = load_image(sample_images_dir / "palette.png")
    np.testing.assert_array_equal(clone(image), prep(image))


def test_limits(case):
    emb, _, _ = case
    assert emb.max_text_tokens == (77 if emb.model_type == "clip" else 64)
    assert emb.image_preprocessor().input_size == 32


def _copy_without(src, dst, names):
    shutil.copytree(src, dst, ignore=lambda _d, files: [f for f in files if f in names])
    return dst


def test_image_only_and_text_only_dirs(tiny_clip_dir, tmp_path):
    no_tok = _copy_without(
        tiny_clip_dir, tmp_path / "img", {"tokenizer.json", "tokenizer_config.json"}
    )
    img_only = load_embedder(f"hf:{no_tok}", device="cpu")
    assert img_only.modalities == frozenset({"image"}) and img_only.dim == 16
    with pytest.raises(BadInputError, match="cannot embed texts"):
        img_only.embed_texts(["x"])
    no_proc = _copy_without(tiny_clip_dir, tmp_path / "txt", {"preprocessor_config.json"})
    txt_only = load_embedder(f"hf:{no_proc}", device="cpu")
    assert txt_only.modalities == frozenset({"text"})
    with pytest.raises(BadInputError, match="cannot embed images"):
        txt_only.image_preprocessor()


def test_uncached_hub_id_offline():
    with pytest.raises(ModelUnavailableError) as info:
        load_embedder("hf:openai/clip-vit-base-patch32")
    err = info.value
    assert "not in the local Hugging Face cache" in err.message and "offline" in err.message
    assert "hf download openai/clip-vit-base-patch32" in err.hint
    assert "--model hf:/path/to/dir" in err.hint
    assert err.http_status == 503


def test_bad_local_dirs(tmp_path):
    with pytest.raises(ModelUnavailableError, match="no such directory"):
        load_embedder(f"hf:{tmp_path}/missing/model")
    with pytest.raises(ModelUnavailableError, match="local directory"):
        load_embedder(f"hf:{tmp_path}")  # exists, but holds no model


def test_reduced_precision_and_bad_dtype(tiny_clip_dir, sample_images_dir):
    full = load_embedder(f"hf:{tiny_clip_dir}", device="cpu")
    half = load_embedder(f"hf:{tiny_clip_dir}", device="cpu", dtype="bfloat16")
    assert half is not full and half.model.dtype == torch.bfloat16
    image = [load_image(sample_images_dir / "rgb.jpg")]
    out = half.embed_images(image)
    assert out.dtype == np.float32
    assert float((out @ full.embed_images(image).T)[0, 0]) > 0.99
    assert float((half.embed_texts(["a dog"]) @ full.embed_texts(["a dog"]).T)[0, 0]) > 0.99
    with pytest.raises(BadInputError, match="unsupported dtype"):
        load_embedder(f"hf:{tiny_clip_dir}", dtype="int8")
