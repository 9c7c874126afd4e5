"""Contrastive training of dual encoders (CLIP softmax or SigLIP sigmoid loss), one or N processes.

``train(TrainConfig(data=..., out=..., init="recipe:cnn-minilm"))`` or
``python -m jointspace.train --data world/train/pairs.jsonl --out run``; the trained model is
``hf:<out>/model``. Heavy imports happen inside the functions.
"""

from jointspace.train.config import TrainConfig, TrainResult


def train(config: TrainConfig) -> TrainResult:
    """Train as configured (see :mod:`jointspace.train.loop`)."""
    from jointspace.train.loop import train as _train

    return _train(config)


def main(argv: list[str] | None = None) -> int:
    """Command-line entry point (see :mod:`jointspace.train.main`)."""
    from jointspace.train.main import main as _main

    return _main(argv)


__all__ = ["TrainConfig", "TrainResult", "main", "train"]
