"""`jointspace evaluate zeroshot | retrieval | beir | compare` and `jointspace classify`."""

from __future__ import annotations

import re
from pathlib import Path

import typer

from jointspace.cli.evaluate_render import (
    render_compare,
    render_predictions,
    render_summary,
    render_tags,
)
from jointspace.cli.render import JSON_OPTION, RUNTIME_OPTION, emit, err_console

MODEL_OPTION = typer.Option(..., "--model", "-m", help="Model name, e.g. hf:DIR or sbert:NAME.")
OUT_OPTION = typer.Option(None, "--out", "-o",
                          help="Folder for report.json + report.html "
                               "(default: ./evaluation/<task>-<dataset>-<model>).")
PNG_OPTION = typer.Option(False, "--png", help="Also render report.png with headless chromium.")
TEMPLATES_OPTION = typer.Option(
    ["single"], "--templates", "-t",
    help="single, imagenet80, imagenet7, none, or your own template with {} (repeatable).")

MAX_LISTED_ERRORS = 10  # unreadable files named in the summary; report.json has them all

PROMPT_WEIGHTS_OPTION = typer.Option(
    "equal", "--prompt-weights",
    help="equal (mean of the templates) or zpe (weights from the unlabelled images' score "
         "statistics, Allingham et al. 2023).")
TRANSDUCTIVE_OPTION = typer.Option(
    False, "--transductive",
    help="Classify the whole set at once by label propagation over its k-NN graph (ZLaP).")
PROPAGATION_K_OPTION = typer.Option(None, "--propagation-k", min=1, max=200,
                                    help="ZLaP neighbours per image (default: tuned).")

evaluate_app = typer.Typer(help="Measure models on benchmarks and on your own data.",
                           no_args_is_help=True)


def register(app: typer.Typer) -> None:
    app.add_typer(evaluate_app, name="evaluate")
    app.command("classify")(classify)


@evaluate_app.command("zeroshot")
def zeroshot(
    dataset: Path = typer.Argument(..., help="ImageFolder, or a .csv/.jsonl with file,label."),
    model: str = MODEL_OPTION,
    templates: list[str] = TEMPLATES_OPTION,
    descriptions: Path = typer.Option(None, help="JSON {class: [sentences]} (CuPL-style)."),
    classes: Path = typer.Option(None, help="Class names file, one per line."),
    file_column: str = typer.Option(None, help="CSV/JSONL column holding image paths."),
    label_column: str = typer.Option(None, help="CSV/JSONL column holding labels."),
    per_class: int = typer.Option(None, min=1, help="Evaluate at most N images per class."),
    batch_size: int = typer.Option(64, min=1, max=4096),
    prompt_weights: str = PROMPT_WEIGHTS_OPTION,
    transductive: bool = TRANSDUCTIVE_OPTION,
    propagation_k: int = PROPAGATION_K_OPTION,
    out: Path = OUT_OPTION,
    png: bool = PNG_OPTION,
    runtime: str = RUNTIME_OPTION,
    as_json: bool = JSON_OPTION,
) -> None:
    """Zero-shot classification: top-1, top-5, mean per-class recall, confusion matrix.

    With --transductive and/or --prompt-weights zpe the plain classifier's metrics are reported
    beside the method's (plain_top1, ...), and an ablation table has plain vs each method alone
    and together, all from the same image vectors."""
    from jointspace.models import load_embedder
    from jointspace.zeroshot.classifier import load_descriptions
    from jointspace.zeroshot.datasets import load_labeled_images
    from jointspace.zeroshot.evaluate import evaluate_zeroshot

    data = load_labeled_images(dataset, classes_file=classes, file_column=file_column,
                               label_column=label_column).subset(per_class)
    desc = load_descriptions(descriptions) if descriptions else None
    embedder = load_embedder(model, runtime=runtime)
    report = evaluate_zeroshot(data, embedder, templates=_templates(templates), descriptions=desc,
                               batch_size=batch_size, prompt_weights=_weighting(prompt_weights),
                               transductive=_propagation(transductive, propagation_k))
    _finish(report, out, png, as_json)


