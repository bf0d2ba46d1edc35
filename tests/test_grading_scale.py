"""Instructor grading at class scale (``python -m grading``, grading/): importing LMS exports, parallel
autograding that loses no grade (SQLite and a real PostgreSQL server shared by two graders), the
catalogue of hostile submissions (grading/hostile.py), feedback without hidden tests.

Everything but the real-lab test runs on the tiny synthetic lab of grading/synthetic.py.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
import zipfile
from pathlib import Path

import nbformat
import pytest
from nbgrader_harness import hidden_test_lines, html_text
from pg_server import Unavailable, postgres_server

from grading import cli, collect, sandbox, worker
from grading.course import Course
from grading.gradebook import normalize_url, read_scores
from grading.hostile import CASES, build, check
from grading.labs import REPO, discover
from grading.synthetic import CORRECT, HIDDEN_MARK, LAB, WRONG, release, student_notebook, synthetic_lab
from grading.tools import BIN, with_tools


@pytest.fixture(scope="module")
def synthetic(tmp_path_factory):
    root = tmp_path_factory.mktemp("synthetic")
    solutions = synthetic_lab(root)
    return solutions, release(solutions, root / "release")


def strong_sandbox() -> bool:
    ok, _ = sandbox.namespaces_available()
    return ok


def test_sandbox_isolates_kernels_here():
    """Where Linux namespaces are available the kernels get no network and a hidden file system (the
    hostile cases marked needs_sandbox run only then); elsewhere this says why it is skipped."""
    ok, why = sandbox.namespaces_available()
    if not ok:
        pytest.skip(f"no kernel isolation on this machine ({why}): hostile cases that need it are not run")
    with tempfile.TemporaryDirectory() as tmp:
        text = cli.describe_sandbox(cli.sandbox_config(Path(tmp), Path(tmp), []), worker.Limits())
    assert "no network" in text and "hidden" in text


# ---- importing submissions ------------------------------------------------------------------------

def _nb(path: Path, mtime: float | None = None):
    path.parent.mkdir(parents=True, exist_ok=True)
    nbformat.write(nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell("x = 1")]), path)
    if mtime:
        os.utime(path, (mtime, mtime))


def test_collect_recognises_nbgrader_canvas_and_moodle_layouts(tmp_path):
    labs = discover()
    subs = tmp_path / "subs"
    _nb(subs / "submitted" / "alice" / "lab1_pruning" / "lab1_pruning.ipynb")
    _nb(subs / "bob" / "lab2_quantization" / "Copy of my lab.ipynb")
    _nb(subs / "smithjane_12345_67890_lab1_pruning.ipynb", mtime=1.7e9)
    _nb(subs / "smithjane_LATE_12345_67999_lab1_pruning-1.ipynb", mtime=1.8e9)
    _nb(subs / "Jane Doe_555_assignsubmission_file_" / "Lab 5.ipynb")
    _nb(subs / "notes.ipynb")
    (subs / ".ipynb_checkpoints").mkdir()
    _nb(subs / ".ipynb_checkpoints" / "alice_lab1-checkpoint.ipynb")
    roster = tmp_path / "roster.csv"
    roster.write_text("student_id,name,canvas_id,moodle_id\njsmith,Jane Smith,12345,\njdoe,Jane Doe,,555\n")

    found = collect.collect(subs, labs, collect.Roster(roster), tmp_path / "scratch")
    got = {(s.student, s.lab): s for s in found.submissions}
    assert set(got) == {("alice", "lab1_pruning"), ("bob", "lab2_quantization"), ("jsmith", "lab1_pruning"),
                        ("jdoe", "lab5_llm_deployment")}
    assert any("renamed" in n for n in got["bob", "lab2_quantization"].notes)
    newest = got["jsmith", "lab1_pruning"]
    assert newest.path.name.startswith("smithjane_LATE") and any("LATE" in n for n in newest.notes)
    assert any("older, not graded" in n for n in newest.notes)
    assert any("alice" in n for n in got["alice", "lab1_pruning"].notes)  # not on the roster: said so
    assert len(found.skipped) == 1 and "notes.ipynb" in found.skipped[0]

    # the same as a zip, without a roster: the LMS login / participant id is the student id
    archive = tmp_path / "export.zip"
    with zipfile.ZipFile(archive, "w") as z:
        for p in subs.rglob("*.ipynb"):
            z.write(p, p.relative_to(subs))
    found = collect.collect(archive, labs, collect.Roster(None), tmp_path / "scratch2")
    assert {(s.student, s.lab) for s in found.submissions} == {
        ("alice", "lab1_pruning"), ("bob", "lab2_quantization"), ("smithjane", "lab1_pruning"),
        ("555", "lab5_llm_deployment")}

    evil = tmp_path / "evil.zip"
    with zipfile.ZipFile(evil, "w") as z:
        z.writestr("../../outside.ipynb", "{}")
    with pytest.raises(SystemExit, match="outside the folder"):
        collect.collect(evil, labs, collect.Roster(None), tmp_path / "scratch3")
    bad_roster = tmp_path / "bad.csv"
    bad_roster.write_text("id,name\n1,x\n")
    with pytest.raises(SystemExit, match="student_id"):
        collect.Roster(bad_roster)


def test_labs_are_discovered_not_listed(tmp_path):
    for lab in ("lab3_nas", "lab9_new"):
        _nb(tmp_path / lab / f"{lab}.ipynb")
    (tmp_path / "notes").mkdir()
    assert discover(tmp_path) == ["lab3_nas", "lab9_new"]
    assert set(discover()) >= {"lab1_pruning", "lab5_llm_deployment"}


def test_cli_explains_itself():
    run = dict(cwd=REPO, env=with_tools(), capture_output=True, text=True, timeout=120)
    out = subprocess.run([sys.executable, "-m", "grading", "--help"], **run)
    assert out.returncode == 0 and "--db" in out.stdout and "--workers" in out.stdout
    out = subprocess.run([sys.executable, "-m", "grading", "/nonexistent"], **run)
    assert out.returncode == 2 and "folder or zip" in out.stderr
    out = subprocess.run([sys.executable, "-m", "grading", "--check-sandbox"], **run)
    assert out.returncode == 0 and "memory" in out.stdout


# ---- parallel grading loses nothing -------------------------------------------------------------

def _pattern(i: int) -> tuple[str | None, str | None]:
    """Student i's answers: four kinds of mistakes spread over the class."""
    add = CORRECT["add"] if i % 2 else WRONG["add"]
    mul = CORRECT["mul"] if i % 3 else (None if i % 2 else WRONG["mul"])
    return add, mul


