"""A lab's mistake catalogue (``tests/mutants/<lab>.py``) turned into submissions for one batch autograde:
the reference, the untouched notebook, the catalogue's differently written, blind and warning answers, a
tampered notebook, crashing native code and its mutants grouped into as few rounds as possible. Used by
the grading tests (``tests/test_grading.py``) and ``benchmarks/grading.py``.

The catalogues are test data and stay in ``tests/mutants/``; :func:`load` reads one by its path, so
nothing has to put ``tests/`` on ``sys.path``.
"""

from __future__ import annotations

import importlib.util
import sys
from types import ModuleType

from grading.course import Course
from grading.labs import REPO

FOLDER = REPO / "tests" / "mutants"  # tests/mutants/<lab>.py: one catalogue per lab


def load(lab: str) -> ModuleType:
    """The catalogue module of ``lab`` (imported once, as ``mutants.<lab>``)."""
    name = f"mutants.{lab}"
    if name in sys.modules:
        return sys.modules[name]
    path = FOLDER / f"{lab}.py"
    if not path.is_file():
        raise FileNotFoundError(f"{lab} has no mistake catalogue: write {path.relative_to(REPO)} (see CONTRIBUTING.md)")
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


def mutate(source: str, old: str, new: str) -> str:
    """Replace ``old`` by ``new`` in a reference answer; fails loudly if the solution changed."""
    if old not in source:
        raise AssertionError(f"mutant anchor not found in the solution:\n{old}\n--- in ---\n{source}")
    return source.replace(old, new)


def mutant_rounds(catalogue) -> list[dict]:
    """Group a catalogue's mutants into as few submissions as possible: one mutant per graded answer
    per submission, never together with a mutant of an answer its test also calls (DEPENDS_ON)."""
    rounds: list[dict[str, tuple[str, list]]] = []
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


def full_marks_submissions(course: Course, catalogue) -> dict:
    """The submissions that must keep full marks: ``alternative`` (differently written answers),
    ``blind`` (answers written from the student notebook alone, ``BLIND = {grade_id: (what it
    revealed, source)}``; a question rewritten after its blind pass gets a new pass, and the old answers
    stay in ``BLIND_SUPERSEDED`` for the record, ungraded) and ``warns`` (correct answers that make a
    library warn, ``WARNS``)."""
    sets = {"alternative": catalogue.ALTERNATIVES,
            "blind": {} if getattr(catalogue, "BLIND_NOT_YET_GRADED", "") else
                     {gid: src for gid, (_, src) in getattr(catalogue, "BLIND", {}).items()},
            "warns": getattr(catalogue, "WARNS", {})}
    return {kind: course.submission({k: v.strip() for k, v in answers.items()})
            for kind, answers in sets.items() if answers}


def _edited(source: str, edits) -> str:
    for old, new in edits:
        source = mutate(source, old, new)
    return source


def catalogue_submissions(course: Course, catalogue, rounds, delete_test: str, edit_test: str) -> dict:
    """Every kind of submission for one batch autograde: the reference, the untouched student notebook,
    the catalogue's alternatives, a tampered notebook (``delete_test`` removed, ``edit_test`` emptied and
    given 100 points), the catalogue's ``CRASHES`` in one notebook (``crashes``) and one notebook per
    mutant round (``mutants<i>``)."""
    solutions = course.solution_sources()
    submissions = {
        "reference": course.submission(),
        "blank": course.submission(blank=True),
        **full_marks_submissions(course, catalogue),
    }
    tampered = course.submission()
    tampered.cells = [c for c in tampered.cells if c.metadata.get("nbgrader", {}).get("grade_id") != delete_test]
    for c in tampered.cells:
        if c.metadata.get("nbgrader", {}).get("grade_id") == edit_test:
            c.source = "pass"
            c.metadata["nbgrader"]["points"] = 100
    submissions["tampered"] = tampered
    if getattr(catalogue, "CRASHES", None):  # native code that crashes or hangs: costs only its question
        submissions["crashes"] = course.submission({gid: _edited(solutions[gid], edits)
                                                    for gid, (_, edits) in catalogue.CRASHES.items()})
    for i, r in enumerate(rounds):
        answers = {}
        for grade_id, (_, edits) in r.items():
            answers[grade_id] = _edited(solutions[grade_id], edits)
        submissions[f"mutants{i}"] = course.submission(answers)
    return submissions
