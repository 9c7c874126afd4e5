"""Resumable training state in ``out/last.pt``: trainable weights, optimiser, schedule, step.

Locked towers are not stored: they are rebuilt from ``--init`` unchanged. Everything a step
depends on besides this state is a function of (seed, step) (see ``batches.py``).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import torch

from jointspace.errors import BadInputError

# Settings that must match to continue a run; others (e.g. logging cadence) may change.
_MUST_MATCH = ("data", "init", "split", "loss", "lock", "batch_size", "seed", "captions_per_image",
               "max_images", "positives", "positive_groups", "extra_texts", "augment", "lr",
               "weight_decay", "warmup", "lr_scales", "recipe_overrides", "val", "val_split",
               "val_fraction", "val_images", "matryoshka", "precision", "ema")


def save_state(path: Path, step: int, trainable: dict[str, torch.nn.Parameter],
               optimizer: torch.optim.Optimizer, scheduler: Any, config: dict[str, Any],
               total_steps: int, extra: dict[str, Any] | None = None) -> None:
    """Write atomically (a kill mid-write leaves the previous checkpoint intact)."""
    state = {
        "step": step,
        "total_steps": total_steps,
        "trainable": {k: p.detach().clone() for k, p in trainable.items()},
        "optimizer": optimizer.state_dict(),
        "scheduler": scheduler.state_dict(),
        "config": config,
        "extra": extra or {},  # e.g. the best weights so far (see selection.BestKeeper)
    }
    tmp = path.with_suffix(".tmp")
    torch.save(state, tmp)
    os.replace(tmp, path)


def load_state(path: Path, trainable: dict[str, torch.nn.Parameter],
               optimizer: torch.optim.Optimizer, scheduler: Any, config: dict[str, Any],
               total_steps: int) -> tuple[int, dict[str, Any]]:
    """Restore into the live objects; return the step to continue from and the extra state."""
    state = torch.load(path, map_location="cpu", weights_only=False)
    changed = [k for k in _MUST_MATCH if state["config"].get(k) != config.get(k)]
    if state["total_steps"] != total_steps:
        changed.append("steps/epochs")
    if changed or set(state["trainable"]) != set(trainable):
        raise BadInputError(
            f"{path} was written by a run with different settings ({', '.join(changed) or 'model'})",
            hint="use a new --out directory, or pass --no-resume to start over")
    with torch.no_grad():
        for k, p in trainable.items():
            p.copy_(state["trainable"][k])
    optimizer.load_state_dict(state["optimizer"])
    scheduler.load_state_dict(state["scheduler"])
    return int(state["step"]), state.get("extra", {})
