"""The SasMamba lifter: parameter counts, shapes, stride bookkeeping, deformable conv, flip."""
import pytest
import torch

from sasmamba_models import SasMambaLifter, count_parameters, preset
from sasmamba_models.block import SASSSM, stride_anchors
from sasmamba_models.deform import available_deform_impls, deform_conv2d_depthwise


@pytest.mark.parametrize("name,expected", [("s", 951_000), ("l", 5_570_000)])
def test_preset_parameter_counts_match_authors(name, expected):
    n = count_parameters(SasMambaLifter(preset(name)))
    assert abs(n - expected) / expected < 0.01, n


def test_ablation_has_no_offsets_and_fewer_params():
    s, a = SasMambaLifter(preset("s")), SasMambaLifter(preset("ablation"))
    assert count_parameters(a) < count_parameters(s)
    assert not any("offset" in k for k in a.state_dict())


@pytest.mark.parametrize("t", [1, 27, 243])
def test_shapes_any_length(t):
    torch.manual_seed(0)
    m = SasMambaLifter(preset("tiny", max_frames=243)).eval()
    with torch.no_grad():
        y = m(torch.randn(2, t, 17, 2))
    assert y.shape == (2, t, 17, 3) and torch.isfinite(y).all()


def test_confidence_channel_and_bad_shapes():
    m = SasMambaLifter(preset("tiny", in_chans=3)).eval()
    with torch.no_grad():
        assert m(torch.randn(1, 9, 17, 3)).shape == (1, 9, 17, 3)
    with pytest.raises(ValueError, match="expected input"):
        m(torch.randn(1, 9, 17, 2))
    with pytest.raises(ValueError, match="T <= 27"):
        m(torch.randn(1, 28, 17, 3))


def test_stride_anchors_follow_the_group_rule():
    assert stride_anchors(17, 2).tolist() == [0, 0, 2, 2, 4, 4, 6, 6, 8, 8, 10, 10, 12, 12, 14, 14, 16]
    assert stride_anchors(17, 3).tolist() == [0, 0, 0, 3, 3, 3, 6, 6, 6, 9, 9, 9, 12, 12, 12, 15, 15]


def test_stride_sum_gradient_reaches_anchor_joints():
    """The authors' custom backward drops the stride gather's gradient; ours (autograd) keeps it."""
    torch.manual_seed(0)
    ssm = SASSSM(dim=8, num_joints=17, d_state=4, deformable=False, strides=(2, 3))
    ssm_plain = SASSSM(dim=8, num_joints=17, d_state=4, deformable=False, strides=())
    ssm_plain.load_state_dict(ssm.state_dict())
    x = torch.randn(1, 5, 17, 8, requires_grad=True)
    g_stride = torch.autograd.grad(ssm(x).sum(), x)[0]
    x2 = x.detach().clone().requires_grad_()
    g_plain = torch.autograd.grad(ssm_plain(x2).sum(), x2)[0]
    diff = (g_stride - g_plain).abs().sum(dim=(0, 1, 3))
    assert diff[0] > 0 and diff[3] > 0   # joint 0 anchors both groups, 3 anchors a stride-3 group


def test_backends_give_same_model_output():
    torch.manual_seed(0)
    m = SasMambaLifter(preset("tiny")).eval()
    x = torch.randn(2, 27, 17, 2)
    outs = []
    with torch.no_grad():
        for b in ["ref", "sequential", "chunked"]:
            m.set_scan_backend(b)
            outs.append(m(x))
    for o in outs[1:]:
        torch.testing.assert_close(o, outs[0], rtol=6e-4, atol=2e-4)


def test_deform_conv_zero_offsets_equals_depthwise_conv():
    torch.manual_seed(0)
    x = torch.randn(2, 6, 11, 17)
    w = torch.randn(6, 1, 3, 3)
    b = torch.randn(6)
    off = torch.zeros(2, 18, 11, 17)
    ref = torch.nn.functional.conv2d(x, w, b, padding=1, groups=6)
    torch.testing.assert_close(deform_conv2d_depthwise(x, off, w, b), ref, rtol=1e-5, atol=1e-5)


