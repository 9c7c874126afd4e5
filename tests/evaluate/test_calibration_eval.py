"""The calibrated cut-off measured on pairs: captions of images left out of the gallery must get
nothing back, the others keep their image."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from jointspace.errors import BadInputError
from jointspace.evaluate.calibration_eval import calibration_ablation

JS = str(Path(sys.executable).parent / "jointspace")


def _unit(x):
    return (x / np.linalg.norm(x, axis=-1, keepdims=True)).astype(np.float32)


def _pairs(n=400, dim=64, noise=0.5, seed=0):
    rng = np.random.default_rng(seed)
    images = _unit(rng.standard_normal((n, dim)))
    text_image = np.repeat(np.arange(n), 2)
    captions = _unit(images[text_image] + noise * rng.standard_normal((2 * n, dim)) / np.sqrt(dim))
    return images, captions, text_image


def test_the_cut_off_empties_absent_queries_and_keeps_the_matches():
    rows = {r["metric"]: r for r in calibration_ablation(*_pairs(), miss=0.1)}
    absent = rows["absent: share returning nothing"]
    assert absent["plain"] == 0.0 and absent["with_method"] >= 0.95
    kept = rows["present: share returning their image"]
    assert kept["plain"] == 1.0 and 0.8 <= kept["with_method"] < 1.0  # ~ 1 - miss
    precision = rows["present: precision of returned"]
    assert precision["plain"] == pytest.approx(0.1) and precision["with_method"] >= 0.95
    assert rows["results per query"]["plain"] == 10 and rows["results per query"]["with_method"] < 2
    looser = {r["metric"]: r for r in calibration_ablation(*_pairs(), miss=0.4)}
    assert (looser["present: share returning their image"]["with_method"]
            < kept["with_method"])  # a larger miss rejects more true pairs


def test_too_few_images_is_a_usage_error():
    images, captions, text_image = _pairs(n=10)
    with pytest.raises(BadInputError, match="at least 20"):
        calibration_ablation(images, captions, text_image)


def test_evaluate_retrieval_min_score_auto_from_the_cli(tmp_path):
    root = tmp_path / "pairs"
    (root / "img").mkdir(parents=True)
    rng = np.random.default_rng(0)
    rows = []
    for i in range(24):
        Image.fromarray(rng.integers(0, 256, (8, 8, 3), np.uint8)).save(root / "img" / f"{i}.png")
        rows.append({"file": f"img/{i}.png", "captions": [f"picture {i}"]})
    (root / "pairs.jsonl").write_text("\n".join(json.dumps(r) for r in rows) + "\n")

    def run(*args):
        return subprocess.run([JS, "evaluate", "retrieval", root / "pairs.jsonl", "-m", "hash:64",
                               *args], capture_output=True, text=True, timeout=120)

    done = run("--min-score", "auto", "--miss", "0.2", "-o", tmp_path / "r", "--json")
    assert done.returncode == 0, done.stderr
    metrics = {r["metric"] for r in json.loads(done.stdout)["ablation"]}
    assert {"absent: share returning nothing", "present: precision of returned"} <= metrics
    assert "min-score auto" in (tmp_path / "r" / "report.html").read_text()
    bad = run("--min-score", "0.3", "-o", tmp_path / "bad")
    assert bad.returncode == 1 and "auto" in bad.stderr and "Traceback" not in bad.stderr
    assert not (tmp_path / "bad").exists()
