"""An exponential moving average of the trainable weights (``--ema DECAY``).

Validation, the best-weights selection and the saved model see the average instead of the live
weights; the optimiser keeps stepping the live ones. One lerp over the (small) trainable
parameters per step.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import torch


class WeightAverage:
    def __init__(self, named: dict[str, torch.nn.Parameter], decay: float) -> None:
        self.named, self.decay, self.updates = named, decay, 0
        self.avg = {k: p.detach().clone() for k, p in named.items()}

    def update(self) -> None:
        """Fold the live weights in; early on the memory is shorter (the first weights are noise)."""
        self.updates += 1
        decay = min(self.decay, (1 + self.updates) / (10 + self.updates))
        with torch.no_grad():
            torch._foreach_lerp_(list(self.avg.values()),
                                 [p.detach() for p in self.named.values()], 1 - decay)

    def write(self) -> None:
        """Put the average into the model's parameters (the live weights are lost)."""
        with torch.no_grad():
            for k, p in self.named.items():
                p.copy_(self.avg[k])

    @contextmanager
    def applied(self) -> Iterator[None]:
        """The average in the model's parameters for the block, then the live weights back."""
        live = {k: p.detach().clone() for k, p in self.named.items()}
        self.write()
        try:
            yield
        finally:
            with torch.no_grad():
                for k, p in self.named.items():
                    p.copy_(live[k])

    def state(self) -> dict[str, Any]:
        return {"avg": {k: v.clone() for k, v in self.avg.items()}, "updates": self.updates}

    def load(self, state: dict[str, Any] | None) -> None:
        if state:
            self.avg = {k: v.clone() for k, v in state["avg"].items()}
            self.updates = int(state["updates"])
