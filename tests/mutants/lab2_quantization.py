"""Catalogue of common student mistakes in Lab 2 (each must lose points) and of correct but
differently written answers (each must keep full marks).

A mutant is ``(name, [(old, new), ...])``: text replacements applied to the reference answer, so a
mutant always starts from the current solution and breaks loudly if the solution changes.
"""

LAB = "lab2_quantization"
AUTOGRADED_POINTS = 80  # the rest of the 100 are written answers, graded by hand
# the tampered submission deletes one test cell and empties (and re-points) another
TAMPER = {"delete": "test_update_codebook", "edit": "test_quantized_conv2d"}
# the answer given an infinite loop (checks the per-cell timeout); None: covered by another lab
LOOP_ANSWER = None

_RANGE_AND_QUANTIZE = {"get_quantized_range", "linear_quantize"}

# graded answer -> the graded answers its test cell also calls (a mutant of one of those would
# make the test fail for another reason, so such mutants are never graded in the same notebook)
DEPENDS_ON = {
    "num_colors": {"k_means_quantize"},
    "linear_quantize": {"get_quantized_range"},
    "get_quantization_scale_and_zero_point": _RANGE_AND_QUANTIZE,
    "linear_quantize_weight_per_channel": _RANGE_AND_QUANTIZE,
    "linear_quantize_bias_per_output_channel": _RANGE_AND_QUANTIZE,
    "quantized_linear": {"get_quantized_range"},
    "quantized_conv2d": {"get_quantized_range"},
    "extra_preprocess": _RANGE_AND_QUANTIZE,
}

# graded answer -> the test cell that grades it
TEST_OF = {
    "k_means_quantize": "test_k_means_quantize",
    "num_colors": "test_num_colors",
    "update_codebook": "test_update_codebook",
    "get_quantized_range": "test_get_quantized_range",
    "linear_quantize": "test_linear_quantize",
    "get_quantization_scale_and_zero_point": "test_get_quantization_scale_and_zero_point",
    "linear_quantize_weight_per_channel": "test_linear_quantize_weight_per_channel",
    "linear_quantize_bias_per_output_channel": "test_linear_quantize_bias_per_output_channel",
    "quantized_linear": "test_quantized_linear",
    "quantized_conv2d": "test_quantized_conv2d",
    "extra_preprocess": "test_extra_preprocess",
}

_CONV = "F.conv2d(shifted_input, weight.to(torch.int32), bias, stride, padding, dilation, groups)"

