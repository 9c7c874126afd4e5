"""Validation recall during training: embed held-back pairs, multi-caption retrieval metrics."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import torch

from jointspace.train.data import PairData, normalise
from jointspace.train.trainable import Trainable


@torch.no_grad()
def validation_metrics(t: Trainable, data: PairData,
                       text_vectors: Callable[[list[int]], torch.Tensor],
                       batch_size: int = 256) -> dict[str, float]:
    """i2t/t2i R@1/5/10 and mean recall; ``text_vectors(caption indices)`` gives text embeddings."""
    from jointspace.evaluate.itm import retrieval_metrics

    was_training = t.model.training
    t.train_mode(False)
    try:
        images = torch.from_numpy(data.images)
        img = torch.cat([
            torch.nn.functional.normalize(
                t.image_features(normalise(images[s : s + batch_size], t.processor)), dim=-1)
            for s in range(0, len(images), batch_size)])
        n_caps = len(data.captions)
        txt = torch.cat([
            torch.nn.functional.normalize(
                text_vectors(list(range(s, min(s + batch_size, n_caps)))), dim=-1)
            for s in range(0, n_caps, batch_size)])
    finally:
        t.train_mode(was_training)
    sim = (img @ txt.T).numpy().astype(np.float32)
    return {k: round(v, 4) for k, v in retrieval_metrics(sim, data.text_image).items()}
