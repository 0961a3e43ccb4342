"""Fused selective scan in Triton: the CUDA backend ``triton`` (no state history in memory).

The same recurrence as :mod:`scan` (``h_t = exp(dt_t A) h_{t-1} + dt_t u_t B_t``,
``y_t = C_t . h_t``), one Triton program per (batch, block of ``BLOCK_D`` channels) walking the
sequence with its ``(BLOCK_D, N)`` state in registers.

Memory: the forward pass keeps only the state at the start of every ``CHUNK``-step chunk
(``(B, D, L / CHUNK, N)``, 1/64 of the history the ``chunked`` backend keeps for autograd). The
backward pass walks the chunks in reverse: it recomputes one chunk's states from its checkpoint
into a per-program scratch buffer (``CHUNK + 1`` states, cache-resident), then runs the adjoint
recurrence ``g_t = C_t dy_t + exp(dt_{t+1} A) g_{t+1}`` backwards over it. Gradients of ``B``,
``C`` (sums over a group's channels) and ``A`` (a sum over the batch) are written as per-block
partial sums and reduced with ``torch.sum`` afterwards: deterministic, no atomics.

This module imports ``triton`` at the top; only :func:`scan.load_triton_scan` imports it, lazily.
Kernels also run on CPU tensors under ``TRITON_INTERPRET=1`` (how the tests check them without a
GPU).

Inputs (fp32, ``dt`` after softplus): ``u, dt (B, D, L)``, ``A (D, N)``, ``Bm, Cm (B, G, N, L)``;
``D // G`` must have a power-of-two divisor >= 2 (the channel block; :func:`launch_config`).
"""
from __future__ import annotations

import contextlib
import os

import torch
import triton
import triton.language as tl

CHUNK = 64  # steps between forward checkpoints (backward recomputes one chunk at a time)
DEFAULT_LAUNCH = (16, 2)  # (largest channel block, warps per program); see launch_config()


def launch_config() -> tuple[int, int]:
    """``(block cap, num_warps)``: :data:`DEFAULT_LAUNCH`, or ``SASMAMBA_TRITON_LAUNCH="BxW"``
    (e.g. ``32x4``; a tuning knob for benchmarks, ``benchmarks/bench_scan.py --triton-sweep``)."""
    raw = os.environ.get("SASMAMBA_TRITON_LAUNCH", "")
    if not raw:
        return DEFAULT_LAUNCH
    try:
        cap, warps = (int(v) for v in raw.lower().split("x"))
    except ValueError:
        raise ValueError(f"SASMAMBA_TRITON_LAUNCH must look like 16x2 (channel block x warps), found {raw!r}") from None
    if cap not in (2, 4, 8, 16, 32, 64) or warps not in (1, 2, 4, 8):
        raise ValueError(f"SASMAMBA_TRITON_LAUNCH {raw!r}: block must be a power of two 2-64 and warps 1, 2, 4 or 8")
    return cap, warps


