"""`jointspace copy | export`, and `index --vector-column`: moving collections and vectors."""

from __future__ import annotations

from pathlib import Path

import typer

from jointspace.cli.collection_cmds import (
    API_KEY_OPTION,
    COLLECTION_OPTION,
    _progress,
    _render_mapping,
    _render_report,
    store_options,
)
from jointspace.cli.render import JSON_OPTION, emit, err_console


def register(app: typer.Typer) -> None:
    app.command("copy")(copy)
    app.command("export")(export)


def copy(
    src: str = typer.Argument(..., help="Collection to copy (directory or qdrant:// location)."),
    dst: str = typer.Argument(..., help="Where to copy it (created with the same model)."),
    api_key: str = API_KEY_OPTION,
    shards: int = typer.Option(None, min=1, help="Qdrant: shards of a new destination."),
    replicas: int = typer.Option(None, min=1, help="Qdrant: copies of each shard."),
    batch_size: int = typer.Option(1024, min=1, max=65536),
    sample: int = typer.Option(64, min=0, help="Vectors compared after copying."),
    as_json: bool = JSON_OPTION,
) -> None:
    """Copy a collection to another backend without re-embedding (resumable, then verified)."""
    from jointspace.transfer import copy_collection

    with _progress(as_json) as on_progress:
        report = copy_collection(src, dst, src_options=store_options(api_key),
                                 dst_options=store_options(api_key, shards=shards,
                                                           replicas=replicas),
                                 batch=batch_size, sample=sample, progress=on_progress)
    emit(report.to_dict(), as_json, _render_mapping)


def export(
    out: Path = typer.Argument(..., help="Output file."),
    collection: str = COLLECTION_OPTION,
    fmt: str = typer.Option("parquet", "--format", help="Output format: parquet."),
    api_key: str = API_KEY_OPTION,
    as_json: bool = JSON_OPTION,
) -> None:
    """Export items and vectors (id, key, kind, path, text, metadata, vector) to a file."""
    from jointspace.errors import BadInputError
    from jointspace.transfer import export_parquet
    from jointspace.transfer.export import FORMATS

    if fmt not in FORMATS:
        raise BadInputError(f"unknown format {fmt!r}", hint=f"use one of {', '.join(FORMATS)}")
    emit(export_parquet(collection, out, options=store_options(api_key)), as_json,
         _render_mapping)


def index_vectors(source: Path, collection: str, model: str | None, options, *,
                  vector_column: str, id_column: str | None, text_column: str | None,
                  path_column: str | None, batch_size: int, as_json: bool) -> None:
    """`index MANIFEST.parquet --vector-column COL`: import precomputed embeddings."""
    from jointspace.errors import BadInputError
    from jointspace.query import Collection
    from jointspace.store.registry import store_exists
    from jointspace.transfer.vectors import Columns, import_vectors, open_manifest

    if Path(source).suffix.lower() != ".parquet":
        raise BadInputError("--vector-column reads a parquet manifest",
                            hint="index vectors.parquet --vector-column emb")
    open_manifest(source)  # an unreadable file fails before a collection is created for it
    if store_exists(collection, options):
        col = Collection.open(collection, model=model, options=options)
    elif model is None:
        raise BadInputError("a new collection needs the model that computed the vectors",
                            hint="pass --model (its dim is checked against the vectors)")
    else:
        col = Collection.create(collection, model, options=options)
    columns = Columns(vector_column, id_column, text_column, path_column)
    with col, _progress(as_json) as on_progress:
        report = import_vectors(col.store, source, columns, batch=max(batch_size, 1024),
                                progress=on_progress)
    emit(report.to_dict() | {"collection": col.location}, as_json, _render_report)
    if report.failed and not as_json:
        err_console.print(f"{report.failed} row(s) failed (null, wrong-size or zero vectors)")