MUTANTS = {
    "k_means_quantize": [
        ("2 * bitwidth clusters", [("n_clusters = 2 ** bitwidth", "n_clusters = 2 * bitwidth")]),
        ("one cluster too few", [("n_clusters = 2 ** bitwidth", "n_clusters = 2 ** bitwidth - 1")]),
        ("bitwidth clusters", [("n_clusters = 2 ** bitwidth", "n_clusters = bitwidth")]),
        ("decodes the labels, not the centroids", [("quantized_tensor = codebook.centroids[codebook.labels]",
                                                    "quantized_tensor = codebook.labels.float()")]),
    ],
    "num_colors": [
        ("the bit width itself", [("num_colors_4bit = 16", "num_colors_4bit = 4"),
                                  ("return 2 ** bitwidth", "return bitwidth")]),
        ("2n colours", [("return 2 ** bitwidth", "return 2 * bitwidth")]),
        ("one colour too few", [("num_colors_4bit = 16", "num_colors_4bit = 15"),
                                ("return 2 ** bitwidth", "return 2 ** bitwidth - 1")]),
        ("n squared", [("return 2 ** bitwidth", "return bitwidth ** 2")]),
    ],
    "update_codebook": [
        ("sum instead of mean", [("sums[used] / counts[used]", "sums[used]")]),
        ("empty clusters become nan", [("used = counts > 0", "used = counts >= 0")]),
        ("mean of all the weights", [("sums[used] / counts[used]", "fp32_tensor.mean()")]),
        ("updates a copy, not the codebook", [("    codebook.centroids[used] = sums[used] / counts[used]",
                                               "    centroids = codebook.centroids.clone()\n"
                                               "    centroids[used] = sums[used] / counts[used]")]),
    ],
    "get_quantized_range": [
        ("unsigned range", [("quantized_max = (1 << (bitwidth - 1)) - 1", "quantized_max = (1 << bitwidth) - 1"),
                            ("quantized_min = -(1 << (bitwidth - 1))", "quantized_min = 0")]),
        ("symmetric minimum", [("quantized_min = -(1 << (bitwidth - 1))",
                                "quantized_min = -(1 << (bitwidth - 1)) + 1")]),
        ("maximum one too large", [("quantized_max = (1 << (bitwidth - 1)) - 1",
                                    "quantized_max = 1 << (bitwidth - 1)")]),
    ],
    "linear_quantize": [
        ("multiplies by the scale", [("scaled_tensor = fp_tensor / scale", "scaled_tensor = fp_tensor * scale")]),
        ("subtracts the zero point", [("shifted_tensor = rounded_tensor + zero_point",
                                       "shifted_tensor = rounded_tensor - zero_point")]),
        ("truncates instead of rounding", [("torch.round(scaled_tensor)", "torch.trunc(scaled_tensor)")]),
        ("no clamping", [("quantized_tensor = shifted_tensor.clamp(quantized_min, quantized_max)",
                          "quantized_tensor = shifted_tensor")]),
    ],
    "get_quantization_scale_and_zero_point": [
        ("zero point with the wrong sign", [("zero_point = quantized_min - fp_min / scale",
                                             "zero_point = quantized_min + fp_min / scale")]),
        ("divides by 2^bitwidth levels", [("scale = (fp_max - fp_min) / (quantized_max - quantized_min)",
                                           "scale = (fp_max - fp_min) / (quantized_max - quantized_min + 1)")]),
        ("zero point not clipped", [("zero_point = round(min(max(zero_point, quantized_min), quantized_max))",
                                     "zero_point = round(zero_point)")]),
    ],
    "linear_quantize_weight_per_channel": [
        ("one scale per tensor", [("reshape(tensor.shape[0], -1).amax(dim=1)",
                                   "reshape(1, -1).amax(dim=1).expand(tensor.shape[0])")]),
        ("signed maximum (no abs)", [("tensor.detach().abs().reshape", "tensor.detach().reshape")]),
        ("zero scale for a channel of zeros", [(".clamp_min(5e-7)", "")]),
    ],
    "linear_quantize_bias_per_output_channel": [
        ("8-bit bias", [("linear_quantize(bias.detach(), 32,", "linear_quantize(bias.detach(), 8,")]),
        ("weight scale only", [("bias_scale = weight_scale.reshape(-1) * input_scale",
                                "bias_scale = weight_scale.reshape(-1)")]),
        ("divides by the input scale", [("bias_scale = weight_scale.reshape(-1) * input_scale",
                                         "bias_scale = weight_scale.reshape(-1) / input_scale")]),
    ],
    "quantized_linear": [
        ("forgets the input zero point", [("input.to(torch.int32) - input_zero_point", "input.to(torch.int32)")]),
        ("forgets the output zero point", [("output = output + output_zero_point", "output = output")]),
        ("multiplies by the output scale", [("/ output_scale", "* output_scale")]),
        ("one weight scale for all channels", [("weight_scale.reshape(-1) / output_scale",
                                                "weight_scale.reshape(-1)[0] / output_scale")]),
    ],
    "quantized_conv2d": [
        ("pads with the integer 0 (zero point folded into the bias)", [
            ("shifted_input = input.to(torch.int32) - input_zero_point\n    output = " + _CONV,
             "output = F.conv2d(input.to(torch.int32), weight.to(torch.int32), bias, stride, padding, dilation, "
             "groups)\n    output = output - input_zero_point * weight.to(torch.int32).sum((1, 2, 3))"
             ".view(1, -1, 1, 1)")]),
        ("forgets the output zero point", [("output = output + output_zero_point", "output = output")]),
        ("ignores the stride", [("bias, stride, padding, dilation, groups)", "bias, 1, padding, dilation, groups)")]),
        ("ignores groups", [("padding, dilation, groups)", "padding, dilation, 1)")]),
        ("forgets the bias", [("weight.to(torch.int32), bias, stride", "weight.to(torch.int32), None, stride")]),
    ],
    "extra_preprocess": [
        ("the published [0, 1] formula", [("return linear_quantize(x, 8, input_scale, input_zero_point)",
                                           "return (x * 255 - 128).clamp(-128, 127).to(torch.int8)")]),
        ("forgets the zero point", [("linear_quantize(x, 8, input_scale, input_zero_point)",
                                     "linear_quantize(x, 8, input_scale, 0)")]),
        ("returns floats", [("return linear_quantize(x, 8, input_scale, input_zero_point)",
                             "return linear_quantize(x, 8, input_scale, input_zero_point).float()")]),
    ],
}

