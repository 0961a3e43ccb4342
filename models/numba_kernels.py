"""Compiled CPU inference kernels (numba): the S6 scan and the depthwise deformable convolution.

**The scan.** The per-step torch scans (:mod:`scan` ``sequential``) spend most of their time
outside the recurrence itself: broadcast products that write the decays and inputs of every (step,
channel, state) lane to memory, layout copies to and from time-major order, and a batched matrix
product for ``y_t = C_t . h_t``. :func:`numba_scan` walks each channel's sequence once with its
``N`` states in registers and reads ``u, dt (B, D, L)`` and ``B, C`` in their natural layout
(``B, C`` as ``(B, G, L, N)``), so nothing of size ``L * D * N`` is ever written.
:func:`bidirectional_scan` is the SAS block's version: one sequence scanned forward and backward,
with the dt projection, its bias and softplus computed inside.

``exp(dt * A)`` is the bulk of the arithmetic (one per lane and step). libm's ``expf`` does not
vectorise here, so it is computed as ``2**k * p(f)`` with ``k`` the nearest integer of
``dt * A * log2(e)`` and ``p`` the degree-7 Taylor polynomial of ``2**f`` on ``|f| <= 1/2``
(relative error below 2e-7, as fp32's own rounding); ``2**k`` is built from the exponent bits. The
argument is clamped at ``2**-125`` (a decay that small is zero for every purpose) so no result is
subnormal.

**The deformable convolution.** :func:`deform_conv_depthwise` computes each output cell's
bilinear taps once (4 corners x k*k taps, shared by all channels) and accumulates over channels
in a channels-last row, instead of sampling every channel separately (``grid_sample``) and
weighting the taps in a second pass.

**Training.** :func:`numba_scan_train` / :func:`numba_scan_backward` are the scan's forward
(keeping every ``CKPT_STEPS``-th state) and backward (recomputing the states between them) for
autograd (``scan._NumbaScan``): the per-step torch scan spent ~80 % of a CPU training step in its
small per-step ops, and keeping every state cost more in page faults than recomputing them
(results/bench_train_step_cpu_ckpt.md).

Every kernel is compiled with ``fastmath`` and ``error_model="numpy"`` (no Python
ZeroDivisionError check: with it a single division kept the softplus loop scalar, 2.5x slower).
fp32. This module is the only place that imports numba, and only
:func:`scan.load_numba_kernels` imports this module.
"""
from __future__ import annotations

import math
from concurrent.futures import ThreadPoolExecutor

import numba
import numpy as np
import torch
from llvmlite import ir
from numba import types
from numba.extending import intrinsic

LOG2E = 1.4426950408889634
LN2 = 0.6931471805599453
# Taylor coefficients of 2**f = exp(f ln 2): ln2**k / k!
_P = tuple(LN2 ** k / math.factorial(k) for k in range(8))
P0, P1, P2, P3, P4, P5, P6, P7 = (np.float32(c) for c in _P)
MIN_EXP2 = np.float32(-125.0)


def _over_rows(kernel, args: tuple, rows: int, threads: int) -> None:
    """Run ``kernel(*args, r0, r1)`` over rows ``0 .. rows``: in this thread, or split into
    ``threads`` contiguous ranges run by as many Python threads (the kernels release the GIL and
    write disjoint rows, so the result does not depend on the split)."""
    threads = max(1, min(int(threads), rows))
    if threads == 1:
        kernel(*args, 0, rows)
        return
    edges = np.linspace(0, rows, threads + 1).astype(int)
    with ThreadPoolExecutor(threads) as pool:
        for job in [pool.submit(kernel, *args, int(edges[i]), int(edges[i + 1])) for i in range(threads)]:
            job.result()


@intrinsic
def _i32_as_f32(typingctx, x):  # pragma: no cover - compiled
    """Reinterpret an int32's bits as a float32 (an LLVM bitcast: free, and vectorisable)."""
    def codegen(context, builder, signature, args):
        return builder.bitcast(args[0], ir.FloatType())
    return types.float32(types.int32), codegen


