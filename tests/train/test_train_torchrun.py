"""torchrun with 2 CPU processes (gloo) equals one process at the same global batch."""

import json
import os
import socket
import subprocess
import sys

import numpy as np
import pytest


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _args(world, ckpt, out):
    return ["--data", str(world / "train" / "pairs.jsonl"), "--out", str(out),
            "--init", f"hf:{ckpt}", "--lock", "text", "--batch-size", "16", "--steps", "6",
            "--lr", "3e-3", "--warmup", "2", "--log-every", "1", "--threads", "1",
            "--no-progress", "--cache-dir", str(out) + "-cache"]


def _losses(out):
    with open(out / "log.jsonl") as f:
        return [r["loss"] for r in map(json.loads, f) if r["type"] == "train"]


@pytest.mark.slow
def test_two_processes_equal_one(small_world, tiny_checkpoint, tmp_path):
    from safetensors.torch import load_file

    env = {**os.environ, "HF_HUB_OFFLINE": "1", "OMP_NUM_THREADS": "1"}
    one = tmp_path / "one"
    two = tmp_path / "two"
    subprocess.run([sys.executable, "-m", "jointspace.train", *_args(small_world, tiny_checkpoint,
                                                                     one)],
                   check=True, env=env, capture_output=True, timeout=300)
    run = subprocess.run(
        [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node=2",
         "--master_addr", "127.0.0.1", "--master_port", str(_free_port()),
         "-m", "jointspace.train", *_args(small_world, tiny_checkpoint, two)],
        env=env, capture_output=True, text=True, timeout=300, check=False)
    assert run.returncode == 0, run.stderr[-3000:]
    with open(two / "log.jsonl") as f:
        start = json.loads(f.readline())
    assert start["world"] == 2
    l1, l2 = _losses(one), _losses(two)
    assert len(l1) == len(l2) == 6
    np.testing.assert_allclose(l2, l1, rtol=1e-5)
    assert l1[-1] != l1[0]
    w1 = load_file(str(one / "model" / "model.safetensors"))
    w2 = load_file(str(two / "model" / "model.safetensors"))
    for k in w1:
        np.testing.assert_allclose(w2[k].numpy(), w1[k].numpy(), atol=2e-5, rtol=1e-4, err_msg=k)
