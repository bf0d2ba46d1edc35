"""Lab 6: data-parallel training of the folded VGG on Fashion-MNIST, a ``torchrun`` entry point.

    # one machine: 2 processes on the CPU (gloo), or one process per GPU (NCCL)
    torchrun --standalone --nproc_per_node 2 scripts/train_distributed.py --backend gloo
    torchrun --standalone --nproc_per_node 8 scripts/train_distributed.py --backend nccl --batch-size 1024
    torchrun --standalone --nproc_per_node 2 scripts/train_distributed.py --powersgd-rank 2  # compressed

    # a cluster: the same command on every node, HOST being the address of one of them (node 0)
    torchrun --nnodes 2 --nproc_per_node 8 --rdzv_backend c10d --rdzv_endpoint HOST:29500 \\
        scripts/train_distributed.py --backend nccl --batch-size 2048

    # the smoke test (tests/test_scripts.py): 3 steps on the shipped subset
    torchrun --standalone --nproc_per_node 2 scripts/train_distributed.py --subset --steps 3 --batch-size 64

torchrun starts the processes and gives each one RANK, WORLD_SIZE, LOCAL_RANK and MASTER_ADDR/PORT;
``dist.init_process_group(backend)`` reads them. Each process trains a replica of the model on its shard
of every batch (``DistributedSampler``); ``DistributedDataParallel`` all-reduces the gradients during the
backward pass, bucket by bucket, so every replica takes the same optimizer step. The model is the Lab 1
VGG with its BatchNorms folded into the convs and a re-initialised classifier (``load_folded_vgg``):
without BatchNorm, N processes with B/N images each compute exactly the gradient of one batch of B, so
the losses are those of one process with ``--batch-size`` B (up to rounding; without ``--augment``).

``--powersgd-rank R`` registers PowerSGD (Vogels et al. 2019) as DDP's communication hook: after
``--powersgd-start`` steps of plain all-reduce, each gradient matrix n x m (a conv's kernel flattened to
``out_channels x rest``) is sent as two factors, n x R and m x R, with error feedback; 1-D tensors (biases),
and matrices that would not shrink at least 2x (torch's ``min_compression_rate``), go uncompressed.

Rank 0 prints the loss (averaged over the ranks), the gradient bytes each rank hands to the all-reduce
per step, the test accuracy at the end, and writes them with ``--json PATH``.
"""

import argparse
import json
import os
import shlex
import sys
import time

import torch
import torch.distributed as dist
import torch.nn.functional as F
from torch.distributed.algorithms.ddp_comm_hooks import powerSGD_hook as powerSGD
from torch.nn.parallel import DistributedDataParallel as DDP
from torch.utils.data import DataLoader, Subset
from torch.utils.data.distributed import DistributedSampler

from helpers.data import get_datasets
from helpers.models import load_folded_vgg
from helpers.train import evaluate

LAUNCH_HINT = """\
scripts/train_distributed.py is started by torchrun, which starts one process per rank and tells each
its RANK and WORLD_SIZE. On one machine:

    torchrun --standalone --nproc_per_node 2 scripts/train_distributed.py --backend gloo

(`python -m torch.distributed.run` is torchrun). On a cluster, the same command on every node:

    torchrun --nnodes 2 --nproc_per_node 8 --rdzv_backend c10d --rdzv_endpoint HOST:29500 \\
        scripts/train_distributed.py --backend nccl
"""


def parse_args():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--backend", choices=("gloo", "nccl"), default="gloo",
                        help="gloo: CPU processes; nccl: one CUDA device per process (LOCAL_RANK)")
    parser.add_argument("--batch-size", type=int, default=256, help="global batch, split evenly over the ranks")
    parser.add_argument("--epochs", type=int, default=1)
    parser.add_argument("--steps", type=int, default=None, help="stop after this many optimizer steps")
    parser.add_argument("--lr", type=float, default=0.01,
                        help="SGD's learning rate (at 0.05 the loss stayed at 2.30: batch 256, 150 steps)")
    parser.add_argument("--momentum", type=float, default=0.9)
    parser.add_argument("--powersgd-rank", type=int, default=0, help="PowerSGD's rank R (0: plain all-reduce)")
    parser.add_argument("--powersgd-start", type=int, default=2,
                        help="plain all-reduce for this many steps first (at least 2; torch suggests ~10%% of them)")
    parser.add_argument("--augment", action="store_true", help="random shifts and flips (different on each rank)")
    parser.add_argument("--subset", action="store_true",
                        help="the shipped 3,000/1,000-image subset (default: as LABS_PROFILE says; fast = subset)")
    parser.add_argument("--eval-images", type=int, default=None, help="evaluate on the first N test images only")
    parser.add_argument("--log-every", type=int, default=10, help="print the loss every N steps")
    parser.add_argument("--seed", type=int, default=0, help="classifier init, data order and augmentation")
    parser.add_argument("--json", default=None, help="write losses, accuracy and bytes to this file (rank 0)")
    return parser.parse_args()


