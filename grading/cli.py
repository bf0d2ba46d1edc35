"""``python -m grading`` (``make grade``): autograde a class's submissions with nbgrader, in parallel.

    python -m grading SUBMISSIONS [--roster roster.csv] [--course DIR] [--db URL] [--workers N]

SUBMISSIONS is a folder or a zip (nbgrader, Canvas or Moodle layout: see grading/collect.py). The run

1. imports every notebook as ``<course>/submitted/<student>/<lab>/<lab>.ipynb`` (outputs removed);
2. autogrades each one with ``nbgrader autograde`` in a private course, N at a time
   (:mod:`grading.worker`), its kernel boxed by :mod:`grading.sandbox`;
3. writes every result into the gradebook from this process only (:mod:`grading.gradebook`), then
   reads them all back and checks that none was lost or changed;
4. writes grades.csv, totals.csv, summary.md and summary.png into ``--out`` (default: the course)
   and nbgrader's HTML feedback into ``<course>/feedback/`` (hidden tests removed).

A submission that cannot be graded (not a notebook, kernel killed, over its limits) scores 0 on its
autograded cells and is listed with its reason; the batch goes on. Exit status: 0, or 3 when a grade
was lost (never expected: it means the gradebook does not hold what the workers computed).
"""

from __future__ import annotations

import argparse
import os
import queue
import shutil
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import dataclass, field
from pathlib import Path

import nbformat

from grading import audit, collect, gradebook, report, sandbox, worker
from grading.labs import REPO, discover
from helpers.env import LLM_CACHE, cache_dir


@dataclass
class Run:
    results: list = field(default_factory=list)
    stored: dict = field(default_factory=dict)
    skipped: list = field(default_factory=list)
    lost: list = field(default_factory=list)
    seconds: float = 0.0
    workers: int = 1
    sandbox: str = ""


def sandbox_config(course: Path, scratch: Path, inputs: list[Path]) -> worker.Sandbox:
    """What the kernels get on this machine, and what they must not see."""
    ok, why = sandbox.namespaces_available()
    hide = [str(REPO), str(course), str(scratch), *map(str, inputs)]
    project = Path(sys.prefix).parent  # a venv inside a checkout of this course
    if (project / "solutions").is_dir() or (project / "nbgrader_config.py").is_file():
        hide.append(str(project))
    home = Path.home()
    if str(home) != "/":
        hide.append(str(home))
    llm_cache = cache_dir(create=False) / LLM_CACHE  # the converted model: lent read-only, not converted again
    shared = [[str(llm_cache), f"{worker.KERNEL_CACHE}/{LLM_CACHE}"]] if llm_cache.is_dir() else []
    return worker.Sandbox(namespaces=ok, drop_user=os.geteuid() == 0, why=why, hide=hide, shared_ro=shared)


def describe_sandbox(box: worker.Sandbox, limits: worker.Limits) -> str:
    """What the kernels get on this machine, in one line (printed at the start of a run and by --check-sandbox)."""
    parts = [f"memory {limits.memory_mb} MB", f"{limits.processes} processes", f"files <= {limits.file_mb} MB",
             f"{limits.wall_s:g} s per submission", "scrubbed environment"]
    if box.namespaces:
        parts += ["no network", "own PID space", "repository, course, gradebook and other submissions hidden"]
    else:
        parts.append(f"NO network/file isolation ({box.why})")
    if box.namespaces and box.drop_user:
        parts.append(f"kernels run as uids {box.base_uid}..{box.base_uid + 63}")
    elif os.geteuid() == 0:
        parts.append("kernels run as root (no namespaces: cannot drop safely)")
    return ", ".join(parts)


