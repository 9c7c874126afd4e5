"""`jointspace train --nproc N [--nnodes M --rdzv-endpoint ...]`: the torchrun it launches."""

import json

import pytest
import typer
from typer.testing import CliRunner

from jointspace.cli.world_train_cmds import register
from jointspace.errors import BadInputError
from jointspace.train.launch import Launch, torchrun_command


def test_torchrun_command_single_and_multi_node():
    one = torchrun_command(Launch(nproc=2), ["--data", "x"])
    assert "--nproc-per-node=2" in one and "--master-addr=127.0.0.1" in one
    assert one[-4:] == ["-m", "jointspace.train", "--data", "x"]
    multi = torchrun_command(Launch(nproc=4, nnodes=3, rdzv_endpoint="10.0.0.1:29400",
                                    rdzv_id="job7"), [])
    assert {"--nnodes=3", "--rdzv-backend=c10d", "--rdzv-endpoint=10.0.0.1:29400",
            "--rdzv-id=job7", "--nproc-per-node=4"} <= set(multi)
    assert not any(a.startswith("--master") for a in multi)
    with pytest.raises(BadInputError, match="rendezvous"):
        torchrun_command(Launch(nproc=1, nnodes=2), [])


@pytest.mark.slow
def test_train_nproc_2_runs_two_ranks(small_world, tiny_checkpoint, tmp_path):
    app = typer.Typer()
    register(app)
    out = tmp_path / "run"
    res = CliRunner().invoke(app, [
        "train", "--data", str(small_world / "train" / "pairs.jsonl"), "--out", str(out),
        "--init", f"hf:{tiny_checkpoint}", "--lock", "text", "--batch-size", "16", "--steps", "2",
        "--nproc", "2", "--threads", "1", "--cache-dir", str(tmp_path / "cache"),
        "--json"])
    assert res.exit_code == 0, res.output
    assert json.loads(res.stdout.strip().splitlines()[-1])["steps"] == 2
    with open(out / "log.jsonl") as f:
        assert json.loads(f.readline())["world"] == 2
