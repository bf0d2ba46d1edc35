"""A lab's mistake catalogue (``tests/mutants/<lab>.py``) as one typed record, and turned into submissions
for one batch autograde: the reference, the untouched notebook, the catalogue's differently written, blind
and warning answers (the alternatives' notebook also tampered with), crashing native code and its mutants
grouped into as few rounds as possible. Used by the grading tests (``tests/test_grading.py``,
``tests/test_registry.py``) and ``benchmarks/grading.py``.

A catalogue is a module of upper-case constants (see :class:`Catalogue` for what each holds) and, beside it,
``<lab>.toml``: its ``MUTANTS`` table, which is data (a mistake's name and the edits that make it), not code.
They become the fields of a :class:`Catalogue`, under the same names, so that a misspelt constant
(``ALTERNATIVE``) is an error instead of a silent default. The catalogues are test data and stay in
``tests/mutants/``; :func:`load` reads one by its path, so nothing has to put ``tests/`` on ``sys.path``.
"""

from __future__ import annotations

import copy
import dataclasses
import importlib.util
import sys
import typing
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType
from typing import Optional, Union

from grading.course import Course
from grading.labs import REPO, parts, read_toml


class CatalogueError(ValueError):
    """A catalogue module that does not describe a catalogue (the message names the lab and the constant)."""


@dataclass(frozen=True)
class Catalogue:
    """One lab's catalogue. The field names are the module's constants; ``_private`` names of the module
    (shared anchors, helper sets) are its own business and are not read."""

    LAB: str  # the lab id, the module's own file name
    AUTOGRADED_POINTS: Union[int, float]  # what the reference scores under nbgrader (the rest is graded by hand)
    TAMPER: dict  # {"delete": a test cell removed from a submission, "edit": one emptied and given 100 points}
    TEST_OF: dict  # graded answer (grade_id) -> the test cell that grades it: every graded answer
    MUTANTS: dict  # graded answer -> [(what the mistake is, [(old, new), ...] edits of the reference answer)]
    ALTERNATIVES: dict  # graded answer -> a correct but differently written answer (keeps full marks)
    LOOP_ANSWER: Optional[str] = None  # an answer an infinite loop is put into (its cell times out)
    DEPENDS_ON: dict = field(default_factory=dict)  # answer -> answers its test also calls (never one round)
    BONUS_POINTS: Union[int, float] = 0  # autograded points beyond the 100
    BLIND: dict = field(default_factory=dict)  # answer -> (what the blind pass revealed, its source)
    BLIND_SUPERSEDED: dict = field(default_factory=dict)  # earlier blind answers of rewritten questions (ungraded)
    WARNS: dict = field(default_factory=dict)  # answer -> (what warns, edits of the reference): still correct
    CRASHES: dict = field(default_factory=dict)  # answer -> (name, edits): native code that crashes or hangs
    # ids of plain given cells (heavy, ungraded: fine-tuning, scans, timing loops) that the submissions
    # checked on a few questions leave out: mutant rounds, warning answers, looper, crashes (see trimmed())
    TRIMMED_CELLS: tuple = ()

    @classmethod
    def from_module(cls, module: ModuleType, lab: str, tables: dict | None = None) -> Catalogue:
        """The record of a catalogue module and of ``tables`` (constants read from its data files, e.g.
        ``{"MUTANTS": ...}``); :class:`CatalogueError` for an unknown, missing, doubly defined or mistyped
        constant, naming it."""
        fields = {f.name: f for f in dataclasses.fields(cls)}
        constants = {name: value for name, value in vars(module).items() if name.isupper() and not name.startswith("_")}
        twice = sorted(set(constants) & set(tables or {}))
        if twice:
            raise CatalogueError(f"{lab}: {', '.join(twice)} is defined both in the module and in its data file")
        constants.update(tables or {})
        unknown = sorted(set(constants) - set(fields))
        if unknown:
            raise CatalogueError(f"{lab}: {', '.join(unknown)} is not a catalogue constant (known: "
                                 f"{', '.join(fields)}; private names start with _)")
        missing = [name for name, f in fields.items() if name not in constants and _required(f)]
        if missing:
            hint = f" (MUTANTS lives in {lab}.toml, beside the module)" if "MUTANTS" in missing else ""
            raise CatalogueError(f"{lab}: the catalogue defines no {', '.join(missing)}{hint}")
        for name, value in constants.items():
            if not isinstance(value, _types(name)):
                raise CatalogueError(f"{lab}: {name} is a {type(value).__name__}, not {fields[name].type}")
        record = cls(**constants)
        problems = record.problems(lab)
        if problems:
            raise CatalogueError(f"{lab}: " + "; ".join(problems))
        return record

    def problems(self, lab: str) -> list[str]:
        """What does not fit together: the lab's name, the answers each table names, the pairs it holds."""
        answers, tests = set(self.TEST_OF), set(self.TEST_OF.values())
        out = [] if self.LAB == lab else [f"LAB is {self.LAB!r}, the file says {lab!r}"]
        if set(self.TAMPER) != {"delete", "edit"} or not set(self.TAMPER.values()) <= tests:
            out.append(f"TAMPER must name a test cell to delete and one to edit: {self.TAMPER}")
        if self.LOOP_ANSWER is not None and self.LOOP_ANSWER not in answers:
            out.append(f"LOOP_ANSWER {self.LOOP_ANSWER!r} is not a graded answer of TEST_OF")
        named = {"MUTANTS": self.MUTANTS, "ALTERNATIVES": self.ALTERNATIVES, "DEPENDS_ON": self.DEPENDS_ON,
                 "BLIND": self.BLIND, "BLIND_SUPERSEDED": self.BLIND_SUPERSEDED, "WARNS": self.WARNS,
                 "CRASHES": self.CRASHES,
                 "the values of DEPENDS_ON": {a for deps in self.DEPENDS_ON.values() for a in deps}}
        for name, grade_ids in named.items():
            strangers = sorted(set(grade_ids) - answers)
            if strangers:
                out.append(f"{name} names answers that TEST_OF does not grade: {strangers}")
        # what the grading tests unpack (BLIND_SUPERSEDED is kept for the record, in either form)
        pairs = {"BLIND": self.BLIND.values(), "CRASHES": self.CRASHES.values(), "WARNS": self.WARNS.values(),
                 "MUTANTS": [m for ms in self.MUTANTS.values() for m in ms]}
        for name, values in pairs.items():
            if not all(isinstance(v, tuple) and len(v) == 2 for v in values):
                out.append(f"{name} holds entries that are not (text, answer-or-edits) pairs")
        return out


