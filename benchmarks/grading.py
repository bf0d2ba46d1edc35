"""Grading at class scale: N fast-profile submissions of one real lab autograded by `python -m grading`
with 1 worker and with every core, the hostile catalogue (grading/hostile.py) on the synthetic
lab, the grades compared between the two runs (a lost or changed grade counts in lost_grades), and
what one autograde of each lab's reference costs (``per_lab_seconds``: one nbgrader process, every core;
the median of three runs, each in ``per_lab_runs``).

    python benchmarks/grading.py --json benchmarks/results/grading.json [--lab lab5_llm_deployment] [--n 40]
    python benchmarks/grading.py --json benchmarks/results/grading.json --per-lab-only   # that entry alone

The submissions mix the reference, the untouched notebook and the lab's catalogued mistakes
(tests/mutants/<lab>.py). Throughput counts the autograding phase (the import of the submissions, the
lab's template and the reports are minutes-independent overheads, printed separately).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

from common import REPO, Goal, machine, print_table, write_json

sys.path.insert(0, str(REPO))  # grading/ (the course driver, the catalogues' submissions, the synthetic lab)

import nbformat  # noqa: E402

from grading import catalogue, cli, sandbox, worker  # noqa: E402
from grading.course import Course  # noqa: E402
from grading.hostile import CASES, LAB, build, check  # noqa: E402
from grading.labs import discover  # noqa: E402
from grading.synthetic import release as release_synthetic  # noqa: E402
from grading.synthetic import synthetic_lab  # noqa: E402

GOALS = {
    "speedup": Goal(">=", 1.7, "x"),
    "hostile.handled": Goal("==", "hostile.total"),
    "lost_grades": Goal("==", 0),
    **{f"per_lab_seconds.{lab}": Goal("<=", 30, "s") for lab in discover()},
}


def class_of(lab: str, n: int, root: Path) -> Path:
    """``n`` submissions in nbgrader layout: the reference, the untouched notebook, the catalogue's
    alternatives and mutant rounds, repeated."""
    (root / "course-gen").mkdir()
    course = Course(root / "course-gen", lab)
    try:
        mistakes = catalogue.load(lab)
        kinds = list(catalogue.catalogue_submissions(course, mistakes, catalogue.mutant_rounds(mistakes),
                                                     mistakes.TAMPER["delete"], mistakes.TAMPER["edit"]).values())
    except FileNotFoundError:  # a lab without a catalogue yet (tests/test_registry.py fails): reference and blank
        kinds = [course.submission(), course.submission(blank=True)]
    folder = root / "class"
    for i in range(n):
        d = folder / f"student{i:03d}" / lab
        d.mkdir(parents=True)
        nbformat.write(kinds[i % len(kinds)], d / f"{lab}.ipynb")
    return folder


def hostile(root: Path, workers: int) -> dict:
    solutions = synthetic_lab(root)
    rel = release_synthetic(solutions, root / "rel")
    strong, _ = sandbox.namespaces_available()
    cases = [c for c in CASES if strong or not c.needs_sandbox]
    course = root / "course"
    build(root / "subs", rel, {"solutions": str(solutions), "course": str(course), "repo": str(REPO)}, cases)
    run = cli.grade(root / "subs", course, workers=workers, solutions=solutions, quiet=True, feedback=False,
                    limits=worker.Limits(wall_s=30, memory_mb=4096))
    results = {r.student: r for r in run.results}
    wrong = {c.name: w for c in cases if (w := check(c, results[c.name], run.stored[(c.name, LAB)]))}
    for w in wrong.values():
        print("NOT HANDLED:", w)
    hostile_cases = [c for c in cases if c.name != "honest"]  # "honest" is the control
    return {"total": sum(c.name != "honest" for c in CASES), "run": len(hostile_cases),
            "handled": sum(c.name not in wrong for c in hostile_cases), "control_ok": "honest" not in wrong,
            "not_handled": list(wrong.values()), "skipped_without_sandbox": [c.name for c in CASES if c not in cases],
            "seconds": round(run.seconds, 1)}


def per_lab_seconds(root: Path, repeats: int = 3) -> tuple[dict, dict]:
    """Seconds of one ``nbgrader autograde`` of each lab's reference submission (fast profile, every core:
    what one student's notebook costs a grader, and the unit of the grading tests' batches): the median of
    ``repeats`` runs taken in turn, lab after lab (a shared machine's speed drifts between runs minutes apart;
    the turns spread a slow phase over every lab). Returns ``(medians, every run)``."""
    courses = {}
    for lab in discover():
        (root / lab).mkdir(parents=True)
        courses[lab] = Course(root / lab, lab)
        courses[lab].generate()  # the release, once per class: not part of one submission's cost
    runs = {lab: [] for lab in courses}
    for turn in range(repeats):
        for lab, course in courses.items():
            shutil.rmtree(course.root / "submitted", ignore_errors=True)  # grade this turn's submission alone
            start = time.perf_counter()
            scores = course.autograde({f"reference{turn}": course.submission()})
            runs[lab].append(round(time.perf_counter() - start, 1))
            points = sum(s for s, _ in scores[f"reference{turn}"].values())
            print(f"{lab}: one autograde {runs[lab][-1]:.1f} s ({points:g} points), turn {turn + 1} of {repeats}")
    return {lab: statistics.median(times) for lab, times in runs.items()}, runs


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--json", type=Path)
    p.add_argument("--lab", default="lab5_llm_deployment")
    p.add_argument("--n", type=int, default=40)
    p.add_argument("--workers", type=int, default=os.cpu_count())
    p.add_argument("--repeats", type=int, default=3, help="autogrades of each lab for per_lab_seconds (their median)")
    p.add_argument("--hostile-only", action="store_true",
                   help="rerun only the hostile catalogue and update its entry in the --json file")
    p.add_argument("--per-lab-only", action="store_true",
                   help="rerun only the per-lab autograde times and update their entry in the --json file")
    args = p.parse_args()
    if args.per_lab_only:
        results = json.loads(args.json.read_text())
        with tempfile.TemporaryDirectory() as tmp:
            results["per_lab_seconds"], results["per_lab_runs"] = per_lab_seconds(Path(tmp), args.repeats)
        return finish(results, args.json)
    if args.hostile_only:
        results = json.loads(args.json.read_text())
        with tempfile.TemporaryDirectory() as tmp:
            results["hostile"] = hostile(Path(tmp), args.workers)
        return finish(results, args.json)
    load_before = os.getloadavg()
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        subs = class_of(args.lab, args.n, root)
        runs = {}
        for name, workers in (("sequential", 1), ("parallel", args.workers)):
            start = time.time()
            runs[name] = cli.grade(subs, root / name, workers=workers, quiet=True, feedback=False)
            print(f"{name}: {workers} workers, {runs[name].seconds:.0f} s grading, "
                  f"{time.time() - start:.0f} s in all, load {os.getloadavg()[0]:.1f}")
        seq, par = runs["sequential"], runs["parallel"]
        lost = len(seq.lost) + len(par.lost) + sum(
            1 for key, grades in seq.stored.items() for q, g in grades.items()
            if key not in par.stored or q not in par.stored[key] or par.stored[key][q].auto_score != g.auto_score)
        lost += len(set(par.stored) ^ set(seq.stored))
        failed = sorted({(r.student, r.reason) for r in seq.results + par.results if r.status != "graded"})
        host = hostile(root / "hostile", args.workers)
        per_lab, per_lab_runs = per_lab_seconds(root / "per-lab", args.repeats)
    results = {
        "lab": args.lab, "submissions": args.n,
        "throughput": {"sequential_per_min": 60 * args.n / seq.seconds, "parallel_per_min": 60 * args.n / par.seconds,
                       "workers": args.workers, "sequential_seconds": round(seq.seconds, 1),
                       "parallel_seconds": round(par.seconds, 1)},
        "speedup": seq.seconds / par.seconds,
        "hostile": host,
        "lost_grades": lost,
        "per_lab_seconds": per_lab,
        "per_lab_runs": per_lab_runs,
        "failed_submissions": [f"{s}: {r}" for s, r in failed],
        "sandbox": par.sandbox,
        "load_average": {"before": [round(x, 2) for x in load_before],
                         "after": [round(x, 2) for x in os.getloadavg()]},
        "run": {"profile": "fast", "notebook_seconds": round(seq.seconds + par.seconds), "machine": machine()},
    }
    return finish(results, args.json)


def finish(results: dict, path: Path | None) -> int:
    met = print_table(results, GOALS)
    host = results["hostile"]
    met = met and host["handled"] == host["run"] and host.get("control_ok", True)
    write_json(results, path)
    print("every target met" if met else "some targets are NOT met")
    return 0 if met else 1


if __name__ == "__main__":
    sys.exit(main())
