"""Runtimes (torch, bf16, onnx, onnx-int8, auto): parity with eager fp32, the export cache, the
torch-free load, and that every runtime embeds into one space."""

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from jointspace.errors import BadInputError
from jointspace.models import clear_cache, load_embedder
from jointspace.models.runtimes import PARITY, cpu_has_bf16
from jointspace.models.runtimes.cache import CacheEntry, cpu_signature
from jointspace.models.runtimes.exported import ExportedEmbedder

TEXTS = ["a photo of a dog", "a puppy playing in the grass", "tax law", "",
         "two people riding bikes near the river " * 20]


@pytest.fixture
def cache(tmp_path, monkeypatch):
    """A fresh, empty export cache for this test."""
    monkeypatch.setenv("JOINTSPACE_RUNTIME_CACHE", str(tmp_path / "cache"))
    clear_cache()
    yield tmp_path / "cache"
    clear_cache()


def _images(pattern_image, n=6):
    return [pattern_image(40 + 23 * i, 64 + 11 * (i % 3), seed=100 + i) for i in range(n)]


def _cosines(a, b):
    return np.sum(a * b, axis=1)


@pytest.mark.parametrize("fixture", ["tiny_clip_dir", "tiny_siglip_dir"])
def test_onnx_fp32_matches_eager_per_input(fixture, request, cache, pattern_image):
    name = f"hf:{request.getfixturevalue(fixture)}"
    ref = load_embedder(name, cache=False)
    onnx = load_embedder(name, runtime="onnx", cache=False)
    assert isinstance(onnx, ExportedEmbedder) and onnx.runtimes == {"image": "onnx", "text": "onnx"}
    assert onnx.dim == ref.dim and onnx.max_text_tokens == ref.max_text_tokens
    ims = _images(pattern_image)
    assert _cosines(onnx.embed_images(ims), ref.embed_images(ims)).min() >= 0.9999
    assert _cosines(onnx.embed_texts(TEXTS), ref.embed_texts(TEXTS)).min() >= 0.9999
    # token counts (for truncation reports) agree with the transformers tokenizer
    assert onnx.token_counts(TEXTS) == ref.token_counts(TEXTS)


def test_int8_and_bf16_meet_their_parity_bar(tiny_clip_dir, cache, pattern_image):
    ref = load_embedder(f"hf:{tiny_clip_dir}", cache=False)
    ims = _images(pattern_image)
    runtimes = ["onnx-int8", *(["bf16"] if cpu_has_bf16() else [])]
    for runtime in runtimes:
        emb = load_embedder(f"hf:{tiny_clip_dir}", runtime=runtime, cache=False)
        assert set(emb.runtimes.values()) == {runtime}
        assert _cosines(emb.embed_images(ims), ref.embed_images(ims)).min() >= 0.999, runtime
        got = _cosines(emb.embed_texts(TEXTS), ref.embed_texts(TEXTS))
        assert got.min() >= 0.999, (runtime, got)


def test_second_load_reuses_the_cache_without_exporting(tiny_clip_dir, cache, monkeypatch):
    first = load_embedder(f"hf:{tiny_clip_dir}", runtime="onnx-int8", cache=False)
    entry = CacheEntry(tiny_clip_dir, "hf")
    files = {p.name: p.stat().st_mtime_ns for p in entry.directory.glob("*.onnx")}
    # the exports, and the optimised graphs later sessions load without optimising again
    assert sorted(files) == ["image-onnx-int8.onnx", "image-onnx-int8.opt.onnx", "image-onnx.onnx",
                             "text-onnx-int8.onnx", "text-onnx-int8.opt.onnx", "text-onnx.onnx"]
    manifest = entry.manifest()
    assert manifest["image"]["parity"]["onnx-int8"] >= PARITY["onnx-int8"]
    assert manifest["image"]["export_seconds"]["onnx"] > 0

    import jointspace.models.runtimes.select as select

    def no_export(*a, **k):
        raise AssertionError("exported again")

    monkeypatch.setattr(select, "export_onnx", no_export)
    monkeypatch.setattr(select, "quantize_int8", no_export)
    second = load_embedder(f"hf:{tiny_clip_dir}", runtime="onnx-int8", cache=False)
    assert isinstance(second, ExportedEmbedder)
    assert {p.name: p.stat().st_mtime_ns for p in entry.directory.glob("*.onnx")} == files
    np.testing.assert_allclose(second.embed_texts(TEXTS), first.embed_texts(TEXTS), atol=1e-6)


def test_auto_picks_only_runtimes_meeting_parity_and_remembers(tiny_siglip2_dir, cache):
    emb = load_embedder(f"hf:{tiny_siglip2_dir}", runtime="auto", cache=False)
    manifest = CacheEntry(tiny_siglip2_dir, "hf").manifest()
    for tower, runtime in emb.runtimes.items():
        info = manifest[tower]
        assert info["auto"][cpu_signature()]["runtime"] == runtime
        if runtime != "torch":
            assert info["parity"][runtime] >= PARITY[runtime]
        # every runtime timed met its bar; the pick is the fastest of them (the manifest rounds
        # the seconds, so two tiny-model timings can tie there: compare times, not names)
        timed = info["auto"][cpu_signature()]["seconds_per_probe"]
        assert timed[runtime] == min(timed.values())
        for other in timed:
            assert other == "torch" or info["parity"][other] >= PARITY[other]
    if "bf16" in manifest["image"]["parity"] and not cpu_has_bf16():
        pytest.fail("bf16 was tried on a CPU without native bf16")


