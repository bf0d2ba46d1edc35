"""`make help` lists every target of the Makefile; `make test` (the README's and CI's command) runs ruff."""

import re
import subprocess
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def test_make_help_lists_every_target():
    targets = set(re.findall(r"^([a-z][a-z-]*):", (REPO / "Makefile").read_text(), re.M))
    assert {"lab", "test", "release", "grade", "lint"} <= targets
    shown = subprocess.run(["make", "-s", "help"], cwd=REPO, capture_output=True, text=True, check=True).stdout
    listed = set(re.findall(r"^  make ([a-z-]+)", shown, re.M))
    assert listed == targets, f"missing from `make help`: {sorted(targets - listed)}; extra: {sorted(listed - targets)}"


def test_make_test_runs_lint_first():
    prerequisites = re.search(r"^test:([^#\n]*)", (REPO / "Makefile").read_text(), re.M).group(1).split()
    assert prerequisites == ["setup", "lint"]
    assert "make test" in (REPO / ".ci" / "run").read_text()
