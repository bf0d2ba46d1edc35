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

matplotlib.use("Agg")
os.environ["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}"
os.environ.setdefault("LABS_PROFILE", "fast")
os.environ.setdefault("LABS_PROGRESS", "0")
