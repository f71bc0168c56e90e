"""Training on several processes with PyTorch's DistributedDataParallel, written by hand.

`python -m gpt2lib.train` runs unchanged under `torchrun --nproc_per_node=N` (and torchrun's multi-node
flags). torchrun starts N copies of the command and tells each one who it is through environment
variables (RANK, LOCAL_RANK, WORLD_SIZE, MASTER_ADDR, MASTER_PORT); `setup` reads them and joins the
process group: gloo on the CPU, NCCL on CUDA.

The rules the Trainer follows (notebook 09 builds the single-process version):
- every step's global batch is the same windows as in a single-process run; rank r trains on the r-th
  of N equal parts of it, so the run does not depend on N (`rank_share`);
- DistributedDataParallel averages the gradients over the ranks during backward, so every rank takes
  the same optimizer step and the weights stay identical everywhere;
- only rank 0 logs, evaluates and writes checkpoints; every rank resumes from them;
- a stop request (SIGTERM, Ctrl+C, a time budget) is agreed on by all ranks before they stop, at the
  same step (`any_rank`), so that no rank waits forever for the others.
"""

import ctypes
import ctypes.util
import os
import signal
import sys
from dataclasses import dataclass

import torch
import torch.distributed as dist


@dataclass(frozen=True)
class Distributed:
    """Where this process stands: its rank among world_size processes, and the device it computes on."""

    rank: int = 0
    world_size: int = 1
    device: torch.device = torch.device("cpu")

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    @property
    def active(self) -> bool:
        return self.world_size > 1


SINGLE = Distributed()  # one process, on the CPU


def _launched_by_torchrun() -> bool:
    return int(os.environ.get("WORLD_SIZE", "1")) > 1


def setup(device: str = "cpu") -> Distributed:
    """Join torchrun's process group if this process was started by torchrun; otherwise one process on device.

    Under torchrun, device "cuda" means this process's own GPU, cuda:LOCAL_RANK, with the NCCL backend;
    "cpu" uses gloo."""
    if not _launched_by_torchrun():
        return Distributed(device=torch.device(device))
    _stop_when_torchrun_dies()
    rank, world_size = int(os.environ["RANK"]), int(os.environ["WORLD_SIZE"])
    if torch.device(device).type == "cuda":
        local = torch.device("cuda", int(os.environ.get("LOCAL_RANK", "0")))
        if local.index >= torch.cuda.device_count():
            raise ValueError(f"--device cuda under torchrun: the process with LOCAL_RANK {local.index} needs "
                             f"{local}, but this machine has {torch.cuda.device_count()} GPU(s): start at most that "
                             "many processes per machine (--nproc_per_node)")
        torch.cuda.set_device(local)
        dist.init_process_group("nccl", rank=rank, world_size=world_size, device_id=local)
        return Distributed(rank, world_size, local)
    if torch.device(device).type != "cpu":
        raise ValueError(f"--device {device!r} under torchrun: use cpu (gloo) or cuda (NCCL)")
    dist.init_process_group("gloo", rank=rank, world_size=world_size)
    return Distributed(rank, world_size, torch.device("cpu"))


def _stop_when_torchrun_dies() -> None:
    """Ask Linux to send this process SIGTERM if torchrun, its parent, dies (PR_SET_PDEATHSIG).

    torchrun starts its workers in sessions of their own: if torchrun is killed outright, they would train on
    unsupervised and keep writing to --out. With this, they stop after the current step with a checkpoint."""
    if sys.platform != "linux" or not ctypes.util.find_library("c"):
        return
    parent = os.getppid()
    pr_set_pdeathsig = 1  # from linux/prctl.h
    ctypes.CDLL(ctypes.util.find_library("c")).prctl(pr_set_pdeathsig, signal.SIGTERM)
    if parent == 1 or os.getppid() != parent:  # torchrun is gone already: this process was adopted by init
        raise RuntimeError("torchrun, which started this process, is no longer running")


def teardown(ctx: Distributed) -> None:
    if ctx.active and dist.is_initialized():
        dist.destroy_process_group()


def rank_share(n_windows: int, ctx: Distributed) -> slice:
    """The windows of a global batch of n_windows that rank ctx.rank trains on: its contiguous 1/world_size."""
    if n_windows % ctx.world_size:
        raise ValueError(f"a global batch of {n_windows} windows cannot be split evenly over {ctx.world_size} "
                         "processes: choose --batch-size * --grad-accum divisible by the number of processes")
    share = n_windows // ctx.world_size
    return slice(ctx.rank * share, (ctx.rank + 1) * share)


def mean_over_ranks(value: float, ctx: Distributed) -> float:
    """The mean of a number over all ranks (each rank's loss on its equal share -> the global batch's loss)."""
    if not ctx.active:
        return value
    tensor = torch.tensor([value], dtype=torch.float64, device=ctx.device)
    dist.all_reduce(tensor)  # sum over the ranks
    return tensor.item() / ctx.world_size


def any_rank(flag: bool, ctx: Distributed) -> bool:
    """True on every rank if flag is True on at least one: how the ranks agree to stop at the same step."""
    if not ctx.active:
        return flag
    tensor = torch.tensor([int(flag)], device=ctx.device)
    dist.all_reduce(tensor, op=dist.ReduceOp.MAX)
    return bool(tensor.item())


def gather_to_main(obj, ctx: Distributed) -> list | None:
    """Every rank's obj, as a list on rank 0 (None on the other ranks); [obj] in a single process."""
    if not ctx.active:
        return [obj]
    gathered = [None] * ctx.world_size if ctx.is_main else None
    dist.gather_object(obj, gathered, dst=0)
    return gathered


def barrier(ctx: Distributed) -> None:
    if ctx.active:
        dist.barrier()


def wrap_for_ddp(model: torch.nn.Module, ctx: Distributed) -> torch.nn.Module:
    """model in DistributedDataParallel, which averages gradients over the processes; model itself when alone.

    DDP copies rank 0's weights to every process when it wraps the model, so all start equal."""
    if not ctx.active:
        return model
    device_ids = [ctx.device] if ctx.device.type == "cuda" else None
    return torch.nn.parallel.DistributedDataParallel(model, device_ids=device_ids)
