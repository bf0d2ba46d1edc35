"""Shared by the benchmark scripts: run a lab's reference notebook in a profile and collect the
numbers it records with ``helpers.results.record`` (one source of truth: the numbers in the JSON
are the ones the notebook printed)."""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def parse_args(description: str) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--profile", choices=("fast", "full"), default="full")
    parser.add_argument("--json", type=Path, help="write the results here (e.g. benchmarks/results/<lab>.json)")
    parser.add_argument("--update-solution", action="store_true",
                        help="store the executed notebook's outputs in solutions/ (use with --profile full)")
    parser.add_argument("--timeout", type=int, default=3600, help="per-cell timeout in seconds")
    return parser.parse_args()


def machine() -> dict:
    import torch

    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return {"cpu": cpu, "cores": os.cpu_count(), "torch_threads": torch.get_num_threads(),
            "torch": torch.__version__, "python": platform.python_version()}


def run_lab(lab: str, profile: str, timeout: int = 3600, update_solution: bool = False) -> dict:
    """Execute solutions/<lab>/<lab>.ipynb with LABS_PROFILE=profile; return the recorded results."""
    import nbformat
    from nbclient import NotebookClient

    path = REPO / "solutions" / lab / f"{lab}.ipynb"
    nb = nbformat.read(path, as_version=4)
    with tempfile.TemporaryDirectory() as tmp:
        results_file = Path(tmp) / "results.json"
        env_backup = dict(os.environ)
        # the kernel inherits this environment: MPLBACKEND=Agg (set by `make test`, the test harness or a
        # shell) would make plt.show() store nothing, so the stored outputs would lose every figure
        os.environ.update(LABS_PROFILE=profile, LABS_RESULTS_JSON=str(results_file), LABS_PROGRESS="0",
                          MPLBACKEND="module://matplotlib_inline.backend_inline")
        start = time.time()
        try:
            NotebookClient(nb, timeout=timeout, kernel_name="python3",
                           resources={"metadata": {"path": str(path.parent)}}).execute()
        finally:
            os.environ.clear()
            os.environ.update(env_backup)
        seconds = time.time() - start
        results = json.loads(results_file.read_text())
    if update_solution:
        nbformat.write(nb, path)
        print(f"stored the executed outputs in {path.relative_to(REPO)}")
    results["run"] = {"profile": profile, "notebook_seconds": round(seconds), "machine": machine(),
                      "git_commit": _git_commit()}
    return results


def _git_commit() -> str:
    try:
        return subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=REPO, capture_output=True,
                              text=True, check=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "unknown"


def lookup(results: dict, dotted: str):
    for key in dotted.split("."):
        results = results[key]
    return results


def print_table(results: dict, rows) -> bool:
    """rows: (dotted key, format, target text, predicate or None). Returns True if all targets are met."""
    all_met = True
    print(f"{'metric':44s} {'value':>12s}  {'target':>10s}  met")
    for key, fmt, target, ok in rows:
        value = lookup(results, key)
        met = "" if ok is None else ("yes" if ok(value) else "NO")
        all_met = all_met and met != "NO"
        print(f"{key:44s} {format(value, fmt):>12s}  {target:>10s}  {met}")
    run = results["run"]
    print(f"\nprofile {run['profile']}, notebook {run['notebook_seconds']} s on {run['machine']['cpu']} "
          f"({run['machine']['cores']} cores, {run['machine']['torch_threads']} torch threads)")
    return all_met


def has(results: dict, dotted: str) -> bool:
    try:
        lookup(results, dotted)
        return True
    except (KeyError, TypeError):
        return False


def report(results: dict, rows, args: argparse.Namespace, max_minutes: float | None = None,
           other_targets_met: bool = True) -> bool:
    """Print the table (with targets in the full profile; in the fast profile only the rows the run
    recorded, without targets), check the notebook time against ``max_minutes`` (full profile) and
    write the JSON. Returns True when every target is met."""
    full = args.profile == "full"
    met = print_table(results, rows if full else [(k, f, "", None) for k, f, _, _ in rows if has(results, k)])
    met = met and other_targets_met
    if full and max_minutes:
        minutes = results["run"]["notebook_seconds"] / 60
        print(f"notebook {minutes:.1f} min (target <= {max_minutes:g} min): "
              f"{'met' if minutes <= max_minutes else 'NOT met'}")
        met = met and minutes <= max_minutes
    write_json(results, args.json)
    if full and not met:
        print("some targets are not met")
    return met


def write_json(results: dict, path: Path | None) -> None:
    if path:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(results, indent=2) + "\n")
        print(f"wrote {path}")


if __name__ == "__main__":
    sys.exit("import this module from a benchmark script")
