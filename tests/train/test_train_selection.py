"""Automatic validation split, best-checkpoint keeping, early stopping, the HTML report."""

import numpy as np
import pytest
import torch

from jointspace.train import TrainConfig, train
from jointspace.train import loop as loop_module
from jointspace.train.data import PairData, split_validation


def _config(world, ckpt, out, **kw):
    base = {"data": str(world / "train" / "pairs.jsonl"), "out": str(out), "init": f"hf:{ckpt}",
            "lock": "text", "batch_size": 16, "steps": 12, "lr": 3e-3, "warmup": 2,
            "log_every": 2, "val_every": 4, "checkpoint_every": 4, "threads": 1,
            "progress": False, "cache_dir": str(out.parent / "cache")}
    return TrainConfig(**{**base, **kw})


def test_split_validation_partitions_images_with_their_captions():
    caps = [[f"c{i}-{j}" for j in range(i % 3 + 1)] for i in range(10)]
    start = np.concatenate([[0], np.cumsum([len(c) for c in caps])])
    data = PairData(np.arange(10, dtype=np.uint8).reshape(10, 1, 1, 1), sum(caps, []), start,
                    "x", "h")
    tr, va = split_validation(data, 3, seed=0)
    assert len(tr) == 7 and len(va) == 3
    assert sorted(tr.images.ravel().tolist() + va.images.ravel().tolist()) == list(range(10))
    for part in (tr, va):
        for row, img in enumerate(part.images.ravel()):
            assert part.captions[part.start[row]:part.start[row + 1]] == caps[img]
    again, _ = split_validation(data, 3, seed=0)
    other, _ = split_validation(data, 3, seed=1)
    assert np.array_equal(again.images, tr.images) and not np.array_equal(other.images, tr.images)


def test_validation_is_held_out_automatically(small_world, tiny_checkpoint, tmp_path):
    result = train(_config(small_world, tiny_checkpoint, tmp_path / "a", val_fraction=0.25))
    assert "mean_recall" in result.val and result.best["step"] in (4, 8, 12)
    none = train(_config(small_world, tiny_checkpoint, tmp_path / "b", val_fraction=0.0))
    assert none.val == {} and none.best == {}


def _scripted(values):
    """A validation_metrics stand-in returning ``values`` in turn."""
    it = iter(values)

    def fake(*_args, **_kw):
        v = next(it)
        return {"mean_recall": v, "t2i_R@1": v, "i2t_R@1": v}

    return fake


def test_the_best_validated_weights_are_kept(small_world, tiny_checkpoint, tmp_path,
                                             monkeypatch):
    from safetensors.torch import load_file

    monkeypatch.setattr(loop_module, "validation_metrics", _scripted([0.5, 0.9, 0.3]))
    result = train(_config(small_world, tiny_checkpoint, tmp_path / "a"))
    assert result.best == {"step": 8, "mean_recall": 0.9} and not result.stopped_early
    state = torch.load(tmp_path / "a" / "last.pt", weights_only=False)
    best, last = state["extra"]["best"]["weights"], state["trainable"]
    saved = load_file(f"{result.model_dir}/model.safetensors")
    assert all(torch.equal(saved[k], best[k]) for k in best)
    assert any(not torch.equal(best[k], last[k]) for k in best)  # step 8 != step 12
    html = (tmp_path / "a" / "report.html").read_text()
    assert "data:image/png;base64," in html and 'class="best"' in html


def test_early_stopping_after_patience_validations(small_world, tiny_checkpoint, tmp_path,
                                                   monkeypatch):
    monkeypatch.setattr(loop_module, "validation_metrics", _scripted([0.5, 0.4, 0.45, 0.9]))
    result = train(_config(small_world, tiny_checkpoint, tmp_path / "a", steps=40, patience=2))
    assert result.stopped_early and result.steps == 12 and result.best["step"] == 4


def test_resume_keeps_the_best_so_far(small_world, tiny_checkpoint, tmp_path, monkeypatch,
                                      crash_after_saving):
    real_save = loop_module.save_state
    monkeypatch.setattr(loop_module, "save_state", crash_after_saving(real_save, 8))
    monkeypatch.setattr(loop_module, "validation_metrics", _scripted([0.9, 0.1]))
    with pytest.raises(KeyboardInterrupt):
        train(_config(small_world, tiny_checkpoint, tmp_path / "a"))
    monkeypatch.setattr(loop_module, "save_state", real_save)
    monkeypatch.setattr(loop_module, "validation_metrics", _scripted([0.2]))
    again = train(_config(small_world, tiny_checkpoint, tmp_path / "a"))
    assert again.resumed_from == 8 and again.best == {"step": 4, "mean_recall": 0.9}


@pytest.mark.parametrize("bad", [{"keep": "worst"}, {"precision": "fp8"},
                                 {"val_fraction": 1.5}])
def test_bad_options_are_rejected(small_world, tiny_checkpoint, tmp_path, bad):
    from jointspace.errors import BadInputError

    with pytest.raises(BadInputError):
        train(_config(small_world, tiny_checkpoint, tmp_path / "x", **bad))
