"""The training loop on a tiny model and a small world: learning, determinism, resume, outputs."""

import json

import numpy as np
import pytest
import torch

from jointspace.errors import BadInputError
from jointspace.train import TrainConfig, train
from jointspace.train import loop as loop_module


def _config(world, ckpt, out, **kw):
    base = {"data": str(world / "train" / "pairs.jsonl"), "out": str(out), "init": f"hf:{ckpt}",
            "lock": "text", "batch_size": 16, "steps": 12, "lr": 3e-3, "warmup": 2,
            "log_every": 2, "val": str(world / "val" / "pairs.jsonl"), "val_every": 6,
            "checkpoint_every": 4, "threads": 1, "progress": False,
            "cache_dir": str(out.parent / "cache")}
    return TrainConfig(**{**base, **kw})


def _weights(model_dir):
    from safetensors.torch import load_file

    return load_file(f"{model_dir}/model.safetensors")


def test_loss_falls_when_overfitting_a_few_pairs(small_world, tiny_checkpoint, tmp_path):
    result = train(_config(small_world, tiny_checkpoint, tmp_path / "a", max_images=16,
                           batch_size=16, steps=60, lr=1e-2, augment="none", val=None,
                           captions_per_image=1, warmup=5))
    assert result.steps == 60 and len(result.losses) == 60
    assert np.mean(result.losses[-5:]) < 0.5 * np.mean(result.losses[:5])


def test_same_seed_same_run_and_outputs_are_written(small_world, tiny_checkpoint, tmp_path):
    a = train(_config(small_world, tiny_checkpoint, tmp_path / "a"))
    b = train(_config(small_world, tiny_checkpoint, tmp_path / "b"))
    c = train(_config(small_world, tiny_checkpoint, tmp_path / "c", seed=1))
    assert a.losses == b.losses and a.losses != c.losses
    wa, wb = _weights(a.model_dir), _weights(b.model_dir)
    assert all(torch.equal(wa[k], wb[k]) for k in wa)
    with open(a.log) as f:
        records = [json.loads(line) for line in f]
    kinds = [r["type"] for r in records]
    assert kinds[0] == "start" and kinds[-1] == "end"
    assert [r["step"] for r in records if r["type"] == "val"] == [6, 12]
    assert {"t2i_R@1", "i2t_R@5", "mean_recall"} <= set(a.val)
    with open(a.plot, "rb") as f:
        assert f.read(8) == b"\x89PNG\r\n\x1a\n"


def test_locked_text_tower_does_not_move(small_world, tiny_checkpoint, tmp_path):
    result = train(_config(small_world, tiny_checkpoint, tmp_path / "a", val=None))
    before, after = _weights(tiny_checkpoint), _weights(result.model_dir)
    moved = {k for k in before if not torch.equal(before[k], after[k])}
    assert moved and not any(k.startswith("text_model.") for k in moved)
    assert any(k.startswith("vision_model.") for k in moved)
    assert any(k.startswith("text_projection") for k in moved)


def test_resume_after_a_crash_gives_the_uninterrupted_result(small_world, tiny_checkpoint,
                                                             tmp_path, monkeypatch,
                                                             crash_after_saving):
    straight = train(_config(small_world, tiny_checkpoint, tmp_path / "straight", val=None))
    real_save = loop_module.save_state
    monkeypatch.setattr(loop_module, "save_state", crash_after_saving(real_save, 4))
    with pytest.raises(KeyboardInterrupt):
        train(_config(small_world, tiny_checkpoint, tmp_path / "crashed", val=None))
    monkeypatch.setattr(loop_module, "save_state", real_save)
    resumed = train(_config(small_world, tiny_checkpoint, tmp_path / "crashed", val=None))
    assert resumed.resumed_from == 4 and resumed.steps == 12
    assert resumed.losses == straight.losses[4:]
    ws, wr = _weights(straight.model_dir), _weights(resumed.model_dir)
    assert all(torch.equal(ws[k], wr[k]) for k in ws)
    with pytest.raises(BadInputError, match="different settings"):
        train(_config(small_world, tiny_checkpoint, tmp_path / "crashed", val=None, seed=9))


