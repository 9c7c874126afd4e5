"""Output helpers shared by every command: --json or rich rendering, and friendly errors."""

from __future__ import annotations

import json
import sys
from collections.abc import Callable
from typing import Any

import typer
from rich.console import Console

from jointspace.errors import JointspaceError

console = Console()
err_console = Console(stderr=True)

JSON_OPTION = typer.Option(False, "--json", help="Print machine-readable JSON instead of tables.")
RUNTIME_HELP = ("How the model runs: auto (the fastest that keeps parity on this CPU), torch, "
                "bf16, onnx, onnx-int8. Default: what the collection was indexed with, else torch.")
RUNTIME_OPTION = typer.Option(None, "--runtime", envvar="JOINTSPACE_RUNTIME", help=RUNTIME_HELP)


def emit(data: Any, as_json: bool, render: Callable[[Any], None]) -> None:
    """Print ``data`` as JSON (one document on stdout) or with the command's rich renderer."""
    if as_json:
        sys.stdout.write(json.dumps(data, ensure_ascii=False, default=_json_default) + "\n")
    else:
        render(data)


def _json_default(obj: Any) -> Any:
    if hasattr(obj, "to_dict"):
        return obj.to_dict()
    if hasattr(obj, "tolist"):
        return obj.tolist()
    return str(obj)


def run_app(app: typer.Typer) -> None:
    """Run the Typer app, turning JointspaceError into a one-line message (+ hint) and exit 1."""
    try:
        # without standalone mode click returns a typer.Exit's code instead of exiting with it
        code = app(standalone_mode=False)
        if isinstance(code, int) and not isinstance(code, bool) and code:
            raise SystemExit(code)
    except JointspaceError as exc:
        if "--json" in sys.argv:
            payload = {"error": {"type": type(exc).__name__, "message": exc.message,
                                 "hint": exc.hint}}
            sys.stdout.write(json.dumps(payload) + "\n")
        else:
            err_console.print(f"[bold red]error:[/] {exc.message}", highlight=False)
            if exc.hint:
                err_console.print(f"[yellow]hint:[/] {exc.hint}", highlight=False)
        raise SystemExit(1) from None
    except KeyboardInterrupt:
        err_console.print("interrupted; committed batches are kept, re-run to resume")
        raise SystemExit(130) from None
    except (typer.Exit, SystemExit) as exc:
        code = getattr(exc, "exit_code", None)
        raise SystemExit(code if code is not None else getattr(exc, "code", 0)) from None
    except Exception as exc:  # click usage errors arrive here in non-standalone mode
        import click

        if isinstance(exc, click.ClickException):
            exc.show()
            raise SystemExit(exc.exit_code) from None
        raise
