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
        # one filled outline per panel, not one rectangle per bin: the same picture, drawn 4x sooner
        ax.hist(values.numpy(), bins=bins, density=True, histtype="stepfilled", color="tab:blue", alpha=0.6)
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
    """One subplot per layer: accuracy after pruning only that layer to each sparsity.

    All panels share one y-axis (and the x-axis), so that the layers' steepness can be compared by
    eye: autoscaled panels would make a 1-point dip look as steep as a collapse.
    """
    cols = 3
    rows = math.ceil(len(accuracies) / cols)
    fig, axes = plt.subplots(rows, cols, figsize=(10, 2.8 * rows), squeeze=False, sharex=True, sharey=True)
    lowest = min([min(accs) for accs in accuracies.values()] + [dense_accuracy - threshold_drop])
    for ax, (name, accs) in zip(axes.ravel(), accuracies.items()):
        ax.plot(sparsities, accs, "o-", label="pruned")
        ax.axhline(dense_accuracy - threshold_drop, color="tab:red", ls="--",
                   label=f"dense - {threshold_drop:g} pt")
        ax.set_title(name, fontsize=9)
        ax.set_xlabel("sparsity", fontsize=8)
        ax.set_ylabel("accuracy (%)", fontsize=8)
        ax.tick_params(labelleft=True, labelbottom=True)  # shared axes still show their scales
        ax.grid(alpha=0.3)
        ax.legend(fontsize=7)
    axes[0, 0].set_ylim(max(0.0, lowest - 5), min(100.0, dense_accuracy + 3))
    for ax in axes.ravel()[len(accuracies):]:
        ax.axis("off")
    fig.suptitle("Sensitivity: top-1 accuracy vs. sparsity, one layer at a time (one shared y-axis)")
    fig.tight_layout()
    return fig


def plot_tradeoffs(models: dict, costs: dict):
    """Accuracy against each cost, one panel per cost, one labelled point per model.

    :param models: ``{model name: {"accuracy": %, cost key: value, ...}}``
    :param costs: ``{cost key: axis label}``, e.g. ``{"size_mib": "size (MiB)", "macs": "MACs"}``
    """
    fig, axes = plt.subplots(1, len(costs), figsize=(4.6 * len(costs), 3.6), squeeze=False, sharey=True)
    for ax, (key, label) in zip(axes.ravel(), costs.items()):
        for i, (name, row) in enumerate(models.items()):
            ax.scatter(row[key], row["accuracy"], s=50, color=f"C{i}", zorder=3)
            ax.annotate(name, (row[key], row["accuracy"]), textcoords="offset points", xytext=(5, 5),
                        fontsize=8)
        ax.set_xlabel(label)
        ax.set_xlim(left=0)
        ax.grid(alpha=0.3)
    axes[0, 0].set_ylabel("top-1 accuracy (%)")
    fig.suptitle("Accuracy vs. cost (left and down is cheaper, up is better)")
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


