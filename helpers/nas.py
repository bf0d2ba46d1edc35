"""Lab 3 infrastructure: the shipped supernet and (architecture, accuracy) table, subnet sampling,
the architecture encoder, MACs, BatchNorm re-calibration, subnet evaluation and a visualiser.

The design space and the supernet itself live in ``helpers.supernet``. Nothing here searches or
predicts: the lab's graded classes (efficiency predictor, accuracy predictor, searchers) are the
students' to write.
"""

from __future__ import annotations

import gzip
import json
import random

import torch
from torch import nn

from .assets import fetch
from .data import get_datasets
from .metrics import get_model_macs
from .supernet import (
    DEPTHS,
    EXPAND_RATIOS,
    HEAD_CHANNELS,
    KERNEL_SIZES,
    MAX_DEPTH,
    N_SLOTS,
    RESOLUTIONS,
    STAGES,
    STEM_CHANNELS,
    STEM_STRIDE,
    WIDTH_MULTS,
    MBBlock,
    SubNet,
    SuperNet,
    active_blocks,
    conv_bn,
    conv_out,
    scaled,
    validate_arch,
)


class SamplingError(RuntimeError):
    """A sampler found no architecture satisfying its constraint within its number of tries."""


def add_to_class(cls):
    """Decorator that adds the function below it to ``cls`` as a method (d2l's idiom), so that a class
    can be written one method per notebook cell::

        @add_to_class(EvolutionSearcher)
        def crossover_sample(self, sample1, sample2, constraint): ...
    """
    def register(function):
        setattr(cls, function.__name__, function)
        return function
    return register


# --- sampling -----------------------------------------------------------------------------------

def random_arch(rng: random.Random | None = None) -> dict:
    """One architecture drawn uniformly, dimension by dimension (``rng`` makes it repeatable)."""
    rng = rng or random
    return {
        "ks": [rng.choice(KERNEL_SIZES) for _ in range(N_SLOTS)],
        "e": [rng.choice(EXPAND_RATIOS) for _ in range(N_SLOTS)],
        "d": [rng.choice(DEPTHS) for _ in range(len(STAGES))],
        "w": rng.choice(WIDTH_MULTS),
        "r": rng.choice(RESOLUTIONS),
    }


def canonical(arch: dict) -> dict:
    """The same subnet with the unused slots' kernel/expand set to the smallest choice: two
    architectures are the same subnet exactly when their canonical forms are equal."""
    validate_arch(arch)
    used = {slot for _, slot, *_ in active_blocks(arch)}
    return {
        "ks": [k if i in used else min(KERNEL_SIZES) for i, k in enumerate(arch["ks"])],
        "e": [e if i in used else min(EXPAND_RATIOS) for i, e in enumerate(arch["e"])],
        "d": list(arch["d"]), "w": arch["w"], "r": arch["r"],
    }


def arch_key(arch: dict) -> str:
    """A hashable string naming a subnet (equal for architectures that differ only in unused slots)."""
    return json.dumps(canonical(arch), sort_keys=True)


# --- the encoder the accuracy predictor reads -----------------------------------------------------

class ArchEncoder:
    """Architecture dict -> fixed-length 0/1 vector, as in once-for-all's accuracy predictor.

    One-hot kernel size and one-hot expand ratio for every block slot (all zeros for a slot the
    subnet does not run, which is how depth is encoded), then one-hot width and one-hot resolution.
    """

    def __init__(self):
        self.fields = []  # (description, offset, number of choices)
        offset = 0
        for slot in range(N_SLOTS):
            for name, choices in (("ks", KERNEL_SIZES), ("e", EXPAND_RATIOS)):
                self.fields.append((f"{name}[{slot}]", offset, len(choices)))
                offset += len(choices)
        self.width_offset = offset
        self.resolution_offset = offset + len(WIDTH_MULTS)
        self.n_dim = self.resolution_offset + len(RESOLUTIONS)

    def encode(self, arch: dict) -> torch.Tensor:
        validate_arch(arch)
        x = torch.zeros(self.n_dim)
        for _, slot, _, _, kernel, expand in active_blocks(arch):
            base = slot * (len(KERNEL_SIZES) + len(EXPAND_RATIOS))
            x[base + KERNEL_SIZES.index(kernel)] = 1
            x[base + len(KERNEL_SIZES) + EXPAND_RATIOS.index(expand)] = 1
        x[self.width_offset + WIDTH_MULTS.index(arch["w"])] = 1
        x[self.resolution_offset + RESOLUTIONS.index(arch["r"])] = 1
        return x

    def encode_batch(self, archs) -> torch.Tensor:
        return torch.stack([self.encode(a) for a in archs])


# --- efficiency and accuracy of a subnet -----------------------------------------------------------

_PART_MACS: dict = {}  # (part, its arguments, input size) -> MACs, counted once by torch


def _part_macs(build, args: tuple, size: int) -> int:
    """MACs of the layer ``build(*args)`` (first argument: its input channels) on a ``size``-pixel input."""
    key = (build.__name__, args, size)
    if key not in _PART_MACS:
        _PART_MACS[key] = get_model_macs(build(*args), torch.zeros(1, args[0], size, size))
    return _PART_MACS[key]


