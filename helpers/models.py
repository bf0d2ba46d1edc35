"""Model definitions: the VGG family used by the CNN labs, and loaders for the shipped checkpoints."""

from __future__ import annotations

import math
from collections import OrderedDict, defaultdict

import torch
from torch import nn

# The dense model of Labs 1-2: a VGG-style net sized so that the full-profile labs run on a 2-core
# CPU. Numbers are conv output channels, "M" is a 2x2 max-pool (28 -> 14 -> 7 -> 3 pixels).
VGG_FMNIST_CFG = (32, 32, "M", 64, 64, "M", 128, 128, "M")


class VGG(nn.Module):
    """VGG-style CNN: ``conv3x3 -> BN -> ReLU`` blocks with max-pools, global average pooling and
    one linear classifier.

    Layer names follow the published lab (``backbone.conv0``, ``backbone.bn0``, ``backbone.relu0``,
    ``backbone.pool0``, ..., ``classifier``) so that pruning code can address them by name. Convs
    have no bias: the BatchNorm after each one provides it.
    """

    def __init__(self, cfg=VGG_FMNIST_CFG, in_channels: int = 1, num_classes: int = 10):
        super().__init__()
        self.cfg = tuple(cfg)
        self.in_channels = in_channels
        layers = []
        counts = defaultdict(int)

        def add(kind: str, layer: nn.Module) -> None:
            layers.append((f"{kind}{counts[kind]}", layer))
            counts[kind] += 1

        channels = in_channels
        for x in self.cfg:
            if x == "M":
                add("pool", nn.MaxPool2d(2))
            else:
                add("conv", nn.Conv2d(channels, x, kernel_size=3, padding=1, bias=False))
                add("bn", nn.BatchNorm2d(x))
                add("relu", nn.ReLU(inplace=True))
                channels = x
        self.backbone = nn.Sequential(OrderedDict(layers))
        self.classifier = nn.Linear(channels, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.dim() != 4 or x.shape[1] != self.in_channels:
            raise ValueError(
                f"VGG expects a batch of images shaped (N, {self.in_channels}, H, W); got "
                f"{tuple(x.shape)}. Add a batch dimension with x.unsqueeze(0) if you pass one image."
            )
        x = self.backbone(x)
        x = x.mean([2, 3])  # global average pooling: (N, C, H, W) -> (N, C)
        return self.classifier(x)


def vgg_fmnist(num_classes: int = 10) -> VGG:
    """An untrained VGG of the shipped configuration (1-channel 28x28 input)."""
    return VGG(VGG_FMNIST_CFG, in_channels=1, num_classes=num_classes)


def save_checkpoint(model: VGG, path, **meta) -> None:
    """Save weights plus what is needed to rebuild the model (cfg, channels) and free-form metadata."""
    torch.save(
        {
            "cfg": list(model.cfg),
            "in_channels": model.in_channels,
            "num_classes": model.classifier.out_features,
            "state_dict": model.state_dict(),
            "meta": meta,
        },
        path,
    )


def load_checkpoint(path, map_location="cpu") -> tuple[VGG, dict]:
    """Rebuild a VGG from :func:`save_checkpoint`'s file; returns ``(model, meta)``."""
    ckpt = torch.load(path, map_location=map_location, weights_only=True)
    model = VGG(ckpt["cfg"], ckpt["in_channels"], ckpt["num_classes"])
    model.load_state_dict(ckpt["state_dict"])
    return model.eval(), ckpt.get("meta", {})


def load_pretrained_vgg(name: str = "vgg_fmnist", device=None) -> VGG:
    """The shipped dense checkpoint (verified by :mod:`helpers.assets`), in eval mode."""
    from .assets import fetch

    model, _ = load_checkpoint(fetch(name))
    return model.to(device) if device is not None else model


@torch.no_grad()
def load_folded_vgg(reinit_classifier_seed: int | None = 0, device=None) -> VGG:
    """The pretrained VGG (:func:`load_pretrained_vgg`) with every BatchNorm folded into its conv, in eval mode.

    Why Lab 6 trains this one: in data-parallel training each rank's BatchNorm normalises with the
    statistics of *its own* shard of the batch (and keeps its own running statistics), so N ranks with a
    batch of B/N each do not compute what one process with a batch of B would. Without BatchNorm the model
    is a function of each image alone, averaging the ranks' gradients gives exactly the gradient of the
    whole batch, and data parallelism is exactly large-batch training. (``nn.SyncBatchNorm`` is torch's
    other answer: it all-reduces the statistics in every forward pass.)

    ``reinit_classifier_seed``: unless None, the final ``classifier`` Linear gets a fresh init, torch's
    default for ``nn.Linear``, drawn from ``torch.Generator().manual_seed(seed)`` -- the same weights in
    every process, and a model that has something to learn again. None keeps the trained classifier.
    """
    from .quantization import fuse_vgg_bn  # imported on use, like fetch (no cycle should quantization import models)

    model = fuse_vgg_bn(load_pretrained_vgg())
    if reinit_classifier_seed is not None:
        generator = torch.Generator().manual_seed(reinit_classifier_seed)
        linear = model.classifier  # what nn.Linear.reset_parameters() does, from our generator
        nn.init.kaiming_uniform_(linear.weight, a=math.sqrt(5), generator=generator)
        bound = 1 / math.sqrt(linear.in_features)
        nn.init.uniform_(linear.bias, -bound, bound, generator=generator)
    return model.to(device) if device is not None else model


@torch.no_grad()
def random_vgg(cfg, in_channels: int = 1, num_classes: int = 10, seed: int = 0) -> VGG:
    """A small VGG with random weights *and* random BatchNorm statistics, in eval mode.

    Fresh BatchNorm layers have mean 0 / variance 1, which hides mistakes in code that slices or
    permutes them; tests use this model instead.
    """
    generator = torch.Generator().manual_seed(seed)
    model = VGG(cfg, in_channels, num_classes)
    for module in model.modules():
        if isinstance(module, nn.BatchNorm2d):
            n = module.num_features
            module.weight.copy_(torch.rand(n, generator=generator) + 0.5)
            module.bias.copy_(torch.rand(n, generator=generator) - 0.5)
            module.running_mean.copy_(torch.rand(n, generator=generator) - 0.5)
            module.running_var.copy_(torch.rand(n, generator=generator) + 0.5)
        elif isinstance(module, (nn.Conv2d, nn.Linear)):
            module.weight.copy_(torch.randn(module.weight.shape, generator=generator) * 0.3)
            if module.bias is not None:
                module.bias.copy_(torch.randn(module.bias.shape, generator=generator) * 0.1)
    return model.eval()