def _required(f: dataclasses.Field) -> bool:
    return f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING


def _types(name: str) -> tuple:
    """The classes a field's annotation allows (``Optional[str]``: str or None)."""
    hint = typing.get_type_hints(Catalogue)[name]
    return getattr(hint, "__args__", (hint,))  # Union / Optional list their classes; a class is itself


def _module(lab: str, path: Path) -> ModuleType:
    """The catalogue module at ``path``, imported once (as ``mutants.<lab>``)."""
    name = f"mutants.{lab}"
    if name in sys.modules and getattr(sys.modules[name], "__file__", None) == str(path):
        return sys.modules[name]
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


def read_mutants(path: Path) -> dict:
    """A ``MUTANTS`` table from its TOML file: one ``[[answer]]`` table per mistake, with ``mistake`` (what
    it is) and ``edits`` (``[old, new]`` pairs), as ``{answer: [(mistake, [(old, new), ...]), ...]}``."""
    try:
        table = read_toml(path)
    except ValueError as exc:  # tomllib.TOMLDecodeError
        raise CatalogueError(f"{path}: {exc}") from None
    out = {}
    for answer, mistakes in table.items():
        if not isinstance(mistakes, list):
            raise CatalogueError(f"{path.name}: {answer} must be an array of tables ([[{answer}]]), not a value")
        out[answer] = []
        for m in mistakes:
            edits = m.get("edits")
            if set(m) != {"mistake", "edits"} or not isinstance(edits, list) or not all(
                    isinstance(e, list) and len(e) == 2 and all(isinstance(x, str) for x in e) for e in edits):
                raise CatalogueError(f"{path.name}: a [[{answer}]] table holds `mistake` (a string) and `edits` "
                                     f"([old, new] string pairs) and nothing else; got {m}")
            out[answer].append((m["mistake"], [tuple(e) for e in edits]))
    return out


def load(lab: str, root: Path = REPO) -> Catalogue:
    """The catalogue of ``lab`` (``root/tests/mutants/<lab>.py`` and its ``MUTANTS``, ``<lab>.toml``), checked."""
    path = parts(lab, root)["mistake catalogue"]
    if not path.is_file():
        raise FileNotFoundError(f"{lab} has no mistake catalogue: write {path.relative_to(root)} (see CONTRIBUTING.md)")
    table = parts(lab, root)["mutant table"]
    tables = {"MUTANTS": read_mutants(table)} if table.is_file() else {}
    return Catalogue.from_module(_module(lab, path), lab, tables)


