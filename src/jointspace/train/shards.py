"""Stream webdataset shards, split across processes (torchrun ranks) and DataLoader workers.

Every consumer — (rank, worker) of ``world x workers`` — gets the shards at positions
``consumer::consumers`` of one epoch's shard order. The order is a permutation seeded by
``(seed, epoch)``, the same in every process, so over all ranks and workers each shard, and so each
sample, is read exactly once per epoch. Shards are read as a stream (``tarfile`` mode ``r|``),
never loaded whole; a consumer without a shard (more consumers than shards) yields nothing.

    stream = ShardStream(shard_paths("world/shards/train-*.tar"), seed=0)
    stream.set_epoch(epoch)
    loader = torch.utils.data.DataLoader(stream, batch_size=None, num_workers=2)
"""

from __future__ import annotations

import os
import tarfile
from collections.abc import Iterator, Sequence
from dataclasses import dataclass

import numpy as np
from torch.utils.data import IterableDataset, get_worker_info


@dataclass(frozen=True)
class Consumer:
    """Which reader this is: ``index`` of ``count`` over all ranks x DataLoader workers."""

    index: int
    count: int


def current_consumer() -> Consumer:
    """This process's rank (torch.distributed, else RANK/WORLD_SIZE, else 0 of 1) x its worker."""
    import torch.distributed as dist

    if dist.is_available() and dist.is_initialized():
        rank, world = dist.get_rank(), dist.get_world_size()
    else:
        rank, world = int(os.environ.get("RANK", 0)), int(os.environ.get("WORLD_SIZE", 1))
    info = get_worker_info()
    worker, workers = (info.id, info.num_workers) if info is not None else (0, 1)
    return Consumer(rank * workers + worker, world * workers)


def epoch_shards(shards: Sequence[str], epoch: int, seed: int, consumer: Consumer) -> list[str]:
    """This consumer's shards for ``epoch``: its slice of the epoch's common shard order."""
    order = np.random.default_rng([seed, epoch]).permutation(len(shards))
    return [shards[i] for i in order[consumer.index :: consumer.count]]


def iter_samples(path: str) -> Iterator[dict[str, bytes | str]]:
    """The samples of one tar shard in order: ``{"__key__": stem, ext: bytes, ...}``.

    Files of one sample are adjacent in a webdataset shard and share the name up to the first dot
    of the base name (``000042.png``, ``000042.json``).
    """
    sample: dict[str, bytes | str] = {}
    with tarfile.open(path, mode="r|*") as tar:
        for member in tar:
            if not member.isfile():
                continue
            directory, _, base = member.name.rpartition("/")
            stem, _, ext = base.partition(".")
            key = f"{directory}/{stem}" if directory else stem
            if sample and sample["__key__"] != key:
                yield sample
                sample = {}
            sample["__key__"] = key
            sample[ext.lower()] = tar.extractfile(member).read()
    if sample:
        yield sample


class ShardStream(IterableDataset):
    """Samples of ``shards`` for this consumer (rank x worker), shard order reshuffled per epoch."""

    def __init__(self, shards: Sequence[str], seed: int = 0) -> None:
        super().__init__()
        self.shards = list(shards)
        self.seed = seed
        self.epoch = 0

    def set_epoch(self, epoch: int) -> None:
        """Call before each epoch (before the DataLoader starts its workers)."""
        self.epoch = epoch

    def __iter__(self) -> Iterator[dict[str, bytes | str]]:
        for path in epoch_shards(self.shards, self.epoch, self.seed, current_consumer()):
            for sample in iter_samples(path):
                sample["__shard__"] = os.path.basename(path)
                yield sample