def count_macs(net: SubNet | dict) -> int:
    """MACs of one forward pass of a subnet at its own resolution, counted by ``torch.utils.flop_counter``.

    Takes a ``SubNet`` or an architecture dict. A subnet's MACs are the sum of its parts' (stem, blocks,
    head, classifier), and each distinct part is counted by torch once and remembered, so a search can
    ask for thousands of subnets (the sum equals counting the whole subnet: a unit test checks it).
    """
    arch = net.arch if isinstance(net, SubNet) else validate_arch(net)
    size, c_in = arch["r"], 1
    stem = scaled(STEM_CHANNELS, arch["w"])
    total = _part_macs(conv_bn, (c_in, stem, 3, STEM_STRIDE), size)
    size, c_in = conv_out(size, STEM_STRIDE), stem
    for _, _, c_out, stride, kernel, expand in active_blocks(arch):
        total += _part_macs(MBBlock, (c_in, c_out, stride, kernel, expand), size)
        size, c_in = conv_out(size, stride), c_out
    head = scaled(HEAD_CHANNELS, arch["w"])
    total += _part_macs(conv_bn, (c_in, head, 1), size)
    return total + head * 10  # the classifier: one multiply-add per weight


@torch.no_grad()
def calibrate_bn(subnet: nn.Module, images: torch.Tensor, batch_size: int = 250) -> nn.Module:
    """Re-estimate every BatchNorm's running mean/variance on ``images`` (exact averages over all of
    them, not a moving average). A subnet taken from a supernet needs this before evaluation: the
    statistics of its channels depend on which other layers it runs."""
    bns = [m for m in subnet.modules() if isinstance(m, nn.BatchNorm2d)]
    saved = [bn.momentum for bn in bns]
    for bn in bns:
        bn.reset_running_stats()
        bn.momentum = None  # cumulative average
    device = next(subnet.parameters()).device
    subnet.train()
    try:
        for start in range(0, len(images), batch_size):
            subnet(images[start:start + batch_size].to(device))
    finally:
        for bn, momentum in zip(bns, saved):
            bn.momentum = momentum
        subnet.eval()
    return subnet


@torch.inference_mode()
def evaluate_subnet(subnet: nn.Module, images: torch.Tensor, labels: torch.Tensor, batch_size: int = 500) -> float:
    """Top-1 accuracy (percent) of ``subnet`` on a tensor of normalised images."""
    if len(images) != len(labels):
        raise ValueError(f"{len(images)} images but {len(labels)} labels")
    subnet.eval()
    device = next(subnet.parameters()).device
    correct = 0
    for start in range(0, len(images), batch_size):
        logits = subnet(images[start:start + batch_size].to(device))
        correct += (logits.argmax(1).cpu() == labels[start:start + batch_size]).sum().item()
    return 100.0 * correct / len(labels)


def measure_accuracy(supernet: SuperNet, arch: dict, calib_images: torch.Tensor, images: torch.Tensor,
                     labels: torch.Tensor) -> float:
    """Extract ``arch`` from the supernet, re-calibrate its BatchNorms, return its top-1 accuracy."""
    subnet = supernet.get_subnet(arch)
    calibrate_bn(subnet, calib_images)
    return evaluate_subnet(subnet, images, labels)


def compare_searches(evolution_searcher, random_searcher, constraint: dict, seeds: int, measure, **search) -> dict:
    """Evolution against random search at the same number of accuracy-predictor queries, once per seed.

    ``evolution_searcher(seed=..., **search)`` and ``random_searcher(seed=...)`` build the two searchers (the
    lab's classes with their predictors bound, e.g. by ``functools.partial``); random search may score as many
    subnets as evolution did; ``measure(arch)`` returns a found subnet's real accuracy. Returns the mean
    measured and predicted gains of evolution, the standard error of the measured mean (None for one seed),
    the number of seeds evolution won, the gain of each seed, and what each search found (``found``: one
    ``{"evolution": ..., "random": ...}`` per seed, each ``{"arch", "predicted", "measured"}``).
    """
    gains, predicted_gains, found = [], [], []
    for seed in range(seeds):
        evolution = evolution_searcher(seed=seed, **search)
        evolution_predicted, evolution_arch = evolution.run_search(constraint)
        random_predicted, random_arch = random_searcher(seed=seed).run_search(constraint, n_subnets=evolution.n_queries)
        evolution_acc, random_acc = measure(evolution_arch), measure(random_arch)
        gains.append(evolution_acc - random_acc)
        predicted_gains.append(evolution_predicted - random_predicted)
        found.append({"evolution": {"arch": evolution_arch, "predicted": evolution_predicted,
                                    "measured": evolution_acc},
                      "random": {"arch": random_arch, "predicted": random_predicted, "measured": random_acc}})
        print(f"seed {seed}: {evolution.n_queries} queries each; predicted {evolution_predicted:.2f} vs "
              f"{random_predicted:.2f} %, measured {evolution_acc:.2f} vs {random_acc:.2f} % (evolution vs random)")
    gains = torch.tensor(gains)
    return {"queries": evolution.n_queries, "seeds": seeds,
            "evolution_minus_random": float(gains.mean()),
            "evolution_minus_random_se": float(gains.std() / seeds ** 0.5) if seeds > 1 else None,
            "evolution_ahead": int((gains > 0).sum()),
            "evolution_minus_random_predicted": sum(predicted_gains) / seeds,
            "per_seed": [round(float(g), 2) for g in gains], "found": found}


