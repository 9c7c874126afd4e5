"""`jointspace check COLLECTION [--repair] [--compact]`: integrity report and repair."""

from __future__ import annotations

import typer
from rich.markup import escape
from rich.table import Table
from rich.text import Text

from jointspace.cli.collection_cmds import API_KEY_OPTION, store_options
from jointspace.cli.render import JSON_OPTION, console, emit


def register(app: typer.Typer) -> None:
    app.command("check")(check)


def check(
    collection: str = typer.Argument(..., help="Collection directory or qdrant:// location."),
    repair: bool = typer.Option(False, "--repair",
                                help="Rebuild the index from SQLite, delete orphan files."),
    compact: bool = typer.Option(False, "--compact",
                                 help="Also drop old tombstones and VACUUM the SQLite file."),
    lock_timeout: float = typer.Option(0.0, min=0.0, max=86_400.0, help="Seconds to wait for a running writer."),
    api_key: str = API_KEY_OPTION,
    as_json: bool = JSON_OPTION,
) -> None:
    """Verify counts, ids, index vs truth, model/dim and files; exit 1 if anything is wrong."""
    from jointspace.store.registry import check_store, compact_store

    compacted = None
    if compact:
        compacted = compact_store(collection, lock_timeout=lock_timeout)
    report = check_store(collection, repair=repair, lock_timeout=lock_timeout,
                         options=store_options(api_key))
    data = report.to_dict() | ({"compacted": compacted} if compacted else {})
    emit(data, as_json, _render)
    if not report.ok:
        raise typer.Exit(1)


def _render(d: dict) -> None:
    counts = ", ".join(f"{k} {v}" for k, v in d["counts"].items())
    console.print(f"[bold]{escape(d['path'])}[/]  model {escape(d['model'])} (dim {d['dim']})  "
                  f"{counts}", highlight=False, markup=True)
    if d["index"]:
        i = d["index"]
        console.print(f"index: {i['kind']}, snapshot {i['snapshot']} at seq {i['snapshot_seq']}"
                      f" (truth seq {i['seq']}), {i.get('ntotal', '?')} vectors", highlight=False)
    if d.get("compacted"):
        c = d["compacted"]
        console.print(f"compacted: {c['tombstones_removed']} tombstones dropped, "
                      f"{c['bytes_before']} -> {c['bytes_after']} bytes", highlight=False)
    for line in d["repaired"]:
        console.print(f"[green]repaired:[/] {escape(line)}", highlight=False, markup=True)
    if not d["findings"]:
        console.print("[green]ok[/]: no problems found", markup=True)
        return
    t = Table()
    for col in ("severity", "problem", "what", "fix"):
        t.add_column(col)
    for f in d["findings"]:
        color = "red" if f["severity"] == "error" else "yellow"
        t.add_row(Text(f["severity"], style=color), f["code"], f["message"], f["fix"] or "")
    console.print(t)
