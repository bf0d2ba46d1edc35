"""Drive nbgrader the way an instructor does, in a throw-away course directory (for the grading tests
and ``benchmarks/grading.py``; ``python -m grading`` has its own private courses, :mod:`grading.worker`).

    course = Course(tmp_path, "lab1_pruning")
    scores = course.autograde({"alice": course.submission(), "bob": course.submission({...})})
    scores["alice"]["test_fine_grained_prune"]  # -> (score, max_score)

Everything goes through nbgrader's own command line (generate_assignment, autograde, generate_feedback)
and its gradebook API, with the repository's ``nbgrader_config.py``: what ``make release`` and an
instructor's ``nbgrader autograde`` run.
"""

from __future__ import annotations

import copy
import os
import shutil
import subprocess
from pathlib import Path

import nbformat

from grading.labs import REPO
from grading.tools import BIN, with_tools


def nbgrader_env(threads: int | None = None) -> dict:
    """nbgrader with its tools and the course's code found (grading/tools.py), off-screen plots.
    ``threads`` caps the OpenMP / MKL threads of the kernels it starts (one share of the cores) and makes
    their OpenMP threads wait passively."""
    env = with_tools()
    env.pop("LABS_PROFILE", None)  # nbgrader forces the fast profile through NBGRADER_EXECUTION
    env["MPLBACKEND"] = "Agg"
    if threads:  # kernels that share the cores
        env.update(OMP_NUM_THREADS=str(threads), MKL_NUM_THREADS=str(threads))
        # must not spin-wait: with libgomp's default (active) waiting, two one-thread Lab 5 kernels took 267 s
        # for what took 64 s passive (its C kernels start their own OpenMP threads); a kernel alone on the
        # cores keeps active waiting (Lab 4's notebook: 53 s active, 61 s passive, 2 threads)
        env.setdefault("OMP_WAIT_POLICY", "PASSIVE")
    return env


def _failed(args, returncode: int, stdout: str, stderr: str) -> RuntimeError:
    return RuntimeError(f"nbgrader {' '.join(args)} failed ({returncode}):\n{stdout}\n{stderr}")


def run_nbgrader(args, cwd: Path, timeout: float) -> subprocess.CompletedProcess:
    proc = subprocess.run([str(BIN / "nbgrader"), *args], cwd=cwd, env=nbgrader_env(),
                          capture_output=True, text=True, timeout=timeout)
    if proc.returncode != 0:
        raise _failed(args, proc.returncode, proc.stdout, proc.stderr)
    return proc


# the gradebook tables that hold submissions (the others describe the assignment, the same in every copy)
_SUBMISSION_TABLES = ("student", "submitted_assignment", "submitted_notebook", "grade", "comment")


def shares_of(students: list[str], workers: int, costs: dict | None = None) -> list[list[str]]:
    """``students`` split over ``workers`` so that they finish together: the costliest first, each to the
    least loaded worker (``costs``: rough relative run times; every student costs 1 without them)."""
    costs = costs or {}
    shares, loads = [[] for _ in range(workers)], [0.0] * workers
    for student in sorted(students, key=lambda s: -costs.get(s, 1.0)):  # stable: equal costs keep their order
        i = loads.index(min(loads))
        shares[i].append(student)
        loads[i] += costs.get(student, 1.0)
    return shares


def autograde_in_parallel(root: Path, lab: str, students: list[str], workers: int, extra_args=(),
                          timeout: float = 1800, costs: dict | None = None, own_args: dict | None = None) -> None:
    """`nbgrader autograde` split over ``workers`` processes, each with its share of the students
    (``--CourseDirectory.student_id_exclude`` the others), its own copy of the gradebook (SQLite has one
    writer) and its share of the cores; then their rows go into ``gradebook.db``. nbgrader's ids are
    UUIDs, so the copies' rows never collide. Same grades as one serial run, about ``workers`` times
    sooner: a fast-profile notebook spends most of its time in one thread (kernel start, imports, small
    tensors), so two one-thread kernels beat one two-thread kernel. ``costs``: see :func:`shares_of`.
    ``own_args``: ``{student: [nbgrader options]}`` for submissions graded in a process of their own, beside
    the workers, with those options added (a shorter cell timeout for a notebook that must time out)."""
    import sqlite3

    own_args = own_args or {}
    shared = [s for s in students if s not in own_args]
    shares = [(share, ()) for share in shares_of(shared, workers, costs) if share]
    shares += [([student], tuple(own_args[student])) for student in students if student in own_args]
    threads = max(1, (os.cpu_count() or 1) // workers)
    procs = []
    for i, (share, own) in enumerate(shares):
        db = root / f"gradebook-{i}.db"
        shutil.copy(root / "gradebook.db", db)
        args = ["autograde", lab, "--force", f"--CourseDirectory.db_url=sqlite:///{db}",
                "--CourseDirectory.student_id_exclude=" + ",".join(s for s in students if s not in share),
                *extra_args, *own]
        procs.append((args, db, subprocess.Popen([str(BIN / "nbgrader"), *args], cwd=root,
                                                 env=nbgrader_env(threads), stdout=subprocess.PIPE,
                                                 stderr=subprocess.PIPE, text=True)))
    try:
        outputs = []
        for args, db, proc in procs:
            stdout, stderr = proc.communicate(timeout=timeout)
            outputs.append((args, db, proc.returncode, stdout, stderr))
    finally:
        for _, _, proc in procs:
            proc.kill()
    for args, _, returncode, stdout, stderr in outputs:
        if returncode != 0:
            raise _failed(args, returncode, stdout, stderr)
    with sqlite3.connect(root / "gradebook.db") as main:
        for _, db, *_ in outputs:
            main.execute("ATTACH DATABASE ? AS part", (str(db),))
            for table in _SUBMISSION_TABLES:  # parents before children (foreign keys)
                main.execute(f"INSERT INTO main.{table} SELECT * FROM part.{table}")
            main.commit()
            main.execute("DETACH DATABASE part")
            db.unlink()


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
        self.graded = False  # no submission in the gradebook yet

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

    def autograde(self, submissions: dict, extra_args=(), timeout: float = 1800, costs: dict | None = None,
                  own_args: dict | None = None) -> dict:
        """Autograde ``{student: notebook}``; returns ``{student: {grade_id: (score, max_score)}}``.
        ``costs`` (rough relative run times) balance the parallel workers (:func:`shares_of`); ``own_args``
        (``{student: [nbgrader options]}``) grades those students in processes of their own with those
        options added (:func:`autograde_in_parallel`; a serial run takes ``own_args`` only when it grades
        one student)."""
        if not self.generated:
            self.generate()
        for student, nb in submissions.items():
            folder = self.root / "submitted" / student / self.lab
            folder.mkdir(parents=True, exist_ok=True)
            nbformat.write(nb, folder / f"{self.lab}.ipynb")
        own_args = {s: a for s, a in (own_args or {}).items() if s in submissions}
        workers = min(len(submissions), os.cpu_count() or 1)
        if workers > 1 and not self.graded:
            autograde_in_parallel(self.root, self.lab, list(submissions), workers, extra_args, timeout, costs,
                                  own_args)
        else:  # one submission, one core, or a regrade (its old rows would clash in the merge)
            own = own_args[next(iter(submissions))] if len(submissions) == 1 and own_args else ()
            run_nbgrader(["autograde", self.lab, "--force", *extra_args, *own], self.root, timeout=timeout)
        self.graded = True
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
