"""Catalogue of common student mistakes in Lab 4 (each must lose points) and of correct but
differently written answers (each must keep full marks).

A mutant is ``(name, [(old, new), ...])``: text replacements applied to the reference answer, so a
mutant always starts from the current solution and breaks loudly if the solution changes.
"""

LAB = "lab4_llm_compression"
AUTOGRADED_POINTS = 90  # 80 + the 10-point bonus; the other 20 of the 100 are written answers
BONUS_POINTS = 10
# the tampered submission deletes one test cell and empties (and re-points) another
TAMPER = {"delete": "test_auto_clip_layer", "edit": "test_pseudo_quantize_model_weight_scaleup"}
# the answer given an infinite loop (checks the per-cell timeout); None: covered by another lab
LOOP_ANSWER = None

_Q = {"pseudo_quantize_tensor"}
# graded answer -> the graded answers its test cell also calls (a mutant of one of those would
# make the test fail for another reason, so such mutants are never graded in the same notebook)
DEPENDS_ON = {
    "pseudo_quantize_model_salient_weight_fp16": _Q,
    "pseudo_quantize_model_random_weight_fp16": _Q,
    "pseudo_quantize_model_weight_scaleup": _Q,
    "_search_module_scale": _Q,
    "auto_scale_block": _Q | {"_search_module_scale"},
    "auto_clip_layer": _Q,
}

# graded answer -> the test cell that grades it
TEST_OF = {
    "pseudo_quantize_tensor": "test_pseudo_quantize_tensor",
    "pseudo_quantize_model_salient_weight_fp16": "test_pseudo_quantize_model_salient_weight_fp16",
    "pseudo_quantize_model_random_weight_fp16": "test_pseudo_quantize_model_random_weight_fp16",
    "pseudo_quantize_model_weight_scaleup": "test_pseudo_quantize_model_weight_scaleup",
    "_search_module_scale": "test_search_module_scale",
    "auto_scale_block": "test_auto_scale_block",
    "auto_clip_layer": "test_auto_clip_layer",
}

_SALIENT_TOPK = "outlier_indices = torch.topk(importance, n_keep).indices"

