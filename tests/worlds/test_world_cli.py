import json

import typer
from typer.testing import CliRunner

from jointspace.cli.world_train_cmds import register


def _app() -> typer.Typer:
    app = typer.Typer()
    register(app)
    return app


def test_world_generate_json(tmp_path):
    out = tmp_path / "w"
    res = CliRunner().invoke(_app(), ["world", "generate", "--out", str(out), "--n", "40",
                                      "--seed", "2", "--shard-size", "0", "--json"])
    assert res.exit_code == 0, res.output
    data = json.loads(res.stdout)
    assert sum(data["counts"].values()) == 40 and data["shards"] == []
    with open(out / "pairs.jsonl") as f:
        assert len(f.readlines()) == 40
    meta = json.loads((out / "world.json").read_text())
    assert meta["heldout_pairs"] == [list(p) for p in data["heldout_pairs"]]


def test_world_generate_table(tmp_path):
    res = CliRunner().invoke(_app(), ["world", "generate", "--out", str(tmp_path / "w"),
                                      "--n", "12", "--shard-size", "0"])
    assert res.exit_code == 0, res.output
    assert "held-out compositions" in res.output and "jointspace train" in res.output
