"""Lab 2's mistakes (each must lose points) and other correct answers (each keeps full marks); what
each constant holds: :class:`grading.catalogue.Catalogue`."""

LAB = "lab2_quantization"
AUTOGRADED_POINTS = 80  # the rest of the 100 are written answers, graded by hand
TAMPER = {"delete": "test_update_codebook", "edit": "test_quantized_conv2d"}
LOOP_ANSWER = None
# the heavy given cells (seconds: one fast-profile run, one thread) that the mutant rounds leave out: no
# graded test needs them (the trimmed reference keeps full marks, tests/test_grading.py)
TRIMMED_CELLS = (
    "55bbf929",  # 2.1 s the dataloaders
    "e44c1c46",  # 9.2 s k-means quantization of the VGG at 8, 4, 2 bits
    "483ad170",  # 16.9 s  and its quantization-aware fine-tuning
    "43095f17",  # 2.5 s per-channel linear quantization of the VGG
    "2effb62a",  # 4.1 s folding BatchNorm, calibration
    "81c18d4e",  # 19.1 s the integer-only VGG on the test images
    "3eca5663",  # 0.0 s the summary table (reads the cells above)
    "c9d0e1f2",  # 0.3 s  and its figure
)

_RANGE_AND_QUANTIZE = {"get_quantized_range", "linear_quantize"}

# graded answer -> the graded answers its test cell also calls (a mutant of one of those would
# make the test fail for another reason, so such mutants are never graded in the same notebook)
DEPENDS_ON = {
    "num_colors": {"k_means_quantize"},
    "linear_quantize": {"get_quantized_range"},
    "get_quantization_scale_and_zero_point": _RANGE_AND_QUANTIZE,
    "linear_quantize_weight_per_channel": _RANGE_AND_QUANTIZE,
    "linear_quantize_bias_per_output_channel": _RANGE_AND_QUANTIZE,
    "shift_quantized_bias": set(),
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
    "shift_quantized_bias": "test_shift_quantized_bias",
    "quantized_linear": "test_quantized_linear",
    "quantized_conv2d": "test_quantized_conv2d",
    "extra_preprocess": "test_extra_preprocess",
}


# MUTANTS: lab2_quantization.toml, beside this file

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
    "shift_quantized_bias": '''
def shift_quantized_bias(quantized_bias, quantized_weight, input_zero_point):
    sums = torch.stack([w.to(torch.int64).sum() for w in quantized_weight])  # one sum per output channel
    return (quantized_bias.to(torch.int64) - sums * input_zero_point).to(torch.int32)
''',
    "quantized_linear": '''
def quantized_linear(input, weight, bias, feature_bitwidth, weight_bitwidth, input_zero_point, output_zero_point,
                     input_scale, weight_scale, output_scale):
    acc = input.to(torch.int32) @ weight.to(torch.int32).t()
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
    x = F.pad(input.double(), (pw, pw, ph, ph), value=float(input_zero_point))
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


# Answers written from the student notebook alone (a blind helper who never saw solutions/ or the
# tests), exactly as written: each must keep full marks. {grade_id: (what it revealed, source)}
BLIND = {
    'k_means_quantize': (
        'full marks. Ambiguity: with a given codebook, decode its labels or re-assign the tensor to the '
        'nearest centroid? It decoded the labels (the reference). The Q1 text now says so: the tensor is '
        'decoded from the given labels and centroids, whatever values it held.',
        '''
def k_means_quantize(fp32_tensor: torch.Tensor, bitwidth: int = 4, codebook: Codebook = None) -> Codebook:
    """K-means (weight-sharing) quantization of one tensor, in place.

    :param fp32_tensor: the weights (any shape); overwritten with their quantized values
    :param bitwidth: bits per weight index, in [1, 8]
    :param codebook: a Codebook(centroids, labels) to reuse instead of clustering again
    :return: the Codebook (centroids, labels)
    """
    check_bitwidth(bitwidth, 1, 8)
    if codebook is None:
        n_clusters = 2 ** bitwidth  # an index of `bitwidth` bits addresses 2^bitwidth clusters
        codebook = kmeans(fp32_tensor, n_clusters)  # given: Lloyd's algorithm in torch
    quantized_tensor = codebook.centroids[codebook.labels]  # decode: table lookup
    fp32_tensor.copy_(quantized_tensor.view_as(fp32_tensor))
    return codebook
'''),
    'num_colors': (
        "full marks; nothing wrong in the answer. It showed that the question's answer was on screen before "
        "the question: the example cell plotted the 4-bit matrix with '16 distinct values' in its title. The "
        "example cell now plots 1 and 2 bits only; the 4-bit plot follows the question's test cell.",
        '''
