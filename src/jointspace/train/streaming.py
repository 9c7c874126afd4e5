"""``--stream``: training batches read from webdataset shards as they are needed, never all held.

Each process reads its shards through a DataLoader whose workers decode images (the processor's
uint8 output, as the in-memory path stores) and pick one caption per sample; :class:`ShardStream`
gives every (rank x worker) its own slice of the epoch's shard order, so over all processes each
sample is read once per epoch. A step needs a full local batch on every rank (the global batch is
gathered for the loss): when any rank runs short the epoch ends for all and the ragged tail is
dropped, as the in-memory path drops it. Epochs are logged with their global sample count and a
key checksum (sum of crc32 of the sample keys), which shows each sample was seen exactly once.

Not streamed: validation (``--val`` is loaded into memory; without it there is no validation, as
holding images out of a stream would need a pass over it) and resuming mid-epoch (a resumed run
starts the stream of its current epoch from the beginning).
"""

from __future__ import annotations

import hashlib
import json
import tarfile
import zlib
from collections.abc import Iterator
from typing import Any

import numpy as np
import torch
import torch.distributed as dist
from torch.utils.data import DataLoader, IterableDataset

from jointspace.errors import BadInputError
from jointspace.ingest.sources import row_captions
from jointspace.train import distributed as D
from jointspace.train.data import _IMAGE_EXTS, _to_uint8
from jointspace.train.shards import ShardStream

KEY_MOD = (1 << 61) - 1  # checksum modulus (fits int64 sums of two ranks' partial sums)


def count_samples(shards: list[str]) -> int:
    """Captioned-image samples in ``shards`` (tar headers only, nothing decoded)."""
    n = 0
    for path in shards:
        with tarfile.open(path) as tar:
            n += sum(1 for m in tar if m.isfile() and m.name.rpartition(".")[2].lower()
                     in _IMAGE_EXTS)
    return n


def key_checksum(keys: list[str]) -> int:
    """Order-free checksum of sample keys (``shard:key``), as logged per epoch."""
    return sum(zlib.crc32(k.encode()) for k in keys) % KEY_MOD


class _Decoded(IterableDataset):
    """(uint8 (3, H, W) pixels, one caption, ``shard:key``) per captioned sample of the stream."""

    def __init__(self, stream: ShardStream, processor: Any, seed: int) -> None:
        super().__init__()
        self.stream, self.processor, self.seed = stream, processor, seed

    def __iter__(self) -> Iterator[tuple[np.ndarray, str, str]]:
        for sample in self.stream:
            ext = next((e for e in _IMAGE_EXTS if e in sample), None)
            if "json" in sample:
                captions = row_captions(json.loads(sample["json"]))
            else:
                captions = [sample["txt"].decode("utf-8").strip()] if "txt" in sample else []
            if ext is None or not captions:
                continue
            key = f"{sample['__shard__']}:{sample['__key__']}"
            pick = zlib.crc32(f"{self.seed}:{self.stream.epoch}:{key}".encode()) % len(captions)
            yield _to_uint8(self.processor, sample[ext]), captions[pick], key


def _collate(items: list[tuple[np.ndarray, str, str]]):
    pixels = torch.from_numpy(np.stack([i[0] for i in items]))
    return pixels, [i[1] for i in items], [i[2] for i in items]


