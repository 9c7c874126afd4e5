"""``jointspace train --stream``: batches read from shards per rank x worker, each sample once."""

import json
from pathlib import Path

import pytest
import typer
from typer.testing import CliRunner

from jointspace.cli.world_train_cmds import register
from jointspace.errors import BadInputError
from jointspace.train import TrainConfig, train
from jointspace.train.shards import iter_samples
from jointspace.train.streaming import count_samples, key_checksum
from jointspace.worlds.shards import ShardWriter


def _world_shards(world: Path, directory: Path, n: int, per_shard: int) -> list[str]:
    """``n`` real images + captions of the small world re-packed in shards of ``per_shard``."""
    writer = ShardWriter(directory, per_shard)
    with open(world / "train" / "pairs.jsonl") as f:
        rows = [json.loads(line) for line, _ in zip(f, range(n), strict=False)]
    for i, row in enumerate(rows):
        png = (world / "train" / row["file"]).read_bytes()
        writer.write("train", {"file": f"{i:04d}.png", "captions": row["captions"]}, png)
    return writer.close()


def _expected(shards: list[str]) -> int:
    return key_checksum([f"{Path(p).name}:{s['__key__']}" for p in shards
                         for s in iter_samples(p)])


def _epochs(out: Path) -> list[dict]:
    with open(out / "log.jsonl") as f:
        return [r for r in map(json.loads, f) if r["type"] == "epoch"]


def test_stream_one_process_sees_each_sample_once_and_drops_the_ragged_tail(
        small_world, tiny_checkpoint, tmp_path):
    shards = _world_shards(small_world, tmp_path / "shards", 10, 5)
    assert count_samples(shards) == 10
    out = tmp_path / "run"
    result = train(TrainConfig(
        data=str(tmp_path / "shards" / "train-*.tar"), out=str(out), init=f"hf:{tiny_checkpoint}",
        lock="text", stream=True, workers=0, batch_size=5, steps=5, warmup=1, threads=1,
        progress=False, log_every=1))
    assert result.steps == 5 and Path(result.model_dir, "model.safetensors").is_file()
    epochs = _epochs(out)
    assert [e["epoch"] for e in epochs] == [0, 1]  # 2 steps per epoch: ended at steps 3 and 5
    assert all(e["samples"] == 10 and e["key_checksum"] == _expected(shards) for e in epochs)
    # batch 4 of 10 per epoch: two full batches, the ragged 2 dropped -> 8 samples an epoch
    out2 = tmp_path / "run2"
    train(TrainConfig(data=str(tmp_path / "shards" / "train-*.tar"), out=str(out2),
                      init=f"hf:{tiny_checkpoint}", lock="text", stream=True, workers=0,
                      batch_size=4, steps=3, warmup=1, threads=1, progress=False))
    assert [e["samples"] for e in _epochs(out2)] == [8]


def test_stream_needs_shards(small_world, tiny_checkpoint, tmp_path):
    with pytest.raises(BadInputError, match="--stream reads webdataset shards"):
        train(TrainConfig(data=str(small_world / "train" / "pairs.jsonl"),
                          out=str(tmp_path / "x"), init=f"hf:{tiny_checkpoint}", stream=True,
                          progress=False))


@pytest.mark.slow
def test_train_nproc_2_stream_reads_each_sample_once_per_epoch(small_world, tiny_checkpoint,
                                                               tmp_path):
    # 4 shards of 4 over 2 ranks x 2 workers: every consumer reads one shard (2 batches of 2)
    shards = _world_shards(small_world, tmp_path / "shards", 16, 4)
    app = typer.Typer()
    register(app)
    out = tmp_path / "run"
    res = CliRunner().invoke(app, [
        "train", "--data", str(tmp_path / "shards" / "train-*.tar"), "--out", str(out),
        "--init", f"hf:{tiny_checkpoint}", "--lock", "text", "--stream", "--workers", "2",
        "--batch-size", "4", "--steps", "9", "--warmup", "1", "--nproc", "2", "--threads", "1",
        "--val", str(small_world / "val" / "pairs.jsonl"), "--val-every", "9", "--json"])
    assert res.exit_code == 0, res.output
    result = json.loads(res.stdout.strip().splitlines()[-1])
    assert result["steps"] == 9 and "t2i_R@1" in result["val"]  # validation (in memory) ran
    assert Path(result["model_dir"], "model.safetensors").is_file()
    assert (out / "last.pt").is_file()
    epochs = _epochs(out)
    assert [e["epoch"] for e in epochs] == [0, 1] and [e["step"] for e in epochs] == [5, 9]
    assert all(e["samples"] == 16 and e["key_checksum"] == _expected(shards) for e in epochs)
    with open(out / "log.jsonl") as f:
        assert json.loads(f.readline())["world"] == 2
