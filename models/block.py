"""The SAS-SSM block: structure-aware conv + stride scan + selective scan + MLP."""
from __future__ import annotations

import math

import torch
import torch.nn as nn
import torch.nn.functional as F

from .deform import StructureAwareConv
from .scan import load_numba_kernels, resolve_backend, selective_scan

K_DIRECTIONS = 4  # frame-major (+stride sums), joint-major, and both reversed


def stride_anchors(num_joints: int, stride: int) -> torch.Tensor:
    """Index of the first member of each joint's stride group: ``stride * floor(j / stride)``."""
    return torch.arange(num_joints) // stride * stride


class DropPath(nn.Module):
    """Stochastic depth per sample."""

    def __init__(self, p: float = 0.0):
        super().__init__()
        self.p = p

    def forward(self, x):
        if self.p == 0.0 or not self.training:
            return x
        keep = x.new_empty((x.shape[0],) + (1,) * (x.dim() - 1)).bernoulli_(1 - self.p)
        return x * keep / (1 - self.p)


class SASSSM(nn.Module):
    """Token mixer of one block. Input/output ``(B, T, J, C)``."""

    def __init__(self, *, dim: int, num_joints: int, d_state: int = 16, expand: int = 2,
                 kernel_size: int = 3, deformable: bool = True, strides: tuple[int, ...] = (2, 3)):
        super().__init__()
        di = expand * dim
        rank = math.ceil(dim / 16)
        self.di, self.rank, self.d_state = di, rank, d_state
        self.in_proj = nn.Linear(dim, 2 * di, bias=False)
        self.conv = StructureAwareConv(channels=di, kernel_size=kernel_size, deformable=deformable)
        for s in strides:
            if s < 2:
                raise ValueError(f"stride values must be >= 2, found {strides}")
        self.register_buffer("anchors", torch.stack([stride_anchors(num_joints, s) for s in strides])
                             if strides else torch.zeros(0, num_joints, dtype=torch.long), persistent=False)
        # x + sum_s x[..., anchors_s] as one (J, J) matmul: column j holds 1 at j and at each anchor of j
        stride_sum = torch.eye(num_joints)
        for idx in self.anchors:
            stride_sum[idx, torch.arange(num_joints)] += 1.0
        self.register_buffer("stride_sum", stride_sum, persistent=False)
        k = K_DIRECTIONS
        bound = di ** -0.5
        self.x_proj_weight = nn.Parameter(torch.empty(k, rank + 2 * d_state, di).uniform_(-bound, bound))
        self.dt_proj_weight = nn.Parameter(torch.empty(k, di, rank).uniform_(-rank ** -0.5, rank ** -0.5))
        dt = torch.exp(torch.rand(k, di) * (math.log(0.1) - math.log(1e-3)) + math.log(1e-3)).clamp(min=1e-4)
        self.dt_proj_bias = nn.Parameter(dt + torch.log(-torch.expm1(-dt)))  # inverse softplus
        self.A_log = nn.Parameter(torch.log(torch.arange(1, d_state + 1, dtype=torch.float32)).repeat(k * di, 1))
        self.Ds = nn.Parameter(torch.ones(k * di))
        self.out_norm = nn.LayerNorm(di)
        self.out_proj = nn.Linear(di, dim, bias=False)
        self.scan_backend = "auto"

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, t, j, _ = x.shape
        x, z = self.in_proj(x).chunk(2, dim=-1)                       # (B, T, J, Di) each
        z = F.silu(z)
        x = F.silu(self.conv(x.permute(0, 3, 1, 2)))                  # (B, Di, T, J)
        x_stride = torch.matmul(x, self.stride_sum) if len(self.anchors) else x   # add stride-group anchors
        seq0 = x_stride.flatten(2)                                    # (B, Di, L) frame-major
        seq1 = x.transpose(2, 3).flatten(2)                           # (B, Di, L) joint-major
        if self._fused_inference(x):
            y = self._scan_fused(seq0, seq1, t, j)                        # (B, T, J, Di)
            return self.out_proj(self.out_norm(y) * z)
        xs = torch.stack([seq0, seq1, seq0.flip(-1), seq1.flip(-1)], dim=1)   # (B, K, Di, L)
        length = t * j
        # per-direction projections as broadcast matmuls ((K, c, d) @ (B, K, d, L)): same result as
        # einsum("bkdl,kcd->bkcl"), without einsum's layout copies (~5x faster on CPU)
        x_dbl = torch.matmul(self.x_proj_weight, xs)                           # (B, K, R+2N, L)
        dts, bs, cs = torch.split(x_dbl, [self.rank, self.d_state, self.d_state], dim=2)
        dts = torch.matmul(self.dt_proj_weight, dts)                           # (B, K, Di, L)
        y = selective_scan(xs.reshape(b, -1, length), dts.reshape(b, -1, length),
                           -torch.exp(self.A_log.float()), bs.contiguous(), cs.contiguous(),
                           self.Ds.float(), delta_bias=self.dt_proj_bias.reshape(-1).float(),
                           delta_softplus=True, backend=self.scan_backend)
        y = y.view(b, K_DIRECTIONS, self.di, length)
        y_frame = y[:, 0] + y[:, 2].flip(-1)                          # (B, Di, L) frame-major
        y_joint = (y[:, 1] + y[:, 3].flip(-1)).view(b, self.di, j, t).transpose(2, 3)
        y = (y_frame.view(b, self.di, t, j) + y_joint).permute(0, 2, 3, 1)   # (B, T, J, Di)
        return self.out_proj(self.out_norm(y) * z)


    def _fused_inference(self, x: torch.Tensor) -> bool:
        """CPU inference with the compiled kernel available (``scan.resolve_backend`` picks
        ``numba``): run :meth:`_scan_fused` instead of the generic four-direction scan."""
        if x.device.type != "cpu" or x.dtype != torch.float32:         # the kernels are fp32 only
            return False
        needs_grad = torch.is_grad_enabled() and (x.requires_grad or any(p.requires_grad for p in self.parameters()))
        return not needs_grad and resolve_backend(self.scan_backend, x.device, needs_grad=False) == "numba"

    def _scan_fused(self, seq0: torch.Tensor, seq1: torch.Tensor, frames: int, joints: int) -> torch.Tensor:
        """The same four directions as the generic path, without materialising them: each
        sequence ``(B, Di, L)`` is projected once per direction pair (projections are per token, so
        the reversed direction's inputs are the forward ones read backwards) and scanned forward and
        backward in one kernel call that also applies the dt projection, its bias and softplus
        (:func:`numba_kernels.bidirectional_scan`). Returns the sum of the four directions
        ``(B, T, J, Di)``, each added at its token's (frame, joint) cell by the kernel."""
        kernel = load_numba_kernels()
        k, di, r, n = K_DIRECTIONS, self.di, self.rank, self.d_state
        A = -torch.exp(self.A_log.float()).view(k, di, n)
        bias, Ds = self.dt_proj_bias.view(k, di), self.Ds.view(k, di)
        out = seq0.new_zeros(seq0.shape[0], frames, joints, di)
        for s, seq in enumerate((seq0, seq1)):
            w = self.x_proj_weight[s::2]                                        # (2, R+2N, Di)
            xd = torch.matmul(w.reshape(-1, di), seq).view(seq.shape[0], 2, w.shape[1], -1)   # (B, 2, R+2N, L)
            dlow = xd[:, :, :r]
            BC = xd[:, :, r:].transpose(2, 3)                                   # (B, 2, L, 2N)
            kernel.bidirectional_scan(seq, dlow, BC, self.dt_proj_weight[s::2], bias[s::2], A[s::2], Ds[s::2],
                                      out, joint_major=bool(s), threads=torch.get_num_threads())
        return out


class SASBlock(nn.Module):
    """``h = x + DropPath(SSM(LN(x)))``; ``out = h + DropPath(MLP(LN(h)))``."""

    def __init__(self, *, dim: int, num_joints: int, drop_path: float = 0.0, mlp_ratio: float = 2.0,
                 **ssm_kwargs):
        super().__init__()
        self.norm1 = nn.LayerNorm(dim)
        self.ssm = SASSSM(dim=dim, num_joints=num_joints, **ssm_kwargs)
        self.norm2 = nn.LayerNorm(dim)
        hidden = int(dim * mlp_ratio)
        self.mlp = nn.Sequential(nn.Linear(dim, hidden), nn.GELU(), nn.Linear(hidden, dim))
        self.drop_path = DropPath(drop_path)

    def forward(self, x):  # (B, T, J, C)
        x = x + self.drop_path(self.ssm(self.norm1(x)))
        return x + self.drop_path(self.mlp(self.norm2(x)))
