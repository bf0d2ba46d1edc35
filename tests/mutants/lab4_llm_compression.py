"""Lab 4's mistakes (each must lose points) and other correct answers (each keeps full marks); what
each constant holds: :class:`grading.catalogue.Catalogue`."""

LAB = "lab4_llm_compression"
AUTOGRADED_POINTS = 90  # 80 + the 10-point bonus; the other 20 of the 100 are written answers
BONUS_POINTS = 10
TAMPER = {"delete": "test_auto_clip_layer", "edit": "test_pseudo_quantize_model_weight_scaleup"}
LOOP_ANSWER = None
# the heavy given cells (seconds: one fast-profile run, one thread) that the mutant rounds leave out: every
# graded test brings its own tiny model (the trimmed reference keeps full marks, tests/test_grading.py)
TRIMMED_CELLS = (
    "b8c18e87",  # 7.5 s loading SmolLM2, its perplexity
    "d44ec255",  # 2.0 s  and an answer
    "6ed69996",  # 7.4 s RTN at 3 and 4 bits
    "087683e4",  # 1.4 s calibration features
    "b577417f",  # 7.3 s salient and random weights kept in fp16
    "9a9e56fe",  # 7.4 s scaling salient channels up
    "8cb24d55",  # 19.7 s the AWQ search with clipping
    "6ad3d854",  # 0.0 s  its scales
    "4af26f88",  # 0.0 s the summary table
    "23117867",  # 0.3 s  and its figure
    "f49357e2",  # 3.5 s the AWQ model's answer
)

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


# MUTANTS: lab4_llm_compression.toml, beside this file

