"""helpers.metrics: sparsity, parameter counts, sizes in bits, MACs (flop_counter), latency."""

import pytest
import torch
from torch import nn

from helpers.metrics import (
    MiB,
    get_model_macs,
    get_model_size,
    get_model_sparsity,
    get_num_parameters,
    get_sparsity,
    measure_latency,
)
from helpers.models import VGG


def test_sparsity():
    assert get_sparsity(torch.tensor([0.0, 1.0, 0.0, 2.0])) == 0.5
    assert get_sparsity(torch.empty(0)) == 0.0
    model = nn.Linear(2, 2, bias=False)
    model.weight.data = torch.tensor([[0.0, 1.0], [0.0, 0.0]])
    assert get_model_sparsity(model) == 0.75


def test_parameters_and_size():
    model = nn.Linear(10, 5)  # 55 parameters
    assert get_num_parameters(model) == 55
    model.weight.data[:, :4] = 0  # 20 zeros
    assert get_num_parameters(model, count_nonzero_only=True) == 35
    assert get_model_size(model) == 55 * 32
    assert get_model_size(model, data_width=8, count_nonzero_only=True) == 35 * 8
    assert MiB == 8 * 1024 * 1024


def test_group_overhead():
    model = nn.Linear(256, 2, bias=False)  # 512 weights = 4 groups of 128
    assert get_model_size(model, data_width=4, group_size=128, group_overhead_bits=32) == 512 * 4 + 4 * 32


def test_bad_width():
    with pytest.raises(ValueError, match="positive number of bits"):
        get_model_size(nn.Linear(2, 2), data_width=0)


def test_macs_match_the_formula():
    model = VGG((8, "M", 16), in_channels=3, num_classes=10)
    # conv0: 8*3*9 MACs per pixel at 32x32; conv1: 16*8*9 at 16x16; classifier 16*10
    expected = 8 * 3 * 9 * 32 * 32 + 16 * 8 * 9 * 16 * 16 + 16 * 10
    assert get_model_macs(model, torch.randn(1, 3, 32, 32)) == expected
    assert get_model_macs(model, torch.randn(4, 3, 32, 32)) == 4 * expected


def test_macs_keep_training_mode():
    model = VGG((8,), in_channels=1).train()
    get_model_macs(model, torch.randn(1, 1, 8, 8))
    assert model.training


def test_latency_positive_and_threads_restored():
    threads = torch.get_num_threads()
    seconds = measure_latency(nn.Linear(64, 64), torch.randn(8, 64), n_warmup=2, n_test=5, num_threads=1)
    assert 0 < seconds < 1
    assert torch.get_num_threads() == threads


def test_latency_warmup_is_not_timed():
    calls = []

    class Counting(nn.Module):
        def forward(self, x):
            calls.append(1)
            return x

    measure_latency(Counting(), torch.zeros(1), n_warmup=3, n_test=4)
    assert len(calls) == 7
