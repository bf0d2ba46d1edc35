"""Lab 2 through nbgrader: release, leaks, autograding of reference / blank / alternative /
tampered / mutant submissions. Marked slow: the batch autograde runs the lab notebook (fast
profile) about a dozen times."""

from __future__ import annotations

import nbformat
import pytest
from mutants import lab2_quantization as catalogue
from nbgrader_harness import (
    REPO,
    Course,
    assert_labs_equal_generate_assignment,
    assert_no_leaks,
    catalogue_submissions,
    cell_kind,
    mutant_rounds,
    total,
)

LAB = catalogue.LAB
pytestmark = pytest.mark.slow


def test_labs_equal_generate_assignment(tmp_path):
    assert_labs_equal_generate_assignment(tmp_path, LAB)


def test_no_solution_or_hidden_test_leaks():
    assert_no_leaks(LAB)


ROUNDS = mutant_rounds(catalogue)
ALL_MUTANTS = [(i, gid, name) for i, r in enumerate(ROUNDS) for gid, (name, _) in r.items()]


@pytest.fixture(scope="module")
def graded(tmp_path_factory):
    """One nbgrader autograde run over every kind of submission; returns (scores, course)."""
    course = Course(tmp_path_factory.mktemp("course"), LAB)
    submissions = catalogue_submissions(course, catalogue, ROUNDS, delete_test="test_update_codebook",
                                        edit_test="test_quantized_conv2d")
    return course.autograde(submissions, timeout=3600), course


def test_reference_gets_full_marks(graded):
    scores = graded[0]["reference"]
    assert set(scores) == set(catalogue.TEST_OF.values())
    assert all(s == m for s, m in scores.values()), scores
    assert total(scores)[1] == 80  # autograded points; the other 20 are written answers


def test_points_add_up_to_100():
    source = nbformat.read(REPO / "solutions" / LAB / f"{LAB}.ipynb", as_version=4)
    points = sum(c.metadata["nbgrader"].get("points", 0) for c in source.cells if "nbgrader" in c.metadata)
    assert points == 100


def test_untouched_notebook_gets_zero(graded):
    assert total(graded[0]["blank"])[0] == 0, graded[0]["blank"]


def test_differently_written_answers_keep_full_marks(graded):
    scores = graded[0]["alternative"]
    assert all(s == m for s, m in scores.values()), scores


def test_deleted_and_edited_test_cells_are_restored(graded):
    scores = graded[0]["tampered"]
    assert "test_update_codebook" in scores, "a deleted test cell must be restored and graded"
    assert scores["test_update_codebook"] == (10, 10)
    assert scores["test_quantized_conv2d"] == (10, 10), "the edited test cell (and its points) must be restored"


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
