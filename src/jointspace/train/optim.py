"""The optimiser's settings: AdamW parameter groups and the learning-rate schedule."""

from __future__ import annotations

import math

import torch

from jointspace.train.config import TrainConfig
from jointspace.train.trainable import Trainable


def param_groups(t: Trainable, config: TrainConfig) -> list[dict]:
    """AdamW groups: decay on matrices only; lr scaled by the longest matching name prefix."""
    groups: dict[tuple[float, bool], list[torch.nn.Parameter]] = {}
    for name, p in t.named_trainable().items():
        prefixes = [k for k in config.lr_scales if name.startswith(k)]
        scale = config.lr_scales[max(prefixes, key=len)] if prefixes else 1.0
        groups.setdefault((scale, p.ndim >= 2), []).append(p)
    return [{"params": ps, "lr": config.lr * scale,
             "weight_decay": config.weight_decay if decay else 0.0}
            for (scale, decay), ps in groups.items()]


def schedule(warmup: int, total: int):
    def factor(step: int) -> float:
        if step < warmup:
            return (step + 1) / warmup
        progress = (step - warmup) / max(1, total - warmup)
        return 0.5 * (1 + math.cos(math.pi * min(progress, 1.0)))

    return factor