# Correct answers written differently from the reference: each must keep full marks.
ALTERNATIVES = {
    "k_means_quantize": '''
def k_means_quantize(fp32_tensor, bitwidth=4, codebook=None):
    check_bitwidth(bitwidth, 1, 8)
    if codebook is None:
        codebook = kmeans(fp32_tensor, 1 << bitwidth)
    decoded = torch.index_select(codebook.centroids, 0, codebook.labels)
    fp32_tensor.copy_(decoded.reshape(fp32_tensor.shape))
    return codebook
''',
    "num_colors": '''
num_colors_4bit = 2 ** 4
num_colors = lambda bitwidth: 1 << bitwidth  # noqa: E731
''',
    "update_codebook": '''
@torch.no_grad()
def update_codebook(fp32_tensor, codebook):
    flat = fp32_tensor.flatten()
    for k in range(len(codebook.centroids)):
        members = flat[codebook.labels == k]
        if members.numel() > 0:
            codebook.centroids[k] = members.mean()
''',
    "get_quantized_range": '''
def get_quantized_range(bitwidth):
    half = 2 ** (bitwidth - 1)
    return -half, half - 1
''',
    "linear_quantize": '''
def linear_quantize(fp_tensor, bitwidth, scale, zero_point, dtype=torch.int8):
    lo, hi = get_quantized_range(bitwidth)
    return torch.clamp(torch.round(fp_tensor / scale) + zero_point, lo, hi).to(dtype)
''',
    "get_quantization_scale_and_zero_point": '''
def get_quantization_scale_and_zero_point(fp_tensor, bitwidth):
    if fp_tensor.numel() == 0:
        raise ValueError("empty tensor")
    lo, hi = fp_tensor.min().item(), fp_tensor.max().item()
    if lo == hi:
        lo, hi = min(lo, 0.0), max(hi, 0.0)
        if lo == hi:
            return 1.0, 0
    qmin, qmax = get_quantized_range(bitwidth)
    scale = (hi - lo) / (2 ** bitwidth - 1)
    zero_point = int(round(qmax - hi / scale))
    return scale, max(qmin, min(qmax, zero_point))
''',
    "linear_quantize_weight_per_channel": '''
def linear_quantize_weight_per_channel(tensor, bitwidth):
    qmax = 2 ** (bitwidth - 1) - 1
    scale = torch.tensor([max(tensor[c].abs().max().item(), 5e-7) / qmax for c in range(tensor.shape[0])])
    scale = scale.reshape([-1] + [1] * (tensor.dim() - 1))
    return linear_quantize(tensor.detach(), bitwidth, scale, 0), scale, 0
''',
    "linear_quantize_bias_per_output_channel": '''
def linear_quantize_bias_per_output_channel(bias, weight_scale, input_scale):
    bias_scale = (input_scale * weight_scale).flatten()
    return linear_quantize(bias.detach(), 32, bias_scale, 0, torch.int32), bias_scale, 0
''',
    "quantized_linear": '''
def quantized_linear(input, weight, bias, feature_bitwidth, weight_bitwidth, input_zero_point, output_zero_point,
                     input_scale, weight_scale, output_scale):
    w = weight.to(torch.int32)
    acc = input.to(torch.int32) @ w.t() - input_zero_point * w.sum(dim=1)
    if bias is not None:
        acc = acc + bias
    out = acc.double() * (input_scale * weight_scale.double().flatten() / output_scale) + output_zero_point
    lo, hi = get_quantized_range(feature_bitwidth)
    return out.round().clamp(lo, hi).to(torch.int8)
''',
    "quantized_conv2d": '''
def quantized_conv2d(input, weight, bias, feature_bitwidth, weight_bitwidth, input_zero_point, output_zero_point,
                     input_scale, weight_scale, output_scale, stride=1, padding=0, dilation=1, groups=1):
    ph, pw = (padding, padding) if isinstance(padding, int) else padding
    x = F.pad(input.double(), (pw, pw, ph, ph), value=float(input_zero_point)) - input_zero_point
    acc = F.conv2d(x, weight.double(), None, stride, 0, dilation, groups).round().to(torch.int32)
    if bias is not None:
        acc = acc + bias.view(1, -1, 1, 1)
    scale = (input_scale * weight_scale.double().flatten() / output_scale).view(1, -1, 1, 1)
    out = acc.double() * scale + output_zero_point
    return out.round().clamp(*get_quantized_range(feature_bitwidth)).to(torch.int8)
''',
    "extra_preprocess": '''
def extra_preprocess(x, input_scale, input_zero_point):
    q = torch.round(x / input_scale) + input_zero_point
    return q.clamp(-128, 127).to(torch.int8)
''',
}




