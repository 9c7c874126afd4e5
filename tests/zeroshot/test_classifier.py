"""Class embeddings = normalised mean of prompt embeddings; classify; datasets; evaluation."""

from __future__ import annotations

import json

import numpy as np
import pytest

from jointspace.errors import BadInputError
from jointspace.models import l2_normalize, load_embedder
from jointspace.zeroshot.classifier import (
    build_classifier,
    classify,
    classify_set,
    load_descriptions,
    predict_top,
)
from jointspace.zeroshot.datasets import load_labeled_images
from jointspace.zeroshot.evaluate import evaluate_zeroshot


@pytest.fixture(scope="module")
def hash_model():
    return load_embedder("hash:64")


def test_class_embedding_is_normalised_mean_over_templates_and_descriptions(hash_model):
    templates = ["a photo of a {}.", "a drawing of the {}."]
    desc = {"sea_lion": ["a sea lion has flippers"]}
    clf = build_classifier(hash_model, ["cat", "sea_lion"], templates=templates, descriptions=desc)
    prompts = ["a photo of a sea lion.", "a drawing of the sea lion.", "a sea lion has flippers"]
    expect = l2_normalize(hash_model.embed_texts(prompts).mean(axis=0, keepdims=True))[0]
    np.testing.assert_allclose(clf.weights[1], expect, atol=1e-6)
    assert clf.n_descriptions == {"sea_lion": 1}
    np.testing.assert_allclose(np.linalg.norm(clf.weights, axis=1), 1.0, atol=1e-6)


def test_descriptions_for_unknown_class_rejected(hash_model, tmp_path):
    with pytest.raises(BadInputError, match="unknown classes"):
        build_classifier(hash_model, ["cat"], descriptions={"dog": ["woof"]})
    p = tmp_path / "d.json"
    p.write_text(json.dumps({"cat": "has whiskers", "dog": ["barks", "wags"]}))
    assert load_descriptions(p) == {"cat": ["has whiskers"], "dog": ["barks", "wags"]}


def test_predict_top_orders_by_similarity(hash_model):
    clf = build_classifier(hash_model, ["a", "b", "c"], templates="none")
    # an "image" vector equal to class b's embedding must be classified as b
    preds = predict_top(clf, clf.weights[[1]], k=2)
    assert preds[0].label == "b" and preds[0].top[0][0] == "b"
    assert preds[0].top[0][1] > preds[0].top[1][1]
    assert preds[0].score == pytest.approx(1.0, abs=1e-5)


def test_imagefolder_and_csv_agree(colour_folder):
    a = load_labeled_images(colour_folder)
    b = load_labeled_images(colour_folder.parent / f"{colour_folder.name}.csv")
    assert a.classes == b.classes == ["blue", "green", "red"]
    def pairs(d):
        return sorted((p.parent.name + "/" + p.name, int(t)) for p, t in zip(d.paths, d.targets))

    assert pairs(a) == pairs(b) and len(a) == 12
    assert len(a.subset(2)) == 6


def test_classes_file_with_integer_labels(tmp_path, colour_folder):
    (tmp_path / "l.csv").write_text(f"file,label\n{colour_folder}/red/0.png,1\n")
    (tmp_path / "classes.txt").write_text("blue\nred\n")
    d = load_labeled_images(tmp_path / "l.csv", classes_file=tmp_path / "classes.txt")
    assert d.classes == ["blue", "red"] and d.targets.tolist() == [1]


def test_evaluate_zeroshot_with_tiny_clip(colour_folder, tiny_clip_dir):
    model = load_embedder(f"hf:{tiny_clip_dir}")
    data = load_labeled_images(colour_folder)
    rep = evaluate_zeroshot(data, model, templates="imagenet7")
    cm = np.array(rep.details["confusion_matrix"])
    assert cm.sum() == len(data) == 12
    assert rep.metrics["top1"] == pytest.approx(np.trace(cm) / 12)
    assert rep.metrics["top5"] == 1.0  # 3 classes
    assert rep.settings["n_templates"] == 7
    ex = rep.details["examples"]
    assert len(ex["hits"]) + len(ex["misses"]) > 0
    preds = classify([data.paths[0]], data.classes, model)
    assert preds[0].label in data.classes


def test_classify_set_returns_the_zpe_weights_and_one_image_is_refused(hash_model,
                                                                       colour_folder):
    """ZPE subtracts each template's mean logit over the images: with one image every template
    scores 0 and gets the same weight, so a single image is a usage mistake, not a silent no-op."""
    files = sorted(colour_folder.rglob("*.png"))
    templates = ["a photo of {}.", "{}", "{} zzz"]
    preds, clf = classify_set(files, ["red", "green", "blue"], hash_model, templates=templates,
                              prompt_weights="zpe", k=2)
    assert len(preds) == len(files) and clf.template_weights is not None
    assert abs(float(clf.template_weights.sum()) - 1) < 1e-6
    assert [p.label for p in preds] == [p.label for p in classify(
        files, ["red", "green", "blue"], hash_model, templates=templates, prompt_weights="zpe",
        k=2)]
    with pytest.raises(BadInputError, match="one image") as err:
        classify(files[:1], ["red", "green"], hash_model, templates=templates,
                 prompt_weights="zpe")
    assert "-c NAME --prompt-weights zpe" in (err.value.hint or "")