def test_siglip_loss_trains_the_bias(small_world, tiny_checkpoint, tmp_path):
    result = train(_config(small_world, tiny_checkpoint, tmp_path / "s", loss="siglip", val=None))
    bias = _weights(result.model_dir)["logit_bias"]
    assert np.isfinite(result.losses).all() and float(bias) != -10.0


def test_fine_tunes_a_clip_checkpoint_end_to_end(small_world, tiny_clip_dir, tmp_path):
    from jointspace.models import load_embedder

    result = train(_config(small_world, tiny_clip_dir, tmp_path / "clip", lock="none",
                           steps=4, val_every=4))
    assert np.isfinite(result.losses).all()
    emb = load_embedder(f"hf:{result.model_dir}", cache=False)
    assert emb.embed_texts(["a red circle"]).shape == (1, emb.dim)
    before, after = _weights(tiny_clip_dir), _weights(result.model_dir)
    assert any(not torch.equal(before[k], after[k]) for k in before if "text_model" in k)


def test_bad_settings_are_rejected(small_world, tiny_checkpoint, tmp_path):
    with pytest.raises(BadInputError, match="batch"):
        train(_config(small_world, tiny_checkpoint, tmp_path / "x", batch_size=1000))
    with pytest.raises(BadInputError, match="loss"):
        train(_config(small_world, tiny_checkpoint, tmp_path / "x", loss="triplet"))
    with pytest.raises(BadInputError, match="init"):
        train(_config(small_world, tiny_checkpoint, tmp_path / "x", init="resnet50"))


def test_lr_scales_pick_the_longest_prefix(tiny_checkpoint):
    from jointspace.train.optim import param_groups as _param_groups
    from jointspace.train.trainable import build_trainable

    t = build_trainable(f"hf:{tiny_checkpoint}", lock="text")
    cfg = TrainConfig(data="-", out="-", lr=0.01, lr_scales={"vision_model": 0.5,
                                                            "vision_model.head": 3.0})
    groups = _param_groups(t, cfg)
    lr_of = {id(p): g["lr"] for g in groups for p in g["params"]}
    decay_of = {id(p): g["weight_decay"] for g in groups for p in g["params"]}
    for name, p in t.named_trainable().items():
        want = 0.03 if name.startswith("vision_model.head") else (
            0.005 if name.startswith("vision_model") else 0.01)
        assert lr_of[id(p)] == pytest.approx(want), name
        assert decay_of[id(p)] == (cfg.weight_decay if p.ndim >= 2 else 0.0)
    assert sum(len(g["params"]) for g in groups) == len(t.named_trainable())


def test_bf16_text_cache_stays_close_to_float32(small_world, tiny_checkpoint, tmp_path):
    from jointspace.train.distributed import Dist
    from jointspace.train.loop import _setup

    def vectors(fast):
        cfg = _config(small_world, tiny_checkpoint, tmp_path / f"f{fast}", fast_text=fast,
                      val=None, cache_dir=str(tmp_path / f"cache{fast}"))
        return _setup(cfg, Dist()).text

    a, b = vectors(False), vectors(True)
    cos = torch.nn.functional.cosine_similarity(a, b, dim=-1)
    assert a.shape == b.shape and not torch.equal(a, b) and cos.min() > 0.999


def test_matryoshka_training_runs_and_logs(small_world, tiny_checkpoint, tmp_path):
    plain = train(_config(small_world, tiny_checkpoint, tmp_path / "p", val=None, steps=4))
    nested = train(_config(small_world, tiny_checkpoint, tmp_path / "m", val=None, steps=4,
                           matryoshka=[2, 4]))
    assert np.isfinite(nested.losses).all() and nested.losses != plain.losses