# The blind pass (issue 13), written from this student notebook alone. Its fixes (the text and the tests
# it questioned) are on branch lab2-trust and not merged yet, so these answers are catalogued but
# not yet held to full marks: BLIND_NOT_YET_GRADED says why (tests/test_grading.py skips with it).
BLIND_NOT_YET_GRADED = "the fixes this blind pass asked for (text and tests) are not merged yet"
BLIND = {
    'k_means_quantize': (
        'with a given codebook the tensor is decoded from the given labels; nothing else open',
        'def k_means_quantize(fp32_tensor: torch.Tensor, bitwidth: int = 4, codebook: Codebook = None) -> Codebook:\n    """K-means (weight-sharing) quantization of one tensor, in place.\n\n    :param fp32_tensor: the weights (any shape); overwritten with their quantized values\n    :param bitwidth: bits per weight index, in [1, 8]\n    :param codebook: a Codebook(centroids, labels) to reuse instead of clustering again\n    :return: the Codebook (centroids, labels)\n    """\n    check_bitwidth(bitwidth, 1, 8)\n    if codebook is None:\n        n_clusters = 2 ** bitwidth  # an index of `bitwidth` bits addresses 2^bitwidth clusters\n        codebook = kmeans(fp32_tensor, n_clusters)  # given: Lloyd\'s algorithm in torch\n    quantized_tensor = codebook.centroids[codebook.labels]  # decode: table lookup\n    fp32_tensor.copy_(quantized_tensor.view_as(fp32_tensor))\n    return codebook'),
    'num_colors': (
        '16 holds only because every centroid stays in use (kmeans docstring)',
        'num_colors_4bit = 16  # 2^4 clusters, and the 25 distinct values are enough to use all of them\n\n\ndef num_colors(bitwidth: int) -> int:\n    """Distinct values after n-bit k-means of a tensor with many more distinct values than 2^n."""\n    return 2 ** bitwidth'),
    'update_codebook': (
        'empty clusters keep their centroid, as stated; dtype of the mean not stated',
        '@torch.no_grad()\ndef update_codebook(fp32_tensor: torch.Tensor, codebook: Codebook) -> None:\n    """Move every centroid to the mean of the weights of its cluster (in place; labels unchanged)."""\n    n_clusters = codebook.centroids.numel()\n    fp32_tensor = fp32_tensor.reshape(-1)\n    labels = codebook.labels.reshape(-1).to(fp32_tensor.device)\n    centroids = codebook.centroids\n    sums = torch.zeros(n_clusters, dtype=fp32_tensor.dtype, device=fp32_tensor.device).index_add_(0, labels, fp32_tensor)\n    counts = torch.bincount(labels, minlength=n_clusters)\n    used = counts > 0  # a cluster without weights keeps its centroid\n    means = (sums / counts.clamp_min(1).to(sums.dtype)).to(device=centroids.device, dtype=centroids.dtype)\n    centroids[used.to(centroids.device)] = means[used.to(centroids.device)]'),
    'get_quantized_range': (
        'nothing open',
        'def get_quantized_range(bitwidth: int) -> tuple:\n    """(q_min, q_max) of a signed bitwidth-bit integer."""\n    check_bitwidth(bitwidth, 1, 32)\n    quantized_max = (1 << (bitwidth - 1)) - 1\n    quantized_min = -(1 << (bitwidth - 1))\n    return quantized_min, quantized_max'),
    'linear_quantize': (
        'tie rounding is torch.round (half to even), as the text names it',
        'def linear_quantize(fp_tensor: torch.Tensor, bitwidth: int, scale, zero_point,\n                    dtype=torch.int8) -> torch.Tensor:\n    """q = clamp(round(r / S) + Z, q_min, q_max), returned as ``dtype``."""\n    if not fp_tensor.is_floating_point():\n        raise TypeError(f"linear_quantize expects a floating-point tensor, got {fp_tensor.dtype}")\n    quantized_min, quantized_max = get_quantized_range(bitwidth)\n    scaled_tensor = fp_tensor / scale                     # 1. scale\n    rounded_tensor = torch.round(scaled_tensor)           # 2. round to the nearest integer\n    shifted_tensor = rounded_tensor + zero_point          # 3. shift by the zero point\n    quantized_tensor = shifted_tensor.clamp(quantized_min, quantized_max)  # 4. clamp (before the dtype cast)\n    return quantized_tensor.to(dtype)'),
    'get_quantization_scale_and_zero_point': (
        'order of clip and round, and Z from r_min or r_max, not stated (no difference in practice)',
        'def get_quantization_scale_and_zero_point(fp_tensor: torch.Tensor, bitwidth: int) -> tuple:\n    """(scale, zero_point) of asymmetric linear quantization over the range of ``fp_tensor``."""\n    if fp_tensor.numel() == 0:\n        raise ValueError("cannot compute a scale and zero point for an empty tensor")\n    quantized_min, quantized_max = get_quantized_range(bitwidth)\n    fp_min, fp_max = fp_tensor.min().item(), fp_tensor.max().item()\n    if fp_min == fp_max:  # zero range: widen it to include 0 (then 0 and the value are both exact)\n        fp_min, fp_max = min(fp_min, 0.0), max(fp_max, 0.0)\n        if fp_min == fp_max:  # all zeros: any scale represents them exactly\n            return 1.0, 0\n    scale = (fp_max - fp_min) / (quantized_max - quantized_min)\n    zero_point = quantized_min - fp_min / scale\n    zero_point = min(max(zero_point, quantized_min), quantized_max)  # clip to [q_min, q_max]\n    zero_point = round(zero_point)  # to the nearest integer\n    return float(scale), int(zero_point)'),
    'linear_quantize_weight_per_channel': (
        'the 5e-7 rule: exactly-zero channels only, or a floor? it chose exactly zero',
        'def linear_quantize_weight_per_channel(tensor: torch.Tensor, bitwidth: int) -> tuple:\n    """Symmetric linear quantization with one scale per output channel.\n\n    :return: (int8 tensor, scale shaped (c_out, 1, ..., 1), zero point 0)\n    """\n    _, quantized_max = get_quantized_range(bitwidth)\n    c_out = tensor.shape[0]\n    fp_max = tensor.detach().abs().reshape(c_out, -1).amax(dim=1)  # |W_c|_max per output channel\n    fp_max = torch.where(fp_max == 0, torch.full_like(fp_max, 5e-7), fp_max)  # a channel of zeros\n    scale = (fp_max / quantized_max).view(c_out, *([1] * (tensor.dim() - 1)))\n    quantized_tensor = linear_quantize(tensor.detach(), bitwidth, scale, zero_point=0)\n    return quantized_tensor, scale, 0'),
    'linear_quantize_bias_per_output_channel': (
        'the int32 clamp width (32-bit range chosen)',
        'def linear_quantize_bias_per_output_channel(bias: torch.Tensor, weight_scale: torch.Tensor,\n                                            input_scale: float) -> tuple:\n    """:return: (int32 bias, bias scale of shape (c_out,), zero point 0)"""\n    assert bias.dim() == 1 and bias.numel() == weight_scale.numel()\n    bias_scale = weight_scale.reshape(-1) * input_scale  # S_b = S_W S_x, one per output channel\n    quantized_bias = linear_quantize(bias.detach(), 32, bias_scale.to(bias.device), 0, torch.int32)\n    return quantized_bias, bias_scale, 0'),
    'quantized_linear': (
        "float precision of the requantization not stated (float64 chosen); subtracts Z_x (9-bit operands, the text's '8-bit products' is false)",
        'def quantized_linear(input: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor, feature_bitwidth: int,\n                     weight_bitwidth: int, input_zero_point: int, output_zero_point: int, input_scale: float,\n                     weight_scale: torch.Tensor, output_scale: float) -> torch.Tensor:\n    """Integer linear layer: int8 (batch, c_in) input and (c_out, c_in) weight, int32 bias (scale\n    input_scale * weight_scale, zero point 0) or None; returns the int8 (batch, c_out) output."""\n    assert input.dtype == torch.int8 and weight.dtype == torch.int8\n    assert bias is None or bias.dtype == torch.int32\n    # 1. int32 accumulator q_W (q_x - Z_x) + q_b\n    x = input.to(torch.int32) - input_zero_point\n    output = F.linear(x, weight.to(torch.int32), bias)\n    # 2. requantize by S_x S_W / S_y per output channel (weight_scale (c_out, 1) -> (1, c_out)), in float64\n    multiplier = input_scale * weight_scale.reshape(1, -1).to(torch.float64) / output_scale\n    output = output.to(torch.float64) * multiplier.to(output.device)\n    # 3. add the output zero point\n    output = output + output_zero_point\n    return output.round().clamp(*get_quantized_range(feature_bitwidth)).to(torch.int8)'),
    'quantized_conv2d': (
        'same as quantized_linear; zero padding of q_x - Z_x',
        'def quantized_conv2d(input: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor, feature_bitwidth: int,\n                     weight_bitwidth: int, input_zero_point: int, output_zero_point: int, input_scale: float,\n                     weight_scale: torch.Tensor, output_scale: float, stride=1, padding=0, dilation=1,\n                     groups=1) -> torch.Tensor:\n    """Integer 2-D convolution: int8 (batch, c_in, h, w) input, int8 (c_out, c_in / groups, kh, kw)\n    weight with scales (c_out, 1, 1, 1), int32 bias or None; returns the int8 output."""\n    assert input.dtype == torch.int8 and weight.dtype == torch.int8\n    assert bias is None or bias.dtype == torch.int32\n    # 1. int32 accumulator; subtracting Z_x first makes the zero padding the real value 0\n    x = input.to(torch.int32) - input_zero_point\n    output = F.conv2d(x, weight.to(torch.int32), bias, stride, padding, dilation, groups)\n    # 2. requantize by S_x S_W / S_y per output channel (dim 1 of the output), in float64\n    multiplier = input_scale * weight_scale.reshape(1, -1, 1, 1).to(torch.float64) / output_scale\n    output = output.to(torch.float64) * multiplier.to(output.device)\n    # 3. add the output zero point\n    output = output + output_zero_point\n    return output.round().clamp(*get_quantized_range(feature_bitwidth)).to(torch.int8)'),
    'extra_preprocess': (
        'the bit width is not a parameter (8 bits from the docstring)',
        'def extra_preprocess(x: torch.Tensor, input_scale: float, input_zero_point: int) -> torch.Tensor:\n    """Normalised float images -> int8 input of the integer-only model."""\n    return linear_quantize(x, 8, input_scale, input_zero_point, torch.int8)'),
}
