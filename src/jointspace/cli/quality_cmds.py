"""`jointspace bank | calibrate`: the stored state of the quality layer (docs/quality/)."""

from __future__ import annotations

from pathlib import Path

import typer

from jointspace.cli.collection_cmds import COLLECTION_OPTION, _render_mapping
from jointspace.cli.render import JSON_OPTION, emit


def register(app: typer.Typer) -> None:
    app.command("bank")(bank)
    app.command("calibrate")(calibrate)


def bank(
    collection: Path = COLLECTION_OPTION,
    file: Path = typer.Option(None, "--file", "-f",
                              help="Queries, one per line (past queries, typical captions). "
                                   "Default: the collection's own captions and texts."),
    add: bool = typer.Option(False, "--add", help="Append --file to the current bank."),
    beta: float = typer.Option(None, min=0.1, max=1000.0, help="QB-Norm temperature (default 10)."),
    csls_k: int = typer.Option(None, min=1, help="CSLS neighbourhood size (default 50)."),
    as_json: bool = JSON_OPTION,
) -> None:
    """Build the query bank that `search --hubness` uses to demote hubs."""
    from jointspace.errors import BadInputError
    from jointspace.query import Collection

    texts = None
    if file is not None:
        try:
            texts = [t.strip() for t in file.read_text(encoding="utf-8").splitlines() if t.strip()]
        except (OSError, UnicodeDecodeError) as exc:
            raise BadInputError(f"cannot read {file}: {exc}",
                                hint="give a UTF-8 text file, one query per line") from None
    elif add:
        raise BadInputError("--add needs --file", hint="give the queries to append with --file")
    with Collection.open(collection) as col:
        n = col.build_query_bank(texts, beta=beta, csls_k=csls_k, append=add)
    emit({"query_bank": n, "collection": str(collection)}, as_json, _render_mapping)


def calibrate(
    collection: Path = COLLECTION_OPTION,
    miss: float = typer.Option(None, help="Share of the collection's caption-image pairs the "
                                          "cut-off may reject, between 0 and 1 (default 0.25)."),
    as_json: bool = JSON_OPTION,
) -> None:
    """Fit the collection's "no good match" cut-off (`search --min-score auto`) now."""
    from jointspace.query import Collection

    with Collection.open(collection) as col:
        cal = col.calibrate(miss=miss)
    emit({"calibration": {k: {"cut": round(v.cut, 4), "fitted_on_pairs": v.n_matches}
                          for k, v in cal.cuts.items()}, "miss": cal.miss, "count": cal.count},
         as_json, _render_mapping)
