"""`jointspace duplicates`: exact and near-duplicate images of a collection."""

from __future__ import annotations

from pathlib import Path

import typer
from rich.table import Table
from rich.text import Text

from jointspace.cli.collection_cmds import COLLECTION_OPTION
from jointspace.cli.render import JSON_OPTION, console, emit


def register(app: typer.Typer) -> None:
    app.command("duplicates")(duplicates)


def duplicates(
    collection: Path = COLLECTION_OPTION,
    threshold: float = typer.Option(None, min=-1.0, max=1.0,
                                    help="Cosine at or above which two images are near "
                                         "duplicates (default 0.95; tune it per model)."),
    neighbours: int = typer.Option(10, "--neighbours", min=1, max=1000,
                                   help="Nearest neighbours checked per image."),
    phash: int = typer.Option(None, "--phash", min=0, max=64,
                              help="Also require perceptual hashes at most this many bits "
                                   "apart (of 64), e.g. 18."),
    phash_alone: int = typer.Option(None, "--phash-alone", min=0, max=64,
                                    help="Also link neighbours whose hashes are at most this "
                                         "many bits apart whatever their cosine, e.g. 12 (for "
                                         "weak models)."),
    keep: str = typer.Option(None, help="Which member each group keeps: largest (pixels), "
                                        "oldest (mtime) or first (lowest id)."),
    dry_run: bool = typer.Option(True, "--dry-run/--apply",
                                 help="--apply writes metadata duplicate_of=<kept id> on the "
                                      "others (needs --keep); the default only reports."),
    as_json: bool = JSON_OPTION,
) -> None:
    """Groups of exact (same sha256) and near-duplicate images (embedding neighbours)."""
    from jointspace.curate.duplicates import DEFAULT_THRESHOLD, find_duplicates, mark_duplicates
    from jointspace.errors import BadInputError
    from jointspace.query import Collection

    if not dry_run and keep is None:
        raise BadInputError("--apply needs a keep rule", hint="add --keep largest|oldest|first")
    with Collection.open(collection, readonly=dry_run) as col:
        report = find_duplicates(col, threshold=DEFAULT_THRESHOLD if threshold is None
                                 else threshold, k=neighbours, max_hash_distance=phash,
                                 hash_alone_distance=phash_alone, keep=keep)
        if not dry_run:
            mark_duplicates(col, report)
    emit(report.to_dict() | {"dry_run": dry_run}, as_json, _render)


def _render(d: dict) -> None:
    if not d["groups"]:
        console.print(f"no duplicates among {d['items']} image(s) "
                      f"(threshold {d['threshold']})", markup=False)
        return
    t = Table(title=f"{len(d['groups'])} group(s) among {d['items']} image(s)")
    t.add_column("score", justify="right")
    t.add_column("kind")
    t.add_column("ids")
    t.add_column("paths")
    for g in d["groups"]:
        ids = Text(", ").join(Text(str(i), style="bold" if i == g["keep"] else "")
                              for i in g["ids"])
        t.add_row(f"{g['score']:.4f}", "exact" if g["exact"] else "near", ids,
                  "\n".join(Path(p).name if p else "-" for p in g["paths"]))
    console.print(t)
    what = (f"marked {d['marked']} item(s) duplicate_of" if not d["dry_run"]
            else "dry run: nothing written (--apply --keep RULE writes duplicate_of)")
    console.print(what, markup=False)
