"""Selective-scan backends against the sequential oracle (outputs and gradients).

Spec: every backend against ``ref`` on outputs *and* gradients at fp32 tolerances
(rtol 6e-4, atol 2e-3), including very large dt, long L, reversed directions and grouped B/C.
The oracle is ``selective_scan_ref`` evaluated in float64 (outputs and gradients), the backends
run in fp32; gradients are compared at the same tolerances as outputs.
"""
import pytest
import torch

from sasmamba_models.scan import (ScanBackendError, available_backends, linear_recurrence,
                                  resolve_backend, selective_scan, selective_scan_ref, selective_scan_step)

RTOL, ATOL = 6e-4, 2e-3          # outputs and gradients alike
CPU_BACKENDS = ["sequential", "chunked", "numba"]     # numba: the compiled kernel with its backward
GRAD_NAMES = "u delta A B C D bias".split()


@pytest.fixture(autouse=True, scope="module")
def _single_thread():
    """The scans (and the oracle) are loops of tiny per-step ops: extra intra-op threads only add
    synchronisation, which on a loaded machine makes this file many times slower."""
    n = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(n)


def make_inputs(b=2, d=8, n=4, length=37, g=2, dt_scale=1.0, seed=0, device="cpu"):
    gen = torch.Generator().manual_seed(seed)
    r = lambda *s: torch.randn(*s, generator=gen)
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


# ---- layouts: how the 7 leaf inputs are fed to a scan (the model's directions) ----------------
def plain(scan, u, delta, A, B, C, D, bias):
    return scan(u, delta, A, B, C, D, bias)


def reversed_dir(scan, u, delta, A, B, C, D, bias):
    """A reversed direction: scan of the time-flipped sequence, flipped back (models/block.py)."""
    f = lambda t: t.flip(-1)
    return f(scan(f(u), f(delta), A, f(B), f(C), D, bias))


def bidirectional(scan, u, delta, A, B, C, D, bias):
    """Forward and reversed directions in one scan, stacked on channels / B-C groups and summed
    back, as models/block.py does with its K directions."""
    d, f = u.shape[1], (lambda t: t.flip(-1))
    y = scan(torch.cat([u, f(u)], 1), torch.cat([delta, f(delta)], 1), torch.cat([A, A]),
             torch.cat([B, f(B)], 1), torch.cat([C, f(C)], 1), torch.cat([D, D]), torch.cat([bias, bias]))
    return y[:, :d] + f(y[:, d:])


_REF_CACHE = {}


def ref_result(layout, case):
    """float64 oracle outputs and gradients (cached: ``ref`` is a slow Python loop)."""
    key = (layout.__name__, tuple(sorted(case.items())))
    if key not in _REF_CACHE:
        args = [a.detach().double().requires_grad_() for a in make_inputs(**case)]
        weight = torch.linspace(-1, 1, args[0].numel(), dtype=torch.float64).view_as(args[0])
        _REF_CACHE[key] = run(lambda *a: layout(selective_scan_ref, *a), args, weight)
    return _REF_CACHE[key]


def check(backend, layout=plain, device="cpu", **case):
    """fp32 ``backend`` vs the float64 oracle: outputs and all 7 gradients at RTOL / ATOL."""
    if backend == "numba":
        _numba_or_skip()
    y0, g0 = ref_result(layout, case)
    args = make_inputs(device=device, **case)
    weight = torch.linspace(-1, 1, args[0].numel(), device=device).view_as(args[0])
    y, g = run(lambda *a: layout(lambda *x: selective_scan(*x, backend=backend), *a), args, weight)
    assert y.dtype == torch.float32
    assert torch.isfinite(y).all()
    torch.testing.assert_close(y.cpu().double(), y0, rtol=RTOL, atol=ATOL)
    for name, a, b in zip(GRAD_NAMES, g, g0):
        assert torch.isfinite(a).all(), name
        torch.testing.assert_close(a.cpu().double(), b, rtol=RTOL, atol=ATOL, msg=lambda m, n=name: f"grad {n}: {m}")


