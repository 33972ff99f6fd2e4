"""Data parallelism with torch.distributed, launched by torchrun.

``torchrun --nproc_per_node 2 -m lstmkit experiment ...`` (or any script that calls the
trainer) starts W processes; each draws the same global batch, keeps its 1/W shard, and
DistributedDataParallel averages the gradients. With equal shards this is exactly the
gradient of the whole batch, so W processes give the result of one (tested).
"""

from __future__ import annotations

import contextlib
import os

__all__ = ["distributed_context", "world_info"]


def world_info() -> tuple[int, int]:
    """``(rank, world_size)`` from the environment torchrun sets (``(0, 1)`` without it).

    Example:
        >>> world_info() if "WORLD_SIZE" not in __import__("os").environ else (0, 1)
        (0, 1)
    """
    return int(os.environ.get("RANK", "0")), int(os.environ.get("WORLD_SIZE", "1"))


@contextlib.contextmanager
def distributed_context():
    """Join the process group if launched by torchrun; yield ``(rank, world)``. A group
    this context created is destroyed on exit.

    The backend is gloo (the trainer runs on CPU); ``LSTMKIT_DIST_BACKEND=nccl`` selects
    another for code that moves model and batches to GPUs itself.

    Example:
        >>> with distributed_context() as (rank, world):
        ...     pass
    """
    import torch.distributed as dist

    rank, world = world_info()
    created = False
    if world > 1 and not dist.is_initialized():
        backend = os.environ.get("LSTMKIT_DIST_BACKEND", "gloo")
        dist.init_process_group(backend)
        created = True
    if dist.is_available() and dist.is_initialized():
        rank, world = dist.get_rank(), dist.get_world_size()
    ok = False
    try:
        yield rank, world
        ok = True
    finally:
        if created:
            if ok:
                dist.barrier()  # every rank done with its collectives before the group goes
            dist.destroy_process_group()