@numba.njit(fastmath=True, nogil=True, inline="always", error_model="numpy")
def _exp2(z):  # pragma: no cover - compiled
    """``2**z`` in float32 for ``z <= 0`` (clamped to ``MIN_EXP2 .. 0``; the wrappers reject A > 0): polynomial times exponent
    bits. Every step stays float32 (``np.floor``, not ``math.floor``, which returns an integer and
    would promote the polynomial to float64), so loops over it vectorise."""
    z = min(max(z, MIN_EXP2), np.float32(0.0))        # decays only: 2**z in (0, 1]
    kf = np.floor(z + np.float32(0.5))
    f = z - kf
    q = P7 * f + P6
    q = q * f + P5
    q = q * f + P4
    q = q * f + P3
    q = q * f + P2
    q = q * f + P1
    q = q * f + P0
    return q * _i32_as_f32((np.int32(kf) + np.int32(127)) << np.int32(23))


@numba.njit(fastmath=True, nogil=True, cache=True, error_model="numpy")
def _scan_rows(u, dt, a2, Bt, Ct, Dk, y, r0, r1):  # pragma: no cover - compiled
    """Rows ``r0 .. r1`` of the flattened ``(B * D)`` channels. ``a2 = A * log2(e)`` (D, N)."""
    d = u.shape[1]
    length = u.shape[2]
    g = Bt.shape[1]
    n = a2.shape[1]
    dg = d // g
    h = np.zeros(n, np.float32)
    for r in range(r0, r1):
        bi = r // d
        c = r - bi * d
        gi = c // dg
        a = a2[c]
        dk = Dk[c]
        for k in range(n):
            h[k] = 0.0
        for t in range(length):
            dtt = dt[bi, c, t]
            ut = u[bi, c, t]
            x = dtt * ut
            Brow = Bt[bi, gi, t]
            Crow = Ct[bi, gi, t]
            acc = np.float32(0.0)
            for k in range(n):
                hk = _exp2(dtt * a[k]) * h[k] + x * Brow[k]
                h[k] = hk
                acc += Crow[k] * hk
            y[bi, c, t] = acc + dk * ut


def _check_decays(A: torch.Tensor) -> None:
    if bool((A > 0).any()) or not bool(torch.isfinite(A).all()):
        raise ValueError("expected A < 0 everywhere (finite decays exp(dt A) <= 1, as -exp(A_log) gives); "
                         f"found max {float(A.max()):.3g}: use the 'ref' or 'sequential' scan for such inputs")


def _scan_inputs(u, dt, A, Bm, Cm, D=None) -> tuple:
    """Check the scan's shapes and decays, and lay the inputs out for the kernels (fp32 numpy):
    ``u, dt (B, D, L)``, ``a2 = A log2(e) (D, N)``, ``Bt, Ct (B, G, L, N)``."""
    b, d, length = u.shape
    n, g = A.shape[-1], Bm.shape[1]
    if dt.shape != u.shape or A.shape != (d, n) or Bm.shape != (b, g, n, length) or Cm.shape != Bm.shape \
            or d % g or (D is not None and D.shape != (d,)):
        raise ValueError(f"expected u, dt (B, D, L), A (D, N), B, C (B, G, N, L) with G dividing D, D (D,); found "
                         f"u {tuple(u.shape)}, dt {tuple(dt.shape)}, A {tuple(A.shape)}, B {tuple(Bm.shape)}, "
                         f"C {tuple(Cm.shape)}, D {None if D is None else tuple(D.shape)}")
    _check_decays(A)
    un = u.detach().float().contiguous().numpy()
    dtn = dt.detach().float().contiguous().numpy()
    a2 = (A.detach().float() * LOG2E).contiguous().numpy()
    Bt = Bm.detach().float().transpose(2, 3).contiguous().numpy()     # (B, G, L, N)
    Ct = Cm.detach().float().transpose(2, 3).contiguous().numpy()
    return un, dtn, a2, Bt, Ct


