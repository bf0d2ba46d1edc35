"""helpers.plots: every plot returns a figure with the expected panels."""

import matplotlib.pyplot as plt
import pytest
import torch

from helpers import plots
from helpers.models import random_vgg


@pytest.fixture(autouse=True)
def close_figures():
    yield
    plt.close("all")


def test_weight_distribution_one_panel_per_weight():
    model = random_vgg((4, "M", 8, 8))  # 3 convs + classifier
    fig = plots.plot_weight_distribution(model, bins=16)
    titled = [ax.get_title() for ax in fig.axes if ax.get_title()]
    assert titled == ["backbone.conv0.weight", "backbone.conv1.weight", "backbone.conv2.weight", "classifier.weight"]
    model.backbone.conv1.weight.data.zero_()
    model.backbone.conv1.weight.data[0, 0, 0, 0] = 1.0
    plots.plot_weight_distribution(model, count_nonzero_only=True)


def test_parameter_bars():
    fig = plots.plot_num_parameters_distribution(random_vgg((4, 8)))
    heights = [p.get_height() for p in fig.axes[0].patches]
    assert heights == [4 * 1 * 9, 8 * 4 * 9, 8 * 10]


def test_sensitivity_scan_plot():
    fig = plots.plot_sensitivity_scan([0.4, 0.8], {"a": [90.0, 80.0], "b": [91.0, 85.0]}, 92.0)
    assert [ax.get_title() for ax in fig.axes if ax.get_title()] == ["a", "b"]
    shown = [ax for ax in fig.axes if ax.get_title()]
    assert shown[0].get_ylim() == shown[1].get_ylim(), "the layers' steepness is compared on one y-axis"
    assert shown[0].get_ylim()[0] <= 80.0


def test_tradeoffs_one_panel_per_cost_one_point_per_model():
    models = {"dense": {"accuracy": 94.0, "size_mib": 1.1, "macs": 29e6},
              "pruned": {"accuracy": 93.5, "size_mib": 0.3, "macs": 14e6}}
    fig = plots.plot_tradeoffs(models, {"size_mib": "size (MiB)", "macs": "MACs"})
    assert [ax.get_xlabel() for ax in fig.axes] == ["size (MiB)", "MACs"]
    assert [len(ax.texts) for ax in fig.axes] == [2, 2]


def test_matrices_and_bars():
    fig = plots.plot_matrices({"dense": torch.ones(3, 3), "pruned": torch.eye(3)})
    assert len(fig.axes) == 2 and len(fig.axes[1].texts) == 9
    fig = plots.plot_bars({"dense": 1.0, "pruned": 0.4}, "MiB")
    assert [p.get_height() for p in fig.axes[0].patches] == [1.0, 0.4]


def test_matrices_coloured_by_value_count_distinct_values():
    fig = plots.plot_matrices({"a": torch.tensor([[0.1, 0.1], [0.2, 0.3]]), "b": torch.zeros(2, 2)}, colour_by="value")
    titles = [ax.get_title() for ax in fig.axes]
    assert "3 distinct values" in titles[0] and "1 distinct values" in titles[1]
    with pytest.raises(ValueError, match="colour_by"):
        plots.plot_matrices({"a": torch.zeros(2, 2)}, colour_by="sign")
