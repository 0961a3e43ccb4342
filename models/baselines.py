"""Baseline lifters trained and evaluated with the same protocol as SasMamba.

All take ``(B, T, J, in_chans)`` and return ``(B, T, J, 3)`` like :class:`SasMambaLifter`.
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import torch
import torch.nn as nn


@dataclass(frozen=True)
class TCNConfig:
    """VideoPose3D-style temporal convolution network (sequence-to-sequence, 'same' padding)."""

    channels: int = 256          # hidden width
    kernel: int = 3              # temporal kernel width
    n_blocks: int = 2            # residual blocks; dilations kernel**1 .. kernel**n_blocks
    dropout: float = 0.25
    max_frames: int = 27
    num_joints: int = 17
    in_chans: int = 2

    def to_dict(self):
        return dataclasses.asdict(self)


class TemporalConvLifter(nn.Module):
    def __init__(self, config: TCNConfig):
        super().__init__()
        self.config = config
        c, k, j = config.channels, config.kernel, config.num_joints
        self.expand = nn.Sequential(nn.Conv1d(j * config.in_chans, c, k, padding=k // 2, bias=False),
                                    nn.BatchNorm1d(c), nn.ReLU(), nn.Dropout(config.dropout))
        blocks = []
        for i in range(config.n_blocks):
            d = k ** (i + 1)
            blocks.append(nn.Sequential(
                nn.Conv1d(c, c, k, dilation=d, padding=d * (k // 2), bias=False), nn.BatchNorm1d(c), nn.ReLU(),
                nn.Dropout(config.dropout),
                nn.Conv1d(c, c, 1, bias=False), nn.BatchNorm1d(c), nn.ReLU(), nn.Dropout(config.dropout)))
        self.blocks = nn.ModuleList(blocks)
        self.shrink = nn.Conv1d(c, j * 3, 1)

    def forward(self, x):  # (B, T, J, Cin)
        b, t, j, _ = x.shape
        h = self.expand(x.reshape(b, t, -1).transpose(1, 2))      # (B, C, T)
        for blk in self.blocks:
            h = h + blk(h)
        return self.shrink(h).transpose(1, 2).reshape(b, t, j, 3)


@dataclass(frozen=True)
class MeanPoseConfig:
    num_joints: int = 17
    max_frames: int = 243
    in_chans: int = 2

    def to_dict(self):
        return dataclasses.asdict(self)


class MeanPoseLifter(nn.Module):
    """Predicts the training-set mean root-relative pose for every frame (a floor for metrics)."""

    def __init__(self, config: MeanPoseConfig):
        super().__init__()
        self.config = config
        self.mean_pose = nn.Parameter(torch.zeros(config.num_joints, 3), requires_grad=False)

    def forward(self, x):
        b, t = x.shape[:2]
        return self.mean_pose.expand(b, t, -1, -1)


@dataclass(frozen=True)
class TransformerConfig:
    """A plain transformer over all T*J tokens (quadratic attention), for the scaling benchmark."""

    dim: int = 64
    depth: int = 5               # pairs of layers, to match SasMamba's 2*depth blocks
    heads: int = 4
    max_frames: int = 243
    num_joints: int = 17
    in_chans: int = 2

    def to_dict(self):
        return dataclasses.asdict(self)


class TransformerLifter(nn.Module):
    def __init__(self, config: TransformerConfig):
        super().__init__()
        self.config = config
        c = config.dim
        self.embed = nn.Linear(config.in_chans, c)
        self.spatial_pos = nn.Parameter(torch.zeros(1, 1, config.num_joints, c))
        self.temporal_pos = nn.Parameter(torch.zeros(1, config.max_frames, 1, c))
        layer = nn.TransformerEncoderLayer(c, config.heads, 2 * c, dropout=0.0, batch_first=True, norm_first=True)
        self.encoder = nn.TransformerEncoder(layer, 2 * config.depth, enable_nested_tensor=False)
        self.head = nn.Sequential(nn.LayerNorm(c), nn.Linear(c, 3))

    def forward(self, x):
        b, t, j, _ = x.shape
        h = self.embed(x) + self.spatial_pos + self.temporal_pos[:, :t]
        h = self.encoder(h.reshape(b, t * j, -1)).reshape(b, t, j, -1)
        return self.head(h)
