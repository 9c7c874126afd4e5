"""A checkpoint of `jointspace train` is an `hf:DIR` model in any fresh process (CLI index/search)."""

import json
import subprocess
import sys
from pathlib import Path

JOINTSPACE = str(Path(sys.executable).parent / "jointspace")


def _cli(*args):
    out = subprocess.run([JOINTSPACE, *args, "--json"],
                         capture_output=True, text=True, timeout=300, check=False,
                         env={"HF_HUB_OFFLINE": "1", "PATH": "/usr/bin:/bin"})
    assert out.returncode == 0, out.stdout + out.stderr[-2000:]
    return json.loads(out.stdout)


def test_index_and_search_a_trained_checkpoint_from_the_cli(small_world, tiny_checkpoint,
                                                             tmp_path):
    col = tmp_path / "col"
    model = f"hf:{tiny_checkpoint}"
    report = _cli("index", str(small_world / "test" / "images"), "-c", str(col), "-m", model)
    assert report["added"] == 16 and report["failed"] == 0
    hits = _cli("search", "a red circle", "-c", str(col), "-k", "3")["results"]
    assert len(hits) == 3 and all(h["path"].endswith(".png") for h in hits)
    info = _cli("info", "-c", str(col))
    assert info["model"] == model and info["count"] == 16
