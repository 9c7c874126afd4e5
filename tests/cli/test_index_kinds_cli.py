"""`jointspace index --index int8|binary --dim N`: kept, reported by `info`, and searched."""

import json
import subprocess
import sys
from pathlib import Path

import pytest

JS = str(Path(sys.executable).parent / "jointspace")


def run(*args):
    p = subprocess.run([JS, *map(str, args)], capture_output=True, text=True, timeout=120)
    assert p.returncode == 0, p.stderr + p.stdout
    return json.loads(p.stdout)


@pytest.mark.parametrize(("kind", "dim"), [("int8", 64), ("binary", 64), ("flat", 16)])
def test_compressed_kind_from_the_cli(tmp_path, kind, dim):
    texts = tmp_path / "texts"
    texts.mkdir()
    for i in range(30):
        (texts / f"{i}.txt").write_text(f"note number {i} about topic {i % 5}")
    col = tmp_path / "col"
    assert run("index", texts, "-c", col, "--text-files", "--model", "hash:64", "--index", kind,
               "--dim", dim, "--json")["added"] == 30
    info = run("info", "-c", col, "--json")
    assert (info["index"], info["index_dim"], info["count"]) == (kind, dim, 30)
    hits = run("search", "note number 7 about topic 2", "-c", col, "--k", "3", "--json")["results"]
    assert hits[0]["path"].endswith("7.txt") and abs(hits[0]["score"] - 1) < 1e-5