class StreamBatches:
    """This process's local batches, epoch after epoch; every rank steps through the same count."""

    def __init__(self, shards: list[str], processor: Any, local_batch: int, seed: int,
                 workers: int, d: D.Dist, epoch: int = 0) -> None:
        self.data = _Decoded(ShardStream(shards, seed), processor, seed)
        self.local_batch, self.workers, self.d = local_batch, workers, d
        self.finished: list[dict[str, int]] = []  # epochs ended since last read by the loop
        self._start(epoch)

    def _start(self, epoch: int) -> None:
        self.epoch, self.samples, self.keysum = epoch, 0, 0
        self.data.stream.set_epoch(epoch)
        self.it = iter(DataLoader(self.data, batch_size=self.local_batch,
                                  num_workers=self.workers, collate_fn=_collate))

    def next(self) -> tuple[torch.Tensor, list[str]]:
        """(uint8 (b, 3, H, W), captions) of the next step; rolls into the next epoch as needed."""
        while True:
            batch = next(self.it, None)
            full = batch is not None and len(batch[1]) == self.local_batch
            if D.all_true(full, self.d):
                self.samples += self.local_batch
                self.keysum = (self.keysum + key_checksum(batch[2])) % KEY_MOD
                return batch[0], batch[1]
            self._end_epoch()

    def _end_epoch(self) -> None:
        totals = torch.tensor([self.samples, self.keysum], dtype=torch.int64)
        if self.d.world > 1:
            dist.all_reduce(totals, op=dist.ReduceOp.SUM)
        if totals[0] == 0:
            raise BadInputError(f"a whole epoch of the shard stream gave no full batch of "
                                f"{self.local_batch} per process",
                                hint="use a smaller --batch-size or more shards")
        self.finished.append({"epoch": self.epoch, "samples": int(totals[0]),
                              "key_checksum": int(totals[1]) % KEY_MOD})
        self._start(self.epoch + 1)


class StreamData:
    """What the loop knows of streamed training data up front: the shards and their size."""

    captions: list[str] = []  # noqa: RUF012 - none known before they stream past

    def __init__(self, spec: str) -> None:
        from jointspace.ingest.webdataset_source import shard_paths
        from jointspace.train.data import is_shards

        if not is_shards(spec):
            raise BadInputError(f"--stream reads webdataset shards, not {spec!r}",
                                hint="pass --data 'dir/train-*.tar' or drop --stream")
        self.shards = shard_paths(spec)
        self.n = count_samples(self.shards)
        if self.n == 0:
            raise BadInputError(f"no images in the shards {spec!r}")

    def __len__(self) -> int:
        return self.n


def caption_hashes(captions: list[str]) -> torch.Tensor:
    """int64 id per caption text (equal texts, equal ids) for the same-caption positives."""
    return torch.tensor([int.from_bytes(hashlib.blake2b(c.encode(), digest_size=7).digest(),
                                        "little") for c in captions], dtype=torch.int64)


def stream_step_fn(s, config, d: D.Dist, optimizer, scheduler, batch: int, start_step: int):
    """The loop's step function reading its batches from the shard stream."""
    from jointspace.train.batches import same_caption_mask
    from jointspace.train.loop import _StepFn

    class StreamStepFn(_StepFn):
        def __init__(self) -> None:
            super().__init__(s, config, d, optimizer, scheduler, batch)
            epoch = start_step // max(1, len(s.data) // batch)  # resume: that epoch afresh
            self.batches = StreamBatches(s.data.shards, s.t.processor, batch // d.world,
                                         config.seed, config.workers, d, epoch)

        def __call__(self, step: int) -> float:
            pixels, captions = self.batches.next()  # uint8 (b, 3, h, w)
            if config.augment == "shift":
                self.max_shift = pixels.shape[-1] // 16
            positives = None
            if config.positives == "caption":
                ids = D.gather_with_grad(caption_hashes(captions), d)
                positives = same_caption_mask(ids.numpy())
            pixels = pixels.permute(0, 2, 3, 1).contiguous()  # (b, h, w, 3)
            if self.max_shift:
                pixels = self.shift(step, pixels)
            return self.optimise(step, pixels, lambda: _batch_text(s.t, captions), positives)

    return StreamStepFn()


def _batch_text(t, captions: list[str]) -> torch.Tensor:
    """Text embeddings of one streamed batch (its captions are not known ahead to cache)."""
    tokens = t.tokenize(captions)
    if t.lock == "text":
        return t.text_head(t.text_frozen(tokens).float())
    return t.text_features(tokens)
