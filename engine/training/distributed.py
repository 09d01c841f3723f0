"""Past one process: torch.distributed with gloo on CPU (NCCL on GPU), launched by `--nproc N`.

`launch(target, nproc, args)` spawns N local workers that join one process group and call
`target(rank, *args)`. Training wraps the model in DistributedDataParallel and gives each rank a
slice of every batch; evaluation gives each rank a shard of the images. Rank 0 alone writes
run-level records; every rank writes its own prediction rows.
"""

from __future__ import annotations

import os
import socket
from collections.abc import Callable
from dataclasses import dataclass

import torch
import torch.distributed as dist
import torch.multiprocessing as mp


@dataclass(frozen=True)
class Rank:
    rank: int = 0
    world: int = 1

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    @property
    def distributed(self) -> bool:
        return self.world > 1

    def shard(self, items: list) -> list:
        """This rank's share of `items`: every world-th item, starting at its rank."""
        return items[self.rank::self.world]

    def broadcast(self, value: object) -> object:
        """Rank 0's `value`, on every rank."""
        if not self.distributed:
            return value
        box = [value]
        dist.broadcast_object_list(box, src=0)
        return box[0]

    def gather(self, value: object) -> list:
        """Every rank's `value`, on every rank, in rank order."""
        if not self.distributed:
            return [value]
        values: list = [None] * self.world
        dist.all_gather_object(values, value)
        return values


SINGLE = Rank()


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _worker(rank: int, world: int, port: int, target: Callable, args: tuple,
            backend: str) -> None:
    os.environ["MASTER_ADDR"] = "127.0.0.1"
    os.environ["MASTER_PORT"] = str(port)
    dist.init_process_group(backend, rank=rank, world_size=world)
    # Share the cores instead of oversubscribing them.
    torch.set_num_threads(max(1, (os.cpu_count() or 1) // world))
    if backend == "nccl":
        torch.cuda.set_device(rank % torch.cuda.device_count())
    try:
        target(Rank(rank, world), *args)
    finally:
        dist.destroy_process_group()


def launch(target: Callable, nproc: int, args: tuple, device_type: str = "cpu") -> None:
    """Run `target(Rank, *args)` in `nproc` local processes; re-raises a worker's failure.

    NCCL joins the ranks when they compute on CUDA (`device_type`), gloo when on the CPU, so
    `--device cpu` on a GPU machine still runs on the CPU.
    """
    backend = "nccl" if device_type == "cuda" else "gloo"
    mp.spawn(_worker, args=(nproc, _free_port(), target, args, backend), nprocs=nproc,
             join=True)
