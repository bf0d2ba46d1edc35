"""Where nbgrader and Jupyter find their tools and the course's code: the one PATH set-up.

nbgrader shells out to ``alembic`` (gradebook migrations) and ``jupyter`` through PATH; they are
installed next to this interpreter, whose ``bin/`` need not be on PATH (a venv used without
``activate``, CI, a grading machine). And ``nbgrader_config.py`` imports the course's preprocessors
(:mod:`grading.feedback`): a course folder that holds a copy of it (the grading workers', the tests')
needs the repository on PYTHONPATH. Every place that starts nbgrader or Jupyter builds its environment
here: ``conftest.py``, the course driver (:mod:`grading.course`), the grading workers, the release
script and the browser tests.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Mapping
from pathlib import Path

from grading.labs import REPO

BIN = Path(sys.executable).parent  # nbgrader, jupyter, alembic of this environment


def _first(entry: str, search_path: str) -> str:
    """``search_path`` (os.pathsep-separated) with ``entry`` first, once."""
    rest = [p for p in search_path.split(os.pathsep) if p and p != entry]
    return os.pathsep.join([entry, *rest])


def path_with_bin(path: str | None = None) -> str:
    """``path`` (default: this process's PATH) with the interpreter's ``bin/`` first."""
    return _first(str(BIN), os.environ.get("PATH", os.defpath) if path is None else path)


def with_tools(env: Mapping[str, str] | None = None) -> dict:
    """A copy of ``env`` (default: this process's environment) with the interpreter's ``bin/`` first on
    PATH and the repository first on PYTHONPATH: nbgrader, Jupyter and a copied ``nbgrader_config.py``
    all find what they need."""
    env = dict(os.environ if env is None else env)
    env["PATH"] = path_with_bin(env.get("PATH", os.defpath))
    env["PYTHONPATH"] = _first(str(REPO), env.get("PYTHONPATH", ""))
    return env