MUTANTS = {
    "pseudo_quantize_tensor": [
        ("symmetric: no zero point", [("zeros = (-torch.round(min_val / scales)).clamp(0, max_int)",
                                       "zeros = torch.zeros_like(min_val)")]),
        ("2^n steps instead of 2^n - 1", [("max_int = 2 ** n_bit - 1", "max_int = 2 ** n_bit")]),
        ("ignores the group size (one group per row)", [("        w = w.reshape(-1, q_group_size)\n",
                                                         "        w = w.reshape(-1, org_shape[-1])\n")]),
    ],
    "pseudo_quantize_model_salient_weight_fp16": [
        ("keeps the least active channels", [
            (_SALIENT_TOPK, "outlier_indices = torch.topk(importance, n_keep, largest=False).indices")]),
        ("keeps output rows instead of input columns", [
            ("salient = module.weight.data[:, outlier_indices].clone()",
             "salient = module.weight.data[outlier_indices % module.weight.shape[0]].clone()"),
            ("module.weight.data[:, outlier_indices] = salient",
             "module.weight.data[outlier_indices % module.weight.shape[0]] = salient")]),
        ("salience by weight magnitude", [(_SALIENT_TOPK, "outlier_indices = torch.topk(module.weight.abs().mean(0), "
                                                          "n_keep).indices")]),
        ("keeps 10 % instead of 1 %", [("n_keep = max(1, int(frac * importance.numel()))",
                                        "n_keep = max(1, int(10 * frac * importance.numel()))")]),
        ("forgets to put the salient weights back", [("module.weight.data[:, outlier_indices] = salient", "pass")]),
    ],
    "pseudo_quantize_model_random_weight_fp16": [
        ("the global RNG instead of the seeded generator", [
            ("torch.randperm(importance.numel(), generator=generator)", "torch.randperm(importance.numel())")]),
        ("keeps the most active channels (not random)", [
            ("random_indices = torch.randperm(importance.numel(), generator=generator)[:n_keep]",
             "random_indices = torch.topk(importance, n_keep).indices")]),
        ("forgets to put the kept weights back", [("module.weight.data[:, random_indices] = kept", "pass")]),
        ("a fresh generator per layer", [("torch.randperm(importance.numel(), generator=generator)",
                                          "torch.randperm(importance.numel(), generator=torch.Generator()"
                                          ".manual_seed(seed))")]),
    ],
    "pseudo_quantize_model_weight_scaleup": [
        ("forgets to scale back", [("module.weight.data[:, outlier_indices] /= scale_factor", "pass")]),
        ("divides first, multiplies after", [
            ("module.weight.data[:, outlier_indices] *= scale_factor", "module.weight.data[:, outlier_indices] /= "
                                                                       "scale_factor"),
            ("module.weight.data[:, outlier_indices] /= scale_factor", "module.weight.data[:, outlier_indices] *= "
                                                                       "scale_factor")]),
        ("scales every channel", [("module.weight.data[:, outlier_indices] *= scale_factor",
                                   "module.weight.data *= scale_factor"),
                                  ("module.weight.data[:, outlier_indices] /= scale_factor",
                                   "module.weight.data /= scale_factor")]),
        ("scales the least active channels", [("torch.topk(importance, n_keep).indices",
                                               "torch.topk(importance, n_keep, largest=False).indices")]),
    ],
    "_search_module_scale": [
        ("forgets to divide by the scales", [
            ("pseudo_quantize_tensor(w * scales.view(1, -1), w_bit, q_group_size) / scales.view(1, -1)",
             "pseudo_quantize_tensor(w * scales.view(1, -1), w_bit, q_group_size)")]),
        ("does not restore the weights", [("            fc.weight.data = w.clone()\n", "            pass\n")]),
        ("grid starts at 1/n_grid (no alpha = 0)", [("alpha = ratio / n_grid", "alpha = (ratio + 1) / n_grid")]),
        ("keeps the last candidate, not the best", [("if error < best_error:", "if True:")]),
    ],
    "auto_scale_block": [
        ("o_proj scales not tied across query heads", [
            ("                    tie_scales=share_across_kv_heads(attn.config))", ")")]),
        ("gate/up scales folded into the attention norm", [
            ('scales_list.append(("post_attention_layernorm", ("mlp.gate_proj", "mlp.up_proj"), scales))',
             'scales_list.append(("input_layernorm", ("mlp.gate_proj", "mlp.up_proj"), scales))')]),
        ("down_proj scales folded into gate_proj", [
            ('scales_list.append(("mlp.up_proj", ("mlp.down_proj",), scales))',
             'scales_list.append(("mlp.gate_proj", ("mlp.down_proj",), scales))')]),
    ],
    "auto_clip_layer": [
        ("keeps the worst threshold", [("better = error < min_error", "better = error > min_error")]),
        ("no quantization inside the search", [
            ("q = pseudo_quantize_tensor(torch.clamp(wg, -max_val, max_val), n_bit, q_group_size)",
             "q = torch.clamp(wg, -max_val, max_val)")]),
        ("error on the weights, not the outputs", [
            ("error = (x @ q.transpose(1, 2) - original_out).pow(2).mean(dim=1).unsqueeze(-1)",
             "error = (q - wg).pow(2).mean(dim=-1, keepdim=True)")]),
        ("returns the shrink ratio", [("best_max_val[better] = max_val[better]",
                                       "best_max_val[better] = (max_val / original_max)[better]")]),
    ],
}