def test_cached_onnx_load_imports_neither_torch_nor_transformers(tiny_clip_dir, cache):
    load_embedder(f"hf:{tiny_clip_dir}", runtime="onnx", cache=False)  # export once
    code = (
        "import sys, json\n"
        "from jointspace.models import load_embedder\n"
        f"e = load_embedder('hf:{tiny_clip_dir}', runtime='onnx')\n"
        "v = e.embed_texts(['a photo of a dog'])\n"
        "print(json.dumps({'torch': 'torch' in sys.modules,\n"
        "  'transformers': 'transformers' in sys.modules, 'type': type(e).__name__,\n"
        "  'norm': float((v ** 2).sum())}))\n"
    )
    env = {**os.environ, "JOINTSPACE_RUNTIME_CACHE": str(cache),
           "PYTHONPATH": str(Path(__file__).resolve().parents[2] / "src")}
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True,
                         timeout=120, check=True)
    got = json.loads(out.stdout.strip().splitlines()[-1])
    assert got == {"torch": False, "transformers": False, "type": "ExportedEmbedder",
                   "norm": pytest.approx(1.0, abs=1e-5)}


def test_vectors_from_any_runtime_search_with_any_other(tiny_clip_dir, cache, tmp_path,
                                                        pattern_image):
    from jointspace.query import Collection

    photos = tmp_path / "photos"
    photos.mkdir()
    for i, im in enumerate(_images(pattern_image, 8)):
        im.save(photos / f"{i}.png")
    name = f"hf:{tiny_clip_dir}"
    with Collection.create(tmp_path / "col", name, runtime="onnx-int8") as col:
        assert col.add(photos, workers=0).added == 8
        assert col.info()["runtimes"]["last"] == {"image": "onnx-int8", "text": "onnx-int8"}
        paths = [h.path for h in col.search("a photo", k=8)]
    with Collection.open(tmp_path / "col", runtime="torch") as col:
        for path in paths:
            hit = col.search(image=path, k=1)[0]  # embedded by eager torch
            assert hit.path == path and hit.score >= 0.999
        assert col.loaded_runtimes() == {"image": "torch", "text": "torch"}
        torch_order = [h.path for h in col.search("a photo of a dog", k=8)]
    with Collection.open(tmp_path / "col") as col:  # no runtime given: the one it was indexed with
        onnx_order = [h.path for h in col.search("a photo of a dog", k=8)]
        assert col.loaded_runtimes() == {"image": "onnx-int8", "text": "onnx-int8"}
    assert onnx_order[:3] == torch_order[:3]


def test_sbert_onnx_matches_sentence_transformers(cache):
    ref = load_embedder("sbert:all-MiniLM-L6-v2", device="cpu", cache=False)
    onnx = load_embedder("sbert:all-MiniLM-L6-v2", runtime="onnx", cache=False)
    assert isinstance(onnx, ExportedEmbedder) and onnx.max_text_tokens == 256
    assert _cosines(onnx.embed_texts(TEXTS), ref.embed_texts(TEXTS)).min() >= 0.9999
    assert onnx.token_counts(TEXTS) == ref.token_counts(TEXTS)


def test_int8_keeps_parity_with_weight_only_int8_where_dynamic_misses_it(cache):
    # MiniLM under dynamic int8 (one activation scale per tensor) reaches cosine ~0.97-0.99;
    # weight-only int8 (blocks of 32, fp32 compute) stays above the bar, on every input
    ref = load_embedder("sbert:all-MiniLM-L6-v2", device="cpu", cache=False)
    int8 = load_embedder("sbert:all-MiniLM-L6-v2", runtime="onnx-int8", cache=False)
    manifest = json.loads(next(cache.rglob("manifest.json")).read_text())
    chosen = manifest["text"]["int8"]
    assert chosen["scheme"] == "weights", chosen
    assert chosen["parity"]["dynamic"] < PARITY["onnx-int8"] <= chosen["parity"]["weights"]
    assert manifest["text"]["parity"]["onnx-int8"] == chosen["parity"]["weights"]
    assert _cosines(int8.embed_texts(TEXTS), ref.embed_texts(TEXTS)).min() >= 0.999


def test_runtime_names_are_checked():
    with pytest.raises(BadInputError, match="unknown runtime"):
        load_embedder("hash:16", runtime="fp8")
    with pytest.raises(BadInputError, match="no 'onnx' runtime"):
        load_embedder("hash:16", runtime="onnx")
    assert load_embedder("hash:16", runtime="auto").dim == 16  # native backends accept auto


@pytest.mark.parametrize("fixture", ["tiny_clip_dir", "tiny_siglip_dir"])
def test_fast_preprocessing_equals_the_processor(fixture, request, pattern_image):
    from jointspace.models.fast_preprocess import FastPlan, PlanPreprocessor, fast_plan
    from jointspace.models.hf import load_image_preprocessor

    prep = load_image_preprocessor(str(request.getfixturevalue(fixture)))
    assert prep.fast is not None
    plan = FastPlan.from_dict(json.loads(json.dumps(prep.fast.to_dict())))  # as the cache stores it
    light = PlanPreprocessor(plan, prep.input_size)
    for i, (w, h) in enumerate([(640, 422), (31, 97), (300, 300), (1000, 40), (48, 32)]):
        image = pattern_image(w, h, seed=i)
        if i == 4:  # an RGB image remembering a transparent colour (from a palette PNG)
            image.info["transparency"] = tuple(int(v) for v in np.asarray(image)[0, 0])
        want = prep.processor(images=image, return_tensors="np")["pixel_values"][0]
        np.testing.assert_allclose(light(image), want, atol=1e-5)
        np.testing.assert_allclose(prep(image), want, atol=1e-5)
    unknown = type("OtherProcessorPil", (), {})()
    assert fast_plan(unknown) is None
