"""The scripts that build shipped files still run (tiny settings) and record how they ran."""

import os
import subprocess
import sys
from pathlib import Path

import pytest

from helpers.models import load_checkpoint

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.slow
def test_train_dense_vgg_smoke(tmp_path):
    out = tmp_path / "vgg.pt"
    subprocess.run([sys.executable, "scripts/train_dense_vgg.py", "--subset", "--epochs", "1", "--out", str(out)],
                   cwd=ROOT, check=True, capture_output=True, text=True, timeout=300,
                   env={**os.environ, "LABS_PROGRESS": "0", "PYTHONPATH": str(ROOT)})
    model, meta = load_checkpoint(out)
    assert meta["seed"] == 0 and meta["epochs"] == 1 and meta["dataset"] == "fashion-mnist (subset)"
    assert "--subset" in meta["command"] and meta["train_seconds"] >= 0
    assert meta["test_accuracy"] > 30.0  # one epoch on the subset already learns something


def test_check_assets_reports_ok():
    result = subprocess.run([sys.executable, "scripts/check_assets.py"], cwd=ROOT, capture_output=True, text=True,
                            timeout=120, env={**os.environ, "PYTHONPATH": str(ROOT)})
    assert result.returncode == 0, result.stdout + result.stderr
    assert "[OK] vgg_fmnist" in result.stdout and "[OK] fashion_mnist_subset" in result.stdout


@pytest.mark.slow
def test_train_supernet_smoke(tmp_path):
    import gzip
    import json

    import torch

    from helpers.supernet import SuperNet

    subprocess.run([sys.executable, "scripts/train_supernet.py", "--subset", "--epochs", "1", "--batch-size", "64",
                    "--archs", "3", "--max-steps", "6", "--out-dir", str(tmp_path)],
                   cwd=ROOT, check=True, capture_output=True, text=True, timeout=600,
                   env={**os.environ, "LABS_PROGRESS": "0", "PYTHONPATH": str(ROOT)})
    checkpoint = torch.load(tmp_path / "ofa_supernet_fmnist.pt", weights_only=True)
    SuperNet().load_state_dict(checkpoint["state_dict"])  # the shipped format
    meta = checkpoint["meta"]
    assert meta["seed"] == 0 and meta["epochs"] == 1 and meta["dataset"] == "fashion-mnist (subset)"
    assert meta["steps"] == 6  # --max-steps
    assert "--subset" in meta["command"] and meta["train_seconds"] >= 0
    with gzip.open(tmp_path / "nas_arch_table.json.gz", "rt") as f:
        table = json.load(f)
    assert len(table["archs"]) == len(table["accuracy"]) == 3 and "held out" in table["meta"]["split"]


@pytest.mark.slow
def test_lab3_search_budget_smoke(tmp_path):
    """The budget comparison still finds the cells it runs in the Lab 3 reference notebook."""
    import json

    out = tmp_path / "budget.json"
    subprocess.run([sys.executable, "benchmarks/lab3_search_budget.py", "--profile", "fast", "--population", "8",
                    "--generations", "3", "--seeds", "2", "--json", str(out)],
                   cwd=ROOT, check=True, capture_output=True, text=True, timeout=300,
                   env={**os.environ, "PYTHONPATH": str(ROOT)})
    results = json.loads(out.read_text())
    assert results["queries"] == 24 and results["seeds"] == 2 and len(results["per_seed"]) == 2
    assert -5 < results["evolution_minus_random"] < 5 and results["evolution_minus_random_se"] >= 0


def test_the_supernet_recipe_written_down_is_the_one_the_shipped_asset_records():
    """`make supernet` and scripts/train_supernet.py's docstring give the command the shipped supernet was
    trained with (its metadata records it; --out-dir was only where that run wrote)."""
    import shlex

    import torch

    meta = torch.load(ROOT / "helpers" / "shipped" / "ofa_supernet_fmnist.pt", map_location="cpu",
                      weights_only=True)["meta"]
    recorded = shlex.split(meta["command"])
    if "--out-dir" in recorded:
        del recorded[recorded.index("--out-dir"):recorded.index("--out-dir") + 2]
    recipe = " ".join(["scripts/train_supernet.py", *recorded[2:]])
    assert recorded[:2] == ["python", "scripts/train_supernet.py"]
    assert recipe in (ROOT / "scripts" / "train_supernet.py").read_text()
    assert f"$(BIN)/python {recipe}" in (ROOT / "Makefile").read_text()


