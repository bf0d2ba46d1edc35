"""Train the dense VGG checkpoint shipped as helpers/shipped/vgg_fmnist.pt (Labs 1-2).

    python scripts/train_dense_vgg.py --epochs 30 --seed 0
    python scripts/train_dense_vgg.py --dataset cifar10 --out ~/.cache/efficient-dl-labs/vgg_cifar10.pt  # online

Recipe: full Fashion-MNIST train set (60k), random crop (2-px padding) + horizontal flip,
SGD (momentum 0.9, Nesterov, weight decay 5e-4), one-cycle LR peaking at 0.1, label smoothing 0.1,
batch 128. The seed, command, wall time and the final accuracy on the full 10k test set are
stored in the checkpoint's metadata and printed at the end.
"""

import argparse
import json
import platform
import shlex
import sys
import time
from pathlib import Path

import torch
from torch import nn

from helpers.data import DATASETS, get_dataloaders
from helpers.env import seed_everything
from helpers.models import VGG, VGG_FMNIST_CFG, save_checkpoint
from helpers.train import evaluate, train


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--dataset", choices=DATASETS, default="fashion-mnist")
    parser.add_argument("--epochs", type=int, default=30)
    parser.add_argument("--lr", type=float, default=0.1)
    parser.add_argument("--batch-size", type=int, default=128)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--subset", action="store_true", help="train on the shipped subset (a smoke test)")
    parser.add_argument("--out", type=Path, default=Path("helpers/shipped/vgg_fmnist.pt"))
    args = parser.parse_args()

    seed_everything(args.seed)
    loaders = get_dataloaders(args.dataset, batch_size=args.batch_size, subset=args.subset, seed=args.seed)
    model = VGG(VGG_FMNIST_CFG, in_channels=loaders["train"].dataset.images.shape[1])
    optimizer = torch.optim.SGD(model.parameters(), lr=args.lr, momentum=0.9, nesterov=True, weight_decay=5e-4)
    scheduler = torch.optim.lr_scheduler.OneCycleLR(
        optimizer, max_lr=args.lr, total_steps=args.epochs * len(loaders["train"]), pct_start=0.15)
    criterion = nn.CrossEntropyLoss(label_smoothing=0.1)

    start = time.time()
    for epoch in range(args.epochs):
        loss = train(model, loaders["train"], criterion, optimizer, scheduler, desc=f"epoch {epoch + 1}")
        accuracy = evaluate(model, loaders["test"])
        print(f"epoch {epoch + 1:2d}/{args.epochs}: loss {loss:.4f}  test accuracy {accuracy:.2f}%  "
              f"({time.time() - start:.0f} s)", flush=True)
    seconds = time.time() - start
    meta = {
        "command": "python " + " ".join(shlex.quote(a) for a in sys.argv),
        "dataset": args.dataset + (" (subset)" if args.subset else ""),
        "seed": args.seed,
        "epochs": args.epochs,
        "test_accuracy": round(accuracy, 2),
        "train_seconds": round(seconds),
        "machine": f"{platform.machine()}, {torch.get_num_threads()} threads, torch {torch.__version__}",
    }
    save_checkpoint(model.eval(), args.out, **meta)
    print(json.dumps(meta, indent=2))


if __name__ == "__main__":
    main()
