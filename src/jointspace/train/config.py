"""Training configuration and result as plain dataclasses."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any


@dataclass
class TrainConfig:
    data: str  # pairs.jsonl manifest, a world dir, or webdataset shards (glob or {a..b} braces)
    out: str  # output dir: model/, log.jsonl, training.png, last.pt, cache/
    init: str = "recipe:cnn-minilm"  # recipe:<name> (new model) or hf:<dir|id> (fine-tune)
    split: str | None = None  # keep only manifest rows with this "split" value
    val: str | None = None  # validation pairs (same formats as data); None = no validation
    val_split: str | None = None  # "split" filter for val
    val_images: int = 1000  # validate on the first N images of val
    loss: str = "clip"  # "clip" (softmax, learnable temperature) or "siglip" (sigmoid + bias)
    lock: str = "auto"  # tower(s) kept frozen: "text", "image", "none", "auto" (recipe default)
    batch_size: int = 256  # global batch (split evenly across processes under torchrun)
    steps: int | None = None  # optimisation steps; None = derived from epochs
    epochs: float = 5.0  # passes over the images when steps is None
    max_seconds: float | None = None  # stop early after this much training time (not deterministic)
    lr: float = 2e-3  # peak AdamW learning rate
    weight_decay: float = 0.05  # AdamW decay on weight matrices (not norms, biases, scales)
    warmup: int = 100  # linear warm-up steps, then cosine decay to zero
    captions_per_image: int | None = None  # use only each image's first K captions
    max_images: int | None = None  # use only the first N images
    positives: str = "caption"  # "caption": identical captions in a batch are all positives
    augment: str = "shift"  # "shift" (random translation by up to 1/16 of the side) or "none"
    seed: int = 0  # seeds model init, data order, caption choice and augmentation
    threads: int | None = None  # torch threads per process; None = cores / processes
    log_every: int = 20  # steps between train log records
    val_every: int = 200  # steps between validation runs (and at the end)
    checkpoint_every: int = 500  # steps between resumable checkpoints (and at the end)
    resume: bool = True  # continue from out/last.pt when it exists
    fast_text: bool = False  # cache locked text vectors under bf16 autocast (~1.6x faster, cos>0.9999)
    cache_dir: str | None = None  # where decoded images / text vectors are cached (out/cache)
    text_model: str | None = None  # recipe text tower dir; None = all-MiniLM-L6-v2 (offline)
    progress: bool = True  # rich progress bar on a terminal (rank 0 only)
    recipe_overrides: dict[str, Any] = field(default_factory=dict)  # DualEncoderConfig fields
    lr_scales: dict[str, float] = field(default_factory=dict)  # param-name prefix -> lr multiplier

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


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
    val: dict[str, float]  # last validation metrics (empty without --val)
    log: str  # log.jsonl path
    plot: str | None  # training.png path
    resumed_from: int = 0  # step it resumed from (0 = fresh)
    losses: list[float] = field(default_factory=list)  # per-step loss of this run

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d.pop("losses")
        return d