def numba_scan(u: torch.Tensor, dt: torch.Tensor, A: torch.Tensor, Bm: torch.Tensor, Cm: torch.Tensor,
               D: torch.Tensor | None, threads: int = 1) -> torch.Tensor:
    """``y (B, D, L)`` of the S6 scan. Inputs fp32 CPU: ``u, dt (B, D, L)`` (``dt`` after softplus),
    ``A (D, N)``, ``Bm, Cm (B, G, N, L)``, ``D (D,)`` or None. ``threads`` > 1 splits the channels
    over that many Python threads (the kernel releases the GIL)."""
    b, d, length = u.shape
    un, dtn, a2, Bt, Ct = _scan_inputs(u, dt, A, Bm, Cm, D)
    Dk = (torch.zeros(d) if D is None else D.detach().float()).contiguous().numpy()
    y = np.empty((b, d, length), np.float32)
    _over_rows(_scan_rows, (un, dtn, a2, Bt, Ct, Dk, y), b * d, threads)
    return torch.from_numpy(y)


#: the training forward keeps the state at the start of every CKPT_STEPS-th step only; the backward
#: recomputes each stretch's states from it (a stretch's N x CKPT_STEPS floats stay in cache)
CKPT_STEPS = 32


@numba.njit(fastmath=True, nogil=True, cache=True, error_model="numpy")
def _scan_fwd_rows(u, dt, a2, Bt, Ct, hk, kstep, y, r0, r1):  # pragma: no cover - compiled
    """Training forward: :func:`_scan_rows` without the skip term, keeping the state *before*
    every ``kstep``-th step in ``hk (B, D, ceil(L / kstep), N)`` (the first is 0) for the backward
    pass. Rows ``r0 .. r1`` of the flattened ``(B * D)``."""
    d = u.shape[1]
    length = u.shape[2]
    g = Bt.shape[1]
    n = a2.shape[1]
    dg = d // g
    h = np.zeros(n, np.float32)
    for r in range(r0, r1):
        bi = r // d
        c = r - bi * d
        gi = c // dg
        a = a2[c]
        hrow = hk[bi, c]
        for k in range(n):
            h[k] = 0.0
        left = 0                               # steps until the next kept state (no division per step)
        j = 0
        for t in range(length):
            if left == 0:
                hout = hrow[j]
                for k in range(n):             # stored in a loop of its own: a store into hk in the
                    hout[k] = h[k]             # loop below kept the exp from vectorising (~10x slower)
                j += 1
                left = kstep
            left -= 1
            dtt = dt[bi, c, t]
            x = dtt * u[bi, c, t]
            Brow = Bt[bi, gi, t]
            Crow = Ct[bi, gi, t]
            acc = np.float32(0.0)
            for k in range(n):
                hv = _exp2(dtt * a[k]) * h[k] + x * Brow[k]
                h[k] = hv
                acc += Crow[k] * hv
            y[bi, c, t] = acc


