"""PyTorch's own distributed engine: torchrun sets the environment, we read it.

No home-made launcher: ``torchrun --nproc-per-node N -m paintscape train ...`` (or across nodes with
``--nnodes`` and a rendezvous endpoint) starts the processes; each process calls
:func:`init_distributed`, which joins the process group when ``WORLD_SIZE > 1``.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from dataclasses import dataclass

import torch
import torch.distributed as dist
from torch import nn
from torch.utils.data import Sampler


@dataclass(frozen=True)
class DistInfo:
    rank: int = 0
    local_rank: int = 0
    world_size: int = 1
    owns_group: bool = False  # this process group was created by init_distributed (so its shutdown ends it)

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    @property
    def enabled(self) -> bool:
        return self.world_size > 1


def init_distributed(device_kind: str) -> DistInfo:
    world_size = int(os.environ.get("WORLD_SIZE", "1"))
    if world_size <= 1:
        return DistInfo()
    rank, local_rank = int(os.environ["RANK"]), int(os.environ.get("LOCAL_RANK", "0"))
    if dist.is_initialized():  # the caller's group (e.g. a script that trains several runs): it ends it
        return DistInfo(rank, local_rank, world_size)
    backend = "nccl" if device_kind == "cuda" else "gloo"
    if device_kind == "cuda":
        torch.cuda.set_device(local_rank)
    dist.init_process_group(backend=backend)
    return DistInfo(rank, local_rank, world_size, owns_group=True)


def shutdown_distributed(info: DistInfo) -> None:
    """After training: wait for every rank (rank 0 has written the last checkpoint), then end the
    process group if :func:`init_distributed` created it."""
    if dist.is_initialized():
        dist.barrier()
        if info.owns_group:
            dist.destroy_process_group()


def unwrap(module: nn.Module) -> nn.Module:
    """The module inside DDP / torch.compile wrappers."""
    while True:
        if isinstance(module, nn.parallel.DistributedDataParallel):
            module = module.module
        elif hasattr(module, "_orig_mod"):
            module = module._orig_mod
        else:
            return module


def maybe_no_sync(module: nn.Module, skip_sync: bool) -> contextlib.AbstractContextManager:
    """DDP's ``no_sync`` when ``skip_sync`` and the module is DDP-wrapped, else a no-op."""
    if skip_sync and isinstance(module, nn.parallel.DistributedDataParallel):
        return module.no_sync()
    return contextlib.nullcontext()


def all_ranks_finite(value: torch.Tensor, info: DistInfo) -> bool:
    """True when the loss is finite on every rank (so all ranks stop together on NaN)."""
    flag = torch.isfinite(value.detach()).all().float().reshape(1)
    if info.enabled:
        dist.all_reduce(flag, op=dist.ReduceOp.MIN)
    return bool(flag.item() > 0)


class RankBatchSampler(Sampler[list[int]]):
    """Batches of indices for one rank in one epoch: a permutation seeded by ``(seed, key)``,
    cut into global batches, each split evenly across ranks; starts at ``start_batch`` so a
    resumed run continues mid-epoch with the batches it had not seen."""

    def __init__(self, size: int, batch_per_rank: int, info: DistInfo, seed: int, key: int, start_batch: int = 0, num_batches: int | None = None) -> None:
        self.size, self.batch, self.info = size, batch_per_rank, info
        self.seed, self.key, self.start = seed, key, start_batch
        global_batch = batch_per_rank * info.world_size
        self.total = num_batches if num_batches is not None else max(1, size // global_batch)

    def __len__(self) -> int:
        return max(0, self.total - self.start)

    def __iter__(self) -> Iterator[list[int]]:
        generator = torch.Generator().manual_seed(self.seed * 1_000_003 + self.key)
        global_batch = self.batch * self.info.world_size
        need = self.total * global_batch
        order = torch.randperm(self.size, generator=generator)
        if need > self.size:  # a set smaller than the batch: repeat it
            order = order.repeat((need + self.size - 1) // self.size)
        order = order[:need].tolist()
        for b in range(self.start, self.total):
            chunk = order[b * global_batch : (b + 1) * global_batch]
            yield chunk[self.info.rank * self.batch : (self.info.rank + 1) * self.batch]
