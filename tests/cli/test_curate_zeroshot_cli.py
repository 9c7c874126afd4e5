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
    preds = json.loads(run("classify", photos / "2.png", "-c", col, "--labels", "red,green",
                           "--transductive", "--propagation-k", "2", "--json").stdout)
    first = preds["predictions"][0]
    assert first["label"] in ("red", "green") and len(first["top"]) == 2 and not preds["errors"]
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