def mutate(source: str, old: str, new: str) -> str:
    """Replace ``old`` by ``new`` in a reference answer; fails loudly if the solution changed."""
    if old not in source:
        raise AssertionError(f"mutant anchor not found in the solution:\n{old}\n--- in ---\n{source}")
    return source.replace(old, new)


def mutant_rounds(catalogue, tries: int = 500) -> list[dict]:
    """Group a catalogue's mutants into as few submissions as possible: one mutant per graded answer
    per submission, never together with a mutant of an answer its test also calls (DEPENDS_ON: a lost
    point must be that mutant's own). Each answer needs as many rounds as it has mutants, none shared with
    an answer it clashes with; first-fit over a few answer orders (the catalogue's, the most mutants first,
    the most constrained first, then seeded shuffles) keeps the order that needs the fewest rounds (the
    same every run). Each round is ``{grade_id: (name, edits)}`` in the catalogue's order of answers."""
    import random

    answers = list(catalogue.MUTANTS)
    need = {a: len(catalogue.MUTANTS[a]) for a in answers}
    clashes = {a: {b for b in answers if b != a and (b in catalogue.DEPENDS_ON.get(a, ())
                                                      or a in catalogue.DEPENDS_ON.get(b, ()))} for a in answers}

    def first_fit(order):  # answer -> the rounds its mutants go to, in the order of its mutants
        taken = {}
        for a in order:
            busy = set().union(*(taken.get(b, ()) for b in clashes[a]))
            taken[a] = [r for r in range(sum(need.values())) if r not in busy][: need[a]]
        return taken

    orders = [answers, sorted(answers, key=lambda a: -need[a]),
              sorted(answers, key=lambda a: -(need[a] + sum(need[b] for b in clashes[a])))]
    rng = random.Random(0)
    for _ in range(tries):
        orders.append(rng.sample(answers, len(answers)))
    best = min((first_fit(order) for order in orders),
               key=lambda taken: max((r + 1 for rs in taken.values() for r in rs), default=0))
    rounds: list[dict[str, tuple[str, list]]] = [{} for _ in range(max((r + 1 for rs in best.values() for r in rs),
                                                                        default=0))]
    for a in answers:
        for (name, edits), r in zip(catalogue.MUTANTS[a], best[a]):
            rounds[r][a] = (name, edits)
    return rounds


def full_marks_submissions(course: Course, catalogue) -> dict:
    """The submissions that must keep full marks: ``alternative`` (differently written answers),
    ``blind`` (answers written from the student notebook alone, ``BLIND = {grade_id: (what it
    revealed, source)}``; a question rewritten after its blind pass gets a new pass, and the old answers
    stay in ``BLIND_SUPERSEDED`` for the record, ungraded) and ``warns`` (the reference edited into a
    correct answer that makes a library warn, ``WARNS = {grade_id: (what warns, edits)}``)."""
    warns = getattr(catalogue, "WARNS", {})
    solutions = course.solution_sources() if warns else {}
    sets = {"alternative": catalogue.ALTERNATIVES,
            "blind": {gid: src for gid, (_, src) in getattr(catalogue, "BLIND", {}).items()},
            "warns": {gid: _edited(solutions[gid], edits) for gid, (_, edits) in warns.items()}}
    return {kind: course.submission({k: v.strip() for k, v in answers.items()})
            for kind, answers in sets.items() if answers}


def trimmed(nb, cell_ids, lab: str = "?"):
    """``nb`` without the cells ``cell_ids`` (a catalogue's ``TRIMMED_CELLS``). Only plain given cells
    may go (no nbgrader metadata: nbgrader would restore a graded or locked cell). A submission that is
    checked on some questions only (a mutant round: "does this answer lose points?") need not run the
    notebook's heavy ungraded work; the ``trimmed`` control, the reference trimmed the same way, must keep
    full marks on every question, which proves that no graded test needs what was left out."""
    ids = {c.get("id"): c for c in nb.cells}
    unknown = sorted(set(cell_ids) - set(ids))
    if unknown:
        raise CatalogueError(f"{lab}: TRIMMED_CELLS names cells the notebook does not have: {unknown}")
    marked = sorted(i for i in cell_ids if ids[i].metadata.get("nbgrader") or ids[i].cell_type != "code")
    if marked:
        raise CatalogueError(f"{lab}: TRIMMED_CELLS may name only plain given code cells, not {marked}")
    out = copy.deepcopy(nb)
    out.cells = [c for c in out.cells if c.get("id") not in set(cell_ids)]
    return out


