"""TrainConfig's fields as command-line options: one table, two front ends.

:func:`train_options` reads the fields' metadata (help, spelling, bounds) once;
:func:`build_parser` renders it for argparse (``python -m jointspace.train``, what torchrun runs)
and :func:`typer_signature` for the ``jointspace train`` command. Both produce the same
TrainConfig through :func:`config_from_values`; :func:`config_argv` writes a config back as
arguments for child processes.
"""

from __future__ import annotations

import argparse
import dataclasses
import inspect
import json
import typing
from dataclasses import dataclass
from typing import Any

from jointspace.train.config import REQUIRED, TrainConfig


@dataclass(frozen=True)
class TrainOption:
    name: str  # TrainConfig field
    flag: str  # --batch-size
    kind: type  # int, float, str, bool, list (int list), dict (KEY=VALUE pairs)
    default: Any  # REQUIRED when the option must be given
    help: str
    short: str | None = None
    metavar: str | None = None
    minimum: float | None = None
    maximum: float | None = None

    @property
    def required(self) -> bool:
        return self.default is REQUIRED


def train_options() -> list[TrainOption]:
    """Every TrainConfig field as an option, in declaration order."""
    hints = typing.get_type_hints(TrainConfig)
    out = []
    for f in dataclasses.fields(TrainConfig):
        meta = f.metadata
        kind = _base_type(hints[f.name])
        default = f.default if f.default is not dataclasses.MISSING else f.default_factory()
        out.append(TrainOption(f.name, meta.get("flag") or "--" + f.name.replace("_", "-"),
                               kind, default, meta["help"], meta.get("short"),
                               meta.get("metavar"), meta.get("min"), meta.get("max")))
    return out


def _base_type(hint: Any) -> type:
    origin = typing.get_origin(hint)
    if origin in (list, dict):
        return origin
    args = [a for a in typing.get_args(hint) if a is not type(None)]
    return args[0] if args else hint


# --- values -> TrainConfig --------------------------------------------------------------------
def config_from_values(values: dict[str, Any]) -> TrainConfig:
    """A TrainConfig from option values (strings for list/dict options are parsed here)."""
    kinds = {o.name: o for o in train_options()}
    clean: dict[str, Any] = {}
    for name, value in values.items():
        opt = kinds[name]
        if opt.kind is dict:
            pairs = parse_overrides(list(value or []))
            value = ({k: float(v) for k, v in pairs.items()} if name == "lr_scales" else pairs)
        elif opt.kind is list:
            value = parse_int_list(value)
        clean[name] = value
    return TrainConfig(**clean)


def parse_int_list(value: Any) -> list[int]:
    """``"64,128"`` or ``["64", "128"]`` or ``[64]`` -> ``[64, 128]``."""
    from jointspace.errors import BadInputError

    if value is None:
        return []
    parts = value.split(",") if isinstance(value, str) else [
        p for v in value for p in str(v).split(",")]
    try:
        return [int(p) for p in parts if p.strip()]
    except ValueError:
        raise BadInputError(f"expected comma-separated integers, got {value!r}",
                            hint="e.g. --matryoshka 64,128,256") from None


def parse_overrides(items: list[str]) -> dict[str, object]:
    """``["a=1", "b=[2, 3]", "c=x"]`` -> ``{"a": 1, "b": [2, 3], "c": "x"}`` (JSON when it parses)."""
    return dict(_key_value(kv) for kv in items)


def _key_value(text: str) -> tuple[str, object]:
    from jointspace.errors import BadInputError

    key, sep, value = text.partition("=")
    if not sep:
        raise BadInputError(f"expected KEY=VALUE, got {text!r}", hint="e.g. --set epochs=8")
    try:
        return key, json.loads(value)
    except ValueError:
        return key, value


def config_argv(config: TrainConfig) -> list[str]:
    """Arguments that make :func:`build_parser` rebuild ``config`` (for child processes)."""
    argv: list[str] = []
    for o in train_options():
        value = getattr(config, o.name)
        if o.kind is bool:
            if value != o.default:
                argv.append(o.flag if value else "--no-" + o.flag[2:])
        elif o.kind is dict:
            for k, v in value.items():
                argv += [o.flag, f"{k}={json.dumps(v)}"]
        elif o.kind is list:
            if value:
                argv += [o.flag, ",".join(map(str, value))]
        elif value is not None and value != o.default:
            argv += [o.flag, str(value)]
    return argv


# --- argparse ---------------------------------------------------------------------------------
def build_parser() -> argparse.ArgumentParser:
    """``python -m jointspace.train`` options (the same table as ``jointspace train``)."""
    parser = argparse.ArgumentParser(prog="jointspace.train",
                                     description="Contrastive training of a dual encoder.")
    for o in train_options():
        names = [o.flag] + ([o.short] if o.short else [])
        if o.kind is bool:
            parser.add_argument(*names, dest=o.name, action=argparse.BooleanOptionalAction,
                                default=o.default, help=o.help)
        elif o.kind in (dict, list):
            parser.add_argument(*names, dest=o.name, action="append", default=[],
                                metavar=o.metavar, help=o.help)
        else:
            parser.add_argument(*names, dest=o.name, type=o.kind, required=o.required,
                                default=None if o.required else o.default, metavar=o.metavar,
                                help=o.help if o.required else f"{o.help} (default: {o.default})")
    return parser


def parse_config(argv: list[str] | None = None) -> TrainConfig:
    """Parse ``python -m jointspace.train`` arguments into a TrainConfig."""
    return config_from_values(vars(build_parser().parse_args(argv)))


# --- typer ------------------------------------------------------------------------------------
def typer_signature(extra: list[inspect.Parameter]) -> inspect.Signature:
    """A signature Typer turns into ``jointspace train``'s options, plus ``extra`` parameters."""
    import typer

    params = []
    for o in train_options():
        names = [o.flag] + ([o.short] if o.short else [])
        if o.kind is bool:
            names = [f"{o.flag}/--no-{o.flag[2:]}"]
        if o.kind in (dict, list):
            annotation: Any = list[str] | None
            default = typer.Option(None, *names, help=o.help, metavar=o.metavar)
        else:
            annotation = o.kind if o.required or o.default is not None else o.kind | None
            default = typer.Option(... if o.required else o.default, *names, help=o.help,
                                   min=o.minimum, max=o.maximum, show_default=not o.required)
        params.append(inspect.Parameter(o.name, inspect.Parameter.KEYWORD_ONLY,
                                        default=default, annotation=annotation))
    return inspect.Signature(params + extra)
