"""The CLI at its boundary: a real subprocess, --json contracts, exit codes and hints."""

import json
import subprocess
import sys
from pathlib import Path

from jointspace.store.schema import SCHEMA_VERSION

JS = str(Path(sys.executable).parent / "jointspace")


def run(*args, ok=True):
    p = subprocess.run([JS, *map(str, args)], capture_output=True, text=True, timeout=120)
    assert (p.returncode == 0) == ok, p.stderr + p.stdout
    return p


def test_index_search_info_remove_errors(tmp_path, random_photos):
    photos = random_photos(tmp_path / "photos", 5)
    (photos / "bad.jpg").write_text("<html>not an image</html>")
    col = tmp_path / "col"

    report = json.loads(run("index", photos, "-c", col, "--model", "hash:16", "--json").stdout)
    assert (report["added"], report["failed"]) == (5, 1)
    assert report["errors"][0]["path"].endswith("bad.jpg")

    res = json.loads(run("search", "--image", photos / "3.png", "-c", col, "--k", "2",
                         "--json").stdout)
    top = res["results"][0]
    assert set(top) == {"id", "kind", "path", "score", "metadata"}
    assert top["path"].endswith("3.png") and abs(top["score"] - 1) < 1e-5

    info = json.loads(run("info", "-c", col, "--json").stdout)
    assert (info["count"], info["model"], info["dim"]) == (5, "hash:16", 16)
    assert info["format"] == SCHEMA_VERSION  # one truthful version: the schema the file is at
    errs = json.loads(run("errors", "-c", col, "--json").stdout)["errors"]
    assert len(errs) == 1 and errs[0]["reason"]
    assert json.loads(run("remove", top["id"], "-c", col, "--json").stdout) == {"removed": 1}
    assert json.loads(run("info", "-c", col, "--json").stdout)["count"] == 4
    huge = str(2**70)  # beyond SQLite's 64-bit ids: an error (issue 12), not an OverflowError
    p = run("remove", huge, "-c", col, "--json", ok=False)
    assert json.loads(p.stdout)["error"]["type"] == "BadInputError"
    p = run("search", "--like", huge, "-c", col, ok=False)
    assert f"no item with id {huge}" in p.stderr and "Traceback" not in p.stderr


def test_errors_are_one_line_with_a_hint(tmp_path):
    p = run("search", "x", "-c", tmp_path / "missing", ok=False)
    assert "no collection at" in p.stderr and "hint:" in p.stderr and "Traceback" not in p.stderr
    p = run("search", "x", "-c", tmp_path / "missing", "--json", ok=False)
    assert json.loads(p.stdout)["error"]["type"] == "CollectionNotFoundError"


def test_offline_model_error_says_what_to_do(tmp_path):
    (tmp_path / "t.txt").write_text("hello")
    p = run("index", tmp_path / "t.txt", "-c", tmp_path / "c", "--model",
            "hf:nobody/not-cached-model", ok=False)
    assert "hf:/path/to" in p.stderr or "local directory" in p.stderr
