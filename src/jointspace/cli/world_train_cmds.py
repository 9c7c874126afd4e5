"""`jointspace world generate` and `jointspace train`: the offline world and contrastive training."""

from __future__ import annotations

from pathlib import Path

import typer
from rich.markup import escape
from rich.table import Table

from jointspace.cli.render import JSON_OPTION, console, emit, err_console
from jointspace.runtime import prefer_throughput

_WORLD_OUT = typer.Option(..., "--out", "-o", help="Output directory.")


def register(app: typer.Typer) -> None:
    world = typer.Typer(help="The procedural image-caption world (offline data for training).",
                        no_args_is_help=True)
    world.command("generate")(generate)
    app.add_typer(world, name="world")
    app.command("train")(_train_command())
    app.command("demo")(demo)


def generate(
    out: Path = _WORLD_OUT,
    n: int = typer.Option(50_000, "--n", min=1, help="Images over all splits."),
    seed: int = typer.Option(0, help="World seed (same seed, same bytes)."),
    image_size: int = typer.Option(64, min=16, max=512, help="Image side in pixels."),
    captions: int = typer.Option(4, min=1, max=8, help="Captions per image."),
    text_prob: float = typer.Option(0.1, min=0, max=1, help="Chance of a painted word."),
    noise_prob: float = typer.Option(0.3, min=0, max=1, help="Chance of a noisy background."),
    shard_size: int = typer.Option(5000, min=0, help="Samples per webdataset shard (0: none)."),
    workers: int = typer.Option(0, min=0, help="Drawing processes (0: all cores)."),
    as_json: bool = JSON_OPTION,
) -> None:
    """Draw a seeded world: train/val/test/heldout images, pairs.jsonl manifests, .tar shards."""
    from jointspace.worlds import SceneOptions, WorldConfig, generate_world

    config = WorldConfig(out=str(out), n=n, seed=seed, image_size=image_size,
                         captions_per_image=captions, shard_size=shard_size, workers=workers,
                         scene=SceneOptions(text_prob=text_prob, noisy_background_prob=noise_prob))
    if as_json:
        summary = generate_world(config)
    else:
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, TimeElapsedColumn

        with Progress("drawing", BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                      console=err_console) as bar:
            task = bar.add_task("draw", total=n)
            summary = generate_world(config, lambda done, total: bar.update(task, completed=done))
    emit(summary.to_dict(), as_json, _render_world)


def _render_world(d: dict) -> None:
    table = Table(title=f"world in {d['out']} ({d['seconds']} s)")
    table.add_column("split")
    table.add_column("images", justify="right")
    for split, count in d["counts"].items():
        table.add_row(split, str(count))
    console.print(table)
    held = ", ".join(f"{c} {s}" for c, s in d["heldout_pairs"])
    console.print(f"held-out compositions (never in train): {held}")
    console.print(f"manifest: {d['manifest']}  shards: {len(d['shards'])}")
    console.print(f"next: jointspace train --data {d['out']}/train/pairs.jsonl "
                  f"--val {d['out']}/val/pairs.jsonl --out runs/demo")


def _train_command():
    """``jointspace train``: its options are TrainConfig's (see jointspace.train.options)."""
    import inspect

    from jointspace.train.options import typer_signature

    extra = [
        inspect.Parameter("nproc", inspect.Parameter.KEYWORD_ONLY, annotation=int,
                          default=typer.Option(1, min=1, help="Processes (>1 launches torchrun "
                                                                "on gloo, CPU).")),
        inspect.Parameter("nnodes", inspect.Parameter.KEYWORD_ONLY, annotation=int,
                          default=typer.Option(1, min=1, help="Nodes of a multi-node torchrun "
                                                                "job (run the same command on "
                                                                "each).")),
        inspect.Parameter("rdzv_endpoint", inspect.Parameter.KEYWORD_ONLY,
                          annotation=str | None,
                          default=typer.Option(None, help="HOST:PORT of the rendezvous "
                                                          "(multi-node).")),
        inspect.Parameter("rdzv_id", inspect.Parameter.KEYWORD_ONLY, annotation=str,
                          default=typer.Option("jointspace", help="Job id, the same on every "
                                                                  "node.")),
        inspect.Parameter("as_json", inspect.Parameter.KEYWORD_ONLY, annotation=bool,
                          default=JSON_OPTION),
    ]

    def train(**values) -> None:
        """Contrastive training (CLIP or SigLIP loss); the result loads anywhere as hf:OUT/model."""
        prefer_throughput()  # before torch loads
        from jointspace.train.launch import Launch, run_torchrun
        from jointspace.train.options import config_argv, config_from_values

        as_json = values.pop("as_json")
        launch = Launch(*(values.pop(k) for k in ("nproc", "nnodes", "rdzv_endpoint", "rdzv_id")))
        config = config_from_values(values)
        if as_json:
            config.progress = False
        result = (run_torchrun(launch, config_argv(config)) if launch.distributed
                  else _run_inline(config))
        emit(result, as_json, _render_train if result else
             lambda _: console.print("done; rank 0 ran on another node: see its output"))

    train.__signature__ = typer_signature(extra)  # type: ignore[attr-defined]
    return train