# Correct answers written differently from the reference: each must keep full marks.
ALTERNATIVES = {
    "pseudo_quantize_tensor": '''
def pseudo_quantize_tensor(w, n_bit=4, q_group_size=-1):
    rows = w.shape[-1] if q_group_size <= 0 else q_group_size
    if w.shape[-1] % rows:
        raise ValueError("the group size must divide the number of input channels")
    groups = w.detach().clone().view(-1, rows)
    lo, hi = groups.min(dim=1, keepdim=True).values, groups.max(dim=1, keepdim=True).values
    levels = (1 << n_bit) - 1
    step = torch.clamp(hi - lo, min=1e-5) / levels
    zero = torch.clamp(torch.round(-lo / step), 0, levels)
    codes = torch.round(groups / step).add(zero).clamp(0, levels)
    return codes.sub(zero).mul(step).view_as(w)
''',
    "pseudo_quantize_model_salient_weight_fp16": '''
@torch.no_grad()
def pseudo_quantize_model_salient_weight_fp16(model, w_bit, q_group_size, input_feat, frac=0.01):
    for name, module in named_block_linears(model).items():
        importance = input_feat[name]
        order = torch.argsort(importance, descending=True)
        keep = order[: max(1, int(frac * len(importance)))]
        original = module.weight.detach().clone()
        quantized = pseudo_quantize_tensor(original, w_bit, q_group_size)
        quantized[:, keep] = original[:, keep]
        module.weight.copy_(quantized)
    return model
''',
    "pseudo_quantize_model_random_weight_fp16": '''
@torch.no_grad()
def pseudo_quantize_model_random_weight_fp16(model, w_bit, q_group_size, input_feat, frac=0.01, seed=0):
    generator = torch.Generator().manual_seed(seed)
    for name, module in named_block_linears(model).items():
        n = input_feat[name].numel()
        chosen = torch.randperm(n, generator=generator)[: max(1, int(frac * n))]
        mask = torch.zeros(n, dtype=torch.bool)
        mask[chosen] = True
        quantized = pseudo_quantize_tensor(module.weight.data, w_bit, q_group_size)
        module.weight.data = torch.where(mask.view(1, -1), module.weight.data, quantized)
    return model
''',
    "pseudo_quantize_model_weight_scaleup": '''
@torch.no_grad()
def pseudo_quantize_model_weight_scaleup(model, w_bit, q_group_size, input_feat, scale_factor, frac=0.01):
    for name, module in named_block_linears(model).items():
        importance = input_feat[name]
        k = max(1, int(frac * importance.numel()))
        s = torch.ones_like(importance)
        s[importance.argsort(descending=True)[:k]] = scale_factor
        module.weight.data = pseudo_quantize_tensor(module.weight.data * s, w_bit, q_group_size) / s
    return model
''',
    "_search_module_scale": '''
@torch.no_grad()
def _search_module_scale(block, linears2scale, x, kwargs={}, w_bit=4, q_group_size=64, n_grid=20,
                         tie_scales=None):
    reference = first_output(block(x, **kwargs))
    mean_abs = x.abs().flatten(0, -2).mean(dim=0)
    saved = {fc: fc.weight.detach().clone() for fc in linears2scale}
    candidates = []
    for alpha in [i / n_grid for i in range(n_grid)]:
        s = torch.clamp(mean_abs ** alpha, min=1e-4)
        if tie_scales:
            s = tie_scales(s)
        s = s / torch.sqrt(s.max() * s.min())
        for fc in linears2scale:
            fc.weight.copy_(pseudo_quantize_tensor(saved[fc] * s, w_bit, q_group_size) / s)
        candidates.append((torch.mean((first_output(block(x, **kwargs)) - reference) ** 2).item(), alpha, s))
        for fc in linears2scale:
            fc.weight.copy_(saved[fc])
    return min(candidates, key=lambda c: (c[0], c[1]))[2]
''',
    "auto_scale_block": '''
@torch.no_grad()
def auto_scale_block(block, input_feat, kwargs, w_bit, q_group_size, n_grid=20):
    a, m = block.self_attn, block.mlp
    def find(module, layers, name, kw={}, tie=None):
        return _search_module_scale(module, layers, input_feat[name], kw, w_bit, q_group_size, n_grid, tie)
    return [
        ("input_layernorm", ("self_attn.q_proj", "self_attn.k_proj", "self_attn.v_proj"),
         find(a, [a.q_proj, a.k_proj, a.v_proj], "self_attn.k_proj", kwargs)),
        ("self_attn.v_proj", ("self_attn.o_proj",),
         find(a.o_proj, [a.o_proj], "self_attn.o_proj", tie=share_across_kv_heads(block.self_attn.config))),
        ("post_attention_layernorm", ("mlp.gate_proj", "mlp.up_proj"),
         find(m, [m.gate_proj, m.up_proj], "mlp.up_proj")),
        ("mlp.up_proj", ("mlp.down_proj",), find(m.down_proj, [m.down_proj], "mlp.down_proj")),
    ]
''',
    "auto_clip_layer": '''
@torch.no_grad()
def auto_clip_layer(w, input_feat, n_bit, q_group_size, n_grid=20, max_shrink=0.5, n_sample_token=512):
    x = input_feat.reshape(-1, input_feat.shape[-1])
    x = x[:: max(1, x.shape[0] // n_sample_token)][:n_sample_token]
    out_features, n_groups = w.shape[0], w.shape[1] // q_group_size
    xg = x.reshape(-1, n_groups, q_group_size)                         # (tokens, groups, g)
    wg = w.reshape(out_features, n_groups, q_group_size)                # (out, groups, g)
    reference = torch.einsum("tgk,ogk->otg", xg, wg)
    top = wg.abs().amax(dim=-1)                                          # (out, groups)
    best, best_err = top.clone(), torch.full_like(top, float("inf"))
    for i in range(int(max_shrink * n_grid)):
        t = top * (1 - i / n_grid)
        clipped = torch.maximum(torch.minimum(wg, t[..., None]), -t[..., None])
        q = pseudo_quantize_tensor(clipped.reshape_as(w), n_bit, q_group_size).reshape_as(wg)
        err = (torch.einsum("tgk,ogk->otg", xg, q) - reference).pow(2).mean(dim=1)
        improved = err < best_err
        best = torch.where(improved, t, best)
        best_err = torch.where(improved, err, best_err)
    return best
''',
}


