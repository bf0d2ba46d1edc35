"""helpers.pruning: sparsity_dict validation and the sensitivity scan."""

import pytest
import torch

from helpers.models import random_vgg
from helpers.pruning import prunable_weights, sensitivity_scan, validate_sparsity_dict


@pytest.fixture
def model():
    return random_vgg((4, "M", 8))


def test_prunable_weights(model):
    assert list(prunable_weights(model)) == ["backbone.conv0.weight", "backbone.conv1.weight", "classifier.weight"]


def test_valid_dict_passes(model):
    d = {"backbone.conv0.weight": 0.0, "classifier.weight": 0.9}
    assert validate_sparsity_dict(model, d) == d


def test_typo_suggests_the_name(model):
    with pytest.raises(ValueError, match="did you mean 'backbone.conv1.weight'"):
        validate_sparsity_dict(model, {"backbone.conv1.weights": 0.5})


@pytest.mark.parametrize("bad", [1.0, -0.1, 1.5, "0.5", True, None])
def test_out_of_range(model, bad):
    with pytest.raises(ValueError, match=r"outside \[0, 1\)"):
        validate_sparsity_dict(model, {"backbone.conv0.weight": bad})


def test_every_problem_is_listed(model):
    with pytest.raises(ValueError) as err:
        validate_sparsity_dict(model, {"conv9": 0.5, "classifier.weight": 2})
    assert "conv9" in str(err.value) and "classifier.weight': sparsity 2" in str(err.value)


def test_not_a_dict(model):
    with pytest.raises(ValueError, match="must be a dict"):
        validate_sparsity_dict(model, [0.5, 0.5])


def _zero_smallest(tensor, sparsity):
    k = int(round(sparsity * tensor.numel()))
    if k:
        threshold = tensor.abs().flatten().kthvalue(k).values
        tensor.mul_(tensor.abs() > threshold)
    return tensor != 0


def test_sensitivity_scan_restores_weights_and_calls_prune_fn():
    model = random_vgg((4, "M", 8))
    g = torch.Generator().manual_seed(0)
    loader = [(torch.randn(16, 1, 8, 8, generator=g), torch.randint(0, 10, (16,), generator=g))]
    before = {k: v.clone() for k, v in model.state_dict().items()}
    seen = []

    def prune(tensor, sparsity):
        seen.append((tuple(tensor.shape), sparsity))
        return _zero_smallest(tensor, sparsity)

    result = sensitivity_scan(model, loader, prune, [0.0, 0.5, 0.99], layer_names=["backbone.conv1.weight"])
    assert list(result) == ["backbone.conv1.weight"] and len(result["backbone.conv1.weight"]) == 3
    assert seen == [((8, 4, 3, 3), 0.0), ((8, 4, 3, 3), 0.5), ((8, 4, 3, 3), 0.99)]
    assert all(torch.equal(before[k], v) for k, v in model.state_dict().items())


def test_sensitivity_scan_under_nbgrader_measures_the_first_images(monkeypatch):
    from torch.utils.data import DataLoader, TensorDataset

    from helpers.env import GRADING_CAPS
    from helpers.train import evaluate

    model = random_vgg((4, "M", 8))
    g = torch.Generator().manual_seed(0)
    n = GRADING_CAPS["scan_images"]
    data = TensorDataset(torch.randn(2 * n, 1, 8, 8, generator=g), torch.randint(0, 10, (2 * n,), generator=g))
    monkeypatch.setenv("NBGRADER_EXECUTION", "autograde")
    result = sensitivity_scan(model, DataLoader(data, batch_size=64), lambda t, s: t.mul_(0), [0.5],
                              layer_names=["classifier.weight"])
    model.classifier.weight.data.zero_()
    first = DataLoader(TensorDataset(*data[:n]), batch_size=64)
    assert result["classifier.weight"] == [evaluate(model, first)]


def test_sensitivity_scan_rejects_unknown_layers(model):
    with pytest.raises(ValueError, match="not a prunable weight"):
        sensitivity_scan(model, [], _zero_smallest, [0.5], layer_names=["backbone.bn0.weight"])
