"""Multi-process training with PyTorch DistributedDataParallel (``torchrun``).

    torchrun --nproc-per-node N -m sasmamba_cli train DATA.npz --config C.json --out runs/X

``torchrun`` sets ``WORLD_SIZE``, ``RANK`` and ``LOCAL_RANK``; with ``WORLD_SIZE > 1`` the trainer
joins the process group (NCCL on CUDA, gloo on the CPU), each rank uses ``cuda:LOCAL_RANK`` on a
GPU machine, and:

- **data**: every rank draws the same global batch (``batch_size`` windows, from the run's one
  seeded stream) and trains on its own contiguous slice of ``batch_size / WORLD_SIZE`` windows
  (the distributed sampler of this trainer); DDP averages the gradients, so a step equals the
  single-process step on the whole batch (exactly, for a model without dropout / drop-path);
- **files**: only rank 0 writes the config, the CSV log, checkpoints and ``best`` (and runs the
  validation); the others wait at a barrier;
- **resume**: every rank loads the same ``state`` files, so an interrupted run resumes with the
  same command;
- **stopping**: rank 0 decides (``--max-minutes``) and tells the others each step, so no rank
  waits forever in a collective.
"""
from __future__ import annotations

import os
from dataclasses import dataclass

from ..errors import InputError


@dataclass(frozen=True)
class Dist:
    rank: int = 0
    world: int = 1
    local_rank: int = 0

    @property
    def main(self) -> bool:
        return self.rank == 0

    @property
    def active(self) -> bool:
        return self.world > 1


def setup(device_type: str) -> Dist:
    """Join the process group when launched by ``torchrun`` with several processes."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world <= 1:
        return Dist()
    import torch.distributed as td

    rank, local = int(os.environ.get("RANK", "0")), int(os.environ.get("LOCAL_RANK", "0"))
    if not td.is_initialized():
        td.init_process_group("nccl" if device_type == "cuda" else "gloo")
    return Dist(rank, world, local)


def check_batch(batch_size: int, d: Dist) -> int:
    """Windows per rank; the global batch must split evenly."""
    if batch_size % d.world:
        raise InputError(f"batch_size {batch_size} does not split over {d.world} processes; expected a multiple "
                         f"of WORLD_SIZE ({d.world})")
    return batch_size // d.world


def shard(x, d: Dist):
    """This rank's contiguous slice of a global batch (first axis)."""
    if not d.active:
        return x
    n = x.shape[0] // d.world
    return x[d.rank * n:(d.rank + 1) * n]


def wrap(model, d: Dist, device):
    """``model`` in DistributedDataParallel when several processes train (else itself)."""
    if not d.active:
        return model
    from torch.nn.parallel import DistributedDataParallel

    ids = [device.index] if getattr(device, "type", "cpu") == "cuda" else None
    return DistributedDataParallel(model, device_ids=ids)


def agree(flag: bool, d: Dist) -> bool:
    """Rank 0's ``flag`` on every rank (a collective: every rank must call it)."""
    if not d.active:
        return flag
    import torch
    import torch.distributed as td

    t = torch.tensor([1 if flag else 0], dtype=torch.int32)
    td.broadcast(t, src=0)
    return bool(t.item())


def barrier(d: Dist) -> None:
    if d.active:
        import torch.distributed as td

        td.barrier()


def teardown(d: Dist) -> None:
    if d.active:
        import torch.distributed as td

        if td.is_initialized():
            td.destroy_process_group()
