"""The run's real gradebook, written by ONE process: the grader's main thread.

Workers grade into private SQLite gradebooks (:mod:`grading.worker`); their scores are copied here
one submission at a time, in a transaction each. SQLite (``<course>/gradebook.db``) is the default;
PostgreSQL (``postgresql+psycopg://user@host/db``) lets several graders on several machines share
one gradebook: each writes only the submissions it graded, and a race on a shared row (two machines
creating the same student) is retried.

The URL reaches nbgrader through ``NBGRADER_DB_URL`` (read by nbgrader_config.py), never through a
command line (visible to every user in ``ps``) nor a worker's environment.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
import time
import warnings
from pathlib import Path
from typing import NamedTuple

from grading.tools import BIN
from grading.worker import Result, base_env


class Score(NamedTuple):
    score: float | None  # what counts: the manual score if any, else the autograder's
    max_score: float
    needs_manual_grade: bool
    auto_score: float | None
    cell_type: str  # "code": autograded (test cells, autograded answers); "markdown": written answers


def default_url(course: Path) -> str:
    return f"sqlite:///{Path(course).resolve() / 'gradebook.db'}"


def normalize_url(url: str) -> str:
    """``postgresql://`` means the psycopg 3 driver (SQLAlchemy's default would be psycopg2)."""
    if url.startswith("postgresql://") or url.startswith("postgres://"):
        url = "postgresql+psycopg://" + url.split("://", 1)[1]
    return url


def redact(url: str) -> str:
    """The URL without its password, for messages."""
    if "@" in url and "://" in url:
        scheme, rest = url.split("://", 1)
        creds, host = rest.rsplit("@", 1)
        return f"{scheme}://{creds.split(':')[0]}:***@{host}" if ":" in creds else url
    return url


# nbgrader's name for the course: the row of the gradebook's course table that every assignment belongs to
COURSE_ID = "efficient-dl-labs"


def course_id() -> str:
    """The course id (``NBGRADER_COURSE_ID`` overrides it) that the graders and nbgrader_config.py give nbgrader
    when the gradebook is a URL."""
    return os.environ.get("NBGRADER_COURSE_ID", COURSE_ID)


def open_gradebook(db_url: str):
    from nbgrader.api import Gradebook

    return Gradebook(db_url, course_id=course_id())


@contextlib.contextmanager
def exclusive(db_url: str):
    """Hold a lock that every grader using this gradebook respects: a PostgreSQL advisory lock, or a
    file lock next to a SQLite file. nbgrader's first use of a gradebook (creating its tables, the
    course, an assignment) is not safe when two graders do it at the same moment."""
    if db_url.startswith("sqlite:///"):
        import fcntl

        path = Path(db_url[len("sqlite:///"):]).with_suffix(".lock")
        path.parent.mkdir(parents=True, exist_ok=True)
        with open(path, "w") as f:
            fcntl.flock(f, fcntl.LOCK_EX)
            yield
        return
    from sqlalchemy import create_engine, text

    engine = create_engine(db_url)
    try:
        with engine.connect() as conn:
            conn.execute(text("SELECT pg_advisory_lock(7407)"))  # released when the connection closes
            yield
    finally:
        engine.dispose()


def nbgrader(args: list[str], cwd: Path, db_url: str, home: Path, timeout: float = 1800) -> str:
    """Run nbgrader against the real gradebook (URL passed in the environment)."""
    env = base_env(home)
    env["NBGRADER_DB_URL"] = db_url
    env["NBGRADER_COURSE_ID"] = course_id()
    # libpq's own settings (PGPASSWORD, PGPASSFILE, PGSSLMODE...), and ~/.pgpass, which libpq looks
    # for in HOME (replaced above): only this process gets them, never a worker or a kernel
    env.update({k: v for k, v in os.environ.items() if k.startswith("PG")})
    pgpass = Path.home() / ".pgpass"
    if "PGPASSFILE" not in env and pgpass.is_file():
        env["PGPASSFILE"] = str(pgpass)
    proc = subprocess.run([str(BIN / "nbgrader"), *args], cwd=cwd, env=env, capture_output=True, text=True,
                          timeout=timeout)
    if proc.returncode != 0:
        raise SystemExit(f"nbgrader {' '.join(args)} failed (gradebook {redact(db_url)}):\n"
                         f"{proc.stdout[-2000:]}{proc.stderr[-4000:]}")
    return proc.stdout + proc.stderr


