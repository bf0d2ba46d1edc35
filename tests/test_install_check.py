"""helpers.install_check: the setup cells' [OK] / [FAIL] report of packages, device and assets."""

import io

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
