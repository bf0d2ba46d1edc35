"""Pruning infrastructure shared by the labs: name validation, masks and the sensitivity scan.

Nothing here prunes by itself: every function takes the pruning function you wrote (e.g.
``fine_grained_prune``) as an argument.
"""

from __future__ import annotations

import difflib
from typing import Callable

import torch
from torch import nn
from torch.utils.data import DataLoader, Subset
from tqdm.auto import tqdm

from .env import grading_cap, show_progress
from .train import evaluate


def prunable_weights(model: nn.Module) -> dict[str, nn.Parameter]:
    """Conv / linear weights by name (``backbone.conv0.weight``, ...): the tensors worth pruning."""
    return {name: p for name, p in model.named_parameters() if p.dim() > 1}


def validate_sparsity_dict(model: nn.Module, sparsity_dict: dict) -> dict:
    """Check that every key names a prunable weight of ``model`` and every sparsity is in [0, 1).

    Raises one ``ValueError`` that lists every problem (with the closest valid name for typos).
    """
    if not isinstance(sparsity_dict, dict):
        raise ValueError(f"sparsity_dict must be a dict {{weight name: sparsity}}, got {type(sparsity_dict).__name__}")
    valid = prunable_weights(model)
    problems = []
    for name, sparsity in sparsity_dict.items():
        if name not in valid:
            close = difflib.get_close_matches(str(name), valid, n=1)
            hint = f" (did you mean {close[0]!r}?)" if close else ""
            problems.append(f"{name!r} is not a prunable weight of this model{hint}")
        if not isinstance(sparsity, (int, float)) or isinstance(sparsity, bool) or not 0.0 <= sparsity < 1.0:
            problems.append(f"{name!r}: sparsity {sparsity!r} is outside [0, 1) (1.0 would delete the layer)")
    if problems:
        raise ValueError("invalid sparsity_dict:\n  - " + "\n  - ".join(problems)
                         + f"\nValid names: {', '.join(valid)}")
    return dict(sparsity_dict)


@torch.no_grad()
def sensitivity_scan(model: nn.Module, dataloader, prune_fn: Callable[[torch.Tensor, float], torch.Tensor],
                     sparsities, layer_names=None) -> dict[str, list[float]]:
    """Prune one layer at a time to each sparsity with ``prune_fn(tensor, sparsity)`` (in place),
    measure accuracy, restore the layer. Returns ``{layer name: [accuracy per sparsity]}``. Under
    nbgrader (ungraded: the scan only has to run) accuracy is measured on the first
    ``GRADING_CAPS["scan_images"]`` images (:func:`helpers.env.grading_cap`)."""
    dataset = getattr(dataloader, "dataset", None)  # (any iterable of batches is fine too)
    if dataset is not None and grading_cap("scan_images", len(dataset)) < len(dataset):
        keep = range(grading_cap("scan_images", len(dataset)))
        dataloader = DataLoader(Subset(dataset, keep), batch_size=dataloader.batch_size)
    weights = prunable_weights(model)
    names = list(layer_names) if layer_names is not None else list(weights)
    validate_sparsity_dict(model, {n: 0.0 for n in names})
    results = {}
    for name in tqdm(names, desc="layers", disable=not show_progress()):
        param = weights[name]
        original = param.detach().clone()
        accuracies = []
        for sparsity in sparsities:
            prune_fn(param.data, float(sparsity))
            accuracies.append(evaluate(model, dataloader, desc=f"{name} @ {sparsity:.2f}"))
            param.data.copy_(original)
        results[name] = accuracies
    return results