def test_hard_groups_change_the_batches_and_are_checked(small_world, tiny_checkpoint, tmp_path,
                                                        monkeypatch):
    from jointspace.worlds.evaluate import read_rows
    from jointspace.worlds.groups import image_groups

    # two big groups (colour parity), so a batch tail never needs topping up from other images
    groups = image_groups(read_rows(small_world, "train")) % 2
    assert min(np.bincount(groups)) > 30
    path = tmp_path / "groups.npy"
    np.save(path, groups)
    plain = train(_config(small_world, tiny_checkpoint, tmp_path / "a", val=None))
    hard = train(_config(small_world, tiny_checkpoint, tmp_path / "b", val=None,
                         hard_groups=str(path)))
    again = train(_config(small_world, tiny_checkpoint, tmp_path / "c", val=None,
                          hard_groups=str(path)))
    assert hard.losses != plain.losses and hard.losses == again.losses
    seen = []
    real = loop_module.hard_batch
    monkeypatch.setattr(loop_module, "hard_batch",
                        lambda *a, **k: seen.append(real(*a, **k)) or seen[-1])
    train(_config(small_world, tiny_checkpoint, tmp_path / "d", hard_groups=str(path),
                  val=None, steps=3, hard_fraction=0.5))
    # --val-fraction held some images out: groups follow the kept ones; each tail is one group
    assert len(seen) == 3 and all(len(set(groups_of.tolist())) == 1 for groups_of in
                                  (_kept(groups, 0.05, 1000)[b[8:]] for b in seen))
    np.save(path, groups[:-1])
    with pytest.raises(BadInputError, match="hard-groups"):
        train(_config(small_world, tiny_checkpoint, tmp_path / "e", hard_groups=str(path)))


def test_positive_groups_add_positives_and_are_checked(small_world, tiny_checkpoint, tmp_path,
                                                       monkeypatch):
    n = len((small_world / "train" / "pairs.jsonl").read_text().splitlines())
    ids = np.arange(n) % 3  # three big groups: a batch of 16 holds many same-id pairs
    path = tmp_path / "same.npy"
    np.save(path, ids)
    batches, masks = [], []
    real_batch, real_loss = loop_module.batch_images, loop_module.contrastive_loss
    monkeypatch.setattr(loop_module, "batch_images",
                        lambda *a, **k: batches.append(real_batch(*a, **k)) or batches[-1])
    monkeypatch.setattr(loop_module, "contrastive_loss",
                        lambda *a: masks.append(a[-1]) or real_loss(*a))
    plain = train(_config(small_world, tiny_checkpoint, tmp_path / "a", val=None, steps=4))
    grouped = train(_config(small_world, tiny_checkpoint, tmp_path / "b", val=None, steps=4,
                            positive_groups=str(path)))
    assert grouped.losses != plain.losses and len(masks) == 8
    kept = _kept(ids, 0.05, 1000)  # --val-fraction held some images out: ids follow the kept ones
    assert [b.tolist() for b in batches[:4]] == [b.tolist() for b in batches[4:]]
    for idx, caption_mask, mask in zip(batches[4:], masks[:4], masks[4:], strict=True):
        same_id = torch.from_numpy(kept[idx][:, None] == kept[idx][None, :])
        assert (same_id & ~caption_mask).any()  # pairs the captions alone did not mark
        assert torch.equal(mask, caption_mask | same_id)
    np.save(path, ids[:-1])
    with pytest.raises(BadInputError, match="positive-groups"):
        train(_config(small_world, tiny_checkpoint, tmp_path / "c", positive_groups=str(path)))


def _kept(groups, fraction, max_val):
    from jointspace.train.data import held_out_mask

    n_val = min(max_val, max(1, round(fraction * len(groups))))
    return groups[~held_out_mask(len(groups), n_val, 0)]


