"""Efficiency metrics: parameters, model size, sparsity, MACs, latency.

Sizes are in **bits**; divide by the constants below (``size / MiB``) for readable units.
MACs come from ``torch.utils.flop_counter`` (one multiply-accumulate = 2 FLOPs).
"""

from __future__ import annotations

import math
import statistics
import time

import torch
from torch import nn
from torch.utils.flop_counter import FlopCounterMode

Byte = 8
KiB = 1024 * Byte
MiB = 1024 * KiB
GiB = 1024 * MiB


def get_sparsity(tensor: torch.Tensor) -> float:
    """Fraction of zeros: ``1 - nonzeros / elements`` (0 for an empty tensor)."""
    if tensor.numel() == 0:
        return 0.0
    return 1.0 - float(tensor.count_nonzero()) / tensor.numel()


def get_model_sparsity(model: nn.Module) -> float:
    """Fraction of zeros over all parameters of ``model``."""
    total = sum(p.numel() for p in model.parameters())
    nonzero = sum(int(p.count_nonzero()) for p in model.parameters())
    return 1.0 - nonzero / max(total, 1)


def get_num_parameters(model: nn.Module, count_nonzero_only: bool = False, trainable_only: bool = False) -> int:
    """Number of parameters (only the non-zero ones when ``count_nonzero_only``, only those with requires_grad
    when ``trainable_only``)."""
    params = [p for p in model.parameters() if p.requires_grad or not trainable_only]
    if count_nonzero_only:
        return sum(int(p.count_nonzero()) for p in params)
    return sum(p.numel() for p in params)


def get_model_size(model: nn.Module, data_width: int = 32, count_nonzero_only: bool = False,
                   group_size: int | None = None, group_overhead_bits: int = 0) -> int:
    """Model size in bits: parameters x ``data_width``.

    ``count_nonzero_only`` counts only non-zero weights (the size of a sparse model ignoring index
    overhead). ``group_size`` / ``group_overhead_bits`` add per-group metadata (e.g. a 16-bit scale
    and zero point for every group of 128 weights) to every weight matrix / kernel (dim >= 2).
    """
    if data_width <= 0:
        raise ValueError(f"data_width must be a positive number of bits, got {data_width}")
    bits = get_num_parameters(model, count_nonzero_only) * data_width
    if group_size:
        for p in model.parameters():
            if p.dim() >= 2:
                bits += math.ceil(p.numel() / group_size) * group_overhead_bits
    return bits


def get_model_macs(model: nn.Module, inputs: torch.Tensor) -> int:
    """Multiply-accumulate operations of one forward pass on ``inputs`` (counted by torch)."""
    was_training = model.training
    model.eval()
    with torch.no_grad(), FlopCounterMode(display=False) as counter:
        model(inputs)
    model.train(was_training)
    return counter.get_total_flops() // 2


@torch.inference_mode()
def measure_latency(model: nn.Module, dummy_input: torch.Tensor, n_warmup: int = 10, n_test: int = 50,
                    num_threads: int | None = None) -> float:
    """Median wall-clock seconds of one forward pass, after ``n_warmup`` untimed passes.

    ``num_threads`` temporarily sets torch's intra-op threads (report it with the number).
    """
    previous = torch.get_num_threads()
    if num_threads is not None:
        torch.set_num_threads(num_threads)
    try:
        model.eval()
        cuda = dummy_input.is_cuda
        for _ in range(n_warmup):
            model(dummy_input)
        times = []
        for _ in range(n_test):
            if cuda:
                torch.cuda.synchronize()
            start = time.perf_counter()
            model(dummy_input)
            if cuda:
                torch.cuda.synchronize()
            times.append(time.perf_counter() - start)
        return statistics.median(times)
    finally:
        torch.set_num_threads(previous)
