"""Autograde ONE submission with nbgrader, in a private throw-away course.

Each submission gets its own folder under the run's scratch folder::

    <lab>-<student>-XXXX/
        course/    nbgrader_config.py, gradebook.db (a copy of the lab's template), solutions/<lab>/,
                   submitted/<student>/<lab>/<lab>.ipynb -> autograded/<student>/<lab>/<lab>.ipynb
        jupyter/   the kernelspec that starts the kernel through grading/sandbox.py, policy.json
        runtime/   the kernel's connection file and sockets (IPC: no TCP port, works without network)
        home/      the kernel's HOME, TMPDIR and LABS_CACHE;  work/: its copy of its working folder

``nbgrader autograde <lab> --student <student>`` runs there as a child process in its own session,
so the private SQLite gradebook has exactly one writer and the run's real gradebook is never opened
by a worker (nor its URL passed: the worker's environment is built from scratch). When the
submission exceeds its wall-clock limit the whole session is killed; the kernel's PID namespace goes
with it. The scores are read back from the private gradebook and returned as a :class:`Result`,
which the single writer stores (:func:`grading.gradebook.store_result`).
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

from grading.labs import REPO
from grading.tools import BIN, path_with_bin
from helpers.env import CACHE_VARIABLE

# the environment's own path, links resolved: the kernel sees only what is mounted back, by real path
PREFIX = Path(os.path.realpath(sys.prefix))
PYTHON = PREFIX / "bin" / Path(sys.executable).name
SANDBOX = Path(__file__).resolve().with_name("sandbox.py")
KERNEL = "edl-sandbox"
KERNEL_CACHE = "cache"  # the kernel's cache folder (helpers.env.CACHE_VARIABLE), under its HOME


@dataclass
class Limits:
    wall_s: float = 1200.0  # whole submission (the 120 s per cell is Execute.timeout in nbgrader_config.py)
    memory_mb: int = 6144  # address space of the kernel and everything it starts
    processes: int = 256  # processes + threads of the kernel's user
    file_mb: int = 1024  # largest file the kernel may write
    threads: int = 1  # OMP/MKL threads per kernel (cores / workers)


@dataclass
class Sandbox:
    namespaces: bool  # unshare works: no network, own PID space, hidden files
    drop_user: bool  # running as root: each kernel runs as a uid of its own
    why: str = ""
    base_uid: int = 100_000 + 64 * (os.getpid() % 10_000)  # one uid per worker slot, per grader process
    hide: list[str] = field(default_factory=list)  # paths the kernel must not see
    shared_ro: list[list[str]] = field(default_factory=list)  # [src, dst-under-home] read-only


@dataclass
class Result:
    student: str
    lab: str
    status: str  # "graded" or "failed"
    reason: str = ""
    grades: dict = field(default_factory=dict)  # grade_id -> {auto_score, max_score, needs_manual_grade, cell_type}
    comments: dict = field(default_factory=dict)  # grade_id -> auto_comment
    notebook: Path | None = None  # the autograded notebook
    workdir: Path | None = None  # the private course etc. (removed once the result is recorded)
    seconds: float = 0.0
    notes: list[str] = field(default_factory=list)


def make_template(lab: str, scratch: Path, solutions: Path = REPO / "solutions") -> Path:
    """A course with the lab's source notebook and a gradebook that knows it (generate_assignment)."""
    course = scratch / f"template-{lab}"
    course.mkdir(parents=True)
    shutil.copy(REPO / "nbgrader_config.py", course)
    shutil.copytree(solutions / lab, course / "solutions" / lab)
    proc = subprocess.run([str(BIN / "nbgrader"), "generate_assignment", lab, "--force"], cwd=course,
                          env=base_env(scratch / "template-home"), capture_output=True, text=True, timeout=600)
    if proc.returncode != 0:
        raise SystemExit(f"nbgrader generate_assignment {lab} failed:\n{proc.stdout[-3000:]}{proc.stderr[-3000:]}")
    return course


def base_env(home: Path) -> dict:
    """The environment of a worker's nbgrader: built from scratch, no secrets of the grader's."""
    home.mkdir(parents=True, exist_ok=True)
    env = {"PATH": path_with_bin(), "HOME": str(home),
           "LANG": os.environ.get("LANG", "C.UTF-8"), "PYTHONPATH": str(REPO), "MPLBACKEND": "Agg",
           "LABS_PROGRESS": "0", "JUPYTER_CONFIG_DIR": str(home / ".jupyter"),
           "JUPYTER_DATA_DIR": str(home / ".local-jupyter"), "PYTHONDONTWRITEBYTECODE": "1"}
    return env


