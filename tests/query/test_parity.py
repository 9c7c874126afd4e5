"""Parity: files on disk -> jointspace index -> stored vectors == a plain transformers reference."""

import numpy as np
import pytest
import torch
from PIL import Image, ImageOps

from jointspace.query import Collection

CASES = ["rgb.jpg", "rgba.png", "palette.png", "gray.png", "cmyk.jpg", "exif_rotated.jpg"]


def _text_reference(model_dir, texts):
    from transformers import AutoModel, AutoTokenizer

    model = AutoModel.from_pretrained(model_dir).eval()
    tok = AutoTokenizer.from_pretrained(model_dir)
    with torch.inference_mode():
        out = model.get_text_features(**tok(texts, padding=True, return_tensors="pt"))
    ref = (out if torch.is_tensor(out) else out.pooler_output).numpy()
    return ref / np.linalg.norm(ref, axis=1, keepdims=True)


def _reference(model_dir, paths):
    from transformers import AutoImageProcessor, AutoModel

    model = AutoModel.from_pretrained(model_dir).eval()
    proc = AutoImageProcessor.from_pretrained(model_dir)
    images = [ImageOps.exif_transpose(Image.open(p)).convert("RGB") for p in paths]
    with torch.inference_mode():
        out = model.get_image_features(**proc(images=images, return_tensors="pt"))
    feats = (out if torch.is_tensor(out) else out.pooler_output).numpy()
    return feats / np.linalg.norm(feats, axis=1, keepdims=True)


@pytest.mark.parametrize("workers", [0, 1])
def test_indexed_vectors_match_transformers(tmp_path, tiny_clip_dir, sample_images_dir, workers):
    folder = tmp_path / "imgs"
    folder.mkdir()
    for name in CASES:
        (folder / name).write_bytes((sample_images_dir / name).read_bytes())
    col = Collection.create(tmp_path / "c", model=f"hf:{tiny_clip_dir}")
    report = col.add(folder, batch_size=2, workers=workers)
    assert (report.added, report.failed) == (len(CASES), 0)

    paths = [folder / n for n in CASES]
    ref = _reference(tiny_clip_dir, paths)
    ids = {it.path: it.id for it in col.store.get(list(range(1, 1 + len(CASES))))}
    stored = col.store.vectors([ids[str(p)] for p in paths])
    cosines = (stored * ref).sum(axis=1)
    assert cosines.min() >= 0.9999, dict(zip(CASES, cosines.round(6)))
    col.close()


def test_text_queries_match_transformers(tmp_path, tiny_clip_dir):
    col = Collection.create(tmp_path / "c", model=f"hf:{tiny_clip_dir}")
    texts = ["a photo of a dog", "a red car parked on the street"]
    col.add_texts(texts)
    for text, r in zip(texts, _text_reference(tiny_clip_dir, texts)):
        hit = col.search(text, k=1)[0]
        assert hit.text == text
        assert float(col.vector(hit.id) @ r) >= 0.9999
    col.close()


def test_image_to_text_ranks_like_the_reference(tmp_path, tiny_clip_dir, sample_images_dir):
    """Searching a text collection with an image ranks texts by the reference cosine."""
    texts = ["a photo of a dog", "a photo of a cat", "a red car parked on the street",
             "tax law and public finance", "two people riding bikes near the river"]
    col = Collection.create(tmp_path / "c", model=f"hf:{tiny_clip_dir}")
    col.add_texts(texts)
    image = sample_images_dir / "rgb.jpg"
    hits = col.search(image=image, k=len(texts))

    img = _reference(tiny_clip_dir, [image])[0]
    ref = _text_reference(tiny_clip_dir, texts)
    expected = [texts[i] for i in np.argsort(-(ref @ img))]
    assert [h.text for h in hits] == expected
    np.testing.assert_allclose([h.score for h in hits], np.sort(ref @ img)[::-1], atol=1e-4)
    col.close()
