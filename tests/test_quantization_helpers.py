"""helpers.quantization: bit-width checks, k-means in torch, BatchNorm folding, calibration hooks."""

import pytest
import torch
from torch import nn

from helpers.models import random_vgg
from helpers.quantization import (
    Codebook,
    check_bitwidth,
    fuse_conv_bn,
    fuse_vgg_bn,
    kmeans,
    record_activation_ranges,
)


@pytest.mark.parametrize("bits", [1, 4, 8])
def test_check_bitwidth_accepts(bits):
    assert check_bitwidth(bits) == bits


@pytest.mark.parametrize("bad", [0, 9, -1, 2.5, True, "4", None])
def test_check_bitwidth_rejects(bad):
    with pytest.raises(ValueError, match=r"bitwidth must be an integer in \[1, 8\]"):
        check_bitwidth(bad)


def test_check_bitwidth_custom_range():
    assert check_bitwidth(32, 1, 32) == 32
    with pytest.raises(ValueError, match=r"\[1, 32\]"):
        check_bitwidth(33, 1, 32)


def test_kmeans_is_a_fixed_point_of_lloyd():
    x = torch.randn(2000, generator=torch.Generator().manual_seed(0))
    cb = kmeans(x, 8)
    assert isinstance(cb, Codebook) and cb.centroids.shape == (8,) and cb.labels.shape == (2000,)
    assert cb.labels.dtype == torch.int64 and torch.all(cb.centroids[1:] >= cb.centroids[:-1])
    # every value is labelled with its nearest centroid, every centroid is its cluster's mean
    nearest = (x[:, None] - cb.centroids[None]).abs().argmin(1)
    assert torch.equal(cb.centroids[nearest], cb.centroids[cb.labels])
    for k in range(8):
        assert torch.allclose(cb.centroids[k], x[cb.labels == k].mean(), atol=1e-5)


def test_kmeans_is_deterministic_and_keeps_the_input():
    x = torch.randn(5, 7, 3, generator=torch.Generator().manual_seed(1))
    before = x.clone()
    a, b = kmeans(x, 16), kmeans(x, 16)
    assert torch.equal(a.centroids, b.centroids) and torch.equal(a.labels, b.labels)
    assert torch.equal(x, before)


def test_kmeans_uses_every_cluster_when_it_can():
    g = torch.Generator().manual_seed(2)
    for _ in range(5):
        x = (torch.rand(25, generator=g) - 0.5).round(decimals=2)
        k = min(16, len(torch.unique(x)))
        assert len(torch.unique(kmeans(x, k).labels)) == k


def test_kmeans_all_equal_values_is_degenerate_but_exact():
    cb = kmeans(torch.full((3, 4), 2.5), 4)
    assert torch.all(cb.centroids == 2.5)
    assert torch.all(cb.centroids[cb.labels] == 2.5)


def test_kmeans_more_clusters_than_values():
    x = torch.tensor([1.0, -1.0, 3.0])
    cb = kmeans(x, 8)
    assert torch.equal(cb.centroids[cb.labels], x)


def test_kmeans_bad_inputs():
    with pytest.raises(ValueError, match="empty"):
        kmeans(torch.empty(0), 4)
    with pytest.raises(ValueError, match="finite"):
        kmeans(torch.tensor([1.0, float("nan")]), 2)
    with pytest.raises(ValueError, match="n_clusters"):
        kmeans(torch.randn(10), 0)


def test_fuse_conv_bn_matches_eval_mode():
    model = random_vgg((4, "M", 6), in_channels=2, seed=3)
    conv, bn = model.backbone.conv0, model.backbone.bn0
    x = torch.randn(3, 2, 8, 8, generator=torch.Generator().manual_seed(0))
    fused = fuse_conv_bn(conv, bn)
    assert fused.bias is not None and conv.bias is None, "the original conv must not change"
    assert torch.allclose(fused(x), bn(conv(x)), atol=1e-5)


def test_fuse_conv_bn_with_conv_bias_and_mismatch():
    conv, bn = nn.Conv2d(3, 5, 3, bias=True), nn.BatchNorm2d(5)
    with torch.no_grad():
        bn.running_mean.uniform_(-1, 1)
        bn.running_var.uniform_(0.5, 2)
    bn.eval()
    x = torch.randn(2, 3, 6, 6)
    assert torch.allclose(fuse_conv_bn(conv, bn)(x), bn(conv(x)), atol=1e-5)
    with pytest.raises(ValueError, match="output channels"):
        fuse_conv_bn(conv, nn.BatchNorm2d(4))


def test_fuse_vgg_bn_same_outputs_and_no_batchnorm():
    model = random_vgg((8, "M", 16, 16, "M"), seed=4)
    fused = fuse_vgg_bn(model)
    assert not any(isinstance(m, nn.BatchNorm2d) for m in fused.modules())
    assert any(isinstance(m, nn.BatchNorm2d) for m in model.modules()), "the original model must not change"
    assert [n for n, _ in fused.backbone.named_children()][:3] == ["conv0", "relu0", "pool0"]
    x = torch.randn(4, 1, 16, 16, generator=torch.Generator().manual_seed(1))
    assert torch.allclose(fused(x), model(x), atol=1e-4)


def test_record_activation_ranges_matches_manual_ranges_and_removes_hooks():
    model = fuse_vgg_bn(random_vgg((4, "M", 8), seed=5))
    g = torch.Generator().manual_seed(0)
    batches = [(torch.randn(8, 1, 8, 8, generator=g), torch.zeros(8)) for _ in range(3)]
    ranges = record_activation_ranges(model, batches)
    assert set(ranges) == {"backbone.conv0", "backbone.relu0", "backbone.conv1", "backbone.relu1", "classifier"}
    x = torch.cat([b[0] for b in batches])
    assert ranges["backbone.conv0"]["input"] == pytest.approx((x.min().item(), x.max().item()))
    out = model.backbone.conv0(x)
    assert ranges["backbone.conv0"]["output"] == pytest.approx((out.min().item(), out.max().item()), abs=1e-5)
    assert ranges["backbone.relu0"]["output"][0] == 0.0
    assert all(not m._forward_hooks for m in model.modules()), "hooks must be removed"
    clipped = record_activation_ranges(model, [b[0] for b in batches], percentile=99.0)
    lo, hi = clipped["backbone.conv0"]["input"]
    assert ranges["backbone.conv0"]["input"][0] < lo < hi < ranges["backbone.conv0"]["input"][1]


def test_record_activation_ranges_bad_inputs():
    model = fuse_vgg_bn(random_vgg((4,), seed=0))
    with pytest.raises(ValueError, match="no calibration batches"):
        record_activation_ranges(model, [])
    assert all(not m._forward_hooks for m in model.modules())
    with pytest.raises(ValueError, match="percentile"):
        record_activation_ranges(model, [torch.randn(2, 1, 4, 4)], percentile=30)
