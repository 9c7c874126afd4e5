"""Image-text retrieval evaluation end to end with hash:64, plus dataset formats."""

from __future__ import annotations

import json

import numpy as np
import pytest

from jointspace.evaluate.itm import retrieval_metrics
from jointspace.evaluate.pairs import load_pairs
from jointspace.evaluate.retrieval_eval import evaluate_retrieval
from jointspace.ingest.decode import load_image
from jointspace.models import load_embedder


def test_pairs_jsonl_with_split(tiny_pairs):
    d = load_pairs(tiny_pairs, split="val")
    assert len(d.image_paths) == 4 and len(d.captions) == 7
    assert d.text_image.tolist() == [0, 0, 1, 1, 2, 2, 3]
    assert len(load_pairs(tiny_pairs).image_paths) == 5
    assert len(d.subset(2).captions) == 4


def test_coco_and_karpathy_formats(tmp_path):
    coco = {"images": [{"id": 7, "file_name": "a.jpg"}, {"id": 8, "file_name": "b.jpg"}],
            "annotations": [{"image_id": 8, "caption": " two "}, {"image_id": 7, "caption": "one"},
                            {"image_id": 8, "caption": "deux"}]}
    (tmp_path / "captions_x.json").write_text(json.dumps(coco))
    d = load_pairs(tmp_path / "captions_x.json", image_root=tmp_path)
    assert d.captions == ["one", "two", "deux"] and d.text_image.tolist() == [0, 1, 1]
    karpathy = {"images": [
        {"filepath": "val2014", "filename": "x.jpg", "split": "test",
         "sentences": [{"raw": "a"}, {"raw": "b"}]},
        {"filepath": "val2014", "filename": "y.jpg", "split": "train", "sentences": [{"raw": "c"}]},
    ]}
    (tmp_path / "dataset_coco.json").write_text(json.dumps(karpathy))
    k = load_pairs(tmp_path / "dataset_coco.json", image_root=tmp_path)
    assert [p.name for p in k.image_paths] == ["x.jpg"] and k.captions == ["a", "b"]


def test_evaluate_retrieval_matches_direct_computation(tiny_pairs):
    model = load_embedder("hash:64")
    data = load_pairs(tiny_pairs, split="val")
    rep = evaluate_retrieval(data, model, ks=(1, 2))
    assert rep.settings["n_images"] == 3  # the broken image is dropped with its caption
    assert len(rep.details["errors"]) == 1 and rep.details["errors"][0]["path"].endswith("broken.png")
    img = model.embed_images([load_image(p) for p in data.image_paths[:3]])
    txt = model.embed_texts(data.captions[:6])
    ref = retrieval_metrics(img @ txt.T, np.array([0, 0, 1, 1, 2, 2]), (1, 2))
    assert rep.metrics == pytest.approx(ref, abs=1e-6)
    curve = rep.details["recall_curve"]
    assert curve["k"] == [1, 2, 3] and curve["t2i"][-1] == 1.0
