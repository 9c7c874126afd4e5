"""`jointspace evaluate ...` and `jointspace classify` at the boundary: subprocess + --json."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
from PIL import Image

JS = str(Path(sys.executable).parent / "jointspace")


def run(*args, ok=True):
    p = subprocess.run([JS, *map(str, args)], capture_output=True, text=True, timeout=120,
                       check=False)
    assert (p.returncode == 0) == ok, p.stderr + p.stdout
    return p


def test_beir_three_retrievers_and_compare(tiny_beir, tmp_path):
    outs = []
    for r in ("dense", "bm25", "hybrid"):
        out = tmp_path / r
        res = json.loads(run("evaluate", "beir", tiny_beir, "--model", "hash:64",
                             "--retriever", r, "-o", out, "--json").stdout)
        assert set(res["metrics"]) >= {"ndcg@10", "mrr@10", "recall@100"}
        assert Path(res["files"]["html"]).is_file()
        outs.append(out / "report.json")
    table = json.loads(run("evaluate", "compare", *outs, "--json").stdout)
    assert table["columns"] == ["hash:64 [dense]", "bm25s [bm25]", "hash:64 [hybrid convex]"]
    assert table["rows"][0]["metric"] == "ndcg@10"
    text = run("evaluate", "compare", *outs).stdout
    assert "ndcg@10" in text and "bm25s [bm25]" in text


def test_zeroshot_retrieval_and_classify(tmp_path, tiny_pairs):
    for c, rgb in {"red": (250, 0, 0), "green": (0, 250, 0)}.items():
        (tmp_path / "ds" / c).mkdir(parents=True)
        for i in range(2):
            px = np.full((8, 8, 3), rgb, np.uint8)
            Image.fromarray(px).save(tmp_path / "ds" / c / f"{i}.png")
    zs = json.loads(run("evaluate", "zeroshot", tmp_path / "ds", "-m", "hash:64", "-t",
                        "a {} thing", "-t", "the {}", "-o", tmp_path / "zs", "--json").stdout)
    assert set(zs["metrics"]) == {"top1", "top5", "mean_per_class_recall"}
    saved = json.loads((tmp_path / "zs" / "report.json").read_text())
    assert saved["settings"]["template_list"] == ["a {} thing", "the {}"]
    rt = json.loads(run("evaluate", "retrieval", tiny_pairs, "-m", "hash:64", "--split", "val",
                        "-o", tmp_path / "rt", "--json").stdout)
    assert 0 <= rt["metrics"]["t2i_R@1"] <= 1
    preds = json.loads(run("classify", tmp_path / "ds" / "red" / "0.png", "--labels",
                           "red,green,blue", "-m", "hash:64", "--json").stdout)["predictions"]
    assert preds[0]["label"] in {"red", "green", "blue"} and len(preds[0]["top"]) == 3


def test_errors_are_one_line_with_a_hint(tmp_path):
    p = run("evaluate", "beir", tmp_path, "--model", "hash:8", ok=False)
    assert "hint:" in p.stderr and "Traceback" not in p.stderr
    p = run("classify", tmp_path / "x.png", "--labels", "cat", "-m", "hash:8", "--json", ok=False)
    assert json.loads(p.stdout)["error"]["hint"]


def test_classify_tags_a_collection(tmp_path):
    photos = tmp_path / "photos"
    photos.mkdir()
    for i, rgb in enumerate([(250, 0, 0), (0, 0, 250)]):
        Image.fromarray(np.full((8, 8, 3), rgb, np.uint8)).save(photos / f"{i}.png")
    col = tmp_path / "col"
    run("index", photos, "-c", col, "--model", "hash:16", "--json")
    rep = json.loads(run("classify", "--labels", "red,blue", "-c", col, "--json").stdout)
    assert rep["tagged"] == 2 and rep["field"] == "tag" and sum(rep["counts"].values()) == 2
    label = next(iter(rep["counts"]))
    hits = json.loads(run("search", "--like", "1", "-c", col, "--where", f"tag = {label}",
                          "--json").stdout)["results"]
    assert all(h["metadata"]["tag"] == label for h in hits)


def test_classify_reports_unreadable_images_and_classifies_the_rest(tmp_path):
    Image.fromarray(np.full((8, 8, 3), (250, 0, 0), np.uint8)).save(tmp_path / "red.png")
    (tmp_path / "bad.png").write_text("not an image")
    p = run("classify", tmp_path / "red.png", tmp_path / "bad.png", tmp_path / "missing.png",
            "--labels", "red,blue", "-m", "hash:8", "--json", ok=False)
    out = json.loads(p.stdout)
    assert p.returncode == 1 and [r["path"] for r in out["predictions"]] == [
        str(tmp_path / "red.png")]
    assert [e["path"] for e in out["errors"]] == [str(tmp_path / "bad.png"),
                                                  str(tmp_path / "missing.png")]


def test_unreadable_files_are_in_the_summary(tmp_path, tiny_pairs):
    """tiny_pairs has one broken image: the summary (json and console) says so, not only
    report.json (issue 12)."""
    rt = json.loads(run("evaluate", "retrieval", tiny_pairs, "-m", "hash:64", "--split", "val",
                        "-o", tmp_path / "rt", "--json").stdout)
    assert rt["unreadable"]["count"] == 1
    assert rt["unreadable"]["files"][0]["path"].endswith("broken.png")
    p = run("evaluate", "retrieval", tiny_pairs, "-m", "hash:64", "--split", "val",
            "-o", tmp_path / "rt2")
    assert "1 file(s) could not be read" in p.stderr and "broken.png" in p.stderr


def test_hubness_ablation_is_in_the_terminal_summary(tmp_path, tiny_pairs):
    """--hubness: plain vs method per direction and the skewness before/after are printed, not
    only written to report.html (the summary's --json carries the same rows)."""
    args = ("evaluate", "retrieval", tiny_pairs, "-m", "hash:64", "--split", "val", "--hubness",
            "qbnorm", "--bank", tiny_pairs, "--bank-split", "train")
    rows = json.loads(run(*args, "-o", tmp_path / "a", "--json").stdout)["ablation"]
    assert {"t2i_R@1", "i2t_R@1", "t2i skew@10", "i2t skew@10"} <= {r["metric"] for r in rows}
    text = run(*args, "-o", tmp_path / "b").stdout
    assert "Ablation: plain vs method" in text and "hubness qbnorm" in text
    assert "t2i skew@10" in text and "i2t_R@1" in text
    plain = run("evaluate", "retrieval", tiny_pairs, "-m", "hash:64", "--split", "val", "-o",
                tmp_path / "c").stdout
    assert "Ablation" not in plain


def test_an_evaluation_that_reads_no_file_is_an_error(tmp_path, monkeypatch):
    """Relative paths resolve against the CSV's folder; when none resolves, no 0.0 top-1."""
    data = tmp_path / "data"
    (data / "img").mkdir(parents=True)
    for i, rgb in enumerate([(250, 0, 0), (0, 250, 0)]):
        Image.fromarray(np.full((8, 8, 3), rgb, np.uint8)).save(data / "img" / f"{i}.png")
    (data / "labels.csv").write_text("file,label\nimg/0.png,red\nimg/1.png,green\n")
    monkeypatch.chdir(tmp_path)  # the CSV's paths are relative to data/, not to the cwd
    ok = json.loads(run("evaluate", "zeroshot", "data/labels.csv", "-m", "hash:64", "-o",
                        tmp_path / "zs", "--json").stdout)
    assert ok["unreadable"]["count"] == 0
    (data / "labels.csv").write_text("file,label\nimages/0.png,red\nimages/1.png,green\n")
    p = run("evaluate", "zeroshot", "data/labels.csv", "-m", "hash:64", "-o", tmp_path / "zs2",
            "--json", ok=False)
    assert p.returncode == 1 and "Traceback" not in p.stderr
    error = json.loads(p.stdout)["error"]
    assert "none of the 2 images could be read" in error["message"] and "folder" in error["hint"]
