"""Lab 2's reference functions run directly (no nbgrader): bad inputs and degenerate tensors, the
integer kernels against a float64 reference on random shapes, and the integer-only VGG against its
float simulation. Fast: only the definitions of the solution notebook are executed."""

from __future__ import annotations

import nbformat
import pytest
import torch
import torch.nn.functional as F

from grading.course import cell_kind
from grading.labs import REPO, reference_cells
from helpers.models import random_vgg
from helpers.quantization import fuse_vgg_bn, record_activation_ranges

LAB = "lab2_quantization"
GIVEN = ("kmeans_quantizer", "integer_vgg")  # the given classes' grade ids
IMPORTS = ("39b90e0d",)  # the id of the notebook's imports cell


@pytest.fixture(scope="module")
def lab():
    """Namespace holding the notebook's imports, reference answers and given classes."""
    nb = nbformat.read(REPO / "solutions" / LAB / f"{LAB}.ipynb", as_version=4)
    namespace: dict = {}
    for source in reference_cells(LAB, IMPORTS):
        exec(source, namespace)
    for cell in nb.cells:
        grade_id = cell.metadata.get("nbgrader", {}).get("grade_id")
        if cell_kind(cell) == "answer" or grade_id in GIVEN:
            exec(cell.source, namespace)
    return namespace


@pytest.mark.parametrize("bits", [0, 9, 2.5, True])
def test_k_means_bitwidth_outside_1_to_8(lab, bits):
    with pytest.raises(ValueError, match="bitwidth"):
        lab["k_means_quantize"](torch.randn(10), bitwidth=bits)


@pytest.mark.parametrize("bits", [0, 33, -1])
def test_quantized_range_bitwidth_outside_1_to_32(lab, bits):
    with pytest.raises(ValueError, match="bitwidth"):
        lab["get_quantized_range"](bits)


def test_kmeans_quantizer_rejects_bad_bitwidth(lab):
    with pytest.raises(ValueError, match="bitwidth"):
        lab["KMeansQuantizer"](random_vgg((4,)), bitwidth=16)


def test_empty_tensors(lab):
    with pytest.raises(ValueError, match="empty"):
        lab["k_means_quantize"](torch.empty(0), bitwidth=2)
    with pytest.raises(ValueError, match="empty"):
        lab["get_quantization_scale_and_zero_point"](torch.empty(0, 3), 8)
    assert lab["linear_quantize"](torch.empty(0, 3), 8, 0.1, 0).shape == (0, 3)


@pytest.mark.parametrize("value", [-0.3, 2.5, 0.0])
def test_zero_range_is_exact(lab, value):
    x = torch.full((4, 3), value)
    scale, zero_point = lab["get_quantization_scale_and_zero_point"](x, 8)
    assert scale > 0 and -128 <= zero_point <= 127
    q = lab["linear_quantize"](x, 8, scale, zero_point)
    assert torch.allclose(scale * (q.float() - zero_point), x, atol=1e-6)
    y = x.clone()
    lab["k_means_quantize"](y, bitwidth=3)
    assert torch.equal(y, x)


def test_channel_of_zeros_gets_a_positive_scale(lab):
    w = torch.randn(3, 2, 3, 3)
    w[1] = 0
    q, s, _ = lab["linear_quantize_weight_per_channel"](w, 8)
    assert bool((s > 0).all()) and not q[1].any()


def _reference(acc, real_scale, zero_point, bits=8):
    y = acc * real_scale + zero_point
    near_tie = ((y - y.floor()) - 0.5).abs() < 1e-3
    return y.round().clamp(-2 ** (bits - 1), 2 ** (bits - 1) - 1).to(torch.int8), near_tie


def _assert_exact(actual, expected, near_tie):
    assert actual.dtype == torch.int8 and actual.shape == expected.shape
    diff = (actual.int() - expected.int()).abs()
    assert not ((diff > 0) & ~near_tie).any() and not (diff > 1).any()


