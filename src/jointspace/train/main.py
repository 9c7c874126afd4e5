"""``python -m jointspace.train`` / ``torchrun -m jointspace.train``: the options of
:mod:`jointspace.train.options` (the same table as ``jointspace train``), then :func:`train`."""

from __future__ import annotations

import json
import os
import sys


def main(argv: list[str] | None = None) -> int:
    """Train, then print the result as one JSON line (first process only)."""
    from jointspace.errors import JointspaceError
    from jointspace.train.loop import train
    from jointspace.train.options import parse_config

    try:
        result = train(parse_config(argv))
    except JointspaceError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    if os.environ.get("RANK", "0") == "0":
        print(json.dumps(result.to_dict()))
    return 0
