"""The demo end to end: world -> train (cached) -> index -> queries -> metrics -> HTML report.

Every stage is skipped when its output already exists for the same settings, so a second run
takes seconds. Everything runs offline on CPU.
"""

from __future__ import annotations

import json
import shutil
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

from jointspace.demo.config import RECIPE, DemoConfig, DemoQuery, default_queries
from jointspace.worlds.groups import GROUPINGS

Say = Callable[[str], None]


@dataclass
class QueryResult:
    query: DemoQuery
    hits: list[dict[str, Any]]  # Hit.to_dict() plus "relevant" (None when not judged)
    precision: float | None  # fraction of relevant hits when the query is judged
    heldout: bool  # the judged composition never occurs in training
    image_path: str | None = None  # the query image, for image queries


@dataclass
class DemoResult:
    workdir: str
    report: str  # report.html
    collection: str
    model_dir: str
    metrics: dict[str, float]  # headline numbers (WorldReport.summary)
    timings: dict[str, float]  # seconds per stage (0 when cached)
    cached: dict[str, bool]  # which stages were reused
    train: dict[str, Any]  # the TrainResult of the model in use
    queries: list[QueryResult] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        for q in d["queries"]:
            q["hits"] = [{k: v for k, v in h.items() if k != "metadata"} | {
                "labels": h["metadata"].get("labels")} for h in q["hits"]]
        return d


def run_demo(config: DemoConfig, say: Say = print) -> DemoResult:
    """Run (or reuse) every stage and write ``<workdir>/report.html``."""
    from jointspace.worlds import load_world_meta

    work = Path(config.workdir)
    work.mkdir(parents=True, exist_ok=True)
    timings: dict[str, float] = {}
    cached: dict[str, bool] = {}
    world = work / "world"
    cached["world"], timings["world"] = _ensure_world(world, config, say)
    heldout = [tuple(p) for p in load_world_meta(world)["heldout_pairs"]]
    cached["train"], timings["train"], train = _ensure_model(work / "train", world, config, say)
    model_dir = train["model_dir"]
    col_dir = work / "collection"
    cached["index"], timings["index"] = _ensure_collection(col_dir, world, model_dir, train, say)

    from jointspace.query import Collection
    from jointspace.worlds.evaluate import evaluate_world

    t0 = time.perf_counter()
    with Collection.open(col_dir) as col:
        queries = [run_query(col, q, world, heldout, config.k) for q in default_queries(heldout)]
        say("measuring on the test split (precision@K, zero-shot, recall@K)")
        report = evaluate_world(col.embedder, world, k=config.k)
    timings["queries_and_metrics"] = round(time.perf_counter() - t0, 2)

    from jointspace.demo.report import write_report

    html = write_report(work / "report.html", report, queries, train, heldout, config.k)
    (work / "metrics.json").write_text(json.dumps(report.to_dict()) + "\n")
    return DemoResult(str(work), str(html), str(col_dir), model_dir, report.summary(), timings,
                      cached, train, queries)


def _ensure_world(world: Path, config: DemoConfig, say: Say) -> tuple[bool, float]:
    from jointspace.worlds import WorldConfig, generate_world

    meta_path = world / "world.json"
    if meta_path.is_file():
        meta = json.loads(meta_path.read_text())
        if sum(meta["counts"].values()) == config.n and meta["config"]["seed"] == config.seed:
            say(f"world: reusing {world} ({config.n} images)")
            return True, 0.0
        shutil.rmtree(world)
    say(f"world: drawing {config.n} images into {world}")
    summary = generate_world(WorldConfig(out=str(world), n=config.n, seed=config.seed))
    return False, summary.seconds


def demo_train_config(world: Path, out: Path, config: DemoConfig):
    """The TrainConfig the demo trains with (the recipe plus the user's overrides)."""
    from jointspace.train import TrainConfig

    settings = {**RECIPE, **config.train}
    if settings.get("precision") == "auto":  # bf16 only where the CPU computes it natively
        from jointspace.models.runtimes import cpu_has_bf16

        settings["precision"] = "bf16" if cpu_has_bf16() else "fp32"
    for key in ("hard_groups", "positive_groups"):
        if settings.get(key) in GROUPINGS:  # a world grouping: written from its labels
            settings[key] = str(world_groups(world, settings[key], settings.get("max_images")))
    return TrainConfig(data=str(world / "train" / "pairs.jsonl"), out=str(out),
                       val=str(world / "val" / "pairs.jsonl"), seed=config.seed,
                       progress=config.progress, **settings)