num_colors_4bit = 16  # 2^4 clusters, and the 25 distinct values are enough to use all of them


def num_colors(bitwidth: int) -> int:
    """Distinct values after n-bit k-means of a tensor with many more distinct values than 2^n."""
    return 2 ** bitwidth
'''),
    'update_codebook': (
        "full marks; nothing (it computed the mean in the tensor's dtype and cast it to the centroids' dtype, "
        'and checked the empty-cluster rule itself).',
        '''
@torch.no_grad()
def update_codebook(fp32_tensor: torch.Tensor, codebook: Codebook) -> None:
    """Move every centroid to the mean of the weights of its cluster (in place; labels unchanged)."""
    n_clusters = codebook.centroids.numel()
    fp32_tensor = fp32_tensor.reshape(-1)
    labels = codebook.labels.reshape(-1).to(fp32_tensor.device)
    centroids = codebook.centroids
    sums = torch.zeros(n_clusters, dtype=fp32_tensor.dtype, device=fp32_tensor.device).index_add_(0, labels, fp32_tensor)
    counts = torch.bincount(labels, minlength=n_clusters)
    used = counts > 0  # a cluster without weights keeps its centroid
    means = (sums / counts.clamp_min(1).to(sums.dtype)).to(device=centroids.device, dtype=centroids.dtype)
    centroids[used.to(centroids.device)] = means[used.to(centroids.device)]
'''),
    'get_quantized_range': (
        'full marks; nothing.',
        '''
def get_quantized_range(bitwidth: int) -> tuple:
    """(q_min, q_max) of a signed bitwidth-bit integer."""
    check_bitwidth(bitwidth, 1, 32)
    quantized_max = (1 << (bitwidth - 1)) - 1
    quantized_min = -(1 << (bitwidth - 1))
    return quantized_min, quantized_max
'''),
    'linear_quantize': (
        'full marks. Ambiguity: how ties round. It kept torch.round (halves to even), as the text names it; '
        "the text now says 'torch.round: halves to even'.",
        '''
def linear_quantize(fp_tensor: torch.Tensor, bitwidth: int, scale, zero_point,
                    dtype=torch.int8) -> torch.Tensor:
    """q = clamp(round(r / S) + Z, q_min, q_max), returned as ``dtype``."""
    if not fp_tensor.is_floating_point():
        raise TypeError(f"linear_quantize expects a floating-point tensor, got {fp_tensor.dtype}")
    quantized_min, quantized_max = get_quantized_range(bitwidth)
    scaled_tensor = fp_tensor / scale                     # 1. scale
    rounded_tensor = torch.round(scaled_tensor)           # 2. round to the nearest integer
    shifted_tensor = rounded_tensor + zero_point          # 3. shift by the zero point
    quantized_tensor = shifted_tensor.clamp(quantized_min, quantized_max)  # 4. clamp (before the dtype cast)
    return quantized_tensor.to(dtype)
'''),
    'get_quantization_scale_and_zero_point': (
        'full marks. Ambiguities: clip then round or round then clip, Python round vs floor(x + 0.5), Z from '
        "r_min or from r_max. The text now says Z = q_min - r_min / S, Python's round, and that clipping and "
        "rounding commute with integer bounds (the catalogue's alternative, from r_max, also keeps full "
        'marks).',
        '''
def get_quantization_scale_and_zero_point(fp_tensor: torch.Tensor, bitwidth: int) -> tuple:
    """(scale, zero_point) of asymmetric linear quantization over the range of ``fp_tensor``."""
    if fp_tensor.numel() == 0:
        raise ValueError("cannot compute a scale and zero point for an empty tensor")
    quantized_min, quantized_max = get_quantized_range(bitwidth)
    fp_min, fp_max = fp_tensor.min().item(), fp_tensor.max().item()
    if fp_min == fp_max:  # zero range: widen it to include 0 (then 0 and the value are both exact)
        fp_min, fp_max = min(fp_min, 0.0), max(fp_max, 0.0)
        if fp_min == fp_max:  # all zeros: any scale represents them exactly
            return 1.0, 0
    scale = (fp_max - fp_min) / (quantized_max - quantized_min)
    zero_point = quantized_min - fp_min / scale
    zero_point = min(max(zero_point, quantized_min), quantized_max)  # clip to [q_min, q_max]
    zero_point = round(zero_point)  # to the nearest integer
    return float(scale), int(zero_point)
'''),
    'linear_quantize_weight_per_channel': (
        "full marks. Main ambiguity: '5e-7 for a channel of zeros' read as exactly-zero channels only "
        '(torch.where), where the reference floors every channel (clamp_min). They differ only for a channel '
        'whose weights are all below 5e-7, which no test uses. Widened in the text: both readings are '
        'accepted and the text says so.',
        '''
