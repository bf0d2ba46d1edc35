"""A tiny synthetic nbgrader lab for the grading tests and benchmarks/grading.py (seconds per submission,
not minutes); the hostile submissions of :mod:`grading.hostile` are written against it.

``synthetic_lab(root)`` writes ``root/solutions/lab0_synthetic/lab0_synthetic.ipynb``: two autograded
answers (``add``, ``mul``), their test cells (2 and 3 points, with hidden tests) and a written answer
(2 points, graded by hand). ``student_notebook(release, add=..., mul=...)`` fills the answers.
"""

from __future__ import annotations

import copy
from pathlib import Path

import nbformat

LAB = "lab0_synthetic"
HIDDEN_MARK = "assert add(40, 2) == 42  # hidden"  # a line only the hidden tests hold

ADD = "def add(a, b):\n    ### BEGIN SOLUTION\n    return a + b\n    ### END SOLUTION"
MUL = "def mul(a, b):\n    ### BEGIN SOLUTION\n    return a * b\n    ### END SOLUTION"
TEST_ADD = ("assert add(1, 2) == 3\nprint('[PASS] add(1, 2) == 3')\n### BEGIN HIDDEN TESTS\n"
            f"{HIDDEN_MARK}\nassert add(-1, 1) == 0\n### END HIDDEN TESTS")
TEST_MUL = ("assert isclose(mul(2, 3), 6)\nprint('[PASS] mul(2, 3) == 6')\n### BEGIN HIDDEN TESTS\n"
            "assert math.isclose(mul(-7, 6), -42)  # hidden\nassert mul(0, 5) == 0\n### END HIDDEN TESTS")
CORRECT = {"add": "def add(a, b):\n    return a + b", "mul": "def mul(a, b):\n    return a * b"}
WRONG = {"add": "def add(a, b):\n    return a - b", "mul": "def mul(a, b):\n    return a + b"}
POINTS = {"test_add": 2.0, "test_mul": 3.0}


def _cell(kind, source, grade_id=None, points=None, solution=False, grade=False, locked=False):
    cell = nbformat.v4.new_code_cell(source) if kind == "code" else nbformat.v4.new_markdown_cell(source)
    if grade_id:
        meta = {"grade": grade, "solution": solution, "locked": locked, "grade_id": grade_id, "schema_version": 3}
        if points is not None:
            meta["points"] = points
        cell.metadata["nbgrader"] = meta
    return cell


def synthetic_lab(root: Path) -> Path:
    """Write the source notebook; returns the ``solutions`` folder."""
    nb = nbformat.v4.new_notebook()
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nb.cells = [
        _cell("markdown", "# Lab 0: a synthetic lab for the grading tests"),
        _cell("code", "import math\nfrom math import isclose", "setup", locked=True),
        _cell("code", ADD, "add", solution=True),
        _cell("code", TEST_ADD, "test_add", points=POINTS["test_add"], grade=True, locked=True),
        _cell("code", MUL, "mul", solution=True),
        _cell("code", TEST_MUL, "test_mul", points=POINTS["test_mul"], grade=True, locked=True),
        _cell("markdown", "Why?\n\n### BEGIN SOLUTION\nBecause.\n### END SOLUTION", "why", points=2.0,
              solution=True, grade=True),
    ]
    folder = root / "solutions" / LAB
    folder.mkdir(parents=True)
    nbformat.write(nb, folder / f"{LAB}.ipynb")
    return root / "solutions"


def student_notebook(release: Path, add: str | None = None, mul: str | None = None, why: str = "Because."):
    """The released notebook with answers filled in (None leaves the stub)."""
    nb = copy.deepcopy(nbformat.read(release, as_version=4))
    for cell in nb.cells:
        gid = cell.metadata.get("nbgrader", {}).get("grade_id")
        if gid == "add" and add is not None:
            cell.source = add
        elif gid == "mul" and mul is not None:
            cell.source = mul
        elif gid == "why":
            cell.source = why
    return nb


def release(solutions: Path, tmp: Path) -> Path:
    """``nbgrader generate_assignment`` of the synthetic lab; returns the student notebook."""
    from grading.worker import make_template

    tmp.mkdir(parents=True, exist_ok=True)
    return make_template(LAB, tmp, solutions) / "labs" / LAB / f"{LAB}.ipynb"
