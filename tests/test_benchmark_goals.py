"""The benchmarks' goal table (benchmarks/common.py): each goal is written once, as a record, and both its
text and its check come from it; every number a run recorded is shown."""

import importlib.util
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def load(path: Path, name: str = ""):
    """A benchmark module by its path (benchmarks/ is not put on sys.path: its grading.py would hide grading/)."""
    spec = importlib.util.spec_from_file_location(name or f"benchmark_{path.stem}", path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


common = sys.modules.get("common") or load(ROOT / "benchmarks" / "common.py", "common")  # as the scripts import it
Goal = common.Goal

RESULTS = {"a": {"speedup": 2.5, "drop": 0.7, "target": 90.0, "accuracy": 90.4}, "n": 7, "flag": True,
           "names": ["x"], "run": {"profile": "full", "notebook_seconds": 60,
                                   "machine": {"cpu": "test", "cores": 2, "torch_threads": 2}}}


def table(goals, check=True, results=RESULTS):
    import contextlib
    import io

    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        met = common.print_table(results, goals, check=check)
    return met, out.getvalue()


def test_every_recorded_number_is_shown_and_nothing_else():
    _, text = table({})
    for key in ("a.speedup", "a.drop", "a.target", "a.accuracy", "n"):
        assert key in text
    assert "flag" not in text and "names" not in text and "notebook_seconds" not in text.split("\n\n")[0]


@pytest.mark.parametrize("goal, met", [(Goal(">=", 2, "x"), True), (Goal(">=", 3, "x"), False),
                                       (Goal("<", 2.5), False), (Goal("==", 2.4, tolerance=0.2), True),
                                       (Goal("==", 2.4), False)])
def test_a_goal_checks_what_its_text_says(goal, met):
    ok, text = table({"a.speedup": goal})
    assert ok is met
    row = next(line for line in text.splitlines() if line.startswith("a.speedup"))
    assert goal.text() in row and row.endswith("yes" if met else "NO")


def test_a_threshold_may_be_another_recorded_number():
    assert table({"a.accuracy": Goal(">=", "a.target")})[0]
    assert not table({"a.target": Goal(">=", "a.accuracy")})[0]


def test_a_missing_number_fails_its_goal_unless_optional():
    met, text = table({"a.llama": Goal(">=", 1.0)})
    assert not met and "missing" in text
    assert table({"a.llama": Goal(">=", 1.0, optional=True)})[0]


def test_the_fast_profile_checks_no_goal():
    met, text = table({"a.speedup": Goal(">=", 3)}, check=False)
    assert met and "NO" not in text


def test_an_unknown_comparison_is_an_error():
    with pytest.raises(ValueError, match="op must be one of"):
        Goal("=>", 1)


def test_every_lab_benchmark_has_goals_on_numbers_its_results_record():
    """A goal on a key the stored results never recorded is a misspelt goal (optional ones excepted)."""
    import json

    for script in sorted((ROOT / "benchmarks").glob("lab*_*.py")):
        module = load(script)
        stored = ROOT / "benchmarks" / "results" / f"{script.stem}.json"
        if not hasattr(module, "GOALS") or not stored.exists():
            continue
        results = json.loads(stored.read_text())
        missing = [k for k, g in module.GOALS.items() if not g.optional and not common.has(results, k)]
        assert not missing, f"{script.name}: goals on numbers its results do not hold: {missing}"
