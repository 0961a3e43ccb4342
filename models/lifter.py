"""The SasMamba 2D -> 3D lifter (sequence to sequence, root-relative)."""
from __future__ import annotations

import torch
import torch.nn as nn

from .block import SASBlock
from .config import LifterConfig


# Scan-input elements (windows x frames x joints x inner channels x 4 scan directions) per forward
# pass on the CPU. Measured on the 2-core machine (docs/benchmarks.md, "CPU batch limit"): preset
# s at T=81 lifts ~200 frames/s in batches of 2-8 windows against 106-117 at 32, whose 90 MB
# activations fall out of cache; the shipped xs configuration (T=27) keeps its batches of 32.
CPU_BATCH_ELEMENTS = 4_000_000


def count_parameters(model: nn.Module) -> int:
    """Trainable parameter count."""
    return sum(p.numel() for p in model.parameters() if p.requires_grad)


class SasMambaLifter(nn.Module):
    """``(B, T, J, in_chans)`` normalised 2D (+ confidence) -> ``(B, T, J, 3)`` root-relative 3D.

    ``T`` may be anything from 1 to ``config.max_frames``; the model tells the pipeline its window
    length through ``config.max_frames``.
    """

    def __init__(self, config: LifterConfig):
        super().__init__()
        self.config = config
        c, j = config.dim, config.num_joints
        self.embed = nn.Linear(config.in_chans, c)
        self.spatial_pos = nn.Parameter(torch.zeros(1, j, c))
        self.temporal_pos = nn.Parameter(torch.zeros(1, config.max_frames, 1, c))
        n_blocks = 2 * config.depth
        rates = [config.drop_path * i / max(1, n_blocks - 1) for i in range(n_blocks)]
        kw = dict(dim=c, num_joints=j, mlp_ratio=config.mlp_ratio, d_state=config.d_state,
                  expand=config.expand, kernel_size=config.kernel_size,
                  deformable=config.deformable, strides=tuple(config.strides))
        self.spatial_blocks = nn.ModuleList(SASBlock(drop_path=rates[2 * i], **kw) for i in range(config.depth))
        self.temporal_blocks = nn.ModuleList(SASBlock(drop_path=rates[2 * i + 1], **kw) for i in range(config.depth))
        self.spatial_norm = nn.LayerNorm(c)
        self.temporal_norm = nn.LayerNorm(c)
        self.head = nn.Sequential(nn.LayerNorm(c), nn.Linear(c, config.out_chans))
        self._init_weights()

    def _init_weights(self):
        nn.init.trunc_normal_(self.spatial_pos, std=0.02)
        nn.init.trunc_normal_(self.temporal_pos, std=0.02)
        for m in self.modules():
            if isinstance(m, nn.Linear):
                nn.init.trunc_normal_(m.weight, std=0.02)
                if m.bias is not None:
                    nn.init.zeros_(m.bias)

    def cpu_batch_limit(self) -> int:
        """Most windows per forward pass worth batching on a CPU (:data:`CPU_BATCH_ELEMENTS`)."""
        c = self.config
        return max(1, CPU_BATCH_ELEMENTS // (c.max_frames * c.num_joints * c.dim * c.expand * 4))

    def set_scan_backend(self, backend: str) -> None:
        """Force a selective-scan backend (``auto``, ``ref``, ``sequential``, ``chunked``, ``numba``,
        ``triton``, ``mamba``) for all blocks. A torch backend also pins the deformable conv to its
        torch path (``grid_sample``), so the whole model runs that backend's kind of code;
        ``auto`` and ``numba`` leave it on ``auto``."""
        for m in self.modules():
            if hasattr(m, "scan_backend"):
                m.scan_backend = backend
            if hasattr(m, "impl") and hasattr(m, "deformable"):
                m.impl = "auto" if backend in ("auto", "numba") else "grid_sample"

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        cfg = self.config
        if x.dim() != 4 or x.shape[2] != cfg.num_joints or x.shape[3] != cfg.in_chans:
            raise ValueError(f"expected input (B, T, {cfg.num_joints}, {cfg.in_chans}), found {tuple(x.shape)}")
        t = x.shape[1]
        if not 1 <= t <= cfg.max_frames:
            raise ValueError(f"expected 1 <= T <= {cfg.max_frames} frames per window, found T={t}; "
                             "cut longer sequences into windows (sasmamba_cli.windows)")
        x = self.embed(x) + self.spatial_pos                          # (B, T, J, C)
        for i, (sb, tb) in enumerate(zip(self.spatial_blocks, self.temporal_blocks)):
            x = self.spatial_norm(sb(x))
            if i == 0:
                x = x + self.temporal_pos[:, :t]
            x = self.temporal_norm(tb(x))
        return self.head(x)                                           # (B, T, J, 3)
