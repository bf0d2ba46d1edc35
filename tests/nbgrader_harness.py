"""Drive nbgrader the way an instructor does, in a throw-away course directory.

    course = Course(tmp_path, "lab1_pruning")
    scores = course.autograde({"alice": course.submission(), "bob": course.submission({...})})
    scores["alice"]["test_fine_grained_prune"]  # -> (score, max_score)

Everything goes through nbgrader's own command line (generate_assignment, autograde) and its
gradebook API, so these tests exercise exactly what `make release` / `make grade` run.
"""

from __future__ import annotations

import copy
import os
import shutil
import subprocess
import sys
from pathlib import Path

import nbformat

REPO = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent


def nbgrader_env() -> dict:
    """nbgrader shells out to `alembic` (gradebook migrations) and `jupyter`: put our bin/ first."""
    env = dict(os.environ)
    env["PATH"] = f"{BIN}{os.pathsep}{env.get('PATH', '')}"
    env.pop("LABS_PROFILE", None)  # nbgrader forces the fast profile through NBGRADER_EXECUTION
    env["MPLBACKEND"] = "Agg"
    return env


def run_nbgrader(args, cwd: Path, timeout: float) -> subprocess.CompletedProcess:
    proc = subprocess.run([str(BIN / "nbgrader"), *args], cwd=cwd, env=nbgrader_env(),
                          capture_output=True, text=True, timeout=timeout)
    if proc.returncode != 0:
        raise RuntimeError(f"nbgrader {' '.join(args)} failed ({proc.returncode}):\n{proc.stdout}\n{proc.stderr}")
    return proc


def cell_kind(cell) -> str:
    meta = cell.metadata.get("nbgrader", {})
    if meta.get("solution") and cell.cell_type == "code":
        return "answer"
    if meta.get("grade") and not meta.get("solution"):
        return "tests"
    if meta.get("solution"):
        return "written"
    return "other"


class Course:
    """A temporary nbgrader course holding one lab's source notebook and the repo's config."""

    def __init__(self, root: Path, lab: str):
        self.root, self.lab = Path(root), lab
        shutil.copy(REPO / "nbgrader_config.py", self.root / "nbgrader_config.py")
        shutil.copytree(REPO / "solutions" / lab, self.root / "solutions" / lab)
        self.generated = False

    @property
    def source_nb(self):
        return nbformat.read(self.root / "solutions" / self.lab / f"{self.lab}.ipynb", as_version=4)

    def generate(self) -> Path:
        """`nbgrader generate_assignment`; returns the student notebook it wrote."""
        run_nbgrader(["generate_assignment", self.lab, "--force"], self.root, timeout=300)
        self.generated = True
        return self.root / "labs" / self.lab / f"{self.lab}.ipynb"

    def student_nb(self):
        path = self.root / "labs" / self.lab / f"{self.lab}.ipynb"
        if not self.generated:
            self.generate()
        return nbformat.read(path, as_version=4)

    def solution_sources(self) -> dict[str, str]:
        return {c.metadata["nbgrader"]["grade_id"]: c.source
                for c in self.source_nb.cells if cell_kind(c) in ("answer", "written")}

    def submission(self, answers: dict[str, str] | None = None, blank: bool = False):
        """The student notebook with every answer cell filled: by ``answers[grade_id]`` when given,
        else by the reference solution (``blank=True`` leaves the stubs untouched)."""
        nb = copy.deepcopy(self.student_nb())
        if blank:
            return nb
        solutions = self.solution_sources()
        answers = answers or {}
        for cell in nb.cells:
            if cell_kind(cell) in ("answer", "written"):
                grade_id = cell.metadata["nbgrader"]["grade_id"]
                cell.source = answers.get(grade_id, solutions[grade_id])
        return nb

    def autograde(self, submissions: dict, extra_args=(), timeout: float = 1800) -> dict:
        """Autograde ``{student: notebook}``; returns ``{student: {grade_id: (score, max_score)}}``."""
        if not self.generated:
            self.generate()
        for student, nb in submissions.items():
            folder = self.root / "submitted" / student / self.lab
            folder.mkdir(parents=True, exist_ok=True)
            nbformat.write(nb, folder / f"{self.lab}.ipynb")
        run_nbgrader(["autograde", self.lab, "--force", *extra_args], self.root, timeout=timeout)
        return self.scores(list(submissions))

    def scores(self, students) -> dict:
        from nbgrader.api import Gradebook

        out = {}
        with Gradebook(f"sqlite:///{self.root / 'gradebook.db'}") as gb:
            for student in students:
                nb = gb.find_submission_notebook(self.lab, self.lab, student)
                out[student] = {g.name: (g.score, g.max_score) for g in nb.grades
                                if g.cell.cell_type == "code"}
        return out

    def feedback_dir(self) -> Path:
        return self.root / "feedback"


def mutate(source: str, old: str, new: str) -> str:
    """Replace ``old`` by ``new`` in a reference answer; fails loudly if the solution changed."""
    if old not in source:
        raise AssertionError(f"mutant anchor not found in the solution:\n{old}\n--- in ---\n{source}")
    return source.replace(old, new)
