"""`jointspace index | search | info | remove | errors`: building and querying a collection."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import typer
from rich.table import Table

from jointspace.cli.render import JSON_OPTION, console, emit, err_console

COLLECTION_OPTION = typer.Option(
    ..., "--collection", "-c", envvar="JOINTSPACE_COLLECTION",
    help="Collection directory (or set JOINTSPACE_COLLECTION).",
)


def register(app: typer.Typer) -> None:
    app.command("index")(index)
    app.command("search")(search)
    app.command("info")(info)
    app.command("remove")(remove)
    app.command("errors")(errors)


def index(
    source: Path = typer.Argument(..., help="Folder, .csv/.jsonl/.parquet manifest, or a file."),
    collection: Path = COLLECTION_OPTION,
    model: str = typer.Option(None, "--model", "-m",
                              help="Model for a new collection (hf:DIR, sbert:NAME, ...). "
                                   "Default: a CLIP for images, all-MiniLM-L6-v2 for texts."),
    text_files: bool = typer.Option(False, "--text-files",
                                    help="Index .txt/.md files of a folder instead of images."),
    path_column: str = typer.Option(None, help="Manifest column holding image paths."),
    text_column: str = typer.Option(None, help="Manifest column holding texts or captions."),
    id_column: str = typer.Option(None, help="Manifest column identifying text rows."),
    index_kind: str = typer.Option("flat", "--index", help="flat (exact) or hnsw (large)."),
    batch_size: int = typer.Option(64, min=1, max=4096),
    workers: int = typer.Option(None, min=0, help="Decode processes (0 = inline)."),
    fast_decode: bool = typer.Option(False, help="Decode big JPEGs at reduced scale (faster, "
                                                 "not bit-exact)."),
    max_image_megapixels: float = typer.Option(
        None, min=0.01, help="Reject images above this many megapixels (default 64)."),
    no_prune: bool = typer.Option(False, help="Keep items whose files left the source."),
    engine: str = typer.Option("local", help="Where decode and embed run: local (this machine) "
                                             "or ray (Ray Data; needs jointspace[ray])."),
    ray_address: str = typer.Option(None, help="Ray cluster to join, e.g. 10.0.0.1:6379 "
                                               "(default: start a local Ray on 127.0.0.1)."),
    actors: int = typer.Option(1, min=1, help="Ray engine: embedding actors (one model each; "
                                              "one GPU each when the cluster has GPUs)."),
    as_json: bool = JSON_OPTION,
) -> None:
    """Sync SOURCE into the collection: embed new and changed files, drop removed ones."""
    from jointspace.engines import load_engine
    from jointspace.ingest.sources import open_source
    from jointspace.query import Collection

    options: dict[str, Any] = {}
    if Path(source).is_dir():
        options["kinds"] = {"text"} if text_files else {"image"}
    else:
        options.update({k: v for k, v in (("path_column", path_column),
                                          ("text_column", text_column),
                                          ("id_column", id_column)) if v})
    src = open_source(source, **options)
    runner = load_engine(engine, **({"address": ray_address, "actors": actors}
                                    if engine == "ray" else {}))
    if (collection / "collection.sqlite").exists():
        col = Collection.open(collection, model=model)
    else:
        col = Collection.create(collection, model or _default_model(src), index=index_kind)
    with col, _progress(as_json) as on_progress:
        max_pixels = int(max_image_megapixels * 1e6) if max_image_megapixels else None
        report = col.add(src, batch_size=batch_size, workers=workers, fast_decode=fast_decode,
                         max_pixels=max_pixels,
                         prune=False if no_prune else None, progress=on_progress,
                         engine=runner)
    emit(report.to_dict() | {"collection": str(collection)}, as_json, _render_report)
    if report.failed and not as_json:
        err_console.print(f"{report.failed} file(s) failed; see `jointspace errors -c "
                          f"{collection}`")


def search(
    query: str = typer.Argument(None, help="Text to search for."),
    collection: Path = COLLECTION_OPTION,
    image: Path = typer.Option(None, "--image", "-i", help="Search by an image file."),
    like: int = typer.Option(None, "--like", help="More like this item id."),
    k: int = typer.Option(20, "--k", "-k", min=1, max=10_000),
    offset: int = typer.Option(0, min=0, max=10_000),
    where: list[str] = typer.Option(None, "--where", "-w",
                                    help="Metadata filter, e.g. 'year>=2015' (repeatable)."),
    kind: str = typer.Option(None, help="Only 'image' or only 'text' items."),
    negative: list[str] = typer.Option(None, "--not", help="Text to steer away from."),
    image_weight: float = typer.Option(1.0, help="Weight of --image in a composed query."),
    text_weight: float = typer.Option(1.0, help="Weight of the text in a composed query."),
    hybrid: bool = typer.Option(False, "--hybrid",
                                help="Fuse BM25 over texts/captions/metadata with vector search."),
    fusion: str = typer.Option("convex", help="Hybrid fusion: convex or rrf."),
    as_json: bool = JSON_OPTION,
) -> None:
    """Search by text, image, item, or a composition of them."""
    from jointspace.errors import BadInputError
    from jointspace.query import Collection

    if query is None and image is None and like is None:
        raise BadInputError("nothing to search for", hint="give a text, --image PATH or --like ID")
    with Collection.open(collection, readonly=True) as col:
        hits = col.search(query, image=image, item_id=like, k=k, offset=offset,
                          where=where or None, kind=kind, negative=negative or None,
                          image_weight=image_weight, text_weight=text_weight,
                          hybrid=fusion if hybrid else False)
    emit({"results": [h.to_dict() for h in hits]}, as_json, _render_hits)


def info(collection: Path = COLLECTION_OPTION, as_json: bool = JSON_OPTION) -> None:
    """Count, model, dim and state of a collection."""
    from jointspace.query import Collection

    with Collection.open(collection, readonly=True) as col:
        data = col.info()
    emit(data, as_json, _render_mapping)


def remove(
    ids: list[int] = typer.Argument(None, help="Item ids to remove."),
    collection: Path = COLLECTION_OPTION,
    where: list[str] = typer.Option(None, "--where", "-w", help="Remove items matching a filter."),
    as_json: bool = JSON_OPTION,
) -> None:
    """Remove items by id or by metadata filter."""
    from jointspace.errors import BadInputError
    from jointspace.query import Collection

    if not ids and not where:
        raise BadInputError("nothing to remove", hint="give item ids or --where FILTER")
    with Collection.open(collection) as col:
        n = col.remove(ids or (), where=where or None)
    emit({"removed": n}, as_json, lambda d: console.print(f"removed {d['removed']} item(s)"))


def errors(collection: Path = COLLECTION_OPTION, as_json: bool = JSON_OPTION) -> None:
    """Files that failed to index, with the reason."""
    from jointspace.query import Collection

    with Collection.open(collection, readonly=True) as col:
        errs = [e.to_dict() for e in col.errors()]
    emit({"errors": errs}, as_json, _render_errors)


# --- helpers ------------------------------------------------------------------------------
def _default_model(src) -> str:
    from jointspace.ingest.items import SourceItem
    from jointspace.models import DEFAULT_IMAGE_MODEL, DEFAULT_TEXT_MODEL

    first = next((s for s in src.scan() if isinstance(s, SourceItem)), None)
    return DEFAULT_TEXT_MODEL if first is not None and first.kind == "text" else DEFAULT_IMAGE_MODEL


class _progress:
    """A rich progress bar with counts and ETA, or nothing in --json mode."""

    def __init__(self, quiet: bool) -> None:
        self.quiet = quiet
        self.bar = None

    def __enter__(self):
        if self.quiet:
            return None
        from rich.progress import (
            BarColumn,
            MofNCompleteColumn,
            Progress,
            TextColumn,
            TimeElapsedColumn,
            TimeRemainingColumn,
        )

        self.bar = Progress(TextColumn("indexing"), BarColumn(), MofNCompleteColumn(),
                            TimeElapsedColumn(), TextColumn("eta"), TimeRemainingColumn(),
                            console=err_console, transient=False)
        self.bar.start()
        task = self.bar.add_task("index", total=None)
        return lambda done, total: self.bar.update(task, completed=done, total=total)

    def __exit__(self, *exc: object) -> None:
        if self.bar is not None:
            self.bar.stop()


def _render_report(d: dict) -> None:
    t = Table(title=f"indexed into {d['collection']} in {d['seconds']:.1f}s")
    for col in ("added", "updated", "unchanged", "removed", "failed"):
        t.add_column(col, justify="right")
    t.add_row(*(str(d[c]) for c in ("added", "updated", "unchanged", "removed", "failed")))
    console.print(t)


def _render_hits(d: dict) -> None:
    t = Table(show_lines=False)
    for col, just in (("#", "right"), ("id", "right"), ("score", "right"), ("item", "left"),
                      ("metadata", "left")):
        t.add_column(col, justify=just)
    for n, h in enumerate(d["results"], 1):
        item = h.get("path") or (h.get("text") or "")[:80]
        meta = ", ".join(f"{k}={v}" for k, v in list(h["metadata"].items())[:4])
        t.add_row(str(n), str(h["id"]), f"{h['score']:.4f}", item, meta[:60])
    console.print(t if d["results"] else "no results")


def _render_mapping(d: dict) -> None:
    t = Table(show_header=False)
    for k, v in d.items():
        t.add_row(k, str(v))
    console.print(t)


def _render_errors(d: dict) -> None:
    if not d["errors"]:
        console.print("no errors")
        return
    t = Table()
    t.add_column("path")
    t.add_column("reason")
    for e in d["errors"]:
        t.add_row(e["path"], e["reason"])
    console.print(t)
