"""Choosing an engine: names, the install hint without Ray, and the shared embed step."""

import json
import sys

import numpy as np
import pytest

from jointspace.engines import LocalEngine, embed_prepared, load_engine
from jointspace.errors import BadInputError, JointspaceError
from jointspace.ingest.items import SourceItem
from jointspace.ingest.pipeline import Prepared
from jointspace.models import load_embedder


def test_unknown_engine_names_the_choices():
    assert isinstance(load_engine("local"), LocalEngine)
    with pytest.raises(BadInputError, match="unknown engine 'spark'") as err:
        load_engine("spark")
    assert "local, ray" in err.value.hint


def test_ray_missing_gives_the_install_hint(monkeypatch):
    for name in [m for m in sys.modules if m == "ray" or m.startswith("ray.")]:
        monkeypatch.delitem(sys.modules, name)
    monkeypatch.setitem(sys.modules, "ray", None)  # import ray -> ImportError
    with pytest.raises(JointspaceError, match="Ray Data") as err:
        load_engine("ray")
    assert "pip install 'jointspace[ray]'" in err.value.hint


def test_index_cli_ray_without_ray_is_a_clean_error(tmp_path, monkeypatch, capsys):
    from jointspace.cli import app
    from jointspace.cli.render import run_app

    monkeypatch.setitem(sys.modules, "ray", None)
    (tmp_path / "photos").mkdir()
    monkeypatch.setattr("sys.argv", ["jointspace", "index", str(tmp_path / "photos"), "-c",
                                     str(tmp_path / "c"), "-m", "hash:8", "--engine", "ray",
                                     "--json"])
    with pytest.raises(SystemExit) as exc:
        run_app(app)
    assert exc.value.code != 0
    error = json.loads(capsys.readouterr().out)["error"]
    assert "Ray Data" in error["message"] and "jointspace[ray]" in error["hint"]
    assert not (tmp_path / "c").exists()  # failed before creating anything


def test_embed_prepared_skips_errors_and_identical_content():
    embedder = load_embedder("hash:8")
    texts = [Prepared(SourceItem(f"k{i}", "text", text=t), sha256=f"s{i}", text=t)
             for i, t in enumerate(["a cat", "a dog", "a car"])]
    texts.append(Prepared(SourceItem("bad", "text"), error="cannot read file"))
    out = embed_prepared(embedder, texts, {"k1": "s1", "k2": "old"})
    assert [e.vector is not None for e in out.items] == [True, False, True, False]
    np.testing.assert_allclose(out.items[0].vector, embedder.embed_texts(["a cat"])[0])
