"""The labs that can be graded: every ``solutions/<lab>/<lab>.ipynb`` (an nbgrader source notebook).

Nothing is hard-coded: a lab added to ``solutions/`` is graded as soon as it is there. A lab is
recognised in a file name by its full id (``lab1_pruning``) or by its number (``lab1``, ``Lab 1``).
"""

from __future__ import annotations

import re
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def discover(solutions: Path = REPO / "solutions") -> list[str]:
    """Lab ids, sorted: the folders of ``solutions`` holding a notebook of the same name."""
    labs = sorted(p.name for p in Path(solutions).iterdir() if (p / f"{p.name}.ipynb").is_file())
    if not labs:
        raise SystemExit(f"no lab found in {solutions}: expected solutions/<lab>/<lab>.ipynb")
    return labs


def parts(lab: str, root: Path = REPO) -> dict[str, Path]:
    """The files a lab consists of besides its README section (CONTRIBUTING.md; tests/test_registry.py
    checks that every lab has them all)."""
    return {"solution notebook": root / "solutions" / lab / f"{lab}.ipynb",
            "mistake catalogue": root / "tests" / "mutants" / f"{lab}.py",
            "mutant table": root / "tests" / "mutants" / f"{lab}.toml",
            "benchmark": root / "benchmarks" / f"{lab}.py"}


def read_toml(path: Path) -> dict:
    """A TOML file (pyproject.toml, a lab's mutant table) as a dict: ``tomllib``, or ``tomli`` before Python 3.11."""
    try:
        import tomllib
    except ModuleNotFoundError:  # Python 3.9 and 3.10
        try:
            import tomli as tomllib
        except ModuleNotFoundError:
            raise RuntimeError(f"{Path(path).name} is TOML: read it with Python 3.11 or later (tomllib), or run "
                               "`pip install tomli`") from None
    with open(path, "rb") as f:
        return tomllib.load(f)


def readme_heading(lab: str) -> str:
    """How the lab's section of README.md begins (``## Lab 1 ...``, its results in the full profile)."""
    return f"## Lab {_number(lab)} "


def _number(lab: str) -> str | None:
    m = re.match(r"lab(\d+)", lab, re.I)
    return m.group(1) if m else None


def match(text: str, labs: list[str]) -> str | None:
    """The lab a file or folder name refers to, or None (also None when two labs match)."""
    norm = re.sub(r"[^a-z0-9]+", "_", text.lower())
    found = {lab for lab in labs if lab.lower() in norm}
    if not found:
        numbers = set(re.findall(r"(?:^|_)lab_?(\d+)(?=_|$)", norm))
        found = {lab for lab in labs if _number(lab) in numbers}
    return found.pop() if len(found) == 1 else None


def reference_cells(lab: str, ids, root: Path = REPO) -> list[str]:
    """The sources of the reference notebook's cells with these ids, in that order: how tests and
    benchmarks reuse a lab's given code (never by matching what a cell's source says). A missing id is
    an error that says which file to update."""
    import nbformat

    nb = nbformat.read(root / "solutions" / lab / f"{lab}.ipynb", as_version=4)
    by_id = {c.get("id"): c.source for c in nb.cells}
    missing = [i for i in ids if i not in by_id]
    if missing:
        raise LookupError(f"{lab}: the reference notebook has no cell {', '.join(missing)}: a cell id changed; "
                          "update the caller's list of ids")
    return [by_id[i] for i in ids]
