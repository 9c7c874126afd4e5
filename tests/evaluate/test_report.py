"""Report JSON round trip, HTML content, compare table, and the chromium screenshot."""

from __future__ import annotations

import json

import pytest

from jointspace.errors import BadInputError
from jointspace.evaluate.compare import compare_reports
from jointspace.evaluate.html import render_html, write_report
from jointspace.evaluate.report import EvalReport, load_report
from jointspace.evaluate.screenshot import find_chromium, screenshot
from jointspace.models import load_embedder
from jointspace.zeroshot.datasets import load_labeled_images
from jointspace.zeroshot.evaluate import evaluate_zeroshot


@pytest.fixture
def zs_report(tmp_path):
    from PIL import Image

    for c, rgb in {"red": (255, 0, 0), "blue": (0, 0, 255)}.items():
        (tmp_path / "ds" / c).mkdir(parents=True)
        for i in range(2):
            Image.new("RGB", (8, 8), rgb).save(tmp_path / "ds" / c / f"{i}.png")
    return evaluate_zeroshot(load_labeled_images(tmp_path / "ds"), load_embedder("hash:64"))


def test_json_round_trip_and_provenance(zs_report, tmp_path):
    import jointspace

    path = zs_report.save(tmp_path / "r" / "report.json")
    back = load_report(path)
    assert back.to_dict() == zs_report.to_dict()
    assert back.jointspace_version == jointspace.__version__
    assert back.model == "hash:64" and len(back.dataset_hash) == 64
    with pytest.raises(BadInputError):
        load_report(tmp_path / "nope.json")
    (tmp_path / "bad.json").write_text(json.dumps({"x": 1}))
    with pytest.raises(BadInputError, match="not a jointspace evaluation report"):
        load_report(tmp_path / "bad.json")


def test_html_has_plots_and_thumbnails(zs_report, tmp_path):
    page = render_html(zs_report)
    assert page.count("data:image/png;base64,") == 2  # per-class bars + confusion matrix
    assert "data:image/jpeg;base64," in page  # example thumbnails
    assert "hash:64" in page and zs_report.dataset_hash[:12] in page
    j, h = write_report(zs_report, tmp_path / "out")
    assert j.is_file() and h.read_text().startswith("<!doctype html>")


def test_zeroshot_html_has_the_ablation_table(tmp_path):
    from PIL import Image

    from jointspace.zeroshot.propagation import PropagationSettings

    for c, rgb in {"red": (255, 0, 0), "blue": (0, 0, 255)}.items():
        (tmp_path / "ds" / c).mkdir(parents=True)
        for i in range(3):
            Image.new("RGB", (8, 8), tuple(v // (i + 1) for v in rgb)).save(
                tmp_path / "ds" / c / f"{i}.png")
    rep = evaluate_zeroshot(load_labeled_images(tmp_path / "ds"), load_embedder("hash:64"),
                            templates=["{}", "a photo of {}."], prompt_weights="zpe",
                            transductive=PropagationSettings(k=2))
    page = render_html(rep)
    assert "Ablation: plain vs method" in page
    assert all(f"<td>{m}</td>" in page for m in ("ZPE", "ZLaP", "ZPE + ZLaP"))
    saved = json.loads(rep.save(tmp_path / "report.json").read_text())
    assert len(saved["details"]["ablation"]) == 9  # 3 variants x top1, top5, per-class recall
    assert "Ablation" not in render_html(evaluate_zeroshot(load_labeled_images(tmp_path / "ds"),
                                                           load_embedder("hash:64")))


def test_compare_marks_the_best():
    a = EvalReport("beir", "m1", "d", "h" * 64, {"retriever": "dense"}, {"ndcg@10": 0.5})
    b = EvalReport("beir", "m2", "d", "h" * 64, {"retriever": "bm25"}, {"ndcg@10": 0.7})
    table = compare_reports([a, b])
    assert table["columns"] == ["m1 [dense]", "m2 [bm25]"]
    assert table["rows"] == [{"metric": "ndcg@10", "values": [0.5, 0.7], "best": 1}]


@pytest.mark.browser
@pytest.mark.skipif(find_chromium() is None, reason="chromium not installed")
def test_screenshot_renders_a_png(zs_report, tmp_path):
    _, html_path = write_report(zs_report, tmp_path)
    png = screenshot(html_path, tmp_path / "r.png", width=800, height=600)
    assert png is not None and png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