def test_deform_conv_integer_offset_shifts_samples():
    x = torch.arange(5 * 7, dtype=torch.float32).view(1, 1, 5, 7)
    w = torch.zeros(1, 1, 3, 3)
    w[0, 0, 1, 1] = 1.0                     # centre tap only
    off = torch.zeros(1, 18, 5, 7)
    off[:, 2 * 4 + 1] = 1.0                 # centre tap: +1 joint (x)
    y = deform_conv2d_depthwise(x, off, w)
    torch.testing.assert_close(y[0, 0, :, :-1], x[0, 0, :, 1:])
    assert torch.all(y[0, 0, :, -1] == 0)   # sampled outside the grid -> zero


@pytest.mark.skipif("torchvision" not in available_deform_impls(), reason="torchvision not installed")
def test_deform_conv_matches_torchvision():
    torch.manual_seed(0)
    x = torch.randn(2, 8, 9, 17, requires_grad=True)
    off = (torch.randn(2, 18, 9, 17) * 1.5).requires_grad_()
    w = torch.randn(8, 1, 3, 3, requires_grad=True)
    b = torch.randn(8, requires_grad=True)
    y1 = deform_conv2d_depthwise(x, off, w, b, impl="grid_sample")
    y2 = deform_conv2d_depthwise(x, off, w, b, impl="torchvision")
    torch.testing.assert_close(y1, y2, rtol=1e-4, atol=1e-4)
    g1 = torch.autograd.grad(y1.square().sum(), (x, w, b))
    g2 = torch.autograd.grad(y2.square().sum(), (x, w, b))
    for a, c in zip(g1, g2):
        torch.testing.assert_close(a, c, rtol=1e-3, atol=1e-3)


def _symmetric_ssm(strides):
    torch.manual_seed(0)
    ssm = SASSSM(dim=8, num_joints=17, d_state=4, deformable=False, strides=strides).eval()
    with torch.no_grad():
        ssm.conv.weight.zero_()
        ssm.conv.weight[:, 0, 1, 1] = 1.0   # identity conv: symmetric under reversal
        ssm.conv.bias.zero_()
        di = ssm.di
        for name in ["x_proj_weight", "dt_proj_weight", "dt_proj_bias"]:   # reverse scans share
            p = getattr(ssm, name)                                          # their pair's params
            p[2], p[3] = p[0].clone(), p[1].clone()
        for name in ["A_log", "Ds"]:
            p = getattr(ssm, name)
            p[2 * di:3 * di], p[3 * di:] = p[:di].clone(), p[di:2 * di].clone()
    return ssm


def test_reversal_equivariance_of_scan_bookkeeping():
    """Each direction is paired with its reverse, so reversing the whole token sequence (time and
    joint order together) reverses the output exactly, for both the frame-major and the
    joint-major pair, when reverse scans share parameters and the conv is symmetric. The stride
    sums anchor on the *first* member of each group, which breaks this symmetry by design."""
    x = torch.randn(1, 6, 17, 8)
    rev = lambda t: t.flip(1).flip(2)
    ssm = _symmetric_ssm(())
    with torch.no_grad():
        torch.testing.assert_close(ssm(rev(x)), rev(ssm(x)), rtol=1e-4, atol=1e-5)
    ssm = _symmetric_ssm((2, 3))
    with torch.no_grad():
        assert (ssm(rev(x)) - rev(ssm(x))).abs().max() > 1e-3


def test_stride_sum_matrix_adds_each_joints_group_anchors():
    m = SASSSM(dim=8, num_joints=17, d_state=4, strides=(2, 3))
    x = torch.randn(2, 16, 5, 17)
    want = x + x.index_select(3, stride_anchors(17, 2)) + x.index_select(3, stride_anchors(17, 3))
    torch.testing.assert_close(torch.matmul(x, m.stride_sum), want)


@pytest.mark.gpu
@pytest.mark.skipif("torchvision" not in available_deform_impls(), reason="torchvision not installed")
def test_deform_conv_matches_torchvision_on_cuda():
    torch.manual_seed(0)
    x = torch.randn(2, 8, 9, 17, device="cuda", requires_grad=True)
    off = (torch.randn(2, 18, 9, 17, device="cuda") * 1.5).requires_grad_()
    w = torch.randn(8, 1, 3, 3, device="cuda", requires_grad=True)
    y1 = deform_conv2d_depthwise(x, off, w, None, impl="grid_sample")
    y2 = deform_conv2d_depthwise(x, off, w, None, impl="torchvision")
    torch.testing.assert_close(y1, y2, rtol=1e-4, atol=1e-4)
    for a, c in zip(torch.autograd.grad(y1.square().sum(), (x, w)), torch.autograd.grad(y2.square().sum(), (x, w))):
        torch.testing.assert_close(a, c, rtol=1e-3, atol=1e-3)


