"""Catalogue of common student mistakes in Lab 1 (each must lose points) and of correct but
differently written answers (each must keep full marks).

A mutant is ``(name, [(old, new), ...])``: text replacements applied to the reference answer, so a
mutant always starts from the current solution and breaks loudly if the solution changes.
"""

LAB = "lab1_pruning"
AUTOGRADED_POINTS = 62  # the rest of the 100 are written answers, graded by hand
# the tampered submission deletes one test cell and empties (and re-points) another
TAMPER = {"delete": "test_nm_prune", "edit": "test_channel_prune"}
# the answer given an infinite loop (checks the per-cell timeout); None: covered by another lab
LOOP_ANSWER = "nm_prune"

# graded answer -> the graded answers its test cell also calls (a mutant of one of those would
# make the test fail for another reason, so such mutants are never graded in the same notebook)
DEPENDS_ON = {
    "channel_prune": {"get_num_channels_to_keep"},
    "apply_channel_sorting": {"get_input_channel_importance"},
}

# graded answer -> the test cell that grades it
TEST_OF = {
    "fine_grained_prune": "test_fine_grained_prune",
    "target_sparsity": "test_target_sparsity",
    "sparsity_dict": "test_sparsity_dict",
    "get_num_channels_to_keep": "test_get_num_channels_to_keep",
    "channel_prune": "test_channel_prune",
    "get_input_channel_importance": "test_get_input_channel_importance",
    "apply_channel_sorting": "test_apply_channel_sorting",
    "nm_prune": "test_nm_prune",
}

MUTANTS = {
    "fine_grained_prune": [
        ("signed importance (no abs)", [("importance = tensor.abs()", "importance = tensor")]),
        ("keeps the threshold weight (>=)", [("mask = importance > threshold", "mask = importance >= threshold")]),
        ("prunes the largest weights", [("mask = importance > threshold", "mask = importance <= threshold")]),
        ("truncates the number of zeros", [("num_zeros = round(num_elements * sparsity)",
                                            "num_zeros = int(num_elements * sparsity)")]),
        ("treats sparsity as density", [("round(num_elements * sparsity)", "round(num_elements * (1 - sparsity))")]),
    ],
    "target_sparsity": [
        ("density instead of sparsity", [("target_sparsity = 0.6", "target_sparsity = 0.4")]),
        ("a count instead of a fraction", [("target_sparsity = 0.6", "target_sparsity = 15")]),
        ("off by one element", [("target_sparsity = 0.6", "target_sparsity = 0.56")]),
    ],
    "sparsity_dict": [
        ("typo in a layer name", [('"backbone.conv1.weight"', '"backbone.conv1.weights"')]),
        ("not sparse enough", [('"backbone.conv5.weight": 0.85', '"backbone.conv5.weight": 0.3'),
                               ('"backbone.conv3.weight": 0.7', '"backbone.conv3.weight": 0.3')]),
        ("prunes the sensitive first layer to death", [('"backbone.conv0.weight": 0.0',
                                                        '"backbone.conv0.weight": 0.99')]),
        ("sparsity 1.0 deletes a layer", [('"backbone.conv4.weight": 0.8', '"backbone.conv4.weight": 1.0')]),
    ],
    "get_num_channels_to_keep": [
        ("returns the pruned count", [("channels * (1.0 - prune_ratio)", "channels * prune_ratio")]),
        ("truncates instead of rounding", [("int(round(channels * (1.0 - prune_ratio)))",
                                            "int(channels * (1.0 - prune_ratio))")]),
        ("rounds up", [("int(round(channels * (1.0 - prune_ratio)))",
                        "int(math.ceil(channels * (1.0 - prune_ratio)))")]),
        ("returns a float", [("int(round(channels * (1.0 - prune_ratio)))",
                              "round(channels * (1.0 - prune_ratio), 1)")]),
    ],
    "channel_prune": [
        ("keeps the last channels", [("[:n_keep]", "[-n_keep:]"), ("[:, :n_keep]", "[:, -n_keep:]")]),
        ("forgets the BatchNorm statistics", [
            ("        prev_bn.running_mean = prev_bn.running_mean[:n_keep].clone()\n", ""),
            ("        prev_bn.running_var = prev_bn.running_var[:n_keep].clone()\n", "")]),
        ("forgets the next layer", [
            ("        next_layer.weight = nn.Parameter(next_layer.weight[:, :n_keep].clone())\n", "")]),
        ("prunes the next layer's outputs", [("next_layer.weight[:, :n_keep]", "next_layer.weight[:n_keep]")]),
    ],
    "get_input_channel_importance": [
        ("L1 norm", [("torch.norm(weight.detach()[:, c])", "weight.detach()[:, c].abs().sum()")]),
        ("output channels instead of input", [("weight.detach()[:, c]", "weight.detach()[c]"),
                                              ("range(weight.shape[1])", "range(weight.shape[0])")]),
        ("squared norm", [("torch.norm(weight.detach()[:, c])", "torch.norm(weight.detach()[:, c]) ** 2")]),
    ],
    "apply_channel_sorting": [
        ("ascending order", [("descending=True", "descending=False")]),
        ("forgets the next layer", [(
            "        next_layer.weight.copy_(torch.index_select(next_layer.weight.detach(), 1, sort_idx))\n", "")]),
        ("forgets the BatchNorm", [('["weight", "bias", "running_mean", "running_var"]', "[]")]),
        ("importance of its own output channels", [("get_input_channel_importance(next_layer.weight)",
                                                    "get_input_channel_importance(prev_conv.weight.transpose(0, 1))")]),
    ],
    "nm_prune": [
        ("keeps the smallest", [("topk(n, dim=1)", "topk(n, dim=1, largest=False)")]),
        ("signed values (no abs)", [("rows.abs().reshape(-1, m)", "rows.reshape(-1, m)")]),
        ("groups across output channels", [("rows.abs().reshape(-1, m)", "rows.abs().t().reshape(-1, m)")]),
    ],
}