# Rough relative run times of a batch's submissions, so that its parallel workers finish together: a full
# notebook 1, a trimmed one less; the crashes wait out a native call's deadline (helpers.native: 20 s).
FULL_COST, TRIMMED_COST, WAIT_COST = 1.0, 0.4, {"crashes": 0.4}

# The looper is graded in a process of its own with this cell timeout instead of nbgrader_config.py's
# 120 s (which bounds a class's slowest honest cell): the same interrupt, the same restored notebook, a
# third of a minute of a spinning core instead of two. A trimmed fast-profile cell takes a few seconds.
LOOPER_CELL_TIMEOUT = 30


def submission_args(names) -> dict:
    """nbgrader options of the submissions that :func:`catalogue_submissions` wants graded on their own
    (``Course.autograde(own_args=)``): the looper, with :data:`LOOPER_CELL_TIMEOUT`."""
    return {name: [f"--Execute.timeout={LOOPER_CELL_TIMEOUT}"] for name in names if name == "looper"}


def runs_trimmed(name: str) -> bool:
    """Whether submission ``name`` of :func:`catalogue_submissions` leaves out ``TRIMMED_CELLS``: those
    checked on some questions only (and the control); never the reference, alternatives or blind answers."""
    return name in ("warns", "crashes", "looper", "trimmed") or name.startswith("mutants")


def _edited(source: str, edits) -> str:
    for old, new in edits:
        source = mutate(source, old, new)
    return source


def looping(source: str) -> str:
    """An answer that never returns: ``while True: pass`` at the top of its solution."""
    return mutate(source, "    ### BEGIN SOLUTION\n", "    ### BEGIN SOLUTION\n    while True:\n        pass\n")


def catalogue_submissions(course: Course, catalogue, rounds, delete_test: str, edit_test: str) -> dict:
    """Every kind of submission for one batch autograde: the reference, the untouched student notebook,
    the catalogue's alternatives, tampered (``delete_test`` removed, ``edit_test`` emptied and given 100
    points: both must be put back and graded; the alternatives' notebook carries the tampering, one
    notebook fewer to run, since restored tests give it the reference's scores), the catalogue's
    ``CRASHES`` in one notebook (``crashes``), an infinite loop in ``LOOP_ANSWER`` (``looper``) and one
    notebook per mutant round (``mutants<i>``). With ``TRIMMED_CELLS`` these and ``warns`` leave those
    cells out, and ``trimmed`` (the reference, trimmed) is their control; the reference, the alternatives
    and the blind answers run the whole notebook, as a student's does. :func:`submission_costs` weighs them."""
    solutions = course.solution_sources()

    submissions = {
        "reference": course.submission(),
        "blank": course.submission(blank=True),
        **full_marks_submissions(course, catalogue),
    }
    tampered = submissions["alternative"]
    tampered.cells = [c for c in tampered.cells if c.metadata.get("nbgrader", {}).get("grade_id") != delete_test]
    for c in tampered.cells:
        if c.metadata.get("nbgrader", {}).get("grade_id") == edit_test:
            c.source = "pass"
            c.metadata["nbgrader"]["points"] = 100
    if getattr(catalogue, "CRASHES", None):  # native code that crashes or hangs: costs only its question
        submissions["crashes"] = course.submission({gid: _edited(solutions[gid], edits)
                                                    for gid, (_, edits) in catalogue.CRASHES.items()})
    if getattr(catalogue, "LOOP_ANSWER", None):
        answer = catalogue.LOOP_ANSWER
        submissions["looper"] = course.submission({answer: looping(solutions[answer])})
    cells = getattr(catalogue, "TRIMMED_CELLS", ())
    if cells:
        submissions["trimmed"] = course.submission()
    for i, r in enumerate(rounds):
        answers = {}
        for grade_id, (_, edits) in r.items():
            answers[grade_id] = _edited(solutions[grade_id], edits)
        submissions[f"mutants{i}"] = course.submission(answers)
    if cells:  # (warns too: a warning is handled, or not, in the graded cell itself)
        submissions = {name: trimmed(nb, cells, course.lab) if runs_trimmed(name) else nb
                       for name, nb in submissions.items()}
    return submissions


def submission_costs(catalogue, names) -> dict:
    """Rough relative run times of :func:`catalogue_submissions`' notebooks (``Course.autograde(costs=)``)."""
    partial = bool(getattr(catalogue, "TRIMMED_CELLS", ()))

    def cost(name):
        base = TRIMMED_COST if partial and runs_trimmed(name) else FULL_COST
        return base + WAIT_COST.get(name, 0)

    return {name: cost(name) for name in names}
