"""``snnbench run`` under ``torchrun``: DistributedDataParallel, one process per GPU (or CPU process, gloo).

    torchrun --nproc-per-node 4 -m snnbench.cli run --method tet --dataset cifar10

Each process trains on its shard of the training set (every ``world_size``-th sample of the shuffled
order) with ``batch_size`` samples per step, so the global batch is ``world_size × batch_size``;
gradients are averaged by DDP. Every process evaluates the full validation and test sets (the
weights are identical), and only rank 0 writes checkpoints and the record, which names the world size.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import torch
import torch.distributed as dist


@dataclass(frozen=True)
class DistInfo:
    rank: int
    world_size: int
    local_rank: int
    backend: str

    @property
    def main(self) -> bool:
        return self.rank == 0


def init_distributed() -> DistInfo | None:
    """Join the process group that ``torchrun`` describes in the environment; ``None`` when not under it."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world <= 1:
        return None
    backend = "nccl" if torch.cuda.is_available() else "gloo"
    if not dist.is_initialized():
        dist.init_process_group(backend=backend)
    return DistInfo(dist.get_rank(), dist.get_world_size(), int(os.environ.get("LOCAL_RANK", "0")), backend)


def finish_distributed(info: DistInfo | None) -> None:
    if info is not None and dist.is_initialized():
        dist.barrier()
        dist.destroy_process_group()


__all__ = ["DistInfo", "finish_distributed", "init_distributed"]
