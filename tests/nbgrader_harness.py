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


# ---- shared by the grading tests (tests/test_grading.py) and benchmarks/grading.py --------------

def strip_volatile(nb) -> dict:
    """Notebook JSON without volatile bits, for comparisons."""
    import json

    nb = json.loads(nbformat.writes(nb))
    nb["metadata"].pop("widgets", None)
    return nb


def assert_labs_equal_generate_assignment(tmp_path: Path, lab: str) -> None:
    """labs/<lab> must be exactly what `nbgrader generate_assignment` makes from solutions/<lab>."""
    generated = nbformat.read(Course(tmp_path, lab).generate(), as_version=4)
    committed = nbformat.read(REPO / "labs" / lab / f"{lab}.ipynb", as_version=4)
    assert strip_volatile(generated) == strip_volatile(committed), "labs/ is stale: run `make release` and commit labs/"


def _lines_only_inside(nb, blocks: tuple[str, ...]) -> set[str]:
    """Lines (>= 20 characters) that appear only between ``### BEGIN <block>`` and ``### END <block>``."""
    inside, outside = set(), set()
    for cell in nb.cells:
        hidden = False
        for line in cell.source.splitlines():
            s = line.strip()
            if any(s.startswith(f"### BEGIN {block}") for block in blocks):
                hidden = True
            elif any(s.startswith(f"### END {block}") for block in blocks):
                hidden = False
            elif len(s) >= 20:
                (inside if hidden else outside).add(s)
    return inside - outside


def hidden_test_lines(nb) -> set[str]:
    """Lines that appear only inside the HIDDEN TESTS blocks of the source notebook."""
    return _lines_only_inside(nb, ("HIDDEN TESTS",))


def html_text(page: str) -> str:
    """The text a browser shows for an nbconvert HTML page (tags removed, entities decoded)."""
    import html
    import re

    page = re.sub(r"<(script|style)[^>]*>.*?</\1>", "", page, flags=re.S)
    return html.unescape(re.sub(r"<[^>]+>", "", page))


def solution_only_lines(nb) -> set[str]:
    """Lines that appear only inside BEGIN/END SOLUTION or HIDDEN TESTS blocks of the source."""
    return _lines_only_inside(nb, ("SOLUTION", "HIDDEN TESTS"))


def assert_no_leaks(lab: str, min_secret_lines: int = 20) -> None:
    """No solution or hidden-test line (nor an nbgrader marker) in labs/<lab> or helpers/; no outputs in labs/."""
    source = nbformat.read(REPO / "solutions" / lab / f"{lab}.ipynb", as_version=4)
    secret = solution_only_lines(source)
    assert len(secret) > min_secret_lines, "the leak check found too few solution lines to be meaningful"
    student = (REPO / "labs" / lab / f"{lab}.ipynb").read_text()
    helpers_text = "\n".join(p.read_text() for p in (REPO / "helpers").rglob("*.py"))
    for marker in ("BEGIN SOLUTION", "END SOLUTION", "BEGIN HIDDEN TESTS", "END HIDDEN TESTS"):
        assert marker not in student and marker not in helpers_text
    student_nb = nbformat.reads(student, as_version=4)
    student_lines = {s.strip() for c in student_nb.cells for s in c.source.splitlines()}
    leaked = sorted(s for s in secret if s in student_lines or s in helpers_text)
    assert not leaked, f"solution / hidden-test lines found in labs/ or helpers/: {leaked[:5]}"
    assert all(not c.get("outputs") for c in student_nb.cells if c.cell_type == "code"), "labs/ must carry no outputs"


def mutant_rounds(catalogue) -> list[dict]:
    """Group a catalogue's mutants into as few submissions as possible: one mutant per graded answer
    per submission, never together with a mutant of an answer its test also calls (DEPENDS_ON)."""
    rounds: list[dict[str, tuple[str, list]]] = []
    for grade_id, mutants in catalogue.MUTANTS.items():
        for name, edits in mutants:
            for r in rounds:
                clash = grade_id in r or any(
                    other in catalogue.DEPENDS_ON.get(grade_id, ()) or grade_id in catalogue.DEPENDS_ON.get(other, ())
                    for other in r)
                if not clash:
                    r[grade_id] = (name, edits)
                    break
            else:
                rounds.append({grade_id: (name, edits)})
    return rounds


def full_marks_submissions(course: Course, catalogue) -> dict:
    """The submissions that must keep full marks: ``alternative`` (differently written answers),
    ``blind`` (answers written from the student notebook alone, ``BLIND = {grade_id: (what it
    revealed, source)}``; a question rewritten after its blind pass gets a new pass, and the old answers
    stay in ``BLIND_SUPERSEDED`` for the record, ungraded) and ``warns`` (correct answers that make a
    library warn, ``WARNS``)."""
    sets = {"alternative": catalogue.ALTERNATIVES,
            "blind": {} if getattr(catalogue, "BLIND_NOT_YET_GRADED", "") else
                     {gid: src for gid, (_, src) in getattr(catalogue, "BLIND", {}).items()},
            "warns": getattr(catalogue, "WARNS", {})}
    return {kind: course.submission({k: v.strip() for k, v in answers.items()})
            for kind, answers in sets.items() if answers}


def _edited(source: str, edits) -> str:
    for old, new in edits:
        source = mutate(source, old, new)
    return source


def catalogue_submissions(course: Course, catalogue, rounds, delete_test: str, edit_test: str) -> dict:
    """Every kind of submission for one batch autograde: the reference, the untouched student notebook,
    the catalogue's alternatives, a tampered notebook (``delete_test`` removed, ``edit_test`` emptied and
    given 100 points), the catalogue's ``CRASHES`` in one notebook (``crashes``) and one notebook per
    mutant round (``mutants<i>``)."""
    solutions = course.solution_sources()
    submissions = {
        "reference": course.submission(),
        "blank": course.submission(blank=True),
        **full_marks_submissions(course, catalogue),
    }
    tampered = course.submission()
    tampered.cells = [c for c in tampered.cells if c.metadata.get("nbgrader", {}).get("grade_id") != delete_test]
    for c in tampered.cells:
        if c.metadata.get("nbgrader", {}).get("grade_id") == edit_test:
            c.source = "pass"
            c.metadata["nbgrader"]["points"] = 100
    submissions["tampered"] = tampered
    if getattr(catalogue, "CRASHES", None):  # native code that crashes or hangs: costs only its question
        submissions["crashes"] = course.submission({gid: _edited(solutions[gid], edits)
                                                    for gid, (_, edits) in catalogue.CRASHES.items()})
    for i, r in enumerate(rounds):
        answers = {}
        for grade_id, (_, edits) in r.items():
            answers[grade_id] = _edited(solutions[grade_id], edits)
        submissions[f"mutants{i}"] = course.submission(answers)
    return submissions


def total(scores: dict) -> tuple:
    """(points scored, points possible) over ``{grade_id: (score, max_score)}``."""
    return sum(s for s, _ in scores.values()), sum(m for _, m in scores.values())