def nas_images(subset: bool | None = None, n_calib: int = 2000) -> dict:
    """Normalised Fashion-MNIST tensors for Lab 3 (the shipped subset under ``fast``):

    - ``calib``: the first ``n_calib`` training images, for BN re-calibration;
    - ``val_images``/``val_labels``: the last twelfth of the training images, for choosing between
      subnets; in the full set these are images 55,000-59,999, held out from supernet training (the
      table's split); the subset's last 250 are among them;
    - ``test_images``/``test_labels``: for reporting only.
    """
    datasets = get_datasets("fashion-mnist", subset=subset, augment=False)
    train, test = datasets["train"], datasets["test"]
    n_val = len(train.images) // 12
    return {"calib": train.images[:n_calib], "val_images": train.images[-n_val:], "val_labels": train.labels[-n_val:],
            "test_images": test.images, "test_labels": test.labels}


def kendall_tau(a, b) -> float:
    """Kendall rank correlation (tau-b, ties counted) of two equally long sequences: 1 when they rank
    every pair the same way, -1 when every pair is swapped."""
    a, b = torch.as_tensor(a, dtype=torch.float64).flatten(), torch.as_tensor(b, dtype=torch.float64).flatten()
    if len(a) != len(b) or len(a) < 2:
        raise ValueError(f"need two sequences of the same length >= 2; got {len(a)} and {len(b)}")
    da, db = torch.sign(a[:, None] - a[None, :]), torch.sign(b[:, None] - b[None, :])
    concordance = (da * db).sum()
    norm = ((da != 0).sum() * (db != 0).sum()).double().sqrt()
    return float(concordance / norm) if norm > 0 else 0.0


# --- the shipped assets -------------------------------------------------------------------------------

def load_supernet(device=None) -> SuperNet:
    """The shipped once-for-all supernet (built by ``scripts/train_supernet.py``)."""
    checkpoint = torch.load(fetch("ofa_supernet_fmnist"), map_location="cpu", weights_only=True)
    supernet = SuperNet()
    supernet.load_state_dict(checkpoint["state_dict"])
    supernet.meta = checkpoint.get("meta", {})
    return supernet.to(device or "cpu").eval()


def load_arch_table() -> tuple[list[dict], list[float], dict]:
    """The shipped table of sampled subnets: ``(archs, accuracies in percent, meta)``.

    Accuracies were measured on a held-out split of the Fashion-MNIST *training* images that the
    supernet never trained on, after BN re-calibration; ``meta`` says how.
    """
    with gzip.open(fetch("nas_arch_table"), "rt") as f:
        table = json.load(f)
    return table["archs"], table["accuracy"], table["meta"]


# --- a picture of a subnet ---------------------------------------------------------------------------

_KERNEL_COLOURS = {3: "#9ecae1", 5: "#4292c6", 7: "#08519c"}


def draw_arch(arch: dict, ax=None, title: str | None = None):
    """Draw a subnet as a row of blocks: height = expand ratio, colour = kernel size, gaps between
    stages; width multiplier and resolution in the title. Returns the matplotlib axes."""
    import matplotlib.pyplot as plt
    from matplotlib.patches import Patch, Rectangle

    validate_arch(arch)
    if ax is None:
        _, ax = plt.subplots(figsize=(10, 2.2))
    x, last_stage = 0.0, None
    for stage, _, c_out, stride, kernel, expand in active_blocks(arch):
        if last_stage is not None and stage != last_stage:
            x += 0.6
        height = expand / max(EXPAND_RATIOS)
        ax.add_patch(Rectangle((x, (1 - height) / 2), 0.9, height, color=_KERNEL_COLOURS[kernel]))
        ax.text(x + 0.45, 0.5, f"e{expand}\n{kernel}x{kernel}" + ("\n/2" if stride == 2 else ""),
                ha="center", va="center", fontsize=7, color="white" if kernel > 3 else "black")
        ax.text(x + 0.45, -0.08, f"{c_out}", ha="center", va="top", fontsize=7)
        x += 1.0
        last_stage = stage
    ax.set_xlim(-0.2, max(x, 3 * MAX_DEPTH + 2))
    ax.set_ylim(-0.3, 1.05)
    ax.axis("off")
    ax.set_title(title or f"resolution {arch['r']}, width x{arch['w']}, depths {list(arch['d'])}", fontsize=9)
    ax.legend(handles=[Patch(color=c, label=f"{k}x{k}") for k, c in _KERNEL_COLOURS.items()],
              loc="upper right", fontsize=7, ncol=3, frameon=False)
    return ax