def _run_inline(config) -> dict:
    from jointspace.train.loop import train as run_training

    return run_training(config).to_dict()


def _render_train(d: dict) -> None:
    table = Table(title=f"trained {d['steps']} steps ({d['epochs']} epochs)")
    table.add_column("")
    table.add_column("value", justify="right")
    for key in ("train_seconds", "setup_seconds", "samples_per_s", "final_loss"):
        table.add_row(key.replace("_", " "), str(d[key]))
    for key, value in (d.get("val") or {}).items():
        if "R@" in key:
            table.add_row(f"val {key}", f"{value:.3f}")
    console.print(table)
    if d.get("best"):
        console.print(f"kept: the weights of step {d['best']['step']} (best validation mean "
                      f"recall {d['best']['mean_recall']:.3f})"
                      + ("; stopped early" if d.get("stopped_early") else ""))
    if d.get("report"):
        console.print(f"report: file://{Path(d['report']).resolve()}")
    console.print(f"model: hf:{d['model_dir']}  (e.g. jointspace index DIR -c COL -m "
                  f"hf:{d['model_dir']})")


_DEMO_DIR = typer.Option(Path("runs/demo"), "--workdir", "-w", help="Where everything is written.")
_DEMO_SET = typer.Option(None, "--set", help="Override a recipe training setting, e.g. "
                                             "--set epochs=8 (repeatable).")


def demo(
    workdir: Path = _DEMO_DIR,
    n: int = typer.Option(50_000, "--n", min=100, help="World size (all splits)."),
    seed: int = typer.Option(0, help="World and training seed."),
    retrain: bool = typer.Option(False, help="Train again even if a cached model exists."),
    settings: list[str] = _DEMO_SET,
    as_json: bool = JSON_OPTION,
) -> None:
    """Offline end to end: world -> train -> index -> queries -> metrics -> HTML report."""
    prefer_throughput()  # before torch loads: training dominates the demo
    from jointspace.demo import DemoConfig, run_demo
    from jointspace.train.options import parse_overrides

    overrides = parse_overrides(settings or [])
    _check_train_settings(overrides)  # before minutes of drawing, not after
    config = DemoConfig(workdir=str(workdir), n=n, seed=seed, retrain=retrain,
                        train=overrides, progress=not as_json)
    result = run_demo(config, say=(lambda _: None) if as_json else
                      (lambda m: err_console.print(f"[bold]>[/] {escape(m)}", highlight=False,
                                                markup=True)))
    emit(result.to_dict(), as_json, _render_demo)


def _check_train_settings(overrides: dict) -> None:
    import dataclasses

    from jointspace.errors import BadInputError
    from jointspace.train.config import TrainConfig, out_of_range

    known = {f.name for f in dataclasses.fields(TrainConfig)}
    unknown = sorted(set(overrides) - known)
    if unknown:
        raise BadInputError(f"unknown training setting(s) {', '.join(unknown)} in --set",
                            hint=f"use TrainConfig fields: {', '.join(sorted(known))}")
    if (problem := out_of_range(overrides)) is not None:
        raise BadInputError(f"--set {problem}", hint="see `jointspace train --help` for ranges")


def _render_demo(d: dict) -> None:
    queries = Table(title="example queries (top hits)")
    for col in ("query", "P@10", "top 3 hits"):
        queries.add_column(col)
    for q in d["queries"]:
        query = q["query"]
        what = query["text"] or f"[image of a {query['image_of']}]"
        if query["where"]:
            what += f"  where {query['where']}"
        top = "; ".join(", ".join(h["labels"] or []) for h in q["hits"][:3])
        p = "" if q["precision"] is None else f"{q['precision']:.2f}"
        queries.add_row(f"{query['title']}: {what}", p, top)
    console.print(queries)
    metrics = Table(title="metrics on the test split")
    metrics.add_column("metric")
    metrics.add_column("value", justify="right")
    for name, value in d["metrics"].items():
        metrics.add_row(name, f"{value:.3f}")
    console.print(metrics)
    t, m = d["train"], d["metrics"]
    console.print(f"[bold]single-object P@10: seen {m['P@10 seen']:.3f}, held-out "
                  f"{m['P@10 heldout']:.3f}; training {t['train_seconds']} s[/]", markup=True)
    console.print(f"trained {t['steps']} steps in {t['train_seconds']} s "
                  f"(+{t['setup_seconds']} s data/text caching); cached stages: "
                  + (", ".join(k for k, v in d["cached"].items() if v) or "none"))
    console.print(f"report: file://{Path(d['report']).resolve()}")
    console.print(f"serve:  jointspace serve {d['collection']}   (then open http://127.0.0.1:8000)")