@pytest.mark.gpu
@pytest.mark.parametrize("name,backend", [("s", "auto"), ("s", "chunked"), ("s", "triton"), ("ablation", "auto")])
def test_model_on_cuda_matches_cpu_outputs_and_gradients(name, backend):
    """The whole lifter computes the same function on CUDA (scan ``backend``) as on CPU (auto):
    outputs and parameter gradients, fp32 with TF32 matmuls off."""
    from sasmamba_models.scan import available_backends
    if backend not in ("auto", *available_backends("cuda")):
        pytest.skip(f"scan backend {backend} not available on CUDA here")
    torch.backends.cuda.matmul.allow_tf32 = False
    torch.backends.cudnn.allow_tf32 = False
    torch.manual_seed(0)
    cpu = SasMambaLifter(preset(name, max_frames=81, in_chans=3, drop_path=0.0))
    with torch.no_grad():
        # The offset convs start at zero, so every tap samples exactly on the grid, where bilinear
        # sampling has a kink: its gradient w.r.t. the offset is one-sided, and which side a device
        # takes depends on rounding (first GPU run, H200: offset.weight gradients 9 % apart while the
        # ablation model, without offsets, matched). Generic offsets make the function smooth there.
        for m in cpu.modules():
            if isinstance(getattr(m, "offset", None), torch.nn.Conv2d):
                m.offset.weight.normal_(0.0, 0.02)
                m.offset.bias.uniform_(-0.45, 0.45)
    gpu = SasMambaLifter(preset(name, max_frames=81, in_chans=3, drop_path=0.0)).cuda()
    gpu.load_state_dict(cpu.state_dict())
    gpu.set_scan_backend(backend)
    x = torch.randn(2, 81, 17, 3)
    y_cpu, y_gpu = cpu(x), gpu(x.cuda())
    torch.testing.assert_close(y_gpu.cpu(), y_cpu, rtol=6e-4, atol=2e-4)
    y_cpu.square().mean().backward()
    y_gpu.square().mean().backward()
    for (k, p), q in zip(cpu.named_parameters(), gpu.parameters()):
        err = (q.grad.cpu() - p.grad).abs().max().item()
        scale = p.grad.abs().max().item()
        assert err <= 1e-3 * scale + 1e-7, f"{k}: max gradient difference {err:.3g}, largest gradient {scale:.3g}"


