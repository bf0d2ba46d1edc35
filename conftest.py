"""Shared test setup.

nbgrader shells out to `alembic` (gradebook migrations) and `jupyter` through PATH, so the
interpreter's bin/ goes first (grading/tools.py); matplotlib draws off-screen; tests run in the fast profile.
Progress bars are off (as in the benchmark runs that stored the solutions' outputs), so that nbval
compares a test cell's output with the stored one and not with a tqdm widget.
"""

import os

import matplotlib
import pytest

from grading.tools import path_with_bin

matplotlib.use("Agg")
os.environ["PATH"] = path_with_bin()
os.environ.setdefault("LABS_PROFILE", "fast")
os.environ.setdefault("LABS_PROGRESS", "0")


@pytest.hookimpl(tryfirst=True)
def pytest_collection_modifyitems(config, items):
    """With pytest-xdist workers (`make test PYTEST_WORKERS=auto`, which runs `-n auto --dist loadgroup`;
    the default, PYTEST_WORKERS=0, is serial), keep each file's tests on one worker (nbval runs a notebook's
    cells in order in one kernel; module fixtures load once), except the nbgrader grading tests of
    tests/test_grading.py, which are grouped per lab (its runaway-cell test apart) so that labs' batches
    run on different workers."""
    for item in items:
        if item.get_closest_marker("xdist_group") is None:
            item.add_marker(pytest.mark.xdist_group(item.path.name))