def linear_quantize_weight_per_channel(tensor: torch.Tensor, bitwidth: int) -> tuple:
    """Symmetric linear quantization with one scale per output channel.

    :return: (int8 tensor, scale shaped (c_out, 1, ..., 1), zero point 0)
    """
    _, quantized_max = get_quantized_range(bitwidth)
    c_out = tensor.shape[0]
    fp_max = tensor.detach().abs().reshape(c_out, -1).amax(dim=1)  # |W_c|_max per output channel
    fp_max = torch.where(fp_max == 0, torch.full_like(fp_max, 5e-7), fp_max)  # a channel of zeros
    scale = (fp_max / quantized_max).view(c_out, *([1] * (tensor.dim() - 1)))
    quantized_tensor = linear_quantize(tensor.detach(), bitwidth, scale, zero_point=0)
    return quantized_tensor, scale, 0
'''),
    'linear_quantize_bias_per_output_channel': (
        "full marks. Ambiguity: 'quantized to int32' as a 32-bit clamp or no clamp (and 2^31 - 1 is not a "
        'float32). It used bitwidth 32. The text now says: linear_quantize with bitwidth 32 and '
        'dtype=torch.int32, and that the biases here are far from the int32 limits.',
        '''
def linear_quantize_bias_per_output_channel(bias: torch.Tensor, weight_scale: torch.Tensor,
                                            input_scale: float) -> tuple:
    """:return: (int32 bias, bias scale of shape (c_out,), zero point 0)"""
    assert bias.dim() == 1 and bias.numel() == weight_scale.numel()
    bias_scale = weight_scale.reshape(-1) * input_scale  # S_b = S_W S_x, one per output channel
    quantized_bias = linear_quantize(bias.detach(), 32, bias_scale.to(bias.device), 0, torch.int32)
    return quantized_bias, bias_scale, 0
'''),
    'extra_preprocess': (
        'full marks. Ambiguity: the signature has no bit width; it used 8 bits from the docstring. The text '
        'of 12.1 now says 8-bit (int8) input.',
        '''
def extra_preprocess(x: torch.Tensor, input_scale: float, input_zero_point: int) -> torch.Tensor:
    """Normalised float images -> int8 input of the integer-only model."""
    return linear_quantize(x, 8, input_scale, input_zero_point, torch.int8)
'''),
}

# First-pass blind answers written for the old text of the questions rewritten by issue 13 (the
# zero-point-folded bias): kept for the record, not graded; the second pass below replaces them.
BLIND_SUPERSEDED = {
    'quantized_linear': '''
def quantized_linear(input: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor, feature_bitwidth: int,
                     weight_bitwidth: int, input_zero_point: int, output_zero_point: int, input_scale: float,
                     weight_scale: torch.Tensor, output_scale: float) -> torch.Tensor:
    """Integer linear layer: int8 (batch, c_in) input and (c_out, c_in) weight, int32 bias (scale
    input_scale * weight_scale, zero point 0) or None; returns the int8 (batch, c_out) output."""
    assert input.dtype == torch.int8 and weight.dtype == torch.int8
    assert bias is None or bias.dtype == torch.int32
    # 1. int32 accumulator q_W (q_x - Z_x) + q_b
    x = input.to(torch.int32) - input_zero_point
    output = F.linear(x, weight.to(torch.int32), bias)
    # 2. requantize by S_x S_W / S_y per output channel (weight_scale (c_out, 1) -> (1, c_out)), in float64
    multiplier = input_scale * weight_scale.reshape(1, -1).to(torch.float64) / output_scale
    output = output.to(torch.float64) * multiplier.to(output.device)
    # 3. add the output zero point
    output = output + output_zero_point
    return output.round().clamp(*get_quantized_range(feature_bitwidth)).to(torch.int8)
''',
    'quantized_conv2d': '''
def quantized_conv2d(input: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor, feature_bitwidth: int,
                     weight_bitwidth: int, input_zero_point: int, output_zero_point: int, input_scale: float,
                     weight_scale: torch.Tensor, output_scale: float, stride=1, padding=0, dilation=1,
                     groups=1) -> torch.Tensor:
    """Integer 2-D convolution: int8 (batch, c_in, h, w) input, int8 (c_out, c_in / groups, kh, kw)
    weight with scales (c_out, 1, 1, 1), int32 bias or None; returns the int8 output."""
    assert input.dtype == torch.int8 and weight.dtype == torch.int8
    assert bias is None or bias.dtype == torch.int32
    # 1. int32 accumulator; subtracting Z_x first makes the zero padding the real value 0
    x = input.to(torch.int32) - input_zero_point
    output = F.conv2d(x, weight.to(torch.int32), bias, stride, padding, dilation, groups)
    # 2. requantize by S_x S_W / S_y per output channel (dim 1 of the output), in float64
    multiplier = input_scale * weight_scale.reshape(1, -1, 1, 1).to(torch.float64) / output_scale
    output = output.to(torch.float64) * multiplier.to(output.device)
    # 3. add the output zero point
    output = output + output_zero_point
    return output.round().clamp(*get_quantized_range(feature_bitwidth)).to(torch.int8)
