"""``train(config) -> TrainResult``: contrastive training of a dual encoder, one or N processes."""

from __future__ import annotations

import math
import os
import time
from collections.abc import Callable
from contextlib import nullcontext
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import torch
import torch.nn.functional as F

from jointspace.errors import BadInputError
from jointspace.train import distributed as D
from jointspace.train.batches import (
    batch_captions,
    batch_images,
    extra_images,
    group_members,
    hard_batch,
    same_caption_mask,
    shift_nhwc,
    shift_offsets,
)
from jointspace.train.checkpoint import load_state, save_state
from jointspace.train.compiled import Compiled
from jointspace.train.config import TrainConfig, TrainResult, out_of_range
from jointspace.train.data import (
    PairData,
    held_out_mask,
    load_pair_data,
    normalise,
    split_validation,
)
from jointspace.train.ema import WeightAverage
from jointspace.train.logs import RunLog, plot_log, progress_bar, write_report
from jointspace.train.losses import LOSSES, contrastive_loss, matryoshka_loss
from jointspace.train.optim import param_groups, schedule
from jointspace.train.selection import BestKeeper
from jointspace.train.text_cache import caption_ids, frozen_text_vectors
from jointspace.train.trainable import Trainable, build_trainable

if TYPE_CHECKING:
    from jointspace.train.streaming import StreamData
from jointspace.train.validate import validation_metrics

MAX_LOGIT_SCALE = math.log(100.0)  # CLIP's clamp: temperature never below 0.01


@dataclass
class _Setup:
    t: Trainable
    data: PairData | StreamData  # StreamData: --stream (see streaming.py)
    val: PairData | None
    text: torch.Tensor | None  # frozen vectors of distinct captions (train + val), locked text
    ids: np.ndarray  # train caption -> row of ``text`` / distinct caption id
    val_ids: np.ndarray | None
    unique: list[str]
    groups: np.ndarray | None = None  # hard-negative group id per training image
    same: np.ndarray | None = None  # --positive-groups id per training image


def train(config: TrainConfig) -> TrainResult:
    """Train as configured; resumes from ``out/last.pt`` when present (see TrainConfig.resume)."""
    _check(config)
    d = D.init_from_env()
    try:
        return _train(config, d)
    finally:
        D.shutdown(d)


