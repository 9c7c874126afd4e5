"""Output helpers shared by every command: --json or rich rendering, and friendly errors."""

from __future__ import annotations

import json
import sys
from collections.abc import Callable
from typing import Any

import typer
from rich.console import Console
from rich.markup import escape

from jointspace.errors import JointspaceError

# markup off: paths, texts and metadata print as they are ("[/x]" in a caption once crashed the
# table); the few styled lines opt in with markup=True and escape() what they interpolate
console = Console(markup=False)
err_console = Console(stderr=True, markup=False)

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


def run_app(app: typer.Typer, argv: list[str] | None = None) -> None:
    """Run the Typer app; every failure leaves as a message and an exit code, not a traceback.

    Usage mistakes (unknown option, bad or missing value): click's usage message, exit 2.
    Known failures (``JointspaceError``, and OS errors such as a read-only directory): a
    one-line message with a hint, exit 1. With ``--json`` both are ``{"error": {type, message,
    hint}}`` on stdout. Anything else is a bug: its traceback, a line saying how to report it,
    exit 1.
    """
    args = sys.argv[1:] if argv is None else argv
    as_json = "--json" in args[: args.index("--")] if "--" in args else "--json" in args
    try:
        # without standalone mode click returns a typer.Exit's code instead of exiting with it
        code = app(args=args, standalone_mode=False)
    except KeyboardInterrupt:
        err_console.print("interrupted; committed batches are kept, re-run to resume")
        code = 130
    except (typer.Exit, SystemExit) as exc:
        code = getattr(exc, "exit_code", None)
        code = getattr(exc, "code", 0) if code is None else code
        if code is not None and not isinstance(code, int):  # SystemExit("message"): as Python
            _print_error("Exit", str(code), None, as_json)
            code = 1
    except Exception as exc:  # noqa: BLE001 - the one place every failure is turned into output
        code = _report(exc, as_json)
    if isinstance(code, int) and not isinstance(code, bool) and code:
        raise SystemExit(code)


def _report(exc: Exception, as_json: bool) -> int:
    """Print ``exc`` for a person or a program; returns the exit code."""
    click_exc = _click_error(exc)
    if click_exc is not None:
        if as_json:
            ctx = getattr(click_exc, "ctx", None)
            hint = f"see `{ctx.command_path} --help`" if ctx is not None else None
            _print_error(type(exc).__name__, click_exc.format_message(), hint, as_json)
        else:
            click_exc.show()
        return click_exc.exit_code
    if isinstance(exc, JointspaceError):
        _print_error(type(exc).__name__, exc.message, exc.hint, as_json)
        return 1
    if isinstance(exc, OSError):  # the machine said no: permissions, a full disk, a bad path
        where = f"{exc.filename}: " if exc.filename else ""
        _print_error(type(exc).__name__, f"{where}{exc.strerror or exc}",
                     "check the path, its permissions and the free disk space", as_json)
        return 1
    if _is_abort(exc):
        _print_error("Aborted", "aborted", None, as_json)
        return 1
    import traceback

    import jointspace

    traceback.print_exception(exc)
    how = (f"this is a bug in jointspace {jointspace.__version__}; please report it with the "
           "command you ran and the traceback above")
    err_console.print(f"[bold red]internal error:[/] {escape(how)}", highlight=False,
                      soft_wrap=True, markup=True)
    if as_json:
        _print_error("InternalError", f"{type(exc).__name__}: {exc}", how, as_json)
    return 1


def _print_error(kind: str, message: str, hint: str | None, as_json: bool) -> None:
    if as_json:
        payload = {"error": {"type": kind, "message": message, "hint": hint}}
        sys.stdout.write(json.dumps(payload, ensure_ascii=False) + "\n")
        return
    err_console.print(f"[bold red]error:[/] {escape(message)}", highlight=False, soft_wrap=True,
                      markup=True)
    if hint:
        err_console.print(f"[yellow]hint:[/] {escape(hint)}", highlight=False, soft_wrap=True,
                          markup=True)


def _click_error(exc: Exception) -> Any:
    """``exc`` if it is a click exception (typer's bundled click or click itself), else None."""
    classes: list[type] = []
    try:
        from typer.exceptions import TyperException

        classes.append(TyperException)
    except ImportError:  # older typer uses click directly
        pass
    try:
        import click

        classes.append(click.ClickException)
    except ImportError:
        pass
    return exc if classes and isinstance(exc, tuple(classes)) else None


def _is_abort(exc: Exception) -> bool:
    return type(exc).__name__ == "Abort" and type(exc).__module__.split(".")[0] in ("click",
                                                                                   "typer")
