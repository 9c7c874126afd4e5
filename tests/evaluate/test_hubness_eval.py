"""evaluate retrieval --hubness: plain and method side by side, the method's numbers from the
re-scored matrices (oracle: query/hubness.rescore on the same embeddings)."""

from __future__ import annotations

import numpy as np

from jointspace.evaluate.hubness_eval import ablation, hubness_sim
from jointspace.evaluate.itm import retrieval_metrics
from jointspace.evaluate.pairs import load_pairs
from jointspace.evaluate.retrieval_eval import evaluate_retrieval
from jointspace.ingest.decode import load_image
from jointspace.models import load_embedder
from jointspace.query.hubness import rescore


def test_ablation_uses_each_direction_s_own_matrix():
    rng = np.random.default_rng(0)
    img = rng.standard_normal((6, 8))
    img /= np.linalg.norm(img, axis=1, keepdims=True)
    txt = img.repeat(2, axis=0) + 0.5 * rng.standard_normal((12, 8))
    txt /= np.linalg.norm(txt, axis=1, keepdims=True)
    ti = np.arange(6).repeat(2)
    sim = img @ txt.T
    bank_t, bank_i = txt[::3], img[::2]
    t2i, i2t = hubness_sim(sim, bank_t, bank_i, img, txt, "csls", csls_k=2)
    np.testing.assert_allclose(t2i, rescore("csls", sim.T, bank_t @ img.T, csls_k=2).T)
    fixed, rows = ablation(sim, t2i, i2t, ti, "csls", (1,))
    assert fixed["t2i_R@1"] == retrieval_metrics(t2i, ti, (1,))["t2i_R@1"]
    assert fixed["i2t_R@1"] == retrieval_metrics(i2t, ti, (1,))["i2t_R@1"]
    plain = {r["metric"]: r["plain"] for r in rows}
    assert plain["t2i_R@1"] == retrieval_metrics(sim, ti, (1,))["t2i_R@1"]
    assert {"t2i skew@10", "i2t skew@10"} <= set(plain)


def test_evaluate_retrieval_with_hubness_reports_both(tiny_pairs):
    model = load_embedder("hash:64")
    data = load_pairs(tiny_pairs, split="val")
    bank = load_pairs(tiny_pairs, split="train")
    rep = evaluate_retrieval(data, model, ks=(1,), hubness="qbnorm", bank=bank,
                             hubness_knobs={"beta": 5.0})
    rows = {r["metric"]: r for r in rep.details["ablation"]}
    assert rows["t2i_R@1"]["with_method"] == rep.metrics["t2i_R@1"]
    img = model.embed_images([load_image(p) for p in data.image_paths[:3]])
    txt = model.embed_texts(data.captions[:6])
    b_img = model.embed_images([load_image(p) for p in bank.image_paths])
    b_txt = model.embed_texts(bank.captions)
    t2i, _ = hubness_sim(img @ txt.T, b_txt, b_img, img, txt, "qbnorm", beta=5.0)
    want = retrieval_metrics(t2i, np.array([0, 0, 1, 1, 2, 2]), (1,))["t2i_R@1"]
    assert abs(rep.metrics["t2i_R@1"] - want) < 1e-9
    assert rep.settings["hubness"] == "qbnorm"
