"""`--runtime` at the CLI boundary: index records it, search reuses it, --runtime overrides."""

import json
import subprocess
import sys
from pathlib import Path

import pytest

JS = str(Path(sys.executable).parent / "jointspace")


def run(*args, ok=True):
    p = subprocess.run([JS, *map(str, args)], capture_output=True, text=True, timeout=300)
    assert (p.returncode == 0) == ok, p.stderr + p.stdout
    return p


@pytest.mark.slow
def test_index_with_a_runtime_then_search_with_it_or_another(tmp_path, tiny_clip_dir,
                                                              pattern_image):
    photos = tmp_path / "photos"
    photos.mkdir()
    for i in range(4):
        pattern_image(40 + 10 * i, 50, seed=i).save(photos / f"{i}.png")
    col = tmp_path / "col"
    report = run("index", photos, "-c", col, "--model", f"hf:{tiny_clip_dir}", "--runtime", "onnx",
                 "--workers", "0", "--json")
    data = json.loads(report.stdout)
    assert data["added"] == 4 and data["runtimes"] == {"image": "onnx", "text": "onnx"}

    info = json.loads(run("info", "-c", col, "--json").stdout)
    assert info["runtimes"]["requested"] == "onnx"
    assert info["runtimes"]["used"] == {"image": ["onnx"], "text": ["onnx"]}

    found = json.loads(run("search", "a photo", "-c", col, "--json").stdout)
    assert found["runtimes"] == {"image": "onnx", "text": "onnx"} and len(found["results"]) == 4
    eager = json.loads(run("search", "--image", photos / "2.png", "-c", col, "--runtime", "torch",
                           "--json").stdout)
    assert eager["runtimes"] == {"image": "torch", "text": "torch"}
    assert eager["results"][0]["path"].endswith("2.png") and eager["results"][0]["score"] > 0.9999

    bad = run("search", "x", "-c", col, "--runtime", "fp8", "--json", ok=False)
    assert "unknown runtime" in json.loads(bad.stdout)["error"]["message"]
