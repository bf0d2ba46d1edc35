"""Datasets and loaders.

* Fashion-MNIST (default, offline): the full 60k/10k set from the Debian package
  ``dataset-fashion-mnist`` or a download (see :mod:`helpers.assets`), and a fixed stratified
  subset shipped with the repository for the ``fast`` profile.
* CIFAR-10 (online option): downloaded by torchvision into the cache directory.
* Jane Austen's novels (default LLM text, offline): *Persuasion* (evaluation) and *Pride and
  Prejudice* (calibration), shipped with the repository (see ``scripts/extract_austen.py``).
* wikitext-2 and pile-val (online option for the LLM labs): through the ``datasets`` package.
"""

from __future__ import annotations

import gzip
from pathlib import Path

import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset, Subset

from .assets import fetch
from .env import cache_dir, grading_cap, is_fast
from .install_check import pip_install

# per-channel mean / std of the training images (pixel values scaled to [0, 1])
FMNIST_MEAN, FMNIST_STD = (0.2860,), (0.3530,)
CIFAR10_MEAN, CIFAR10_STD = (0.4914, 0.4822, 0.4465), (0.2470, 0.2435, 0.2616)
DATASETS = ("fashion-mnist", "cifar10")


class DatasetError(RuntimeError):
    """A dataset could not be loaded; the message says what to do."""


def read_idx(path: Path) -> np.ndarray:
    """Read an IDX file (the MNIST format; gzip-compressed or not) into a NumPy array."""
    opener = gzip.open if str(path).endswith(".gz") else open
    with opener(path, "rb") as f:
        data = f.read()
    if data[:2] != b"\x00\x00" or data[2] != 0x08:
        raise DatasetError(f"{path} is not an unsigned-byte IDX file")
    ndim = data[3]
    shape = tuple(int.from_bytes(data[4 + 4 * i: 8 + 4 * i], "big") for i in range(ndim))
    return np.frombuffer(data, dtype=np.uint8, offset=4 + 4 * ndim).reshape(shape)


def load_fashion_mnist(split: str = "train", subset: bool | None = None):
    """Return ``(images, labels)``: uint8 ``(N, 28, 28)`` and int64 ``(N,)`` tensors.

    ``subset=None`` follows the profile: the shipped subset under ``fast``, the full set under
    ``full``. The full set needs the Debian package or one download (the error says which).
    """
    if split not in ("train", "test"):
        raise ValueError(f"split must be 'train' or 'test', got {split!r}")
    subset = is_fast() if subset is None else subset
    if subset:
        with np.load(fetch("fashion_mnist_subset")) as npz:
            images, labels = npz[f"{split}_images"], npz[f"{split}_labels"]
    else:
        try:
            images = read_idx(fetch(f"fashion_mnist_{split}_images"))
            labels = read_idx(fetch(f"fashion_mnist_{split}_labels"))
        except Exception as exc:
            raise DatasetError(str(exc)) from None
    return torch.from_numpy(images.copy()), torch.from_numpy(labels.astype(np.int64))


class ImageDataset(Dataset):
    """Normalised image tensors with optional train-time augmentation
    (random crop after ``pad``-pixel zero padding, horizontal flip)."""

    def __init__(self, images: torch.Tensor, labels: torch.Tensor, mean, std,
                 augment: bool = False, pad: int = 2):
        if images.dim() == 3:  # (N, H, W) gray -> (N, 1, H, W)
            images = images.unsqueeze(1)
        x = images.float() / 255.0
        mean = torch.tensor(mean).view(1, -1, 1, 1)
        std = torch.tensor(std).view(1, -1, 1, 1)
        self.images = (x - mean) / std
        self.labels = labels
        self.augment = augment
        self.pad = pad

    def __len__(self) -> int:
        return len(self.labels)

    def __getitem__(self, i):
        x = self.images[i]
        if self.augment:
            p = self.pad
            h, w = x.shape[-2:]
            padded = torch.nn.functional.pad(x, (p, p, p, p))  # zero = the mean after normalising
            dy, dx = torch.randint(0, 2 * p + 1, (2,)).tolist()
            x = padded[:, dy: dy + h, dx: dx + w]
            if torch.rand(()) < 0.5:
                x = x.flip(-1)
        return x, self.labels[i]


