"""Catalogue of hostile or broken submissions of the synthetic lab (grading/synthetic.py) and
what grading must make of each. Checked by tests/test_grading_scale.py::test_hostile_catalogue (one
batch, in parallel, with an honest control submission) and counted by benchmarks/grading.py.

A case is the student's ``add`` and ``mul`` answers (``{solutions}``, ``{course}`` and ``{repo}`` are
filled in with the real paths, so that a case can try to read them), or ``raw`` bytes instead of a
notebook, or notebook ``edits``: ``("delete", grade_id)``, ``("source", grade_id, text)``,
``("points", grade_id, n)``, ``("output", grade_id, megabytes)``. Expected: ``status`` (``graded`` /
``failed``), the ``scores`` of the two test cells (max 2 and 3, whatever the notebook claims), a
substring of the failure ``reason`` and of a ``note`` (import notes and "review:" flags).
``needs_sandbox``: safe only inside the sandbox (namespaces and a separate user), skipped elsewhere.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import nbformat

from grading.synthetic import LAB, student_notebook

OK_ADD = "def add(a, b):\n    return a + b"
OK_MUL = "def mul(a, b):\n    return a * b"
WRONG_ADD = "def add(a, b):\n    return a - b"
WRONG_MUL = "def mul(a, b):\n    return a + b"
FULL = {"test_add": 2.0, "test_mul": 3.0}


@dataclass
class Case:
    name: str
    what: str
    add: str = OK_ADD
    mul: str = OK_MUL
    raw: bytes | None = None
    edits: list = field(default_factory=list)
    file_name: str | None = None
    needs_sandbox: bool = False
    status: str = "graded"
    scores: dict = field(default_factory=lambda: dict(FULL))
    reason: str = ""
    note: str = ""


def canary(attack: str) -> str:
    """An ``add`` that is right only if ``attack`` (code setting ``leaked``) found nothing."""
    return f"{attack}\ndef add(a, b):\n    return a - b if leaked else a + b"


CASES = [
    Case("honest", "a correct submission (the control)"),
    # --- broken files -------------------------------------------------------------------------
    Case("invalid_json", "a truncated file: not JSON", raw=b'{"cells": [{"cell_type": "code", "sou',
         status="failed", scores={"test_add": 0.0, "test_mul": 0.0}, reason="not a readable notebook"),
    Case("empty_file", "an empty file", raw=b"", status="failed", scores={"test_add": 0.0, "test_mul": 0.0},
         reason="not a readable notebook"),
    Case("no_cells", "JSON without a list of cells", raw=b'{"nbformat": 4, "nbformat_minor": 5, "metadata": {}}',
         status="failed", scores={"test_add": 0.0, "test_mul": 0.0}, reason="not a readable notebook"),
    Case("renamed", "the notebook renamed by the student", file_name="lab0_synthetic (1).ipynb",
         note="renamed notebook"),
    Case("huge_output", "200 MB of output saved in the notebook", edits=[("output", "add", 200)],
         note="outputs removed"),
    Case("deleted_tests", "both test cells deleted (restored and graded)",
         edits=[("delete", "test_add"), ("delete", "test_mul")]),
    # --- tampering with the tests -----------------------------------------------------------------
    Case("edited_test", "the test cell replaced by `pass`, wrong answer", add=WRONG_ADD,
         edits=[("source", "test_add", "pass")], scores={"test_add": 0.0, "test_mul": 3.0}),
    Case("changed_points", "the test cell's points set to 100 in the metadata",
         edits=[("points", "test_add", 100)]),
    Case("assert_away", "AssertionError redefined (assert still raises the real one), wrong answer",
         add="import builtins\nclass AssertionError(Exception):\n    pass\nbuiltins.AssertionError = AssertionError\n"
             + WRONG_ADD, scores={"test_add": 0.0, "test_mul": 3.0}, note="monkeypatches builtins.AssertionError"),
    Case("redefine_checker", "the checker the visible test calls redefined, wrong answer (hidden tests catch it)",
         mul="isclose = lambda *a, **k: True\n" + WRONG_MUL, scores={"test_add": 2.0, "test_mul": 0.0},
         note="rebinds isclose"),
    Case("monkeypatch_checkers", "every checker patched: the points are won (one kernel runs answer and tests; "
         "nbgrader cannot prevent it), so the submission is flagged for review",
         mul="import math\nisclose = math.isclose = lambda *a, **k: True\n"
             "def mul(a, b):\n    return 0 if 0 in (a, b) else a + b", note="monkeypatches math.isclose"),
    Case("read_solution", "reads the solution, the gradebook and other students' files", needs_sandbox=True,
         add=canary("import os\nleaked = [p for p in ['{solutions}/lab0_synthetic/lab0_synthetic.ipynb', "
                    "'../../../solutions/lab0_synthetic/lab0_synthetic.ipynb', '{repo}/solutions', "
                    "'{course}/gradebook.db', '{course}/submitted'] if os.path.exists(p)]"),
         note="a path to"),
    Case("stderr_in_cell", "prints to stderr in its answer cell (harmless)",
         add="import sys\nprint('debugging', file=sys.stderr)\n" + OK_ADD),
    Case("stderr_in_function", "prints to stderr inside the graded function (shown as [warning], not failed)",
         add="import sys\ndef add(a, b):\n    print('in add', file=sys.stderr)\n    return a + b"),
    Case("warns", "a correct answer that makes a library warn keeps its points",
         add="import warnings\ndef add(a, b):\n    warnings.warn('add() is deprecated', UserWarning)\n"
             "    return a + b"),
    Case("warns_and_wrong", "a wrong answer that warns still loses its points",
         add="import warnings\ndef add(a, b):\n    warnings.warn('add() is deprecated', UserWarning)\n"
             "    return a - b", scores={"test_add": 0.0, "test_mul": 3.0}),
    # --- hostile code -------------------------------------------------------------------------------
    Case("sys_exit", "sys.exit() before defining the answer (the kernel survives)",
         add="import sys\nsys.exit('bye')\n" + OK_ADD, scores={"test_add": 0.0, "test_mul": 3.0}),
    Case("memory_hog", "allocates 64 GiB (MemoryError under the address-space limit)",
         add="hog = bytearray(64 * 2**30)\n" + OK_ADD, scores={"test_add": 0.0, "test_mul": 3.0}),
    Case("endless_loop", "loops forever: over the submission's wall-clock limit", add="while True:\n    pass",
         status="failed", scores={"test_add": 0.0, "test_mul": 0.0}, reason="wall-clock limit"),
    Case("kernel_exit", "os._exit() kills its own kernel", add="import os\nos._exit(3)",
         status="failed", scores={"test_add": 0.0, "test_mul": 0.0}, reason="nbgrader could not grade it"),
    Case("network", "opens network connections", needs_sandbox=True,
         add=canary("import socket\nleaked = False\nfor host, port in [('pypi.org', 443), ('1.1.1.1', 53)]:\n"
                    "    try:\n        socket.create_connection((host, port), timeout=3).close()\n"
                    "        leaked = True\n    except OSError:\n        pass")),
    Case("environment", "looks for the database URL and the grader's secrets in its environment",
         add=canary("import os\nleaked = any(k in os.environ for k in ('NBGRADER_DB_URL', 'GRADING_TEST_SECRET'))")),
    Case("other_processes", "reads the environment of every process it can see (/proc/*/environ)",
         needs_sandbox=True,
         add=canary("import glob\nleaked = False\nfor f in glob.glob('/proc/*/environ'):\n    try:\n"
                    "        leaked = leaked or b'GRADING_TEST_SECRET' in open(f, 'rb').read()\n"
                    "    except OSError:\n        pass")),
    Case("fork_bomb", "forks until the process limit stops it (children linger 2 s), then answers",
         needs_sandbox=True,
         add=canary("import os, time\nn = 0\ntry:\n    while n < 100000:\n        if os.fork() == 0:\n"
                    "            time.sleep(2)\n            os._exit(0)\n        n += 1\nexcept OSError:\n    pass\n"
                    "while True:\n    try:\n        os.wait()\n    except ChildProcessError:\n        break\n"
                    "print('forked', n, 'times before the process limit')\nleaked = n >= 100000"), note="os.fork()"),
    Case("kill_everything", "kill(-1, SIGKILL): every process it may signal (none but its own children)",
         needs_sandbox=True, add="import os, signal\nos.kill(-1, signal.SIGKILL)",
         scores={"test_add": 0.0, "test_mul": 3.0}, note="os.kill()"),
    Case("deletes_files", "deletes its folder and plants a link where nbgrader writes the graded notebook",
         needs_sandbox=True,
         add="import os\nfor f in os.listdir('.'):\n    os.remove(f)\n"
             "os.symlink('/etc/hostname', 'lab0_synthetic.ipynb')\n" + OK_ADD, note="deletes files"),
]


def _apply_edits(nb, edits):
    for edit in edits:
        kind, gid = edit[0], edit[1]
        cells = [c for c in nb.cells if c.metadata.get("nbgrader", {}).get("grade_id") == gid]
        if kind == "delete":
            nb.cells = [c for c in nb.cells if c not in cells]
        elif kind == "source":
            cells[0].source = edit[2]
        elif kind == "points":
            cells[0].metadata["nbgrader"]["points"] = edit[2]
        elif kind == "output":
            cells[0].outputs = [nbformat.v4.new_output("stream", name="stdout", text="x" * (edit[2] << 20))]
            cells[0].execution_count = 1
    return nb


def build(folder: Path, release: Path, paths: dict, cases=CASES) -> None:
    """Write every case as ``folder/<case>/lab0_synthetic/<file>`` (nbgrader layout) from the
    released notebook ``release``; ``paths`` fills ``{solutions}``, ``{course}`` and ``{repo}``."""
    for case in cases:
        d = folder / case.name / LAB
        d.mkdir(parents=True)
        target = d / (case.file_name or f"{LAB}.ipynb")
        if case.raw is not None:
            target.write_bytes(case.raw)
            continue
        nb = student_notebook(release, add=case.add.format(**paths), mul=case.mul.format(**paths))
        nbformat.write(_apply_edits(nb, case.edits), target)


def check(case: Case, result, stored: dict) -> str | None:
    """None when the grader's ``result`` and the ``stored`` scores are what ``case`` expects, else why not."""
    scores = {q: stored[q].auto_score for q in ("test_add", "test_mul")}
    ok = (result.status == case.status and scores == case.scores and case.reason in result.reason
          and (not case.note or any(case.note in n for n in result.notes))
          and stored["test_add"].max_score == 2.0 and stored["test_mul"].max_score == 3.0)
    return None if ok else f"{case.name}: {result.status} {scores} reason={result.reason!r} notes={result.notes}"
