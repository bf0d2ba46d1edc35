"""nbgrader configuration for the course (run nbgrader from the repository root).

solutions/<lab>/<lab>.ipynb  ->  `nbgrader generate_assignment`  ->  labs/<lab>/<lab>.ipynb
"""

c = get_config()  # noqa: F821 (provided by nbgrader)

c.CourseDirectory.source_directory = "solutions"
c.CourseDirectory.release_directory = "labs"
c.CourseDirectory.submitted_directory = "submitted"
c.CourseDirectory.autograded_directory = "autograded"
c.CourseDirectory.feedback_directory = "feedback"

# The student notebooks carry no outputs (solutions/ keeps the reference outputs of a full run).
c.ClearOutput.enabled = True
c.ClearSolutions.code_stub = {"python": "# YOUR CODE HERE\nraise NotImplementedError()"}
c.ClearSolutions.text_stub = "YOUR ANSWER HERE"

# Every cell of a fast-profile lab runs in seconds; 120 s per cell bounds an infinite loop
# (a timed-out cell is interrupted and scores 0, the rest of the notebook is still graded).
c.Execute.timeout = 120
# Once the last cell has run, the kernel is killed rather than asked to exit: every output is in by then,
# and a kernel that loaded torch and the LLM takes 1 to 2.5 s to tear itself down, in every autograde.
c.Execute.shutdown_kernel = "immediate"
# A deleted or renamed test cell is put back from the source notebook and graded, not silently zeroed.
c.OverwriteCells.add_missing_cells = True

# The course's own preprocessors are in grading/feedback.py, next to this file. nbgrader's command line
# puts its working folder on sys.path, a Jupyter server (the formgrader, the validate button) does not:
# add this file's folder. A course folder holding a copy of this file (the grading workers', the tests')
# gets the repository on PYTHONPATH instead (grading/tools.py).
import os  # noqa: E402
import sys  # noqa: E402

_here = os.path.dirname(os.path.abspath(__file__))
if _here not in sys.path:
    sys.path.insert(0, _here)

# Feedback shows which tests passed and their points, never the hidden tests' code (nor tracebacks,
# which would print it): grading.feedback.HideHiddenTests runs before the HTML export.
from nbconvert.preprocessors import CSSHTMLHeaderPreprocessor  # noqa: E402
from nbgrader.preprocessors import GetGrades  # noqa: E402

from grading.feedback import HideHiddenTests, WarningsDoNotFail  # noqa: E402

c.GenerateFeedback.preprocessors = [GetGrades, HideHiddenTests, CSSHTMLHeaderPreprocessor]

# nbgrader scores a test cell 0 when it wrote to stderr: a correct answer that makes a library warn
# would lose its points. Right after execution, a graded cell's stderr becomes stdout marked
# "[warning]" (still shown in the autograded notebook and the feedback); a raised exception still fails.
from nbgrader.converters import Autograde  # noqa: E402
from nbgrader.preprocessors import Execute  # noqa: E402

_steps = list(Autograde.class_traits()["autograde_preprocessors"].default())
c.Autograde.autograde_preprocessors = _steps[: _steps.index(Execute) + 1] + [WarningsDoNotFail] \
    + _steps[_steps.index(Execute) + 1:]

# The gradebook: <course>/gradebook.db unless NBGRADER_DB_URL says otherwise, e.g. one PostgreSQL
# database shared by several graders (`python -m grading --db ...` sets it; see INSTRUCTORS.md).
if os.environ.get("NBGRADER_DB_URL"):
    c.CourseDirectory.db_url = os.environ["NBGRADER_DB_URL"]
    # nbgrader's default course id "" has no row in the course table: SQLite does not mind (foreign
    # keys off), PostgreSQL refuses every assignment. Name the course, as the graders do.
    from grading.gradebook import course_id

    c.CourseDirectory.course_id = course_id()
