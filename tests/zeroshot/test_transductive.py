"""Wiring of ZLaP and ZPE: evaluation side by side, collection tagging, the stored graph."""

from __future__ import annotations

import numpy as np
from PIL import Image

from jointspace.models import load_embedder
from jointspace.query import Collection
from jointspace.zeroshot.classifier import build_classifier
from jointspace.zeroshot.datasets import load_labeled_images
from jointspace.zeroshot.evaluate import ablation_variants, evaluate_zeroshot
from jointspace.zeroshot.propagation import PropagationSettings, inductive_scores, propagate
from jointspace.zeroshot.tagging import classify_with_collection, tag_collection
from jointspace.zeroshot.transductive import GRAPH_STATE, StoredGraph, class_scores

LABELS = ["red", "green", "blue"]
SETTINGS = PropagationSettings(k=3, gamma=2.0, alpha=0.5)


def test_evaluate_reports_method_and_plain_side_by_side(colour_folder):
    data = load_labeled_images(colour_folder)
    model = load_embedder("hash:64")
    rep = evaluate_zeroshot(data, model, templates=["a photo of {}.", "{}", "{} zzz"],
                            prompt_weights="zpe", transductive=SETTINGS)
    assert {"top1", "plain_top1", "plain_top5"} <= set(rep.metrics)
    assert rep.settings["prompt_weights"] == "zpe" and rep.settings["transductive"]["k"] == 3
    weights = rep.details["template_weights"]
    assert len(weights) == 3 and abs(sum(w["weight"] for w in weights) - 1) < 1e-5
    plain = evaluate_zeroshot(data, model, templates=["a photo of {}.", "{}", "{} zzz"])
    assert plain.metrics["top1"] == rep.metrics["plain_top1"] and "plain_top1" not in plain.metrics


def test_ablation_variants_are_the_requested_methods_alone_then_together():
    def names(pw, tr):
        return [v[0] for v in ablation_variants(pw, tr)]

    assert names(None, None) == names("equal", None) == []
    assert names("zpe", None) == ["ZPE"] and names("equal", SETTINGS) == ["ZLaP"]
    assert names("zpe", SETTINGS) == ["ZPE", "ZLaP", "ZPE + ZLaP"]
    assert ablation_variants("zpe", SETTINGS)[-1][1:] == ("zpe", SETTINGS)  # the full method


def test_ablation_rows_match_separate_runs_on_the_same_data(colour_folder):
    """Each method alone and both together, plain beside them: the numbers separate
    evaluations give (same vectors, so equal, not merely close)."""
    data, model = load_labeled_images(colour_folder), load_embedder("hash:64")
    templates = ["a photo of {}.", "{}", "{} zzz"]

    def run(**kw):
        return evaluate_zeroshot(data, model, templates=templates, **kw)

    both = run(prompt_weights="zpe", transductive=SETTINGS)
    rows = {(r["method"], r["metric"]): r for r in both.details["ablation"]}
    assert {m for m, _ in rows} == {"ZPE", "ZLaP", "ZPE + ZLaP"}
    plain = run()
    assert plain.details["ablation"] == []
    for method, alone in (("ZPE", run(prompt_weights="zpe")), ("ZLaP", run(transductive=SETTINGS)),
                          ("ZPE + ZLaP", both)):
        for metric in ("top1", "top5", "mean_per_class_recall"):
            assert rows[method, metric]["plain"] == plain.metrics[metric]
            assert rows[method, metric]["with_method"] == alone.metrics[metric]
    only_zlap = run(transductive=SETTINGS).details["ablation"]
    assert {r["method"] for r in only_zlap} == {"ZLaP"}


def test_tag_collection_propagates_and_stores_the_graph(tmp_path, colour_folder):
    model = load_embedder("hash:64")
    with Collection.create(tmp_path / "c", embedder=model) as col:
        col.add(colour_folder, workers=0)
        report = tag_collection(col, LABELS, transductive=SETTINGS)
        assert report.tagged == 12 and report.method["transductive"]["k"] == 3
        ids, vecs = col.item_vectors("image")
        clf = build_classifier(model, LABELS)
        oracle = propagate(vecs, clf.weights, SETTINGS).scores.argmax(1)
        assert [col.get(int(i)).metadata["tag"] for i in ids] == [LABELS[j] for j in oracle]
        blob = col.store.read_state(GRAPH_STATE)
        assert blob is not None and blob.seq == col.store.seq()  # restamped after the tags
        graph = StoredGraph.from_bytes(blob.data)
        np.testing.assert_array_equal(graph.ids, ids)

        new = colour_folder / "blue" / "1.png"
        preds = classify_with_collection(col, [new], LABELS, k=3, transductive=SETTINGS)
        vec = model.embed_images([Image.open(new).convert("RGB")])
        expect = inductive_scores(graph.propagation, vecs, clf.weights, vec)[0]
        assert preds[0].label == LABELS[int(expect.argmax())]
        assert abs(preds[0].score - float(expect.max())) < 1e-4
        assert col.store.read_state(GRAPH_STATE).seq == blob.seq  # reused, not rebuilt


def test_class_scores_plain_is_the_cosine():
    model = load_embedder("hash:32")
    clf = build_classifier(model, LABELS)
    vecs = clf.weights[[0, 1, 2, 0]]
    np.testing.assert_array_equal(class_scores(clf, vecs).scores, clf.scores(vecs))
    prop = class_scores(clf, vecs, transductive=SETTINGS)
    assert prop.propagation is not None and prop.scores.shape == (4, 3)
