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

from snnbench.config import ConfigError


@dataclass(frozen=True)
class DistInfo:
    rank: int
    world_size: int
    local_rank: int
    backend: str
    device: torch.device

    @property
    def main(self) -> bool:
        return self.rank == 0


def backend_for(device: torch.device) -> str:
    """The process-group backend for the run's device (not for the host): NCCL on CUDA, gloo on CPUs."""
    return "nccl" if device.type == "cuda" else "gloo"


def init_distributed(device: torch.device) -> DistInfo | None:
    """Join the process group that ``torchrun`` describes in the environment; ``None`` when not under it.

    On CUDA each process takes ``cuda:LOCAL_RANK``; more local ranks than GPUs are refused (two
    processes cannot share one GPU under NCCL). On the CPU every rank uses gloo, also on a GPU host.
    """
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world <= 1:
        return None
    local_rank = int(os.environ.get("LOCAL_RANK", "0"))
    if device.type == "cuda":
        gpus = torch.cuda.device_count()
        if local_rank >= gpus:
            raise ConfigError(f"torchrun started local rank {local_rank} but this host has {gpus} GPU(s); "
                              f"use --nproc-per-node {gpus} or fewer (or --device cpu)")
        device = torch.device("cuda", local_rank)
        torch.cuda.set_device(device)
    backend = backend_for(device)
    if not dist.is_initialized():
        dist.init_process_group(backend=backend)
    return DistInfo(dist.get_rank(), dist.get_world_size(), local_rank, backend, device)


def finish_distributed(info: DistInfo | None) -> None:
    if info is not None and dist.is_initialized():
        dist.barrier()
        dist.destroy_process_group()


__all__ = ["DistInfo", "backend_for", "finish_distributed", "init_distributed"]
