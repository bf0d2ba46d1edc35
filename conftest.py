"""Shared test setup.

nbgrader shells out to `alembic` (gradebook migrations) and `jupyter` through PATH, so the
interpreter's bin/ goes first; matplotlib draws off-screen; tests run in the fast profile.
Progress bars are off (as in the benchmark runs that stored the solutions' outputs), so that nbval
compares a test cell's output with the stored one and not with a tqdm widget.
"""

import os
import sys
from pathlib import Path

import matplotlib
import pytest

matplotlib.use("Agg")
os.environ["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}"
os.environ.setdefault("LABS_PROFILE", "fast")
os.environ.setdefault("LABS_PROGRESS", "0")


@pytest.hookimpl(tryfirst=True)
def pytest_collection_modifyitems(config, items):
    """With pytest-xdist workers (`make test PYTEST_WORKERS=auto`, which runs `-n auto --dist loadgroup`;
    the default is serial), keep each file's tests on one
    worker (nbval runs a notebook's cells in order in one kernel; module fixtures load once), except
    the nbgrader grading tests, which are grouped per lab so that two labs' batches run in parallel."""
    for item in items:
        if item.get_closest_marker("xdist_group") is None:
            item.add_marker(pytest.mark.xdist_group(item.path.name))
