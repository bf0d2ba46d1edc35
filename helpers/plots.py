"""Plots used across the labs (matplotlib only). Each function returns the figure."""

from __future__ import annotations

import math

import matplotlib.pyplot as plt
import torch
from torch import nn


def _prunable(model: nn.Module):
    return [(name, p) for name, p in model.named_parameters() if p.dim() > 1]


def plot_weight_distribution(model: nn.Module, bins: int = 256, count_nonzero_only: bool = False):
    """Histogram of every conv / linear weight tensor (zeros left out when ``count_nonzero_only``)."""
    params = _prunable(model)
    cols = 3
    rows = math.ceil(len(params) / cols)
    fig, axes = plt.subplots(rows, cols, figsize=(10, 2.6 * rows), squeeze=False)
    for ax, (name, p) in zip(axes.ravel(), params):
        values = p.detach().flatten().cpu()
        if count_nonzero_only:
            values = values[values != 0]
        ax.hist(values.numpy(), bins=bins, density=True, color="tab:blue", alpha=0.6)
        ax.set_title(name, fontsize=9)
        ax.set_xlabel("weight value", fontsize=8)
    for ax in axes.ravel()[len(params):]:
        ax.axis("off")
    fig.suptitle("Weight distribution" + (" (non-zero weights)" if count_nonzero_only else ""))
    fig.tight_layout()
    return fig


def plot_num_parameters_distribution(model: nn.Module):
    """Bar chart of parameter counts per conv / linear layer."""
    params = _prunable(model)
    fig, ax = plt.subplots(figsize=(8, 3))
    ax.bar([n.replace(".weight", "") for n, _ in params], [p.numel() for _, p in params], color="tab:blue")
    ax.set_ylabel("#parameters")
    ax.set_title("Parameters per layer")
    ax.tick_params(axis="x", rotation=60)
    fig.tight_layout()
    return fig


def plot_sensitivity_scan(sparsities, accuracies: dict, dense_accuracy: float, threshold_drop: float = 2.0):
    """One subplot per layer: accuracy after pruning only that layer to each sparsity."""
    cols = 3
    rows = math.ceil(len(accuracies) / cols)
    fig, axes = plt.subplots(rows, cols, figsize=(10, 2.8 * rows), squeeze=False)
    for ax, (name, accs) in zip(axes.ravel(), accuracies.items()):
        ax.plot(sparsities, accs, "o-", label="pruned")
        ax.axhline(dense_accuracy - threshold_drop, color="tab:red", ls="--",
                   label=f"dense - {threshold_drop:g} pt")
        ax.set_title(name, fontsize=9)
        ax.set_xlabel("sparsity", fontsize=8)
        ax.set_ylabel("accuracy (%)", fontsize=8)
        ax.grid(alpha=0.3)
        ax.legend(fontsize=7)
    for ax in axes.ravel()[len(accuracies):]:
        ax.axis("off")
    fig.suptitle("Sensitivity: top-1 accuracy vs. sparsity, one layer at a time")
    fig.tight_layout()
    return fig


def plot_matrices(matrices: dict, colour_by: str = "nonzero", decimals: int = 2):
    """Show small 2-D tensors side by side, each cell labelled with its value.

    ``colour_by="nonzero"`` shades zeros apart from the rest (pruning); ``colour_by="value"`` gives
    equal values one colour (a k-means-quantized tensor shows one colour per centroid) and counts
    the distinct values in the title.
    """
    if colour_by not in ("nonzero", "value"):
        raise ValueError(f"colour_by must be 'nonzero' or 'value', got {colour_by!r}")
    fig, axes = plt.subplots(1, len(matrices), figsize=(3.4 * len(matrices), 3.4), squeeze=False)
    for ax, (title, m) in zip(axes.ravel(), matrices.items()):
        m = torch.as_tensor(m).detach().float().cpu()
        if colour_by == "value":
            values = torch.unique(m.round(decimals=decimals))
            colours = torch.bucketize(m.round(decimals=decimals), values) % 20  # index of each cell's value
            ax.imshow(colours.numpy(), cmap="tab20", vmin=0, vmax=19)
            title = f"{title}\n{len(values)} distinct values"
        else:
            ax.imshow((m != 0).numpy(), vmin=0, vmax=1, cmap="tab20c")
        for i in range(m.shape[0]):
            for j in range(m.shape[1]):
                ax.text(j, i, f"{m[i, j]:.{decimals}f}", ha="center", va="center", fontsize=7)
        ax.set_title(title, fontsize=9)
        ax.set_xticks([])
        ax.set_yticks([])
    fig.tight_layout()
    return fig


def plot_bars(values: dict, ylabel: str, title: str = ""):
    """Bar chart comparing a metric across models: ``{"dense": 1.0, "pruned": 0.4}``."""
    fig, ax = plt.subplots(figsize=(4, 3))
    bars = ax.bar(list(values), list(values.values()), color=["tab:gray", "tab:blue", "tab:green", "tab:orange"])
    ax.bar_label(bars, fmt="%.3g")
    ax.set_ylabel(ylabel)
    ax.set_title(title)
    fig.tight_layout()
    return fig


def plot_accuracy_vs_size(points: dict, reference: str | None = None, title: str = ""):
    """Accuracy against model size, one labelled marker per model: ``{"fp32": (1.10, 94.6), ...}``
    with sizes in MiB (log scale) and accuracies in %. ``reference`` (a key) draws its accuracy as a
    dashed line, so the drop of every other model can be read off."""
    fig, ax = plt.subplots(figsize=(6.4, 4.2))
    for i, (name, (size, accuracy)) in enumerate(points.items()):
        ax.scatter([size], [accuracy], color=plt.cm.tab10(i % 10), zorder=3)
        # alternate the labels above and below their markers: neighbours (before / after QAT) overlap less
        ax.annotate(name, (size, accuracy), textcoords="offset points", xytext=(5, 4 if i % 2 == 0 else -11),
                    fontsize=8)
    if reference is not None:
        ax.axhline(points[reference][1], color="gray", linestyle="--", linewidth=0.8, zorder=1)
    ax.set_xscale("log")
    ax.set_xlabel("model size (MiB, log scale)")
    ax.set_ylabel("test accuracy (%)")
    ax.set_title(title)
    ax.grid(True, which="both", alpha=0.3)
    fig.tight_layout()
    return fig