@pytest.mark.parametrize("scale", [0.0, 1.5, 6.0])
def test_deform_conv_numba_kernel_matches_grid_sample(scale):
    """The compiled CPU inference kernel against the pure-torch sampling: taps inside, on the
    border and far outside the grid (zeros), with and without bias."""
    if "numba" not in available_deform_impls():
        pytest.skip("numba does not import here")
    torch.manual_seed(1)
    x = torch.randn(2, 8, 9, 17)
    off = torch.randn(2, 18, 9, 17) * scale
    w = torch.randn(8, 1, 3, 3)
    for b in (None, torch.randn(8)):
        with torch.no_grad():
            y1 = deform_conv2d_depthwise(x, off, w, b, impl="grid_sample")
            y2 = deform_conv2d_depthwise(x, off, w, b, impl="numba")
        torch.testing.assert_close(y2, y1, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("scale", [0.37, 1.5, 6.0])
def test_deform_conv_numba_gradients_match_grid_sample(scale):
    """The compiled backward against autograd through ``grid_sample``: all four gradients, taps
    inside, on the border and far outside the grid (non-integer offsets: on a grid line the
    offset's gradient is one-sided and either side is right)."""
    if "numba" not in available_deform_impls():
        pytest.skip("numba does not import here")
    torch.manual_seed(2)
    x = torch.randn(2, 8, 9, 17)
    off = torch.randn(2, 18, 9, 17) * scale + 0.013
    w, b = torch.randn(8, 1, 3, 3), torch.randn(8)
    gout = torch.randn(2, 8, 9, 17)
    grads = []
    for impl in ("grid_sample", "numba"):
        leaves = [t.clone().requires_grad_() for t in (x, off, w, b)]
        y = deform_conv2d_depthwise(*leaves, impl=impl)
        grads.append(torch.autograd.grad(y, leaves, gout))
    for name, g0, g1 in zip(("x", "offset", "weight", "bias"), *grads):
        torch.testing.assert_close(g1, g0, rtol=1e-4, atol=1e-4 * float(g0.abs().max()), msg=lambda m, n=name: f"{n}: {m}")


def test_structure_aware_conv_auto_impl_keeps_autograd():
    """``auto`` runs the compiled kernels for training too (with their backward): gradients reach
    the input, the tap weights and the offset predictor."""
    from sasmamba_models.deform import StructureAwareConv

    conv = StructureAwareConv(channels=4)
    torch.nn.init.normal_(conv.offset.weight, std=0.1)
    x = torch.randn(1, 4, 5, 17, requires_grad=True)
    conv(x).sum().backward()
    assert x.grad is not None and conv.weight.grad is not None
    assert float(conv.offset.weight.grad.abs().sum()) > 0


def test_model_cpu_training_gradients_numba_match_torch_paths():
    """A CPU training step of the whole lifter through the compiled kernels (scan and deformable
    conv, forward and backward: what ``auto`` runs) gives the torch paths' loss and parameter
    gradients (generic offsets, as in the CUDA comparison above)."""
    if "numba" not in available_deform_impls():
        pytest.skip("numba does not import here")
    from sasmamba_models.deform import StructureAwareConv

    torch.manual_seed(0)
    a = SasMambaLifter(preset("tiny", max_frames=27, in_chans=3, drop_path=0.0))
    with torch.no_grad():
        for m in a.modules():
            if isinstance(getattr(m, "offset", None), torch.nn.Conv2d):
                m.offset.weight.normal_(0.0, 0.02)
                m.offset.bias.uniform_(-0.45, 0.45)
    b = SasMambaLifter(preset("tiny", max_frames=27, in_chans=3, drop_path=0.0))
    b.load_state_dict(a.state_dict())
    a.set_scan_backend("numba")
    b.set_scan_backend("sequential")
    for m in b.modules():
        if isinstance(m, StructureAwareConv):
            m.impl = "grid_sample"
    x = torch.randn(2, 27, 17, 3)
    la, lb = a(x).square().mean(), b(x).square().mean()
    torch.testing.assert_close(la, lb, rtol=1e-5, atol=1e-7)
    la.backward()
    lb.backward()
    for (k, p), q in zip(a.named_parameters(), b.parameters()):
        err = (p.grad - q.grad).abs().max().item()
        assert err <= 1e-3 * q.grad.abs().max().item() + 1e-7, f"{k}: max gradient difference {err:.3g}"


def test_deform_conv_numba_backward_threads_split_gives_the_same_gradients():
    """The compiled backward split over batch rows (each owns its rows' gradients) = one thread."""
    if "numba" not in available_deform_impls():
        pytest.skip("numba does not import here")
    from sasmamba_models.scan import load_numba_kernels

    nk = load_numba_kernels()
    torch.manual_seed(3)
    x, off = torch.randn(3, 8, 9, 17), torch.randn(3, 18, 9, 17) * 1.1
    w, gout = torch.randn(8, 1, 3, 3), torch.randn(3, 8, 9, 17)
    one = nk.deform_conv_depthwise_backward(x, off, w, gout, threads=1)
    two = nk.deform_conv_depthwise_backward(x, off, w, gout, threads=2)
    for a, b in zip(one, two):
        torch.testing.assert_close(a, b, rtol=1e-6, atol=1e-6)


def test_deform_conv_non_finite_offsets_propagate_as_grid_sample_does():
    if "numba" not in available_deform_impls():
        pytest.skip("numba does not import here")
    x, off, w = torch.randn(1, 4, 5, 17), torch.zeros(1, 18, 5, 17), torch.randn(4, 1, 3, 3)
    off[0, 0, 2, 3] = float("nan")
    with torch.no_grad():
        y = deform_conv2d_depthwise(x, off, w, impl="numba")
    assert torch.isnan(y[0, :, 2, 3]).all() and torch.isfinite(y[0, :, 0, 0]).all()
