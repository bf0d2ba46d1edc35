"""grading.tools: the one PATH set-up for nbgrader and Jupyter."""

import os

from grading.labs import REPO
from grading.tools import BIN, path_with_bin, with_tools


def test_the_interpreters_bin_goes_first_once(monkeypatch):
    monkeypatch.setenv("PATH", os.pathsep.join(["/usr/bin", str(BIN), "/bin"]))
    assert path_with_bin().split(os.pathsep) == [str(BIN), "/usr/bin", "/bin"]
    assert path_with_bin("/opt/x").split(os.pathsep) == [str(BIN), "/opt/x"]


def test_with_tools_finds_the_tools_and_the_course_code_and_copies():
    given = {"PATH": "/bin", "PYTHONPATH": "/somewhere", "OTHER": "1"}
    env = with_tools(given)
    assert env["PATH"].split(os.pathsep) == [str(BIN), "/bin"]
    assert env["PYTHONPATH"].split(os.pathsep) == [str(REPO), "/somewhere"]
    assert env["OTHER"] == "1" and given["PATH"] == "/bin"  # a copy: the caller's mapping is left alone
    assert with_tools({})["PYTHONPATH"] == str(REPO)


def test_graded_kernels_share_the_cores_without_spin_waiting(monkeypatch):
    """OpenMP's active waiting makes kernels that share the cores crawl (grading/course.py)."""
    from grading.course import nbgrader_env

    monkeypatch.delenv("OMP_WAIT_POLICY", raising=False)
    env = nbgrader_env(threads=1)
    assert env["OMP_WAIT_POLICY"] == "PASSIVE" and env["OMP_NUM_THREADS"] == "1"
    assert "OMP_WAIT_POLICY" not in nbgrader_env()  # a kernel alone on the cores keeps active waiting (faster)