@evaluate_app.command("retrieval")
def retrieval(
    captions: Path = typer.Argument(..., help="pairs.jsonl, COCO captions JSON or Karpathy JSON."),
    model: str = MODEL_OPTION,
    split: str = typer.Option(None, help="Only this split (JSONL 'split' field; Karpathy "
                                         "default: test)."),
    image_root: Path = typer.Option(None, help="Folder the image paths are relative to."),
    limit: int = typer.Option(None, min=1, help="Only the first N images."),
    batch_size: int = typer.Option(64, min=1, max=4096),
    hubness: str = typer.Option(None, help="Also run qbnorm or csls and report plain vs it."),
    bank: Path = typer.Option(None, help="Pairs whose captions/images form the query bank "
                                         "(another split than the one evaluated)."),
    bank_split: str = typer.Option(None, help="Split of --bank to use (e.g. train)."),
    bank_limit: int = typer.Option(1024, min=1, help="Images (and their captions) in the bank."),
    beta: float = typer.Option(None, min=0.1, max=1000.0, help="QB-Norm temperature (default 10)."),
    csls_k: int = typer.Option(None, min=1, help="CSLS neighbourhood (default 50)."),
    min_score: str = typer.Option(None, "--min-score",
                                  help="auto: also measure the calibrated 'no good match' "
                                       "cut-off against plain top-10."),
    miss: float = typer.Option(None, help="With --min-score auto: share of true pairs the "
                                          "cut-off may reject (default 0.25)."),
    out: Path = OUT_OPTION,
    png: bool = PNG_OPTION,
    runtime: str = RUNTIME_OPTION,
    as_json: bool = JSON_OPTION,
) -> None:
    """Image-text retrieval: image->text and text->image recall@1/5/10 (multi-caption)."""
    from jointspace.evaluate.pairs import load_pairs
    from jointspace.evaluate.retrieval_eval import check_cut_off_options, evaluate_retrieval
    from jointspace.models import load_embedder
    from jointspace.query.quality_search import QualityOptions

    QualityOptions(hubness=hubness).check()
    check_cut_off_options(min_score, miss)  # before the model loads
    data = load_pairs(captions, split=split, image_root=image_root).subset(limit)
    bank_data = (load_pairs(bank, split=bank_split, image_root=image_root).subset(bank_limit)
                 if bank else None)
    knobs = {k: v for k, v in (("beta", beta), ("csls_k", csls_k)) if v is not None}
    report = evaluate_retrieval(data, load_embedder(model, runtime=runtime), batch_size=batch_size,
                                hubness=hubness, bank=bank_data, hubness_knobs=knobs,
                                min_score=min_score, miss=miss)
    _finish(report, out, png, as_json)


@evaluate_app.command("beir")
def beir(
    dataset: Path = typer.Argument(..., help="BEIR folder: corpus.jsonl, queries.jsonl, qrels/."),
    model: str = typer.Option("sbert:all-MiniLM-L6-v2", "--model", "-m",
                              help="Dense model (unused with --retriever bm25)."),
    split: str = typer.Option("test", help="Which qrels/<split>.tsv to evaluate."),
    retriever: str = typer.Option("dense", help="dense, bm25 or hybrid."),
    fusion: str = typer.Option("convex", help="Hybrid fusion: convex or rrf (tuned defaults)."),
    dense_weight: float = typer.Option(None, min=0.0, max=1.0, help="Override the dense weight."),
    rrf_k: float = typer.Option(None, min=0.0, max=1e6, help="Override RRF's k."),
    normalization: str = typer.Option(None, help="Convex: minmax, zscore or none."),
    tune: bool = typer.Option(False, help="Grid-search fusion on half the split's queries and "
                                          "report the other half (use train qrels only)."),
    ignore_identical_ids: bool = typer.Option(False, help="Drop doc == query ids (ArguAna...)."),
    cache_dir: Path = typer.Option(None, help="Embedding cache (default ~/.cache/jointspace)."),
    out: Path = OUT_OPTION,
    png: bool = PNG_OPTION,
    runtime: str = RUNTIME_OPTION,
    as_json: bool = JSON_OPTION,
) -> None:
    """BEIR text retrieval with the MTEB protocol: nDCG@10, MRR@10, recall@100."""
    from dataclasses import replace

    from jointspace.errors import BadInputError
    from jointspace.evaluate.beir import load_beir
    from jointspace.evaluate.beir_eval import RETRIEVERS, evaluate_beir
    from jointspace.models import load_embedder
    from jointspace.query.hybrid import TUNED

    if retriever not in RETRIEVERS or fusion not in TUNED:
        raise BadInputError(f"unknown retriever {retriever!r} or fusion {fusion!r}",
                            hint="--retriever dense|bm25|hybrid, --fusion convex|rrf")
    overrides = {k: v for k, v in (("dense_weight", dense_weight), ("rrf_k", rrf_k),
                                   ("normalization", normalization)) if v is not None}
    settings = replace(TUNED[fusion], **overrides)
    ds = load_beir(dataset, split)
    embedder = load_embedder(model, runtime=runtime) if retriever != "bm25" else None
    report = evaluate_beir(dataset, split=split, retriever=retriever, embedder=embedder,
                           hybrid=settings, ignore_identical_ids=ignore_identical_ids,
                           cache_dir=cache_dir, dataset=ds)
    if tune:
        report.details["tuning"] = _tune(ds, embedder, cache_dir)
        report.settings["tuned_best"] = report.details["tuning"]["best"]
        report.metrics["tuned_check_ndcg@10"] = report.details["tuning"]["check_score"]
    _finish(report, out, png, as_json)


