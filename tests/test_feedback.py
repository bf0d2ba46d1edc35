"""grading.feedback: hidden-test code and tracebacks never reach the students' feedback."""

import os
import subprocess
import sys
from pathlib import Path

import nbformat

from grading.feedback import NOTE, HideHiddenTests, strip_hidden_region

REPO = Path(__file__).resolve().parents[1]

SOURCE = """assert f(1) == 2
### BEGIN HIDDEN TESTS
assert f(secret_input) == 42
### END HIDDEN TESTS
print("done")"""


def _cell(source, grade=True, solution=False, outputs=()):
    cell = nbformat.v4.new_code_cell(source)
    cell.metadata["nbgrader"] = {"grade": grade, "solution": solution, "grade_id": "t", "points": 1,
                                 "locked": True, "schema_version": 3}
    cell.outputs = [nbformat.from_dict(o) for o in outputs]
    return cell


def test_strip_hidden_region():
    stripped, removed = strip_hidden_region(SOURCE)
    assert removed == 1 and "secret_input" not in stripped
    assert stripped.splitlines() == ["assert f(1) == 2", NOTE, 'print("done")']
    assert strip_hidden_region("x = 1") == ("x = 1", 0)


def test_preprocessor_cleans_test_cells_only():
    error = {"output_type": "error", "ename": "AssertionError", "evalue": "",
             "traceback": ["Traceback ...", "----> 3 assert f(secret_input) == 42"]}
    nb = nbformat.v4.new_notebook(cells=[_cell(SOURCE, outputs=[error]),
                                         _cell(SOURCE, grade=False, solution=True)])
    nb, _ = HideHiddenTests().preprocess(nb, {})
    test, answer = nb.cells
    assert "secret_input" not in test.source and test.outputs[0]["traceback"] == ["AssertionError: "]
    assert answer.source == SOURCE  # a student's own answer cell is left as it is


def test_warnings_do_not_fail_a_graded_cell():
    """nbgrader zeroes a test cell that wrote to stderr; after WarningsDoNotFail only an error does."""
    from nbgrader.utils import determine_grade

    from grading.feedback import WarningsDoNotFail

    warning = {"output_type": "stream", "name": "stderr", "text": "UserWarning: deprecated\n  warn()\n"}
    error = {"output_type": "error", "ename": "AssertionError", "evalue": "", "traceback": []}
    warns, fails = _cell("x", outputs=[warning]), _cell("x", outputs=[warning, error])
    ungraded = _cell("x", grade=False, solution=True, outputs=[warning])
    assert determine_grade(warns)[0] == 0  # nbgrader's own rule, which the preprocessor works around
    nb = nbformat.v4.new_notebook(cells=[warns, fails, ungraded])
    nb, _ = WarningsDoNotFail().preprocess(nb, {})
    warns, fails, ungraded = nb.cells
    assert determine_grade(warns) == (1, 1)
    assert warns.outputs[0]["name"] == "stdout"
    assert warns.outputs[0]["text"] == "[warning] UserWarning: deprecated\n[warning]   warn()\n"
    assert determine_grade(fails)[0] == 0  # a raised exception still fails the cell
    assert ungraded.outputs[0]["name"] == "stderr"  # a student's answer cell is left as it is


def _load_course_config():
    """nbgrader_config.py loaded as nbgrader and Jupyter load it (traitlets' loader)."""
    from traitlets.config.loader import PyFileConfigLoader

    return PyFileConfigLoader("nbgrader_config.py", str(REPO)).load_config()


def test_the_course_config_runs_warnings_do_not_fail_right_after_execution():
    from nbgrader.preprocessors import Execute

    from grading.feedback import WarningsDoNotFail

    steps = list(_load_course_config().Autograde.autograde_preprocessors)
    assert steps[steps.index(Execute) + 1] is WarningsDoNotFail


def test_the_course_config_names_the_course_as_the_graders_do(monkeypatch):
    """With a gradebook URL the course needs its id: the one grading.gradebook gives its own gradebooks."""
    from grading import gradebook

    monkeypatch.setenv("NBGRADER_DB_URL", "sqlite:///unused.db")
    monkeypatch.delenv("NBGRADER_COURSE_ID", raising=False)
    assert _load_course_config().CourseDirectory.course_id == gradebook.COURSE_ID == gradebook.course_id()
    monkeypatch.setenv("NBGRADER_COURSE_ID", "another-course")
    assert _load_course_config().CourseDirectory.course_id == "another-course" == gradebook.course_id()


def test_the_course_config_finds_its_preprocessors_without_the_repository_on_sys_path(tmp_path):
    """A Jupyter server (the formgrader, the validate button) loads nbgrader_config.py without putting the
    repository on sys.path; the config adds its own folder, so grading.feedback still imports."""
    script = ("from traitlets.config.loader import PyFileConfigLoader\n"
              f"config = PyFileConfigLoader('nbgrader_config.py', {str(REPO)!r}).load_config()\n"
              "print(config.GenerateFeedback.preprocessors[1].__module__)")
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    out = subprocess.run([sys.executable, "-c", script], cwd=tmp_path, env=env, capture_output=True, text=True)
    assert out.returncode == 0 and out.stdout.strip() == "grading.feedback", out.stderr[-2000:]
