"""Multi-process training under torchrun: global negatives and summed gradients.

Every process holds the same model and knows the whole global batch's indices; it embeds only
its slice. :func:`gather_with_grad` assembles the global embedding matrix (its own rows keep their
gradient), every process computes the same global loss, and :func:`sum_gradients` adds the
per-process gradients — which together are exactly the single-process gradient of that loss.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import torch
import torch.distributed as dist


@dataclass
class Dist:
    rank: int = 0
    world: int = 1

    @property
    def main(self) -> bool:
        return self.rank == 0

    def local_slice(self, n: int) -> slice:
        """This process's part of a global batch of ``n`` (n must divide evenly)."""
        per = n // self.world
        return slice(self.rank * per, (self.rank + 1) * per)


def init_from_env() -> Dist:
    """Join the torchrun process group (gloo) when WORLD_SIZE > 1; else a single process."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world <= 1:
        return Dist()
    if not dist.is_initialized():
        dist.init_process_group("gloo")
    return Dist(dist.get_rank(), dist.get_world_size())


def gather_with_grad(x: torch.Tensor, d: Dist) -> torch.Tensor:
    """All processes' ``x`` concatenated in rank order; only the local rows carry gradient."""
    if d.world == 1:
        return x
    parts = [torch.empty_like(x) for _ in range(d.world)]
    dist.all_gather(parts, x.detach().contiguous())
    parts[d.rank] = x
    return torch.cat(parts)


def sum_gradients(params: list[torch.nn.Parameter], d: Dist) -> None:
    """Sum gradients over processes in one flat all-reduce."""
    if d.world == 1:
        return
    grads = [p.grad if p.grad is not None else torch.zeros_like(p) for p in params]
    flat = torch.cat([g.reshape(-1) for g in grads])
    dist.all_reduce(flat, op=dist.ReduceOp.SUM)
    offset = 0
    for p, g in zip(params, grads, strict=True):
        n = g.numel()
        p.grad = flat[offset : offset + n].view_as(p).clone()
        offset += n


def broadcast_parameters(module_params: list[torch.Tensor], d: Dist) -> None:
    """Start every process from rank 0's weights."""
    if d.world == 1:
        return
    for p in module_params:
        dist.broadcast(p.data, src=0)


def from_first(flag: bool, d: Dist) -> bool:
    """Rank 0's ``flag`` on every process (e.g. its early-stopping decision)."""
    if d.world == 1:
        return flag
    t = torch.tensor([int(flag)])
    dist.broadcast(t, src=0)
    return bool(t.item())


def all_true(flag: bool, d: Dist) -> bool:
    """True on every process when ``flag`` is true on all of them."""
    if d.world == 1:
        return flag
    t = torch.tensor([int(flag)])
    dist.all_reduce(t, op=dist.ReduceOp.MIN)
    return bool(t.item())


def barrier(d: Dist) -> None:
    if d.world > 1:
        dist.barrier()


def shutdown(d: Dist) -> None:
    if d.world > 1 and dist.is_initialized():
        dist.destroy_process_group()
