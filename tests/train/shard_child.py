"""Run under torchrun by test_train_shards: read the shards for 2 epochs with 2 DataLoader workers
per rank; rank 0 writes every (epoch, rank, worker consumer, key) read by any rank to OUT."""

import json
import sys

import torch.distributed as dist
from torch.utils.data import DataLoader

from jointspace.train.distributed import init_from_env, shutdown
from jointspace.train.shards import ShardStream, current_consumer


class _Tagged(ShardStream):
    def __iter__(self):
        consumer = current_consumer().index
        for sample in super().__iter__():
            yield {"key": f"{sample['__shard__']}/{sample['__key__']}", "consumer": consumer,
                   "caption": sample["txt"].decode()}


def main(out: str, shards: list[str]) -> None:
    d = init_from_env()
    stream = _Tagged(shards, seed=3)
    seen = []
    for epoch in range(2):
        stream.set_epoch(epoch)
        loader = DataLoader(stream, batch_size=None, num_workers=2)
        seen += [{"epoch": epoch, "rank": d.rank, **s} for s in loader]
    everyone = [None] * d.world
    dist.all_gather_object(everyone, seen)
    if d.main:
        with open(out, "w") as f:
            json.dump({"world": d.world, "rows": [r for part in everyone for r in part]}, f)
    shutdown(d)


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2:])
