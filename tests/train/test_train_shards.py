"""Webdataset shards stream split over torchrun ranks x DataLoader workers: each sample exactly
once per epoch."""

import json
import os
import subprocess
import sys
from collections import Counter
from pathlib import Path

import pytest

from jointspace.train.launch import Launch, torchrun_command
from jointspace.train.shards import Consumer, epoch_shards, iter_samples
from jointspace.worlds.shards import ShardWriter

HERE = Path(__file__).parent


def _shards(directory: Path, n: int, per_shard: int) -> list[str]:
    writer = ShardWriter(directory, per_shard)
    for i in range(n):
        writer.write("train", {"file": f"img/{i:04d}.png", "captions": [f"caption {i}"]},
                     b"png bytes %d" % i)
    return writer.close()


def test_iter_samples_groups_files_by_key(tmp_path):
    (path,) = _shards(tmp_path, 3, 10)
    samples = list(iter_samples(path))
    assert [s["__key__"] for s in samples] == ["0000", "0001", "0002"]
    assert samples[1]["png"] == b"png bytes 1" and samples[1]["txt"] == b"caption 1"
    assert json.loads(samples[2]["json"])["captions"] == ["caption 2"]


def test_epoch_shards_partition_every_epoch():
    shards = [f"s{i}" for i in range(7)]
    for epoch in range(3):
        parts = [epoch_shards(shards, epoch, 5, Consumer(c, 4)) for c in range(4)]
        flat = [s for p in parts for s in p]
        assert sorted(flat) == shards  # each shard once, over all consumers
        assert all(parts)  # 7 shards over 4 consumers: nobody idle
    assert epoch_shards(shards, 0, 5, Consumer(0, 1)) != epoch_shards(shards, 1, 5, Consumer(0, 1))


@pytest.mark.slow
def test_two_gloo_ranks_two_workers_see_each_sample_once_per_epoch(tmp_path):
    n = 45
    shards = _shards(tmp_path / "shards", n, 4)  # 12 shards, the last one short
    out = tmp_path / "seen.json"
    cmd = torchrun_command(Launch(nproc=2), [str(out), *shards], module="shard_child")
    env = {**os.environ, "OMP_NUM_THREADS": "1",
           "PYTHONPATH": os.pathsep.join([str(HERE), *sys.path])}
    run = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=300, check=False)
    assert run.returncode == 0, run.stderr[-3000:]
    result = json.loads(out.read_text())
    assert result["world"] == 2
    rows = result["rows"]
    for epoch in (0, 1):
        keys = [r["key"] for r in rows if r["epoch"] == epoch]
        assert len(keys) == n and len(set(keys)) == n  # every sample, none twice
        consumers = Counter(r["consumer"] for r in rows if r["epoch"] == epoch)
        assert sorted(consumers) == [0, 1, 2, 3]  # 2 ranks x 2 workers all read
        ranks = {r["rank"] for r in rows if r["epoch"] == epoch}
        assert ranks == {0, 1}
    assert all(r["caption"] == f"caption {int(r['key'].rsplit('/', 1)[1])}" for r in rows)
    by_epoch = [[r["key"] for r in rows if r["epoch"] == e and r["rank"] == 0] for e in (0, 1)]
    assert by_epoch[0] != by_epoch[1]  # shard order reshuffled per epoch