@pytest.mark.parametrize("backend", CPU_BACKENDS)
@pytest.mark.parametrize("case", [
    dict(),                                   # small, grouped B/C
    dict(g=1, length=5),                      # one group, short
    dict(length=1),                           # a single step
    dict(b=1, d=4, n=16, length=64, g=2),     # whole stretches of the numba backward's recomputation
    dict(dt_scale=40.0),                      # very large dt: exp(dt A) underflows to 0, no NaN
    dict(b=1, d=4, n=16, length=600, g=4),    # long L (chunked uses several chunks)
    dict(b=16, d=64, n=16, length=20, g=4),   # many lanes: the fused per-step kernel
    dict(b=1, d=8, n=8, length=1500, g=4, dt_scale=100.0),    # long L + very large dt, grouped B/C
    dict(b=16, d=64, n=16, length=20, g=4, dt_scale=100.0),  # many lanes + very large dt (fp32
])                                                            # cancellation once broke this case)
def test_backend_matches_ref(backend, case):
    check(backend, **case)


@pytest.mark.parametrize("backend", CPU_BACKENDS)
@pytest.mark.parametrize("layout", [reversed_dir, bidirectional], ids=["reversed", "bidirectional"])
@pytest.mark.parametrize("case", [
    dict(length=50),                                            # short, grouped B/C
    dict(b=1, d=4, n=8, length=1200, g=2, dt_scale=100.0),      # long L + very large dt, grouped
], ids=["short", "long-huge-dt"])
def test_reversed_sequence_equals_scan_of_reversed_inputs(backend, layout, case):
    """The model's reversed directions are scans of flipped inputs: flipping commutes with the
    backends exactly as with the oracle (outputs and gradients through the flips)."""
    check(backend, layout=layout, **case)


@pytest.mark.parametrize("backend", CPU_BACKENDS)
def test_no_overflow_at_long_sequences_and_huge_dt(backend):
    """The closed-form chunked formula of MODEL.md overflows here; ours must not, and must still
    match the oracle on outputs and gradients."""
    case = dict(b=1, d=4, n=16, length=4000, g=1, dt_scale=200.0)
    args = [a.detach() for a in make_inputs(**case)]
    y = selective_scan(*args, backend=backend)
    assert torch.isfinite(y).all(), backend
    check(backend, **case)


