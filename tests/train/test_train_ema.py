"""--ema: the moving average of the weights against a hand-written one, in the loop and resumed."""

import numpy as np
import pytest
import torch

from jointspace.train import TrainConfig, train
from jointspace.train import loop as loop_module
from jointspace.train.ema import WeightAverage


def test_average_matches_the_formula_and_applied_restores_the_live_weights():
    w = torch.nn.Parameter(torch.tensor([1.0, -2.0]))
    ema = WeightAverage({"w": w}, decay=0.9)
    expected = w.detach().clone()
    for t in range(1, 40):
        with torch.no_grad():
            w.add_(torch.tensor([0.5, 0.25]))
        ema.update()
        d = min(0.9, (1 + t) / (10 + t))
        expected = d * expected + (1 - d) * w.detach()
    assert torch.allclose(ema.avg["w"], expected)
    live = w.detach().clone()
    assert not torch.allclose(live, expected)
    with ema.applied():
        assert torch.allclose(w.detach(), expected)
    assert torch.equal(w.detach(), live)
    state = ema.state()
    other = WeightAverage({"w": w}, decay=0.9)
    other.load(state)
    assert other.updates == 39 and torch.equal(other.avg["w"], ema.avg["w"])


def _config(world, ckpt, out, **kw):
    base = {"data": str(world / "train" / "pairs.jsonl"), "out": str(out), "init": f"hf:{ckpt}",
            "lock": "text", "batch_size": 16, "steps": 12, "lr": 3e-3, "warmup": 2,
            "log_every": 2, "val": None, "checkpoint_every": 4, "threads": 1,
            "progress": False, "cache_dir": str(out.parent / "cache")}
    return TrainConfig(**{**base, **kw})


def _weights(model_dir):
    from safetensors.torch import load_file

    return load_file(f"{model_dir}/model.safetensors")


def test_the_saved_model_is_the_average_and_resuming_keeps_it(small_world, tiny_checkpoint,
                                                             tmp_path, monkeypatch,
                                                             crash_after_saving):
    averages = []
    real = WeightAverage.update
    monkeypatch.setattr(WeightAverage, "update",
                        lambda self: real(self) or averages.append(
                            {k: v.clone() for k, v in self.avg.items()}))
    plain = train(_config(small_world, tiny_checkpoint, tmp_path / "plain"))
    straight = train(_config(small_world, tiny_checkpoint, tmp_path / "straight", ema=0.8))
    assert straight.losses == plain.losses  # the average never feeds back into training
    saved, live = _weights(straight.model_dir), _weights(plain.model_dir)
    final = averages[-1]
    moved = [k for k in saved if k.startswith(("vision_model", "text_projection"))]
    assert moved and all(torch.allclose(saved[k], final[k]) for k in moved)
    assert any(not torch.allclose(saved[k], live[k]) for k in moved)
    real_save = loop_module.save_state
    monkeypatch.setattr(loop_module, "save_state", crash_after_saving(real_save, 4))
    with pytest.raises(KeyboardInterrupt):
        train(_config(small_world, tiny_checkpoint, tmp_path / "crashed", ema=0.8))
    monkeypatch.setattr(loop_module, "save_state", real_save)
    resumed = train(_config(small_world, tiny_checkpoint, tmp_path / "crashed", ema=0.8))
    assert resumed.resumed_from == 4
    ws, wr = _weights(straight.model_dir), _weights(resumed.model_dir)
    assert all(torch.equal(ws[k], wr[k]) for k in ws)


def test_validation_and_best_keeping_judge_the_average(small_world, tiny_checkpoint, tmp_path):
    import json

    kw = {"val": str(small_world / "val" / "pairs.jsonl"), "val_every": 4}
    live = train(_config(small_world, tiny_checkpoint, tmp_path / "live", **kw))
    avg = train(_config(small_world, tiny_checkpoint, tmp_path / "avg", ema=0.8, **kw))
    assert avg.losses == live.losses
    vals = [[r for r in map(json.loads, open(res.log)) if r["type"] == "val"] for res in (live, avg)]
    assert len(vals[0]) == len(vals[1]) == 3
    assert any(not np.isclose(a["mean_recall"], b["mean_recall"]) or a["t2i_R@1"] != b["t2i_R@1"]
               for a, b in zip(*vals, strict=True))
