"""`jointspace serve` and `jointspace token create`: the HTTP service and its access tokens."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated

import typer
from rich.markup import escape

from jointspace.cli.render import JSON_OPTION, RUNTIME_HELP, emit, err_console

token_app = typer.Typer(help="Access tokens for `jointspace serve` (stored as hashes).",
                        no_args_is_help=True)


def register(app: typer.Typer) -> None:
    app.command("serve")(serve)
    app.add_typer(token_app, name="token")


def serve(
    collections: Annotated[list[str], typer.Argument(
        help="Collection directories to serve (NAME=DIR to choose the name in URLs).")],
    host: Annotated[str, typer.Option(
        help="Address to bind; anything but loopback needs --tokens-file.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(min=0, max=65535)] = 8000,
    tokens_file: Annotated[Path | None, typer.Option(
        "--tokens-file", envvar="JOINTSPACE_TOKENS_FILE",
        help="Hashed tokens from `jointspace token create`. Without it the API is read-only "
             "and loopback-only.")] = None,
    cors_origin: Annotated[list[str] | None, typer.Option(
        "--cors-origin", help="Allow this web origin (repeatable; default: CORS off).")] = None,
    allowed_host: Annotated[list[str] | None, typer.Option(
        "--allowed-host", help="Host header to accept (repeatable).")] = None,
    max_upload_mb: Annotated[float, typer.Option(
        min=0.001, max=1_000_000, help="Largest request body, in MB.")] = 16.0,
    max_image_megapixels: Annotated[float, typer.Option(
        min=0.001, max=100_000, help="Largest uploaded image, in megapixels.")] = 40.0,
    max_files: Annotated[int, typer.Option(min=1, help="Most files in one upload.")] = 16,
    queue_size: Annotated[int, typer.Option(
        min=1, help="Model requests admitted at once; more get 503 + Retry-After.")] = 64,
    threads: Annotated[int, typer.Option(
        min=1, help="Threads running admitted searches (more wait = bigger model batches).")] = 16,
    max_connections: Annotated[int, typer.Option(
        min=1, help="Open connections in all; over it the oldest idle one is closed "
                    "(503 for the new one if none is idle).")] = 512,
    max_connections_per_client: Annotated[int, typer.Option(
        min=0, help="Open connections from one address, evicting its idle ones (0: no cap, "
                    "e.g. behind a proxy).")] = 64,
    header_timeout: Annotated[float, typer.Option(
        min=0.1, max=86_400, help="Seconds a client has to send a request's headers (408 after).")] = 10.0,
    body_timeout: Annotated[float, typer.Option(
        min=0.1, max=86_400, help="Seconds a client has to send a request's body (408 after).")] = 60.0,
    send_timeout: Annotated[float, typer.Option(
        min=0.1, max=86_400, help="Seconds a response may wait on a client that stopped reading it.")] = 30.0,
    hide_paths: Annotated[bool, typer.Option(
        "--hide-paths", help="Return file names only, never the server's absolute paths.")]
    = False,
    log_level: Annotated[str, typer.Option(help="uvicorn log level.")] = "info",
    runtime: Annotated[str | None, typer.Option(
        "--runtime", envvar="JOINTSPACE_RUNTIME", help=RUNTIME_HELP)] = None,
    as_json: bool = JSON_OPTION,
) -> None:
    """Serve collections over HTTP: the JSON API under /api and the search page at /."""
    from jointspace.serve.run import build, run
    from jointspace.serve.settings import ServeSettings

    settings = ServeSettings(
        host=host, port=port, tokens_file=tokens_file, cors_origins=list(cors_origin or []),
        allowed_hosts=list(allowed_host or []), max_body_bytes=int(max_upload_mb * 1024 * 1024),
        max_image_pixels=int(max_image_megapixels * 1_000_000), max_files=max_files,
        queue_size=queue_size, search_threads=threads, max_connections=max_connections,
        max_connections_per_client=max_connections_per_client, header_timeout_s=header_timeout,
        body_timeout_s=body_timeout, send_timeout_s=send_timeout, hide_paths=hide_paths, log_level=log_level,
        runtime=runtime,
    )
    app, state = build(collections, settings)
    shown = f"[{host}]" if ":" in host else host
    started = {
        "url": f"http://{shown}:{port}/", "auth": "token" if state.tokens else "read-only",
        "collections": [{"name": s.name, "count": s.collection.count(),
                         "model": s.collection.store.model, "writable": s.writable}
                        for s in state.collections.values()]}
    emit(started, as_json, _render_started)  # --json: one line on stdout, then the server runs
    sys.stdout.flush()
    run(app, state, settings)


def _render_started(d: dict) -> None:
    for c in d["collections"]:
        err_console.print(f"collection [bold]{escape(c['name'])}[/]: {c['count']} items, "
                          f"{escape(c['model'])}" + ("" if c["writable"] else " (read-only)"),
                          markup=True)
    mode = "bearer token required" if d["auth"] == "token" else "no tokens: read-only"
    err_console.print(f"open [bold]{escape(d['url'])}[/] ({mode}; Ctrl+C stops)", markup=True)


@token_app.command("create")
def token_create(
    file: Annotated[Path, typer.Option(
        "--file", "-f", help="Tokens file to append the hash to (created with mode 0600).")],
    role: Annotated[str, typer.Option(help="read (search) or admin (also add/remove).")] = "read",
    label: Annotated[str, typer.Option(help="A note stored next to the hash.")] = "",
    as_json: bool = JSON_OPTION,
) -> None:
    """Create a token, store only its hash in FILE, and print the token once."""
    from jointspace.serve.auth import create_token

    token = create_token(file, role, label)
    if as_json:
        emit({"token": token, "role": role, "label": label, "file": str(file)}, True, print)
        return
    err_console.print(f"added a {role} token to {file}; it is shown only now:")
    typer.echo(token)
