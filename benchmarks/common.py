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
from dataclasses import dataclass
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


def has(results: dict, dotted: str) -> bool:
    try:
        lookup(results, dotted)
        return True
    except (KeyError, TypeError):
        return False


def recorded_numbers(results: dict, prefix: str = "") -> dict:
    """Every number the run recorded, by dotted key, in the order recorded (``run`` left out)."""
    numbers = {}
    for key, value in results.items():
        if key == "run" and not prefix:
            continue
        if isinstance(value, dict):
            numbers.update(recorded_numbers(value, f"{prefix}{key}."))
        elif isinstance(value, (int, float)) and not isinstance(value, bool):
            numbers[prefix + key] = value
    return numbers


_COMPARE = {">=": lambda a, b: a >= b, "<=": lambda a, b: a <= b, ">": lambda a, b: a > b,
            "<": lambda a, b: a < b, "==": lambda a, b: a == b}


@dataclass(frozen=True)
class Goal:
    """A target on one recorded number, written once: the table's text and its check both come from it.

    ``threshold`` is a number, or the dotted key of another recorded number (e.g. a target the run computed).
    ``optional``: the number may be missing (a comparison that needs a package CI does not install)."""

    op: str
    threshold: float | str
    unit: str = ""
    note: str = ""
    optional: bool = False
    tolerance: float = 0.0  # for "==": met within this distance

    def __post_init__(self):
        if self.op not in _COMPARE:
            raise ValueError(f"Goal op must be one of {sorted(_COMPARE)}, got {self.op!r}")

    def text(self) -> str:
        within = f"+- {self.tolerance:g}" if self.tolerance else ""
        return " ".join(str(part) for part in (self.op, self.threshold, within, self.unit, self.note) if part != "")

    def met(self, value, results: dict) -> bool:
        bound = lookup(results, self.threshold) if isinstance(self.threshold, str) else self.threshold
        if self.op == "==" and self.tolerance:
            return abs(value - bound) <= self.tolerance
        return _COMPARE[self.op](value, bound)


def _format(value) -> str:
    if isinstance(value, int):
        return f"{value:,d}"
    return f"{value:.1f}" if abs(value) >= 1000 else f"{value:.4g}"


def print_table(results: dict, goals: dict[str, Goal], check: bool = True) -> bool:
    """Every recorded number, with its goal where it has one (checked when ``check``). Returns True if
    every goal is met; a goal whose number was not recorded is not met, unless it is optional."""
    numbers = recorded_numbers(results)
    all_met = True
    print(f"{'metric':48s} {'value':>12s}  {'goal':>18s}  met")
    for key, value in numbers.items():
        goal = goals.get(key) if check else None
        met = "" if goal is None else ("yes" if goal.met(value, results) else "NO")
        all_met = all_met and met != "NO"
        print(f"{key:48s} {_format(value):>12s}  {goal.text() if goal else '':>18s}  {met}")
    for key, goal in goals.items():
        if check and key not in numbers and not goal.optional:
            print(f"{key:48s} {'missing':>12s}  {goal.text():>18s}  NO")
            all_met = False
    run = results["run"]
    print(f"\nprofile {run['profile']}, notebook {run['notebook_seconds']} s on {run['machine']['cpu']} "
          f"({run['machine']['cores']} cores, {run['machine']['torch_threads']} torch threads)")
    return all_met


def report(results: dict, goals: dict[str, Goal], args: argparse.Namespace, max_minutes: float | None = None) -> bool:
    """Print the table (goals checked in the full profile only: the fast profile's numbers are not the
    targets'), check the notebook time against ``max_minutes`` (full profile) and write the JSON.
    Returns True when every goal is met."""
    full = args.profile == "full"
    met = print_table(results, goals, check=full)
    if full and max_minutes:
        minutes = results["run"]["notebook_seconds"] / 60
        print(f"notebook {minutes:.1f} min (target <= {max_minutes:g} min): "
              f"{'met' if minutes <= max_minutes else 'NOT met'}")
        met = met and minutes <= max_minutes
    write_json(results, args.json)
    if full and not met:
        print("some targets are not met")
    return met


def benchmark_lab(script: str, goals: dict[str, Goal], max_minutes: float | None = None) -> bool:
    """The whole of a lab's benchmark: ``python benchmarks/<lab>.py`` runs solutions/<lab> (the script's
    name is the lab's) and reports every number it recorded against ``goals``."""
    module = sys.modules["__main__"]
    args = parse_args(module.__doc__)
    results = run_lab(Path(script).stem, args.profile, args.timeout, args.update_solution)
    return report(results, goals, args, max_minutes)


def write_json(results: dict, path: Path | None) -> None:
    if path:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(results, indent=2) + "\n")
        print(f"wrote {path}")


if __name__ == "__main__":
    sys.exit("import this module from a benchmark script")
