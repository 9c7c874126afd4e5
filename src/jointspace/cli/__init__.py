"""The `jointspace` command: a thin skin that parses, calls the library and renders.

Each command group lives in its own module exposing ``register(app)``; heavy libraries are imported
inside the commands so ``jointspace --help`` stays instant.
"""

from __future__ import annotations

import importlib

import typer

# Modules under jointspace.cli that add commands; each defines register(app: typer.Typer).
COMMAND_MODULES = ["collection_cmds", "evaluate_cmds", "check_cmds", "serve_cmds", "world_train_cmds",
                   "transfer_cmds", "quality_cmds"]

app = typer.Typer(
    name="jointspace",
    help="Embed, index, search, evaluate and train joint image-text embedding spaces.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,  # help texts are plain text: "[sentences]" must show, not vanish
)


def _register_all() -> None:
    for mod in COMMAND_MODULES:
        importlib.import_module(f"jointspace.cli.{mod}").register(app)


_register_all()


def main() -> None:
    """Console-script entry point."""
    from jointspace.cli.render import run_app
    from jointspace.runtime import configure_process

    configure_process()
    run_app(app)
