"""Every lab through nbgrader: release, leaks, autograding of reference / blank / alternative /
tampered / mutant submissions, and a runaway cell. The labs and their mistakes are described by the
catalogues in ``tests/mutants/``: every lab of ``solutions/`` has one (tests/test_registry.py), loaded and
checked by ``grading/catalogue.py``.
Marked slow: each lab's batch autograde runs its notebook (fast profile) about a dozen times."""

from __future__ import annotations

import nbformat
import pytest
from nbgrader_harness import assert_labs_equal_generate_assignment, assert_no_leaks, hidden_test_lines, html_text, total

from grading.catalogue import (
    LOOPER_CELL_TIMEOUT,
    catalogue_submissions,
    load,
    mutant_rounds,
    submission_args,
    submission_costs,
)
from grading.course import Course, cell_kind, run_nbgrader
from grading.labs import REPO, discover

CATALOGUES = {lab: load(lab) for lab in discover()}  # every lab of solutions/, none by hand
ROUNDS = {lab: mutant_rounds(c) for lab, c in CATALOGUES.items()}
ALL_MUTANTS = [(lab, i, gid, name) for lab, rounds in ROUNDS.items()
               for i, r in enumerate(rounds) for gid, (name, _) in r.items()]
pytestmark = pytest.mark.slow
by_lab = pytest.mark.parametrize("lab", [pytest.param(lab, marks=pytest.mark.xdist_group(lab), id=lab)
                                         for lab in CATALOGUES])


@pytest.fixture(scope="module")
def graded(tmp_path_factory):
    """``graded(lab)``: one nbgrader autograde run over every kind of submission of that lab
    (run once per lab, on first use); returns ``{student: {test cell: (score, max)}}``.
    ``graded.course(lab)``: its course, with the assignment generated (once)."""
    cache = {}

    def course(lab):
        if lab not in run.courses:
            run.courses[lab] = Course(tmp_path_factory.mktemp(lab), lab)
            run.courses[lab].generate()
        return run.courses[lab]

    def run(lab):
        if lab not in cache:
            catalogue = CATALOGUES[lab]
            submissions = catalogue_submissions(course(lab), catalogue, ROUNDS[lab],
                                                delete_test=catalogue.TAMPER["delete"],
                                                edit_test=catalogue.TAMPER["edit"])
            cache[lab] = course(lab).autograde(submissions, timeout=3600,
                                               costs=submission_costs(catalogue, submissions),
                                               own_args=submission_args(submissions))
        return cache[lab]

    run.courses, run.course = {}, course
    return run


def _source(lab):
    return nbformat.read(REPO / "solutions" / lab / f"{lab}.ipynb", as_version=4)


@by_lab
def test_labs_equal_generate_assignment(graded, lab):
    assert_labs_equal_generate_assignment(graded.course(lab), lab)


@by_lab
def test_no_solution_or_hidden_test_leaks(lab):
    assert_no_leaks(lab)


@by_lab
def test_points_add_up_to_100_plus_bonus(lab):
    points = sum(c.metadata["nbgrader"].get("points", 0) for c in _source(lab).cells if "nbgrader" in c.metadata)
    assert points == 100 + getattr(CATALOGUES[lab], "BONUS_POINTS", 0)


@by_lab
def test_every_graded_answer_has_three_mutants_an_alternative_and_a_blind_answer(lab):
    catalogue = CATALOGUES[lab]
    answers = {c.metadata["nbgrader"]["grade_id"] for c in _source(lab).cells if cell_kind(c) == "answer"}
    assert answers == set(catalogue.TEST_OF)
    for grade_id in answers:
        assert len(catalogue.MUTANTS[grade_id]) >= 3, grade_id
        assert grade_id in catalogue.ALTERNATIVES, grade_id
        assert grade_id in catalogue.BLIND, f"{grade_id} has no blind implementation"
        revealed, _ = catalogue.BLIND[grade_id]
        assert revealed.strip(), f"{grade_id}: say what its blind implementation revealed (or 'nothing')"


