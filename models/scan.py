"""Selective scan (the S6 recurrence of Mamba) with interchangeable backends.

All backends compute the same function as mamba-ssm's ``selective_scan_ref``::

    dt_t  = softplus(delta_t + delta_bias)                  (B, D, L)
    h_t   = exp(dt_t * A) * h_{t-1} + dt_t * B_t * u_t       (B, D, N) per step, h_{-1} = 0
    y_t   = sum_n C_t[n] * h_t[n] + D * u_t                  (B, D, L)

Shapes: ``u, delta (B, D, L)``; ``A (D, N)`` (negative); ``B, C (B, G, N, L)`` where channel
block ``g`` (``D // G`` consecutive channels) uses group ``g``; ``D, delta_bias (D,)``.
Computation is fp32; the output has ``u``'s dtype.

Backends
--------
``ref``      a plain sequential loop over L: the oracle (slow, exact).
``sequential`` the recurrence as one in-place fused multiply-add per time step over all
             (batch, channel, state) lanes, written straight into the output buffer; backward is
             the same recurrence in reverse (custom autograd). Without autograd it keeps only
             the current state and reads ``y_t`` out every step (no state history in memory). Memory-bound and cache-friendly:
             the CPU default. Products of decays only, so it is stable for any dt >= 0, A < 0.
``chunked``  a two-level scan: a sequential scan inside chunks of ``c`` steps, run for all
             chunks at once, then a carry pass over the ``L / c`` chunk ends and one broadcast
             fix-up. It only ever multiplies decays in (0, 1] (never divides by a cumulative
             decay), so it cannot overflow for any ``dt >= 0`` and ``A < 0``. Its backward is the
             same scan run in reverse (custom autograd), so memory stays O(L * D * N).
             Needs ~2 sqrt(L) sequential steps instead of L: the CUDA fallback.
``triton``   our fused Triton kernel (:mod:`scan_triton`): the state lives in registers, the
             forward keeps one checkpoint per 64 steps and the backward recomputes a chunk at a
             time, so it keeps 1/64 of the states ``chunked`` keeps for autograd (a whole training
             step of preset s peaked at 5x less memory on an H200). CUDA tensors (or any tensors
             under ``TRITON_INTERPRET=1``, Triton's CPU interpreter, which the tests use).
``numba``    our compiled CPU inference kernel (:mod:`numba_kernels`): each channel's sequence in one
             loop with its states in registers, nothing of size L * D * N written to memory (3-4x
             faster than ``sequential`` on CPU). No autograd. Needs numba (a dependency; when it
             does not import, ``auto`` falls back to ``sequential``).
``mamba``    mamba-ssm's fused CUDA kernel (``selective_scan_fn``), CUDA tensors only. The
             import happens lazily in :func:`load_mamba_kernel`, the only place that touches
             mamba_ssm.

``backend="auto"`` picks ``numba`` on CPU for inference (no autograd) and ``sequential`` for
training; on CUDA ``mamba`` when the kernel imports, else
``triton`` when Triton imports (it ships with CUDA builds of torch) and the GPU has compute
capability 7.0 or newer, else ``chunked``.
The environment variable ``SASMAMBA_SCAN`` forces a backend globally.
"""
from __future__ import annotations

import functools
import math
import os

import torch
import torch.nn.functional as F

BACKENDS = ("ref", "sequential", "chunked", "numba", "triton", "mamba")


class ScanBackendError(RuntimeError):
    """A forced scan backend cannot run on the given tensors / machine."""


@functools.lru_cache(maxsize=1)
def load_mamba_kernel():
    """Return mamba-ssm's ``selective_scan_fn`` or ``None`` when it cannot be imported.

    This is the only place in sasmamba that imports mamba_ssm (an optional CUDA extension,
    ``pip install "sasmamba[gpu]"``).
    """
    try:
        from mamba_ssm.ops.selective_scan_interface import selective_scan_fn
    except Exception:  # ImportError, missing compiled selective_scan_cuda, CUDA/ABI mismatch ...
        return None
    return selective_scan_fn