# Correct answers written differently from the reference: each must keep full marks.
ALTERNATIVES = {
    "pseudo_quantize_tensor": '''
def pseudo_quantize_tensor(w, n_bit=4, q_group_size=-1):
    if w.dim() != 2:  # the text promises a 2-D weight: a test that passes another shape must fail here
        raise ValueError(f"expected a 2-D weight, got shape {tuple(w.shape)}")
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


# Answers written from the student notebook alone by a helper who never saw solutions/ or the tests
# (/tmp/blind/lab4_llm_compression, first pass), exactly as written: {grade_id: (what it revealed, source)}.
BLIND = {
    'pseudo_quantize_tensor': (
        '0/15 before (and it made the clipping test score 0/10: it rejects non-2-D input, and the hidden '
        "_ref_clip handed the quantizer a 4-D tensor). It followed the old text, which said 'clamp the scale "
        "to at least 1e-5' and showed no clamp on the zero point, while the reference clamps max - min before"
        ' dividing and clamps z to [0, 2^n - 1]: the hidden constant-group and all-positive-group cases '
        'failed it. Changed: the formula states every clamp (and why: z is an n-bit code), visible checks for'
        ' a constant and an all-positive group; the clipping test and the reference auto_clip_layer pass only'
        ' 2-D tensors to the quantizer. Under the new text this answer is wrong (now in BLIND_SUPERSEDED, replaced by a second pass; its two '
        'deviations are catalogued as mutants): a second blind pass is due.',
        '''
def pseudo_quantize_tensor(w: torch.Tensor, n_bit: int = 4, q_group_size: int = -1) -> torch.Tensor:
    """Group-wise asymmetric fake quantization of ``w`` to ``n_bit`` bits (see the formula above)."""
    if w.dim() != 2:
        raise ValueError(f"expected a 2-D weight (out_features x in_features), got shape {tuple(w.shape)}")
    in_features = w.shape[1]
    if q_group_size == -1:
        group = in_features
    elif isinstance(q_group_size, int) and q_group_size > 0:
        group = q_group_size
    else:
        raise ValueError(f"q_group_size must be a positive integer or -1, got {q_group_size!r}")
    if in_features % group != 0:
        raise ValueError(f"group size {group} does not divide the row length {in_features}")
    max_int = 2 ** n_bit - 1
    x = w.detach().reshape(-1, group).float()               # one row per group (a copy: w is untouched)
    max_val = x.amax(dim=1, keepdim=True)
    min_val = x.amin(dim=1, keepdim=True)
    scales = ((max_val - min_val) / max_int).clamp(min=1e-5)
    zeros = -torch.round(min_val / scales)
    q = torch.clamp(torch.round(x / scales) + zeros, 0, max_int)
    w_hat = (q - zeros) * scales
    return w_hat.reshape(w.shape).to(w.dtype)
'''),
    'pseudo_quantize_model_salient_weight_fp16': (
        "15/15 before and after. It chose int() (rounded down) for '1 % ... at least one'; round() would have"
        ' lost the hidden frac = 0.05 on 96 channels case. Changed: the text states n_keep = max(1, '
        'floor(frac * n)) with examples, a visible frac = 0.03 check (1 of 64, 3 of 128), and a round() '
        "mutant. It also noted that nothing is cast to fp16 ('full precision' is the text's wording).",
        '''
@torch.no_grad()
def pseudo_quantize_model_salient_weight_fp16(model, w_bit, q_group_size, input_feat, frac=0.01):
    for name, module in named_block_linears(model).items():
        importance = input_feat[name]
        weight = module.weight.data
        n_keep = max(1, int(frac * importance.numel()))
        keep = torch.topk(importance, n_keep).indices.to(weight.device)
        q = pseudo_quantize_tensor(weight, w_bit, q_group_size)
        q[:, keep] = weight[:, keep]
        module.weight.data = q
    return model
'''),
    'pseudo_quantize_model_random_weight_fp16': (
        '5/5 before and after; same count reading as Q3 (now stated, with a visible check and a round() '
        'mutant).',
        '''
@torch.no_grad()
def pseudo_quantize_model_random_weight_fp16(model, w_bit, q_group_size, input_feat, frac=0.01, seed=0):
    generator = torch.Generator().manual_seed(seed)
    for name, module in named_block_linears(model).items():
        importance = input_feat[name]
        weight = module.weight.data
        n_keep = max(1, int(frac * importance.numel()))
        keep = torch.randperm(importance.numel(), generator=generator)[:n_keep].to(weight.device)
        q = pseudo_quantize_tensor(weight, w_bit, q_group_size)
        q[:, keep] = weight[:, keep]
        module.weight.data = q
    return model
'''),
    'pseudo_quantize_model_weight_scaleup': (
        '10/10 before and after; same count reading (now stated, visible check, round() mutant).',
        '''
@torch.no_grad()
def pseudo_quantize_model_weight_scaleup(model, w_bit, q_group_size, input_feat, scale_factor, frac=0.01):
    for name, module in named_block_linears(model).items():
        importance = input_feat[name]
        weight = module.weight.data
        n_keep = max(1, int(frac * importance.numel()))
        keep = torch.topk(importance, n_keep).indices.to(weight.device)
        scaled = weight.clone()
        scaled[:, keep] *= scale_factor
        q = pseudo_quantize_tensor(scaled, w_bit, q_group_size)
        q[:, keep] /= scale_factor
        module.weight.data = q
    return model
'''),
    '_search_module_scale': (
        "20/20 before and after. It chose clamp -> tie -> normalise (the text's order) and a strict < "
        '(smallest alpha on ties), both unstated or untested before: the text now states the tie rule and why'
        ' the 1e-4 clamp exists; hidden cases with a dead input channel (a missing clamp gave full marks '
        'before) and with an all-zero layer (every error ties: alpha = 0 must win).',
        '''
@torch.no_grad()
def _search_module_scale(block, linears2scale, x, kwargs={}, w_bit=4, q_group_size=64, n_grid=20,
                         tie_scales=None):
    x = x.to(next(block.parameters()).device)
    original_out = first_output(block(x, **kwargs))
    s_x = x.abs().reshape(-1, x.shape[-1]).float().mean(0)  # mean |activation| per input channel
    original_weights = [fc.weight.data.clone() for fc in linears2scale]

    best_error, best_scales = float("inf"), None
    for ratio in range(n_grid):
        alpha = ratio / n_grid
        scales = s_x.pow(alpha).clamp(min=1e-4)
        if tie_scales is not None:
            scales = tie_scales(scales)
        scales = scales / torch.sqrt(scales.max() * scales.min())
        try:
            for fc, w0 in zip(linears2scale, original_weights):
                s = scales.to(w0.device, w0.dtype).view(1, -1)
                fc.weight.data = pseudo_quantize_tensor(w0 * s, w_bit, q_group_size) / s
            out = first_output(block(x, **kwargs))
            error = float((out.float() - original_out.float()).pow(2).mean())
        finally:
            for fc, w0 in zip(linears2scale, original_weights):
                fc.weight.data = w0.clone()
        if error < best_error:
            best_error, best_scales = error, scales.clone()
    return best_scales.detach()
'''),
    'auto_scale_block': (
        '15/15 before and after. It searched q/k/v on the whole attention and gate/up on the whole MLP, as '
        "asked; a wrong answer searching on one projection's output also got 15/15 before. Changed: the text "
        "says 'the attention's (MLP's) output, not one projection's'; the hidden test uses two settings where"
        ' those answers pick other scales; two mutants.',
        '''
@torch.no_grad()
def auto_scale_block(block, input_feat, kwargs, w_bit, q_group_size, n_grid=20):
    attn, mlp = block.self_attn, block.mlp
    search = functools.partial(_search_module_scale, w_bit=w_bit, q_group_size=q_group_size, n_grid=n_grid)
    scales_list = []
    # q/k/v: inputs produced by input_layernorm, compared on the whole attention
    scales_list.append(("input_layernorm", ("self_attn.q_proj", "self_attn.k_proj", "self_attn.v_proj"),
                        search(attn, [attn.q_proj, attn.k_proj, attn.v_proj], input_feat["self_attn.q_proj"],
                               kwargs)))
    # o: inputs produced by v_proj (through the attention); tie across the query heads of a value head
    scales_list.append(("self_attn.v_proj", ("self_attn.o_proj",),
                        search(attn.o_proj, [attn.o_proj], input_feat["self_attn.o_proj"], {},
                               tie_scales=share_across_kv_heads(attn.config))))
    # gate/up: inputs produced by post_attention_layernorm, compared on the whole MLP
    scales_list.append(("post_attention_layernorm", ("mlp.gate_proj", "mlp.up_proj"),
                        search(mlp, [mlp.gate_proj, mlp.up_proj], input_feat["mlp.gate_proj"], {})))
    # down: inputs act(gate) * up, fold into up_proj's output rows
    scales_list.append(("mlp.up_proj", ("mlp.down_proj",),
                        search(mlp.down_proj, [mlp.down_proj], input_feat["mlp.down_proj"], {})))
    return scales_list
'''),
    'auto_clip_layer': (
        "0/10 before only because of the hidden test's 4-D call into its strict quantizer; 10/10 with the "
        'reference quantizer. It read the grid as every i with i / n_grid < max_shrink (ceil), which differs '
        "from the reference's int(max_shrink * n_grid) when the product is not whole (the fast profile's 0.5 "
        'x 5). Changed: the text gives the candidates as range(int(max_shrink * n_grid)) and the tie rule '
        '(strict <, the larger threshold stays); the hidden cases keep whole products, so both readings '
        'score.',
        '''
@torch.no_grad()
def auto_clip_layer(w, input_feat, n_bit, q_group_size, n_grid=20, max_shrink=0.5, n_sample_token=512):
    x = input_feat.reshape(-1, input_feat.shape[-1])
    x = x[:: max(1, x.shape[0] // n_sample_token)][:n_sample_token]
    n_groups = w.shape[1] // q_group_size
    x = x.reshape(-1, n_groups, q_group_size).transpose(0, 1)              # (groups, tokens, group size)
    w = w.detach()
    out_features = w.shape[0]
    x = x.to(w.device, torch.float32)
    w_g = w.float().reshape(out_features, n_groups, q_group_size)        # (out, groups, group size)
    org_max = w_g.abs().amax(dim=-1)                                       # (out, groups)
    w_t = w_g.permute(1, 2, 0)                                             # (groups, group size, out)
    org_out = torch.bmm(x, w_t)                                            # (groups, tokens, out)
    best_max = org_max.clone()
    min_err = torch.full_like(org_max, float("inf"))
    i = 0
    while i < n_grid and i / n_grid < max_shrink - 1e-12:                  # t = m, (1-1/n) m, ... > (1-max_shrink) m
        max_val = org_max * (1 - i / n_grid)
        clipped = torch.clamp(w_g, -max_val.unsqueeze(-1), max_val.unsqueeze(-1))
        q = pseudo_quantize_tensor(clipped.reshape(out_features, -1), n_bit, q_group_size)
        q_t = q.reshape(out_features, n_groups, q_group_size).permute(1, 2, 0)
        err = (torch.bmm(x, q_t) - org_out).pow(2).mean(dim=1).transpose(0, 1)   # (out, groups)
        better = err < min_err
        min_err = torch.where(better, err, min_err)
        best_max = torch.where(better, max_val, best_max)
        i += 1
    return best_max.to(w.dtype)
'''),
}


# Second blind pass (issue 13): written from the student notebook as rewritten, by a helper who saw
# nothing else. It replaces the first pass for these answers; the first-pass answers stay in
# BLIND_SUPERSEDED for the record (written against the old text, not graded).
BLIND_SUPERSEDED = {gid: BLIND[gid] for gid in ('pseudo_quantize_tensor',) if gid in BLIND}
BLIND.update({
    'pseudo_quantize_tensor': (
        "second pass on the rewritten text (every clamp in the formula): range clamped before dividing, zero point clamped to [0, 2^n-1], torch.round; raises ValueError on non-2-D input and invalid group sizes; computes in w's dtype; found the text and checks consistent",
        'def pseudo_quantize_tensor(w: torch.Tensor, n_bit: int = 4, q_group_size: int = -1) -> torch.Tensor:\n    """Group-wise asymmetric fake quantization of ``w`` to ``n_bit`` bits (see the formula above)."""\n    if w.dim() != 2:\n        raise ValueError(f"expected a 2-D weight (out_features x in_features), got shape {tuple(w.shape)}")\n    out_features, in_features = w.shape\n    group = in_features if q_group_size == -1 else q_group_size\n    if not isinstance(group, int) or group <= 0:\n        raise ValueError(f"q_group_size must be a positive integer or -1 (one group per row), got {q_group_size!r}")\n    if in_features % group != 0:\n        raise ValueError(f"group size {group} does not divide the row length {in_features}")\n    groups = w.reshape(-1, group)                     # a new view; w itself is never written to\n    max_val = groups.amax(dim=1, keepdim=True)\n    min_val = groups.amin(dim=1, keepdim=True)\n    max_int = 2 ** n_bit - 1\n    scales = (max_val - min_val).clamp(min=1e-5) / max_int              # clamp the range *before* dividing\n    zeros = torch.clamp(-torch.round(min_val / scales), 0, max_int)     # integer zero point, n-bit code\n    q = torch.clamp(torch.round(groups / scales) + zeros, 0, max_int)   # codes 0 .. 2^n - 1\n    return ((q - zeros) * scales).reshape(w.shape)'),
})