def kernel_policy(box: Sandbox, limits: Limits, slot: int, cwd: Path, sub: Path) -> dict:
    home, runtime, work = sub / "home", sub / "runtime", sub / "work"
    for d in (home / "tmp", home / KERNEL_CACHE, runtime, work):
        d.mkdir(parents=True, exist_ok=True)
    threads = str(limits.threads)
    env = {"PATH": f"{PREFIX / 'bin'}:/usr/local/bin:/usr/bin:/bin", "HOME": str(home), "TMPDIR": str(home / "tmp"),
           CACHE_VARIABLE: str(home / KERNEL_CACHE), "MPLCONFIGDIR": str(home / "tmp"), "PYTHONPATH": str(REPO),
           "NBGRADER_EXECUTION": "autograde", "MPLBACKEND": "Agg", "LABS_PROGRESS": "0", "LANG": "C.UTF-8",
           "OMP_NUM_THREADS": threads, "MKL_NUM_THREADS": threads, "OPENBLAS_NUM_THREADS": threads,
           "OMP_WAIT_POLICY": "PASSIVE",  # kernels share the cores: no spin-waiting (grading/course.py)
           "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1", "PYTHONDONTWRITEBYTECODE": "1"}
    keep = [sys.prefix, sys.base_prefix, str(REPO / "helpers"), str(SANDBOX.parent)]
    binds = [[os.path.realpath(p), os.path.realpath(p), False] for p in keep]
    binds += [[str(runtime), str(runtime), True], [str(home), str(home), True]]
    binds += [[src, str(home / dst), False] for src, dst in box.shared_ro]
    uid = box.base_uid + slot if (box.namespaces and box.drop_user) else None
    return {"namespaces": box.namespaces, "uid": uid, "hide": box.hide, "binds": binds, "cwd": str(cwd),
            "work": str(work), "writable": [str(work), str(runtime), str(home)], "env": env,
            "memory_mb": limits.memory_mb, "processes": limits.processes, "file_mb": limits.file_mb}


def _kill_session(proc: subprocess.Popen) -> None:
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
    proc.wait()


def _failure(log: str) -> str:
    """The most telling line of an nbgrader log."""
    lines = [ln.strip() for ln in log.splitlines() if ln.strip()]
    for key in ("grading sandbox:", "DeadKernelError", "Kernel died", "MemoryError", "CellTimeoutError", "NotJSONError",
                "Error", "error"):
        hits = [ln for ln in lines if key in ln]
        if hits:
            return hits[-1][:300]
    return lines[-1][:300] if lines else "nbgrader produced no output"


def grade_submission(student: str, lab: str, submitted: Path, template: Path, scratch: Path, box: Sandbox,
                     limits: Limits, slot: int = 0) -> Result:
    """Autograde ``submitted`` (a notebook) for ``student`` in a private course built from ``template``."""
    start = time.time()
    sub = Path(tempfile.mkdtemp(prefix=f"{lab}-{student}-", dir=scratch))
    course = sub / "course"
    course.mkdir()
    shutil.copy(template / "nbgrader_config.py", course)
    shutil.copy(template / "gradebook.db", course)
    shutil.copytree(template / "solutions", course / "solutions")
    (course / "submitted" / student / lab).mkdir(parents=True)
    shutil.copy(submitted, course / "submitted" / student / lab / f"{lab}.ipynb")
    cwd = course / "autograded" / student / lab
    policy = kernel_policy(box, limits, slot, cwd, sub)
    spec = sub / "jupyter" / "kernels" / KERNEL
    spec.mkdir(parents=True)
    (sub / "policy.json").write_text(json.dumps(policy, indent=1))
    (spec / "kernel.json").write_text(json.dumps({
        "argv": [str(PYTHON), str(SANDBOX), str(sub / "policy.json"), "--",
                 str(PYTHON), "-m", "ipykernel_launcher", "-f", "{connection_file}"],
        "display_name": "Python 3 (grading sandbox)", "language": "python"}))
    env = base_env(sub / "nbgrader-home")
    env.update(JUPYTER_PATH=str(sub / "jupyter"), JUPYTER_RUNTIME_DIR=str(sub / "runtime"))
    cmd = [str(BIN / "nbgrader"), "autograde", lab, "--student", student, "--force",
           f"--Execute.kernel_name={KERNEL}", "--KernelManager.transport=ipc",  # sockets are files: no network
           f"--KernelManager.ip={sub / 'runtime' / 'kernel'}",
           f"--KernelManager.connection_file={sub / 'runtime' / 'kernel.json'}"]
    log_path = sub / "nbgrader.log"
    with open(log_path, "w") as log:
        proc = subprocess.Popen(cmd, cwd=course, env=env, stdout=log, stderr=subprocess.STDOUT,
                                stdin=subprocess.DEVNULL, start_new_session=True)
        try:
            proc.wait(timeout=limits.wall_s)
            timed_out = False
        except subprocess.TimeoutExpired:
            _kill_session(proc)
            timed_out = True
    log_text = log_path.read_text(errors="replace")
    result = Result(student, lab, "failed", seconds=time.time() - start, workdir=sub)
    notebook = cwd / f"{lab}.ipynb"
    if timed_out:
        result.reason = f"wall-clock limit exceeded: grading took more than {limits.wall_s:g} s"
    elif proc.returncode != 0 or not notebook.is_file():
        result.reason = f"nbgrader could not grade it: {_failure(log_text)}"
    else:
        result.status, result.notebook = "graded", notebook
        result.grades, result.comments = read_submission_scores(course / "gradebook.db", lab, student)
    return result


def read_submission_scores(db: Path, lab: str, student: str) -> tuple[dict, dict]:
    """``(grades, comments)`` of one submission in a worker's private gradebook (the class's scores are
    :func:`grading.gradebook.read_scores`)."""
    from nbgrader.api import Gradebook

    with Gradebook(f"sqlite:///{db}") as gb:
        nb = gb.find_submission_notebook(lab, lab, student)
        grades = {g.name: {"auto_score": g.auto_score, "max_score": g.max_score,
                           "needs_manual_grade": g.needs_manual_grade, "cell_type": g.cell.cell_type}
                  for g in nb.grades}
        comments = {c.name: c.auto_comment for c in nb.comments}
    return grades, comments
