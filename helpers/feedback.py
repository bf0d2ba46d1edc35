"""Feedback for students without the hidden tests (an nbgrader preprocessor; see nbgrader_config.py).

``nbgrader generate_feedback`` renders the *autograded* notebook, in which the hidden tests have been
put back into every test cell, and an error's traceback prints the source lines around the failing
``assert``. :class:`HideHiddenTests` runs before the HTML export and, in each graded test cell, cuts
the hidden-test region out of the source (leaving a one-line note) and reduces error tracebacks to the
exception's type and message. Students still see which tests passed or failed and their points.
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


class HideHiddenTests(NbGraderPreprocessor):
    """Remove hidden-test source and error tracebacks from graded test cells before feedback is rendered."""

    def preprocess_cell(self, cell, resources, index):
        if cell.cell_type == "code" and utils.is_grade(cell) and not utils.is_solution(cell):
            cell.source, _ = strip_hidden_region(cell.source)
            for output in cell.get("outputs", []):
                if output.get("output_type") == "error":
                    output["traceback"] = [f"{output.get('ename', 'Error')}: {output.get('evalue', '')}"]
        return cell, resources