# The blind pass (issue 13), written from this student notebook alone. Its fixes (the text and the tests
# it questioned) are on branch lab4-trust and not merged yet (its full-profile rerun did not fit in the
# session), so these answers are catalogued but not yet held to full marks.
BLIND_NOT_YET_GRADED = "the fixes this blind pass asked for (text and tests) are not merged yet"
BLIND = {
    'pseudo_quantize_tensor': (
        "0/15 before (and it made the clipping test score 0/10: it rejects non-2-D input, and the hidden _ref_clip handed the quantizer a 4-D tensor). It followed the old text, which said 'clamp the scale to at least 1e-5' and showed no clamp on the zero point, while the reference clamps max - min before dividing and clamps z to [0, 2^n - 1]: the hidden constant-group and all-positive-group cases failed it. Changed: the formula states every clamp (and why: z is an n-bit code), visible checks for a constant and an all-positive group; the clipping test and the reference auto_clip_layer pass only 2-D tensors to the quantizer. Under the new text this answer is wrong (now in BLIND_SUPERSEDED, replaced by a second pass; its two deviations are catalogued as mutants): a second blind pass is due.",
        '\ndef pseudo_quantize_tensor(w: torch.Tensor, n_bit: int = 4, q_group_size: int = -1) -> torch.Tensor:\n    """Group-wise asymmetric fake quantization of ``w`` to ``n_bit`` bits (see the formula above)."""\n    if w.dim() != 2:\n        raise ValueError(f"expected a 2-D weight (out_features x in_features), got shape {tuple(w.shape)}")\n    in_features = w.shape[1]\n    if q_group_size == -1:\n        group = in_features\n    elif isinstance(q_group_size, int) and q_group_size > 0:\n        group = q_group_size\n    else:\n        raise ValueError(f"q_group_size must be a positive integer or -1, got {q_group_size!r}")\n    if in_features % group != 0:\n        raise ValueError(f"group size {group} does not divide the row length {in_features}")\n    max_int = 2 ** n_bit - 1\n    x = w.detach().reshape(-1, group).float()               # one row per group (a copy: w is untouched)\n    max_val = x.amax(dim=1, keepdim=True)\n    min_val = x.amin(dim=1, keepdim=True)\n    scales = ((max_val - min_val) / max_int).clamp(min=1e-5)\n    zeros = -torch.round(min_val / scales)\n    q = torch.clamp(torch.round(x / scales) + zeros, 0, max_int)\n    w_hat = (q - zeros) * scales\n    return w_hat.reshape(w.shape).to(w.dtype)\n'),
    'pseudo_quantize_model_salient_weight_fp16': (
        "15/15 before and after. It chose int() (rounded down) for '1 % ... at least one'; round() would have lost the hidden frac = 0.05 on 96 channels case. Changed: the text states n_keep = max(1, floor(frac * n)) with examples, a visible frac = 0.03 check (1 of 64, 3 of 128), and a round() mutant. It also noted that nothing is cast to fp16 ('full precision' is the text's wording).",
        '\n@torch.no_grad()\ndef pseudo_quantize_model_salient_weight_fp16(model, w_bit, q_group_size, input_feat, frac=0.01):\n    for name, module in named_block_linears(model).items():\n        importance = input_feat[name]\n        weight = module.weight.data\n        n_keep = max(1, int(frac * importance.numel()))\n        keep = torch.topk(importance, n_keep).indices.to(weight.device)\n        q = pseudo_quantize_tensor(weight, w_bit, q_group_size)\n        q[:, keep] = weight[:, keep]\n        module.weight.data = q\n    return model\n'),
    'pseudo_quantize_model_random_weight_fp16': (
        '5/5 before and after; same count reading as Q3 (now stated, with a visible check and a round() mutant).',
        '\n@torch.no_grad()\ndef pseudo_quantize_model_random_weight_fp16(model, w_bit, q_group_size, input_feat, frac=0.01, seed=0):\n    generator = torch.Generator().manual_seed(seed)\n    for name, module in named_block_linears(model).items():\n        importance = input_feat[name]\n        weight = module.weight.data\n        n_keep = max(1, int(frac * importance.numel()))\n        keep = torch.randperm(importance.numel(), generator=generator)[:n_keep].to(weight.device)\n        q = pseudo_quantize_tensor(weight, w_bit, q_group_size)\n        q[:, keep] = weight[:, keep]\n        module.weight.data = q\n    return model\n'),
    'pseudo_quantize_model_weight_scaleup': (
        '10/10 before and after; same count reading (now stated, visible check, round() mutant).',
        '\n@torch.no_grad()\ndef pseudo_quantize_model_weight_scaleup(model, w_bit, q_group_size, input_feat, scale_factor, frac=0.01):\n    for name, module in named_block_linears(model).items():\n        importance = input_feat[name]\n        weight = module.weight.data\n        n_keep = max(1, int(frac * importance.numel()))\n        keep = torch.topk(importance, n_keep).indices.to(weight.device)\n        scaled = weight.clone()\n        scaled[:, keep] *= scale_factor\n        q = pseudo_quantize_tensor(scaled, w_bit, q_group_size)\n        q[:, keep] /= scale_factor\n        module.weight.data = q\n    return model\n'),
    '_search_module_scale': (
        "20/20 before and after. It chose clamp -> tie -> normalise (the text's order) and a strict < (smallest alpha on ties), both unstated or untested before: the text now states the tie rule and why the 1e-4 clamp exists; hidden cases with a dead input channel (a missing clamp gave full marks before) and with an all-zero layer (every error ties: alpha = 0 must win).",
        '\n@torch.no_grad()\ndef _search_module_scale(block, linears2scale, x, kwargs={}, w_bit=4, q_group_size=64, n_grid=20,\n                         tie_scales=None):\n    x = x.to(next(block.parameters()).device)\n    original_out = first_output(block(x, **kwargs))\n    s_x = x.abs().reshape(-1, x.shape[-1]).float().mean(0)  # mean |activation| per input channel\n    original_weights = [fc.weight.data.clone() for fc in linears2scale]\n\n    best_error, best_scales = float("inf"), None\n    for ratio in range(n_grid):\n        alpha = ratio / n_grid\n        scales = s_x.pow(alpha).clamp(min=1e-4)\n        if tie_scales is not None:\n            scales = tie_scales(scales)\n        scales = scales / torch.sqrt(scales.max() * scales.min())\n        try:\n            for fc, w0 in zip(linears2scale, original_weights):\n                s = scales.to(w0.device, w0.dtype).view(1, -1)\n                fc.weight.data = pseudo_quantize_tensor(w0 * s, w_bit, q_group_size) / s\n            out = first_output(block(x, **kwargs))\n            error = float((out.float() - original_out.float()).pow(2).mean())\n        finally:\n            for fc, w0 in zip(linears2scale, original_weights):\n                fc.weight.data = w0.clone()\n        if error < best_error:\n            best_error, best_scales = error, scales.clone()\n    return best_scales.detach()\n'),
    'auto_scale_block': (
        "15/15 before and after. It searched q/k/v on the whole attention and gate/up on the whole MLP, as asked; a wrong answer searching on one projection's output also got 15/15 before. Changed: the text says 'the attention's (MLP's) output, not one projection's'; the hidden test uses two settings where those answers pick other scales; two mutants.",
        '\n@torch.no_grad()\ndef auto_scale_block(block, input_feat, kwargs, w_bit, q_group_size, n_grid=20):\n    attn, mlp = block.self_attn, block.mlp\n    search = functools.partial(_search_module_scale, w_bit=w_bit, q_group_size=q_group_size, n_grid=n_grid)\n    scales_list = []\n    # q/k/v: inputs produced by input_layernorm, compared on the whole attention\n    scales_list.append(("input_layernorm", ("self_attn.q_proj", "self_attn.k_proj", "self_attn.v_proj"),\n                        search(attn, [attn.q_proj, attn.k_proj, attn.v_proj], input_feat["self_attn.q_proj"],\n                               kwargs)))\n    # o: inputs produced by v_proj (through the attention); tie across the query heads of a value head\n    scales_list.append(("self_attn.v_proj", ("self_attn.o_proj",),\n                        search(attn.o_proj, [attn.o_proj], input_feat["self_attn.o_proj"], {},\n                               tie_scales=share_across_kv_heads(attn.config))))\n    # gate/up: inputs produced by post_attention_layernorm, compared on the whole MLP\n    scales_list.append(("post_attention_layernorm", ("mlp.gate_proj", "mlp.up_proj"),\n                        search(mlp, [mlp.gate_proj, mlp.up_proj], input_feat["mlp.gate_proj"], {})))\n    # down: inputs act(gate) * up, fold into up_proj\'s output rows\n    scales_list.append(("mlp.up_proj", ("mlp.down_proj",),\n                        search(mlp.down_proj, [mlp.down_proj], input_feat["mlp.down_proj"], {})))\n    return scales_list\n'),
    'auto_clip_layer': (
        "0/10 before only because of the hidden test's 4-D call into its strict quantizer; 10/10 with the reference quantizer. It read the grid as every i with i / n_grid < max_shrink (ceil), which differs from the reference's int(max_shrink * n_grid) when the product is not whole (the fast profile's 0.5 x 5). Changed: the text gives the candidates as range(int(max_shrink * n_grid)) and the tie rule (strict <, the larger threshold stays); the hidden cases keep whole products, so both readings score.",
        '\n@torch.no_grad()\ndef auto_clip_layer(w, input_feat, n_bit, q_group_size, n_grid=20, max_shrink=0.5, n_sample_token=512):\n    x = input_feat.reshape(-1, input_feat.shape[-1])\n    x = x[:: max(1, x.shape[0] // n_sample_token)][:n_sample_token]\n    n_groups = w.shape[1] // q_group_size\n    x = x.reshape(-1, n_groups, q_group_size).transpose(0, 1)              # (groups, tokens, group size)\n    w = w.detach()\n    out_features = w.shape[0]\n    x = x.to(w.device, torch.float32)\n    w_g = w.float().reshape(out_features, n_groups, q_group_size)        # (out, groups, group size)\n    org_max = w_g.abs().amax(dim=-1)                                       # (out, groups)\n    w_t = w_g.permute(1, 2, 0)                                             # (groups, group size, out)\n    org_out = torch.bmm(x, w_t)                                            # (groups, tokens, out)\n    best_max = org_max.clone()\n    min_err = torch.full_like(org_max, float("inf"))\n    i = 0\n    while i < n_grid and i / n_grid < max_shrink - 1e-12:                  # t = m, (1-1/n) m, ... > (1-max_shrink) m\n        max_val = org_max * (1 - i / n_grid)\n        clipped = torch.clamp(w_g, -max_val.unsqueeze(-1), max_val.unsqueeze(-1))\n        q = pseudo_quantize_tensor(clipped.reshape(out_features, -1), n_bit, q_group_size)\n        q_t = q.reshape(out_features, n_groups, q_group_size).permute(1, 2, 0)\n        err = (torch.bmm(x, q_t) - org_out).pow(2).mean(dim=1).transpose(0, 1)   # (out, groups)\n        better = err < min_err\n        min_err = torch.where(better, err, min_err)\n        best_max = torch.where(better, max_val, best_max)\n        i += 1\n    return best_max.to(w.dtype)\n'),
}