def _tune(ds, embedder, cache_dir) -> dict:
    from dataclasses import asdict

    from jointspace.errors import BadInputError
    from jointspace.evaluate.beir_eval import dense_run, keyword_run
    from jointspace.evaluate.tune import tune_fusion

    if embedder is None:
        raise BadInputError("--tune needs a dense model", hint="drop --retriever bm25")
    dense, _ = dense_run(ds, embedder, cache_dir=cache_dir)
    keyword, _ = keyword_run(ds)
    res = tune_fusion(ds.qrels, dense, keyword)
    return {"best": asdict(res.best), "tune_score": res.tune_score,
            "check_score": res.check_score, "trials": res.trials}


@evaluate_app.command("compare")
def compare(
    reports: list[Path] = typer.Argument(..., help="report.json files to put side by side."),
    all_metrics: bool = typer.Option(False, "--all", help="Every metric, not the headline ones."),
    as_json: bool = JSON_OPTION,
) -> None:
    """Side-by-side table of several evaluation reports."""
    from jointspace.evaluate.compare import compare_reports
    from jointspace.evaluate.report import load_report

    emit(compare_reports([load_report(p) for p in reports], all_metrics=all_metrics), as_json,
         render_compare)


def classify(
    images: list[Path] = typer.Argument(None, help="Image files to classify."),
    labels: str = typer.Option(..., "--labels", "-l", help="Comma-separated class labels."),
    model: str = typer.Option(None, "--model", "-m",
                              help="Model (default: the collection's, with --collection)."),
    collection: str = typer.Option(None, "--collection", "-c",
                                    help="Tag every image of this collection instead; the best "
                                         "label goes to metadata[FIELD] (filterable)."),
    field: str = typer.Option("tag", help="Metadata field for --collection tags."),
    templates: list[str] = TEMPLATES_OPTION,
    k: int = typer.Option(3, "--k", "-k", min=1, max=100, help="How many classes to keep."),
    runtime: str = RUNTIME_OPTION,
    prompt_weights: str = PROMPT_WEIGHTS_OPTION,
    transductive: bool = typer.Option(
        False, "--transductive",
        help="Label propagation (ZLaP) over the images' k-NN graph: with --collection, tag the "
             "whole collection at once; with image files and --collection, classify them "
             "against the collection's stored graph (inductive); with image files alone, "
             "propagate over those files."),
    propagation_k: int = PROPAGATION_K_OPTION,
    as_json: bool = JSON_OPTION,
) -> None:
    """Zero-shot classify images into the given labels, or tag a whole collection."""
    from jointspace.errors import BadInputError
    from jointspace.models import load_embedder

    names = [s.strip() for s in labels.split(",") if s.strip()]
    if len(names) < 2:
        raise BadInputError("give at least two labels", hint="--labels cat,dog,bird")
    weighting = _weighting(prompt_weights)
    propagation = _propagation(transductive, propagation_k)
    if collection is not None and not images:
        from jointspace.query import Collection
        from jointspace.zeroshot.tagging import tag_collection

        with Collection.open(collection, model=model, runtime=runtime) as col:
            report = tag_collection(col, names, templates=_templates(templates), top_k=k,
                                    field=field, prompt_weights=weighting,
                                    transductive=propagation)
        emit(report.to_dict() | {"collection": str(collection)}, as_json, render_tags)
        return
    if not images or (model is None and collection is None):
        raise BadInputError("give image files and --model, or --collection",
                            hint="jointspace classify a.jpg --labels cat,dog -m hf:DIR")
    from jointspace.errors import ImageDecodeError
    from jointspace.ingest.decode import load_image

    loaded, errors = [], []
    for path in images:  # an unreadable image is a record, not the end of the batch
        try:
            loaded.append((path, load_image(path)))
        except ImageDecodeError as exc:
            errors.append({"path": str(path), "reason": exc.reason})
    if not loaded:
        raise BadInputError(f"none of the {len(images)} images could be read "
                            f"({errors[0]['path']}: {errors[0]['reason']})",
                            hint="pass image files (jpg, png, webp, ...)")
    pictures = [im for _, im in loaded]
    from jointspace.zeroshot.classifier import classify_set, template_weight_table

    if collection is not None:  # the collection's model and images; inductive against its graph
        from jointspace.query import Collection
        from jointspace.zeroshot.tagging import classify_set_with_collection

        with Collection.open(collection, model=model, runtime=runtime) as col:
            preds, used = classify_set_with_collection(
                col, pictures, names, templates=_templates(templates), k=k,
                prompt_weights=weighting, transductive=propagation)
    else:
        preds, used = classify_set(pictures, names, load_embedder(model, runtime=runtime),
                                   templates=_templates(templates), k=k,
                                   prompt_weights=weighting, transductive=propagation)
    result = {"predictions": [{"path": str(p)} | pr.to_dict()
                              for (p, _), pr in zip(loaded, preds, strict=True)],
              "errors": errors, "prompt_weights": weighting or "equal"}
    if weighting:
        result["template_weights"] = template_weight_table(used)
    emit(result, as_json, render_predictions)
    if errors:
        raise typer.Exit(1)


