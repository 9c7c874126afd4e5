"""Zero-shot classification on a labelled image dataset -> an ``EvalReport``."""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence

import numpy as np

from jointspace.evaluate.images import Progress, embed_image_files
from jointspace.evaluate.report import EvalReport
from jointspace.models.base import Embedder
from jointspace.zeroshot.classifier import (
    ZeroShotClassifier,
    build_classifier,
    template_weight_table,
)
from jointspace.zeroshot.datasets import LabeledImages
from jointspace.zeroshot.metrics import (
    confusion_matrix,
    mean_per_class_recall,
    per_class_precision,
    per_class_recall,
    predict,
    topk_accuracy,
)
from jointspace.zeroshot.propagation import PropagationSettings
from jointspace.zeroshot.transductive import class_scores


def evaluate_zeroshot(
    data: LabeledImages,
    embedder: Embedder,
    *,
    templates: str | Sequence[str] | None = "single",
    descriptions: Mapping[str, Sequence[str]] | None = None,
    batch_size: int = 64,
    n_examples: int = 8,
    progress: Progress | None = None,
    prompt_weights: str | None = None,
    transductive: PropagationSettings | bool | None = None,
) -> EvalReport:
    """Top-1 / top-5 / mean per-class recall, confusion matrix and a per-class table.

    With ``prompt_weights="zpe"`` and/or ``transductive`` the metrics are the method's, and the
    plain classifier's are reported beside them (``plain_top1``, ...) from the same vectors;
    ``details["ablation"]`` has plain vs each requested method alone and together.
    """
    t0 = time.perf_counter()
    clf = build_classifier(embedder, data.classes, templates=templates, descriptions=descriptions,
                           keep_prompts=bool(prompt_weights))
    t1 = time.perf_counter()
    vecs, ok, errors = embed_image_files(embedder, data.paths, batch_size=batch_size,
                                         progress=progress)
    t2 = time.perf_counter()
    targets = data.targets[ok]
    method = bool(transductive) or prompt_weights not in (None, "equal")
    scored = class_scores(clf, vecs, prompt_weights=prompt_weights, transductive=transductive)
    t3 = time.perf_counter()
    scores = scored.scores
    pred = predict(scores) if len(ok) else np.zeros(0, np.int64)
    cm = confusion_matrix(pred, targets, len(data.classes))
    recall, precision = per_class_recall(cm), per_class_precision(cm)
    metrics = _headline(scores, targets, cm, len(data.classes))
    rows: list[dict] = []
    if method:
        plain = _metrics_of(clf.scores(vecs), targets, len(data.classes))
        rows = ablation(clf, vecs, targets, plain, metrics, prompt_weights=prompt_weights,
                        transductive=transductive)
        metrics |= {f"plain_{k}": v for k, v in plain.items()}
    t4 = time.perf_counter()
    per_class = [
        {"class": c, "support": int(cm[i].sum()), "recall": _num(recall[i]),
         "precision": _num(precision[i]), "confused_with": _top_confusion(cm, i, data.classes)}
        for i, c in enumerate(data.classes)
    ]
    template_setting = templates if isinstance(templates, str) or templates is None else "custom"
    return EvalReport(
        task="zeroshot",
        model=embedder.name,
        dataset=data.name,
        dataset_hash=data.hash,
        settings={"templates": template_setting or "single", "n_templates": len(clf.templates),
                  "template_list": list(clf.templates),
                  "descriptions": sum(clf.n_descriptions.values()),
                  "n_samples": len(data), "n_classes": len(data.classes),
                  "prompt_weights": prompt_weights or "equal",
                  "transductive": scored.propagation.settings.to_dict()
                  if scored.propagation else None},
        metrics=metrics,
        details={
            "classes": data.classes,
            "confusion_matrix": cm.tolist(),
            "per_class": per_class,
            "examples": _examples(data, ok, scores, pred, targets, n_examples),
            "errors": [e.to_dict() for e in errors],
            "template_weights": template_weight_table(scored.classifier),
            "ablation": rows,
        },
        timings={"class_embeddings_s": t1 - t0, "embed_images_s": t2 - t1,
                 "images_per_s": len(ok) / max(t2 - t1, 1e-9), "method_s": t3 - t2,
                 "ablation_s": t4 - t3},
    )


def ablation_variants(prompt_weights: str | None,
                      transductive: PropagationSettings | bool | None,
                      ) -> list[tuple[str, str | None, PropagationSettings | bool | None]]:
    """(name, prompt weighting, propagation) of each method alone, then both when both are on;
    the last one is the full requested method."""
    zpe = prompt_weights if prompt_weights not in (None, "equal") else None
    alone = [("ZPE", zpe, None)] if zpe else []
    alone += [("ZLaP", None, transductive)] if transductive else []
    both = [("ZPE + ZLaP", zpe, transductive)] if len(alone) == 2 else []
    return alone + both


def ablation(clf: ZeroShotClassifier, vectors: np.ndarray, targets: np.ndarray,
             plain: Mapping[str, float], full: Mapping[str, float], *,
             prompt_weights: str | None,
             transductive: PropagationSettings | bool | None) -> list[dict]:
    """Plain vs each method (same vectors, same run) as ``{method, metric, plain, with_method}``
    rows; ``full`` holds the requested method's metrics, reused rather than recomputed."""
    rows = []
    variants = ablation_variants(prompt_weights, transductive)
    for i, (name, weighting, propagation) in enumerate(variants):
        got = full if i == len(variants) - 1 else _metrics_of(
            class_scores(clf, vectors, prompt_weights=weighting,
                         transductive=propagation).scores, targets, len(clf.classes))
        rows += [{"method": name, "metric": m, "plain": v, "with_method": got[m]}
                 for m, v in plain.items()]
    return rows


def _metrics_of(scores: np.ndarray, targets: np.ndarray, n_classes: int) -> dict[str, float]:
    """The headline metrics of one score matrix."""
    cm = confusion_matrix(predict(scores), targets, n_classes)
    return _headline(scores, targets, cm, n_classes)


def _headline(scores: np.ndarray, targets: np.ndarray, cm: np.ndarray,
              n_classes: int) -> dict[str, float]:
    return {
        "top1": topk_accuracy(scores, targets, 1),
        "top5": topk_accuracy(scores, targets, min(5, n_classes)),
        "mean_per_class_recall": mean_per_class_recall(cm),
    }


def _num(x: float) -> float | None:
    return None if np.isnan(x) else float(x)


def _top_confusion(cm: np.ndarray, i: int, classes: list[str]) -> str | None:
    row = cm[i].copy()
    row[i] = 0
    return classes[int(row.argmax())] if row.max() > 0 else None


def _examples(data: LabeledImages, ok: np.ndarray, scores: np.ndarray, pred: np.ndarray,
              targets: np.ndarray, n: int) -> dict[str, list[dict]]:
    """The most confident hits and the most confident misses, with paths for thumbnails."""
    if len(ok) == 0:
        return {"hits": [], "misses": []}
    conf = scores[np.arange(len(pred)), pred]
    order = np.argsort(-conf, kind="stable")

    def row(j: int) -> dict:
        return {"path": str(data.paths[ok[j]]), "true": data.classes[targets[j]],
                "predicted": data.classes[pred[j]], "score": float(conf[j])}

    hits = [row(j) for j in order if pred[j] == targets[j]][:n]
    misses = [row(j) for j in order if pred[j] != targets[j]][:n]
    return {"hits": hits, "misses": misses}
