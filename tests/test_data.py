"""helpers.data: IDX reading, the Fashion-MNIST subset / full set, CIFAR-10 (offline paths), loaders."""

import gzip
import sys
import types
from pathlib import Path

import numpy as np
import pytest
import torch

from helpers import data, env
from helpers.assets import AssetError
from helpers.data import DatasetError, ImageDataset, get_dataloaders, load_fashion_mnist, read_idx

FULL_SET = Path("/usr/share/datasets/fashion-mnist/t10k-labels-idx1-ubyte.gz").exists()


def _write_idx(path, array, compress):
    header = b"\x00\x00\x08" + bytes([array.ndim]) + b"".join(int(n).to_bytes(4, "big") for n in array.shape)
    opener = gzip.open if compress else open
    with opener(path, "wb") as f:
        f.write(header + array.astype(np.uint8).tobytes())


@pytest.mark.parametrize("compress", [False, True])
def test_read_idx_roundtrip(tmp_path, compress):
    array = np.arange(2 * 3 * 4, dtype=np.uint8).reshape(2, 3, 4)
    path = tmp_path / ("x.idx.gz" if compress else "x.idx")
    _write_idx(path, array, compress)
    assert np.array_equal(read_idx(path), array)


def test_read_idx_rejects_other_files(tmp_path):
    path = tmp_path / "page.html"
    path.write_bytes(b"<html>404</html>")
    with pytest.raises(DatasetError, match="not an unsigned-byte IDX file"):
        read_idx(path)


def test_subset_shapes_and_balance():
    images, labels = load_fashion_mnist("train", subset=True)
    assert images.dtype == torch.uint8 and images.shape[1:] == (28, 28)
    assert labels.dtype == torch.int64 and len(labels) == len(images)
    counts = torch.bincount(labels, minlength=10)
    assert counts.min() > 0 and counts.max() - counts.min() <= 1  # stratified
    test_images, _ = load_fashion_mnist("test", subset=True)
    assert len(test_images) < 10_000


def test_profile_picks_the_subset(monkeypatch):
    monkeypatch.setenv("LABS_PROFILE", "fast")
    fast, _ = load_fashion_mnist("test")
    assert len(fast) == len(load_fashion_mnist("test", subset=True)[0])


def test_bad_split():
    with pytest.raises(ValueError, match="'train' or 'test'"):
        load_fashion_mnist("val")


@pytest.mark.skipif(not FULL_SET, reason="needs Debian's dataset-fashion-mnist")
def test_full_test_set():
    images, labels = load_fashion_mnist("test", subset=False)
    assert images.shape == (10_000, 28, 28)
    assert torch.bincount(labels).tolist() == [1000] * 10


def test_full_set_missing_offline_says_what_to_do(monkeypatch):
    def fetch(name, download=True):
        raise AssetError(f"asset {name!r} is not available. What to do: apt-get install dataset-fashion-mnist")

    monkeypatch.setattr(data, "fetch", fetch)
    with pytest.raises(DatasetError, match="What to do"):
        load_fashion_mnist("train", subset=False)


def test_image_dataset_normalises_and_augments():
    images = torch.full((4, 8, 8), 255, dtype=torch.uint8)
    labels = torch.arange(4)
    plain = ImageDataset(images, labels, mean=(0.5,), std=(0.5,))
    x, y = plain[2]
    assert x.shape == (1, 8, 8) and y == 2 and torch.allclose(x, torch.ones_like(x))
    torch.manual_seed(0)
    augmented = ImageDataset(images, labels, mean=(0.5,), std=(0.5,), augment=True, pad=2)
    crops = [augmented[0][0] for _ in range(20)]
    assert all(c.shape == (1, 8, 8) for c in crops)
    assert any((c == 0).any() for c in crops)  # some crops bring in the zero padding


def test_dataloaders_are_seeded():
    first = next(iter(get_dataloaders(batch_size=16, subset=True, seed=1)["train"]))[1]
    again = next(iter(get_dataloaders(batch_size=16, subset=True, seed=1)["train"]))[1]
    other = next(iter(get_dataloaders(batch_size=16, subset=True, seed=2)["train"]))[1]
    assert torch.equal(first, again) and not torch.equal(first, other)
    loaders = get_dataloaders(batch_size=16, subset=True)
    x, y = next(iter(loaders["test"]))
    assert x.shape == (32, 1, 28, 28) and y.shape == (32,)


def test_report_only_test_split_is_cut_under_nbgrader_only(monkeypatch):
    from helpers.env import GRADING_CAPS

    monkeypatch.delenv("NBGRADER_EXECUTION", raising=False)
    full = get_dataloaders(batch_size=16, subset=True, report_only_test=True)["test"]
    monkeypatch.setenv("NBGRADER_EXECUTION", "autograde")
    cut = get_dataloaders(batch_size=16, subset=True, report_only_test=True)["test"]
    kept = get_dataloaders(batch_size=16, subset=True)["test"]  # a notebook that grades on the test split
    assert len(full.dataset) == len(kept.dataset) == len(load_fashion_mnist("test", subset=True)[0])
    assert len(cut.dataset) == GRADING_CAPS["test_images"] < len(full.dataset)
    first, first_cut = next(iter(full)), next(iter(cut))
    assert torch.equal(first[0], first_cut[0]) and torch.equal(first[1], first_cut[1])  # the first images


def test_unknown_dataset():
    with pytest.raises(ValueError, match="fashion-mnist"):
        get_dataloaders("mnist")


def _fake_torchvision_cifar(monkeypatch, cls):
    module = types.ModuleType("torchvision.datasets")
    module.CIFAR10 = cls
    monkeypatch.setitem(sys.modules, "torchvision.datasets", module)


def test_cifar10_offline_is_a_clear_error(monkeypatch, tmp_path):
    class OfflineCIFAR10:
        def __init__(self, root, train, download):
            raise RuntimeError("<urlopen error [Errno -3] Temporary failure in name resolution>")

    _fake_torchvision_cifar(monkeypatch, OfflineCIFAR10)
    with pytest.raises(DatasetError, match=r"(?s)could not be downloaded.*dataset='fashion-mnist'"):
        data.load_cifar10("train", root=tmp_path)


def test_cifar10_loading_from_a_local_copy(monkeypatch, tmp_path):
    """The online path, against a local copy: torchvision's arrays become (N, 3, 32, 32) tensors."""
    class LocalCIFAR10:
        def __init__(self, root, train, download):
            assert Path(root) == tmp_path and download
            n = 6 if train else 4
            self.data = np.random.default_rng(0).integers(0, 256, (n, 32, 32, 3), dtype=np.uint8)
            self.targets = list(range(n))

    _fake_torchvision_cifar(monkeypatch, LocalCIFAR10)
    images, labels = data.load_cifar10("test", root=tmp_path)
    assert images.shape == (4, 3, 32, 32) and labels.tolist() == [0, 1, 2, 3]
    raw = LocalCIFAR10(tmp_path, False, True).data
    assert torch.equal(images[1, :, 5, 7], torch.from_numpy(raw[1, 5, 7]))


@pytest.mark.skipif(not (env.cache_dir(create=False) / "cifar10" / "cifar-10-batches-py").exists(),
                    reason="needs a local CIFAR-10 copy (online option)")
def test_cifar10_real_copy():
    datasets = data.get_datasets("cifar10", augment=False)
    assert datasets["test"][0][0].shape == (3, 32, 32)