def _write_class(folder: Path, rel: Path, students: range):
    for i in students:
        add, mul = _pattern(i)
        d = folder / f"s{i:02d}" / LAB
        d.mkdir(parents=True)
        nbformat.write(student_notebook(rel, add=add, mul=mul), d / f"{LAB}.ipynb")


def _nbgrader_sequential(solutions: Path, classroom: Path, root: Path) -> dict:
    """Plain ``nbgrader autograde`` of the whole class in one process: the reference."""
    root.mkdir()
    shutil.copy(REPO / "nbgrader_config.py", root)
    shutil.copytree(solutions, root / "solutions")
    shutil.copytree(classroom, root / "submitted")
    for args in (["generate_assignment", LAB, "--force"], ["autograde", LAB, "--force"]):
        proc = subprocess.run([str(BIN / "nbgrader"), *args], cwd=root, env=with_tools(), capture_output=True,
                              text=True, timeout=900)
        assert proc.returncode == 0, proc.stderr[-3000:]
    return read_scores(f"sqlite:///{root / 'gradebook.db'}", [LAB])


def test_two_parallel_graders_match_sequential_nbgrader(synthetic, tmp_path):
    """8 submissions (the four kinds of mistakes, twice), two graders (separate course folders, as on two
    machines) with 4 workers each, all 8 kernels at once on one shared gradebook (PostgreSQL when a server
    can be started here, else SQLite): every score equals plain sequential nbgrader's, none lost, none
    counted twice. (benchmarks/grading.py grades a class of 40 real-lab notebooks.)"""
    solutions, rel = synthetic
    halves = [tmp_path / "half0", tmp_path / "half1"]
    _write_class(halves[0], rel, range(0, 4))
    _write_class(halves[1], rel, range(4, 8))
    everyone = tmp_path / "everyone"
    for h in halves:
        shutil.copytree(h, everyone, dirs_exist_ok=True)
    reference = _nbgrader_sequential(solutions, everyone, tmp_path / "sequential")
    assert len(reference) == 8

    def graders(db_url, n_graders):
        folders = halves if n_graders == 2 else [everyone]
        procs = [subprocess.Popen([sys.executable, "-m", "grading", str(f), "--course", str(tmp_path / f"course{k}"),
                                   "--db", db_url, "--workers", "4", "--no-feedback", "--solutions", str(solutions)],
                                  cwd=REPO, env=with_tools(),
                                  stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
                 for k, f in enumerate(folders)]
        for p in procs:
            out, _ = p.communicate(timeout=1200)
            assert p.returncode == 0, out[-3000:]
        return read_scores(normalize_url(db_url), [LAB])

    try:
        with postgres_server() as url:
            stored = graders(url, 2)
    except Unavailable as why:
        print(f"PostgreSQL unavailable ({why}): one grader, 4 workers, SQLite")
        stored = graders(f"sqlite:///{tmp_path / 'gradebook.db'}", 1)
    assert set(stored) == set(reference)
    for key, questions in reference.items():
        assert {q: s.auto_score for q, s in stored[key].items()} == {q: s.auto_score for q, s in questions.items()}, key
        add, mul = _pattern(int(key[0][1:]))
        assert stored[key]["test_add"].auto_score == (2.0 if add == CORRECT["add"] else 0.0)
        assert stored[key]["test_mul"].auto_score == (3.0 if mul == CORRECT["mul"] else 0.0)


# ---- hostile submissions --------------------------------------------------------------------------

def test_hostile_catalogue(synthetic, tmp_path, monkeypatch):
    """Every catalogued hostile or broken submission gets its expected outcome in ONE parallel batch,
    the honest control keeps full marks, the batch finishes, and the feedback shows no hidden test."""
    solutions, rel = synthetic
    cases = [c for c in CASES if strong_sandbox() or not c.needs_sandbox]
    course = tmp_path / "course"
    monkeypatch.setenv("GRADING_TEST_SECRET", "do-not-leak")
    monkeypatch.setenv("NBGRADER_DB_URL", f"sqlite:///{course / 'gradebook.db'}")  # must not reach kernels
    paths = {"solutions": str(solutions), "course": str(course), "repo": str(REPO)}
    build(tmp_path / "subs", rel, paths, cases)
    hostname = Path("/etc/hostname").read_bytes() if Path("/etc/hostname").exists() else None
    start = time.time()
    run = cli.grade(tmp_path / "subs", course, workers=4, solutions=solutions, quiet=True,
                    limits=worker.Limits(wall_s=30, memory_mb=4096, processes=256))
    assert time.time() - start < 600
    assert not run.lost
    results = {r.student: r for r in run.results}
    assert set(results) == {c.name for c in cases}
    wrong = [w for c in cases if (w := check(c, results[c.name], run.stored[(c.name, LAB)]))]
    assert not wrong, "\n".join(wrong)
    if hostname is not None:
        assert Path("/etc/hostname").read_bytes() == hostname
    for graded in (course / "autograded").glob(f"*/{LAB}/{LAB}.ipynb"):
        assert not graded.is_symlink()
        nbformat.read(graded, as_version=4)  # a notebook, whatever the kernel did in its folder
    summary = (course / "summary.md").read_text()
    for case in cases:
        if case.status == "failed":
            assert f"- {case.name} / {LAB}: " in summary
    assert "Flagged for review" in summary and (course / "summary.png").stat().st_size > 10_000
    with open(course / "grades.csv") as f:
        rows = f.read().splitlines()
    assert len(rows) == 1 + 3 * len(cases)

    # feedback: points and visible checks, never the hidden tests
    hidden = hidden_test_lines(nbformat.read(solutions / LAB / f"{LAB}.ipynb", as_version=4))
    assert HIDDEN_MARK in hidden
    pages = sorted((course / "feedback").glob(f"*/{LAB}/{LAB}.html"))
    assert len(pages) == sum(c.status == "graded" for c in cases)
    for page in pages:
        text = html_text(page.read_text())
        assert not [h for h in hidden if h in text], page
    honest = html_text((course / "feedback" / "honest" / LAB / f"{LAB}.html").read_text())
    assert "[PASS] add(1, 2) == 3" in honest and "Score: 5.0 / 7.0" in honest


def test_regrade_one_student_keeps_manual_grades(synthetic, tmp_path):
    """Regrading one student (``--student``) touches only that student and keeps a grader's manual score."""
    from nbgrader.api import Gradebook

    solutions, rel = synthetic
    _write_class(tmp_path / "subs", rel, range(3))
    course = tmp_path / "course"
    cli.grade(tmp_path / "subs", course, workers=2, solutions=solutions, quiet=True, feedback=False)
    url = f"sqlite:///{course / 'gradebook.db'}"
    with Gradebook(url) as gb:
        gb.find_grade("why", LAB, LAB, "s01").manual_score = 1.5
        gb.db.commit()
    before = read_scores(url, [LAB])
    nb = student_notebook(rel, add=CORRECT["add"], mul=CORRECT["mul"])
    nbformat.write(nb, tmp_path / "subs" / "s00" / LAB / f"{LAB}.ipynb")  # s00 fixes its answers
    nbformat.write(nb, tmp_path / "subs" / "s01" / LAB / f"{LAB}.ipynb")
    run = cli.grade(tmp_path / "subs", course, workers=2, solutions=solutions, quiet=True, students=["s01"])
    assert [r.student for r in run.results] == ["s01"]
    after = read_scores(url, [LAB])
    assert after[("s00", LAB)] == before[("s00", LAB)]  # not regraded
    assert after[("s01", LAB)]["test_add"].auto_score == 2.0 and after[("s01", LAB)]["why"].score == 1.5
    assert (course / "feedback" / "s01" / LAB / f"{LAB}.html").exists()
    with open(course / "totals.csv") as f:
        assert [row.split(",")[0] for row in f.read().splitlines()[1:]] == ["s00", "s01", "s02"]  # the whole class


# ---- a real lab -------------------------------------------------------------------------------------

@pytest.mark.slow
def test_real_lab_reference_blank_and_feedback(tmp_path):
    """Lab 5 (the fastest to autograde) through the CLI: the reference gets every autograded point, the
    untouched notebook none, and no hidden-test line of solutions/ reaches any feedback page."""
    lab = "lab5_llm_deployment"
    (tmp_path / "gen").mkdir()
    course = Course(tmp_path / "gen", lab)
    subs = tmp_path / "subs"
    for student, nb in (("reference", course.submission()), ("blank", course.submission(blank=True))):
        (subs / student / lab).mkdir(parents=True)
        nbformat.write(nb, subs / student / lab / f"{lab}.ipynb")
    run = cli.grade(subs, tmp_path / "course", workers=2, quiet=True)
    assert not run.lost and all(r.status == "graded" for r in run.results)
    reference, blank = run.stored[("reference", lab)], run.stored[("blank", lab)]
    auto = [q for q, s in reference.items() if not s.needs_manual_grade]
    assert auto and all(reference[q].score == reference[q].max_score for q in auto)
    assert all(blank[q].score == 0 for q in auto)
    hidden = set()
    for src in (REPO / "solutions").glob("*/*.ipynb"):
        hidden |= hidden_test_lines(nbformat.read(src, as_version=4))
    pages = list((tmp_path / "course" / "feedback").rglob("*.html"))
    assert len(pages) == 2
    for page in pages:
        text = html_text(page.read_text())
        assert not [h for h in hidden if h in text], page
    assert json.loads(json.dumps(run.sandbox))  # the run says how kernels were boxed
