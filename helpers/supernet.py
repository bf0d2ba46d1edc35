"""The Lab 3 once-for-all supernet: a MobileNetV2-like net whose every subnet shares its weights.

An *architecture* is a plain dict (JSON-friendly, the published lab's format)::

    {"ks": [k per block slot], "e": [expand ratio per slot], "d": [depth per stage],
     "w": width multiplier, "r": input resolution}

There are ``len(STAGES) * MAX_DEPTH`` block slots; stage ``i`` runs its first ``d[i]`` slots and
ignores the ``ks``/``e`` entries of the others. Elastic dimensions and how a subnet takes its
weights from the supernet (once-for-all / BigNAS weight sharing):

- kernel size 3/5/7: the centre of the 7x7 depthwise kernel;
- expand ratio 3/4/6 and width multiplier: the first channels of every layer;
- depth 1-3 per stage: the first blocks of the stage;
- resolution: the input image is resized (bilinear) before the stem.

``SuperNet(arch)`` runs a subnet inside the supernet (training); ``SuperNet.get_subnet(arch)``
copies its weights into a small standalone ``SubNet`` of ordinary ``nn.Conv2d`` / ``nn.BatchNorm2d``
layers (evaluation, MACs, deployment).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

KERNEL_SIZES = (3, 5, 7)
EXPAND_RATIOS = (3, 4, 6)
DEPTHS = (1, 2, 3)
WIDTH_MULTS = (0.5, 0.75, 1.0)
RESOLUTIONS = (16, 20, 24, 28, 32)
STEM_CHANNELS, STEM_STRIDE = 16, 2
STAGES = ((24, 1), (40, 2), (64, 2), (96, 1))  # (output channels at width 1.0, stride of the first block)
HEAD_CHANNELS = 256
MAX_DEPTH = max(DEPTHS)
N_SLOTS = len(STAGES) * MAX_DEPTH
ARCH_KEYS = ("ks", "e", "d", "w", "r")


def scaled(channels: int, width: float) -> int:
    """Channels at a width multiplier, rounded to a multiple of 8 (at least 8)."""
    return max(8, int(round(channels * width / 8)) * 8)


def conv_out(size: int, stride: int) -> int:
    """Spatial size after a 'same'-padded convolution: ceil(size / stride)."""
    return (size + stride - 1) // stride


def count_subnets() -> int:
    """Number of distinct architectures in the design space (inactive slots do not count)."""
    per_block = len(KERNEL_SIZES) * len(EXPAND_RATIOS)
    per_stage = sum(per_block ** d for d in DEPTHS)
    return per_stage ** len(STAGES) * len(WIDTH_MULTS) * len(RESOLUTIONS)


def validate_arch(arch: dict) -> dict:
    """Check an architecture dict; raise ``ValueError`` saying what is wrong, else return it."""
    if not isinstance(arch, dict):
        raise ValueError(f"an architecture is a dict with keys {ARCH_KEYS}; got {type(arch).__name__}")
    unknown, missing = set(arch) - set(ARCH_KEYS), set(ARCH_KEYS) - set(arch)
    if unknown or missing:
        raise ValueError(f"architecture keys must be {ARCH_KEYS}: unknown {sorted(unknown)}, missing {sorted(missing)}")
    for key, n, choices in (("ks", N_SLOTS, KERNEL_SIZES), ("e", N_SLOTS, EXPAND_RATIOS), ("d", len(STAGES), DEPTHS)):
        values = list(arch[key])
        if len(values) != n or any(v not in choices for v in values):
            raise ValueError(f"arch[{key!r}] must be {n} values from {choices}; got {values}")
    if arch["w"] not in WIDTH_MULTS:
        raise ValueError(f"arch['w'] must be one of {WIDTH_MULTS}; got {arch['w']!r}")
    if arch["r"] not in RESOLUTIONS:
        raise ValueError(f"arch['r'] must be one of {RESOLUTIONS}; got {arch['r']!r}")
    return arch


def active_blocks(arch: dict):
    """Yield ``(stage, slot, out_channels, stride, kernel, expand)`` for the blocks a subnet runs."""
    for stage, (channels, stride) in enumerate(STAGES):
        for j in range(arch["d"][stage]):
            slot = stage * MAX_DEPTH + j
            yield stage, slot, scaled(channels, arch["w"]), stride if j == 0 else 1, arch["ks"][slot], arch["e"][slot]


def largest_arch() -> dict:
    return {"ks": [max(KERNEL_SIZES)] * N_SLOTS, "e": [max(EXPAND_RATIOS)] * N_SLOTS,
            "d": [max(DEPTHS)] * len(STAGES), "w": max(WIDTH_MULTS), "r": max(RESOLUTIONS)}


def smallest_arch() -> dict:
    return {"ks": [min(KERNEL_SIZES)] * N_SLOTS, "e": [min(EXPAND_RATIOS)] * N_SLOTS,
            "d": [min(DEPTHS)] * len(STAGES), "w": min(WIDTH_MULTS), "r": min(RESOLUTIONS)}


def resize(images: torch.Tensor, resolution: int) -> torch.Tensor:
    """Bilinear resize of an image batch to ``resolution`` x ``resolution`` (no-op when equal)."""
    if images.shape[-1] == resolution and images.shape[-2] == resolution:
        return images
    return F.interpolate(images, size=(resolution, resolution), mode="bilinear", align_corners=False)


# --- the supernet: layers that run the first channels / the centre of the kernel -----------------

class ElasticBlock(nn.Module):
    """Inverted residual block (1x1 expand -> kxk depthwise -> 1x1 project) at its largest size."""

    def __init__(self, max_in: int, max_out: int, stride: int):
        super().__init__()
        max_mid = max_in * max(EXPAND_RATIOS)
        self.stride, self.k_max = stride, max(KERNEL_SIZES)
        self.expand = nn.Conv2d(max_in, max_mid, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(max_mid)
        self.depthwise = nn.Conv2d(max_mid, max_mid, self.k_max, stride, self.k_max // 2, groups=max_mid, bias=False)
        self.bn2 = nn.BatchNorm2d(max_mid)
        self.project = nn.Conv2d(max_mid, max_out, 1, bias=False)
        self.bn3 = nn.BatchNorm2d(max_out)

    def weights(self, c_in: int, c_out: int, kernel: int, expand: int) -> dict:
        """The sliced weights of one subnet block (views into the supernet's tensors)."""
        mid, crop = c_in * expand, (self.k_max - kernel) // 2
        return {
            "expand": self.expand.weight[:mid, :c_in],
            "depthwise": self.depthwise.weight[:mid, :, crop:crop + kernel, crop:crop + kernel],
            "project": self.project.weight[:c_out, :mid],
            "bn1": (self.bn1, mid), "bn2": (self.bn2, mid), "bn3": (self.bn3, c_out),
        }

    def forward(self, x, c_out: int, kernel: int, expand: int):
        w = self.weights(x.shape[1], c_out, kernel, expand)
        y = F.relu6(_bn(F.conv2d(x, w["expand"]), *w["bn1"]))
        y = F.conv2d(y, w["depthwise"], stride=self.stride, padding=kernel // 2, groups=y.shape[1])
        y = F.relu6(_bn(y, *w["bn2"]))
        y = _bn(F.conv2d(y, w["project"]), *w["bn3"])
        return y + x if self.stride == 1 and x.shape[1] == c_out else y


def _bn(x, bn: nn.BatchNorm2d, c: int):
    """BatchNorm over the first ``c`` channels (batch statistics in training, running ones in eval)."""
    training = bn.training or bn.running_mean is None
    return F.batch_norm(x, bn.running_mean[:c] if not training else None,
                        bn.running_var[:c] if not training else None,
                        bn.weight[:c], bn.bias[:c], training, 0.0, bn.eps)


class SuperNet(nn.Module):
    """The once-for-all supernet. ``model(images, arch)`` runs subnet ``arch``.

    Supernet BatchNorm layers only serve training (batch statistics): a subnet is evaluated after
    ``get_subnet`` and BN re-calibration (``helpers.nas.calibrate_bn``), as in once-for-all.
    """

    def __init__(self, in_channels: int = 1, num_classes: int = 10):
        super().__init__()
        self.in_channels, self.num_classes = in_channels, num_classes
        self.stem = nn.Conv2d(in_channels, STEM_CHANNELS, 3, STEM_STRIDE, 1, bias=False)
        self.stem_bn = nn.BatchNorm2d(STEM_CHANNELS)
        blocks, c_in = [], STEM_CHANNELS
        for channels, stride in STAGES:
            for j in range(MAX_DEPTH):
                blocks.append(ElasticBlock(c_in, channels, stride if j == 0 else 1))
                c_in = channels
        self.blocks = nn.ModuleList(blocks)
        self.head = nn.Conv2d(c_in, HEAD_CHANNELS, 1, bias=False)
        self.head_bn = nn.BatchNorm2d(HEAD_CHANNELS)
        self.classifier = nn.Linear(HEAD_CHANNELS, num_classes)

    def forward(self, images: torch.Tensor, arch: dict) -> torch.Tensor:
        w = arch["w"]
        x = resize(images, arch["r"])
        stem = scaled(STEM_CHANNELS, w)
        x = F.relu6(_bn(F.conv2d(x, self.stem.weight[:stem], stride=STEM_STRIDE, padding=1), self.stem_bn, stem))
        for _, slot, c_out, _, kernel, expand in active_blocks(arch):
            x = self.blocks[slot](x, c_out, kernel, expand)
        head = scaled(HEAD_CHANNELS, w)
        x = F.relu6(_bn(F.conv2d(x, self.head.weight[:head, :x.shape[1]]), self.head_bn, head))
        return F.linear(x.mean((2, 3)), self.classifier.weight[:, :head], self.classifier.bias)

    @torch.no_grad()
    def get_subnet(self, arch: dict) -> "SubNet":
        """A standalone copy of subnet ``arch`` (ordinary layers; BN statistics copied, re-calibrate them)."""
        validate_arch(arch)
        subnet = SubNet(arch, self.in_channels, self.num_classes)
        w = arch["w"]
        stem, head = scaled(STEM_CHANNELS, w), scaled(HEAD_CHANNELS, w)
        _copy_conv_bn(subnet.stem, self.stem.weight[:stem], self.stem_bn, stem)
        for block, (_, slot, c_out, _, kernel, expand) in zip(subnet.blocks, active_blocks(arch)):
            weights = self.blocks[slot].weights(block.in_channels, c_out, kernel, expand)
            for i, name in enumerate(("expand", "depthwise", "project")):
                _copy_conv_bn(block.layers[3 * i: 3 * i + 2], weights[name], *weights[f"bn{i + 1}"])
        _copy_conv_bn(subnet.head, self.head.weight[:head, :subnet.blocks[-1].out_channels], self.head_bn, head)
        subnet.classifier.weight.copy_(self.classifier.weight[:, :head])
        subnet.classifier.bias.copy_(self.classifier.bias)
        return subnet.to(self.stem.weight.device)


def _copy_conv_bn(conv_bn: nn.Sequential, weight: torch.Tensor, bn: nn.BatchNorm2d, c: int) -> None:
    conv_bn[0].weight.copy_(weight)
    for name in ("weight", "bias", "running_mean", "running_var"):
        getattr(conv_bn[1], name).copy_(getattr(bn, name)[:c])


# --- a standalone subnet ----------------------------------------------------------------------------

def conv_bn(c_in: int, c_out: int, kernel: int, stride: int = 1, groups: int = 1, act: bool = True) -> nn.Sequential:
    layers = [nn.Conv2d(c_in, c_out, kernel, stride, kernel // 2, groups=groups, bias=False), nn.BatchNorm2d(c_out)]
    return nn.Sequential(*layers, *([nn.ReLU6(inplace=True)] if act else []))


class MBBlock(nn.Module):
    """One inverted residual block of a subnet; its attributes describe its shape."""

    def __init__(self, in_channels: int, out_channels: int, stride: int, kernel_size: int, expand_ratio: int):
        super().__init__()
        self.in_channels, self.out_channels = in_channels, out_channels
        self.mid_channels = in_channels * expand_ratio
        self.stride, self.kernel_size, self.expand_ratio = stride, kernel_size, expand_ratio
        self.has_residual = stride == 1 and in_channels == out_channels
        mid = self.mid_channels
        self.layers = nn.Sequential(
            *conv_bn(in_channels, mid, 1),                                # 1x1 expand
            *conv_bn(mid, mid, kernel_size, stride, groups=mid),           # kxk depthwise
            *conv_bn(mid, out_channels, 1, act=False),                     # 1x1 project (linear)
        )

    def forward(self, x):
        y = self.layers(x)
        return y + x if self.has_residual else y

    def extra_repr(self) -> str:
        return (f"in={self.in_channels}, mid={self.mid_channels}, out={self.out_channels}, k={self.kernel_size}, "
                f"stride={self.stride}, residual={self.has_residual}")


class SubNet(nn.Module):
    """A subnet as an ordinary network: ``stem -> blocks -> head (1x1 conv) -> pool -> classifier``.

    ``forward`` resizes its input to ``self.resolution`` first, so it takes the 28x28 images as they are.
    """

    def __init__(self, arch: dict, in_channels: int = 1, num_classes: int = 10):
        super().__init__()
        validate_arch(arch)
        self.arch = {k: (list(v) if isinstance(v, (list, tuple)) else v) for k, v in arch.items()}
        self.resolution, self.in_channels = arch["r"], in_channels
        stem = scaled(STEM_CHANNELS, arch["w"])
        self.stem = conv_bn(in_channels, stem, 3, STEM_STRIDE)
        self.stem_stride = STEM_STRIDE
        blocks, c_in = [], stem
        for _, _, c_out, stride, kernel, expand in active_blocks(arch):
            blocks.append(MBBlock(c_in, c_out, stride, kernel, expand))
            c_in = c_out
        self.blocks = nn.ModuleList(blocks)
        self.head = conv_bn(c_in, scaled(HEAD_CHANNELS, arch["w"]), 1)
        self.classifier = nn.Linear(self.head[0].out_channels, num_classes)

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        if images.dim() != 4 or images.shape[1] != self.in_channels:
            raise ValueError(f"a subnet expects images shaped (N, {self.in_channels}, H, W); got {tuple(images.shape)}")
        x = self.stem(resize(images, self.resolution))
        for block in self.blocks:
            x = block(x)
        return self.classifier(self.head(x).mean((2, 3)))
