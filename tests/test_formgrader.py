"""The instructor's manual grading, in a real browser: nbgrader's formgrader inside JupyterLab (its lab and
server extensions, as installed by requirements-dev.txt), on an autograded Lab 1 submission. The grader opens
Nbgrader → Formgrader, goes to the submission, enters a score and a comment for a written answer; the
gradebook holds them and the regenerated feedback shows them. Screenshots: test-artifacts/instructor/.

The submission answers the written questions (the reference text) and leaves the code stubs untouched, so
that autograding it stays cheap (the graded cells fail at once).
"""

from __future__ import annotations

import json
import urllib.error
from pathlib import Path

import pytest
from lab_browser import ARTIFACTS, browser_page, jupyterlab, require_browser, screenshot
from nbgrader_harness import html_text

from grading.course import Course, cell_kind, run_nbgrader

LAB, STUDENT, WRITTEN = "lab1_pruning", "alice", "q1_answer"
SCORE, COMMENT = 3.5, "Right about the spike at zero; say why the tails matter for pruning."


@pytest.fixture(scope="module")
def graded_course(tmp_path_factory):
    require_browser()
    course = Course(tmp_path_factory.mktemp("course"), LAB)
    nb = course.submission(blank=True)
    solutions = course.solution_sources()
    for cell in nb.cells:
        if cell_kind(cell) == "written":
            cell.source = solutions[cell.metadata["nbgrader"]["grade_id"]]
    course.autograde({STUDENT: nb}, timeout=900)
    return course


def require_nbgrader_lab_extension():
    """The formgrader in JupyterLab is nbgrader's lab extension (the Nbgrader menu) plus its server extension."""
    from jupyter_core.paths import jupyter_path

    if not any((Path(d) / "@jupyter" / "nbgrader" / "package.json").is_file() for d in jupyter_path("labextensions")):
        pytest.fail("nbgrader's JupyterLab extension (@jupyter/nbgrader) is not installed in this environment: "
                    "pip install -r requirements-dev.txt (nbgrader ships it since 0.9)")


def _formgrader_config(home) -> dict:
    """Enable the formgrader server extension in this server's own config (it usually is already)."""
    config = home / "config"
    config.mkdir(parents=True, exist_ok=True)
    (config / "jupyter_server_config.json").write_text(json.dumps(
        {"ServerApp": {"jpserver_extensions": {"nbgrader.server_extensions.formgrader": True}}}))
    return {"JUPYTER_CONFIG_DIR": str(config)}


@pytest.mark.slow
def test_manual_grade_in_the_formgrader_reaches_gradebook_and_feedback(graded_course, tmp_path):
    from nbgrader.api import Gradebook
    from playwright.sync_api import expect

    course = graded_course
    require_nbgrader_lab_extension()
    env = _formgrader_config(tmp_path / "jupyter")
    with jupyterlab(tmp_path, course_dir=course.root, env=env) as server, browser_page(tmp_path) as page:
        try:
            assignments = server.get_json("formgrader/api/assignments")
        except urllib.error.HTTPError as exc:
            pytest.fail(f"the formgrader server extension does not answer ({exc}): is "
                        "nbgrader.server_extensions.formgrader enabled?")
        assert LAB in [a["name"] for a in assignments], assignments
        page.goto(server.url("lab"))
        page.locator(".lm-MenuBar-itemLabel", has_text="Nbgrader").click()
        page.locator(".lm-Menu-itemLabel").get_by_text("Formgrader", exact=True).click()
        frame = page.frame_locator("iframe[src*='formgrader']")
        expect(frame.locator("body")).to_contain_text(LAB, timeout=120_000)
        screenshot(page, "instructor", "1-formgrader-opened")

        formgrader = next(f for f in page.frames if "/formgrader" in f.url)  # the iframe, across its pages
        for link, url in (("Manual Grading", "**/formgrader/gradebook"),
                          (LAB, f"**/formgrader/gradebook/{LAB}"),  # the assignment
                          (LAB, f"**/formgrader/gradebook/{LAB}/{LAB}"),  # its notebook
                          ("Submission #1", "**/formgrader/submissions/**")):
            formgrader.get_by_role("link", name=link, exact=True).click()
            formgrader.wait_for_url(url)
        score, comment = frame.locator(f"input.score#{WRITTEN}"), frame.locator(f"textarea#{WRITTEN}-comment")
        expect(score).to_be_visible(timeout=120_000)
        screenshot(page, "instructor", "2-submission-to-grade")

        def saved(kind):
            return lambda r: f"/formgrader/api/{kind}/" in r.url and r.request.method == "PUT" and r.ok

        with page.expect_response(saved("grade")):
            score.fill(str(SCORE))
            score.press("Tab")
        with page.expect_response(saved("comment")):
            comment.fill(COMMENT)
            comment.press("Tab")
        score.scroll_into_view_if_needed()
        screenshot(page, "instructor", "3-grade-and-comment-saved")

    with Gradebook(f"sqlite:///{course.root / 'gradebook.db'}") as gb:
        grade = gb.find_grade(WRITTEN, LAB, LAB, STUDENT)
        assert grade.manual_score == SCORE and grade.score == SCORE, (grade.manual_score, grade.auto_score)
        assert gb.find_comment(WRITTEN, LAB, LAB, STUDENT).manual_comment == COMMENT
        assert not grade.needs_manual_grade

    run_nbgrader(["generate_feedback", LAB, "--force"], course.root, timeout=300)
    feedback = course.feedback_dir() / STUDENT / LAB / f"{LAB}.html"
    text = html_text(feedback.read_text(encoding="utf-8"))
    assert COMMENT in text, "the comment is missing from the feedback"
    assert f"Score: {SCORE} / 5.0" in " ".join(text.split()), "the manual score is missing from the feedback"
    with browser_page(tmp_path / "feedback") as page:
        page.goto(feedback.as_uri())
        page.get_by_text(COMMENT).first.scroll_into_view_if_needed()
        screenshot(page, "instructor", "4-feedback")
    assert (ARTIFACTS / "instructor" / "4-feedback.png").is_file()
