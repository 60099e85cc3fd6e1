"""Data-parallel training under torchrun, detected from its environment (as nanoGPT does).

`python stages/train.py m` is one process. With `train.nproc: N` (N > 1) the stage
re-executes itself under `torchrun --standalone --nproc_per_node N`; started by
torchrun itself (several nodes, say), it joins the group torchrun describes in
RANK, LOCAL_RANK and WORLD_SIZE. Every rank trains on its DistributedSampler shard;
evaluation gathers every rank's predictions so each clip counts exactly once; rank
0 alone writes files.
"""

from __future__ import annotations

import os
import sys
from dataclasses import dataclass

import torch
import torch.distributed as dist

from har.errors import InputError


@dataclass(frozen=True)
class Context:
    rank: int = 0
    local_rank: int = 0
    world_size: int = 1
    # Started by torchrun, in a process group, even of one process: `torchrun --nproc_per_node 1`
    # runs the DDP and NCCL code paths on one GPU, which is how a single-GPU machine tests them.
    launched: bool = False

    @property
    def enabled(self) -> bool:
        return self.launched or self.world_size > 1

    @property
    def main(self) -> bool:
        """The one process that prints and writes outputs."""
        return self.rank == 0


SINGLE = Context()


def relaunch_under_torchrun(nproc: int) -> None:
    """Replace this process by torchrun running the same command on `nproc` local processes."""
    if nproc <= 1 or "RANK" in os.environ:  # one process, or torchrun already started us
        return
    argv = [sys.executable, "-m", "torch.distributed.run", "--standalone",
            f"--nproc_per_node={nproc}", *sys.argv]
    sys.stdout.flush()
    os.execv(sys.executable, argv)  # torchrun forwards SIGTERM to its workers


def init(device: torch.device) -> tuple[Context, torch.device]:
    """Join torchrun's process group if torchrun started us: (context, this rank's device)."""
    if "RANK" not in os.environ or "WORLD_SIZE" not in os.environ:
        return SINGLE, device
    ctx = Context(int(os.environ["RANK"]), int(os.environ["LOCAL_RANK"]),
                  int(os.environ["WORLD_SIZE"]), launched=True)
    if device.type == "cuda":
        if ctx.local_rank >= torch.cuda.device_count():
            raise InputError(f"train.nproc / torchrun asks for {ctx.local_rank + 1}+ processes "
                             f"per node, but this node has {torch.cuda.device_count()} GPU(s)")
        device = torch.device("cuda", ctx.local_rank)
        torch.cuda.set_device(device)
    # gloo on CPU (and in the tests), NCCL between GPUs.
    dist.init_process_group("nccl" if device.type == "cuda" else "gloo")
    return ctx, device


def shutdown(ctx: Context) -> None:
    if ctx.enabled and dist.is_initialized():
        dist.destroy_process_group()


def barrier(ctx: Context) -> None:
    if ctx.enabled:
        dist.barrier()


def sum_across(values: list[float], ctx: Context) -> list[float]:
    """Element-wise sum of `values` over all ranks (the same list on every rank)."""
    if not ctx.enabled:
        return list(values)
    # NCCL reduces CUDA tensors only; gloo CPU ones.
    device = "cuda" if dist.get_backend() == "nccl" else "cpu"
    t = torch.tensor(values, dtype=torch.float64, device=device)
    dist.all_reduce(t)
    return t.tolist()


def all_gather(obj, ctx: Context) -> list:
    """[obj of rank 0, obj of rank 1, ...] on every rank."""
    if not ctx.enabled:
        return [obj]
    out = [None] * ctx.world_size
    dist.all_gather_object(out, obj)
    return out


def merge_shards(shards: list[tuple[torch.Tensor, ...]]) -> tuple[torch.Tensor, ...]:
    """Merge per-rank (dataset index, tensors...) into dataset order, each index once.

    DistributedSampler pads the last shards by repeating indices so every rank
    gets as many items; counting the repeats would weigh some videos twice.
    """
    columns = [torch.cat(c) for c in zip(*shards)]
    order = torch.argsort(columns[0], stable=True)
    columns = [c[order] for c in columns]
    first = torch.ones(len(order), dtype=torch.bool)
    first[1:] = columns[0][1:] != columns[0][:-1]
    return tuple(c[first] for c in columns)


def gather_predictions(indices: torch.Tensor, *tensors: torch.Tensor, ctx: Context
                       ) -> tuple[torch.Tensor, ...]:
    """Every rank's (indices, *tensors) merged by merge_shards, on every rank."""
    if not ctx.enabled:
        return (indices, *tensors)
    return merge_shards(all_gather((indices, *tensors), ctx))