def grade(source: Path, course: Path, db_url: str | None = None, workers: int | None = None,
          roster: Path | None = None, lab: str | None = None, students: list[str] | None = None,
          limits: worker.Limits | None = None, out: Path | None = None, feedback: bool = True,
          quiet: bool = False, solutions: Path = REPO / "solutions") -> Run:
    course = Path(course).resolve()
    out = Path(out or course).resolve()
    out.mkdir(parents=True, exist_ok=True)
    workers = workers or os.cpu_count() or 1
    limits = limits or worker.Limits()
    limits.threads = max(1, (os.cpu_count() or 1) // workers)
    db_url = gradebook.normalize_url(db_url or gradebook.default_url(course))
    say = (lambda *a: None) if quiet else (lambda *a: print(*a, flush=True))
    labs = discover(solutions)
    gradebook.ensure_config(course, REPO / "nbgrader_config.py")
    scratch = Path(tempfile.mkdtemp(prefix="grading-"))
    os.chmod(scratch, 0o700)
    run = Run(workers=workers)
    try:
        found = collect.collect(Path(source), labs, collect.Roster(roster), scratch, lab_hint=lab)
        subs = [s for s in found.submissions if not students or s.student in students]
        run.skipped = found.skipped
        if not subs:
            say(f"no submission found in {source}" + (f" for {students}" if students else "") +
                ": expected <student>/<lab>/<lab>.ipynb, Canvas or Moodle file names (see INSTRUCTORS.md)" +
                "".join(f"\n  skipped: {s}" for s in run.skipped))
            return run
        for s in subs:
            collect.place(s, course)
        box = sandbox_config(course, scratch, [Path(source).resolve()])
        run.sandbox = describe_sandbox(box, limits)
        say(f"{len(subs)} submissions of {sorted({s.lab for s in subs})}, {workers} workers, "
            f"gradebook {gradebook.redact(db_url)}\nsandbox: {run.sandbox}")
        templates = {}
        for lab_id in sorted({s.lab for s in subs}):
            templates[lab_id] = worker.make_template(lab_id, scratch, solutions)
            gradebook.ensure_assignment(lab_id, templates[lab_id], db_url, scratch / "home")
        slots: queue.Queue = queue.Queue()
        for i in range(workers):
            slots.put(i)

        def task(s: collect.Submission) -> worker.Result:
            if s.error:
                return worker.Result(s.student, s.lab, "failed", s.error, notes=s.notes)
            submitted = course / "submitted" / s.student / s.lab / f"{s.lab}.ipynb"
            references = [nbformat.read(templates[s.lab] / d / s.lab / f"{s.lab}.ipynb", as_version=4)
                          for d in ("solutions", "labs")]
            s.notes += [f"review: {f}" for f in audit.audit(nbformat.read(submitted, as_version=4), references)]
            slot = slots.get()
            try:
                r = worker.grade_submission(s.student, s.lab, submitted, templates[s.lab], scratch, box, limits, slot)
            except Exception as exc:  # a broken submission must never stop the batch
                r = worker.Result(s.student, s.lab, "failed", f"grader error: {type(exc).__name__}: {exc}")
            finally:
                slots.put(slot)
            r.notes = s.notes + r.notes
            return r

        start = time.time()
        with ThreadPoolExecutor(max_workers=workers) as pool:
            futures = [pool.submit(task, s) for s in subs]
            for n, fut in enumerate(as_completed(futures), start=1):
                r = fut.result()
                gradebook.store_result(r, db_url, course)  # the only writer
                if r.workdir is not None:
                    shutil.rmtree(r.workdir, ignore_errors=True)
                run.results.append(r)
                auto = [(g["auto_score"], g["max_score"]) for g in r.grades.values()
                        if g["cell_type"] == "code" and g["auto_score"] is not None]
                what = (f"{sum(a for a, _ in auto):g}/{sum(m for _, m in auto):g} autograded"
                        if r.status == "graded" else f"FAILED: {r.reason}")
                say(f"[{n}/{len(subs)}] {r.student} {r.lab}: {what} ({r.seconds:.0f} s)")
        run.seconds = time.time() - start
        graded_labs = sorted({s.lab for s in subs})
        run.stored = gradebook.read_scores(db_url, labs)  # the whole class: a regrade keeps the others' rows
        run.lost = gradebook.lost_grades(run.results, run.stored)
        report.write_csvs(out, run.stored, run.results)
        report.plot(run.stored, out / "summary.png")
        timing = {"workers": workers, "seconds": run.seconds,
                  "per_min": 60 * len(subs) / run.seconds if run.seconds else 0.0}
        (out / "summary.md").write_text(report.summary(run.stored, run.results, run.skipped, run.sandbox, timing))
        if feedback:
            for lab_id in graded_labs:
                if (course / "autograded").is_dir() and any((course / "autograded").glob(f"*/{lab_id}")):
                    for student in ([*students] if students else [None]):
                        gradebook.generate_feedback(course, lab_id, db_url, scratch / "home", student)
        say(f"graded {len(subs)} submissions in {run.seconds:.0f} s ({timing['per_min']:.1f}/min); "
            f"{sum(r.status != 'graded' for r in run.results)} failed, {len(run.skipped)} files skipped; "
            f"wrote {out / 'grades.csv'}, totals.csv, summary.md, summary.png"
            + (f", feedback in {course / 'feedback'}" if feedback else ""))
        if run.lost:
            say("LOST GRADES (the gradebook does not hold what the workers computed):\n  " + "\n  ".join(run.lost))
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    return run


def main(argv=None) -> int:
    p = argparse.ArgumentParser(prog="python -m grading", description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter,
                                epilog="See INSTRUCTORS.md for the whole workflow.")
    p.add_argument("submissions", type=Path, nargs="?", help="folder or zip of submitted notebooks")
    p.add_argument("--course", type=Path, default=Path("."), help="nbgrader course folder (default: .)")
    p.add_argument("--db", help="gradebook URL (default: sqlite:///<course>/gradebook.db; "
                                "e.g. postgresql://grader@dbhost/course); or set NBGRADER_DB_URL")
    p.add_argument("--workers", type=int, default=None, help="parallel submissions (default: CPU cores)")
    p.add_argument("--roster", type=Path, help="CSV with a student_id column and alias columns (LMS ids)")
    p.add_argument("--lab", help="the lab, when the file names do not say it")
    p.add_argument("--student", action="append", help="grade only this student (repeatable): a regrade")
    p.add_argument("--out", type=Path, help="where grades.csv and the summary go (default: the course)")
    p.add_argument("--timeout", type=float, default=worker.Limits.wall_s, help="seconds per submission")
    p.add_argument("--memory-mb", type=int, default=worker.Limits.memory_mb, help="address space per kernel")
    p.add_argument("--processes", type=int, default=worker.Limits.processes, help="processes+threads per kernel")
    p.add_argument("--solutions", type=Path, default=REPO / "solutions",
                   help="the nbgrader source notebooks, <dir>/<lab>/<lab>.ipynb (default: the repository's)")
    p.add_argument("--no-feedback", action="store_true", help="skip the HTML feedback")
    p.add_argument("--check-sandbox", action="store_true", help="say which protections this machine gives, exit")
    a = p.parse_args(argv)
    limits = worker.Limits(wall_s=a.timeout, memory_mb=a.memory_mb, processes=a.processes)
    if a.check_sandbox:
        with tempfile.TemporaryDirectory() as tmp:
            print(describe_sandbox(sandbox_config(a.course.resolve(), Path(tmp), []), limits))
        return 0
    if a.submissions is None or not a.submissions.exists():
        p.error(f"give a folder or zip of submissions (got {a.submissions})")
    run = grade(a.submissions, a.course, a.db or os.environ.get("NBGRADER_DB_URL"), a.workers, a.roster, a.lab,
                a.student, limits, a.out, feedback=not a.no_feedback, solutions=a.solutions.resolve())
    return 3 if run.lost else (1 if not run.results else 0)
