"""torch.compile with a fallback: a machine without a working C++ compiler trains eagerly."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch


class Compiled:
    """``torch.compile(fn)``, or ``fn`` itself for good if compiling fails (inductor needs a
    working C++ compiler; a machine without one trains eagerly, with a warning)."""

    def __init__(self, fn: Callable[..., Any]) -> None:
        self.fn, self.compiled, self.tried = fn, torch.compile(fn), False

    def __call__(self, *args: Any) -> Any:
        if self.tried:
            return self.compiled(*args)
        self.tried = True
        try:
            return self.compiled(*args)
        except Exception as exc:  # noqa: BLE001 - any compile failure: train eagerly instead
            import warnings

            warnings.warn(f"jointspace: torch.compile failed ({type(exc).__name__}: {exc}); "
                          "training the image tower eagerly", RuntimeWarning, stacklevel=2)
            self.compiled = self.fn
            return self.fn(*args)
