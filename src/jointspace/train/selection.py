"""Keeping the best weights by validation recall, and early stopping when it stops improving."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import torch

METRIC = "mean_recall"  # what "best" means: mean of i2t/t2i R@1/5/10 on the validation pairs


@dataclass
class BestKeeper:
    patience: int | None  # validations without improvement before stopping; None = never
    step: int = -1  # step of the best validation so far (-1: none yet)
    metrics: dict[str, float] = field(default_factory=dict)
    since: int = 0  # validations since the best one
    weights: dict[str, torch.Tensor] = field(default_factory=dict)  # copy of the best weights

    def update(self, step: int, metrics: dict[str, float],
               trainable: dict[str, torch.nn.Parameter]) -> bool:
        """Record a validation; True when it is the best so far (its weights are copied)."""
        if self.step < 0 or metrics[METRIC] > self.metrics[METRIC]:
            self.step, self.metrics, self.since = step, dict(metrics), 0
            self.weights = {k: p.detach().clone() for k, p in trainable.items()}
            return True
        self.since += 1
        return False

    @property
    def should_stop(self) -> bool:
        return self.patience is not None and self.since >= self.patience

    def restore(self, trainable: dict[str, torch.nn.Parameter]) -> None:
        """Copy the best weights back into the live parameters."""
        with torch.no_grad():
            for k, p in trainable.items():
                p.copy_(self.weights[k])

    def state(self) -> dict[str, Any]:
        return {"step": self.step, "metrics": self.metrics, "since": self.since,
                "weights": self.weights}

    def load(self, state: dict[str, Any] | None) -> None:
        if state:
            self.step, self.metrics = state["step"], state["metrics"]
            self.since, self.weights = state["since"], state["weights"]

    def summary(self) -> dict[str, Any]:
        return {"step": self.step, METRIC: self.metrics.get(METRIC)} if self.step >= 0 else {}
