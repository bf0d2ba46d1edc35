"""One lab registry: a lab is found from ``solutions/<lab>/<lab>.ipynb`` (grading/labs.py) by the grading
tests, the release script and ``make benchmarks``, so everything else a lab consists of (CONTRIBUTING.md)
must be there: its mistake catalogue ``tests/mutants/<lab>.py`` (a valid one: known constants only) with
its mutant table ``<lab>.toml``, its benchmark ``benchmarks/<lab>.py`` and its README section. Fast:
nothing is executed but the catalogues."""

from __future__ import annotations

import types
from pathlib import Path

import nbformat
import pytest

from grading.catalogue import Catalogue, CatalogueError, load, mutant_rounds, read_mutants, trimmed
from grading.course import shares_of
from grading.labs import REPO, discover, parts, readme_heading

LABS = discover()


def missing_parts(lab: str, root: Path = REPO) -> list[str]:
    """What ``lab`` lacks of the parts CONTRIBUTING.md lists (empty: nothing)."""
    out = [f"its {what} ({path.relative_to(root)})" for what, path in parts(lab, root).items() if not path.is_file()]
    readme = (root / "README.md").read_text(encoding="utf-8").splitlines()
    if not any(line.startswith(readme_heading(lab)) for line in readme):
        out.append(f"its README section (a heading '{readme_heading(lab)}...')")
    return out


@pytest.mark.parametrize("lab", LABS)
def test_every_lab_has_all_its_parts(lab):
    assert not missing_parts(lab), f"{lab} lacks {', '.join(missing_parts(lab))}: see CONTRIBUTING.md"


@pytest.mark.parametrize("lab", LABS)
def test_every_catalogue_is_a_valid_record(lab):
    catalogue = load(lab)  # CatalogueError names an unknown, missing or mistyped constant
    assert catalogue.LAB == lab and catalogue.MUTANTS


def _module(**constants) -> types.ModuleType:
    """A catalogue module: the smallest valid one, with ``constants`` added (None removes one)."""
    module = types.ModuleType("mutants.lab9_demo")
    valid = dict(LAB="lab9_demo", AUTOGRADED_POINTS=2, TAMPER={"delete": "test_f", "edit": "test_f"},
                 TEST_OF={"f": "test_f"}, MUTANTS={"f": [("off by one", [("+ 1", "+ 2")])]},
                 ALTERNATIVES={"f": "def f(x):\n    return 1 + x"})
    for name, value in {**valid, **constants}.items():
        if value is not None:
            setattr(module, name, value)
    return module


def test_the_smallest_catalogue_is_valid_and_private_names_are_its_own():
    catalogue = Catalogue.from_module(_module(_ANCHOR="+ 1"), "lab9_demo")
    assert catalogue.BONUS_POINTS == 0 and catalogue.BLIND == {} and catalogue.LOOP_ANSWER is None


@pytest.mark.parametrize("name", ["ALTERNATIVE", "MUTANT", "BLIND_PENDING", "BLIND_OUTDATED",
                                  "BLIND_NOT_YET_GRADED"])
def test_a_misspelt_or_retired_constant_is_an_error_that_names_it(name):
    with pytest.raises(CatalogueError, match=name):
        Catalogue.from_module(_module(**{name: {}}), "lab9_demo")


@pytest.mark.parametrize("constants, message", [
    (dict(MUTANTS=None), "defines no MUTANTS"),
    (dict(AUTOGRADED_POINTS="62"), "AUTOGRADED_POINTS is a str"),
    (dict(LAB="lab8_other"), "LAB is 'lab8_other'"),
    (dict(TAMPER={"delete": "test_g", "edit": "test_f"}), "TAMPER"),
    (dict(ALTERNATIVES={"g": "def g(): pass"}), r"ALTERNATIVES names answers that TEST_OF does not grade: \['g'\]"),
    (dict(DEPENDS_ON={"f": {"h"}}), "the values of DEPENDS_ON"),
    (dict(LOOP_ANSWER="g"), "LOOP_ANSWER 'g'"),
    (dict(BLIND={"f": "def f(x): return x + 1"}), "BLIND holds entries that are not"),
])
def test_a_catalogue_that_does_not_fit_together_is_an_error(constants, message):
    with pytest.raises(CatalogueError, match=message):
        Catalogue.from_module(_module(**constants), "lab9_demo")


