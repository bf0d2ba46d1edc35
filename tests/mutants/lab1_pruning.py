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
