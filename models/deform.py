"""Structure-aware spatio-temporal convolution: a depthwise (deformable) k x k convolution
over the (frame, joint) grid.

Input ``x (B, Di, T, J)`` (height = frames, width = joints). In deformable mode a full
``Conv2d(Di -> 2 k^2)`` predicts, per output cell, a (d-frame, d-joint) displacement for every
tap (torchvision's layout: channel ``2p`` is the frame offset and ``2p + 1`` the joint offset of
tap ``p``, taps in row-major order). Each tap bilinearly samples its displaced position with
zeros outside the grid, exactly like ``torchvision.ops.deform_conv2d`` with stride 1,
padding k // 2, dilation 1 and one offset group.

Implementations of the deformable sampling:
``grid_sample`` pure PyTorch (any device, no torchvision needed, autograd);
``numba``       the compiled CPU kernels (:func:`numba_kernels.deform_conv_depthwise`: bilinear
                taps computed once per cell for all channels; autograd through
                :func:`numba_kernels.deform_conv_depthwise_backward`, once differentiable);
``torchvision`` ``torchvision.ops.deform_conv2d`` when torchvision imports (used in tests to
                cross-check, and selectable for speed comparisons).
The module default ``auto`` runs ``numba`` for fp32 CPU inference and training when numba
imports, else ``grid_sample`` (a training step of preset ``s`` at 81 frames: 10 calls of ~115 ms
fwd + bwd with ``grid_sample``, ~22 ms with ``numba``). The two differ only where a tap lands
exactly on a grid line, where the offset's gradient is one-sided and float rounding of
``grid_sample``'s normalised grid may pick the other side (the compiled backward takes the
forward difference there, as ``torchvision.ops.deform_conv2d`` does: at the zero-initialised
offsets of a fresh model, CPU and CUDA training take different, equally valid, first steps). The
compiled backward is once differentiable (``create_graph=True`` raises); non-finite offsets take
the ``grid_sample`` path, which propagates them (the compiled kernels would skip such taps).
"""
from __future__ import annotations

import functools

import torch
import torch.nn as nn
import torch.nn.functional as F

DEFORM_IMPLS = ("grid_sample", "numba", "torchvision")


@functools.lru_cache(maxsize=1)
def _torchvision_deform():
    try:
        from torchvision.ops import deform_conv2d
    except Exception:
        return None
    return deform_conv2d


def available_deform_impls() -> list[str]:
    from .scan import load_numba_kernels

    return (["grid_sample"] + (["numba"] if load_numba_kernels() is not None else [])
            + (["torchvision"] if _torchvision_deform() is not None else []))