@numba.njit(fastmath=True, nogil=True, cache=True, error_model="numpy")
def _scan_bwd_rows(u, dt, a2, A, Bt, Ct, hk, kstep, dy, gu, gdt, gA, gB, gC, r0, r1):  # pragma: no cover - compiled
    """Training backward of :func:`_scan_fwd_rows`: the adjoint recurrence ``g_t = C_t dy_t +
    exp(dt_{t+1} A) g_{t+1}`` walked backwards with the ``N`` adjoints in registers, every gradient
    formed on the way. The states of each stretch of ``kstep`` steps are first recomputed from the
    kept one (the forward's arithmetic), with their decays ``exp(dt A)``, into a small buffer.
    Rows ``r0 .. r1`` of the flattened ``(B * G)`` groups: a row owns its group's ``gB, gC (B, G,
    L, N)`` (accumulated over the group's channels) and its channels' ``gu, gdt (B, D, L)`` and
    ``gA (B, D, N)`` (per batch row; the caller sums over B), so no two rows write the same
    element. ``exp(dt A) h_{t-1}`` is formed from the state, not as ``h_t - dt u B`` (which
    cancels when dt is large)."""
    d = u.shape[1]
    length = u.shape[2]
    g = Bt.shape[1]
    n = a2.shape[1]
    dg = d // g
    nk = hk.shape[2]
    carry = np.zeros(n, np.float32)
    h = np.zeros(n, np.float32)
    dak = np.zeros(n, np.float32)
    hbuf = np.zeros((kstep + 1, n), np.float32)      # hbuf[i]: the state before step s + i
    dbuf = np.zeros((kstep, n), np.float32)          # dbuf[i]: exp(dt A) at step s + i
    for r in range(r0, r1):
        bi = r // g
        gi = r - bi * g
        gBrow = gB[bi, gi]
        gCrow = gC[bi, gi]
        for t in range(length):
            for k in range(n):
                gBrow[t, k] = 0.0
                gCrow[t, k] = 0.0
        for c in range(gi * dg, (gi + 1) * dg):
            a = a2[c]
            al = A[c]
            gArow = gA[bi, c]
            for k in range(n):
                carry[k] = 0.0
                gArow[k] = 0.0
            for j in range(nk - 1, -1, -1):
                s0 = j * kstep
                s1 = min(s0 + kstep, length)
                h0 = hk[bi, c, j]
                for k in range(n):
                    h[k] = h0[k]
                    hbuf[0, k] = h0[k]
                for t in range(s0, s1):                  # the stretch's states, the forward's arithmetic
                                                         # (equal to rounding: fastmath may contract it differently)
                    dtt = dt[bi, c, t]
                    x = dtt * u[bi, c, t]
                    Brow = Bt[bi, gi, t]
                    for k in range(n):
                        e = _exp2(dtt * a[k])
                        dak[k] = e
                        h[k] = e * h[k] + x * Brow[k]
                    i = t - s0
                    for k in range(n):                   # stores in loops of their own (see the forward)
                        hbuf[i + 1, k] = h[k]
                        dbuf[i, k] = dak[k]
                for t in range(s1 - 1, s0 - 1, -1):
                    i = t - s0
                    dyt = dy[bi, c, t]
                    dtt = dt[bi, c, t]
                    ut = u[bi, c, t]
                    x = dtt * ut
                    Brow = Bt[bi, gi, t]
                    Crow = Ct[bi, gi, t]
                    hnow = hbuf[i + 1]
                    hprev = hbuf[i]                      # h_{-1} = 0: the first kept state
                    dat = dbuf[i]
                    gBt = gBrow[t]
                    gCt = gCrow[t]
                    g_dtu = np.float32(0.0)
                    g_dta = np.float32(0.0)
                    for k in range(n):
                        gv = Crow[k] * dyt + carry[k]
                        gCt[k] += dyt * hnow[k]
                        gBt[k] += gv * x
                        g_dtu += gv * Brow[k]
                        xk = gv * dat[k] * hprev[k]
                        g_dta += xk * al[k]
                        gArow[k] += xk * dtt
                        carry[k] = dat[k] * gv
                    gu[bi, c, t] = g_dtu * dtt
                    gdt[bi, c, t] = g_dta + g_dtu * ut