def ensure_assignment(lab: str, template: Path, db_url: str, home: Path) -> None:
    """Make the real gradebook know the lab's notebook, cells and points (from its source notebook)."""
    release = f"--CourseDirectory.release_directory={template / 'release-main'}"
    with exclusive(db_url):
        nbgrader(["generate_assignment", lab, "--force", release], template, db_url, home)


def _retrying(fn, tries: int = 5):
    from sqlalchemy.exc import IntegrityError, OperationalError

    for attempt in range(tries):
        try:
            return fn()
        except (IntegrityError, OperationalError):
            if attempt == tries - 1:
                raise
            time.sleep(0.2 * (attempt + 1))


def store_result(result: Result, db_url: str, course: Path) -> None:
    """Store one worker's result: its scores in the gradebook, its graded notebook in
    ``course/autograded/<student>/<lab>/``. A failed submission scores 0 on every autograded cell
    (written answers stay to be graded by hand)."""
    def write():
        with warnings.catch_warnings(), open_gradebook(db_url) as gb:
            warnings.simplefilter("ignore")  # nbgrader's own SQLAlchemy autoflush warnings
            gb.update_or_create_student(result.student)
            gb.update_or_create_submission(result.lab, result.student)
            nb = gb.find_submission_notebook(result.lab, result.lab, result.student)
            for grade in nb.grades:
                got = result.grades.get(grade.name)
                if result.status == "graded" and got is not None:
                    grade.auto_score = got["auto_score"]
                    grade.needs_manual_grade = grade.manual_score is not None or got["auto_score"] is None
                elif grade.cell.cell_type == "code":
                    grade.auto_score = 0.0
                    grade.needs_manual_grade = grade.manual_score is not None
            for comment in nb.comments:
                if result.status == "graded":
                    comment.auto_comment = result.comments.get(comment.name)
            gb.db.commit()

    _retrying(write)
    target = course / "autograded" / result.student / result.lab
    if target.exists():
        shutil.rmtree(target)
    if result.status == "graded" and result.notebook is not None:
        target.mkdir(parents=True)
        shutil.copyfile(result.notebook, target / f"{result.lab}.ipynb")  # the notebook only: no links


def read_scores(db_url: str, labs: list[str], students: set[str] | None = None) -> dict:
    """``{(student, lab): {question: Score}}`` as stored (``score`` None: waits for a human)."""
    from nbgrader.api import MissingEntry

    out = {}
    with open_gradebook(db_url) as gb:
        for lab in labs:
            try:
                assignment = gb.find_assignment(lab)
            except MissingEntry:
                continue
            for sub in assignment.submissions:
                if students is not None and sub.student.id not in students:
                    continue
                nb = gb.find_submission_notebook(lab, lab, sub.student.id)
                out[(sub.student.id, lab)] = {g.name: Score(None if g.needs_manual_grade and g.manual_score is None
                                                             else g.score, g.max_score, g.needs_manual_grade,
                                                             g.auto_score, g.cell.cell_type) for g in nb.grades}
    return out


def lost_grades(results: list[Result], stored: dict) -> list[str]:
    """Every autograded score a worker produced must be in the gradebook, once and unchanged."""
    lost = []
    for r in results:
        if r.status != "graded":
            continue
        got = stored.get((r.student, r.lab))
        if got is None:
            lost.append(f"{r.student}/{r.lab}: no submission in the gradebook")
            continue
        for name, g in r.grades.items():
            if g["auto_score"] is not None and (name not in got or got[name].auto_score != g["auto_score"]):
                lost.append(f"{r.student}/{r.lab}/{name}: graded {g['auto_score']}, stored {got.get(name)}")
    return lost


def generate_feedback(course: Path, lab: str, db_url: str, home: Path, student: str | None = None) -> None:
    """nbgrader's own feedback (HTML), with grading.feedback.HideHiddenTests from nbgrader_config.py."""
    args = ["generate_feedback", lab, "--force"] + ([f"--student={student}"] if student else [])
    nbgrader(args, course, db_url, home)


def ensure_config(course: Path, repo_config: Path) -> None:
    """A course folder outside the repository gets the repository's nbgrader_config.py."""
    target = course / "nbgrader_config.py"
    if not target.exists():
        course.mkdir(parents=True, exist_ok=True)
        shutil.copy(repo_config, target)
    os.chmod(target, 0o644)