def _check(config: TrainConfig) -> None:
    for name, allowed in (("loss", LOSSES), ("precision", ("fp32", "bf16")),
                          ("keep", ("best", "last")), ("augment", ("shift", "none")),
                          ("positives", ("caption", "pair"))):
        if getattr(config, name) not in allowed:
            raise BadInputError(f"unknown --{name} {getattr(config, name)!r}",
                                hint=f"use one of {', '.join(allowed)}")
    if (problem := out_of_range(config.to_dict())) is not None:
        raise BadInputError(problem, hint="see `jointspace train --help` for each setting's range")
    if config.extra_texts and config.stream:
        raise BadInputError("--extra-texts needs in-memory data, not --stream",
                            hint="drop --stream, or --extra-texts 0")
    if not 0 <= config.val_fraction < 1:
        raise BadInputError(f"--val-fraction must be in [0, 1), got {config.val_fraction}",
                            hint="e.g. --val-fraction 0.05, or 0 for no validation")


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
    # fused: one kernel for all parameters (same maths as the foreach implementation)
    optimizer = torch.optim.AdamW(param_groups(s.t, config), lr=config.lr, fused=True)
    factor = schedule(config.warmup, total)
    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, factor)
    last = out / "last.pt"
    start = 0
    best = BestKeeper(config.patience)
    ema = WeightAverage(s.t.named_trainable(), config.ema) if config.ema else None
    if config.resume and last.is_file():
        start, extra = load_state(last, s.t.named_trainable(), optimizer, scheduler,
                                  config.to_dict(), total)
        best.load(extra.get("best"))
        if ema is not None:
            ema.load(extra.get("ema"))
    log = RunLog(out / "log.jsonl", enabled=d.main)
    log.write("start", step=start, total_steps=total, images=n, captions=len(s.data.captions),
              distinct_captions=len(s.unique), world=d.world, config=config.to_dict())
    setup_seconds = time.perf_counter() - t_setup

    if config.stream:
        from jointspace.train.streaming import stream_step_fn

        step_fn = stream_step_fn(s, config, d, optimizer, scheduler, batch, start)
    else:
        step_fn = _StepFn(s, config, d, optimizer, scheduler, batch)
    s.t.train_mode(True)
    losses: list[float] = []
    val: dict[str, float] = {}
    t0 = time.perf_counter()
    aside = 0.0  # seconds validating, checkpointing or compiling in the loop (not optimising)
    step = start
    stopped = False

    def checkpoint() -> None:
        save_state(last, step, s.t.named_trainable(), optimizer, scheduler, config.to_dict(),
                   total, extra={"best": best.state(), "ema": ema and ema.state()})

    with progress_bar(config.progress and d.main, total, start) as update:
        while step < total and not stopped:
            t_step = time.perf_counter()
            losses.append(step_fn(step))
            if ema is not None:
                ema.update()
            if config.compile and step == start:  # the first call compiled the image tower
                aside += time.perf_counter() - t_step
                log.write("compile", step=step, seconds=round(time.perf_counter() - t_step, 2))
            step += 1
            if config.stream:  # epochs of the stream that ended in this step
                for record in step_fn.batches.finished:
                    log.write("epoch", step=step, **record)
                step_fn.batches.finished.clear()
            if step % config.log_every == 0 or step == total:
                elapsed = time.perf_counter() - t0
                log.write("train", step=step, epoch=round(step * batch / n, 3),
                          loss=round(float(np.mean(losses[-config.log_every:])), 5),
                          lr=round(config.lr * factor(step), 8), **_scales(s.t),
                          samples_per_s=round((step - start) * batch / max(elapsed - aside,
                                                                            1e-9), 1),
                          elapsed=round(elapsed, 2))
            t_aside = time.perf_counter()
            if s.val is not None and (step % config.val_every == 0 or step == total):
                if d.main:  # validation runs on the first process, which decides to stop
                    with ema.applied() if ema else nullcontext():  # --ema: the average is judged
                        val = validation_metrics(s.t, s.val, lambda rows: _val_text(s, rows))
                        log.write("val", step=step,
                                  best=best.update(step, val, s.t.named_trainable()), **val)
                    plot_log(out / "log.jsonl", out / "training.png")
                stopped = D.from_first(best.should_stop, d)
            if d.main and (step % config.checkpoint_every == 0 or step == total or stopped):
                checkpoint()
            aside += time.perf_counter() - t_aside
            update(step, loss=losses[-1], **({"R@1": val["t2i_R@1"]} if val else {}))
            if config.max_seconds and time.perf_counter() - t0 > config.max_seconds:
                break
    train_seconds = time.perf_counter() - t0
    model_dir = out / "model"
    plot = None
    report = None
    if d.main:
        if step != total and step % config.checkpoint_every and not stopped:
            checkpoint()
        if config.keep == "best" and best.weights:
            best.restore(s.t.named_trainable())  # model/ holds the best validated weights
        elif ema is not None:
            ema.write()  # model/ holds the average
        s.t.save(str(model_dir))
        plot = plot_log(out / "log.jsonl", out / "training.png")
        log.write("end", step=step, train_seconds=round(train_seconds, 2), val=val,
                  best=best.summary(), stopped_early=stopped)
        report = write_report(out / "log.jsonl", out / "report.html", plot)
    D.barrier(d)
    done = step - start
    return TrainResult(
        out=str(out), model_dir=str(model_dir), steps=step, epochs=round(step * batch / n, 3),
        train_seconds=round(train_seconds, 2), setup_seconds=round(setup_seconds, 2),
        # optimisation throughput: validation, checkpoint and compile time are not samples
        samples_per_s=round(done * batch / max(train_seconds - aside, 1e-9), 1),
        final_loss=round(float(np.mean(losses[-config.log_every:])), 5) if losses else None,
        val=val, log=str(out / "log.jsonl"),
        plot=str(plot) if plot else None,
        resumed_from=start, best=best.summary(), stopped_early=stopped,
        report=str(report) if report else None, losses=losses)