@pytest.mark.parametrize("case", [
    dict(b=16, d=64, n=8, length=300, g=1, dt_scale=3.0),    # inference batch: many lanes
    dict(b=2, d=32, n=16, length=5000, g=4, dt_scale=60.0),  # long L, huge dt
    dict(b=64, d=256, n=8, length=17, g=4, dt_scale=1.0),     # last block one step long
    dict(b=4, d=512, n=1024, length=1, g=4, dt_scale=1.0),    # a single step
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
    from sasmamba_models.scan import load_numba_kernels

    expected = "numba" if load_numba_kernels() is not None else "sequential"
    assert resolve_backend("auto", torch.device("cpu")) == expected
    assert "mamba" not in available_backends("cpu")
    with pytest.raises(ScanBackendError, match="needs CUDA"):
        resolve_backend("mamba", torch.device("cpu"))
    with pytest.raises(ScanBackendError, match="unknown scan backend"):
        resolve_backend("fast", torch.device("cpu"))
    monkeypatch.setenv("SASMAMBA_SCAN", "chunked")
    assert resolve_backend("auto", torch.device("cpu")) == "chunked"


@pytest.mark.gpu
@pytest.mark.parametrize("backend", ["chunked", "triton", "mamba", "auto"])
def test_cuda_backends_match_ref(backend):
    """CUDA backends (fp32) vs the float64 CPU oracle: outputs and gradients at RTOL / ATOL."""
    if backend in ("mamba", "triton") and backend not in available_backends("cuda"):
        pytest.skip(f"{backend} not importable")
    check(backend, device="cuda", length=300, d=16, g=4)
    if backend == "triton":   # channel blocks 16, 4, 2; N not a power of two; large dt; layouts
        check(backend, device="cuda", length=200, d=96, g=2, n=5)
        check(backend, device="cuda", length=129, d=12, g=3, dt_scale=30.0)
        check(backend, reversed_dir, device="cuda", length=70, d=64, g=1, n=16)
        check(backend, bidirectional, device="cuda", length=70, d=8, g=4)


def test_auto_on_cuda_prefers_triton_on_gpus_it_compiles_for(monkeypatch):
    import sasmamba_models.scan as scan_mod

    monkeypatch.delenv("SASMAMBA_SCAN", raising=False)
    monkeypatch.setattr(scan_mod, "load_mamba_kernel", lambda: None)
    monkeypatch.setattr(scan_mod, "load_triton_scan", lambda: object())
    cuda = torch.device("cuda", 0)
    for capability, expected in (((9, 0), "triton"), ((7, 0), "triton"), ((6, 1), "chunked")):
        monkeypatch.setattr(torch.cuda, "get_device_capability", lambda d=None, c=capability: c)
        assert resolve_backend("auto", cuda) == expected, capability
    monkeypatch.setattr(scan_mod, "load_triton_scan", lambda: None)
    assert resolve_backend("auto", cuda) == "chunked"


def test_triton_backend_needs_cuda_or_the_interpreter(monkeypatch):
    monkeypatch.delenv("TRITON_INTERPRET", raising=False)
    with pytest.raises(ScanBackendError, match="needs CUDA"):
        resolve_backend("triton", torch.device("cpu"))
    assert "triton" not in available_backends("cpu")


_INTERPRETED_CHECKS = """
import test_scan as T
from sasmamba_models import scan
from sasmamba_models.scan import available_backends
assert "triton" in available_backends("cpu"), available_backends("cpu")
kernel = scan.load_triton_scan()
calls = []
real = kernel.triton_scan
kernel.triton_scan = lambda *a: calls.append(a[0].shape) or real(*a)

def ran(n_before):                       # the kernel itself ran (not the chunked fallback)
    assert len(calls) > n_before, "the Triton kernel did not run"
    return len(calls)

n = 0
T.check("triton", b=1, d=8, g=2, n=4, length=150); n = ran(n)                 # 3 checkpoint chunks, last partial
T.check("triton", b=2, d=4, g=2, n=5, length=40, dt_scale=30.0); n = ran(n)   # channel block 2, N = 5 (masked), large dt
T.check("triton", T.reversed_dir, b=1, d=4, g=1, n=8, length=37); n = ran(n)
T.check("triton", T.bidirectional, b=1, d=4, g=2, n=4, length=37); n = ran(n)
T.check("triton", b=1, d=2, g=1, n=3, length=1); n = ran(n)                    # a single step
T.check("triton", b=1, d=6, g=2, n=4, length=20)                                # group width 3: chunked fallback
assert len(calls) == n, "odd group widths must fall back to chunked"
print("interpreted triton scan: ok")
"""


def test_triton_kernel_in_the_cpu_interpreter_matches_ref(tmp_path):
    """The Triton kernels (forward, chunk-recomputing backward) run in Triton's CPU interpreter
    (``TRITON_INTERPRET=1``, set before triton is imported, hence a subprocess) against the float64
    oracle: outputs and all gradients. The GPU tests run the same kernels compiled."""
    pytest.importorskip("triton")
    import os
    import pathlib
    import subprocess
    import sys
    env = dict(os.environ, TRITON_INTERPRET="1",
               PYTHONPATH=os.pathsep.join([str(pathlib.Path(__file__).parent), os.environ.get("PYTHONPATH", "")]))
    env.pop("SASMAMBA_SCAN", None)
    proc = subprocess.run([sys.executable, "-c", _INTERPRETED_CHECKS], env=env, cwd=tmp_path,
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "interpreted triton scan: ok" in proc.stdout


@pytest.mark.parametrize("arch", [80, 90])
def test_triton_kernels_compile_for_gpus_without_one(arch):
    """Compiled mode has rules the CPU interpreter does not check (types, loop-carried values,
    barriers): compile both kernels to GPU machine code for Ampere / Hopper here, no GPU needed,
    at the shapes the model uses and at edge cases (one step, one chunk, N not a power of two)."""
    pytest.importorskip("triton")
    import triton
    from triton.backends.compiler import GPUTarget
    from triton.compiler import ASTSource

    from sasmamba_models import scan_triton

    def compile_kernel(fn, ints, consts, warps):
        sig, cx = {}, {}
        for name in fn.arg_names:
            if name.endswith("_ptr"):
                sig[name] = "*fp32"
            elif name in consts:
                sig[name], cx[name] = "constexpr", consts[name]
            elif ints[name] == 1:                        # Triton specialises integer arguments equal to 1
                sig[name], cx[name] = "constexpr", 1
            else:
                sig[name] = "i32"
        k = triton.compile(ASTSource(fn, sig, cx), target=GPUTarget("cuda", arch, 32), options={"num_warps": warps})
        assert k.asm.get("cubin"), f"{fn.__name__}: no machine code"

    cases = [  # (L, D, G, N, block, warps)
        (81 * 17, 512, 4, 16, 16, 2),    # preset s, T=81: the training shape
        (1, 2, 1, 3, 2, 1),              # a single step, N = 3 (masked to 4)
        (40, 64, 1, 8, 32, 4),           # one chunk
    ]
    for length, d, g, n, bd, warps in cases:
        consts = dict(N=n, NP=triton.next_power_of_2(n), BLOCK_D=bd, CH=scan_triton.CHUNK)
        nchunk = -(-length // scan_triton.CHUNK)
        ints = dict(L=length, D=d, G=g, DG=d // g, NCHUNK=nchunk, NBLK=d // bd)
        compile_kernel(scan_triton._fwd_kernel, ints, consts, warps)
        compile_kernel(scan_triton._bwd_kernel, ints, consts, warps)


# ---- the compiled CPU inference kernel (numba): forward only ---------------------------------
def _numba_or_skip():
    from sasmamba_models.scan import load_numba_kernels
    if load_numba_kernels() is None:
        pytest.skip("numba does not import here")


def check_forward(backend, layout=plain, tol=(RTOL, ATOL), **case):
    """Inference (no autograd) output of ``backend`` vs the float64 oracle."""
    y0, _ = ref_result(layout, case)
    args = [a.detach() for a in make_inputs(**case)]
    with torch.no_grad():
        y = layout(lambda *x: selective_scan(*x, backend=backend), *args)
    assert y.dtype == torch.float32 and torch.isfinite(y).all()
    torch.testing.assert_close(y.double(), y0, rtol=tol[0], atol=tol[1])


@pytest.mark.parametrize("case", [dict(), dict(length=300, d=16, g=4), dict(length=200, d=12, g=3, n=5),
                                  dict(length=129, d=12, g=3, dt_scale=30.0), dict(b=3, d=6, g=1, n=16)])
def test_numba_kernel_matches_ref(case):
    _numba_or_skip()
    check_forward("numba", **case)


@pytest.mark.parametrize("layout", [reversed_dir, bidirectional])
def test_numba_kernel_layouts(layout):
    _numba_or_skip()
    check_forward("numba", layout, length=70, d=8, g=4)


def test_numba_kernel_threads_split_gives_the_same_output():
    """Channels split over Python threads (the kernel releases the GIL) give bit-identical output."""
    _numba_or_skip()
    args = [a.detach() for a in make_inputs(b=3, d=10, g=2, length=90)]
    with torch.no_grad():
        one = selective_scan(*args, backend="numba")
        torch.set_num_threads(3)
        try:
            three = selective_scan(*args, backend="numba")
        finally:
            torch.set_num_threads(1)
    assert torch.equal(one, three)


def test_numba_kernel_decays_that_underflow_stay_finite_and_exact():
    """dt * A far below exp's range (decay 0: the state restarts from its input every step)."""
    _numba_or_skip()
    u, delta, A, B, C, D, bias = [a.detach() for a in make_inputs(length=50, dt_scale=1.0)]
    A = A * 1e4
    with torch.no_grad():
        y = selective_scan(u, delta, A, B, C, D, bias, backend="numba")
        y0 = selective_scan_ref(u.double(), delta.double(), A.double(), B.double(), C.double(),
                                D.double(), bias.double())
    assert torch.isfinite(y).all()
    torch.testing.assert_close(y.double(), y0, rtol=RTOL, atol=ATOL)


def test_numba_backend_resolution(monkeypatch):
    import sasmamba_models.scan as scan_mod

    _numba_or_skip()
    monkeypatch.delenv("SASMAMBA_SCAN", raising=False)
    cpu = torch.device("cpu")
    assert "numba" in available_backends("cpu")
    assert resolve_backend("auto", cpu, needs_grad=False) == "numba"
    assert resolve_backend("auto", cpu, needs_grad=True) == "numba"           # training: its backward kernel
    assert resolve_backend("numba", cpu, needs_grad=True) == "numba"
    with pytest.raises(ScanBackendError, match="runs on CPU"):
        resolve_backend("numba", torch.device("cuda", 0), needs_grad=False)
    # a grad-requiring call under auto runs the autograd backend and gives gradients
    args = make_inputs(length=20)
    selective_scan(*args).sum().backward()
    assert args[0].grad is not None
    # without numba, auto falls back to the torch kernel
    monkeypatch.setattr(scan_mod, "load_numba_kernels", lambda: None)
    assert resolve_backend("auto", cpu, needs_grad=False) == "sequential"
    assert "numba" not in available_backends("cpu")


def test_model_inference_same_with_numba_and_torch_scans():
    """The lifter (preset tiny) gives the same 3D with the compiled kernel as with ``sequential``."""
    _numba_or_skip()
    from sasmamba_models.config import preset
    from sasmamba_models.lifter import SasMambaLifter

    torch.manual_seed(0)
    model = SasMambaLifter(preset("tiny")).eval()
    x = torch.randn(2, 27, 17, model.config.in_chans)
    outs = []
    with torch.no_grad():
        for backend in ("sequential", "numba"):
            for m in model.modules():
                if hasattr(m, "scan_backend"):
                    m.scan_backend = backend
            outs.append(model(x))
    torch.testing.assert_close(outs[1], outs[0], rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("case", [dict(b=2, di=6, length=40, rank=1, n=4, scale=1.0),
                                  dict(b=1, di=5, length=95, rank=4, n=16, scale=8.0)])
def test_numba_bidirectional_kernel_matches_ref(case):
    """The SAS block's fused inference kernel (dt projection + bias + softplus inside, a forward and
    a reversed direction summed) against the float64 oracle, run direction by direction; ``scale``
    pushes dt's pre-activation far into both tails of softplus."""
    _numba_or_skip()
    from sasmamba_models.scan import load_numba_kernels

    gen = torch.Generator().manual_seed(1)
    b, di, length, rank, n = (case[k] for k in ("b", "di", "length", "rank", "n"))
    r = lambda *s: torch.randn(*s, generator=gen)
    u, dlow, BC = r(b, di, length), r(b, 2, rank, length) * case["scale"], r(b, 2, length, 2 * n)
    Wdt, bias, D = r(2, di, rank), r(2, di) - 2, r(2, di)
    A = -(torch.rand(2, di, n, generator=gen) * 3 + 0.05)
    frames = 5 if length % 5 == 0 else 1                    # the kernel's (T, J) output cells
    out = torch.zeros(b, frames, length // frames, di)
    with torch.no_grad():
        y = load_numba_kernels().bidirectional_scan(u, dlow, BC, Wdt, bias, A, D, out)
        y = y.reshape(b, length, di).transpose(1, 2)                      # frame-major positions
    want = torch.zeros(b, di, length, dtype=torch.float64)
    for k, f in ((0, lambda t: t), (1, lambda t: t.flip(-1))):
        delta = torch.einsum("cr,brl->bcl", Wdt[k].double(), dlow[:, k].double())
        Bk, Ck = BC[:, k, :, :n].transpose(1, 2)[:, None], BC[:, k, :, n:].transpose(1, 2)[:, None]
        want += f(selective_scan_ref(f(u.double()), f(delta), A[k].double(), f(Bk.double()), f(Ck.double()),
                                     D[k].double(), bias[k].double()))
    torch.testing.assert_close(y.double(), want, rtol=RTOL, atol=ATOL)
    # joint-major positions: p = joint * T + frame
    out = torch.zeros(b, frames, length // frames, di)
    with torch.no_grad():
        load_numba_kernels().bidirectional_scan(u, dlow, BC, Wdt, bias, A, D, out, joint_major=True)
    y = out.permute(0, 2, 1, 3).reshape(b, length, di).transpose(1, 2)
    torch.testing.assert_close(y.double(), want, rtol=RTOL, atol=ATOL)


def test_lifter_without_numba_runs_the_torch_paths(monkeypatch):
    """``SASMAMBA_NUMBA=0`` (or numba missing): the whole lifter runs its pure-torch paths in
    inference and gives the same 3D as the compiled kernels (fp32 rounding apart)."""
    _numba_or_skip()
    import sasmamba_models.numba_kernels as nk
    from sasmamba_models.config import preset
    from sasmamba_models.lifter import SasMambaLifter

    torch.manual_seed(0)
    model = SasMambaLifter(preset("tiny")).eval()
    x = torch.randn(2, 27, 17, model.config.in_chans)
    with torch.no_grad():
        compiled = model(x)
        monkeypatch.setenv("SASMAMBA_NUMBA", "0")
        for name in ("numba_scan", "bidirectional_scan", "deform_conv_depthwise"):   # must not be called now
            monkeypatch.setattr(nk, name, lambda *a, **k: (_ for _ in ()).throw(AssertionError("numba used")))
        plain = model(x)
    torch.testing.assert_close(plain, compiled, rtol=1e-4, atol=1e-5)


def test_compiled_paths_only_where_they_apply():
    """float64 models and any trainable parameter keep the torch paths (right dtype, gradients);
    malformed shapes and growing 'decays' are refused by the kernels, and ``auto`` falls back."""
    _numba_or_skip()
    from sasmamba_models.block import SASSSM

    torch.manual_seed(0)
    m = SASSSM(dim=16, num_joints=17).double().eval()
    with torch.no_grad():
        assert m(torch.randn(1, 5, 17, 16, dtype=torch.float64)).dtype == torch.float64
    m = SASSSM(dim=16, num_joints=17).eval()
    for p in m.parameters():
        p.requires_grad_(False)
    m.x_proj_weight.requires_grad_(True)                       # fine-tuning one tensor
    m(torch.randn(1, 5, 17, 16)).sum().backward()
    assert m.x_proj_weight.grad is not None and m.x_proj_weight.grad.abs().sum() > 0
    u, B = torch.randn(1, 4, 10), torch.randn(1, 2, 2, 10)
    with torch.no_grad():
        with pytest.raises(ValueError, match="expected u, dt"):
            selective_scan(u, u.abs(), -torch.rand(4, 2), B[:, :, :1], B, backend="numba")
        with pytest.raises(ValueError, match="expected A < 0"):
            selective_scan(u, u.abs(), torch.rand(4, 2), B, B, backend="numba")
        A = torch.rand(4, 2)
        y = selective_scan(u, u.abs(), A, B, B)                            # auto: the torch kernel
        torch.testing.assert_close(y, selective_scan(u, u.abs(), A, B, B, backend="sequential"))


def test_kernels_that_fail_to_compile_fall_back_with_a_warning(monkeypatch):
    import sasmamba_models.scan as scan_mod

    _numba_or_skip()
    kernels = scan_mod.load_numba_kernels()
    monkeypatch.setattr(kernels, "warm_up", lambda: (_ for _ in ()).throw(RuntimeError("LLVM says no")))
    monkeypatch.setattr(scan_mod, "_NUMBA_BROKEN", [])
    with pytest.warns(RuntimeWarning, match="LLVM says no"):
        assert scan_mod.prepare_cpu_inference() is False
    assert scan_mod.load_numba_kernels() is None
    assert resolve_backend("auto", torch.device("cpu"), needs_grad=False) == "sequential"
