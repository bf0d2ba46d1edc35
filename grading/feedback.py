"""nbgrader preprocessors of the course (see nbgrader_config.py): feedback without the hidden tests,
and warnings that do not cost points.

``nbgrader generate_feedback`` renders the *autograded* notebook, in which the hidden tests have been
put back into every test cell, and an error's traceback prints the source lines around the failing
``assert``. :class:`HideHiddenTests` runs before the HTML export and, in each graded test cell, cuts
the hidden-test region out of the source (leaving a one-line note) and reduces error tracebacks to the
exception's type and message. Students still see which tests passed or failed and their points.

nbgrader scores a test cell 0 when it wrote anything to stderr, so a correct answer that makes a
library warn (a deprecation, ``float()`` of a tensor that requires grad) would lose its points.
:class:`WarningsDoNotFail` runs right after the notebook is executed: in each graded cell it turns
stderr text into stdout text marked ``[warning]``, so the student still sees it (in the autograded
notebook and the feedback) while only a raised exception (an ``error`` output) fails the cell.
"""

from __future__ import annotations

from nbgrader import utils
from nbgrader.preprocessors import ClearHiddenTests, NbGraderPreprocessor

# nbgrader's own delimiters (the same ones `generate_assignment` strips from the student notebooks)
BEGIN = ClearHiddenTests.begin_test_delimeter.default_value
END = ClearHiddenTests.end_test_delimeter.default_value
NOTE = "# (hidden tests run here when grading; their code is not shown)"


def strip_hidden_region(source: str) -> tuple[str, int]:
    """``source`` without its hidden-test lines (and markers), and how many lines were removed."""
    kept, hidden, removed = [], False, 0
    for line in source.split("\n"):
        if BEGIN in line:
            hidden = True
            kept.append(line[: len(line) - len(line.lstrip())] + NOTE)  # keep the indentation
        elif END in line:
            hidden = False
        elif hidden:
            removed += 1
        else:
            kept.append(line)
    return "\n".join(kept), removed


WARNING_MARK = "[warning] "


def mark_stderr(text: str) -> str:
    """stderr text as it is shown in a graded cell's stdout: every line marked ``[warning]``."""
    return "".join(WARNING_MARK + line for line in text.splitlines(keepends=True))


class WarningsDoNotFail(NbGraderPreprocessor):
    """In graded cells, stderr output (warnings, logging) becomes marked stdout: shown, not failed."""

    def preprocess_cell(self, cell, resources, index):
        if cell.cell_type == "code" and utils.is_grade(cell):
            for output in cell.get("outputs", []):
                if output.get("output_type") == "stream" and output.get("name") == "stderr":
                    output["name"] = "stdout"
                    output["text"] = mark_stderr(output.get("text", ""))
        return cell, resources


class HideHiddenTests(NbGraderPreprocessor):
    """Remove hidden-test source and error tracebacks from graded test cells before feedback is rendered."""

    def preprocess_cell(self, cell, resources, index):
        if cell.cell_type == "code" and utils.is_grade(cell) and not utils.is_solution(cell):
            cell.source, _ = strip_hidden_region(cell.source)
            for output in cell.get("outputs", []):
                if output.get("output_type") == "error":
                    output["traceback"] = [f"{output.get('ename', 'Error')}: {output.get('evalue', '')}"]
        return cell, resources
