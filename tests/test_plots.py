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


def test_accuracy_vs_size_one_labelled_marker_per_model():
    fig = plots.plot_accuracy_vs_size({"fp32": (1.1, 94.5), "int8": (0.28, 94.4), "2-bit": (0.07, 93.5)},
                                      reference="fp32")
    ax = fig.axes[0]
    assert [t.get_text() for t in ax.texts] == ["fp32", "int8", "2-bit"]
    assert len(ax.collections) == 3 and ax.get_xscale() == "log"
    assert ax.lines[0].get_ydata()[0] == 94.5  # the reference's dashed line


def test_roofline_has_both_roofs_and_every_point():
    points = [{"label": "a", "intensity": 3.2, "gops": 1.0}, {"label": "b", "intensity": 3.2, "gops": 40.0},
              {"label": "c", "intensity": 50, "gops": 200.0, "filled": False}]
    fig = plots.plot_roofline(points, bandwidth_gbs=20.0, peak_gops=400.0)
    ax = fig.axes[0]
    assert ax.get_xscale() == "log" and ax.get_yscale() == "log"
    roof = ax.lines[0]
    assert list(roof.get_ydata()) == [ax.get_xlim()[0] * 20.0, 400.0, 400.0]
    assert [t.get_text() for t in ax.texts if t.get_text() in "abc"] == ["a", "b", "c"]


def test_decode_summary_two_panels():
    fig = plots.plot_decode_summary({"fp32": 10.0, "int4": 40.0}, {"fp32": 5.0, "int4": 3.4}, 20.0)
    assert [p.get_height() for p in fig.axes[0].patches] == [10.0, 40.0]
    assert fig.axes[1].lines[0].get_ydata()[0] == 20.0


def test_channel_activations_marks_the_largest_channels():
    x = torch.ones(300)
    x[[7, 100, 250]] = torch.tensor([5.0, 9.0, 7.0])
    fig = plots.plot_channel_activations({"a": x, "b": torch.rand(50)}, frac=0.01)
    assert len(fig.axes) == 2
    line, marks = fig.axes[0].lines
    assert len(line.get_xdata()) == 300
    assert sorted(marks.get_xdata().tolist()) == [7, 100, 250]  # max(1, int(0.01 * 300)) = 3
    assert len(fig.axes[1].lines[1].get_xdata()) == 1  # at least one


def test_quality_vs_size_one_line_per_method():
    fig = plots.plot_quality_vs_size({"RTN": [(98.0, 103.0, "W3"), (111.0, 47.4, "W4")],
                                      "AWQ": [(98.0, 76.0, "W3")]}, baseline=(256.6, 38.7))
    lines = fig.axes[0].lines
    assert [len(line.get_xdata()) for line in lines] == [2, 1, 1]
    assert fig.axes[0].get_yscale() == "log"


def test_search_summary_draws_each_search_and_each_tier():
    fig = plots.plot_search_summary({"random": [(3.0, 90.5), (3.5, 90.8)], "evolution": [(3.9, 91.0)], "none": []},
                                    {"main": (4, 90.5), "bonus": (1.5, 89.2)},
                                    background=([1.0, 2.0], [89.0, 90.0], "table"))
    ax = fig.axes[0]
    assert len(ax.collections) == 3  # the background and the two searches with points
    assert len(ax.lines) == 4  # a MAC limit and a target per tier
    assert ax.get_xscale() == "log"