@functools.lru_cache(maxsize=1)
def load_triton_scan():
    """Return the :mod:`scan_triton` module or ``None`` when Triton cannot be imported.

    The only place that imports ``triton`` (through :mod:`scan_triton`)."""
    try:
        from . import scan_triton
    except Exception:  # ImportError, a Triton without a usable backend ...
        return None
    return scan_triton


TRITON_MIN_CAPABILITY = (7, 0)  # Triton compiles for Volta and newer GPUs


def load_numba_kernels():
    """Return the :mod:`numba_kernels` module, or ``None`` when numba cannot be imported, its
    kernels failed to compile here (:func:`prepare_cpu_inference`), or the environment sets
    ``SASMAMBA_NUMBA=0`` (the torch paths then run: for comparisons and as an escape hatch). The
    only place that imports ``numba`` (through :mod:`numba_kernels`)."""
    if os.environ.get("SASMAMBA_NUMBA", "") == "0" or _NUMBA_BROKEN:
        return None
    return _import_numba_kernels()


_NUMBA_BROKEN: list[str] = []        # why the compiled kernels were given up in this process, if they were


def _give_up_numba(why: str) -> None:
    import warnings

    _NUMBA_BROKEN.append(why)
    warnings.warn(f"compiled CPU kernels unavailable ({why}); the slower torch paths run instead "
                  "(SASMAMBA_NUMBA=0 silences this)", RuntimeWarning, stacklevel=3)


@functools.lru_cache(maxsize=1)
def _import_numba_kernels():
    try:
        from . import numba_kernels
    except ImportError:               # numba (or llvmlite) not installed: the torch paths, silently
        return None
    except Exception as e:            # e.g. "cannot cache function ...: no locator available"
        if "cache" in str(e).lower():
            try:                      # a read-only install: numba's cache in a temporary folder
                import tempfile

                import numba

                numba.config.CACHE_DIR = tempfile.mkdtemp(prefix="sasmamba-numba-")
                from . import numba_kernels
                return numba_kernels
            except Exception as e2:   # any failure means: run the torch paths
                e = e2
        _give_up_numba(f"{type(e).__name__}: {e}")
        return None
    return numba_kernels


def prepare_cpu_inference() -> bool:
    """Load and compile the CPU inference kernels ahead of the first scan (``lift`` calls this
    when it loads a lifter on the CPU). False when they are not available: numba does not import,
    or compiling them fails here (then a warning, and the torch paths run for this process)."""
    kernel = load_numba_kernels()
    if kernel is None:
        return False
    try:
        kernel.warm_up()
    except Exception as e:            # a numba / LLVM that cannot build them here
        _give_up_numba(f"compiling failed: {type(e).__name__}: {e}")
        return False
    return True


def _triton_usable(device: torch.device) -> bool:
    """``auto`` on CUDA: Triton imports and the GPU is one it compiles for (older cards get
    ``chunked`` instead of a compile error at the first scan)."""
    if load_triton_scan() is None:
        return False
    try:
        return tuple(torch.cuda.get_device_capability(device)) >= TRITON_MIN_CAPABILITY
    except Exception:  # no usable CUDA runtime: let the caller's own CUDA error speak
        return False


def _triton_interpreted() -> bool:
    return os.environ.get("TRITON_INTERPRET", "") == "1"


def available_backends(device: torch.device | str = "cpu") -> list[str]:
    """Backends that can run on ``device`` on this machine."""
    device = torch.device(device)
    out = ["ref", "sequential", "chunked"]
    if device.type == "cpu" and load_numba_kernels() is not None:
        out.append("numba")
    if (device.type == "cuda" or _triton_interpreted()) and load_triton_scan() is not None:
        out.append("triton")
    if device.type == "cuda" and load_mamba_kernel() is not None:
        out.append("mamba")
    return out


