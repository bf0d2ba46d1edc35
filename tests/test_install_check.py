"""helpers.install_check: the setup cells' [OK] / [FAIL] report of packages, device and assets."""

import io
import os
import subprocess
import sys

import pytest

from helpers import install_check


@pytest.mark.parametrize("version, minimum, ok", [
    ("2.14.1", "2.2", True), ("2.1.0+cpu", "2.2", False), ("0.29.1", "0.17", True),
    ("1.26.4", "1.24", True), ("3.10.0rc1", "3.7", True), ("0.9", "0.17", False),
])
def test_version_compare(version, minimum, ok):
    assert install_check._at_least(version, minimum) is ok


def test_environment_report_ok():
    out = io.StringIO()
    assert install_check.environment_report(assets=("fashion_mnist_subset",), file=out)
    text = out.getvalue()
    assert "[OK] torch" in text and "[OK] asset fashion_mnist_subset" in text and "[FAIL]" not in text


def test_environment_report_names_the_missing_package(monkeypatch):
    real = install_check._version
    monkeypatch.setattr(install_check, "_version", lambda m: None if m == "tqdm" else real(m))
    out = io.StringIO()
    assert not install_check.environment_report(file=out)
    assert f"[FAIL] tqdm is missing: {install_check.pip_install('tqdm')}" in out.getvalue()
    assert "pip install 'tqdm>=" in out.getvalue()


def test_environment_report_unknown_asset():
    out = io.StringIO()
    assert not install_check.environment_report(assets=("no_such_asset",), file=out)
    assert "[FAIL] asset no_such_asset: unknown asset" in out.getvalue()


def test_under_nbgrader_versions_come_from_the_metadata_without_imports():
    """Grading reruns every setup cell: it reports the installed versions without importing torchvision
    (about 3 s a notebook, and no lab imports it under grading); a student's kernel imports it (a build
    that does not match torch fails there)."""
    code = ("import sys, io; from helpers.install_check import environment_report; out = io.StringIO(); "
            "ok = environment_report(file=out); print(ok, 'torchvision' in sys.modules); print(out.getvalue())")
    for grading, imported in ((True, False), (False, True)):
        env = {k: v for k, v in os.environ.items() if k != "NBGRADER_EXECUTION"}
        if grading:
            env["NBGRADER_EXECUTION"] = "autograde"
        out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=120)
        assert out.stdout.splitlines()[0] == f"True {imported}", out.stdout + out.stderr
        assert "[OK] torchvision" in out.stdout