@pytest.mark.slow
def test_compiled_image_tower_trains_like_the_eager_one(small_world, tiny_checkpoint, tmp_path):
    eager = train(_config(small_world, tiny_checkpoint, tmp_path / "eager", steps=4, val=None))
    compiled = train(_config(small_world, tiny_checkpoint, tmp_path / "compiled", steps=4,
                             val=None, compile=True))
    # the same maths: inductor may reorder float sums, nothing more
    np.testing.assert_allclose(compiled.losses, eager.losses, rtol=1e-3, atol=1e-4)
    records = [json.loads(line) for line in open(compiled.log)]
    compiled_at = [r for r in records if r.get("type") == "compile"]
    assert len(compiled_at) == 1 and compiled_at[0]["seconds"] > 0
    assert not any(r.get("type") == "compile" for r in map(json.loads, open(eager.log)))


def test_a_failing_compile_falls_back_to_eager_training(small_world, tiny_checkpoint, tmp_path,
                                                        monkeypatch):
    def broken_compile(fn):
        def run(*args):
            raise RuntimeError("no working C++ compiler")
        return run

    monkeypatch.setattr(torch, "compile", broken_compile)
    eager = train(_config(small_world, tiny_checkpoint, tmp_path / "eager", steps=3, val=None))
    with pytest.warns(RuntimeWarning, match="training the image tower eagerly"):
        fallback = train(_config(small_world, tiny_checkpoint, tmp_path / "fallback", steps=3,
                                 val=None, compile=True))
    np.testing.assert_allclose(fallback.losses, eager.losses, rtol=1e-6)


def test_extra_texts_join_the_image_to_text_candidates(small_world, tiny_checkpoint, tmp_path,
                                                       monkeypatch):
    n = len((small_world / "train" / "pairs.jsonl").read_text().splitlines())
    ids = np.arange(n) % 3  # three big groups: many extra texts share an image's id
    path = tmp_path / "same.npy"
    np.save(path, ids)
    batches, extras, calls = [], [], []
    real_batch, real_extra = loop_module.batch_images, loop_module.extra_images
    real_loss = loop_module.contrastive_loss
    monkeypatch.setattr(loop_module, "batch_images",
                        lambda *a, **k: batches.append(real_batch(*a, **k)) or batches[-1])
    monkeypatch.setattr(loop_module, "extra_images",
                        lambda *a, **k: extras.append(real_extra(*a, **k)) or extras[-1])
    monkeypatch.setattr(loop_module, "contrastive_loss",
                        lambda *a: calls.append((a[2].shape, a[-1])) or real_loss(*a))
    cfg = {"val": None, "steps": 3, "positive_groups": str(path), "extra_texts": 8}
    first = train(_config(small_world, tiny_checkpoint, tmp_path / "a", **cfg))
    again = train(_config(small_world, tiny_checkpoint, tmp_path / "b", **cfg))
    plain = train(_config(small_world, tiny_checkpoint, tmp_path / "c", val=None, steps=3,
                          positive_groups=str(path)))
    assert first.losses == again.losses != plain.losses
    kept = _kept(ids, 0.05, 1000)
    for idx, more, (shape, mask) in zip(batches[:3], extras[:3], calls[:3], strict=True):
        assert len(more) == 8 and shape == (16 + 8, shape[1])  # 16 batch texts + 8 extra
        assert mask.shape == (16, 24)
        same_id = torch.from_numpy(kept[idx][:, None] == kept[more][None, :])
        assert same_id.any() and torch.equal(mask[:, 16:] & same_id, same_id)
    with pytest.raises(BadInputError, match="extra-texts"):
        train(_config(small_world, tiny_checkpoint, tmp_path / "d", extra_texts=8, lock="none"))
    with pytest.raises(BadInputError, match="extra-texts"):
        train(_config(small_world, tiny_checkpoint, tmp_path / "e", extra_texts=8, stream=True))