def deform_conv2d_depthwise(x, offset, weight, bias=None, impl: str = "grid_sample"):
    """Depthwise deformable convolution, stride 1, 'same' padding.

    x (B, C, H, W); offset (B, 2*k*k, H, W); weight (C, 1, k, k); bias (C,) or None.
    Returns (B, C, H, W).
    """
    batch, ch, height, width = x.shape
    k = weight.shape[-1]
    if offset.shape != (batch, 2 * k * k, height, width):
        raise ValueError(f"expected offset {(batch, 2 * k * k, height, width)}, found {tuple(offset.shape)}")
    if impl == "torchvision":
        fn = _torchvision_deform()
        if fn is None:
            raise RuntimeError("deform impl 'torchvision' requested but torchvision.ops does not import")
        return fn(x, offset, weight, bias, padding=(k // 2, k // 2))
    if impl == "numba" and not bool(torch.isfinite(offset).all()):
        impl = "grid_sample"              # NaN / inf offsets: propagate them, as grid_sample does
    if impl == "numba":
        from .scan import load_numba_kernels

        kernels = load_numba_kernels()
        if kernels is None:
            raise RuntimeError("deform impl 'numba' requested but numba does not import; use 'grid_sample'")
        if torch.is_grad_enabled() and any(t is not None and t.requires_grad for t in (x, offset, weight, bias)):
            return _NumbaDeform.apply(x, offset, weight, bias)
        return kernels.deform_conv_depthwise(x, offset, weight, bias, threads=torch.get_num_threads())
    if impl != "grid_sample":
        raise ValueError(f"unknown deform impl {impl!r}; expected one of {DEFORM_IMPLS}")
    taps = torch.arange(k, device=x.device, dtype=x.dtype) - k // 2
    ty, tx = torch.meshgrid(taps, taps, indexing="ij")                  # (k, k) row-major taps
    off = offset.view(batch, k * k, 2, height, width)
    rows = torch.arange(height, device=x.device, dtype=x.dtype).view(1, 1, height, 1)
    cols = torch.arange(width, device=x.device, dtype=x.dtype).view(1, 1, 1, width)
    py = rows + ty.reshape(1, -1, 1, 1) + off[:, :, 0]                  # (B, k*k, H, W) frame coord
    px = cols + tx.reshape(1, -1, 1, 1) + off[:, :, 1]                  # joint coord
    # grid_sample with align_corners=False: pixel i sits at (2i + 1) / size - 1
    gx = (2 * px + 1) / width - 1
    gy = (2 * py + 1) / height - 1
    grid = torch.stack([gx, gy], dim=-1)                                 # (B, k*k, H, W, 2)
    grid = grid.permute(0, 2, 3, 1, 4).reshape(batch, height, width * k * k, 2)
    sampled = F.grid_sample(x, grid, mode="bilinear", padding_mode="zeros", align_corners=False)
    # per-channel tap weights: (B, C, H*W, k*k) @ (C, k*k, 1), a broadcast matmul (same sum as
    # einsum("bchwp,cp->bchw"), ~2x faster on CPU)
    out = torch.matmul(sampled.view(batch, ch, height * width, k * k), weight.view(ch, k * k, 1))
    out = out.view(batch, ch, height, width)
    if bias is not None:
        out = out + bias.view(1, ch, 1, 1)
    return out


class _NumbaDeform(torch.autograd.Function):
    """The compiled depthwise deformable convolution with its compiled backward (fp32 CPU)."""

    @staticmethod
    def forward(ctx, x, offset, weight, bias):
        from .scan import load_numba_kernels

        ctx.save_for_backward(x, offset, weight)
        ctx.has_bias = bias is not None
        return load_numba_kernels().deform_conv_depthwise(x, offset, weight, bias, threads=torch.get_num_threads())

    @staticmethod
    @torch.autograd.function.once_differentiable
    def backward(ctx, gout):
        from .scan import load_numba_kernels

        x, offset, weight = ctx.saved_tensors
        gx, goff, gw, gb = load_numba_kernels().deform_conv_depthwise_backward(
            x, offset, weight, gout, threads=torch.get_num_threads())
        return gx, goff, gw, (gb if ctx.has_bias else None)


class StructureAwareConv(nn.Module):
    """Depthwise k x k conv over (frame, joint); deformable unless ``deformable=False``."""

    def __init__(self, *, channels: int, kernel_size: int = 3, deformable: bool = True):
        super().__init__()
        self.kernel_size = kernel_size
        self.deformable = deformable
        self.weight = nn.Parameter(torch.empty(channels, 1, kernel_size, kernel_size))
        self.bias = nn.Parameter(torch.zeros(channels))
        nn.init.kaiming_uniform_(self.weight, a=5 ** 0.5)
        if deformable:
            self.offset = nn.Conv2d(channels, 2 * kernel_size * kernel_size, kernel_size,
                                    padding=kernel_size // 2)
            nn.init.zeros_(self.offset.weight)   # start as a regular conv (standard DCN init)
            nn.init.zeros_(self.offset.bias)
        self.impl = "auto"

    def _impl_for(self, x: torch.Tensor) -> str:
        if self.impl != "auto":
            return self.impl
        from .scan import load_numba_kernels

        if x.device.type == "cpu" and x.dtype == torch.float32 and load_numba_kernels() is not None:
            return "numba"
        return "grid_sample"

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # (B, Di, T, J) -> (B, Di, T, J)
        if not self.deformable:
            return F.conv2d(x, self.weight, self.bias, padding=self.kernel_size // 2, groups=x.shape[1])
        return deform_conv2d_depthwise(x, self.offset(x), self.weight, self.bias, impl=self._impl_for(x))
