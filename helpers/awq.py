"""Plumbing for activation-aware weight quantization (Lab 4) on Llama-style decoders.

What the lab grades (quantizers, the scale and clipping searches) is written by students; this
module only moves tensors around them:

* ``collect_input_features`` — mean |activation| of every input channel of every linear layer;
* ``capture_block_inputs`` / ``BlockRunner`` — run the model block by block on a calibration set;
* ``apply_scales`` — fold per-channel scales into the preceding RMSNorm or linear layer, so that
  the block computes exactly the same function (``x/s`` then ``W*s``);
* ``apply_clip`` — clamp weights group-wise to searched maxima;
* ``run_awq`` — the layer-by-layer driver that calls the student's functions;
* ``quantized_llm_size`` — model size with per-group scale/zero-point overhead;
* ``save_awq_results`` / ``load_awq_results`` — what Lab 4's W4 search found, for Lab 5's engine: the
  student's own (Lab 4 saves it in the full profile) or else the shipped reference asset.

Layer names follow transformers' Llama: ``self_attn.{q,k,v,o}_proj``, ``mlp.{gate,up,down}_proj``,
``input_layernorm``, ``post_attention_layernorm``.
"""

from __future__ import annotations

import math
from collections import defaultdict
from pathlib import Path
from typing import Callable

import torch
from torch import nn

from .env import cache_dir, show_progress
from .llm import decoder_layers


def first_output(out):
    """A module's main output: transformers' attention returns ``(output, weights)``."""
    return out[0] if isinstance(out, (tuple, list)) else out


def named_block_linears(model: nn.Module) -> dict[str, nn.Linear]:
    """``{"model.layers.3.mlp.up_proj": Linear, ...}``: every linear layer inside the decoder blocks
    (the ones the lab quantizes; the embedding and the tied ``lm_head`` stay in full precision)."""
    decoder_layers(model)  # a clear error for a model without Llama-style blocks
    return {name: m for name, m in model.named_modules()
            if isinstance(m, nn.Linear) and ".layers." in f".{name}"}


@torch.inference_mode()
def collect_input_features(model: nn.Module, windows: torch.Tensor, batch_size: int = 4) -> dict[str, torch.Tensor]:
    """``{linear name: mean |x| per input channel}`` over every token of the calibration ``windows``."""
    from tqdm.auto import tqdm

    sums, counts, handles = defaultdict(float), defaultdict(int), []
    for name, module in named_block_linears(model).items():
        def hook(_module, inputs, _output, name=name):
            x = inputs[0].detach().reshape(-1, inputs[0].shape[-1]).float()
            sums[name] = sums[name] + x.abs().sum(0)
            counts[name] += x.shape[0]
        handles.append(module.register_forward_hook(hook))
    device = next(model.parameters()).device
    try:
        for i in tqdm(range(0, windows.shape[0], batch_size), desc="calibration", disable=not show_progress(),
                      leave=False):
            model(windows[i: i + batch_size].to(device))
    finally:
        for h in handles:
            h.remove()
    return {name: (sums[name] / counts[name]).cpu() for name in sums}


class _Stop(Exception):
    pass


def _first_window(value, n: int):
    if isinstance(value, torch.Tensor) and value.dim() > 0 and value.shape[0] == n:
        return value[:1]
    if isinstance(value, tuple):
        return tuple(_first_window(v, n) for v in value)
    return value


@torch.inference_mode()
def capture_block_inputs(model: nn.Module, windows: torch.Tensor) -> tuple[torch.Tensor, dict]:
    """The hidden states entering the first decoder block and the keyword arguments every block is
    called with (rotary ``position_embeddings``, attention mask, ...), for ``windows``."""
    layers = decoder_layers(model)
    captured = {}

    def grab(_module, args, kwargs):
        captured["x"] = args[0] if args else kwargs.pop("hidden_states")
        captured["kwargs"] = {k: v for k, v in kwargs.items() if k != "hidden_states"}
        raise _Stop

    handle = layers[0].register_forward_pre_hook(grab, with_kwargs=True)
    try:
        model(windows.to(next(model.parameters()).device), use_cache=False)
    except _Stop:
        pass
    finally:
        handle.remove()
    # every window has the same positions and no padding, so per-window tensors (rotary cos/sin,
    # masks) are kept for one window and broadcast over any batch of windows
    n = windows.shape[0]
    kwargs = {k: _first_window(v, n) for k, v in captured["kwargs"].items()}
    kwargs["use_cache"] = False
    for key in ("past_key_value", "past_key_values", "cache"):
        kwargs.pop(key, None)
    return captured["x"], kwargs