def load_cifar10(split: str = "train", root: Path | None = None):
    """CIFAR-10 through torchvision (downloads once into the cache; needs the internet)."""
    try:
        from torchvision.datasets import CIFAR10
    except ImportError:
        raise DatasetError("CIFAR-10 needs torchvision: " + pip_install("torchvision")) from None
    root = Path(root) if root is not None else cache_dir() / "cifar10"
    try:
        ds = CIFAR10(root, train=(split == "train"), download=True)
    except Exception as exc:
        raise DatasetError(
            f"CIFAR-10 is not in {root} and could not be downloaded ({type(exc).__name__}: {exc}). "
            "It needs the internet once (170 MB from www.cs.toronto.edu); offline, use the default "
            "dataset='fashion-mnist', or copy cifar-10-python.tar.gz into that folder."
        ) from None
    images = torch.from_numpy(ds.data).permute(0, 3, 1, 2).contiguous()  # (N, 3, 32, 32) uint8
    return images, torch.tensor(ds.targets, dtype=torch.int64)


def get_datasets(dataset: str = "fashion-mnist", subset: bool | None = None, augment: bool = True):
    """``{"train": ImageDataset, "test": ImageDataset}``; train is augmented when ``augment``."""
    if dataset == "fashion-mnist":
        load, mean, std = (lambda s: load_fashion_mnist(s, subset)), FMNIST_MEAN, FMNIST_STD
    elif dataset == "cifar10":
        load, mean, std = load_cifar10, CIFAR10_MEAN, CIFAR10_STD
    else:
        raise ValueError(f"unknown dataset {dataset!r}; choose one of {DATASETS}")
    return {
        split: ImageDataset(*load(split), mean, std, augment=augment and split == "train")
        for split in ("train", "test")
    }


def get_dataloaders(dataset: str = "fashion-mnist", batch_size: int = 128, subset: bool | None = None,
                    augment: bool = True, num_workers: int = 0, seed: int = 0, report_only_test: bool = False):
    """``{"train": DataLoader, "test": DataLoader}`` (train shuffled with a seeded generator).

    ``report_only_test``: the notebook only reports accuracy on the test split and no graded test reads it,
    so under nbgrader the test split keeps its first ``GRADING_CAPS["test_images"]`` images
    (:func:`helpers.env.grading_cap`); unchanged otherwise."""
    datasets = get_datasets(dataset, subset, augment)
    if report_only_test:
        keep = grading_cap("test_images", len(datasets["test"]))
        if keep < len(datasets["test"]):
            datasets["test"] = Subset(datasets["test"], range(keep))
    generator = torch.Generator().manual_seed(seed)
    return {
        split: DataLoader(ds, batch_size=batch_size if split == "train" else 2 * batch_size,
                          shuffle=(split == "train"), num_workers=num_workers,
                          generator=generator if split == "train" else None)
        for split, ds in datasets.items()
    }


AUSTEN_NOVELS = {"persuasion": "Persuasion", "prideprejudice": "Pride and Prejudice"}


def load_austen(novel: str = "persuasion") -> str:
    """The full text of one of Jane Austen's novels shipped with the repository (Project Gutenberg
    edition as collected by the R package janeaustenr; public domain)."""
    if novel not in AUSTEN_NOVELS:
        raise ValueError(f"unknown novel {novel!r}; shipped novels: {', '.join(AUSTEN_NOVELS)}")
    with gzip.open(fetch(f"austen_{novel}"), "rt", encoding="utf-8") as f:
        return f.read()


def _load_hf_dataset(path: str, name: str | None, split: str, what: str):
    try:
        import datasets
    except ImportError:
        raise DatasetError(f"{what} needs the `datasets` package and the internet: pip install datasets "
                           "(offline, use the default Austen texts: helpers.data.load_austen)") from None
    try:
        return datasets.load_dataset(path, name, split=split)
    except Exception as exc:
        raise DatasetError(f"{what} could not be loaded ({type(exc).__name__}: {str(exc).splitlines()[0]}). It "
                           "needs the internet once (then it is cached); offline, use helpers.data.load_austen."
                           ) from None


def load_wikitext2(split: str = "test") -> str:
    """wikitext-2 (raw) as one string, joined the way the AWQ paper's evaluation does (online option)."""
    rows = _load_hf_dataset("wikitext", "wikitext-2-raw-v1", split, "wikitext-2")
    return "\n\n".join(rows["text"])


def load_pile_val(n_texts: int = 512) -> str:
    """The first ``n_texts`` documents of the Pile validation set, AWQ's calibration data (online option)."""
    rows = _load_hf_dataset("mit-han-lab/pile-val-backup", None, "validation", "pile-val")
    return "\n\n".join(rows.select(range(min(n_texts, len(rows))))["text"])