# Correct answers written differently from the reference: each must keep full marks.
ALTERNATIVES = {
    "fine_grained_prune": '''
def fine_grained_prune(tensor, sparsity):
    if not 0.0 <= sparsity <= 1.0:
        raise ValueError("sparsity out of range")
    num_keep = tensor.numel() - round(tensor.numel() * sparsity)
    mask = torch.zeros(tensor.numel(), dtype=torch.bool, device=tensor.device)
    if num_keep > 0:
        mask[tensor.abs().flatten().topk(num_keep).indices] = True
    mask = mask.view_as(tensor)
    tensor.mul_(mask)
    return mask
''',
    "target_sparsity": "target_sparsity = 15 / 25\n",
    "sparsity_dict": '''
sparsity_dict = {f"backbone.conv{i}.weight": s for i, s in enumerate([0.0, 0.6, 0.6, 0.7, 0.75, 0.85])}
sparsity_dict["classifier.weight"] = 0.3
''',
    "get_num_channels_to_keep": '''
def get_num_channels_to_keep(channels, prune_ratio):
    return round(channels - channels * prune_ratio)
''',
    "channel_prune": '''
@torch.no_grad()
def channel_prune(model, prune_ratio):
    ratios = prune_ratio if isinstance(prune_ratio, list) else [prune_ratio] * len(get_prunable_layers(model))
    model = copy.deepcopy(model)
    for (conv, bn, nxt), r in zip(get_prunable_layers(model), ratios):
        keep = torch.arange(get_num_channels_to_keep(conv.out_channels, r))
        conv.weight.data = conv.weight.data.index_select(0, keep)
        bn.weight.data = bn.weight.data.index_select(0, keep)
        bn.bias.data = bn.bias.data.index_select(0, keep)
        bn.running_mean = bn.running_mean.index_select(0, keep)
        bn.running_var = bn.running_var.index_select(0, keep)
        nxt.weight.data = nxt.weight.data.index_select(1, keep)
    return model
''',
    "get_input_channel_importance": '''
def get_input_channel_importance(weight):
    return weight.detach().transpose(0, 1).flatten(1).norm(dim=1)
''',
    "apply_channel_sorting": '''
@torch.no_grad()
def apply_channel_sorting(model):
    model = copy.deepcopy(model)
    for conv, bn, nxt in get_prunable_layers(model):
        order = get_input_channel_importance(nxt.weight).argsort(descending=True)
        conv.weight.data = conv.weight.data[order]
        bn.weight.data, bn.bias.data = bn.weight.data[order], bn.bias.data[order]
        bn.running_mean, bn.running_var = bn.running_mean[order], bn.running_var[order]
        nxt.weight.data = nxt.weight.data[:, order]
    return model
''',
    "nm_prune": '''
def nm_prune(tensor, n=2, m=4):
    groups = tensor.reshape(tensor.shape[0], -1).abs().reshape(-1, m)
    ranks = groups.argsort(dim=1, descending=True).argsort(dim=1)
    mask = (ranks < n).reshape(tensor.shape)
    tensor.mul_(mask)
    return mask
''',
}