def resolve_backend(backend: str, device: torch.device, needs_grad: bool = True) -> str:
    """Turn ``auto`` (or the ``SASMAMBA_SCAN`` override) into a concrete backend name.
    On CPU ``auto`` is the compiled kernel (inference, and training through its backward) where
    numba loads; ``needs_grad`` is kept for callers and no longer changes the choice."""
    if backend == "auto":
        backend = os.environ.get("SASMAMBA_SCAN", "auto") or "auto"
    if backend == "auto":
        if device.type != "cuda":
            return "numba" if load_numba_kernels() is not None else "sequential"
        if load_mamba_kernel() is not None:
            return "mamba"
        return "triton" if _triton_usable(device) else "chunked"
    if backend not in BACKENDS:
        raise ScanBackendError(f"unknown scan backend {backend!r}; expected one of {BACKENDS} or 'auto'")
    if backend == "mamba":
        if device.type != "cuda":
            raise ScanBackendError(f"scan backend 'mamba' needs CUDA tensors, found device {device}; "
                                   "use 'sequential' or 'chunked' on CPU")
        if load_mamba_kernel() is None:
            raise ScanBackendError("scan backend 'mamba' requested but mamba_ssm does not import; "
                                   'install it with pip install "sasmamba[gpu]" on a CUDA machine')
    if backend == "numba":
        if device.type != "cpu":
            raise ScanBackendError(f"scan backend 'numba' runs on CPU tensors, found device {device}; "
                                   "use 'auto' (or 'triton' / 'mamba' / 'chunked' on CUDA)")
        if load_numba_kernels() is None:
            raise ScanBackendError("scan backend 'numba' requested but numba does not import; "
                                   "pip install numba (a dependency of sasmamba), or use 'sequential'")
    if backend == "triton":
        if device.type != "cuda" and not _triton_interpreted():
            raise ScanBackendError(f"scan backend 'triton' needs CUDA tensors, found device {device}; "
                                   "use 'sequential' or 'chunked' on CPU (or set TRITON_INTERPRET=1 to "
                                   "run the kernel in Triton's slow CPU interpreter)")
        if load_triton_scan() is None:
            raise ScanBackendError("scan backend 'triton' requested but triton does not import; "
                                   "it ships with CUDA builds of torch (pip install triton)")
    return backend


