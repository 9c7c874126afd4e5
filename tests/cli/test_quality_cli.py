"""The quality layer's CLI: bank, calibrate, search --hubness / --balance-modalities / --min-score,
and the modality gap in info."""

import json
import subprocess
import sys
from pathlib import Path

import pytest

JS = str(Path(sys.executable).parent / "jointspace")


def run(*args, ok=True):
    p = subprocess.run([JS, *map(str, args)], capture_output=True, text=True, timeout=120)
    assert (p.returncode == 0) == ok, p.stderr + p.stdout
    return p


@pytest.mark.slow  # nine CLI processes
def test_bank_calibrate_and_quality_search(tmp_path, random_photos):
    photos = random_photos(tmp_path / "photos", 8)
    notes = tmp_path / "notes.jsonl"
    notes.write_text("".join(json.dumps({"id": f"n{i}", "text": f"note number {i} about red"})
                             + "\n" for i in range(6)))
    col = tmp_path / "col"
    run("index", photos, "-c", col, "--model", "hash:16", "--json")
    run("index", notes, "-c", col, "--text-column", "text", "--id-column", "id", "--json")

    info = json.loads(run("info", "-c", col, "--json").stdout)
    assert info["kinds"] == {"image": 8, "text": 6} and info["modality_gap"] > 0
    assert info["query_banks"] == {} and info["calibration"] is None

    queries = tmp_path / "queries.txt"
    queries.write_text("red note\nsomething else\n\n")
    assert json.loads(run("bank", "-c", col, "--json").stdout)["query_bank"] == 6
    assert json.loads(run("bank", "-c", col, "--file", queries, "--add", "--json")
                      .stdout)["query_bank"] == 8
    cal = json.loads(run("calibrate", "-c", col, "--json").stdout)
    assert set(cal["calibration"]) == {"image", "text"} and cal["count"] == 14
    strict = json.loads(run("calibrate", "-c", col, "--miss", "0.05", "--json").stdout)
    assert strict["miss"] == 0.05 and cal["miss"] == 0.25
    assert strict["calibration"]["image"]["cut"] <= cal["calibration"]["image"]["cut"]
    assert "Traceback" not in run("calibrate", "-c", col, "--miss", "1", ok=False).stderr

    def ids(*extra):
        out = json.loads(run("search", "note 3", "-c", col, "--k", "5", "--json", *extra).stdout)
        return out["results"]

    balanced = ids("--balance-modalities")
    assert {h["kind"] for h in balanced} == {"image", "text"}
    assert ids() == balanced  # on by default in a mixed collection
    assert len(ids("--hubness", "qbnorm", "--no-balance-modalities")) == 5
    auto = ids("--min-score", "auto", "--hubness", "csls")
    assert all("relevance" in h for h in auto) and len(auto) <= 5

    bad = run("search", "x", "-c", col, "--min-score", "high", "--json", ok=False)
    assert json.loads(bad.stdout)["error"]["type"] == "BadInputError"
    bad = run("search", "x", "-c", col, "--hubness", "magic", "--json", ok=False)
    assert "qbnorm" in json.loads(bad.stdout)["error"]["hint"]