def plot_roofline(points: list[dict], bandwidth_gbs: float, peak_gops: float, title: str = "Roofline"):
    """A log-log roofline: attainable GOP/s = min(``peak_gops``, intensity x ``bandwidth_gbs``), and each
    kernel a point. ``points``: dicts with ``label``, ``intensity`` (operations per byte), ``gops`` and
    optionally ``filled`` (False: an open marker, e.g. a shape that fits in the caches)."""
    fig, ax = plt.subplots(figsize=(7.5, 4.6))
    intensities = [p["intensity"] for p in points] + [peak_gops / bandwidth_gbs]
    lo, hi = min(intensities) / 4, max(intensities) * 4
    ridge = peak_gops / bandwidth_gbs
    ax.plot([lo, ridge, hi], [lo * bandwidth_gbs, peak_gops, peak_gops], color="k", lw=1.5)
    ax.text(lo * 1.2, lo * 1.2 * bandwidth_gbs * 1.25, f"memory roof: {bandwidth_gbs:.1f} GB/s", rotation=0, fontsize=8)
    ax.text(hi / 1.2, peak_gops * 1.08, f"compute roof: {peak_gops:.0f} GOP/s", ha="right", fontsize=8)
    colours = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    by_y = sorted(range(len(points)), key=lambda i: points[i]["gops"])
    for rank, i in enumerate(by_y):
        p = points[i]
        colour = colours[i % len(colours)]
        filled = p.get("filled", True)
        ax.plot(p["intensity"], p["gops"], "o", ms=7, color=colour, mfc=colour if filled else "none")
        side = 1 if rank % 2 == 0 else -1  # alternate sides so that close points stay readable
        ax.annotate(p["label"], (p["intensity"], p["gops"]), xytext=(8 * side, 0), textcoords="offset points",
                    ha="left" if side > 0 else "right", va="center", fontsize=8, color=colour)
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlim(lo, hi)
    ax.set_xlabel("arithmetic intensity (operations per byte read or written)")
    ax.set_ylabel("GOP/s")
    ax.set_title(title)
    ax.grid(alpha=0.3, which="both")
    fig.tight_layout()
    return fig


def plot_decode_summary(tokens_per_s: dict, gbs: dict, bandwidth_gbs: float):
    """Two panels over the same runs: decoding tokens/s, and the effective GB/s (bytes of weights read
    per token x tokens/s) against the machine's copy bandwidth."""
    fig, axes = plt.subplots(1, 2, figsize=(10, 3.4))
    names = list(tokens_per_s)
    colours = ["tab:gray", "tab:blue", "tab:green", "tab:orange"][: len(names)]
    bars = axes[0].bar(names, [tokens_per_s[n] for n in names], color=colours)
    axes[0].bar_label(bars, fmt="%.1f")
    axes[0].set_ylabel("tokens/s (decoding)")
    bars = axes[1].bar(names, [gbs[n] for n in names], color=colours)
    axes[1].bar_label(bars, fmt="%.1f")
    axes[1].axhline(bandwidth_gbs, color="k", ls="--", label=f"copy bandwidth {bandwidth_gbs:.1f} GB/s")
    axes[1].set_ylabel("effective GB/s (weights read)")
    axes[1].legend(fontsize=8)
    for ax in axes:
        ax.tick_params(axis="x", labelsize=8, rotation=10)
    fig.tight_layout()
    return fig


def plot_decode_breakdown(breakdowns: dict):
    """One stacked bar per engine: milliseconds per decoded token in each part
    (``{engine: helpers.engine.decode_breakdown(...)}``), labelled with its share of the token's time."""
    fig, ax = plt.subplots(figsize=(10, 0.9 + 0.8 * len(breakdowns)))
    names = list(breakdowns)
    parts = [p for p in next(iter(breakdowns.values())) if p != "total"]
    colours = ["tab:blue", "tab:orange", "tab:gray", "tab:green"]
    left = [0.0] * len(names)
    for part, colour in zip(parts, colours):
        widths = [breakdowns[n][part] for n in names]
        bars = ax.barh(names, widths, left=left, color=colour, label=part)
        labels = [f"{w / breakdowns[n]['total']:.0%}" if w / breakdowns[n]["total"] >= 0.06 else ""
                  for n, w in zip(names, widths)]
        ax.bar_label(bars, labels=labels, label_type="center", fontsize=8, color="white")
        left = [a + w for a, w in zip(left, widths)]
    ax.set_xlabel("milliseconds per decoded token")
    ax.invert_yaxis()
    ax.legend(fontsize=8, loc="upper center", bbox_to_anchor=(0.5, -0.35 - 0.1 / len(names)), ncol=2)
    fig.tight_layout()
    return fig