# --------------------------------------------------------------------------------------------
# the oracle
def selective_scan_ref(u, delta, A, B, C, D=None, delta_bias=None, delta_softplus=True):
    """Sequential fp32 loop (mamba-ssm's ``selective_scan_ref`` without ``z``)."""
    dtype_in = u.dtype
    u, delta, A, B, C = (t.float() for t in (u, delta, A, B, C))
    if delta_bias is not None:
        delta = delta + delta_bias.float()[..., None]
    if delta_softplus:
        delta = F.softplus(delta)
    batch, dim, length = u.shape
    groups = B.shape[1]
    Bx = B.repeat_interleave(dim // groups, dim=1)  # (B, D, N, L)
    Cx = C.repeat_interleave(dim // groups, dim=1)
    dA = torch.exp(torch.einsum("bdl,dn->bdln", delta, A))
    dBu = torch.einsum("bdl,bdnl,bdl->bdln", delta, Bx, u)
    h = u.new_zeros(batch, dim, A.shape[1])
    ys = []
    for t in range(length):
        h = dA[:, :, t] * h + dBu[:, :, t]
        ys.append(torch.einsum("bdn,bdn->bd", h, Cx[:, :, :, t]))
    y = torch.stack(ys, dim=2)
    if D is not None:
        y = y + u * D.float()[:, None]
    return y.to(dtype_in)


def _prepare(u, delta, A, B, C, delta_bias, delta_softplus):
    """fp32 inputs with ``delta`` turned into ``dt = softplus(delta + bias)`` (fast backends)."""
    u, delta, A, B, C = (t.float() for t in (u, delta, A, B, C))
    if delta_bias is not None:
        delta = delta + delta_bias.float()[..., None]
    if delta_softplus:
        delta = F.softplus(delta)
    return u, delta, A, B, C


# --------------------------------------------------------------------------------------------
# two-level chunked linear recurrence  h_t = a_t * h_{t-1} + b_t  along dim 0
def default_chunk(length: int) -> int:
    """Chunk length minimising the number of sequential steps (~2 sqrt(L))."""
    return max(1, int(round(math.sqrt(length))))


@torch.no_grad()
def _linrec_sequential(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """One fused multiply-add per step into the output buffer; ``(L, M)`` -> ``(L, M)``."""
    h = torch.empty_like(b)
    h[0] = b[0]
    for t in range(1, b.shape[0]):
        torch.addcmul(b[t], a[t], h[t - 1], out=h[t])
    return h


@torch.no_grad()
def _linrec(a: torch.Tensor, b: torch.Tensor, chunk: int) -> torch.Tensor:
    """Forward linear recurrence along dim 0 of ``(L, M)`` tensors; returns h ``(L, M)``.
    Two-level chunked kernel; ``chunk <= 0`` selects the sequential kernel."""
    if chunk <= 0:
        return _linrec_sequential(a, b)
    length, m = b.shape
    c = max(1, min(chunk, length))
    nc = -(-length // c)
    pad = nc * c - length
    if pad:
        a = torch.cat([a, a.new_ones(pad, m)])
        b = torch.cat([b, b.new_zeros(pad, m)])
    h = b.reshape(nc, c, m).clone()           # local states (zero initial state per chunk)
    p = a.reshape(nc, c, m).clone()           # cumulative decay inside each chunk
    av = a.view(nc, c, m)
    for i in range(1, c):
        h[:, i].addcmul_(av[:, i], h[:, i - 1])
        p[:, i].mul_(p[:, i - 1])
    if nc > 1:
        carry = h.new_zeros(nc, m)            # true state entering chunk k
        for k in range(1, nc):
            torch.addcmul(h[k - 1, c - 1], p[k - 1, c - 1], carry[k - 1], out=carry[k])
        h.addcmul_(p, carry[:, None])
    return h.reshape(nc * c, m)[:length]


class _LinRec(torch.autograd.Function):
    @staticmethod
    def forward(ctx, a, b, chunk):
        h = _linrec(a, b, chunk)
        ctx.save_for_backward(a, h)
        ctx.chunk = chunk
        return h

    @staticmethod
    def backward(ctx, grad_h):
        a, h = ctx.saved_tensors
        # g_t = grad_t + a_{t+1} g_{t+1}: the same recurrence on reversed time
        a_rev = torch.cat([a.new_zeros(1, a.shape[1]), a.flip(0)[:-1]])
        g = _linrec(a_rev, grad_h.flip(0).contiguous(), ctx.chunk).flip(0)
        h_prev = torch.cat([h.new_zeros(1, h.shape[1]), h[:-1]])
        return g * h_prev, g, None


def linear_recurrence(a: torch.Tensor, b: torch.Tensor, chunk: int | None = None) -> torch.Tensor:
    """``h_t = a_t * h_{t-1} + b_t`` along dim 0 (``h_{-1} = 0``), differentiable, stable.

    ``chunk=None`` picks ~sqrt(L) (two-level kernel); ``chunk=0`` the sequential kernel.
    """
    if a.shape != b.shape or a.dim() != 2:
        raise ValueError(f"expected a and b of equal shape (L, M), found {tuple(a.shape)} and {tuple(b.shape)}")
    if chunk is None:
        chunk = default_chunk(a.shape[0])
    return _LinRec.apply(a.contiguous(), b.contiguous(), chunk)


FUSED_MIN_LANES = 16384  # B * D * N at or above which the per-step fused kernel is used


def _last_to_front(x: torch.Tensor) -> torch.Tensor:
    """``x (..., L)`` -> contiguous ``(L, prod(...))``: one 2-D transpose copy (about 3x faster on
    CPU than ``permute(-1, 0, ...).contiguous()`` for the scan's shapes)."""
    return x.reshape(-1, x.shape[-1]).t().contiguous()


def _time_major(u, dt, A, Bm, Cm):
    """Time-major contiguous copies for the per-step kernels: ``dt, dt*u (L, B, G, Dg, 1)``,
    ``B (L, B, G, 1, N)``, ``C (L, B, G, N)`` and ``A`` as ``(G, Dg, N)``."""
    b, d, length = u.shape
    g, n = Bm.shape[1], A.shape[1]
    dg = d // g
    dt_tm = _last_to_front(dt).view(length, b, g, dg, 1)
    dtu_tm = _last_to_front(dt * u).view(length, b, g, dg, 1)
    B_tm = _last_to_front(Bm).view(length, b, g, 1, n)
    C_tm = _last_to_front(Cm).view(length, b, g, n)
    return dt_tm, dtu_tm, B_tm, C_tm, A.reshape(g, dg, n)


class _SequentialScan(torch.autograd.Function):
    """Fused per-step scan: ``y_t = C_t . h_t`` with ``h_t = exp(dt_t A) h_{t-1} + dt_t u_t B_t``.

    Forward keeps only the states ``hs (L, B, G, Dg, N)``; each step works on one cache-sized
    ``(B, G, Dg, N)`` slab. Backward runs the adjoint recurrence ``g_t = C_t dy_t +
    exp(dt_{t+1} A) g_{t+1}`` the same way, keeping the decays it computes, then forms every
    gradient with a few batched reductions (``exp(dt_t A) h_{t-1}`` from the kept decays, not as
    ``h_t - dt_t u_t B_t``, which loses all precision to cancellation when dt is large).
    Inputs (fp32): ``u, dt (B, D, L)`` (dt after softplus), ``A (D, N)``, ``Bm, Cm (B, G, N, L)``.
    """

    @staticmethod
    def forward(ctx, u, dt, A, Bm, Cm):
        b, d, length = u.shape
        g, n = Bm.shape[1], A.shape[1]
        dg = d // g
        dt_tm, dtu_tm, B_tm, C_tm, Ag = _time_major(u, dt, A, Bm, Cm)
        hs = u.new_empty(length, b, g, dg, n)
        dA = u.new_empty(b, g, dg, n)
        tmp = u.new_empty(b, g, dg, n)
        torch.mul(dtu_tm[0], B_tm[0], out=hs[0])
        for t in range(1, length):
            torch.mul(dt_tm[t], Ag, out=dA).exp_()
            torch.mul(dtu_tm[t], B_tm[t], out=tmp)
            torch.addcmul(tmp, dA, hs[t - 1], out=hs[t])
        lbg = length * b * g
        y = torch.bmm(hs.view(lbg, dg, n), C_tm.view(lbg, n, 1)).view(length, b, d).permute(1, 2, 0)
        ctx.save_for_backward(u, dt_tm, dtu_tm, A, B_tm, C_tm, hs)
        return y

    @staticmethod
    def backward(ctx, dy):
        u, dt_tm, dtu_tm, A, B_tm, C_tm, hs = ctx.saved_tensors
        length, b, g, dg, n = hs.shape
        d = g * dg
        lbg = length * b * g
        dy_tm = _last_to_front(dy).view(length, b, g, dg, 1)
        Ag = A.reshape(g, dg, n)
        gs = torch.empty_like(hs)                       # gs[t] = dLoss/dh_t
        dA = torch.empty_like(hs)                       # dA[t] = exp(dt_t A), t >= 1 (kept for g_dt, g_A)
        tmp = hs.new_empty(b, g, dg, n)
        C_col = C_tm.view(length, b, g, 1, n)
        torch.mul(C_col[-1], dy_tm[-1], out=gs[-1])
        for t in range(length - 2, -1, -1):
            torch.mul(dt_tm[t + 1], Ag, out=dA[t + 1]).exp_()
            torch.mul(C_col[t], dy_tm[t], out=tmp)
            torch.addcmul(tmp, dA[t + 1], gs[t + 1], out=gs[t])
        g_dtu = torch.bmm(gs.view(lbg, dg, n), B_tm.view(lbg, n, 1)).view(length, b, g, dg, 1)
        g_B = torch.bmm(dtu_tm.view(lbg, 1, dg), gs.view(lbg, dg, n)).view(length, b, g, n)
        g_C = torch.bmm(dy_tm.view(lbg, 1, dg), hs.view(lbg, dg, n)).view(length, b, g, n)
        # x_t = g_t * exp(dt_t A) * h_{t-1} (0 at t = 0), from the stored decays: the shortcut
        # h_t - dt_t u_t B_t cancels catastrophically in fp32 when dt is large
        x = torch.empty_like(hs)
        x[0].zero_()
        torch.mul(dA[1:], hs[:-1], out=x[1:])
        x.mul_(gs)
        g_dt = (x * Ag).sum(-1, keepdim=True)                        # (L, B, G, Dg, 1)
        g_A = (x * dt_tm).sum(dim=(0, 1)).reshape(d, n)
        u_tm = u.permute(2, 0, 1).reshape(length, b, g, dg, 1)
        g_dt = g_dt.add_(g_dtu * u_tm)
        g_u = g_dtu * dt_tm
        to_bdl = lambda t5: t5.reshape(length, b, d).permute(1, 2, 0)
        to_bgnl = lambda t4: t4.permute(1, 2, 3, 0)
        return to_bdl(g_u), to_bdl(g_dt), g_A, to_bgnl(g_B), to_bgnl(g_C)


INFERENCE_MIN_ELEMENTS = 1 << 21  # L * B * D * N above which no-grad scans keep only the state


@torch.no_grad()
def _scan_state_only(u, dt, A, Bm, Cm, block: int = 16):
    """Inference scan: the states of ``block`` steps at a time live in one cache-sized buffer
    that is overwritten block after block, so the ``(L, B, D, N)`` state history is never written
    to memory. States are laid out ``(B, G, N, Dg)`` (channels innermost, so the broadcast
    products below run over contiguous rows of Dg instead of rows of N, often only 8 long). Per
    block: decays and inputs in one broadcast op each, one fused multiply-add per step, and one
    batched product ``y_t = C_t . h_t`` for the whole block. Same inputs as
    :class:`_SequentialScan`; no autograd."""
    b, d, length = u.shape
    g, n = Bm.shape[1], A.shape[1]
    dg = d // g
    dt_tm, dtu_tm, B_tm, C_tm, Ag = _time_major(u, dt, A, Bm, Cm)
    dt_tm = dt_tm.view(length, b, g, 1, dg)
    dtu_tm = dtu_tm.view(length, b, g, 1, dg)
    B_tm = B_tm.view(length, b, g, n, 1)
    C_row = C_tm.view(length, b * g, 1, n)
    A_t = Ag.transpose(1, 2).contiguous()                       # (G, N, Dg)
    block = max(2, min(block, length))
    dA = u.new_empty(block, b, g, n, dg)
    hs = torch.empty_like(dA)                                   # hs[i]: the state after step s + i
    y = u.new_empty(length, b * g, 1, dg)
    prev = None                                                 # the state before the block (None: 0)
    for s in range(0, length, block):
        k = min(block, length - s)
        torch.mul(dt_tm[s:s + k], A_t, out=dA[:k]).exp_()
        torch.mul(dtu_tm[s:s + k], B_tm[s:s + k], out=hs[:k])  # the inputs dt u B
        for i in range(k):
            last = hs[i - 1] if i else prev
            if last is not None:
                hs[i].addcmul_(dA[i], last)
        torch.bmm(C_row[s:s + k].reshape(k * b * g, 1, n), hs[:k].view(k * b * g, n, dg),
                  out=y[s:s + k].view(k * b * g, 1, dg))
        if s + k < length:
            # copied: the next block's first write (its inputs, into hs[:k]) overwrites hs[k - 1]
            prev = hs[k - 1].clone()
    return y.view(length, b, d).permute(1, 2, 0)


def selective_scan_sequential(u, delta, A, B, C, D=None, delta_bias=None, delta_softplus=True):
    """The fused sequential scan (see module docstring and :class:`_SequentialScan`).

    Without autograd (inference) and beyond :data:`INFERENCE_MIN_ELEMENTS` it runs
    :func:`_scan_state_only`, which keeps no state history (2-5x faster on CPU)."""
    dtype_in = u.dtype
    needs_grad = torch.is_grad_enabled() and any(t.requires_grad for t in (u, delta, A, B, C)
                                                  if isinstance(t, torch.Tensor))
    u, delta, A, B, C = _prepare(u, delta, A, B, C, delta_bias, delta_softplus)
    if u.shape[1] % B.shape[1]:
        raise ValueError(f"channels {u.shape[1]} not divisible by groups {B.shape[1]}")
    lanes = u.shape[0] * u.shape[1] * A.shape[1]
    if not needs_grad and lanes * u.shape[2] >= INFERENCE_MIN_ELEMENTS:
        y = _scan_state_only(u, delta, A, B, C)
    elif lanes < FUSED_MIN_LANES:
        # few lanes per step (inference, B = 1): one big exp/product pass, then a single fused
        # multiply-add per step is cheaper than three small ops per step
        y = selective_scan_chunked(u, delta, A, B, C, None, None, False, chunk=0)
    else:
        y = _SequentialScan.apply(u, delta, A, B, C)
    if D is not None:
        y = y + u * D.float()[:, None]
    return y.to(dtype_in)


def selective_scan_chunked(u, delta, A, B, C, D=None, delta_bias=None, delta_softplus=True,
                           chunk: int | None = None):
    """The chunked two-level scan (see module docstring); ``chunk=0`` runs the sequential kernel."""
    dtype_in = u.dtype
    u, delta, A, B, C = _prepare(u, delta, A, B, C, delta_bias, delta_softplus)
    batch, dim, length = u.shape
    groups, n = B.shape[1], A.shape[1]
    dg = dim // groups
    # time-major layout (L, B, G, Dg, N) so each scan step touches one contiguous slab
    dt, dtu, Bt, Ct, _ = _time_major(u, delta, A, B, C)
    dA = torch.exp(dt * A.view(groups, dg, n))               # (L, B, G, Dg, N), in (0, 1]
    dBu = dtu * Bt                                            # (L, B, G, Dg, N)
    h = linear_recurrence(dA.reshape(length, -1), dBu.reshape(length, -1), chunk)
    h = h.view(length * batch * groups, dg, n)
    y = torch.bmm(h, Ct.reshape(length * batch * groups, n, 1))            # (L*B*G, Dg, 1)
    y = y.view(length, batch, dim).permute(1, 2, 0)
    if D is not None:
        y = y + u * D.float()[:, None]
    return y.to(dtype_in)


def _selective_scan_mamba(u, delta, A, B, C, D=None, delta_bias=None, delta_softplus=True):
    fn = load_mamba_kernel()
    y = fn(u.contiguous(), delta.contiguous(), A.contiguous().float(), B.contiguous(), C.contiguous(),
           None if D is None else D.float(), z=None,
           delta_bias=None if delta_bias is None else delta_bias.float(),
           delta_softplus=delta_softplus)
    return y


def selective_scan_triton(u, delta, A, B, C, D=None, delta_bias=None, delta_softplus=True):
    """The fused Triton kernel (see :mod:`scan_triton`); channel groups whose width has no
    power-of-two block (``D // G`` odd) run the ``chunked`` backend instead."""
    kernel = load_triton_scan()
    if kernel.block_d(u.shape[1] // B.shape[1]) == 0:
        return selective_scan_chunked(u, delta, A, B, C, D, delta_bias, delta_softplus)
    dtype_in = u.dtype
    u, delta, A, B, C = _prepare(u, delta, A, B, C, delta_bias, delta_softplus)
    y = kernel.triton_scan(u, delta, A, B, C)
    if D is not None:
        y = y + u * D.float()[:, None]
    return y.to(dtype_in)


class _NumbaScan(torch.autograd.Function):
    """The compiled CPU scan with autograd (training): forward keeps every
    ``numba_kernels.CKPT_STEPS``-th state ``(B, D, L / CKPT_STEPS, N)``, backward recomputes the
    states between them and walks the adjoint recurrence in the compiled kernel
    (:func:`numba_kernels.numba_scan_backward`). Inputs as :class:`_SequentialScan`."""

    @staticmethod
    def forward(ctx, u, dt, A, Bm, Cm):
        y, saved = load_numba_kernels().numba_scan_train(u, dt, A, Bm, Cm, threads=torch.get_num_threads())
        ctx.saved = saved
        ctx.save_for_backward(u, dt, A, Bm, Cm)       # only for autograd's check of in-place edits
        return y

    @staticmethod
    @torch.autograd.function.once_differentiable
    def backward(ctx, dy):
        ctx.saved_tensors                              # raises if an input was modified in place
        if ctx.saved is None:
            raise RuntimeError("the numba scan's backward ran twice (retain_graph): not supported; "
                               "use backend='sequential' for that")
        grads = load_numba_kernels().numba_scan_backward(ctx.saved, dy, threads=torch.get_num_threads())
        ctx.saved = None
        return grads


def selective_scan_numba(u, delta, A, B, C, D=None, delta_bias=None, delta_softplus=True):
    """The compiled CPU kernels (see :mod:`numba_kernels`), split over torch's thread count: the
    inference kernel without autograd, :class:`_NumbaScan` (forward + backward) with it."""
    dtype_in = u.dtype
    needs_grad = torch.is_grad_enabled() and any(t.requires_grad for t in (u, delta, A, B, C, D, delta_bias)
                                                  if isinstance(t, torch.Tensor))
    u, delta, A, B, C = _prepare(u, delta, A, B, C, delta_bias, delta_softplus)
    if needs_grad:
        y = _NumbaScan.apply(u, delta, A, B, C)
        if D is not None:
            y = y + u * D.float()[:, None]
    else:
        y = load_numba_kernels().numba_scan(u, delta, A, B, C, D, threads=torch.get_num_threads())
    return y.to(dtype_in)


def selective_scan(u, delta, A, B, C, D=None, delta_bias=None, delta_softplus=True,
                   backend: str = "auto"):
    """Dispatch to a backend (``auto``, ``ref``, ``sequential``, ``chunked``, ``numba``, ``triton`` or ``mamba``);
    see module docstring."""
    if u.dim() != 3 or B.dim() != 4 or u.shape[1] % B.shape[1]:
        raise ValueError(f"expected u (B, D, L) and B/C (B, G, N, L) with D divisible by G; "
                         f"found u {tuple(u.shape)}, B {tuple(B.shape)}")
    needs_grad = torch.is_grad_enabled() and any(t.requires_grad for t in (u, delta, A, B, C, D, delta_bias)
                                                  if isinstance(t, torch.Tensor))
    name = resolve_backend(backend, u.device, needs_grad)
    if name == "numba" and backend == "auto" and bool((A > 0).any()):
        name = "sequential"          # growing "decays": outside the compiled kernel's range
    if name == "numba":
        return selective_scan_numba(u, delta, A, B, C, D, delta_bias, delta_softplus)
    if name == "ref":
        return selective_scan_ref(u, delta, A, B, C, D, delta_bias, delta_softplus)
    if name == "mamba":
        return _selective_scan_mamba(u, delta, A, B, C, D, delta_bias, delta_softplus)
    if name == "triton":
        return selective_scan_triton(u, delta, A, B, C, D, delta_bias, delta_softplus)
    if name == "sequential":
        return selective_scan_sequential(u, delta, A, B, C, D, delta_bias, delta_softplus)
    return selective_scan_chunked(u, delta, A, B, C, D, delta_bias, delta_softplus)


def selective_scan_step(h, u_t, delta_t, A, B_t, C_t, D=None, delta_bias=None, delta_softplus=True):
    """One recurrence step (streaming / tests): ``h (B, D, N)``, ``u_t, delta_t (B, D)``,
    ``B_t, C_t (B, G, N)``. Returns ``(y_t (B, D), h_new)``."""
    if delta_bias is not None:
        delta_t = delta_t + delta_bias
    if delta_softplus:
        delta_t = F.softplus(delta_t)
    dim = u_t.shape[1]
    Bx = B_t.repeat_interleave(dim // B_t.shape[1], dim=1)
    Cx = C_t.repeat_interleave(dim // C_t.shape[1], dim=1)
    h = torch.exp(delta_t[..., None] * A) * h + (delta_t * u_t)[..., None] * Bx
    y = (h * Cx).sum(-1)
    if D is not None:
        y = y + D * u_t
    return y, h
