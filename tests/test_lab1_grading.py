"""Lab 1 through nbgrader: release, leaks, autograding of reference / blank / alternative /
tampered / mutant submissions, and a runaway cell. Marked slow: the batch autograde runs the lab
notebook (fast profile) about a dozen times."""

from __future__ import annotations

import json

import nbformat
import pytest
from mutants import lab1_pruning as catalogue
from nbgrader_harness import REPO, Course, cell_kind, mutate

LAB = catalogue.LAB
pytestmark = pytest.mark.slow


def _strip(nb):
    """Notebook JSON without volatile bits, for comparisons."""
    nb = json.loads(nbformat.writes(nb))
    nb["metadata"].pop("widgets", None)
    return nb


def test_labs_equal_generate_assignment(tmp_path):
    course = Course(tmp_path, LAB)
    generated = nbformat.read(course.generate(), as_version=4)
    committed = nbformat.read(REPO / "labs" / LAB / f"{LAB}.ipynb", as_version=4)
    assert _strip(generated) == _strip(committed), "labs/ is stale: run `make release` and commit labs/"


def _solution_only_lines(nb) -> set[str]:
    """Lines that appear only inside BEGIN/END SOLUTION or HIDDEN TESTS blocks of the source."""
    inside, outside = set(), set()
    for cell in nb.cells:
        hidden = False
        for line in cell.source.splitlines():
            s = line.strip()
            if s.startswith("### BEGIN SOLUTION") or s.startswith("### BEGIN HIDDEN TESTS"):
                hidden = True
            elif s.startswith("### END SOLUTION") or s.startswith("### END HIDDEN TESTS"):
                hidden = False
            elif len(s) >= 20:
                (inside if hidden else outside).add(s)
    return inside - outside


def test_no_solution_or_hidden_test_leaks():
    source = nbformat.read(REPO / "solutions" / LAB / f"{LAB}.ipynb", as_version=4)
    secret = _solution_only_lines(source)
    assert len(secret) > 20, "the leak check found too few solution lines to be meaningful"
    student = (REPO / "labs" / LAB / f"{LAB}.ipynb").read_text()
    helpers_text = "\n".join(p.read_text() for p in (REPO / "helpers").rglob("*.py"))
    for marker in ("BEGIN SOLUTION", "END SOLUTION", "BEGIN HIDDEN TESTS", "END HIDDEN TESTS"):
        assert marker not in student and marker not in helpers_text
    student_nb = nbformat.reads(student, as_version=4)
    student_lines = {s.strip() for c in student_nb.cells for s in c.source.splitlines()}
    leaked = sorted(s for s in secret if s in student_lines or s in helpers_text)
    assert not leaked, f"solution / hidden-test lines found in labs/ or helpers/: {leaked[:5]}"
    assert all(not c.get("outputs") for c in student_nb.cells if c.cell_type == "code"), "labs/ must carry no outputs"


def mutant_rounds():
    """Group the mutants into as few submissions as possible: one mutant per graded answer per
    submission, never together with a mutant of an answer its test also calls."""
    rounds: list[dict[str, tuple[str, str]]] = []
    for grade_id, mutants in catalogue.MUTANTS.items():
        for name, edits in mutants:
            for r in rounds:
                clash = grade_id in r or any(
                    other in catalogue.DEPENDS_ON.get(grade_id, ()) or grade_id in catalogue.DEPENDS_ON.get(other, ())
                    for other in r)
                if not clash:
                    r[grade_id] = (name, edits)
                    break
            else:
                rounds.append({grade_id: (name, edits)})
    return rounds


ROUNDS = mutant_rounds()
ALL_MUTANTS = [(i, gid, name) for i, r in enumerate(ROUNDS) for gid, (name, _) in r.items()]


@pytest.fixture(scope="module")
def graded(tmp_path_factory):
    """One nbgrader autograde run over every kind of submission; returns (scores, course)."""
    course = Course(tmp_path_factory.mktemp("course"), LAB)
    solutions = course.solution_sources()
    submissions = {
        "reference": course.submission(),
        "blank": course.submission(blank=True),
        "alternative": course.submission({k: v.strip() for k, v in catalogue.ALTERNATIVES.items()}),
    }
    # tampering: delete one test cell, empty another, change its points
    tampered = course.submission()
    tampered.cells = [c for c in tampered.cells if c.metadata.get("nbgrader", {}).get("grade_id") != "test_nm_prune"]
    for c in tampered.cells:
        if c.metadata.get("nbgrader", {}).get("grade_id") == "test_channel_prune":
            c.source = "pass"
            c.metadata["nbgrader"]["points"] = 100
    submissions["tampered"] = tampered
    for i, r in enumerate(ROUNDS):
        answers = {}
        for grade_id, (_, edits) in r.items():
            src = solutions[grade_id]
            for old, new in edits:
                src = mutate(src, old, new)
            answers[grade_id] = src
        submissions[f"mutants{i}"] = course.submission(answers)
    return course.autograde(submissions, timeout=2400), course


def _total(scores):
    return sum(s for s, _ in scores.values()), sum(m for _, m in scores.values())


def test_reference_gets_full_marks(graded):
    scores = graded[0]["reference"]
    assert set(scores) == set(catalogue.TEST_OF.values())
    assert all(s == m for s, m in scores.values()), scores
    assert _total(scores)[1] == 62  # autograded points; the other 38 are written answers


def test_untouched_notebook_gets_zero(graded):
    assert _total(graded[0]["blank"])[0] == 0, graded[0]["blank"]


def test_differently_written_answers_keep_full_marks(graded):
    scores = graded[0]["alternative"]
    assert all(s == m for s, m in scores.values()), scores


def test_deleted_and_edited_test_cells_are_restored(graded):
    scores = graded[0]["tampered"]
    assert "test_nm_prune" in scores, "a deleted test cell must be restored and graded"
    assert scores["test_nm_prune"] == (7, 7)
    assert scores["test_channel_prune"] == (7, 7), "the edited test cell (and its points) must be restored"


@pytest.mark.parametrize("round_index, grade_id, mutant", ALL_MUTANTS,
                         ids=[f"{gid}: {name}" for _, gid, name in ALL_MUTANTS])
def test_mutant_loses_points(graded, round_index, grade_id, mutant):
    score, max_score = graded[0][f"mutants{round_index}"][catalogue.TEST_OF[grade_id]]
    assert score < max_score, f"mutant '{mutant}' of {grade_id} kept full marks"


def test_every_graded_answer_has_three_mutants_and_an_alternative():
    source = nbformat.read(REPO / "solutions" / LAB / f"{LAB}.ipynb", as_version=4)
    answers = {c.metadata["nbgrader"]["grade_id"] for c in source.cells if cell_kind(c) == "answer"}
    assert answers == set(catalogue.TEST_OF)
    for grade_id in answers:
        assert len(catalogue.MUTANTS[grade_id]) >= 3, grade_id
        assert grade_id in catalogue.ALTERNATIVES, grade_id


def test_infinite_loop_times_out(tmp_path):
    course = Course(tmp_path, LAB)
    src = course.solution_sources()["nm_prune"]
    looping = mutate(src, "    ### BEGIN SOLUTION\n", "    ### BEGIN SOLUTION\n    while True:\n        pass\n")
    scores = course.autograde({"looper": course.submission({"nm_prune": looping})},
                              extra_args=["--Execute.timeout=20"], timeout=900)["looper"]
    assert scores["test_nm_prune"][0] == 0
    others = {k: v for k, v in scores.items() if k != "test_nm_prune"}
    assert all(s == m for s, m in others.values()), others
