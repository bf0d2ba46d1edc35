"""helpers.env: profiles, seeding, device choice, Colab detection, the cache folder."""

import random
import re
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from helpers import env


def test_profile_defaults_to_full(monkeypatch):
    monkeypatch.delenv("LABS_PROFILE", raising=False)
    monkeypatch.delenv("NBGRADER_EXECUTION", raising=False)
    assert env.get_profile() == "full"
    assert env.by_profile(fast=1, full=5) == 5


def test_profile_fast(monkeypatch):
    monkeypatch.delenv("NBGRADER_EXECUTION", raising=False)
    monkeypatch.setenv("LABS_PROFILE", " FAST ")
    assert env.get_profile() == "fast" and env.is_fast()
    assert env.by_profile(fast=1, full=5) == 1


def test_nbgrader_forces_fast(monkeypatch):
    monkeypatch.setenv("LABS_PROFILE", "full")
    monkeypatch.setenv("NBGRADER_EXECUTION", "autograde")
    assert env.get_profile() == "fast"
    assert env.show_progress() is False  # no progress bars on stderr while grading


def test_grading_caps_apply_only_under_nbgrader(monkeypatch):
    monkeypatch.delenv("NBGRADER_EXECUTION", raising=False)
    assert env.grading_cap("train_steps", 8) == 8 and env.grading_cap("train_steps", None) is None
    monkeypatch.setenv("NBGRADER_EXECUTION", "autograde")
    cap = env.GRADING_CAPS["train_steps"]
    assert env.grading_cap("train_steps", 8) == cap and env.grading_cap("train_steps", None) == cap
    assert env.grading_cap("train_steps", 1) == 1  # a cap never raises a value
    with pytest.raises(KeyError):
        env.grading_cap("epochs", 3)


def test_bad_profile_says_what_to_do(monkeypatch):
    monkeypatch.delenv("NBGRADER_EXECUTION", raising=False)
    monkeypatch.setenv("LABS_PROFILE", "fastest")
    with pytest.raises(ValueError, match="LABS_PROFILE='fastest'.*fast"):
        env.get_profile()


def test_progress_switch(monkeypatch):
    monkeypatch.delenv("NBGRADER_EXECUTION", raising=False)
    monkeypatch.setenv("LABS_PROGRESS", "0")
    assert env.show_progress() is False
    monkeypatch.setenv("LABS_PROGRESS", "1")
    assert env.show_progress() is True


def test_seed_everything_repeats():
    env.seed_everything(3)
    a = (random.random(), torch.rand(3))
    env.seed_everything(3)
    b = (random.random(), torch.rand(3))
    assert a[0] == b[0] and torch.equal(a[1], b[1])


def test_device(monkeypatch):
    monkeypatch.delenv("LABS_DEVICE", raising=False)
    expected = "cuda" if torch.cuda.is_available() else "cpu"
    assert env.get_device().type == expected
    monkeypatch.setenv("LABS_DEVICE", "cpu")
    assert env.get_device().type == "cpu"


@pytest.mark.skipif(torch.cuda.is_available(), reason="needs a machine without a GPU")
def test_cuda_without_gpu_is_a_clear_error(monkeypatch):
    monkeypatch.setenv("LABS_DEVICE", "cuda")
    with pytest.raises(RuntimeError, match="unset LABS_DEVICE"):
        env.get_device()


def test_colab_detection(monkeypatch):
    monkeypatch.delenv("COLAB_RELEASE_TAG", raising=False)
    monkeypatch.delitem(__import__("sys").modules, "google.colab", raising=False)
    assert not env.in_colab()
    monkeypatch.setenv("COLAB_RELEASE_TAG", "release-colab-2026")
    assert env.in_colab()


def test_cache_dir_follows_env(monkeypatch, tmp_path):
    monkeypatch.setenv(env.CACHE_VARIABLE, str(tmp_path / "c"))
    assert env.cache_dir(create=False) == tmp_path / "c" and not (tmp_path / "c").exists()
    assert env.cache_dir() == tmp_path / "c" and (tmp_path / "c").is_dir()
    monkeypatch.delenv(env.CACHE_VARIABLE)
    monkeypatch.setenv("HOME", str(tmp_path))
    assert env.cache_dir(create=False) == tmp_path / env.CACHE_FOLDER


# where the cache may be written in passing (helpers/env.py defines it)
_DOCS = ["README.md", "INSTRUCTORS.md", "CONTRIBUTING.md", "Makefile", ".ci/run"]
_CODE = ["helpers", "grading", "scripts", "tests", "benchmarks"]


def test_the_cache_is_named_once():
    """Docs and docstrings write the cache folder as helpers.env names it; code builds it from helpers.env
    (no string in it names the .cache folder or the variable)."""
    repo = Path(__file__).resolve().parents[1]
    code = [p for d in _CODE for p in sorted((repo / d).rglob("*")) if p.suffix in (".py", ".md")]
    folder = "~/" + env.CACHE_FOLDER.as_posix()
    wrong = [f"{p.relative_to(repo)}: {m}" for p in [repo / name for name in _DOCS] + code
             for m in re.findall(r"~/\.cache/[\w.-]+", p.read_text(encoding="utf-8")) if m != folder]
    assert not wrong, f"the cache is {folder} (helpers.env.CACHE_FOLDER):\n" + "\n".join(wrong)
    built = re.compile(rf"[\"']\.cache[\"'/]|[\"']{env.CACHE_VARIABLE}[\"']")
    again = [str(p.relative_to(repo)) for p in code if p.suffix == ".py" and p != repo / "helpers" / "env.py"
             and built.search(p.read_text(encoding="utf-8"))]
    assert not again, f"build the cache from helpers.env (CACHE_FOLDER, CACHE_VARIABLE, cache_dir): {again}"


def test_env_imports_no_other_helpers_module():
    """env is what every helpers module imports; it imports none of them (no import cycle)."""
    code = "import sys, helpers.env; print(sorted(m for m in sys.modules if m.startswith('helpers')))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "['helpers', 'helpers.env']"


def test_the_setup_cells_import_the_report_from_its_own_module():
    import nbformat

    from grading.labs import REPO, discover

    for lab in discover():
        cells = nbformat.read(REPO / "solutions" / lab / f"{lab}.ipynb", as_version=4).cells
        setup = next(c.source for c in cells if c.source.startswith("# Setup: run this cell first"))
        assert "from helpers.install_check import environment_report" in setup, lab
    assert not hasattr(env, "environment_report")  # helpers.env is runtime settings only