@pytest.mark.parametrize("seed", range(12))
def test_quantized_conv2d_matches_float64_reference(lab, seed):
    g = torch.Generator().manual_seed(seed)
    rand = lambda lo, hi: int(torch.randint(lo, hi + 1, (1,), generator=g))  # noqa: E731
    groups = [1, 2, 3][seed % 3]
    c_in, c_out = groups * rand(1, 4), groups * rand(1, 3)
    k, stride, padding = rand(1, 5), (rand(1, 3), rand(1, 2)), (rand(0, 2), rand(0, 2))
    h, w = rand(k, 11) + 1, rand(k, 9)  # odd and even sizes
    x = torch.randint(-128, 128, (rand(1, 3), c_in, h, w), generator=g, dtype=torch.int8)
    weight = torch.randint(-127, 128, (c_out, c_in // groups, k, k), generator=g, dtype=torch.int8)
    bias = torch.randint(-50000, 50000, (c_out,), generator=g, dtype=torch.int32) if seed % 4 else None  # Q_bias
    ws = torch.rand(c_out, 1, 1, 1, generator=g) * 0.01 + 1e-4
    zx, zy, sx, sy = rand(-128, 127), rand(-128, 127), 0.011, 0.05
    y = lab["quantized_conv2d"](x, weight, bias, 8, 8, zx, zy, sx, ws, sy, stride, padding, 1, groups)
    bias64 = None if bias is None else bias.double()
    padded = F.pad(x.double(), (padding[1], padding[1], padding[0], padding[0]), value=float(zx))  # the real 0
    acc = F.conv2d(padded, weight.double(), bias64, stride, 0, 1, groups)
    assert acc.abs().max() < 2 ** 31, "the accumulator fits int32"
    _assert_exact(y, *_reference(acc, (sx * ws.double() / sy).view(1, -1, 1, 1), zy))


@pytest.mark.parametrize("seed", range(6))
def test_quantized_linear_matches_float64_reference(lab, seed):
    g = torch.Generator().manual_seed(100 + seed)
    batch, c_in, c_out = [int(v) for v in torch.randint(1, 40, (3,), generator=g)]
    x = torch.randint(-128, 128, (batch, c_in), generator=g, dtype=torch.int8)
    weight = torch.randint(-127, 128, (c_out, c_in), generator=g, dtype=torch.int8)
    bias = torch.randint(-50000, 50000, (c_out,), generator=g, dtype=torch.int32)  # a folded Q_bias
    ws = torch.rand(c_out, 1, generator=g) * 0.01 + 1e-4
    zx, zy = int(torch.randint(-128, 128, (1,), generator=g)), int(torch.randint(-128, 128, (1,), generator=g))
    y = lab["quantized_linear"](x, weight, bias, 8, 8, zx, zy, 0.02, ws, 0.1)
    acc = x.double() @ weight.double().t() + bias.double()  # Z_x is in the folded bias, not subtracted
    _assert_exact(y, *_reference(acc, 0.02 * ws.double().view(1, -1) / 0.1, zy))


@pytest.mark.parametrize("seed", range(6))
def test_folded_bias_and_zero_point_padding_equal_subtracting_the_zero_point(lab, seed):
    """q_W q_x + Q_bias over an input padded with Z_x (int8 x int8 products) equals q_W (q_x - Z_x) + q_b
    over a zero-padded shifted input (9-bit operands): the fold changes the arithmetic, not the result."""
    g = torch.Generator().manual_seed(200 + seed)
    groups = [1, 2][seed % 2]
    x = torch.randint(-128, 128, (2, 2 * groups, 7, 6), generator=g, dtype=torch.int8)
    weight = torch.randint(-127, 128, (3 * groups, 2, 3, 3), generator=g, dtype=torch.int8)
    q_b = torch.randint(-50000, 50000, (3 * groups,), generator=g, dtype=torch.int32)
    zx = int(torch.randint(-128, 128, (1,), generator=g))
    folded = lab["shift_quantized_bias"](q_b, weight, zx)
    assert folded.dtype == torch.int32
    ws = torch.rand(3 * groups, 1, 1, 1, generator=g) * 0.01 + 1e-4
    y = lab["quantized_conv2d"](x, weight, folded, 8, 8, zx, -128, 0.011, ws, 0.05, 1, (1, 2), 1, groups)
    acc = F.conv2d(x.double() - zx, weight.double(), q_b.double(), 1, (1, 2), 1, groups)
    _assert_exact(y, *_reference(acc, (0.011 * ws.double() / 0.05).view(1, -1, 1, 1), -128))
    linear_weight = weight.reshape(3 * groups, -1)[:, :5].contiguous()
    v = x.reshape(2, -1)[:, :5].contiguous()
    y = lab["quantized_linear"](v, linear_weight, lab["shift_quantized_bias"](q_b, linear_weight, zx), 8, 8, zx, 3,
                                0.02, ws.reshape(-1, 1), 0.1)
    acc = (v.double() - zx) @ linear_weight.double().t() + q_b.double()
    _assert_exact(y, *_reference(acc, 0.02 * ws.double().view(1, -1) / 0.1, 3))


def test_integer_vgg_matches_its_float_simulation_and_the_float_model(lab):
    model = random_vgg((8, 8, "M", 16, "M"), seed=3)
    fused = fuse_vgg_bn(model)
    g = torch.Generator().manual_seed(0)
    images = torch.randn(64, 1, 12, 12, generator=g)
    ranges = record_activation_ranges(fused, [images[:32], images[32:]])
    integer_model = lab["build_integer_vgg"](fused, ranges)
    logits = integer_model(images)
    assert logits.dtype == torch.int8 and logits.shape == (64, 10)
    simulated = integer_model.simulate(images)
    head = integer_model.layers[-1]
    # the integer layers requantize in float32, the simulation in float64: a value within float32 rounding of a
    # half step may round the other way (which depends on the CPU's instructions), one step at most
    steps = (logits.double() - head.output_zero_point - simulated / head.output_scale).abs()
    assert steps.max() < 1 + 1e-6, f"off by {steps.max():.3f} steps"
    assert (steps > 1e-6).float().mean() <= 0.01, f"{int((steps > 1e-6).sum())} of {steps.numel()} logits differ"
    # 8-bit quantization keeps the float model's logits close (relative to their range)
    reference = model(images)
    assert (simulated.float() - reference).abs().max() < 0.1 * (reference.max() - reference.min())
