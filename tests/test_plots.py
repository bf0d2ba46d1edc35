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


def test_accuracy_vs_size_one_labelled_marker_per_model():
    fig = plots.plot_accuracy_vs_size({"fp32": (1.1, 94.5), "int8": (0.28, 94.4), "2-bit": (0.07, 93.5)},
                                      reference="fp32")
    ax = fig.axes[0]
    assert [t.get_text() for t in ax.texts] == ["fp32", "int8", "2-bit"]
    assert len(ax.collections) == 3 and ax.get_xscale() == "log"
    assert ax.lines[0].get_ydata()[0] == 94.5  # the reference's dashed line
