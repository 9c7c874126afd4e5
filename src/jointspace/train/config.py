"""Training configuration and result as plain dataclasses.

Each TrainConfig field carries its help text and CLI spelling in its metadata (:func:`option`):
the one source of truth for ``jointspace train``, ``python -m jointspace.train`` and the docs
(see :mod:`jointspace.train.options`).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, fields
from typing import Any


def option(default: Any = None, help_text: str = "", *, factory: Any = None,
           short: str | None = None, flag: str | None = None, metavar: str | None = None,
           at_least: float | None = None, at_most: float | None = None) -> Any:
    """A dataclass field that is also a command-line option (``--field-name`` unless ``flag``)."""
    meta = {"help": help_text, "short": short, "flag": flag, "metavar": metavar, "min": at_least,
            "max": at_most}
    if factory is not None:
        return field(default_factory=factory, metadata=meta)
    return field(default=default, metadata=meta)


REQUIRED: Any = ...  # marks an option without a default


@dataclass
class TrainConfig:
    data: str = option(REQUIRED, "Training pairs: a pairs.jsonl manifest, a world dir, or "
                       "webdataset shards (glob or {a..b} braces).", short="-d")
    out: str = option(REQUIRED, "Output dir: model/, log.jsonl, training.png, report.html, "
                      "last.pt, cache/.", short="-o")
    init: str = option("recipe:cnn-minilm", "recipe:<name> (new model) or hf:<dir|id> "
                       "(fine-tune an existing CLIP/SigLIP/jointspace checkpoint).")
    stream: bool = option(False, "Read webdataset --data shards as a stream, split over "
                          "processes x --workers (never all in memory); off: decode once into "
                          "memory (faster for data that fits).")
    workers: int = option(2, "DataLoader workers per process decoding streamed shards.",
                          at_least=0)
    split: str | None = option(None, "Keep only manifest rows with this 'split' value.")
    val: str | None = option(None, "Validation pairs (same formats as --data); without it "
                             "--val-fraction of the training images is held out.")
    val_split: str | None = option(None, "'split' filter for --val.")
    val_fraction: float = option(0.05, "Without --val: hold out this fraction of the training "
                                 "images (seeded, at most --val-images) for validation; 0 = none.",
                                 at_least=0.0, at_most=0.99)
    val_images: int = option(1000, "Validate on at most this many images.", at_least=1)
    loss: str = option("clip", "'clip' (softmax, learnable temperature) or 'siglip' "
                       "(sigmoid + bias).")
    lock: str = option("auto", "Tower(s) kept frozen: text, image, none, auto (recipe default; "
                       "none for hf:).")
    batch_size: int = option(256, "Global batch (split evenly across processes under torchrun).",
                             at_least=1)
    steps: int | None = option(None, "Optimisation steps; default: derived from --epochs.", at_least=1)
    epochs: float = option(5.0, "Passes over the training images when --steps is not given.",
                           at_least=0.0, at_most=1e6)
    max_seconds: float | None = option(None, "Stop after this much training time "
                                       "(not deterministic).", at_least=0.0, at_most=1e9)
    lr: float = option(2e-3, "Peak AdamW learning rate.")
    weight_decay: float = option(0.05, "AdamW decay on weight matrices (not norms, biases, "
                                 "scales).")
    warmup: int = option(100, "Linear warm-up steps, then cosine decay to zero.", at_least=0)
    captions_per_image: int | None = option(None, "Use only each image's first K captions.",
                                            at_least=1)
    max_images: int | None = option(None, "Use only the first N images.", at_least=1)
    positives: str = option("caption", "'caption': identical captions in a batch are all "
                            "positives; 'pair': only the pair itself.")
    hard_groups: str | None = option(None, "Hard-negative batches: a .npy or .json file with one "
                                     "group id (int >= 0) per training image; each batch then "
                                     "fills --hard-fraction of itself from one group.")
    hard_fraction: float = option(0.5, "Share of each batch drawn from one group (with "
                                  "--hard-groups).", at_least=0.0, at_most=1.0)
    positive_groups: str | None = option(None, "Extra positives: a .npy or .json file with one "
                                         "id (int >= 0) per training image; images in a batch "
                                         "with the same id count as pairs of each other's "
                                         "captions (e.g. the same objects, other wording).")
    extra_texts: int = option(0, "Locked text tower: each step also scores the images against "
                              "the cached caption vectors of this many other training images "
                              "(extra image->text negatives at almost no cost; with "
                              "--positive-groups, same-id ones count as pairs). 0: off.",
                              at_least=0)
    augment: str = option("shift", "'shift' (random translation by up to 1/16 of the side) "
                          "or 'none'.")
    precision: str = option("fp32", "Image tower compute: 'fp32', or 'bf16' autocast (needs "
                            "native bf16; ~1.3x the fp32 step on a quiet avx512_bf16 CPU, see "
                            "benchmarks/train.py).")
    compile: bool = option(False, "torch.compile the image tower (inductor): ~12 s once, then "
                           "~1.15x a bf16 step on 2 cores (benchmarks/train.py).")
    matryoshka: list[int] = option(factory=list, help_text="Also train these leading dimensions "
                                   "(e.g. 64,128): nested losses, so truncated vectors work.",
                                   metavar="D1,D2,...")
    ema: float | None = option(None, "Exponential moving average of the trainable weights with "
                               "this decay per step (e.g. 0.998): validation, --keep and the "
                               "saved model use the average.", at_least=0.0, at_most=1.0)
    patience: int | None = option(None, "Early stopping: stop after this many validations "
                                  "without a better validation mean recall.", at_least=1)
    keep: str = option("best", "Weights saved to model/: 'best' (highest validation mean "
                       "recall; last without validation) or 'last'.")
    seed: int = option(0, "Seeds model init, data order, caption choice, augmentation and the "
                       "validation split.")
    threads: int | None = option(None, "Torch threads per process; default: cores / processes.",
                                 at_least=1)
    log_every: int = option(20, "Steps between train log records.", at_least=1)
    val_every: int = option(200, "Steps between validation runs (and at the end).", at_least=1)
    checkpoint_every: int = option(500, "Steps between resumable checkpoints (and at the end).",
                                   at_least=1)
    resume: bool = option(True, "Continue from OUT/last.pt when it exists.")
    fast_text: bool = option(False, "Cache locked text vectors under bf16 autocast "
                             "(~1.6x faster, cos > 0.9999).")
    cache_dir: str | None = option(None, "Where decoded images and text vectors are cached "
                                   "(default OUT/cache).")
    text_model: str | None = option(None, "Recipe text tower dir (default: the offline "
                                    "all-MiniLM-L6-v2).")
    progress: bool = option(True, "Progress bar with ETA on a terminal (first process only).")
    recipe_overrides: dict[str, Any] = option(
        factory=dict, flag="--set", metavar="KEY=VALUE",
        help_text="Override a recipe's DualEncoderConfig field (JSON value), repeatable.")
    lr_scales: dict[str, float] = option(
        factory=dict, flag="--lr-scale", metavar="PREFIX=FACTOR",
        help_text="Scale the lr of parameters whose name starts with PREFIX, repeatable.")

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def out_of_range(values: dict[str, Any]) -> str | None:
    """The first setting in ``values`` outside its option's bounds, as a message; ``None`` if all
    are within them (the CLI checks its flags the same way; this covers the Python API and
    ``demo --set``)."""
    for f in fields(TrainConfig):
        lo, hi = f.metadata.get("min"), f.metadata.get("max")
        value = values.get(f.name)
        if (lo is None and hi is None) or isinstance(value, bool) or \
                not isinstance(value, int | float):
            continue
        if (lo is not None and value < lo) or (hi is not None and value > hi):
            bounds = " and ".join(b for b in (lo is not None and f">= {lo}",
                                              hi is not None and f"<= {hi}") if b)
            return f"{f.name} must be {bounds}, not {value}"
    return None


@dataclass
class TrainResult:
    out: str  # the output directory
    model_dir: str  # the trained checkpoint: load it as hf:<model_dir>
    steps: int  # optimisation steps done in total (including resumed ones)
    epochs: float  # passes over the training images
    train_seconds: float  # wall time of the training loop, validation and checkpoints included
                          # (data loading and caching excluded)
    setup_seconds: float  # loading data, caching text vectors, building the model
    samples_per_s: float  # training pairs per second of optimisation (validation and
                          # checkpoint saving excluded)
    final_loss: float | None  # mean loss over the last logging window
    val: dict[str, float]  # last validation metrics (empty without validation)
    log: str  # log.jsonl path
    plot: str | None  # training.png path
    resumed_from: int = 0  # step it resumed from (0 = fresh)
    best: dict[str, Any] = field(default_factory=dict)  # step and metrics of the kept weights
    stopped_early: bool = False  # early stopping (--patience) ended the run
    report: str | None = None  # report.html beside the checkpoint
    losses: list[float] = field(default_factory=list)  # per-step loss of this run

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d.pop("losses")
        return d