@by_lab
def test_reference_gets_full_marks(graded, lab):
    scores = graded(lab)["reference"]
    assert set(scores) == set(CATALOGUES[lab].TEST_OF.values())
    assert all(s == m for s, m in scores.values()), scores
    assert total(scores)[1] == CATALOGUES[lab].AUTOGRADED_POINTS


@by_lab
def test_untouched_notebook_gets_zero(graded, lab):
    assert total(graded(lab)["blank"])[0] == 0, graded(lab)["blank"]


@by_lab
def test_differently_written_answers_keep_full_marks(graded, lab):
    scores = graded(lab)["alternative"]  # its test cells tampered with too (restored, below)
    assert set(scores) == set(CATALOGUES[lab].TEST_OF.values())
    assert all(s == m for s, m in scores.values()), scores


@by_lab
def test_blind_implementations_keep_full_marks(graded, lab):
    """Answers written from the student notebook alone (never the solutions or the tests): a blind
    answer that loses points means the text or a hidden test is wrong."""
    scores = graded(lab)["blind"]
    assert all(s == m for s, m in scores.values()), scores


@by_lab
def test_correct_answers_that_warn_keep_full_marks(graded, lab):
    """A library warning in a graded cell is shown ([warning] on stdout), never scored as a failure."""
    if not getattr(CATALOGUES[lab], "WARNS", None):
        pytest.skip(f"{lab} catalogues no answer that warns")
    scores = graded(lab)["warns"]
    assert all(s == m for s, m in scores.values()), scores


@by_lab
def test_deleted_and_edited_test_cells_are_restored(graded, lab):
    """The alternatives' notebook lost one test cell and had another emptied and given 100 points: both
    are put back from the source, so it scores what the reference does on them."""
    scores = graded(lab)["alternative"]
    reference = graded(lab)["reference"]
    deleted, edited = CATALOGUES[lab].TAMPER["delete"], CATALOGUES[lab].TAMPER["edit"]
    assert deleted in scores, "a deleted test cell must be restored and graded"
    assert scores[deleted] == reference[deleted]
    assert scores[edited] == reference[edited], "the edited test cell (and its points) must be restored"


@pytest.mark.parametrize("lab", [pytest.param(lab, marks=pytest.mark.xdist_group(lab), id=lab)
                                 for lab, c in CATALOGUES.items() if getattr(c, "CRASHES", None)])
def test_native_crashes_cost_only_their_question(graded, lab):
    """Compiled answers that segfault or never return (``CRASHES``) score 0 on their own test cells; the
    notebook's kernel survives them, so every other question keeps full marks."""
    catalogue = CATALOGUES[lab]
    scores = graded(lab)["crashes"]
    crashed = {catalogue.TEST_OF[grade_id] for grade_id in catalogue.CRASHES}
    assert all(scores[test][0] == 0 for test in crashed), scores
    others = {k: v for k, v in scores.items() if k not in crashed}
    assert others and all(s == m for s, m in others.values()), others


@by_lab
def test_trimmed_reference_keeps_full_marks(graded, lab):
    """The control of the trimmed submissions (mutant rounds, warns, looper, crashes): the reference without the
    catalogue's ``TRIMMED_CELLS`` keeps full marks, so no graded test needs a cell they leave out, and a
    trimmed mutant loses points for its mistake alone."""
    if not CATALOGUES[lab].TRIMMED_CELLS:
        pytest.skip(f"{lab} trims no cell: its mutant rounds run the whole notebook")
    scores = graded(lab)["trimmed"]
    assert set(scores) == set(CATALOGUES[lab].TEST_OF.values())
    lost = {k: v for k, v in scores.items() if v[0] != v[1]}
    assert not lost, f"a graded test needs a cell of TRIMMED_CELLS (tests/mutants/{lab}.py): {lost}"


@pytest.mark.parametrize("lab, round_index, grade_id, mutant",
                         [pytest.param(*m, marks=pytest.mark.xdist_group(m[0])) for m in ALL_MUTANTS],
                         ids=[f"{lab}: {gid}: {name}" for lab, _, gid, name in ALL_MUTANTS])
