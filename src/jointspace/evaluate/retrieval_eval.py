"""Image-text retrieval (image->text, text->image recall@K) on a captions dataset."""

from __future__ import annotations

import time
from collections.abc import Sequence

import numpy as np

from jointspace.errors import BadInputError
from jointspace.evaluate.images import Progress, embed_image_files
from jointspace.evaluate.itm import (
    DEFAULT_KS,
    image_to_text_ranks,
    recall_curve,
    retrieval_metrics,
    text_to_image_ranks,
)
from jointspace.evaluate.pairs import ImageTextPairs
from jointspace.evaluate.report import EvalReport
from jointspace.models.base import Embedder

CURVE_MAX_K = 50


def evaluate_retrieval(
    data: ImageTextPairs,
    embedder: Embedder,
    *,
    ks: Sequence[int] = DEFAULT_KS,
    batch_size: int = 64,
    n_examples: int = 6,
    progress: Progress | None = None,
    hubness: str | None = None,
    bank: ImageTextPairs | None = None,
    hubness_knobs: dict | None = None,
    min_score: str | None = None,
    miss: float | None = None,
) -> EvalReport:
    """Embed all images and captions, score every pair by cosine, report recall@K both ways.

    Images that fail to decode are dropped together with their captions (listed in ``errors``).
    With ``hubness`` ("qbnorm" or "csls") the metrics are those of the method, normalised by
    ``bank`` (another split's captions for text queries, its images for image queries), and
    ``details["ablation"]`` holds plain vs method side by side with the k-occurrence skewness.
    With ``min_score="auto"`` it also holds the calibrated cut-off against plain top-10
    (evaluate/calibration_eval.py; ``miss`` as in ``Collection.calibrate``).
    """
    check_cut_off_options(min_score, miss)
    t0 = time.perf_counter()
    img, ok, errors = embed_image_files(embedder, data.image_paths, batch_size=batch_size,
                                        progress=progress)
    t1 = time.perf_counter()
    keep = np.isin(data.text_image, ok)
    remap = np.full(len(data.image_paths), -1, dtype=np.int64)
    remap[ok] = np.arange(len(ok))
    text_image = remap[data.text_image[keep]]
    captions = [c for c, k in zip(data.captions, keep, strict=True) if k]
    txt = embedder.embed_texts(captions)
    t2 = time.perf_counter()
    sim = img @ txt.T  # (n_images, n_texts) cosine
    metrics = retrieval_metrics(sim, text_image, ks)
    ablation_rows: list[dict] = []
    if hubness:
        from jointspace.evaluate.hubness_eval import ablation, hubness_sim

        if bank is None:
            raise BadInputError("hubness needs a query bank",
                                hint="pass --bank PAIRS (e.g. the train split's pairs)")
        bank_img, _, _ = embed_image_files(embedder, bank.image_paths, batch_size=batch_size)
        bank_txt = embedder.embed_texts(bank.captions)
        t2i_sim, i2t_sim = hubness_sim(sim, bank_txt, bank_img, img, txt, hubness,
                                       **(hubness_knobs or {}))
        metrics, ablation_rows = ablation(sim, t2i_sim, i2t_sim, text_image, hubness, ks)
        metrics["mean_recall"] = float(np.mean([v for m, v in metrics.items()
                                                if "_R@" in m]))
    if min_score == "auto":
        from jointspace.evaluate.calibration_eval import calibration_ablation
        from jointspace.query.calibration import DEFAULT_MISS

        ablation_rows += calibration_ablation(img, txt, text_image,
                                              miss=DEFAULT_MISS if miss is None else miss)
    i2t, t2i = image_to_text_ranks(sim, text_image), text_to_image_ranks(sim, text_image)
    max_k = min(CURVE_MAX_K, max(len(ok), 1))
    details = {
        "recall_curve": {"k": list(range(1, max_k + 1)),
                         "i2t": recall_curve(i2t, max_k).tolist(),
                         "t2i": recall_curve(t2i, max_k).tolist()},
        "examples": _examples(data, ok, captions, text_image, sim, t2i, n_examples),
        "errors": [e.to_dict() for e in errors],
        "ablation": ablation_rows,
    }
    return EvalReport(
        task="retrieval",
        model=embedder.name,
        dataset=data.name,
        dataset_hash=data.hash,
        settings={"ks": list(ks), "n_images": len(ok), "n_captions": len(captions),
                  "hubness": hubness, "bank_captions": len(bank.captions) if bank else 0,
                  "min_score": min_score,
                  "protocol": "i2t hit if any caption in top K; t2i one correct image"},
        metrics=metrics,
        details=details,
        timings={"embed_images_s": t1 - t0, "embed_texts_s": t2 - t1},
    )


def check_cut_off_options(min_score: str | None, miss: float | None) -> None:
    """Usage errors for ``min_score`` (only "auto" is measured) and ``miss``, before any work."""
    from jointspace.query.calibration import check_miss

    if min_score not in (None, "auto"):
        raise BadInputError(f"min_score must be 'auto' here, not {min_score!r}",
                            hint="--min-score auto measures the calibrated cut-off")
    check_miss(miss)


def _examples(data: ImageTextPairs, ok: np.ndarray, captions: list[str], text_image: np.ndarray,
              sim: np.ndarray, t2i: np.ndarray, n: int) -> dict[str, list[dict]]:
    """Text->image hits and misses: the caption, the correct image and the top retrieved one."""
    if len(captions) == 0:
        return {"hits": [], "misses": []}
    top = sim.argmax(axis=0)

    def row(t: int) -> dict:
        return {"caption": captions[t], "rank": int(t2i[t]) + 1,
                "true_path": str(data.image_paths[ok[text_image[t]]]),
                "top_path": str(data.image_paths[ok[top[t]]]),
                "top_score": float(sim[top[t], t])}

    rng = np.random.default_rng(0)
    order = rng.permutation(len(captions))
    hits = _one_per_image([t for t in order if t2i[t] == 0], text_image, n)
    worst = sorted((t for t in order if t2i[t] > 0), key=lambda t: -t2i[t])
    return {"hits": [row(t) for t in hits],
            "misses": [row(t) for t in _one_per_image(worst, text_image, n)]}


def _one_per_image(texts: list[int], text_image: np.ndarray, n: int) -> list[int]:
    """The first ``n`` captions of distinct images (so examples are not five of one photo)."""
    seen: set[int] = set()
    out = []
    for t in texts:
        if int(text_image[t]) not in seen:
            seen.add(int(text_image[t]))
            out.append(t)
    return out[:n]