def test_the_mutant_table_is_read_and_a_malformed_one_is_an_error_naming_the_file(tmp_path):
    table = tmp_path / "lab9_demo.toml"
    table.write_text("[[f]]\nmistake = 'off by one'\nedits = [['+ 1', '''+ 2\n''']]\n", encoding="utf-8")
    assert read_mutants(table) == {"f": [("off by one", [("+ 1", "+ 2\n")])]}
    for bad in ("[[f]]\nmistake = 'x'\nedits = [['+ 1']]\n", "[[f]]\nwhat = 'x'\nedits = []\n", "f = 1\n", "[[f]\n"):
        table.write_text(bad, encoding="utf-8")
        with pytest.raises(CatalogueError, match="lab9_demo.toml"):
            read_mutants(table)
    module = _module()
    with pytest.raises(CatalogueError, match="MUTANTS is defined both"):
        Catalogue.from_module(module, "lab9_demo", {"MUTANTS": module.MUTANTS})
    assert Catalogue.from_module(_module(MUTANTS=None), "lab9_demo", {"MUTANTS": module.MUTANTS}).MUTANTS


def test_a_new_lab_is_found_and_each_missing_part_is_named(tmp_path):
    """A sixth lab needs only its own files: the notebook makes it a lab, and the test names what is missing."""
    lab = "lab9_demo"
    (tmp_path / "README.md").write_text("# Labs\n\n## Lab 1 results\n", encoding="utf-8")
    notebook = parts(lab, tmp_path)["solution notebook"]
    notebook.parent.mkdir(parents=True)
    nbformat.write(nbformat.v4.new_notebook(), notebook)
    assert discover(tmp_path / "solutions") == [lab]
    assert missing_parts(lab, tmp_path) == ["its mistake catalogue (tests/mutants/lab9_demo.py)",
                                            "its mutant table (tests/mutants/lab9_demo.toml)",
                                            "its benchmark (benchmarks/lab9_demo.py)",
                                            "its README section (a heading '## Lab 9 ...')"]
    for what in ("mistake catalogue", "mutant table", "benchmark"):
        parts(lab, tmp_path)[what].parent.mkdir(parents=True, exist_ok=True)
        parts(lab, tmp_path)[what].write_text("", encoding="utf-8")
    with open(tmp_path / "README.md", "a", encoding="utf-8") as readme:
        readme.write("\n## Lab 9 results (full profile, 2-core CPU)\n")
    assert missing_parts(lab, tmp_path) == []


@pytest.mark.parametrize("lab", LABS)
def test_trimmed_cells_are_plain_given_cells_of_the_notebook(lab):
    """``TRIMMED_CELLS`` names cells of the solution notebook that nbgrader would not put back."""
    notebook = nbformat.read(parts(lab)["solution notebook"], as_version=4)
    cells = load(lab).TRIMMED_CELLS
    kept = trimmed(notebook, cells, lab)
    assert len(kept.cells) == len(notebook.cells) - len(set(cells))


def test_trimming_refuses_an_unknown_or_graded_cell():
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell("x = 1", id="given"),
                                         nbformat.v4.new_code_cell("assert x", id="tests",
                                                                   metadata={"nbgrader": {"grade": True}})])
    assert [c.id for c in trimmed(nb, ("given",)).cells] == ["tests"] and len(nb.cells) == 2  # a copy
    with pytest.raises(CatalogueError, match=r"does not have: \['gone'\]"):
        trimmed(nb, ("gone",))
    with pytest.raises(CatalogueError, match=r"only plain given code cells, not \['tests'\]"):
        trimmed(nb, ("tests",))


def test_batches_are_shared_so_that_workers_finish_together():
    costs = {"reference": 1, "looper": 2.4, "m0": 0.4, "m1": 0.4, "m2": 0.4, "blank": 1}
    shares = shares_of(list(costs), 2, costs)
    assert sorted(s for share in shares for s in share) == sorted(costs)
    assert sorted(sum(costs[s] for s in share) for share in shares) == pytest.approx([2.8, 2.8])
    assert shares_of(["a", "b", "c"], 2) == [["a", "c"], ["b"]]  # without costs: in turn


def test_mutant_rounds_are_few_and_never_mix_an_answer_with_what_its_test_calls():
    # a path a - b - c - d of answers whose tests call their neighbours; in the catalogue's order (a, d,
    # then b, c) first-fit needs three rounds where two do; b has two mistakes, so three are the fewest
    edits = [("old", "new")]
    catalogue = types.SimpleNamespace(MUTANTS={"a": [("a1", edits)], "d": [("d1", edits)],
                                         "b": [("b1", edits), ("b2", edits)], "c": [("c1", edits)]},
                                DEPENDS_ON={"b": {"a", "c"}, "d": {"c"}})
    rounds = mutant_rounds(catalogue)
    assert len(rounds) == 3
    assert sorted(name for r in rounds for name, _ in r.values()) == ["a1", "b1", "b2", "c1", "d1"]
    clash = {("a", "b"), ("b", "c"), ("c", "d")}
    assert all((x, y) not in clash for r in rounds for x in r for y in r)
    assert mutant_rounds(catalogue) == rounds  # the same every run
    catalogue.DEPENDS_ON = {}
    assert len(mutant_rounds(catalogue)) == 2  # no clash: as many rounds as the most mistakes of one answer