def share_across_kv_heads(config) -> Callable[[torch.Tensor], torch.Tensor]:
    """With grouped-query attention several query heads read the same value head, so the scales
    folded from ``o_proj``'s input into ``v_proj``'s output must agree across those heads. The
    returned function averages a per-channel vector of ``o_proj``'s input (``n_heads * head_dim``)
    over each group of query heads and repeats it back to the same length."""
    n_heads = config.num_attention_heads
    n_kv = getattr(config, "num_key_value_heads", None) or n_heads
    head_dim = getattr(config, "head_dim", None) or config.hidden_size // n_heads

    def share(s: torch.Tensor) -> torch.Tensor:
        if s.numel() != n_heads * head_dim:
            raise ValueError(f"expected {n_heads * head_dim} scales (one per o_proj input channel), got {s.numel()}")
        grouped = s.reshape(n_kv, n_heads // n_kv, head_dim).mean(1, keepdim=True)
        return grouped.expand(n_kv, n_heads // n_kv, head_dim).reshape(-1)

    share.n_heads, share.n_kv, share.head_dim = n_heads, n_kv, head_dim
    return share


@torch.no_grad()
def apply_scales(block: nn.Module, scales_list, input_feat: dict | None = None) -> None:
    """Fold each ``(prev_name, layer_names, scales)`` of ``scales_list`` into ``block`` in place:
    the layers' input channels are multiplied by ``scales`` and the previous op's output divided by
    them, so the block's function is unchanged (only its quantization error changes). ``input_feat``
    (recorded inputs of those layers) is divided by the scales too, for a later clipping search."""
    for prev_name, layer_names, scales in scales_list:
        prev = block.get_submodule(prev_name)
        layers = [block.get_submodule(n) for n in layer_names]
        scales = scales.detach().to(layers[0].weight.device, torch.float32)
        if scales.dim() != 1 or any(fc.in_features != scales.numel() for fc in layers):
            raise ValueError(f"scales for {layer_names} must be a vector of {layers[0].in_features} values, "
                             f"got shape {tuple(scales.shape)}")
        if not torch.all(scales > 0):
            raise ValueError(f"scales for {layer_names} must be positive")
        if isinstance(prev, nn.Linear) and prev.out_features != scales.numel():
            # o_proj after v_proj with grouped-query attention: one scale per value channel
            attn = block.get_submodule(prev_name.rsplit(".", 1)[0])
            share = share_across_kv_heads(attn.config)
            grouped = scales.reshape(share.n_kv, share.n_heads // share.n_kv, share.head_dim)
            if not torch.allclose(grouped, grouped[:, :1].expand_as(grouped), rtol=1e-5, atol=1e-6):
                raise ValueError(f"scales for {layer_names} must be equal across the query heads that share a "
                                 "value head (use helpers.awq.share_across_kv_heads)")
            prev_scales = grouped[:, 0].reshape(-1)
        else:
            prev_scales = scales
        if isinstance(prev, nn.Linear):
            prev.weight.div_(prev_scales.view(-1, 1))
            if prev.bias is not None:
                prev.bias.div_(prev_scales)
        elif hasattr(prev, "weight"):  # RMSNorm / LayerNorm
            prev.weight.div_(prev_scales)
            if getattr(prev, "bias", None) is not None:
                prev.bias.div_(prev_scales)
        else:
            raise TypeError(f"cannot fold scales into {prev_name} ({type(prev).__name__})")
        for fc in layers:
            fc.weight.mul_(scales.view(1, -1))
        if input_feat is not None:
            for name in layer_names:
                if name in input_feat:
                    input_feat[name] = input_feat[name] / scales.to(input_feat[name].device)


@torch.no_grad()
def apply_clip(linear: nn.Linear, max_val: torch.Tensor) -> None:
    """Clamp ``linear.weight`` group-wise to ``[-max_val, max_val]``; ``max_val`` is
    ``(out_features, n_groups)`` (or with a trailing singleton dimension)."""
    w = linear.weight
    max_val = max_val.reshape(w.shape[0], -1, 1).to(w)
    grouped = w.reshape(w.shape[0], max_val.shape[1], -1)
    w.copy_(torch.clamp(grouped, -max_val, max_val).reshape_as(w))


@torch.inference_mode()
def run_block(block: nn.Module, x: torch.Tensor, kwargs: dict, batch_size: int = 8) -> torch.Tensor:
    """``block``'s output for ``x`` (batched over calibration windows)."""
    return torch.cat([first_output(block(x[i: i + batch_size], **kwargs))
                      for i in range(0, x.shape[0], batch_size)])


@torch.no_grad()
def record_block_linear_inputs(block: nn.Module, x: torch.Tensor, kwargs: dict) -> tuple[dict, torch.Tensor]:
    """Run ``block`` on ``x``; return ``({linear name in the block: its input}, block output)``."""
    feats, handles = {}, []
    for name, module in block.named_modules():
        if isinstance(module, nn.Linear):
            def hook(_m, inputs, _out, name=name):
                feats.setdefault(name, []).append(inputs[0].detach())
            handles.append(module.register_forward_hook(hook))
    try:
        out = run_block(block, x, kwargs)
    finally:
        for h in handles:
            h.remove()
    return {k: torch.cat(v) for k, v in feats.items()}, out


def check_group_size(model: nn.Module, q_group_size: int) -> int:
    """Raise a ValueError naming the first decoder linear whose input width ``q_group_size`` does not divide."""
    if not isinstance(q_group_size, int) or isinstance(q_group_size, bool) or q_group_size == 0 or q_group_size < -1:
        raise ValueError(f"q_group_size must be a positive integer (or -1: one group per row), got {q_group_size!r}")
    if q_group_size == -1:
        return q_group_size
    widths = sorted({m.in_features for m in named_block_linears(model).values()})
    for name, module in named_block_linears(model).items():
        if module.in_features % q_group_size:
            fits = [g for g in (256, 128, 64, 32, 16) if all(w % g == 0 for w in widths)]
            raise ValueError(f"group size {q_group_size} does not divide the input width {module.in_features} "
                             f"of {name}; group sizes that divide every layer's input width {widths}: {fits}")
    return q_group_size


def run_awq(model: nn.Module, windows: torch.Tensor, w_bit: int, q_group_size: int, auto_scale_block: Callable,
            auto_clip_layer: Callable | None = None, clip_skip: tuple[str, ...] = ("q_proj", "k_proj")) -> dict:
    """Search AWQ scales (and optionally clipping) block by block on the calibration ``windows`` and
    apply them to ``model`` in place (weights stay in full precision: quantize afterwards).

    For each block: record the inputs of its linears, call
    ``auto_scale_block(block, input_feat, kwargs, w_bit, q_group_size)`` -> ``[(prev, names, scales)]``,
    fold the scales (``apply_scales``), then, if given, call
    ``auto_clip_layer(weight, input_feat[name], w_bit, q_group_size) -> max_val`` for every linear
    except ``clip_skip`` (q/k: clipping them hurts the attention scores) and clamp. The next block's
    input is this block's output. Returns ``{"scales": {...}, "clip": {...}}`` keyed by layer name.
    """
    from tqdm.auto import tqdm

    layers = decoder_layers(model)
    check_group_size(model, q_group_size)
    x, kwargs = capture_block_inputs(model, windows)
    results = {"scales": {}, "clip": {}}
    for i, block in enumerate(tqdm(layers, desc=f"AWQ W{w_bit} g{q_group_size}", disable=not show_progress())):
        input_feat, out = record_block_linear_inputs(block, x, kwargs)
        with torch.no_grad():
            scales_list = auto_scale_block(block, input_feat, kwargs, w_bit, q_group_size)
        apply_scales(block, scales_list, input_feat)
        for prev, names, scales in scales_list:
            results["scales"][f"model.layers.{i}.{prev}->{','.join(names)}"] = scales.detach().cpu()
        if auto_clip_layer is not None:
            for name, module in block.named_modules():
                if isinstance(module, nn.Linear) and not any(name.endswith(s) for s in clip_skip):
                    with torch.no_grad():
                        max_val = auto_clip_layer(module.weight.detach(), input_feat[name], w_bit, q_group_size)
                    apply_clip(module, max_val)
                    results["clip"][f"model.layers.{i}.{name}"] = max_val.detach().cpu()
        del input_feat
        x = out  # scaling does not change the block's function, so its output is the next input
    return results


@torch.no_grad()
def apply_awq_results(model: nn.Module, results: dict, clip: bool = True) -> nn.Module:
    """Re-apply what ``run_awq`` found (its scales, and its clipping when ``clip``) to a model with the
    original weights, without searching again: e.g. to compare AWQ with and without clipping."""
    layers = decoder_layers(model)
    for key, scales in results["scales"].items():
        where, names = key.split("->")
        index, prev = where[len("model.layers."):].split(".", 1)
        apply_scales(layers[int(index)], [(prev, tuple(names.split(",")), scales)])
    if clip:
        for name, max_val in results["clip"].items():
            apply_clip(model.get_submodule(name), max_val)
    return model


@torch.no_grad()
def quantize_linears(model: nn.Module, quantize: Callable[[torch.Tensor], torch.Tensor]) -> nn.Module:
    """Replace every decoder-block linear weight ``W`` by ``quantize(W)`` (fake quantization, in place)."""
    for module in named_block_linears(model).values():
        module.weight.data = quantize(module.weight.data)
    return model


# where Lab 4 (full profile) saves its W4 g64 search for Lab 5, and the asset Lab 5 falls back on
STUDENT_AWQ_FILE = "lab4_awq_w4g64.pt"
REFERENCE_AWQ_ASSET = "awq_smollm2_w4g64"


def save_awq_results(results: dict, path: str | Path | None = None, meta: dict | None = None) -> Path:
    """Store ``run_awq``'s scales and clipping thresholds (as fp16: they are multipliers and bounds, and
    fp16 keeps 3 significant digits) with ``meta``; by default where :func:`load_awq_results` looks first."""
    path = Path(path) if path is not None else cache_dir() / STUDENT_AWQ_FILE
    half = {kind: {k: v.detach().to(torch.float16).cpu() for k, v in results[kind].items()}
            for kind in ("scales", "clip")}
    path.parent.mkdir(parents=True, exist_ok=True)
    torch.save({**half, "meta": dict(meta or {})}, path)
    return path


def load_awq_results(path: str | Path | None = None, verbose: bool = True) -> tuple[dict, dict]:
    """``(results, meta)`` for :func:`apply_awq_results`: from ``path``, else the student's Lab 4 search
    (``<cache>/lab4_awq_w4g64.pt``, saved by Lab 4's full profile), else the reference asset shipped with
    the repository (scripts/build_awq_asset.py). Values come back as fp32."""
    from .assets import fetch

    if path is None:
        own = cache_dir(create=False) / STUDENT_AWQ_FILE
        path, source = (own, "your Lab 4 search") if own.exists() else (fetch(REFERENCE_AWQ_ASSET),
                                                                         "the reference Lab 4 search (shipped)")
    else:
        source = str(path)
    try:
        stored = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # a truncated or foreign file
        raise ValueError(f"{path} is not an AWQ results file ({exc}); delete it and run Lab 4 again, or pass "
                         "another path") from exc
    if not {"scales", "clip", "meta"} <= set(stored):
        raise ValueError(f"{path} holds {sorted(stored)}, not AWQ scales and clipping: delete it or pass another path")
    results = {kind: {k: v.float() for k, v in stored[kind].items()} for kind in ("scales", "clip")}
    if verbose:
        meta = stored["meta"]
        print(f"AWQ scales and clipping from {source}: W{meta.get('w_bit', '?')} g{meta.get('group_size', '?')}, "
              f"{len(results['scales'])} scale groups, {len(results['clip'])} clipped layers")
    return results, stored["meta"]


def quantized_llm_size(model: nn.Module, w_bit: int, group_size: int, overhead_bits: int = 32,
                       other_bits: int = 16) -> int:
    """Size in bits of ``model`` with its decoder linears at ``w_bit`` plus ``overhead_bits`` per group
    of ``group_size`` weights (a 16-bit scale and a 16-bit zero point), everything else (embedding,
    norms) at ``other_bits``. Tied weights are counted once."""
    check_group_size(model, group_size)
    linears = {id(m.weight) for m in named_block_linears(model).values()}
    bits, seen = 0, set()
    for p in model.parameters():
        if id(p) in seen:
            continue
        seen.add(id(p))
        if id(p) in linears:
            bits += p.numel() * w_bit + math.ceil(p.numel() / group_size) * overhead_bits
        else:
            bits += p.numel() * other_bits
    return bits


def outlier_activations(n_tokens: int, channels: int, n_outliers: int = 2, magnitude: float = 20.0,
                        seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    """``(x, outlier_channels)``: Gaussian activations ``(n_tokens, channels)`` whose ``n_outliers``
    random input channels are ``magnitude`` times larger, like the salient channels of real LLMs."""
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(n_tokens, channels, generator=g)
    outliers = torch.randperm(channels, generator=g)[:n_outliers]
    x[:, outliers] *= magnitude
    return x, outliers