def plot_channel_activations(features: dict, frac: float = 0.01):
    """One panel per layer: the mean |activation| of every input channel as a line (a bar chart of
    1,536 channels drops most of its bars when rendered), with the ``max(1, int(frac * n))`` largest
    channels -- the salient channels of Lab 4 -- marked. ``features``: ``{title: 1-D tensor}``."""
    fig, axes = plt.subplots(1, len(features), figsize=(5 * len(features), 3), squeeze=False)
    for ax, (title, x) in zip(axes.ravel(), features.items()):
        x = torch.as_tensor(x).detach().float().cpu()
        n_marked = max(1, int(frac * x.numel()))
        top = torch.topk(x, n_marked).indices
        ax.plot(x.numpy(), lw=0.6, color="tab:blue")
        ax.plot(top.numpy(), x[top].numpy(), "o", ms=4, color="tab:red", label=f"largest {frac:.0%} ({n_marked})")
        ax.set_title(f"{title}\nmax / median = {x.max() / x.median():.0f}x", fontsize=9)
        ax.set_xlabel("input channel")
        ax.legend(fontsize=7)
    axes[0, 0].set_ylabel("mean |activation|")
    fig.tight_layout()
    return fig


def plot_quality_vs_size(points: dict, baseline: tuple | None = None, ylabel: str = "perplexity",
                         title: str = ""):
    """Quality against model size, one line per method: ``points = {method: [(size, value, tag), ...]}``
    (e.g. ``tag = "W3"``); ``baseline = (size, value)`` is drawn as a star. Log-scaled y axis."""
    fig, ax = plt.subplots(figsize=(6, 3.8))
    for method, pts in points.items():
        pts = sorted(pts)
        line, = ax.plot([p[0] for p in pts], [p[1] for p in pts], "o-", label=method)
        for size, value, tag in pts:
            ax.annotate(tag, (size, value), textcoords="offset points", xytext=(4, 3), fontsize=7,
                        color=line.get_color())
    if baseline is not None:
        ax.plot(*baseline, "k*", ms=10, label="baseline")
    ax.set_yscale("log")
    ax.set_xlabel("model size (MiB)")
    ax.set_ylabel(ylabel)
    ax.set_title(title, fontsize=10)
    ax.grid(alpha=0.3, which="both")
    ax.legend(fontsize=7)
    fig.tight_layout()
    return fig


def plot_search_summary(found: dict, limits: dict, background=None, title: str = "Subnets found by the searches"):
    """Measured accuracy against MACs of the subnets that searches found, with each tier's limits.

    ``found``: ``{label: [(mmacs, accuracy), ...]}``, one marker style per label (e.g. the winners of
    random and evolutionary search over several seeds, the tiers' answers); ``limits``:
    ``{tier: (max_mmacs, target_accuracy)}``, drawn as a dashed MAC limit and a dotted target line in one
    colour per tier; ``background``: optional ``(mmacs, accuracies, label)`` drawn faintly behind (e.g.
    the sampled subnets of the table)."""
    fig, ax = plt.subplots(figsize=(8, 4.5))
    if background is not None:
        mmacs, accuracies, label = background
        ax.scatter(mmacs, accuracies, s=4, color="lightgray", label=label, zorder=1)
    markers = ["o", "s", "*", "D", "^", "v"]
    for i, (label, points) in enumerate(found.items()):
        if points:
            x, y = zip(*points)
            ax.scatter(x, y, s=90 if markers[i % 6] == "*" else 30, marker=markers[i % 6], label=label,
                       alpha=0.8, zorder=3)
    colours = ["tab:red", "tab:purple", "tab:brown", "tab:olive"]
    for colour, (tier, (max_mmacs, target)) in zip(colours, limits.items()):
        ax.axvline(max_mmacs, color=colour, ls="--", lw=1, label=f"{tier}: <= {max_mmacs:g} MMACs")
        ax.axhline(target, color=colour, ls=":", lw=1, label=f"{tier}: target {target:g} %")
    ax.set(xscale="log", xlabel="MMACs", ylabel="measured top-1 accuracy (%)", title=title)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7, loc="lower right")
    fig.tight_layout()
    return fig
