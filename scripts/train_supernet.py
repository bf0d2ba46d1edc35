"""Train the Lab 3 once-for-all supernet and measure the (architecture, accuracy) table shipped with it.

    # what was shipped (one GPU):
    python scripts/train_supernet.py --budget-minutes 3.6 --batch-size 1024 --lr 0.4 --archs 2000 --seed 0
    python scripts/train_supernet.py --subset --max-steps 6 --archs 3 --out-dir /tmp/x  # smoke test on a CPU

Recipe (BigNAS-style sandwich rule with in-place distillation, Yu et al. 2020; weight sharing as in
once-for-all, Cai et al. 2020):
- data: Fashion-MNIST training images 0-54,999 train the supernet; 55,000-59,999 are held out and
  measure the table; random 2-pixel shifts and horizontal flips, resized to each subnet's resolution;
- every step trains four subnets on the same batch and sums their gradients: the largest (cross-entropy,
  label smoothing 0.1), the smallest and two random ones (distilled from the largest's soft predictions);
- SGD (Nesterov, momentum 0.9, weight decay 3e-5 on conv/linear weights), batch ``--batch-size`` (256 by
  default; the shipped run used 1024), learning rate ``--lr`` (0.1 by default; 0.4 shipped), warmed up
  linearly over max(3 epochs, 5 % of the steps), then cosine (the shipped asset records its exact command,
  seed, time and machine: the one above, 43 epochs in 207 s on an H200).
  ``--budget-minutes`` times the first steps and picks the number of
  epochs that fits (``--epochs`` caps it);
- table: ``--archs`` architectures drawn uniformly (duplicates skipped), each extracted, BN re-calibrated on
  2,000 training images and evaluated on the 5,000 held-out images. Largest and smallest subnets are also
  measured on the 10,000 test images.

Writes ``ofa_supernet_fmnist.pt`` (weights + metadata: seed, command, time, machine, accuracies) and
``nas_arch_table.json.gz`` to ``--out-dir`` (default: helpers/shipped).
"""

import argparse
import gzip
import json
import math
import platform
import random
import shlex
import sys
import time
from pathlib import Path

import torch
import torch.nn.functional as F

from helpers.data import get_datasets
from helpers.env import seed_everything
from helpers.nas import arch_key, calibrate_bn, count_macs, evaluate_subnet, random_arch
from helpers.supernet import SuperNet, largest_arch, smallest_arch


def augment(images: torch.Tensor, resolution: int, shifts: torch.Tensor, flips: torch.Tensor, pad: int = 2):
    """Shift by whole pixels (zero = the mean after normalising), flip, and resize in one grid_sample."""
    n, _, h, w = images.shape
    theta = torch.zeros(n, 2, 3, device=images.device)
    theta[:, 0, 0] = torch.where(flips, -1.0, 1.0)
    theta[:, 1, 1] = 1.0
    theta[:, 0, 2] = shifts[:, 0] * 2.0 / w  # a shift of one input pixel in normalised coordinates
    theta[:, 1, 2] = shifts[:, 1] * 2.0 / h
    grid = F.affine_grid(theta, (n, 1, resolution, resolution), align_corners=False)
    return F.grid_sample(images, grid, mode="bilinear", padding_mode="zeros", align_corners=False)


def kd_loss(student_logits, teacher_logits):
    return -(F.softmax(teacher_logits, 1) * F.log_softmax(student_logits, 1)).sum(1).mean()