class _StepFn:
    """One optimisation step on the global batch of ``step`` (this process embeds its slice)."""

    def __init__(self, s: _Setup, config: TrainConfig, d: D.Dist, optimizer, scheduler,
                 batch: int) -> None:
        self.s, self.config, self.d = s, config, d
        self.optimizer, self.scheduler, self.batch = optimizer, scheduler, batch
        # channels-last uint8 once: a batch is gathered, shifted and scaled already in the
        # layout the convolutions want (4x less memory traffic than shifting float pixels)
        self.local = d.local_slice(batch)
        self.bf16 = config.precision == "bf16"
        self.max_shift = 0
        if config.extra_texts and (s.text is None or config.extra_texts % d.world):
            raise BadInputError("--extra-texts needs cached text vectors (a locked text tower) "
                                f"and a multiple of the {d.world} process(es)",
                                hint="use --lock text and e.g. --extra-texts 1024")
        if isinstance(s.data, PairData):  # else streamed (see streaming.py)
            self.images = torch.from_numpy(s.data.images).permute(0, 2, 3, 1).contiguous()
            self.max_shift = s.data.images.shape[-1] // 16 if config.augment == "shift" else 0
        self.members = group_members(s.groups) if s.groups is not None else None
        # compiled once, here: validation and saving keep using the eager tower
        self.image_features = Compiled(self._embed) if config.compile else self._embed
        self.params = s.t.parameters()
        self.loss_params = {id(p) for p in (s.t.logit_scale, s.t.logit_bias) if p is not None}

    def __call__(self, step: int) -> float:
        s, config, local = self.s, self.config, self.local
        idx = batch_images(step, len(s.data), self.batch, config.seed)
        if self.members is not None:
            idx = hard_batch(step, idx, self.members, config.hard_fraction, config.seed)
        caps = batch_captions(step, idx, s.data.start, config.seed)
        pixels = (self.shift(step, self.images, idx[local]) if self.max_shift
                  else self.images[idx[local]])  # (b, h, w, 3) uint8
        more = extra_images(step, len(s.data), config.extra_texts, config.seed)  # (m,)
        extra = batch_captions(step, more, s.data.start, config.seed, stream=5)
        texts, images = np.concatenate([caps, extra]), np.concatenate([idx, more])  # (b + m,)
        positives = (same_caption_mask(s.ids[caps], s.ids[texts])
                     if config.positives == "caption" else None)
        if s.same is not None:  # the same objects under other captions: pairs too
            same = same_caption_mask(s.same[idx], s.same[images])
            positives = same if positives is None else positives | same
        rows = extra[self.d.local_slice(len(extra))]
        return self.optimise(step, pixels, lambda: _text(s, caps[local]), positives,
                             (lambda: _text(s, rows)) if len(extra) else None)

    def _embed(self, pixels: torch.Tensor) -> torch.Tensor:
        """Image tower features of uint8 (b, h, w, 3) pixels, scaled in the same (compiled)
        region."""
        x = normalise(pixels.permute(0, 3, 1, 2), self.s.t.processor)  # (b, 3, h, w) chan-last
        return self.s.t.image_features(x)

    def shift(self, step: int, pixels: torch.Tensor,
              images: np.ndarray | None = None) -> torch.Tensor:
        """This process's part of the step's random translation of uint8 (n, h, w, 3) pixels
        (of rows ``images`` of them when given)."""
        offsets = shift_offsets(step, self.batch, self.max_shift, self.config.seed)
        return shift_nhwc(pixels, offsets[self.local], images)

    def optimise(self, step: int, pixels: torch.Tensor, text: Callable[[], torch.Tensor],
                 positives: torch.Tensor | None,
                 extra: Callable[[], torch.Tensor] | None = None) -> float:
        """One update from this process's uint8 (b, h, w, 3) pixels, already augmented, and its
        text embeddings (``text()``, called after the image tower: the order the forward passes
        always ran);
        ``extra()``: its part of the --extra-texts, image->text candidates after the batch's."""
        s, config, d = self.s, self.config, self.d
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=self.bf16):
            img = self.image_features(pixels)
        img = F.normalize(img.float(), dim=-1)  # (b, dim)
        txt = F.normalize(text(), dim=-1)  # (b, dim)
        img_all, txt_all = D.gather_with_grad(img, d), D.gather_with_grad(txt, d)  # (B, dim)
        if extra is not None:  # (B + m, dim)
            txt_all = torch.cat([txt_all, D.gather_with_grad(F.normalize(extra(), dim=-1), d)])
        if config.matryoshka:
            loss = matryoshka_loss(config.loss, img_all, txt_all, s.t.logit_scale,
                                   s.t.logit_bias, positives, config.matryoshka)
        else:
            loss = contrastive_loss(config.loss, img_all, txt_all, s.t.logit_scale,
                                    s.t.logit_bias, positives)
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
    if config.stream:
        from jointspace.train.streaming import StreamData

        data: PairData | StreamData = StreamData(config.data)  # read while training
    else:
        data = load_pair_data(config.data, t.processor, split=config.split,
                              captions_per_image=config.captions_per_image,
                              max_images=config.max_images, cache_dir=cache)
    val = (load_pair_data(config.val, t.processor, split=config.val_split,
                          max_images=config.val_images, cache_dir=cache) if config.val else None)
    groups, same = (_image_ids(config, flag, path, len(data)) if path else None
                    for flag, path in (("--hard-groups", config.hard_groups),
                                       ("--positive-groups", config.positive_groups)))
    if val is None and config.val_fraction > 0 and not config.stream:
        n_val = min(config.val_images, max(1, round(config.val_fraction * len(data))))
        if len(data) - n_val >= config.batch_size:  # else too small to spare any: no validation
            keep = ~held_out_mask(len(data), n_val, config.seed)
            groups, same = (None if g is None else g[keep] for g in (groups, same))
            data, val = split_validation(data, n_val, config.seed)
    unique, ids = caption_ids(data.captions + (val.captions if val else []))
    text = None
    if t.lock == "text" and unique:
        t.train_mode(False)
        key = _text_key(config, t)
        def embed(texts: list[str]) -> torch.Tensor:
            with torch.autocast("cpu", dtype=torch.bfloat16, enabled=config.fast_text):
                return t.text_frozen(t.tokenize(texts)).float()

        text = frozen_text_vectors(unique, embed, model_key=f"{key}|bf16={config.fast_text}",
                                   cache_dir=cache)
    n_train = len(data.captions)
    return _Setup(t, data, val, text, ids[:n_train], ids[n_train:] if val else None, unique,
                  groups, same)


def _image_ids(config: TrainConfig, flag: str, path_text: str, n: int) -> np.ndarray:
    """The ids file of ``flag`` (--hard-groups, --positive-groups), checked: one non-negative
    int per training image."""
    import json

    path = Path(path_text)
    hint = "write one integer id per training image, in --data order (.npy or .json)"
    if config.stream:
        raise BadInputError(f"{flag} needs in-memory data, not --stream", hint=hint)
    try:
        raw = np.load(path) if path.suffix == ".npy" else json.loads(path.read_text())
    except (OSError, ValueError) as exc:
        raise BadInputError(f"cannot read {flag} {path}: {exc}", hint=hint) from None
    ids = np.asarray(raw)
    if ids.shape != (n,) or ids.dtype.kind not in "iu" or (n and ids.min() < 0):
        raise BadInputError(f"{flag} {path} holds {ids.shape} {ids.dtype} values, "
                            f"expected {n} non-negative integers", hint=hint)
    return ids.astype(np.int64)


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
