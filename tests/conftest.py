"""Shared fixtures: offline guard, tiny random-init models, generated sample images.

- ``tiny_clip_dir`` / ``tiny_siglip_dir`` / ``tiny_siglip2_dir`` (session): random-init CLIP
  (dim 16) / SigLIP (dim 32) / SigLIP 2 NaFlex (dim 32) with a real CLIP BPE tokenizer (trained
  offline on a few sentences) and a PIL image processor, saved with ``save_pretrained``; load
  them as ``load_embedder(f"hf:{dir}")``. Images are 32 px.
- ``pattern_image`` (session): ``pattern_image(w, h, seed=0)`` -> a deterministic RGB picture.
- ``sample_images_dir`` (session): small generated images, one per decode case (see
  ``SAMPLE_IMAGES``); every file is a valid image.

Test modules cannot import from this file (several conftest.py share the module name), so the
helpers reach tests only through fixtures.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import pytest

TINY_DIM = 16
TINY_IMAGE_SIZE = 32
_SENTENCES = [
    "a photo of a dog",
    "a photo of a cat",
    "a puppy playing in the grass",
    "a red car parked on the street",
    "two people riding bikes near the river",
    "tax law and public finance",
]
# Set before any test module imports huggingface_hub, which reads these once at import time.
os.environ["HF_HUB_OFFLINE"] = "1"
os.environ["TRANSFORMERS_OFFLINE"] = "1"
# ONNX exports made by tests go to a throwaway cache, never the user's ~/.cache.
if "JOINTSPACE_RUNTIME_CACHE" not in os.environ:
    import tempfile

    os.environ["JOINTSPACE_RUNTIME_CACHE"] = tempfile.mkdtemp(prefix="jointspace-runtimes-")

_BOS, _EOS = "<|startoftext|>", "<|endoftext|>"

# file name -> what it exercises
SAMPLE_IMAGES = {
    "rgb.jpg": "RGB JPEG",
    "rgba.png": "RGBA PNG with partial transparency",
    "palette.png": "P (palette) PNG with a transparent index",
    "gray.png": "L (8-bit grayscale) PNG",
    "gray16.png": "I;16 (16-bit grayscale) PNG",
    "cmyk.jpg": "CMYK JPEG",
    "exif_rotated.jpg": "RGB JPEG, 48x32 stored, EXIF orientation 6 (shows as 32x48)",
    "animated.gif": "3-frame animated GIF",
}


@pytest.fixture(autouse=True)
def _offline_hub(monkeypatch):
    """No test may reach the Hugging Face hub."""
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("TRANSFORMERS_OFFLINE", "1")


def pattern_rgb(width: int, height: int, seed: int = 0) -> np.ndarray:
    """A deterministic uint8 RGB test picture: gradients, a block and some noise."""
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:height, 0:width]
    img = np.stack([x * 255 // max(width - 1, 1), y * 255 // max(height - 1, 1), (x + y) % 256], -1)
    img[height // 4 : height // 2, width // 3 : width // 2] = (220, 30, 60)
    img = img + rng.integers(-20, 21, img.shape)
    return np.clip(img, 0, 255).astype(np.uint8)


def build_clip_tokenizer(max_length: int = 77):
    """A real ``CLIPTokenizer`` whose small BPE vocabulary is trained here, offline."""
    from tokenizers import Regex, Tokenizer, models, normalizers, pre_tokenizers, trainers
    from transformers import CLIPTokenizer

    bpe = Tokenizer(models.BPE(end_of_word_suffix="</w>", continuing_subword_prefix=""))
    bpe.normalizer = normalizers.Sequence(
        [normalizers.NFC(), normalizers.Replace(Regex(r"\s+"), " "), normalizers.Lowercase()]
    )
    bpe.pre_tokenizer = pre_tokenizers.Sequence(
        [
            pre_tokenizers.Split(
                Regex(r"'s|'t|'re|'ve|'m|'ll|'d|[\p{L}]+|[\p{N}]|[^\s\p{L}\p{N}]+"),
                behavior="removed",
                invert=True,
            ),
            pre_tokenizers.ByteLevel(add_prefix_space=False),
        ]
    )
    trainer = trainers.BpeTrainer(
        vocab_size=400,
        special_tokens=[_BOS, _EOS],
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        end_of_word_suffix="</w>",
        show_progress=False,
    )
    bpe.train_from_iterator(_SENTENCES, trainer)
    trained = json.loads(bpe.to_str())["model"]
    merges = [tuple(m) if isinstance(m, list) else tuple(m.split(" ")) for m in trained["merges"]]
    return CLIPTokenizer(vocab=trained["vocab"], merges=merges, model_max_length=max_length)


def _tower(**extra) -> dict:
    small = {
        "hidden_size": 32,
        "intermediate_size": 64,
        "num_hidden_layers": 2,
        "num_attention_heads": 2,
    }
    return {**small, **extra}


def build_tiny_clip(directory: Path, seed: int = 0) -> Path:
    """Save a random-init CLIP (image 32 px, patch 8, dim 16) + tokenizer + processor."""
    import torch
    from transformers import CLIPConfig, CLIPImageProcessorPil, CLIPModel

    tok = build_clip_tokenizer()
    ids = {
        "bos_token_id": tok.bos_token_id,
        "eos_token_id": tok.eos_token_id,
        "pad_token_id": tok.pad_token_id,
    }
    config = CLIPConfig(
        text_config=_tower(vocab_size=len(tok), max_position_embeddings=77, **ids),
        vision_config=_tower(image_size=TINY_IMAGE_SIZE, patch_size=8),
        projection_dim=TINY_DIM,
    )
    torch.manual_seed(seed)
    CLIPModel(config).eval().save_pretrained(directory)
    tok.save_pretrained(directory)
    size = TINY_IMAGE_SIZE
    CLIPImageProcessorPil(
        size={"shortest_edge": size}, crop_size={"height": size, "width": size}
    ).save_pretrained(directory)
    return directory


def build_tiny_siglip(directory: Path, seed: int = 0) -> Path:
    """Save a random-init SigLIP (image 32 px, dim 32, text padded to 64) + tokenizer + processor.

    The tokenizer is the tiny CLIP BPE (SigLIP's SentencePiece needs a trained model file); the
    model pools the last position, so the max_length=64 padding matters as it does for real SigLIP.
    """
    import torch
    from transformers import SiglipConfig, SiglipImageProcessorPil, SiglipModel

    tok = build_clip_tokenizer(max_length=64)
    config = SiglipConfig(
        text_config=_tower(
            vocab_size=len(tok), max_position_embeddings=64, pad_token_id=tok.pad_token_id
        ),
        vision_config=_tower(image_size=TINY_IMAGE_SIZE, patch_size=8),
    )
    torch.manual_seed(seed)
    SiglipModel(config).eval().save_pretrained(directory)
    tok.save_pretrained(directory)
    size = TINY_IMAGE_SIZE
    SiglipImageProcessorPil(size={"height": size, "width": size}).save_pretrained(directory)
    return directory


def build_tiny_siglip2(directory: Path, seed: int = 0) -> Path:
    """Save a random-init SigLIP 2 NaFlex model (patch 8, at most 16 patches, dim 32).

    Its processor returns pixel_values, pixel_attention_mask and spatial_shapes per image.
    """
    import torch
    from transformers import Siglip2Config, Siglip2ImageProcessorPil, Siglip2Model

    tok = build_clip_tokenizer(max_length=64)
    config = Siglip2Config(
        text_config=_tower(vocab_size=len(tok), max_position_embeddings=64),
        vision_config=_tower(num_patches=16, patch_size=8),
    )
    torch.manual_seed(seed)
    Siglip2Model(config).eval().save_pretrained(directory)
    tok.save_pretrained(directory)
    Siglip2ImageProcessorPil(patch_size=8, max_num_patches=16).save_pretrained(directory)
    return directory


@pytest.fixture(scope="session")
def tiny_clip_dir(tmp_path_factory) -> Path:
    return build_tiny_clip(tmp_path_factory.mktemp("tiny_clip"))


@pytest.fixture(scope="session")
def tiny_siglip_dir(tmp_path_factory) -> Path:
    return build_tiny_siglip(tmp_path_factory.mktemp("tiny_siglip"))


@pytest.fixture(scope="session")
def tiny_siglip2_dir(tmp_path_factory) -> Path:
    return build_tiny_siglip2(tmp_path_factory.mktemp("tiny_siglip2"))


@pytest.fixture(scope="session")
def pattern_image():
    """``pattern_image(width, height, seed=0)`` -> a deterministic RGB PIL test picture."""
    from PIL import Image

    return lambda width, height, seed=0: Image.fromarray(pattern_rgb(width, height, seed))


def write_sample_images(directory: Path) -> Path:
    """Write every file of ``SAMPLE_IMAGES`` into ``directory``."""
    from PIL import Image

    rgb = Image.fromarray(pattern_rgb(48, 32))
    rgb.save(directory / "rgb.jpg", quality=90)
    rgba = rgb.convert("RGBA")
    alpha = np.full((32, 48), 255, np.uint8)
    alpha[:, :16] = 0
    alpha[:, 16:24] = 128
    rgba.putalpha(Image.fromarray(alpha))
    rgba.save(directory / "rgba.png")
    rgb.quantize(colors=16).save(directory / "palette.png", transparency=0)
    rgb.convert("L").save(directory / "gray.png")
    gray16 = (np.asarray(rgb.convert("L"), dtype=np.uint16) * 257).astype(np.uint16)
    Image.fromarray(gray16).save(directory / "gray16.png")
    rgb.convert("CMYK").save(directory / "cmyk.jpg", quality=90)
    exif = Image.Exif()
    exif[0x0112] = 6
    rgb.save(directory / "exif_rotated.jpg", quality=90, exif=exif)
    frames = [Image.fromarray(pattern_rgb(48, 32, seed=s)) for s in range(3)]
    frames[0].save(directory / "animated.gif", save_all=True, append_images=frames[1:], duration=50)
    return directory


@pytest.fixture(scope="session")
def sample_images_dir(tmp_path_factory) -> Path:
    """A directory of small valid images, one per decode case (names in ``SAMPLE_IMAGES``)."""
    return write_sample_images(tmp_path_factory.mktemp("sample_images"))


def write_random_photos(folder: Path, n: int) -> Path:
    """``folder`` (created) with ``n`` random 30x20 RGB PNGs named ``0.png`` ... (seed 0)."""
    from PIL import Image

    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(0)
    for i in range(n):
        Image.fromarray(rng.integers(0, 255, (20, 30, 3), dtype=np.uint8)).save(folder / f"{i}.png")
    return folder


@pytest.fixture(scope="session")
def random_photos():
    """``random_photos(folder, n)`` -> ``folder`` holding ``n`` random PNGs (``0.png`` ...)."""
    return write_random_photos
