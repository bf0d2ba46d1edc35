"""Quantization infrastructure shared by the labs: bit-width checks, a k-means written in torch,
BatchNorm folding and activation-range calibration with forward hooks.

Nothing here quantizes a model by itself: the quantizers students write (``k_means_quantize``,
``linear_quantize``, ...) live in the notebooks.
"""

from __future__ import annotations

import copy
from collections import OrderedDict, namedtuple

import torch
from torch import nn

# The k-means codebook of one tensor: ``centroids`` (n_clusters,) and ``labels`` (one cluster index
# per element, flattened) -- the tensor is decoded as ``centroids[labels]``.
Codebook = namedtuple("Codebook", ["centroids", "labels"])


def check_bitwidth(bitwidth, low: int = 1, high: int = 8) -> int:
    """Return ``bitwidth`` if it is an int in ``[low, high]``; else raise a ValueError that says so."""
    if isinstance(bitwidth, bool) or not isinstance(bitwidth, int) or not low <= bitwidth <= high:
        raise ValueError(f"bitwidth must be an integer in [{low}, {high}], got {bitwidth!r}")
    return bitwidth


def _assign(x: torch.Tensor, centroids: torch.Tensor) -> torch.Tensor:
    """Index of the nearest centroid for every value of the 1-D ``x`` (``centroids`` sorted)."""
    midpoints = (centroids[1:] + centroids[:-1]) / 2
    return torch.bucketize(x, midpoints)


@torch.no_grad()
def kmeans(values: torch.Tensor, n_clusters: int, max_iter: int = 100) -> Codebook:
    """1-D k-means (Lloyd's algorithm) of all the values of a tensor, in torch.

    Centroids start evenly spaced between the minimum and the maximum (the *linear* initialisation
    that Deep Compression found best: large weights keep centroids of their own). Deterministic.
    Returns a :data:`Codebook` with sorted ``centroids`` (float32) and int64 ``labels`` of the
    flattened tensor. A cluster that loses all its values is moved onto the value served worst, so
    with at least ``n_clusters`` distinct values every centroid is used; all-equal values give one
    used cluster (all centroids equal), an empty tensor is an error.
    """
    if not isinstance(n_clusters, int) or n_clusters < 1:
        raise ValueError(f"n_clusters must be a positive integer, got {n_clusters!r}")
    x = values.detach().flatten().float()
    if x.numel() == 0:
        raise ValueError("cannot run k-means on an empty tensor")
    if not torch.isfinite(x).all():
        raise ValueError("k-means needs finite values (the tensor holds inf or nan)")
    centroids = torch.linspace(x.min().item(), x.max().item(), n_clusters, device=x.device)
    for _ in range(max_iter):
        labels = _assign(x, centroids)
        sums = torch.zeros_like(centroids).index_add_(0, labels, x)
        counts = torch.bincount(labels, minlength=n_clusters)
        updated = torch.where(counts > 0, sums / counts.clamp_min(1), centroids)
        empty = (counts == 0).nonzero().flatten()
        if len(empty):  # re-seed an unused centroid on each of the worst-served values
            errors = (x - updated[labels]).abs()
            k = min(len(empty), x.numel())
            updated[empty[:k]] = x[errors.topk(k).indices]
        updated = updated.sort().values
        if torch.equal(updated, centroids):
            break
        centroids = updated
    return Codebook(centroids, _assign(x, centroids))


@torch.no_grad()
def fuse_conv_bn(conv: nn.Conv2d, bn: nn.BatchNorm2d) -> nn.Conv2d:
    """A new conv computing ``bn(conv(x))`` in eval mode: BN's scale folded into the weights, its
    shift into the bias, ``w' = w * gamma / sqrt(var + eps)``, ``b' = (b - mean) * gamma / sqrt(var + eps) + beta``."""
    if conv.out_channels != bn.num_features:
        raise ValueError(f"conv has {conv.out_channels} output channels, BatchNorm {bn.num_features}")
    fused = copy.deepcopy(conv)
    factor = bn.weight / torch.sqrt(bn.running_var + bn.eps)
    bias = conv.bias if conv.bias is not None else torch.zeros_like(bn.running_mean)
    fused.weight = nn.Parameter(conv.weight * factor.view(-1, 1, 1, 1))
    fused.bias = nn.Parameter((bias - bn.running_mean) * factor + bn.bias)
    return fused


@torch.no_grad()
def fuse_vgg_bn(model: nn.Module) -> nn.Module:
    """A copy of a VGG whose ``convN -> bnN`` pairs are folded into single convs with a bias
    (the BatchNorms are removed; ReLUs and pools stay). The copy computes the same in eval mode."""
    model = copy.deepcopy(model).eval()
    layers = list(model.backbone.named_children())
    fused, i = [], 0
    while i < len(layers):
        name, layer = layers[i]
        if isinstance(layer, nn.Conv2d) and i + 1 < len(layers) and isinstance(layers[i + 1][1], nn.BatchNorm2d):
            fused.append((name, fuse_conv_bn(layer, layers[i + 1][1])))
            i += 2
        else:
            fused.append((name, layer))
            i += 1
    model.backbone = nn.Sequential(OrderedDict(fused))
    return model


@torch.no_grad()
def record_activation_ranges(model: nn.Module, batches, module_types=(nn.Conv2d, nn.Linear, nn.ReLU),
                             percentile: float | None = None) -> dict:
    """Run ``batches`` (an iterable of inputs or ``(inputs, targets)``) through ``model`` and return
    ``{module name: {"input": (min, max), "output": (min, max)}}`` for every module of
    ``module_types``, recorded by forward hooks (removed afterwards, even on errors).

    ``percentile`` (e.g. 99.99) clips each range to that percentile of the values seen instead of
    the extreme min / max (outliers waste quantization levels); ``None`` keeps min / max.
    """
    if percentile is not None and not 50.0 < percentile <= 100.0:
        raise ValueError(f"percentile must be in (50, 100], got {percentile}")
    stats: dict = {}

    def summarise(t: torch.Tensor):
        t = t.detach().float().flatten()
        if percentile is None or percentile == 100.0:
            return t.min().item(), t.max().item()
        q = torch.tensor([1 - percentile / 100, percentile / 100], device=t.device)
        sample = t if t.numel() <= 1_000_000 else t[torch.randperm(t.numel(), device=t.device)[:1_000_000]]
        lo, hi = torch.quantile(sample, q).tolist()
        return lo, hi

    def merge(name, key, t):
        lo, hi = summarise(t)
        entry = stats.setdefault(name, {})
        if key in entry:  # widest range over the batches
            lo, hi = min(lo, entry[key][0]), max(hi, entry[key][1])
        entry[key] = (lo, hi)

    def hook(name):
        def record(module, inputs, output):
            merge(name, "input", inputs[0])
            merge(name, "output", output)
        return record

    handles = [m.register_forward_hook(hook(name)) for name, m in model.named_modules()
               if isinstance(m, tuple(module_types))]
    was_training = model.training
    model.eval()
    device = next(model.parameters()).device
    try:
        seen = 0
        for batch in batches:
            inputs = batch[0] if isinstance(batch, (tuple, list)) else batch
            model(inputs.to(device))
            seen += 1
        if seen == 0:
            raise ValueError("record_activation_ranges got no calibration batches")
    finally:
        for h in handles:
            h.remove()
        model.train(was_training)
    return stats
