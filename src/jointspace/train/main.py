"""``python -m jointspace.train`` / ``torchrun -m jointspace.train``: argparse over TrainConfig.

Every TrainConfig field is an option (``--batch-size``; booleans are flags, ``--no-<name>``
for those on by default); help texts are the field comments in ``config.py``. ``--set key=value``
overrides DualEncoderConfig fields of a recipe (values parsed as JSON when possible).
"""

from __future__ import annotations

import argparse
import dataclasses
import inspect
import json
import re
import sys
import typing

from jointspace.train.config import TrainConfig

_FIELD = re.compile(r"^\s+(\w+): [^=]+?(?: = .+?)?\s+# (.+)$")


def field_help() -> dict[str, str]:
    """Field name -> its comment in TrainConfig's source (one source of truth for help)."""
    from jointspace.train import config as config_module

    source = inspect.getsource(config_module.TrainConfig)
    return {m.group(1): m.group(2) for m in map(_FIELD.match, source.splitlines()) if m}


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="jointspace.train", description=__doc__.split("\n")[0])
    helps = field_help()
    hints = typing.get_type_hints(TrainConfig)
    for f in dataclasses.fields(TrainConfig):
        flag = "--" + f.name.replace("_", "-")
        kind = hints[f.name]
        if f.name == "recipe_overrides":
            parser.add_argument("--set", dest=f.name, action="append", default=[],
                                metavar="KEY=VALUE", help=helps.get(f.name))
        elif f.name == "lr_scales":
            parser.add_argument("--lr-scale", dest=f.name, action="append", default=[],
                                metavar="PREFIX=FACTOR", help=helps.get(f.name))
        elif kind is bool and f.default:
            parser.add_argument("--no-" + f.name.replace("_", "-"), dest=f.name,
                                action="store_false", help="disable: " + helps.get(f.name, ""))
        elif kind is bool:
            parser.add_argument(flag, dest=f.name, action="store_true", help=helps.get(f.name))
        elif f.default is dataclasses.MISSING:
            parser.add_argument(flag, dest=f.name, required=True, help=helps.get(f.name))
        else:
            base = next((t for t in typing.get_args(kind) if t is not type(None)), kind)
            parser.add_argument(flag, dest=f.name, type=base, default=f.default,
                                help=f"{helps.get(f.name, '')} (default: {f.default})")
    return parser


def parse_config(argv: list[str] | None = None) -> TrainConfig:
    """Parse command-line arguments into a TrainConfig."""
    ns = vars(build_parser().parse_args(argv))
    ns["recipe_overrides"] = parse_overrides(ns["recipe_overrides"])
    ns["lr_scales"] = {k: float(v) for k, v in parse_overrides(ns["lr_scales"]).items()}
    return TrainConfig(**ns)


def parse_overrides(items: list[str]) -> dict[str, object]:
    """``["a=1", "b=[2, 3]", "c=x"]`` -> ``{"a": 1, "b": [2, 3], "c": "x"}`` (JSON when it parses)."""
    return dict(_key_value(kv) for kv in items)


def _key_value(text: str) -> tuple[str, object]:
    key, sep, value = text.partition("=")
    if not sep:
        raise SystemExit(f"--set expects KEY=VALUE, got {text!r}")
    try:
        return key, json.loads(value)
    except ValueError:
        return key, value


def main(argv: list[str] | None = None) -> int:
    """Train, then print the result as one JSON line (first process only)."""
    import os

    from jointspace.errors import JointspaceError
    from jointspace.train.loop import train

    config = parse_config(argv)
    try:
        result = train(config)
    except JointspaceError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    if os.environ.get("RANK", "0") == "0":
        print(json.dumps(result.to_dict()))
    return 0
