"""Hubness rows of benchmarks/quality.py: QB-Norm and CSLS vs plain, tuned on one split, reported
on another, with the k-occurrence skewness before and after."""

from __future__ import annotations

import numpy as np

from jointspace.evaluate.itm import image_to_text_ranks, text_to_image_ranks
from jointspace.query.hubness import k_occurrence, rescore, skewness

BETAS = (5.0, 10.0, 20.0, 30.0, 50.0, 80.0)
CSLS_KS = (3, 5, 10, 20, 50)


def world_recalls(method: str | None, split, bank_txt: np.ndarray, bank_img: np.ndarray,
                  **knobs) -> dict[str, float]:
    """t2i / i2t R@1 and gallery k-occurrence skewness (k=10) with ``method`` (None: plain)."""
    t2i = split.txt @ split.img.T  # (captions, images)
    i2t = split.img @ split.txt.T  # (images, captions)
    if method:
        t2i = rescore(method, t2i, bank_txt @ split.img.T, **knobs)
        i2t = rescore(method, i2t, bank_img @ split.txt.T, **knobs)
    r_t2i = text_to_image_ranks(t2i.T, split.text_image)
    r_i2t = image_to_text_ranks(i2t, split.text_image)
    return {"t2i R@1": float((r_t2i == 0).mean()), "i2t R@1": float((r_i2t == 0).mean()),
            "t2i skew@10": skewness(k_occurrence(t2i, 10)),
            "i2t skew@10": skewness(k_occurrence(i2t, 10))}


def tune(method: str, split, bank_txt, bank_img) -> dict:
    """The knob maximising mean R@1 (t2i + i2t) on ``split`` (the validation split)."""
    grid = [{"beta": b} for b in BETAS] if method == "qbnorm" else [{"csls_k": k}
                                                                   for k in CSLS_KS]
    scored = [(np.mean([v for m, v in world_recalls(method, split, bank_txt, bank_img, **g)
                        .items() if "R@1" in m]), g) for g in grid]
    return max(scored, key=lambda t: t[0])[1]


def world_rows(data: str, val, test, bank_txt, bank_img) -> list[dict]:
    plain = world_recalls(None, test, bank_txt, bank_img)
    rows = []
    for method in ("qbnorm", "csls"):
        knobs = tune(method, val, bank_txt, bank_img)
        got = world_recalls(method, test, bank_txt, bank_img, **knobs)
        label = f"hubness {method} ({', '.join(f'{k}={v:g}' for k, v in knobs.items())})"
        for metric in ("t2i R@1", "i2t R@1", "t2i skew@10", "i2t skew@10"):
            rows.append({"method": label, "data": data, "split": "test", "metric": metric,
                         "plain": plain[metric], "with_method": got[metric]})
    return rows


def scifact_rows(ds, docs: np.ndarray, queries: np.ndarray) -> list[dict]:
    """nDCG@10 on SciFact train queries: a third is the bank, a third tunes, a third reports."""
    from jointspace.evaluate.beir_eval import top_k_run
    from jointspace.evaluate.ranking import evaluate_run

    thirds = np.arange(len(ds.query_ids)) % 3
    bank, tune_q, report_q = (queries[thirds == t] for t in range(3))
    qids = np.array(ds.query_ids)

    def ndcg(method, rows, q, **knobs):
        sims = q @ docs.T
        if method:
            sims = rescore(method, sims, bank @ docs.T, **knobs)
        run = top_k_run(list(qids[rows]), ds.corpus_ids, sims, 100)
        qrels = {i: ds.qrels[i] for i in qids[rows]}
        return evaluate_run(qrels, run, (10,))["ndcg@10"], sims

    out = []
    for method, grid in (("qbnorm", [{"beta": b} for b in BETAS]),
                         ("csls", [{"csls_k": k} for k in CSLS_KS])):
        knobs = max(grid, key=lambda g: ndcg(method, thirds == 1, tune_q, **g)[0])
        plain, s0 = ndcg(None, thirds == 2, report_q)
        got, s1 = ndcg(method, thirds == 2, report_q, **knobs)
        label = f"hubness {method} ({', '.join(f'{k}={v:g}' for k, v in knobs.items())})"
        out.append({"method": label, "data": "SciFact train", "split": "third 3 of 3",
                    "metric": "nDCG@10", "plain": plain, "with_method": got})
        out.append({"method": label, "data": "SciFact train", "split": "third 3 of 3",
                    "metric": "skew@10", "plain": skewness(k_occurrence(s0, 10)),
                    "with_method": skewness(k_occurrence(s1, 10))})
    return out