def world_groups(world: Path, by: str, max_images: int | None) -> Path:
    """``world/train/groups-<by>-<n>.npy``: the hard-negative group of each training image."""
    import numpy as np

    from jointspace.worlds.evaluate import read_rows
    from jointspace.worlds.groups import image_groups

    rows = read_rows(world, "train")[:max_images]
    path = world / "train" / f"groups-{by}-{len(rows)}.npy"
    if not path.is_file():
        tmp = path.with_suffix(".tmp.npy")
        np.save(tmp, image_groups(rows, by))
        tmp.replace(path)
    return path


def _ensure_model(out: Path, world: Path, config: DemoConfig,
                  say: Say) -> tuple[bool, float, dict[str, Any]]:
    from jointspace.train import train

    tc = demo_train_config(world, out, config)
    stamp = out / "demo-result.json"
    wanted = {k: v for k, v in tc.to_dict().items() if k != "progress"}
    if stamp.is_file() and not config.retrain:
        saved = json.loads(stamp.read_text())
        if saved["config"] == wanted and Path(saved["result"]["model_dir"]).is_dir():
            say(f"train: reusing the trained model in {saved['result']['model_dir']}")
            return True, 0.0, saved["result"]
    if out.exists():
        shutil.rmtree(out)  # a different recipe or --retrain: start clean
    say(f"train: {tc.init} on {world / 'train'} (text tower locked, CLIP loss)")
    t0 = time.perf_counter()
    result = train(tc).to_dict()
    stamp.write_text(json.dumps({"config": wanted, "result": result}, indent=1) + "\n")
    return False, round(time.perf_counter() - t0, 2), result


def gallery_manifest(world: Path) -> Path:
    """``world/gallery.jsonl``: the test and held-out split images, one row each."""
    path = world / "gallery.jsonl"
    if not path.is_file():
        lines = []
        for split in ("test", "heldout"):
            with open(world / split / "pairs.jsonl", encoding="utf-8") as f:
                for line in f:
                    row = json.loads(line)
                    row["file"] = f"{split}/{row['file']}"
                    lines.append(json.dumps(row))
        path.write_text("\n".join(lines) + "\n")
    return path


def _ensure_collection(col_dir: Path, world: Path, model_dir: str, train: dict[str, Any],
                       say: Say) -> tuple[bool, float]:
    from jointspace.query import Collection

    stamp = col_dir / "demo-model.json"
    model = f"hf:{model_dir}"
    expected = {"model": model, "trained": train.get("steps"), "log": train.get("log")}
    if stamp.is_file() and json.loads(stamp.read_text()) == expected:
        say(f"index: reusing {col_dir}")
        return True, 0.0
    if col_dir.exists():
        shutil.rmtree(col_dir)  # vectors of another model would be stale
    say(f"index: embedding the test + held-out images into {col_dir}")
    t0 = time.perf_counter()
    with Collection.create(col_dir, model=model) as col:
        col.add(gallery_manifest(world))
    stamp.write_text(json.dumps(expected) + "\n")
    return False, round(time.perf_counter() - t0, 2)


def run_query(col: Any, q: DemoQuery, world: Path, heldout: list[tuple[str, str]],
              k: int) -> QueryResult:
    """Search the collection with one example query and judge its hits by their labels."""
    from PIL import Image

    image_path = None
    if q.image_of is not None:
        row = _first_single(world, q.image_of)
        image_path = str(world / row["file"])
        obj = row["objects"][0]
        q = replace(q, image_of=f"{obj['colour']} {obj['shape']}",
                    judge=(obj["colour"], obj["shape"]))
        with Image.open(image_path) as im:
            hits = col.search(image=im.convert("RGB"), k=k + 1, where=q.where)
        hits = [h for h in hits if h.path != image_path][:k]  # not the query picture itself
    else:
        hits = col.search(text=q.text, k=k, where=q.where)
    out = []
    for h in hits:
        d = h.to_dict()
        d["relevant"] = None if q.judge is None else any(
            (o["colour"], o["shape"]) == tuple(q.judge) for o in h.metadata.get("objects", []))
        out.append(d)
    judged = [d["relevant"] for d in out if d["relevant"] is not None]
    precision = sum(judged) / len(judged) if judged else None
    return QueryResult(q, out, precision, q.judge is not None and tuple(q.judge) in heldout,
                       image_path)


def _first_single(world: Path, label: str) -> dict:
    """The first single-object gallery image of ``label`` (else of anything)."""
    with open(gallery_manifest(world), encoding="utf-8") as f:
        singles = [r for r in map(json.loads, f) if r["n_objects"] == 1]
    if not singles:
        raise LookupError("no single-object image in the gallery")
    return next((r for r in singles if r["labels"] == [label]), singles[0])
