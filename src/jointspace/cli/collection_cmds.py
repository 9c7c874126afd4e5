"""`jointspace index | search | info | remove | errors`: building and querying a collection."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import typer
from rich.markup import escape
from rich.table import Table

from jointspace.cli.render import JSON_OPTION, RUNTIME_OPTION, console, emit, err_console

COLLECTION_OPTION = typer.Option(
    ..., "--collection", "-c", envvar="JOINTSPACE_COLLECTION",
    help="Collection: a directory, qdrant://HOST:6333/NAME (qdrants:// for TLS) or "
         "qdrant+local:PATH (or set JOINTSPACE_COLLECTION).",
)
API_KEY_OPTION = typer.Option(
    None, "--api-key", envvar="JOINTSPACE_QDRANT_API_KEY", show_default=False,
    help="Qdrant API key (or set JOINTSPACE_QDRANT_API_KEY); never printed.",
)


def register(app: typer.Typer) -> None:
    app.command("index")(index)
    app.command("search")(search)
    app.command("info")(info)
    app.command("remove")(remove)
    app.command("errors")(errors)


def index(
    source: Path = typer.Argument(..., help="Folder, .csv/.jsonl/.parquet manifest, or a file."),
    collection: str = COLLECTION_OPTION,
    model: str = typer.Option(None, "--model", "-m",
                              help="Model for a new collection (hf:DIR, sbert:NAME, ...). "
                                   "Default: a CLIP for images, all-MiniLM-L6-v2 for texts."),
    text_files: bool = typer.Option(False, "--text-files",
                                    help="Index .txt/.md files of a folder instead of images."),
    path_column: str = typer.Option(None, help="Manifest column holding image paths."),
    text_column: str = typer.Option(None, help="Manifest column holding texts or captions."),
    id_column: str = typer.Option(None, help="Manifest column identifying text rows."),
    vector_column: str = typer.Option(None, help="Parquet column of precomputed embeddings to "
                                                 "import instead of running the model."),
    index_kind: str = typer.Option(
        "flat", "--index", help="flat (exact), hnsw (large), or int8 / binary: compressed codes "
                                "pick a shortlist, rescored exactly with the stored vectors."),
    index_dim: int = typer.Option(
        None, "--dim", min=1, help="Index only the first N dimensions, renormalised (Matryoshka "
                                   "models); the shortlist is rescored with all of them."),
    batch_size: int = typer.Option(64, min=1, max=4096),
    workers: int = typer.Option(None, min=0, help="Decode processes (0 = inline)."),
    fast_decode: bool = typer.Option(False, help="Decode big JPEGs at reduced scale (faster, "
                                                 "not bit-exact)."),
    max_image_megapixels: float = typer.Option(
        None, min=0.01, max=100_000, help="Reject images above this many megapixels "
                                           "(default 64)."),
    no_prune: bool = typer.Option(False, help="Keep items whose files left the source."),
    prune_all: bool = typer.Option(False, help="Remove items gone from the source even when "
                                               "that is most of them (otherwise kept, exit 1)."),
    types: str = typer.Option(None, help="Manifest column types, e.g. year=int,code=str "
                                         "(int, float, str, bool); others are inferred."),
    on_duplicate: str = typer.Option("error", help="Manifest rows sharing a path or id: "
                                                   "error (list them) or last (last row wins)."),
    api_key: str = API_KEY_OPTION,
    shards: int = typer.Option(None, min=1, help="Qdrant: shards of a new collection."),
    replicas: int = typer.Option(None, min=1, help="Qdrant: copies of each shard (a new "
                                                   "collection on a cluster)."),
    runtime: str = RUNTIME_OPTION,
    engine: str = typer.Option("local", help="Where decode and embed run: local (this machine) "
                                             "or ray (Ray Data; needs jointspace[ray])."),
    ray_address: str = typer.Option(None, help="Ray cluster to join, e.g. 10.0.0.1:6379 "
                                               "(default: start a local Ray on 127.0.0.1)."),
    actors: int = typer.Option(1, min=1, help="Ray engine: embedding actors (one model each; "
                                              "one GPU each when the cluster has GPUs)."),
    as_json: bool = JSON_OPTION,
) -> None:
    """Sync SOURCE into the collection: embed new and changed files, drop removed ones.

    Exits 1 when the source lists nothing, or when it would remove more than half of its
    items (kept until --prune-all). Items removed with `remove` stay out while unchanged.
    """
    from jointspace.engines import load_engine
    from jointspace.errors import BadInputError
    from jointspace.ingest.sources import ManifestSource, open_source
    from jointspace.query import Collection
    from jointspace.store.registry import store_exists

    manifest_options = {k: v for k, v in (("path_column", path_column),
                                          ("text_column", text_column), ("id_column", id_column),
                                          ("types", types)) if v}
    manifest_options["on_duplicate"] = on_duplicate
    opts = store_options(api_key, index=index_kind, shards=shards, replicas=replicas,
                         index_dim=index_dim)
    if vector_column:
        from jointspace.cli.transfer_cmds import index_vectors

        return index_vectors(source, collection, model, opts, vector_column=vector_column,
                             id_column=id_column, text_column=text_column,
                             path_column=path_column, batch_size=batch_size, as_json=as_json)
    options: dict[str, Any] = {}
    if Path(source).is_dir():
        options["kinds"] = {"text"} if text_files else {"image"}
    else:
        options.update(manifest_options)
    src = open_source(source, **options)
    if not isinstance(src, ManifestSource) and (len(manifest_options) > 1
                                                or on_duplicate != "error"):
        raise BadInputError("--path-column, --text-column, --id-column, --types and "
                            "--on-duplicate apply to manifests only",
                            hint="pass a .csv/.jsonl/.parquet manifest, or drop those options")
    if hasattr(src, "check"):
        src.check()  # a misspelt column or duplicate rows: one error before any work
    runner = load_engine(engine, **({"address": ray_address, "actors": actors}
                                    if engine == "ray" else {}))
    if store_exists(collection, opts):
        col = Collection.open(collection, model=model, options=opts, runtime=runtime)
    else:
        col = Collection.create(collection, model or _default_model(src), options=opts,
                                runtime=runtime)
    with col, _progress(as_json) as on_progress:
        max_pixels = int(max_image_megapixels * 1e6) if max_image_megapixels else None
        report = col.add(src, batch_size=batch_size, workers=workers, fast_decode=fast_decode,
                         max_pixels=max_pixels, prune=False if no_prune else None,
                         prune_all=prune_all, progress=on_progress, engine=runner)
    data = report.to_dict() | {"collection": col.location, "runtimes": col.loaded_runtimes()}
    refused = report.scanned == 0 or report.prune_refused
    if refused:  # the report stands, and an error object says why the exit code is 1
        data["error"] = {"type": "PruneRefused" if report.prune_refused else "EmptySource",
                         "message": report.warnings[-1] if report.warnings else "",
                         "hint": "pass --prune-all to remove them" if report.prune_refused
                         else "check the source path (an unmounted folder? an empty manifest?)"}
    emit(data, as_json, _render_report)
    if report.failed and not as_json:
        err_console.print(f"{report.failed} file(s) failed; see `jointspace errors -c "
                          f"{col.location}`")
    for warning in report.warnings:
        err_console.print(f"[yellow]warning:[/] {escape(warning)}", highlight=False,
                          soft_wrap=True, markup=True)
    if refused:
        raise typer.Exit(1)


def search(
    query: str = typer.Argument(None, help="Text to search for."),
    collection: str = COLLECTION_OPTION,
    image: Path = typer.Option(None, "--image", "-i", help="Search by an image file."),
    like: int = typer.Option(None, "--like", min=1, help="More like this item id."),
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
    hubness: str = typer.Option(None, help="Demote hubs with the collection's query bank: "
                                           "qbnorm or csls (build the bank with `bank`)."),
    balance: bool = typer.Option(None, "--balance-modalities/--no-balance-modalities",
                                 help="Rank images and texts each against their own score "
                                      "distribution (default: on in mixed collections)."),
    min_score: str = typer.Option(None, "--min-score",
                                  help="Drop results below this cosine, or 'auto': the "
                                       "collection's calibrated cut-off (may return nothing)."),
    api_key: str = API_KEY_OPTION,
    runtime: str = RUNTIME_OPTION,
    as_json: bool = JSON_OPTION,
) -> None:
    """Search by text, image, item, or a composition of them."""
    from jointspace.errors import BadInputError
    from jointspace.query import Collection
    from jointspace.query.quality_search import parse_min_score

    if query is None and image is None and like is None:
        raise BadInputError("nothing to search for", hint="give a text, --image PATH or --like ID")
    with Collection.open(collection, readonly=True, options=store_options(api_key),
                         runtime=runtime) as col:
        hits = col.search(query, image=image, item_id=like, k=k, offset=offset,
                          where=where or None, kind=kind, negative=negative or None,
                          image_weight=image_weight, text_weight=text_weight,
                          hybrid=fusion if hybrid else False, hubness=hubness,
                          balance_modalities=balance, min_score=parse_min_score(min_score))
        used = col.loaded_runtimes()
    emit({"results": [h.to_dict() for h in hits], "runtimes": used}, as_json, _render_hits)


def info(collection: str = COLLECTION_OPTION, api_key: str = API_KEY_OPTION,
         as_json: bool = JSON_OPTION) -> None:
    """Count, model, dim and state of a collection."""
    from jointspace.query import Collection

    with Collection.open(collection, readonly=True, options=store_options(api_key)) as col:
        data = col.info() | col.quality_info()
    emit(data, as_json, _render_mapping)


def remove(
    ids: list[int] = typer.Argument(None, min=1, help="Item ids to remove."),
    collection: str = COLLECTION_OPTION,
    where: list[str] = typer.Option(None, "--where", "-w", help="Remove items matching a filter."),
    api_key: str = API_KEY_OPTION,
    as_json: bool = JSON_OPTION,
) -> None:
    """Remove items by id or by metadata filter."""
    from jointspace.errors import BadInputError
    from jointspace.query import Collection

    if not ids and not where:
        raise BadInputError("nothing to remove", hint="give item ids or --where FILTER")
    with Collection.open(collection, options=store_options(api_key)) as col:
        n = col.remove(ids or (), where=where or None)
    emit({"removed": n}, as_json, lambda d: console.print(
        f"removed {d['removed']} item(s); indexing their folder or manifest again leaves them out "
        "while their files are unchanged (index a file by name to bring it back)"))


def errors(collection: str = COLLECTION_OPTION, api_key: str = API_KEY_OPTION,
           as_json: bool = JSON_OPTION) -> None:
    """Files that failed to index, with the reason."""
    from jointspace.query import Collection

    with Collection.open(collection, readonly=True, options=store_options(api_key)) as col:
        errs = [e.to_dict() for e in col.errors()]
    emit({"errors": errs}, as_json, _render_errors)


# --- helpers ------------------------------------------------------------------------------
def store_options(api_key: str | None, **fields: Any):
    """The backend options a command was given (a StoreOptions)."""
    from jointspace.store.registry import StoreOptions

    return StoreOptions(api_key=api_key, **{k: v for k, v in fields.items() if v is not None})


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
    cols = ["added", "updated", "unchanged", "removed", "failed"]
    cols += [c for c in ("excluded", "prune_refused") if d.get(c)]  # only when they happened
    for col in cols:
        t.add_column(col.replace("_", " "), justify="right")
    t.add_row(*(str(d[c]) for c in cols))
    console.print(t)


def _render_hits(d: dict) -> None:
    t = Table(show_lines=False)
    for col, just in (("#", "right"), ("id", "right"), ("score", "right"), ("item", "left"),
                      ("metadata", "left")):
        t.add_column(col, justify=just)
    for n, h in enumerate(d["results"], 1):
        item = h.get("path") or (h.get("text") or "")[:80]
        meta = ", ".join(f"{k}={v}" for k, v in list(h["metadata"].items())[:4])
        score = f"{h['score']:.4f}" + (f" ({h['relevance']:.2f})" if "relevance" in h else "")
        t.add_row(str(n), str(h["id"]), score, item, meta[:60])
    console.print(t if d["results"] else "no results (no good match)")


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