def gradient_bytes(model, powersgd_rank: int = 0, min_compression_rate: float = 2) -> int:
    """Bytes of gradients one rank hands to the all-reduce per step: every element (float32, 4 bytes), or,
    with PowerSGD of rank R, what torch's powerSGD_hook sends: the factors P (n x r) and Q (m x r) of each
    gradient viewed as an n x m matrix, r = min(n, m, R), when that saves at least ``min_compression_rate``x,
    the whole tensor otherwise (so every 1-D tensor)."""
    total = 0
    for p in model.parameters():
        n = p.shape[0]
        m = p.numel() // n
        r = min(n, m, powersgd_rank)
        compressed = r > 0 and (n + m) * r * min_compression_rate < n * m
        total += ((n + m) * r if compressed else n * m) * p.element_size()
    return total


def main():
    args = parse_args()
    if "RANK" not in os.environ or "WORLD_SIZE" not in os.environ:
        sys.exit(LAUNCH_HINT)  # prints to stderr, exit code 1
    world_size, local_rank = int(os.environ["WORLD_SIZE"]), int(os.environ.get("LOCAL_RANK", 0))
    if args.batch_size % world_size:
        sys.exit(f"--batch-size {args.batch_size} is not divisible by the world size {world_size}: "
                 "each rank takes an equal share of the global batch")
    if args.backend == "nccl" and not torch.cuda.is_available():
        sys.exit("--backend nccl needs CUDA GPUs (one per process), and torch sees none here: "
                 "use --backend gloo on CPUs")
    if args.powersgd_rank and args.powersgd_start < 2:
        sys.exit("--powersgd-start must be at least 2 (torch's PowerSGD with error feedback needs it)")

    # The processes of one machine share its cores: one thread each on 2 cores. More threads than cores
    # makes OpenMP's busy-waiting threads fight over them, and the run crawls.
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1
    torch.set_num_threads(max(1, cores // int(os.environ.get("LOCAL_WORLD_SIZE", 1))))
    if args.backend == "nccl":
        device = torch.device("cuda", local_rank)
        torch.cuda.set_device(device)
    else:
        device = torch.device("cpu")
    dist.init_process_group(args.backend)  # reads RANK, WORLD_SIZE, MASTER_ADDR, MASTER_PORT from torchrun
    rank = dist.get_rank()
    torch.manual_seed(args.seed + rank)  # augmentation differs per rank; the model init does not (below)

    # data: each rank draws its share of every global batch; the sampler's permutation is seeded, the same
    # on every rank, and each takes every world_size-th index of it (set_epoch reshuffles each epoch)
    data = get_datasets("fashion-mnist", subset=True if args.subset else None, augment=args.augment)
    sampler = DistributedSampler(data["train"], shuffle=True, seed=args.seed, drop_last=True)
    loader = DataLoader(data["train"], batch_size=args.batch_size // world_size, sampler=sampler, drop_last=True)
    steps = min(args.epochs * len(loader), args.steps or args.epochs * len(loader))

    # the same model on every rank (DDP also broadcasts rank 0's weights when it wraps the model)
    model = load_folded_vgg(args.seed, device).train()
    # DDP all-reduces the gradients in buckets, each as soon as its gradients are ready (from the second
    # step on, the first bucket holds 1 MiB: two buckets for this model's 1.15 MB). PowerSGD's hook chains
    # two all-reduces per bucket, P then Q; over gloo, Q's starts from gloo's callback thread while the
    # next bucket's P starts from backward, so the ranks can start them in different orders and the
    # collectives mismatch (measured here: each of 3 runs with two buckets crashed in its first
    # compressed step). One bucket avoids that. (ProcessGroupNCCL marks its futures complete when the op
    # is queued on the GPU's stream, so the chain runs in order there, inside the hook's call.)
    one_bucket_mb = sum(p.numel() * p.element_size() for p in model.parameters()) / 2**20 + 1
    model = DDP(model, device_ids=[local_rank] if device.type == "cuda" else None,
                bucket_cap_mb=one_bucket_mb if args.powersgd_rank and args.backend == "gloo" else None)
    state = None
    if args.powersgd_rank:
        state = powerSGD.PowerSGDState(process_group=None, matrix_approximation_rank=args.powersgd_rank,
                                       start_powerSGD_iter=args.powersgd_start)
        model.register_comm_hook(state, powerSGD.powerSGD_hook)
    optimizer = torch.optim.SGD(model.parameters(), lr=args.lr, momentum=args.momentum)

    full_bytes = gradient_bytes(model.module)
    sent_bytes = gradient_bytes(model.module, args.powersgd_rank, state.min_compression_rate) if state else full_bytes
    if rank == 0:
        threads = torch.get_num_threads()
        print(f"{world_size} ranks ({args.backend}, {device.type}, {threads} thread{'s' * (threads > 1)} each), "
              f"global batch {args.batch_size} = {world_size} x {args.batch_size // world_size}, {steps} steps",
              flush=True)
        print(f"gradients per step: {full_bytes / 1e6:.3f} MB"
              + (f"; with PowerSGD rank {args.powersgd_rank} from step {args.powersgd_start + 1}: "
                 f"{sent_bytes / 1e6:.3f} MB ({full_bytes / sent_bytes:.1f}x less)" if state else ""), flush=True)

    losses, step, start = [], 0, time.time()
    for epoch in range(args.epochs):
        sampler.set_epoch(epoch)  # a new permutation each epoch, the same on every rank
        for x, y in loader:
            loss = F.cross_entropy(model(x.to(device)), y.to(device))
            optimizer.zero_grad(set_to_none=True)
            loss.backward()  # DDP averages the gradients over the ranks here, overlapped with backward
            optimizer.step()
            # for the log only: the loss of the whole global batch (each rank has its shard's mean)
            mean_loss = loss.detach().clone()
            dist.all_reduce(mean_loss)
            losses.append(mean_loss.item() / world_size)
            step += 1
            if rank == 0 and (step % args.log_every == 0 or step == steps):
                print(f"step {step}/{steps} (epoch {epoch + 1}): loss {losses[-1]:.4f} "
                      f"({time.time() - start:.1f} s)", flush=True)
            if step == steps:
                break
        if step == steps:
            break
    train_seconds = time.time() - start

    if rank == 0:  # the replicas are identical: one of them evaluates
        test = data["test"]
        if args.eval_images is not None:
            test = Subset(test, range(min(args.eval_images, len(test))))
        accuracy = evaluate(model.module, DataLoader(test, batch_size=500), desc="test")
        print(f"test accuracy: {accuracy:.2f} % on {len(test)} images; {train_seconds:.1f} s of training",
              flush=True)
        result = {
            "command": " ".join(shlex.quote(a) for a in sys.argv),  # torchrun's own flags: world_size
            "world_size": world_size,
            "backend": args.backend,
            "device": device.type,
            "batch_size": args.batch_size,
            "steps": steps,
            "losses": losses,
            "test_accuracy": accuracy,
            "eval_images": len(test),
            "train_seconds": round(train_seconds, 2),
            "gradient_bytes_per_step": full_bytes,
            "powersgd": None if state is None else {
                "rank": args.powersgd_rank,
                "start_iter": args.powersgd_start,
                "bytes_per_compressed_step": sent_bytes,  # computed above
                # torch's own count of the elements its hook would and did all-reduce, over the compressed steps
                "hook_numel": dict(zip(("before", "after"), state.compression_stats()[1:])),
                "compressed_steps": max(0, steps - args.powersgd_start),
            },
        }
        if args.json:
            with open(args.json, "w") as f:
                json.dump(result, f, indent=1)
    dist.destroy_process_group()


if __name__ == "__main__":
    main()