''',
}


# Second blind pass (issue 13): written from the student notebook as rewritten, by a helper who saw
# nothing else. It replaces the first pass for these answers; the first-pass answers stay in
# BLIND_SUPERSEDED for the record (written against the old text, not graded).
BLIND.update({
    'shift_quantized_bias': (
        'second pass on the rewritten text (Q9.2, new): int64 accumulation then int32; asked what happens outside the int32 range (not reached here) and whether Z_x may be a tensor; nothing else open',
        'def shift_quantized_bias(quantized_bias: torch.Tensor, quantized_weight: torch.Tensor,\n                         input_zero_point: int) -> torch.Tensor:\n    """Fold the input zero point into the int32 bias (offline, once per layer):\n    Q_bias = q_b - Z_x * (sum of q_W over every dim but the output channel\'s)."""\n    assert quantized_bias.dtype == torch.int32 and quantized_weight.dtype == torch.int8\n    assert quantized_bias.shape == (quantized_weight.shape[0],)\n    weight_sum = quantized_weight.to(torch.int64).reshape(quantized_weight.shape[0], -1).sum(dim=1)\n    return (quantized_bias.to(torch.int64) - int(input_zero_point) * weight_sum).to(torch.int32)'),
    'quantized_linear': (
        'second pass on the rewritten text (folded bias, int8 x int8): requantized in float64 (the text allows float32 or float64); built S_x*S_W/S_y first; full marks expected under the new text',
        'def quantized_linear(input: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor, feature_bitwidth: int,\n                     weight_bitwidth: int, input_zero_point: int, output_zero_point: int, input_scale: float,\n                     weight_scale: torch.Tensor, output_scale: float) -> torch.Tensor:\n    """Integer linear layer: int8 (batch, c_in) input and (c_out, c_in) weight, int32 folded bias\n    Q_bias = q_b - Z_x sum(q_W) (question 9.2) or None; returns the int8 (batch, c_out) output."""\n    assert input.dtype == torch.int8 and weight.dtype == torch.int8\n    assert bias is None or bias.dtype == torch.int32\n    # 1. int32 accumulator q_W q_x + Q_bias (the input zero point is already in Q_bias)\n    accumulator = F.linear(input.to(torch.int32), weight.to(torch.int32), bias)\n    # 2. requantize with S_x S_W / S_y per output channel (float64)\n    factor = input_scale * weight_scale.detach().to(torch.float64).reshape(1, -1) / output_scale\n    output = accumulator.to(torch.float64) * factor\n    # 3. output zero point\n    output = output + output_zero_point\n    return output.round().clamp(*get_quantized_range(feature_bitwidth)).to(torch.int8)'),
    'quantized_conv2d': (
        'second pass on the rewritten text: pads with Z_x via F.pad then convolves with padding 0; float64 requantization; noted that dilation != 1 is not checked',
        'def quantized_conv2d(input: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor, feature_bitwidth: int,\n                     weight_bitwidth: int, input_zero_point: int, output_zero_point: int, input_scale: float,\n                     weight_scale: torch.Tensor, output_scale: float, stride=1, padding=0, dilation=1,\n                     groups=1) -> torch.Tensor:\n    """Integer 2-D convolution: int8 (batch, c_in, h, w) input, int8 (c_out, c_in / groups, kh, kw)\n    weight with scales (c_out, 1, 1, 1), int32 folded bias Q_bias (question 9.2) or None; returns the\n    int8 output."""\n    assert input.dtype == torch.int8 and weight.dtype == torch.int8\n    assert bias is None or bias.dtype == torch.int32\n    padding_h, padding_w = (padding, padding) if isinstance(padding, int) else padding\n    # pad the int32 input with Z_x (the real 0), then convolve without padding\n    x = F.pad(input.to(torch.int32), (padding_w, padding_w, padding_h, padding_h), value=input_zero_point)\n    accumulator = F.conv2d(x, weight.to(torch.int32), bias, stride, 0, dilation, groups)\n    # requantize per output channel (dim 1), in float64\n    factor = input_scale * weight_scale.detach().to(torch.float64).reshape(1, -1, 1, 1) / output_scale\n    output = accumulator.to(torch.float64) * factor + output_zero_point\n    return output.round().clamp(*get_quantized_range(feature_bitwidth)).to(torch.int8)'),
})
