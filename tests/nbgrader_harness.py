"""What the grading tests assert about a lab besides its scores: labs/ is what nbgrader generates, no
solution or hidden-test line leaks, and the text a feedback page shows. The course driver they use is
``grading/course.py``; the submissions built from a lab's catalogue come from ``grading/catalogue.py``.
"""

from __future__ import annotations

import nbformat

from grading.course import Course
from grading.labs import REPO


def strip_volatile(nb) -> dict:
    """Notebook JSON without volatile bits, for comparisons."""
    import json

    nb = json.loads(nbformat.writes(nb))
    nb["metadata"].pop("widgets", None)
    return nb


def assert_labs_equal_generate_assignment(course: Course, lab: str) -> None:
    """labs/<lab> must be exactly what `nbgrader generate_assignment` makes from solutions/<lab> (in
    ``course``, a copy of the repository's solutions/<lab> and nbgrader_config.py, already generated)."""
    generated = course.student_nb()
    committed = nbformat.read(REPO / "labs" / lab / f"{lab}.ipynb", as_version=4)
    assert strip_volatile(generated) == strip_volatile(committed), "labs/ is stale: run `make release` and commit labs/"


def _lines_only_inside(nb, blocks: tuple[str, ...]) -> set[str]:
    """Lines (>= 20 characters) that appear only between ``### BEGIN <block>`` and ``### END <block>``."""
    inside, outside = set(), set()
    for cell in nb.cells:
        hidden = False
        for line in cell.source.splitlines():
            s = line.strip()
            if any(s.startswith(f"### BEGIN {block}") for block in blocks):
                hidden = True
            elif any(s.startswith(f"### END {block}") for block in blocks):
                hidden = False
            elif len(s) >= 20:
                (inside if hidden else outside).add(s)
    return inside - outside


def hidden_test_lines(nb) -> set[str]:
    """Lines that appear only inside the HIDDEN TESTS blocks of the source notebook."""
    return _lines_only_inside(nb, ("HIDDEN TESTS",))


def html_text(page: str) -> str:
    """The text a browser shows for an nbconvert HTML page (tags removed, entities decoded)."""
    import html
    import re

    page = re.sub(r"<(script|style)[^>]*>.*?</\1>", "", page, flags=re.S)
    return html.unescape(re.sub(r"<[^>]+>", "", page))


def solution_only_lines(nb) -> set[str]:
    """Lines that appear only inside BEGIN/END SOLUTION or HIDDEN TESTS blocks of the source."""
    return _lines_only_inside(nb, ("SOLUTION", "HIDDEN TESTS"))


def assert_no_leaks(lab: str, min_secret_lines: int = 20) -> None:
    """No solution or hidden-test line (nor an nbgrader marker) in labs/<lab> or helpers/; no outputs in labs/."""
    source = nbformat.read(REPO / "solutions" / lab / f"{lab}.ipynb", as_version=4)
    secret = solution_only_lines(source)
    assert len(secret) > min_secret_lines, "the leak check found too few solution lines to be meaningful"
    student = (REPO / "labs" / lab / f"{lab}.ipynb").read_text()
    helpers_text = "\n".join(p.read_text() for p in (REPO / "helpers").rglob("*.py"))
    for marker in ("BEGIN SOLUTION", "END SOLUTION", "BEGIN HIDDEN TESTS", "END HIDDEN TESTS"):
        assert marker not in student and marker not in helpers_text
    student_nb = nbformat.reads(student, as_version=4)
    student_lines = {s.strip() for c in student_nb.cells for s in c.source.splitlines()}
    leaked = sorted(s for s in secret if s in student_lines or s in helpers_text)
    assert not leaked, f"solution / hidden-test lines found in labs/ or helpers/: {leaked[:5]}"
    assert all(not c.get("outputs") for c in student_nb.cells if c.cell_type == "code"), "labs/ must carry no outputs"


def total(scores: dict) -> tuple:
    """(points scored, points possible) over ``{grade_id: (score, max_score)}``."""
    return sum(s for s, _ in scores.values()), sum(m for _, m in scores.values())