def test_mutant_loses_points(graded, lab, round_index, grade_id, mutant):
    test = CATALOGUES[lab].TEST_OF[grade_id]
    if CATALOGUES[lab].TRIMMED_CELLS:  # the mutant ran trimmed: only a control at full marks makes that count
        control, most = graded(lab)["trimmed"][test]
        assert control == most, f"the trimmed reference lost points on {test} (test_trimmed_reference_keeps_full_marks)"
    score, max_score = graded(lab)[f"mutants{round_index}"][test]
    assert score < max_score, f"mutant '{mutant}' of {grade_id} kept full marks"


@pytest.mark.parametrize("lab", [pytest.param(lab, marks=pytest.mark.xdist_group(lab), id=lab)
                                 for lab, c in CATALOGUES.items() if c.LOOP_ANSWER])
def test_infinite_loop_times_out(graded, lab):
    """An answer that never returns is stopped at nbgrader's cell timeout and costs its own question only
    (the ``looper`` submission of the lab's batch, graded on its own with ``--Execute.timeout`` set to
    ``LOOPER_CELL_TIMEOUT``: the mechanism of nbgrader_config.py's 120 s, a quarter of the wait)."""
    assert LOOPER_CELL_TIMEOUT < 120
    test_cell = CATALOGUES[lab].TEST_OF[CATALOGUES[lab].LOOP_ANSWER]
    scores = graded(lab)["looper"]
    assert scores[test_cell][0] == 0
    others = {k: v for k, v in scores.items() if k != test_cell}
    assert others and all(s == m for s, m in others.values()), others


@by_lab
def test_feedback_shows_results_without_hidden_tests(graded, lab):
    """Students get their points and the visible checks' output, never the hidden tests' code."""
    students = set(graded(lab))
    course = graded.courses[lab]
    # every kind of page once: full marks written differently, none, a mutant round (lost points, trimmed)
    shown = students & {"reference", "blank", "alternative", "blind", "warns", "crashes", "mutants0"}
    exclude = "--CourseDirectory.student_id_exclude=" + ",".join(sorted(students - shown))
    run_nbgrader(["generate_feedback", lab, "--force", exclude], course.root, timeout=900)
    hidden = hidden_test_lines(_source(lab))
    assert len(hidden) > 10
    autograded = (course.root / "autograded" / "reference" / lab / f"{lab}.ipynb").read_text()
    assert any(line in autograded for line in hidden), "the autograded notebook should hold the hidden tests"
    pages = sorted(course.feedback_dir().glob(f"*/{lab}/{lab}.html"))
    assert {page.parents[1].name for page in pages} == shown
    visible = [line for c in _source(lab).cells if cell_kind(c) == "tests"
               for line in c.source.split("### BEGIN HIDDEN TESTS")[0].splitlines() if len(line.strip()) > 30]
    for page in pages:
        text = html_text(page.read_text())
        # a hidden-test line the student wrote themselves (a common idiom) is theirs to see
        student = page.parents[1].name
        own = nbformat.read(course.root / "submitted" / student / lab / f"{lab}.ipynb", as_version=4)
        own_code = "\n".join(c.source for c in own.cells if cell_kind(c) != "tests")
        leaked = [line for line in hidden if line in text and line not in own_code]
        assert not leaked, f"{page}: hidden-test code in the feedback: {leaked[:3]}"
        assert any(line.strip() in text for line in visible), f"{page}: the visible tests are missing"
    reference, blank = html_text((course.feedback_dir() / "reference" / lab / f"{lab}.html").read_text()), \
        html_text((course.feedback_dir() / "blank" / lab / f"{lab}.html").read_text())
    catalogue = CATALOGUES[lab]
    most = 100 + getattr(catalogue, "BONUS_POINTS", 0)  # written answers count once graded by hand
    assert f"Score: {catalogue.AUTOGRADED_POINTS}.0 / {most}.0" in reference
    assert f"Score: 0.0 / {most}.0" in blank and "NotImplementedError" in blank
