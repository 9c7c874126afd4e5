"""``train(config) -> TrainResult``: contrastive training of a dual encoder, one or N processes."""

from __future__ import annotations

import math
import os
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from jointspace.errors import BadInputError
from jointspace.train import distributed as D
from jointspace.train.batches import (
    batch_captions,
    batch_images,
    same_caption_mask,
    shift_images,
    shift_offsets,
)
from jointspace.train.checkpoint import load_state, save_state
from jointspace.train.config import TrainConfig, TrainResult
from jointspace.train.data import PairData, load_pair_data, normalise
from jointspace.train.logs import RunLog, plot_log, progress_bar
from jointspace.train.losses import LOSSES, contrastive_loss
from jointspace.train.text_cache import caption_ids, frozen_text_vectors
from jointspace.train.trainable import Trainable, build_trainable
from jointspace.train.validate import validation_metrics

MAX_LOGIT_SCALE = math.log(100.0)  # CLIP's clamp: temperature never below 0.01


@dataclass
class _Setup:
    t: Trainable
    data: PairData
    val: PairData | None
    text: torch.Tensor | None  # frozen vectors of distinct captions (train + val), locked text
    ids: np.ndarray  # train caption -> row of ``text`` / distinct caption id
    val_ids: np.ndarray | None
    unique: list[str]


def train(config: TrainConfig) -> TrainResult:
    """Train as configured; resumes from ``out/last.pt`` when present (see TrainConfig.resume)."""
    if config.loss not in LOSSES:
        raise BadInputError(f"unknown loss {config.loss!r}", hint=f"use one of {', '.join(LOSSES)}")
    d = D.init_from_env()
    try:
        return _train(config, d)
    finally:
        D.shutdown(d)


