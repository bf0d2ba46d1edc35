"""Build helpers/shipped/fashion_mnist_subset.npz: a fixed, class-balanced subset of Fashion-MNIST
for the ``fast`` profile (300 train + 100 test images per class, seed 0).

    python scripts/make_fmnist_subset.py   # needs the full set (Debian package or a download)
"""

import argparse
from pathlib import Path

import numpy as np

from helpers.data import load_fashion_mnist


def balanced_indices(labels: np.ndarray, per_class: int, rng: np.random.Generator) -> np.ndarray:
    picks = [rng.choice(np.flatnonzero(labels == c), per_class, replace=False) for c in range(10)]
    return np.sort(np.concatenate(picks))


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--train-per-class", type=int, default=300)
    parser.add_argument("--test-per-class", type=int, default=100)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", type=Path, default=Path("helpers/shipped/fashion_mnist_subset.npz"))
    args = parser.parse_args()
    rng = np.random.default_rng(args.seed)
    arrays = {}
    for split, per_class in (("train", args.train_per_class), ("test", args.test_per_class)):
        images, labels = (t.numpy() for t in load_fashion_mnist(split, subset=False))
        idx = balanced_indices(labels, per_class, rng)
        arrays[f"{split}_images"], arrays[f"{split}_labels"] = images[idx], labels[idx].astype(np.uint8)
    np.savez_compressed(args.out, **arrays)
    print(f"wrote {args.out} ({args.out.stat().st_size / 1e6:.2f} MB)")


if __name__ == "__main__":
    main()