def numba_scan_train(u: torch.Tensor, dt: torch.Tensor, A: torch.Tensor, Bm: torch.Tensor, Cm: torch.Tensor,
                     threads: int = 1) -> tuple[torch.Tensor, tuple]:
    """Training forward of the S6 scan (no skip term): ``y (B, D, L)`` and what
    :func:`numba_scan_backward` needs. Inputs fp32 CPU as :func:`numba_scan` (``dt`` after
    softplus, ``A < 0``); nothing here is tracked by autograd (``scan._NumbaScan`` wraps it).
    Only every ``CKPT_STEPS``-th state is kept (``B * D * L * N / CKPT_STEPS`` floats): keeping
    them all (180 MB per call for preset ``s`` at 81 frames, batch 4) cost more in page faults
    than recomputing them."""
    b, d, length = u.shape
    n = A.shape[-1]
    un, dtn, a2, Bt, Ct = _scan_inputs(u, dt, A, Bm, Cm)
    Af = A.detach().float().contiguous().numpy()
    # torch, not numpy, allocates the large buffers: numpy asks for transparent huge pages on
    # big arrays, and with the kernel's defrag=madvise that page-faults into compaction stalls
    # (the same forward took 40 ms or 600 ms)
    hk = torch.empty((b, d, -(-length // CKPT_STEPS), n)).numpy()
    y = np.empty((b, d, length), np.float32)
    _over_rows(_scan_fwd_rows, (un, dtn, a2, Bt, Ct, hk, CKPT_STEPS, y), b * d, threads)
    return torch.from_numpy(y), (un, dtn, a2, Af, Bt, Ct, hk, CKPT_STEPS)


def numba_scan_backward(saved: tuple, dy: torch.Tensor, threads: int = 1) -> tuple[torch.Tensor, ...]:
    """Gradients ``(g_u, g_dt, g_A, g_B, g_C)`` of :func:`numba_scan_train`'s output, in its input
    layouts, for the incoming gradient ``dy (B, D, L)``."""
    un, dtn, a2, Af, Bt, Ct, hk, kstep = saved          # the stretch length the forward kept states at
    b, d, length = un.shape
    g, n = Bt.shape[1], a2.shape[1]
    dyn = dy.detach().float().contiguous().numpy()
    gu, gdt = torch.empty(un.shape).numpy(), torch.empty(un.shape).numpy()      # torch: see numba_scan_train
    gA = np.empty((b, d, n), np.float32)
    gB, gC = torch.empty((b, g, length, n)).numpy(), torch.empty((b, g, length, n)).numpy()
    _over_rows(_scan_bwd_rows, (un, dtn, a2, Af, Bt, Ct, hk, kstep, dyn, gu, gdt, gA, gB, gC), b * g, threads)
    return (torch.from_numpy(gu), torch.from_numpy(gdt), torch.from_numpy(gA.sum(0)),
            torch.from_numpy(gB).transpose(2, 3), torch.from_numpy(gC).transpose(2, 3))


@numba.njit(fastmath=True, nogil=True, cache=True, error_model="numpy")
def _bidir_rows(u, dlow, BC, Wdt, bias, a2, Dk, y, joint_major, r0, r1):  # pragma: no cover - compiled
    """One sequence scanned forward (direction 0) and backward (direction 1), both added into ``y``.

    ``u (B, Di, L)``; ``dlow (B, 2, R, L)`` the low-rank dt inputs and ``BC (B, 2, L, 2N)`` the
    B and C rows of each direction, both at the sequence's own positions; ``Wdt (2, Di, R)``,
    ``bias (2, Di)``, ``a2 (2, Di, N)`` (``A * log2(e)``), ``Dk (2, Di)``. The result,
    ``scan_fwd(u) + reverse(scan(reverse(u)))``, each with its ``D * u`` skip term, is *added* into
    ``y (B, T, J, Di)`` (channels last, the block's layout): sequence position ``p`` is frame
    ``p // J``, joint ``p % J`` (frame-major) or joint ``p // T``, frame ``p % T``
    (``joint_major``). Rows ``r0 .. r1`` of the flattened ``(B * Di)`` channels."""
    di = u.shape[1]
    length = u.shape[2]
    rank = dlow.shape[2]
    n = a2.shape[2]
    h = np.zeros(n, np.float32)
    dt = np.empty(length, np.float32)
    ybuf = np.empty((2, length), np.float32)
    third = np.float32(1.0 / 3.0)
    for r in range(r0, r1):
        bi = r // di
        c = r - bi * di
        urow = u[bi, c]
        for direction in range(2):
            # dt = softplus(W_dt . dlow + bias) for the whole row (a loop the compiler vectorises):
            # softplus(x) = max(x, 0) + log(1 + w), w = exp(-|x|), log(1 + w) = 2 atanh(w / (2 + w))
            bv = bias[direction, c]
            for t in range(length):
                dt[t] = bv
            for q in range(rank):
                wq = Wdt[direction, c, q]
                dq = dlow[bi, direction, q]
                for t in range(length):
                    dt[t] += wq * dq[t]
            for t in range(length):
                v = dt[t]
                w = _exp2(-abs(v) * np.float32(LOG2E))
                s = w / (np.float32(2.0) + w)
                s2 = s * s
                at = np.float32(1.0 / 13.0)
                at = at * s2 + np.float32(1.0 / 11.0)
                at = at * s2 + np.float32(1.0 / 9.0)
                at = at * s2 + np.float32(1.0 / 7.0)
                at = at * s2 + np.float32(0.2)
                at = at * s2 + third
                at = at * s2 + np.float32(1.0)
                dt[t] = max(dt[t], np.float32(0.0)) + np.float32(2.0) * s * at
            a = a2[direction, c]
            dk = Dk[direction, c]
            for k in range(n):
                h[k] = 0.0
            t0 = 0 if direction == 0 else length - 1
            st = 1 if direction == 0 else -1
            yb = ybuf[direction]
            for i in range(length):
                t = t0 + st * i
                dtt = dt[t]
                ut = urow[t]
                x = dtt * ut
                Brow = BC[bi, direction, t, :n]       # two slices: ~20 % faster than one row
                Crow = BC[bi, direction, t, n:]       # indexed [k] and [n + k]
                acc = np.float32(0.0)
                for k in range(n):
                    hk = _exp2(dtt * a[k]) * h[k] + x * Brow[k]
                    h[k] = hk
                    acc += Crow[k] * hk
                yb[t] = acc + dk * ut
        frames = y.shape[1]
        joints = y.shape[2]
        for t in range(length):
            if joint_major:
                jj = t // frames
                ff = t - jj * frames
            else:
                ff = t // joints
                jj = t - ff * joints
            y[bi, ff, jj, c] += ybuf[0, t] + ybuf[1, t]

def bidirectional_scan(u: torch.Tensor, dlow: torch.Tensor, BC: torch.Tensor, Wdt: torch.Tensor,
                       bias: torch.Tensor, A: torch.Tensor, D: torch.Tensor, out: torch.Tensor,
                       joint_major: bool = False, threads: int = 1) -> torch.Tensor:
    """Forward plus reversed selective scan of one sequence with the dt projection and softplus
    inside the kernel (the SAS block's inference path, models/block.py), added into ``out
    (B, T, J, Di)`` float32 contiguous (returned). Shapes as in :func:`_bidir_rows`; ``A (2, Di, N)``
    negative; ``u``'s positions are frame-major, or joint-major with ``joint_major``."""
    b, di, length = u.shape
    rank, n = Wdt.shape[-1], A.shape[-1]
    if dlow.shape != (b, 2, rank, length) or BC.shape != (b, 2, length, 2 * n) or Wdt.shape != (2, di, rank) \
            or bias.shape != (2, di) or A.shape != (2, di, n) or D.shape != (2, di):
        raise ValueError(f"expected u (B, Di, L), dlow (B, 2, R, L), BC (B, 2, L, 2N), Wdt (2, Di, R), bias (2, Di), "
                         f"A (2, Di, N), D (2, Di); found u {tuple(u.shape)}, dlow {tuple(dlow.shape)}, "
                         f"BC {tuple(BC.shape)}, Wdt {tuple(Wdt.shape)}, bias {tuple(bias.shape)}, "
                         f"A {tuple(A.shape)}, D {tuple(D.shape)}")
    _check_decays(A)
    if out.dtype != torch.float32 or not out.is_contiguous() or out.shape[0] != b or out.shape[3] != di \
            or out.shape[1] * out.shape[2] != length:
        raise ValueError(f"expected out float32 contiguous (B={b}, T, J, Di={di}) with T * J = {length}, "
                         f"found {out.dtype} {tuple(out.shape)}")
    args = [t.detach().float().contiguous().numpy() for t in (u, dlow, BC, Wdt, bias)]
    a2 = (A.detach().float() * LOG2E).contiguous().numpy()
    Dk = D.detach().float().contiguous().numpy()
    y = out.numpy()
    rows = b * di
    _over_rows(_bidir_rows, (*args, a2, Dk, y, joint_major), rows, threads)
    return out


@numba.njit(fastmath=True, nogil=True, inline="always", error_model="numpy")
def _grid(xcl, wt):  # pragma: no cover - compiled
    """``(height, width, channels, taps, k, k // 2)`` of a channels-last input and its ``(k^2, C)``
    tap weights."""
    taps = wt.shape[0]
    k = int(round(math.sqrt(taps)))
    return xcl.shape[1], xcl.shape[2], xcl.shape[3], taps, k, k // 2


@numba.njit(fastmath=True, nogil=True, inline="always", error_model="numpy")
def _tap(off, bi, hh, ww, p, k, half):  # pragma: no cover - compiled
    """Tap ``p`` of output cell ``(hh, ww)``: its displaced position's top-left grid cell ``(y0,
    x0)`` and bilinear fractions ``(ly, lx)``."""
    py = hh + (p // k - half) + off[bi, 2 * p, hh, ww]
    px = ww + (p % k - half) + off[bi, 2 * p + 1, hh, ww]
    y0 = int(math.floor(py))
    x0 = int(math.floor(px))
    return y0, x0, py - y0, px - x0


@numba.njit(fastmath=True, nogil=True, cache=True, error_model="numpy")
def _deform_rows(xcl, off, wt, bias, out, r0, r1):  # pragma: no cover - compiled
    """Output cells ``r0 .. r1`` of the flattened ``(B * H * W)`` grid. ``xcl (B, H, W, C)``
    channels-last input; ``off (B, 2 k^2, H, W)`` (tap ``p``: frame offset ``2p``, joint offset
    ``2p + 1``); ``wt (k^2, C)``; ``bias (C,)``; ``out (B, H, W, C)``."""
    height, width, ch, taps, k, half = _grid(xcl, wt)
    for r in range(r0, r1):
        bi = r // (height * width)
        rem = r - bi * height * width
        hh = rem // width
        ww = rem - hh * width
        acc = out[bi, hh, ww]
        for c in range(ch):
            acc[c] = bias[c]
        for p in range(taps):
            y0, x0, ly, lx = _tap(off, bi, hh, ww, p, k, half)
            wrow = wt[p]
            for corner in range(4):
                yy = y0 + corner // 2
                xx = x0 + corner % 2
                if yy < 0 or yy >= height or xx < 0 or xx >= width:
                    continue
                cw = (ly if corner // 2 else 1.0 - ly) * (lx if corner % 2 else 1.0 - lx)
                if cw == 0.0:
                    continue
                src = xcl[bi, yy, xx]
                for c in range(ch):
                    acc[c] += np.float32(cw) * wrow[c] * src[c]


def _deform_inputs(x: torch.Tensor, offset: torch.Tensor, weight: torch.Tensor) -> tuple:
    """The kernels' layouts (fp32 numpy): ``xcl (B, H, W, C)`` channels-last, ``off (B, 2k^2,
    H, W)``, ``wt (k^2, C)``."""
    ch = x.shape[1]
    return (x.detach().float().permute(0, 2, 3, 1).contiguous().numpy(),
            offset.detach().float().contiguous().numpy(),
            weight.detach().float().reshape(ch, -1).t().contiguous().numpy())


def deform_conv_depthwise(x: torch.Tensor, offset: torch.Tensor, weight: torch.Tensor,
                          bias: torch.Tensor | None, threads: int = 1) -> torch.Tensor:
    """Depthwise deformable k x k convolution, stride 1, 'same' padding, zeros outside (as
    :func:`deform.deform_conv2d_depthwise`): ``x (B, C, H, W)``, ``offset (B, 2k^2, H, W)``,
    ``weight (C, 1, k, k)``, ``bias (C,)`` or None. Returns ``(B, C, H, W)`` float32 (a
    channels-last tensor viewed as ``(B, C, H, W)``)."""
    b, ch, height, width = x.shape
    xcl, off, wt = _deform_inputs(x, offset, weight)
    bs = (torch.zeros(ch) if bias is None else bias.detach().float()).contiguous().numpy()
    out = np.empty((b, height, width, ch), np.float32)
    rows = b * height * width
    _over_rows(_deform_rows, (xcl, off, wt, bs, out), rows, threads)
    return torch.from_numpy(out).permute(0, 3, 1, 2)


@numba.njit(fastmath=True, nogil=True, cache=True, error_model="numpy")
def _deform_bwd_rows(xcl, off, wt, gout, gx, goff, gwt, r0, r1):  # pragma: no cover - compiled
    """Backward of :func:`_deform_rows` for batch rows ``r0 .. r1`` (a batch row owns its
    ``gx[b]``, ``goff[b]`` and ``gwt[b]``, so rows never write the same element). ``gout (B, H,
    W, C)`` channels-last; ``gx (B, H, W, C)`` and ``gwt (B, k^2, C)`` zeroed by the caller
    (accumulated), ``goff (B, 2 k^2, H, W)`` written. A corner with a zero bilinear weight still
    carries the offset's gradient (the slope of the interpolation), as ``grid_sample``'s does."""
    height, width, ch, taps, k, half = _grid(xcl, wt)
    gw = np.empty(ch, np.float32)
    for bi in range(r0, r1):
        for hh in range(height):
            for ww in range(width):
                g = gout[bi, hh, ww]
                for p in range(taps):
                    y0, x0, ly, lx = _tap(off, bi, hh, ww, p, k, half)
                    ly = np.float32(ly)
                    lx = np.float32(lx)
                    wrow = wt[p]
                    grow = gwt[bi, p]
                    for c in range(ch):
                        gw[c] = g[c] * wrow[c]
                    gpy = np.float32(0.0)
                    gpx = np.float32(0.0)
                    for corner in range(4):
                        yy = y0 + corner // 2
                        xx = x0 + corner % 2
                        if yy < 0 or yy >= height or xx < 0 or xx >= width:
                            continue
                        wy = ly if corner // 2 else np.float32(1.0) - ly
                        wx = lx if corner % 2 else np.float32(1.0) - lx
                        cw = wy * wx
                        src = xcl[bi, yy, xx]
                        gsrc = gx[bi, yy, xx]
                        dot = np.float32(0.0)
                        for c in range(ch):
                            dot += gw[c] * src[c]
                            gsrc[c] += cw * gw[c]
                        for c in range(ch):
                            grow[c] += cw * g[c] * src[c]
                        gpy += (wx if corner // 2 else -wx) * dot
                        gpx += (wy if corner % 2 else -wy) * dot
                    goff[bi, 2 * p, hh, ww] = gpy
                    goff[bi, 2 * p + 1, hh, ww] = gpx


def deform_conv_depthwise_backward(x: torch.Tensor, offset: torch.Tensor, weight: torch.Tensor,
                                   gout: torch.Tensor, threads: int = 1) -> tuple[torch.Tensor, ...]:
    """Gradients ``(g_x (B, C, H, W), g_offset (B, 2k^2, H, W), g_weight (C, 1, k, k), g_bias
    (C,))`` of :func:`deform_conv_depthwise` for the incoming gradient ``gout (B, C, H, W)``."""
    b, ch, height, width = x.shape
    taps = weight.shape[-1] * weight.shape[-2]
    xcl, off, wt = _deform_inputs(x, offset, weight)
    gcl = gout.detach().float().permute(0, 2, 3, 1).contiguous()
    gx = torch.zeros((b, height, width, ch))
    goff = torch.empty(off.shape)
    gwt = torch.zeros((b, taps, ch))
    _over_rows(_deform_bwd_rows, (xcl, off, wt, gcl.numpy(), gx.numpy(), goff.numpy(), gwt.numpy()), b, threads)
    return (gx.permute(0, 3, 1, 2), goff, gwt.sum(0).t().reshape(weight.shape), gcl.sum((0, 1, 2)))


def warm_up() -> None:
    """Compile (or load from numba's on-disk cache) every kernel on tiny inputs, so the first lift
    does not pay it inside its timed stages: ~1-3 s the first time on a machine, ~0.3 s cached."""
    g = torch.Generator().manual_seed(0)
    u = torch.randn(1, 2, 3, generator=g)
    A = -torch.ones(2, 2)
    numba_scan(u, u.abs(), A, torch.ones(1, 1, 2, 3), torch.ones(1, 1, 2, 3), None)
    bidirectional_scan(u, torch.zeros(1, 2, 1, 3), torch.ones(1, 2, 3, 4), torch.zeros(2, 2, 1),
                       torch.zeros(2, 2), A.expand(2, 2, 2), torch.zeros(2, 2), torch.zeros(1, 3, 1, 2))
    deform_conv_depthwise(torch.ones(1, 2, 3, 3), torch.zeros(1, 18, 3, 3), torch.ones(2, 1, 3, 3), None)