@triton.jit
def _fwd_kernel(u_ptr, dt_ptr, a_ptr, b_ptr, c_ptr, y_ptr, ck_ptr,
                L, D, G, DG, NCHUNK,
                N: tl.constexpr, NP: tl.constexpr, BLOCK_D: tl.constexpr, CH: tl.constexpr):
    # u, dt, y: (B, L, D) time-major; b, c: (B, L, G, N); a: (D, N); ck: (B, NCHUNK, D, N)
    pid_b = tl.program_id(0).to(tl.int64)            # 64-bit offsets: buffers may pass 2**31 elements
    pid_d = tl.program_id(1)
    d = pid_d * BLOCK_D + tl.arange(0, BLOCK_D)
    n = tl.arange(0, NP)
    nmask = n < N
    grp = (pid_d * BLOCK_D) // DG
    a = tl.load(a_ptr + d[:, None] * N + n[None, :], mask=nmask[None, :], other=0.0)
    h = tl.zeros((BLOCK_D, NP), dtype=tl.float32)
    row = pid_b * L * D
    brow = pid_b * L * G * N + grp * N
    for t in range(0, L):
        if t % CH == 0:
            tl.store(ck_ptr + ((pid_b * NCHUNK + t // CH) * D + d[:, None]) * N + n[None, :], h,
                     mask=nmask[None, :])
        u_t = tl.load(u_ptr + row + t * D + d)
        dt_t = tl.load(dt_ptr + row + t * D + d)
        b_t = tl.load(b_ptr + brow + t * G * N + n, mask=nmask, other=0.0)
        c_t = tl.load(c_ptr + brow + t * G * N + n, mask=nmask, other=0.0)
        h = tl.exp(dt_t[:, None] * a) * h + (dt_t * u_t)[:, None] * b_t[None, :]
        y_t = tl.sum(h * c_t[None, :], axis=1)
        tl.store(y_ptr + row + t * D + d, y_t)


@triton.jit
def _bwd_kernel(u_ptr, dt_ptr, a_ptr, b_ptr, c_ptr, dy_ptr, ck_ptr, scr_ptr,
                du_ptr, ddt_ptr, da_ptr, db_ptr, dc_ptr,
                L, D, G, DG, NCHUNK, NBLK,
                N: tl.constexpr, NP: tl.constexpr, BLOCK_D: tl.constexpr, CH: tl.constexpr):
    # du, ddt: (B, L, D); da: (B, D, N) per-batch partials; db, dc: (B, NBLK, L, N) per-block
    # partials; scr: (B, NBLK, CH + 1, BLOCK_D, N) scratch (slot 0: the chunk's start state)
    pid_b = tl.program_id(0).to(tl.int64)            # 64-bit offsets: buffers may pass 2**31 elements
    pid_d = tl.program_id(1)
    d = pid_d * BLOCK_D + tl.arange(0, BLOCK_D)
    dl = tl.arange(0, BLOCK_D)
    n = tl.arange(0, NP)
    nmask = n < N
    m2 = nmask[None, :]
    grp = (pid_d * BLOCK_D) // DG
    a = tl.load(a_ptr + d[:, None] * N + n[None, :], mask=m2, other=0.0)
    row = pid_b * L * D
    brow = pid_b * L * G * N + grp * N
    prow = (pid_b * NBLK + pid_d) * L * N
    scr = scr_ptr + (pid_b * NBLK + pid_d) * (CH + 1) * BLOCK_D * N
    slot = dl[:, None] * N + n[None, :]
    carry = tl.zeros((BLOCK_D, NP), dtype=tl.float32)   # exp(dt_{t+1} A) g_{t+1}
    ga = tl.zeros((BLOCK_D, NP), dtype=tl.float32)
    for kk in range(0, NCHUNK):
        k = NCHUNK - 1 - kk
        t0 = k * CH
        cnt = tl.minimum(CH, L - t0)
        h = tl.load(ck_ptr + ((pid_b * NCHUNK + k) * D + d[:, None]) * N + n[None, :], mask=m2, other=0.0)
        tl.store(scr + slot, h, mask=m2)
        for i in range(0, cnt):                           # recompute the chunk's states
            t = t0 + i
            u_t = tl.load(u_ptr + row + t * D + d)
            dt_t = tl.load(dt_ptr + row + t * D + d)
            b_t = tl.load(b_ptr + brow + t * G * N + n, mask=nmask, other=0.0)
            h = tl.exp(dt_t[:, None] * a) * h + (dt_t * u_t)[:, None] * b_t[None, :]
            tl.store(scr + (i + 1) * BLOCK_D * N + slot, h, mask=m2)
        tl.debug_barrier()
        for ii in range(0, cnt):                          # the adjoint, backwards
            i = cnt - 1 - ii
            t = t0 + i
            u_t = tl.load(u_ptr + row + t * D + d)
            dt_t = tl.load(dt_ptr + row + t * D + d)
            dy_t = tl.load(dy_ptr + row + t * D + d)
            b_t = tl.load(b_ptr + brow + t * G * N + n, mask=nmask, other=0.0)
            c_t = tl.load(c_ptr + brow + t * G * N + n, mask=nmask, other=0.0)
            h_t = tl.load(scr + (i + 1) * BLOCK_D * N + slot, mask=m2, other=0.0)
            h_p = tl.load(scr + i * BLOCK_D * N + slot, mask=m2, other=0.0)
            g = carry + dy_t[:, None] * c_t[None, :]
            dA = tl.exp(dt_t[:, None] * a)
            x = g * dA * h_p
            gb = tl.sum(g * b_t[None, :], axis=1)                     # (BLOCK_D,) dL/d(dt u)
            tl.store(du_ptr + row + t * D + d, gb * dt_t)
            tl.store(ddt_ptr + row + t * D + d, tl.sum(x * a, axis=1) + gb * u_t)
            ga += x * dt_t[:, None]
            tl.store(db_ptr + prow + t * N + n, tl.sum(g * (dt_t * u_t)[:, None], axis=0), mask=nmask)
            tl.store(dc_ptr + prow + t * N + n, tl.sum(h_t * dy_t[:, None], axis=0), mask=nmask)
            carry = dA * g
        tl.debug_barrier()
    tl.store(da_ptr + (pid_b * D + d[:, None]) * N + n[None, :], ga, mask=m2)


def block_d(dg: int, cap: int = 64) -> int:
    """The channel block: the largest power of two <= ``cap`` dividing ``D // G`` (0: none above 1)."""
    for bd in (64, 32, 16, 8, 4, 2):
        if bd <= cap and dg % bd == 0:
            return bd
    return 0


def _on_device(t: torch.Tensor):
    """Launch on ``t``'s GPU (Triton launches on the *current* CUDA device, which need not be the
    tensors' one with ``--device cuda:1``); a no-op for CPU tensors (the interpreter)."""
    return torch.cuda.device(t.device) if t.is_cuda else contextlib.nullcontext()


def _time_major(x: torch.Tensor) -> torch.Tensor:
    """``(B, ..., L)`` -> contiguous ``(B, L, ...)``."""
    return x.movedim(-1, 1).contiguous()


class TritonScan(torch.autograd.Function):
    """Autograd wrapper; inputs as in the module docstring, output ``y (B, D, L)`` fp32."""

    @staticmethod
    def forward(ctx, u, dt, A, Bm, Cm):
        bsz, dim, length = u.shape
        groups, n = Bm.shape[1], A.shape[1]
        dg = dim // groups
        cap, warps = launch_config()
        bd = block_d(dg, cap)
        nchunk = -(-length // CHUNK)
        u_tm, dt_tm = _time_major(u), _time_major(dt)          # (B, L, D)
        B_tm, C_tm = _time_major(Bm), _time_major(Cm)          # (B, L, G, N)
        A = A.contiguous()
        y = torch.empty_like(u_tm)
        ck = u.new_empty(bsz, nchunk, dim, n)
        grid = (bsz, dim // bd)
        with _on_device(u):
            _fwd_kernel[grid](u_tm, dt_tm, A, B_tm, C_tm, y, ck, length, dim, groups, dg, nchunk,
                              N=n, NP=triton.next_power_of_2(n), BLOCK_D=bd, CH=CHUNK, num_warps=warps)
        ctx.save_for_backward(u_tm, dt_tm, A, B_tm, C_tm, ck)
        ctx.bd, ctx.warps = bd, warps
        return y.transpose(1, 2)

    @staticmethod
    def backward(ctx, dy):
        u_tm, dt_tm, A, B_tm, C_tm, ck = ctx.saved_tensors
        bsz, length, dim = u_tm.shape
        groups, n = B_tm.shape[2], A.shape[1]
        bd = ctx.bd
        nblk = dim // bd
        nchunk = ck.shape[1]
        dy_tm = dy.transpose(1, 2).contiguous().float()
        du = torch.empty_like(u_tm)
        ddt = torch.empty_like(u_tm)
        da = u_tm.new_empty(bsz, dim, n)
        db = u_tm.new_empty(bsz, nblk, length, n)
        dc = u_tm.new_empty(bsz, nblk, length, n)
        scr = u_tm.new_empty(bsz, nblk, CHUNK + 1, bd, n)
        with _on_device(u_tm):
            _bwd_kernel[(bsz, nblk)](u_tm, dt_tm, A, B_tm, C_tm, dy_tm, ck, scr, du, ddt, da, db, dc,
                                     length, dim, groups, dim // groups, nchunk, nblk,
                                     N=n, NP=triton.next_power_of_2(n), BLOCK_D=bd, CH=CHUNK,
                                     num_warps=ctx.warps)
        per = nblk // groups                                   # blocks per group
        to_bgnl = lambda p: p.view(bsz, groups, per, length, n).sum(2).permute(0, 1, 3, 2)
        return du.transpose(1, 2), ddt.transpose(1, 2), da.sum(0), to_bgnl(db), to_bgnl(dc)


def triton_scan(u, dt, A, Bm, Cm) -> torch.Tensor:
    """``y (B, D, L)`` of the recurrence; differentiable in every input."""
    return TritonScan.apply(u, dt, A, Bm, Cm)