def _train_distributed(out_dir, nproc: int, *extra):
    """scripts/train_distributed.py under torchrun (`python -m torch.distributed.run` is torchrun, whether or
    not its script is on PATH): 3 steps of the shipped subset, 200 test images; its JSON and stdout."""
    import json

    out = out_dir / f"run_{nproc}{''.join(extra).replace('-', '_')}.json"
    torchrun = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", str(nproc)]
    result = subprocess.run([*torchrun, "scripts/train_distributed.py", "--backend", "gloo", "--subset", "--steps", "3",
                             "--batch-size", "64", "--eval-images", "200", "--json", str(out), *extra],
                            cwd=ROOT, capture_output=True, text=True, timeout=300,
                            env={**os.environ, "LABS_PROGRESS": "0", "PYTHONPATH": str(ROOT)})
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    return json.loads(out.read_text()), result.stdout


@pytest.fixture(scope="module")
def two_ranks(tmp_path_factory):
    return _train_distributed(tmp_path_factory.mktemp("ddp"), 2)


@pytest.mark.slow
def test_train_distributed_two_ranks_over_gloo(two_ranks):
    import math

    from helpers.models import load_folded_vgg

    result, stdout = two_ranks
    assert result["world_size"] == 2 and result["backend"] == "gloo" and result["steps"] == 3
    assert len(result["losses"]) == 3 and all(math.isfinite(loss) for loss in result["losses"])
    assert result["eval_images"] == 200 and 0 <= result["test_accuracy"] <= 100 and result["powersgd"] is None
    assert result["gradient_bytes_per_step"] == 4 * sum(p.numel() for p in load_folded_vgg().parameters())
    assert "step 3/3" in stdout and "test accuracy" in stdout


@pytest.mark.slow
def test_train_distributed_one_rank_takes_the_same_steps(two_ranks, tmp_path):
    """Without BatchNorm, 2 ranks x 32 images compute the gradient of the same 64 images one rank does."""
    one, _ = _train_distributed(tmp_path, 1)
    assert one["world_size"] == 1
    assert one["losses"] == pytest.approx(two_ranks[0]["losses"], rel=1e-4)


@pytest.mark.slow
def test_train_distributed_with_powersgd(two_ranks, tmp_path):
    result, stdout = _train_distributed(tmp_path, 2, "--powersgd-rank", "2")
    psgd = result["powersgd"]
    assert psgd["rank"] == 2 and psgd["start_iter"] == 2 and psgd["compressed_steps"] == 1
    # step 3 was compressed; the bytes the script states are what torch's hook counted
    assert 4 * psgd["hook_numel"]["before"] == result["gradient_bytes_per_step"]
    assert 4 * psgd["hook_numel"]["after"] == psgd["bytes_per_compressed_step"] < result["gradient_bytes_per_step"] / 10
    # the first two steps were plain all-reduces: the same losses up to step 3's (computed before its update)
    assert result["losses"] == pytest.approx(two_ranks[0]["losses"], rel=1e-5)
    assert "PowerSGD rank 2 from step 3" in stdout


def test_train_distributed_without_torchrun_says_how_to_launch_it():
    env = {k: v for k, v in os.environ.items() if k not in ("RANK", "WORLD_SIZE", "LOCAL_RANK")}
    result = subprocess.run([sys.executable, "scripts/train_distributed.py", "--steps", "1"], cwd=ROOT,
                            capture_output=True, text=True, timeout=120, env={**env, "PYTHONPATH": str(ROOT)})
    assert result.returncode != 0
    assert "torchrun --standalone --nproc_per_node 2 scripts/train_distributed.py" in result.stderr
    assert "--rdzv_backend c10d --rdzv_endpoint HOST:29500" in result.stderr