def param_groups(model, weight_decay):
    decay = [p for n, p in model.named_parameters() if p.dim() > 1]
    no_decay = [p for n, p in model.named_parameters() if p.dim() <= 1]
    return [{"params": decay, "weight_decay": weight_decay}, {"params": no_decay, "weight_decay": 0.0}]


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--epochs", type=int, default=200, help="at most this many epochs")
    parser.add_argument("--budget-minutes", type=float, default=None, help="train for about this long")
    parser.add_argument("--lr", type=float, default=0.1)
    parser.add_argument("--batch-size", type=int, default=256)
    parser.add_argument("--archs", type=int, default=2000, help="subnets measured for the table")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--subset", action="store_true", help="the shipped subset (a smoke test)")
    parser.add_argument("--max-steps", type=int, help="stop after this many training steps (a smoke test)")
    parser.add_argument("--out-dir", type=Path, default=Path("helpers/shipped"))
    args = parser.parse_args()

    start = time.time()
    seed_everything(args.seed)
    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    data = get_datasets("fashion-mnist", subset=args.subset, augment=False)
    images, labels = data["train"].images, data["train"].labels
    n_val = len(images) // 12  # 5,000 of 60,000
    train_x, train_y = images[:-n_val].to(device), labels[:-n_val].to(device)
    val_x, val_y = images[-n_val:], labels[-n_val:]
    calib_x = images[:2000]
    test_x, test_y = data["test"].images, data["test"].labels

    model = SuperNet().to(device)
    optimizer = torch.optim.SGD(param_groups(model, 3e-5), lr=args.lr, momentum=0.9, nesterov=True)
    steps_per_epoch = len(train_x) // args.batch_size
    rng = random.Random(args.seed)
    largest, smallest = largest_arch(), smallest_arch()

    def step(lr: float) -> float:
        for group in optimizer.param_groups:
            group["lr"] = lr
        idx = torch.randint(0, len(train_x), (args.batch_size,), device=device)
        x, y = train_x[idx], train_y[idx]
        shifts = torch.randint(-2, 3, (len(idx), 2), device=device).float()
        flips = torch.rand(len(idx), device=device) < 0.5
        optimizer.zero_grad(set_to_none=True)
        logits = model(augment(x, largest["r"], shifts, flips), largest)
        loss = F.cross_entropy(logits, y, label_smoothing=0.1)
        loss.backward()
        teacher = logits.detach()
        for arch in (smallest, random_arch(rng), random_arch(rng)):
            kd_loss(model(augment(x, arch["r"], shifts, flips), arch), teacher).backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 5.0)
        optimizer.step()
        return loss.item()

    # time a few warm-up steps, then fix the number of epochs (and so the cosine schedule)
    model.train()
    probe = min(30, steps_per_epoch, args.max_steps or steps_per_epoch)
    skip, t0 = probe // 3, time.time()
    for i in range(probe):
        if i == skip:  # the first steps pay for start-up: time the next ones
            if device.type == "cuda":
                torch.cuda.synchronize()
            t0 = time.time()
        step(args.lr * (i + 1) / (3 * steps_per_epoch))
    if device.type == "cuda":
        torch.cuda.synchronize()
    per_step = (time.time() - t0) / (probe - skip)
    epochs = args.epochs
    if args.budget_minutes:
        epochs = max(1, min(epochs, int(args.budget_minutes * 60 / (per_step * steps_per_epoch))))
    total = min(epochs * steps_per_epoch, args.max_steps or epochs * steps_per_epoch)
    print(f"{per_step * 1000:.1f} ms per step, {steps_per_epoch} steps per epoch -> {epochs} epochs", flush=True)
    for i in range(probe, total):
        warm = max(3 * steps_per_epoch, total // 20)
        cosine = 0.5 * (1 + math.cos(math.pi * (i - warm) / (total - warm)))
        lr = args.lr * ((i + 1) / warm if i < warm else cosine)
        loss = step(lr)
        if (i + 1) % steps_per_epoch == 0:
            epoch = (i + 1) // steps_per_epoch
            print(f"epoch {epoch}/{epochs}: loss {loss:.3f} ({time.time() - start:.0f} s)", flush=True)
    train_seconds = time.time() - start
    model.eval()

    def measure(arch, x, y):
        subnet = model.get_subnet(arch)
        calibrate_bn(subnet, calib_x, batch_size=500)
        return evaluate_subnet(subnet, x, y, batch_size=2500), subnet

    results = {}
    for name, arch in (("largest", largest), ("smallest", smallest)):
        acc, subnet = measure(arch, test_x, test_y)
        results[f"{name}_test_accuracy"] = round(acc, 2)
        results[f"{name}_mmacs"] = round(count_macs(subnet) / 1e6, 3)
        print(f"{name} subnet: {acc:.2f} % on {len(test_y)} test images, {results[f'{name}_mmacs']} MMACs", flush=True)

    meta = {
        "command": "python " + " ".join(shlex.quote(a) for a in sys.argv),
        "seed": args.seed,
        "epochs": epochs,
        "steps": total,
        "train_images": len(train_x),
        "recipe": "sandwich rule (largest CE + smallest + 2 random distilled), SGD lr %.2f cosine, batch %d"
                  % (args.lr, args.batch_size),
        "train_seconds": round(train_seconds),
        "machine": ", ".join([platform.machine(), torch.cuda.get_device_name() if device.type == "cuda"
                              else f"{torch.get_num_threads()} CPU threads", f"torch {torch.__version__}"]),
        "dataset": "fashion-mnist" + (" (subset)" if args.subset else ""),
        **results,
    }
    args.out_dir.mkdir(parents=True, exist_ok=True)
    state = {k: v.detach().cpu() for k, v in model.state_dict().items()}
    torch.save({"state_dict": state, "meta": meta}, args.out_dir / "ofa_supernet_fmnist.pt")

    def save_table(archs, accuracies):
        table_meta = {
            **meta,
            "table_seconds": round(time.time() - t_table),
            "split": f"accuracy on training images {len(images) - n_val}-{len(images) - 1} ({n_val}, held out "
                     "from supernet training) after BN re-calibration on training images 0-1999",
            "sampling": f"uniform per dimension, duplicates skipped, random.Random({args.seed + 1})",
        }
        with gzip.open(args.out_dir / "nas_arch_table.json.gz", "wt") as f:
            json.dump({"meta": table_meta, "archs": archs, "accuracy": accuracies}, f, separators=(",", ":"))

    table_rng = random.Random(args.seed + 1)
    archs, accuracies, seen = [], [], set()
    t_table = time.time()
    while len(archs) < args.archs:
        arch = random_arch(table_rng)
        if arch_key(arch) in seen:
            continue
        seen.add(arch_key(arch))
        acc, _ = measure(arch, val_x, val_y)
        archs.append(arch)
        accuracies.append(round(acc, 2))
        if len(archs) % 250 == 0:
            save_table(archs, accuracies)  # a partial table survives an interrupted build
            print(f"table: {len(archs)}/{args.archs} ({time.time() - t_table:.0f} s)", flush=True)
    save_table(archs, accuracies)

    acc = torch.tensor(accuracies)
    print(json.dumps(meta, indent=2))
    print(f"table: {len(archs)} subnets, accuracy {acc.min():.2f}-{acc.max():.2f} (mean {acc.mean():.2f}, "
          f"std {acc.std():.2f})")


if __name__ == "__main__":
    main()
