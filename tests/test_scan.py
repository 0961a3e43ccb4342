"""Selective-scan backends against the sequential fp32 oracle (outputs and gradients)."""
import pytest
import torch

from sasmamba_models.scan import (ScanBackendError, available_backends, linear_recurrence, resolve_backend,
                                  selective_scan, selective_scan_ref, selective_scan_step)

RTOL, ATOL = 6e-4, 2e-3
CPU_BACKENDS = ["sequential", "chunked"]


def make_inputs(b=2, d=8, n=4, length=37, g=2, dt_scale=1.0, seed=0, device="cpu"):
    gen = torch.Generator().manual_seed(seed)
    r = lambda *s: torch.randn(*s, generator=gen)  # noqa: E731
    u, delta = r(b, d, length), r(b, d, length) * dt_scale
    A = -(torch.rand(d, n, generator=gen) * 3 + 0.05)
    B, C = r(b, g, n, length), r(b, g, n, length)
    D, bias = r(d), r(d)
    return [t.to(device).requires_grad_() for t in (u, delta, A, B, C, D, bias)]


def run(fn_or_backend, args, weight):
    if callable(fn_or_backend):
        y = fn_or_backend(*args)
    else:
        y = selective_scan(*args, backend=fn_or_backend)
    grads = torch.autograd.grad((y * weight).sum(), args)
    return y.detach(), grads


def check(backend, **kw):
    args = make_inputs(**kw)
    ref_args = [a.detach().double().requires_grad_() for a in args]
    weight = torch.linspace(-1, 1, args[0].numel()).view_as(args[0])
    y0, g0 = run(selective_scan_ref, ref_args, weight.double())
    y, g = run(backend, args, weight)
    assert torch.isfinite(y).all()
    torch.testing.assert_close(y.double(), y0, rtol=RTOL, atol=ATOL)
    for name, a, b in zip("u delta A B C D bias".split(), g, g0):
        assert torch.isfinite(a).all(), name
        torch.testing.assert_close(a.double(), b, rtol=RTOL * 5, atol=ATOL * 5, msg=f"grad {name}")


@pytest.mark.parametrize("backend", CPU_BACKENDS)
@pytest.mark.parametrize("case", [
    dict(),                                   # small, grouped B/C
    dict(g=1, length=5),                      # one group, short
    dict(length=1),                           # a single step
    dict(dt_scale=40.0),                      # very large dt: exp(dt A) underflows to 0, no NaN
    dict(b=1, d=4, n=16, length=600, g=4),    # long L (chunked uses several chunks)
    dict(b=16, d=64, n=16, length=20, g=4),   # many lanes: the fused per-step kernel
])
def test_backend_matches_ref(backend, case):
    check(backend, **case)


@pytest.mark.parametrize("backend", CPU_BACKENDS)
def test_reversed_sequence_equals_scan_of_reversed_inputs(backend):
    """The model's reversed directions are scans of flipped inputs: flipping commutes with the
    backends exactly as with the oracle."""
    args = [a.detach() for a in make_inputs(length=50)]
    flip = lambda t: t.flip(-1)  # noqa: E731
    fargs = [flip(args[0]), flip(args[1]), args[2], flip(args[3]), flip(args[4]), args[5], args[6]]
    y = selective_scan(*fargs, backend=backend)
    y0 = selective_scan_ref(*fargs)
    torch.testing.assert_close(y, y0, rtol=RTOL, atol=ATOL)


def test_no_overflow_at_long_sequences_and_huge_dt():
    """The closed-form chunked formula of MODEL.md overflows here; ours must not."""
    args = [a.detach() for a in make_inputs(b=1, d=4, n=16, length=4000, g=1, dt_scale=200.0)]
    for backend in CPU_BACKENDS:
        y = selective_scan(*args, backend=backend)
        assert torch.isfinite(y).all(), backend


@pytest.mark.parametrize("case", [
    dict(b=16, d=64, n=8, length=300, g=1, dt_scale=3.0),    # inference batch: many lanes
    dict(b=2, d=32, n=16, length=5000, g=4, dt_scale=60.0),  # long L, huge dt
])
def test_inference_state_only_scan_matches_ref(case):
    """Without autograd the sequential backend keeps only the current state (another code path)."""
    import sasmamba_models.scan as scan_mod

    args = [a.detach() for a in make_inputs(**case)]
    assert args[0].shape[0] * args[0].shape[1] * args[2].shape[1] * args[0].shape[2] >= scan_mod.INFERENCE_MIN_ELEMENTS
    with torch.no_grad():
        y = selective_scan(*args, backend="sequential")
    y0 = selective_scan_ref(*[a.double() for a in args])
    assert torch.isfinite(y).all()
    torch.testing.assert_close(y.double(), y0, rtol=RTOL, atol=ATOL)


def test_step_by_step_equals_full_scan():
    u, delta, A, B, C, D, bias = [a.detach() for a in make_inputs(length=25)]
    h = torch.zeros(u.shape[0], u.shape[1], A.shape[1])
    ys = []
    for t in range(u.shape[2]):
        y_t, h = selective_scan_step(h, u[:, :, t], delta[:, :, t], A, B[..., t], C[..., t], D, bias)
        ys.append(y_t)
    full = selective_scan(u, delta, A, B, C, D, bias, backend="sequential")
    torch.testing.assert_close(torch.stack(ys, -1), full, rtol=RTOL, atol=ATOL)


def test_linear_recurrence_chunk_sizes_agree():
    a = torch.rand(103, 7)
    b = torch.randn(103, 7)
    outs = [linear_recurrence(a, b, chunk=c) for c in (0, 1, 5, 10, 103, 500)]
    for o in outs[1:]:
        torch.testing.assert_close(o, outs[0])


def test_backend_resolution_and_errors(monkeypatch):
    assert resolve_backend("auto", torch.device("cpu")) == "sequential"
    assert "mamba" not in available_backends("cpu")
    with pytest.raises(ScanBackendError, match="needs CUDA"):
        resolve_backend("mamba", torch.device("cpu"))
    with pytest.raises(ScanBackendError, match="unknown scan backend"):
        resolve_backend("fast", torch.device("cpu"))
    monkeypatch.setenv("SASMAMBA_SCAN", "chunked")
    assert resolve_backend("auto", torch.device("cpu")) == "chunked"


@pytest.mark.gpu
@pytest.mark.parametrize("backend", ["chunked", "mamba", "auto"])
def test_cuda_backends_match_ref(backend):
    if backend == "mamba" and "mamba" not in available_backends("cuda"):
        pytest.skip("mamba_ssm not importable")
    args = make_inputs(device="cuda", length=300, d=16, g=4)
    y = selective_scan(*args, backend=backend)
    y0 = selective_scan_ref(*[a.detach().cpu() for a in args])
    torch.testing.assert_close(y.detach().cpu(), y0, rtol=RTOL, atol=ATOL)