# The blind pass (issue 13), written from this student notebook alone. Its fixes (the text and the tests
# it questioned) are on branch lab1-trust and not merged yet, so these answers are catalogued but
# not yet held to full marks: BLIND_NOT_YET_GRADED says why (tests/test_grading.py skips with it).
BLIND_NOT_YET_GRADED = "the fixes this blind pass asked for (text and tests) are not merged yet"
BLIND = {
    'fine_grained_prune': (
        'num_zeros == 0 not covered by the text (returns an all-True mask); ties at the threshold and round() half-to-even not stated',
        'def fine_grained_prune(tensor: torch.Tensor, sparsity: float) -> torch.Tensor:\n    \'\'\'Magnitude-based pruning of one tensor, in place.\n\n    :param tensor: weight of a conv / linear layer (any shape)\n    :param sparsity: target fraction of zeros, in [0, 1]\n    :return: the boolean mask (True = weight kept); ``tensor`` is pruned in place\n    \'\'\'\n    if not 0.0 <= sparsity <= 1.0:\n        raise ValueError(f"sparsity must be in [0, 1], got {sparsity}")\n    if sparsity == 1.0:\n        tensor.zero_()\n        return torch.zeros_like(tensor, dtype=torch.bool)\n    if sparsity == 0.0:\n        return torch.ones_like(tensor, dtype=torch.bool)\n    num_elements = tensor.numel()\n\n    # Step 1: the number of elements to remove\n    num_zeros = round(num_elements * sparsity)\n    # Step 2: importance = |W|\n    importance = tensor.abs()\n    if num_zeros == 0:  # nothing to remove (kthvalue needs k >= 1)\n        mask = torch.ones_like(tensor, dtype=torch.bool)\n    else:\n        # Step 3: the threshold is the num_zeros-th smallest importance\n        threshold = importance.reshape(-1).kthvalue(num_zeros).values\n        # Step 4: keep only the weights whose importance is strictly greater than the threshold\n        mask = importance > threshold\n\n    # Step 5: apply the mask to prune the tensor\n    tensor.mul_(mask)\n    return mask'),
    'target_sparsity': (
        '15 / 25; nothing open',
        '# keep 10 of 25 elements -> remove 15 -> sparsity 15 / 25\ntarget_sparsity = 15 / 25  # = 0.6'),
    'sparsity_dict': (
        'the visible test checks only the size; the accuracy rule the text states (<= 0.5 pt after fine-tuning) is not what the test checks',
        '# Prune the big, late convs hard and the small, early layers lightly (see the sensitivity scan and the\n# parameter counts). conv0 (288 weights) is left dense.\nsparsity_dict = {\n    "backbone.conv1.weight": 0.5,\n    "backbone.conv2.weight": 0.6,\n    "backbone.conv3.weight": 0.7,\n    "backbone.conv4.weight": 0.8,\n    "backbone.conv5.weight": 0.85,\n    "classifier.weight": 0.5,\n}'),
    'get_num_channels_to_keep': (
        'which quantity is rounded (kept or pruned) and whether to clamp to >= 1 are not stated',
        "def get_num_channels_to_keep(channels: int, prune_ratio: float) -> int:\n    '''Number of channels to KEEP when pruning a fraction ``prune_ratio`` of ``channels``.'''\n    return int(round(channels * (1 - prune_ratio)))"),
    'channel_prune': (
        'a conv bias sliced if present; nothing else open',
        '@torch.no_grad()\ndef channel_prune(model: VGG, prune_ratio) -> VGG:\n    \'\'\'Return a copy of ``model`` with the output channels of every conv pruned.\n\n    :param prune_ratio: one float for all convs, or a list with one ratio per conv\n    \'\'\'\n    layers = get_prunable_layers(model)\n    if isinstance(prune_ratio, (int, float)):\n        prune_ratio = [float(prune_ratio)] * len(layers)\n    if len(prune_ratio) != len(layers) or not all(0.0 <= r < 1.0 for r in prune_ratio):\n        raise ValueError(f"need one prune ratio in [0, 1) per conv ({len(layers)}), got {prune_ratio}")\n\n    model = copy.deepcopy(model)  # do not modify the original\n    for (prev_conv, prev_bn, next_layer), ratio in zip(get_prunable_layers(model), prune_ratio):\n        n_keep = get_num_channels_to_keep(prev_conv.out_channels, ratio)\n        # output channels of the conv (and its bias, if it has one)\n        prev_conv.weight = nn.Parameter(prev_conv.weight.detach()[:n_keep].clone())\n        if prev_conv.bias is not None:\n            prev_conv.bias = nn.Parameter(prev_conv.bias.detach()[:n_keep].clone())\n        # the BatchNorm\'s four per-channel tensors\n        prev_bn.weight = nn.Parameter(prev_bn.weight.detach()[:n_keep].clone())\n        prev_bn.bias = nn.Parameter(prev_bn.bias.detach()[:n_keep].clone())\n        prev_bn.running_mean = prev_bn.running_mean[:n_keep].clone()\n        prev_bn.running_var = prev_bn.running_var[:n_keep].clone()\n        # input channels of the next layer (dim 1 for both a conv and a linear weight)\n        next_layer.weight = nn.Parameter(next_layer.weight.detach()[:, :n_keep].clone())\n        # keep the layers\' bookkeeping in step with their new shapes (given)\n        prev_conv.out_channels = prev_bn.num_features = n_keep\n        if isinstance(next_layer, nn.Conv2d):\n            next_layer.in_channels = n_keep\n        else:\n            next_layer.in_features = n_keep\n    return model'),
    'get_input_channel_importance': (
        'detached or not is not stated',
        "def get_input_channel_importance(weight: torch.Tensor) -> torch.Tensor:\n    '''Frobenius norm of each input-channel slice ``weight[:, c]``; returns shape (c_in,).'''\n    c_in = weight.shape[1]\n    # Frobenius norm of each slice weight[:, c] = L2 norm of all its elements\n    return weight.detach().transpose(0, 1).reshape(c_in, -1).norm(p=2, dim=1)"),
    'apply_channel_sorting': (
        'tie-breaking not stated (stable sort chosen)',
        "@torch.no_grad()\ndef apply_channel_sorting(model: VGG) -> VGG:\n    '''Return a copy of ``model`` whose conv output channels are sorted by importance (descending).'''\n    model = copy.deepcopy(model)  # do not modify the original\n    for prev_conv, prev_bn, next_layer in get_prunable_layers(model):\n        importance = get_input_channel_importance(next_layer.weight)\n        # largest first; stable so that ties keep their original order\n        order = torch.argsort(importance, descending=True, stable=True)\n        # output channels of the conv (and its bias, if any)\n        prev_conv.weight.copy_(torch.index_select(prev_conv.weight.detach(), 0, order))\n        if prev_conv.bias is not None:\n            prev_conv.bias.copy_(torch.index_select(prev_conv.bias.detach(), 0, order))\n        # the BatchNorm's four per-channel tensors\n        for t in (prev_bn.weight, prev_bn.bias, prev_bn.running_mean, prev_bn.running_var):\n            t.copy_(torch.index_select(t.detach(), 0, order))\n        # input channels of the next layer (conv or classifier: dim 1 for both)\n        next_layer.weight.copy_(torch.index_select(next_layer.weight.detach(), 1, order))\n    return model"),
    'nm_prune': (
        'the prose says groups along the input dimension, the explicit reshape groups flattened (c_in, kh, kw) entries: it followed the reshape',
        'def nm_prune(tensor: torch.Tensor, n: int = 2, m: int = 4) -> torch.Tensor:\n    \'\'\'Keep the ``n`` largest-magnitude weights in every group of ``m`` consecutive weights along\n    each output channel\'s row; prune in place and return the boolean mask.\'\'\'\n    if not 0 < n <= m:\n        raise ValueError(f"need 0 < n <= m, got n={n}, m={m}")\n    rows = tensor.reshape(tensor.shape[0], -1)\n    if rows.shape[1] % m:\n        raise ValueError(f"row length {rows.shape[1]} of a {tuple(tensor.shape)} weight is not a multiple of m={m}")\n    groups = rows.abs().reshape(rows.shape[0], -1, m)  # (c_out, row_len / m, m) importances\n    # indices of the n largest magnitudes in each group (stable: ties keep the earlier weight)\n    keep = torch.argsort(groups, dim=-1, descending=True, stable=True)[..., :n]\n    mask = torch.zeros_like(groups, dtype=torch.bool)\n    mask.scatter_(-1, keep, True)\n    mask = mask.reshape(tensor.shape)\n    tensor.mul_(mask)\n    return mask'),
}