# --- helpers ------------------------------------------------------------------------------
def _weighting(value: str) -> str | None:
    from jointspace.errors import BadInputError

    if value not in ("equal", "zpe"):
        raise BadInputError(f"unknown --prompt-weights {value!r}", hint="use equal or zpe")
    return None if value == "equal" else value


def _propagation(on: bool, k: int | None):
    from jointspace.zeroshot.propagation import PropagationSettings

    if not on:
        return None
    return PropagationSettings(k=k) if k else PropagationSettings()


def _templates(values: list[str]) -> str | list[str]:
    return values[0] if len(values) == 1 and "{}" not in values[0] else values


def _finish(report, out: Path | None, png: bool, as_json: bool) -> None:
    from jointspace.evaluate.html import write_report
    from jointspace.evaluate.screenshot import screenshot

    out = out or Path("evaluation") / _slug(f"{report.task}-{report.dataset}-{report.model}")
    json_path, html_path = write_report(report, out)
    files = {"json": str(json_path), "html": str(html_path)}
    if png:
        shot = screenshot(html_path, out / "report.png")
        if shot is None:
            err_console.print("no chromium found: skipped report.png "
                              "(apt-get install chromium)")
        else:
            files["png"] = str(shot)
    errors = report.details.get("errors") or []
    summary = {"task": report.task, "model": report.model, "dataset": report.dataset,
               "dataset_hash": report.dataset_hash, "metrics": report.metrics,
               "ablation": report.details.get("ablation") or [], "files": files,
               "unreadable": {"count": len(errors), "files": errors[:MAX_LISTED_ERRORS]}}
    if report.settings.get("prompt_weights") == "zpe":
        summary["template_weights"] = report.details.get("template_weights") or []
    emit(summary, as_json, render_summary)


def _slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]+", "_", text).strip("_")[:120]
