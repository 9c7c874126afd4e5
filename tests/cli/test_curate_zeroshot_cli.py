"""The quality-layer commands at the CLI boundary: duplicates, classify / evaluate options."""

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
from PIL import Image

JS = str(Path(sys.executable).parent / "jointspace")


def run(*args, ok=True):
    p = subprocess.run([JS, *map(str, args)], capture_output=True, text=True, timeout=120)
    assert (p.returncode == 0) == ok, p.stderr + p.stdout
    return p


def _photos(root: Path) -> Path:
    root.mkdir()
    rng = np.random.default_rng(0)
    for i in range(4):
        small = rng.integers(0, 256, (5, 6, 3), dtype=np.uint8)
        Image.fromarray(small).resize((60, 50), Image.Resampling.BICUBIC).save(root / f"{i}.png")
    (root / "0_copy.png").write_bytes((root / "0.png").read_bytes())
    Image.open(root / "1.png").resize((30, 25)).save(root / "1_small.png")
    return root


def test_duplicates_dry_run_then_apply(tmp_path):
    photos, col = _photos(tmp_path / "p"), tmp_path / "c"
    run("index", photos, "-c", col, "--model", "hash:64", "--json")
    out = json.loads(run("duplicates", "-c", col, "--threshold", "0.9", "--phash", "16",
                         "--keep", "largest", "--json").stdout)
    names = sorted(sorted(Path(p).name for p in g["paths"]) for g in out["groups"])
    assert names == [["0.png", "0_copy.png"], ["1.png", "1_small.png"]]
    assert out["dry_run"] is True and out["marked"] == 0
    assert all(set(g) >= {"ids", "paths", "score"} for g in out["groups"])
    run("duplicates", "-c", col, "--apply", "--json", ok=False)  # --apply needs --keep
    applied = json.loads(run("duplicates", "-c", col, "--threshold", "0.9", "--keep", "largest",
                             "--apply", "--json").stdout)
    assert applied["marked"] == 2
    small = [g for g in applied["groups"] if any(p.endswith("1_small.png") for p in g["paths"])][0]
    res = json.loads(run("search", "--image", photos / "1_small.png", "-c", col, "--k", "1",
                         "--json").stdout)["results"][0]
    assert res["metadata"]["duplicate_of"] == small["keep"] != res["id"]
    table = run("duplicates", "-c", col, "--threshold", "0.9").stdout
    assert "group" in table and "[bold]" not in table  # the kept id is styled, not tagged


def test_classify_collection_transductive_and_zpe(tmp_path):
    photos, col = _photos(tmp_path / "p"), tmp_path / "c"
    run("index", photos, "-c", col, "--model", "hash:64", "--json")
    tags = json.loads(run("classify", "-c", col, "--labels", "red,green", "--transductive",
                          "--propagation-k", "2", "--prompt-weights", "zpe", "-t", "{}",
                          "-t", "a photo of {}.", "--json").stdout)
    assert tags["tagged"] == 6 and tags["transductive"]["k"] == 2
    assert len(tags["template_weights"]) == 2
    text = run("classify", "-c", col, "--labels", "red,green", "--prompt-weights", "zpe",
               "-t", "{}", "-t", "a photo of {}.").stdout
    assert "ZPE template weights" in text and "a photo of {}." in text
    preds = json.loads(run("classify", photos / "2.png", "-c", col, "--labels", "red,green",
                           "--transductive", "--propagation-k", "2", "--json").stdout)
    first = preds["predictions"][0]
    assert first["label"] in ("red", "green") and len(first["top"]) == 2 and not preds["errors"]
    for extra in ((), ("--transductive", "--propagation-k", "2")):  # weights from the collection
        one = json.loads(run("classify", photos / "2.png", "-c", col, "--labels", "red,green",
                             "--prompt-weights", "zpe", "-t", "{}", "-t", "a photo of {}.",
                             *extra, "--json").stdout)
        assert one["template_weights"] == tags["template_weights"], extra
    bad = json.loads(run("classify", "-c", col, "--labels", "a,b", "--prompt-weights", "best",
                         "--json", ok=False).stdout)
    assert "zpe" in bad["error"]["hint"]


def test_evaluate_zeroshot_reports_method_beside_plain(tmp_path):
    root = tmp_path / "data"
    for name, rgb in {"red": (220, 30, 30), "blue": (30, 40, 220)}.items():
        (root / name).mkdir(parents=True)
        for i in range(3):
            Image.new("RGB", (20, 20), tuple(c + 5 * i for c in rgb)).save(root / name / f"{i}.png")
    out = json.loads(run("evaluate", "zeroshot", root, "-m", "hash:32", "--transductive",
                         "--propagation-k", "2", "--prompt-weights", "zpe", "-t", "{}", "-t",
                         "a photo of {}.", "-o", tmp_path / "rep", "--json").stdout)
    assert {"top1", "plain_top1"} <= set(out["metrics"])
    report = json.loads((tmp_path / "rep" / "report.json").read_text())
    assert report["settings"]["transductive"]["k"] == 2
    assert len(report["details"]["template_weights"]) == 2
    html = (tmp_path / "rep" / "report.html").read_text()
    assert "Template weights (ZPE)" in html and "a photo of {}." in html
    assert "Ablation: plain vs method" in html
    methods = {r["method"] for r in report["details"]["ablation"]}
    assert methods == {r["method"] for r in out["ablation"]} == {"ZPE", "ZLaP", "ZPE + ZLaP"}
    text = run("evaluate", "zeroshot", root, "-m", "hash:32", "--transductive",
               "--propagation-k", "2", "-t", "{}", "-o", tmp_path / "rep2").stdout
    assert "Ablation: plain vs method" in text and "ZLaP" in text and "ZPE" not in text


def test_classify_files_with_zpe_shows_the_weights_and_refuses_one_file(tmp_path):
    photos = _photos(tmp_path / "p")
    files = sorted(photos.glob("*.png"))
    args = ("--labels", "red,green", "-m", "hash:64", "--prompt-weights", "zpe", "-t", "{}",
            "-t", "a photo of {}.")
    out = json.loads(run("classify", *files, *args, "--json").stdout)
    weights = out["template_weights"]
    assert out["prompt_weights"] == "zpe" and len(out["predictions"]) == len(files)
    assert sorted(w["template"] for w in weights) == ["a photo of {}.", "{}"]
    assert abs(sum(w["weight"] for w in weights) - 1) < 1e-5
    text = run("classify", *files, *args).stdout
    assert "ZPE template weights" in text and "a photo of {}." in text
    plain = json.loads(run("classify", *files, "--labels", "red,green", "-m", "hash:64",
                           "--json").stdout)
    assert plain["prompt_weights"] == "equal" and "template_weights" not in plain
    one = run("classify", files[0], *args, ok=False)
    assert "one image" in one.stderr and "hint:" in one.stderr and "Traceback" not in one.stderr