def _train(config: TrainConfig, d: D.Dist) -> TrainResult:
    local_world = int(os.environ.get("LOCAL_WORLD_SIZE", d.world))
    torch.set_num_threads(config.threads or max(1, (os.cpu_count() or 1) // local_world))
    out = Path(config.out)
    out.mkdir(parents=True, exist_ok=True)
    t_setup = time.perf_counter()
    s = _setup(config, d)
    n, batch = len(s.data), config.batch_size
    if batch % d.world or batch > n:
        raise BadInputError(
            f"--batch-size {batch} must divide by {d.world} process(es) and be at most the "
            f"{n} training images", hint="pick a smaller batch or add data")
    total = config.steps or max(1, round(config.epochs * (n // batch)))
    D.broadcast_parameters(s.t.parameters(), d)
    optimizer = torch.optim.AdamW(_param_groups(s.t, config), lr=config.lr)
    factor = _schedule(config.warmup, total)
    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, factor)
    last = out / "last.pt"
    start = 0
    if config.resume and last.is_file():
        start = load_state(last, s.t.named_trainable(), optimizer, scheduler, config.to_dict(), total)
    log = RunLog(out / "log.jsonl", enabled=d.main)
    log.write("start", step=start, total_steps=total, images=n, captions=len(s.data.captions),
              distinct_captions=len(s.unique), world=d.world, config=config.to_dict())
    setup_seconds = time.perf_counter() - t_setup

    step_fn = _StepFn(s, config, d, optimizer, scheduler, batch)
    s.t.train_mode(True)
    losses: list[float] = []
    val: dict[str, float] = {}
    t0 = time.perf_counter()
    aside = 0.0  # seconds spent validating and checkpointing inside the loop (not optimising)
    step = start
    with progress_bar(config.progress and d.main, total, start) as update:
        while step < total:
            losses.append(step_fn(step))
            step += 1
            if step % config.log_every == 0 or step == total:
                elapsed = time.perf_counter() - t0
                log.write("train", step=step, epoch=round(step * batch / n, 3),
                          loss=round(float(np.mean(losses[-config.log_every:])), 5),
                          lr=round(config.lr * factor(step), 8), **_scales(s.t),
                          samples_per_s=round((step - start) * batch / max(elapsed - aside,
                                                                            1e-9), 1),
                          elapsed=round(elapsed, 2))
            t_aside = time.perf_counter()
            if s.val is not None and d.main and (step % config.val_every == 0 or step == total):
                val = validation_metrics(s.t, s.val, lambda rows: _val_text(s, rows))
                log.write("val", step=step, **val)
                plot_log(out / "log.jsonl", out / "training.png")
            if d.main and (step % config.checkpoint_every == 0 or step == total):
                save_state(last, step, s.t.named_trainable(), optimizer, scheduler,
                           config.to_dict(), total)
            aside += time.perf_counter() - t_aside
            update(step, loss=losses[-1], **({"R@1": val["t2i_R@1"]} if val else {}))
            if config.max_seconds and time.perf_counter() - t0 > config.max_seconds:
                break
    train_seconds = time.perf_counter() - t0
    model_dir = out / "model"
    plot = None
    if d.main:
        if step != total and step % config.checkpoint_every:
            save_state(last, step, s.t.named_trainable(), optimizer, scheduler, config.to_dict(),
                       total)
        s.t.save(str(model_dir))
        plot = plot_log(out / "log.jsonl", out / "training.png")
        log.write("end", step=step, train_seconds=round(train_seconds, 2), val=val)
    D.barrier(d)
    done = step - start
    return TrainResult(
        out=str(out), model_dir=str(model_dir), steps=step, epochs=round(step * batch / n, 3),
        train_seconds=round(train_seconds, 2), setup_seconds=round(setup_seconds, 2),
        # optimisation throughput: validation and checkpoint time are not training samples
        samples_per_s=round(done * batch / max(train_seconds - aside, 1e-9), 1),
        final_loss=round(float(np.mean(losses[-config.log_every:])), 5) if losses else None,
        val=val, log=str(out / "log.jsonl"),
        plot=str(plot) if plot else None,
        resumed_from=start, losses=losses)


class _StepFn:
    """One optimisation step on the global batch of ``step`` (this process embeds its slice)."""

    def __init__(self, s: _Setup, config: TrainConfig, d: D.Dist, optimizer, scheduler,
                 batch: int) -> None:
        self.s, self.config, self.d = s, config, d
        self.optimizer, self.scheduler, self.batch = optimizer, scheduler, batch
        self.images = torch.from_numpy(s.data.images)
        self.local = d.local_slice(batch)
        self.max_shift = s.data.images.shape[-1] // 16 if config.augment == "shift" else 0
        self.params = s.t.parameters()
        self.loss_params = {id(p) for p in (s.t.logit_scale, s.t.logit_bias) if p is not None}

    def __call__(self, step: int) -> float:
        s, config, d, local = self.s, self.config, self.d, self.local
        idx = batch_images(step, len(s.data), self.batch, config.seed)
        caps = batch_captions(step, idx, s.data.start, config.seed)
        pixels = normalise(self.images[idx[local]], s.t.processor)
        if self.max_shift:
            offsets = shift_offsets(step, self.batch, self.max_shift, config.seed)
            pixels = shift_images(pixels, offsets[local])
        img = F.normalize(s.t.image_features(pixels), dim=-1)  # (b, dim)
        txt = F.normalize(_text(s, caps[local]), dim=-1)  # (b, dim)
        img_all, txt_all = D.gather_with_grad(img, d), D.gather_with_grad(txt, d)  # (B, dim)
        positives = same_caption_mask(s.ids[caps]) if config.positives == "caption" else None
        loss = contrastive_loss(config.loss, img_all, txt_all, s.t.logit_scale, s.t.logit_bias,
                                positives)
        self.optimizer.zero_grad(set_to_none=True)
        loss.backward()
        if d.world > 1:  # the loss-level scalars got the full gradient on every process
            for p in self.params:
                if id(p) in self.loss_params and p.grad is not None:
                    p.grad /= d.world
        D.sum_gradients(self.params, d)
        self.optimizer.step()
        self.scheduler.step()
        with torch.no_grad():
            s.t.logit_scale.clamp_(0, MAX_LOGIT_SCALE)
        return loss.item()


def _scales(t: Trainable) -> dict[str, float | None]:
    bias = t.logit_bias
    return {"logit_scale": round(t.logit_scale.item(), 4),
            "logit_bias": None if bias is None else round(bias.item(), 4)}


def _setup(config: TrainConfig, d: D.Dist) -> _Setup:
    t = build_trainable(config.init, lock=config.lock, loss=config.loss, seed=config.seed,
                        text_model=config.text_model, overrides=config.recipe_overrides)
    cache = config.cache_dir or str(Path(config.out) / "cache")
    data = load_pair_data(config.data, t.processor, split=config.split,
                          captions_per_image=config.captions_per_image,
                          max_images=config.max_images, cache_dir=cache)
    val = (load_pair_data(config.val, t.processor, split=config.val_split,
                          max_images=config.val_images, cache_dir=cache) if config.val else None)
    unique, ids = caption_ids(data.captions + (val.captions if val else []))
    text = None
    if t.lock == "text":
        t.train_mode(False)
        key = _text_key(config, t)
        def embed(texts: list[str]) -> torch.Tensor:
            with torch.autocast("cpu", dtype=torch.bfloat16, enabled=config.fast_text):
                return t.text_frozen(t.tokenize(texts)).float()

        text = frozen_text_vectors(unique, embed, model_key=f"{key}|bf16={config.fast_text}",
                                   cache_dir=cache)
    n_train = len(data.captions)
    return _Setup(t, data, val, text, ids[:n_train], ids[n_train:] if val else None, unique)


def _text_key(config: TrainConfig, t: Trainable) -> str:
    """What the frozen text vectors depend on: the text tower's weights and its pooling."""
    cfg = t.model.config
    if config.init.startswith("recipe:"):
        source = config.text_model or "all-MiniLM-L6-v2 (package)"
    else:
        weights = Path(config.init[3:]) / "model.safetensors"
        stat = weights.stat() if weights.is_file() else None
        source = f"{config.init}|{stat.st_size if stat else ''}|{stat.st_mtime_ns if stat else ''}"
    return (f"{source}|{getattr(cfg, 'text_pooling', '')}|{getattr(cfg, 'text_normalize', '')}"
            f"|{t.native}")


def _text(s: _Setup, caption_rows: np.ndarray) -> torch.Tensor:
    if s.text is not None:
        return s.t.text_head(s.text[torch.from_numpy(s.ids[caption_rows])])
    return s.t.text_features(s.t.tokenize([s.data.captions[i] for i in caption_rows]))


def _val_text(s: _Setup, rows: list[int]) -> torch.Tensor:
    assert s.val is not None and s.val_ids is not None
    if s.text is not None:
        return s.t.text_head(s.text[torch.from_numpy(s.val_ids[rows])])
    return s.t.text_features(s.t.tokenize([s.val.captions[i] for i in rows]))


def _param_groups(t: Trainable, config: TrainConfig) -> list[dict]:
    """AdamW groups: decay on matrices only; lr scaled by the longest matching name prefix."""
    groups: dict[tuple[float, bool], list[torch.nn.Parameter]] = {}
    for name, p in t.named_trainable().items():
        prefixes = [k for k in config.lr_scales if name.startswith(k)]
        scale = config.lr_scales[max(prefixes, key=len)] if prefixes else 1.0
        groups.setdefault((scale, p.ndim >= 2), []).append(p)
    return [{"params": ps, "lr": config.lr * scale,
             "weight_decay": config.weight_decay if decay else 0.0}
            for (scale, decay), ps in groups.items()]


def _schedule(warmup: int, total: int):
    def factor(step: int) -> float:
        if step < warmup:
            return (step + 1) / warmup
        progress = (step - warmup) / max(1, total - warmup)
        return 0.5 * (1 + math.cos(math.pi * min(progress, 1.0)))

    return factor
