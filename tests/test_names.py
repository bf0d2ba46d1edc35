"""One name, one meaning: a function or class of helpers/ or grading/ is defined in one module only, so that
``record`` or ``grade`` says which thing it is (e.g. ``helpers.results.record``, what the notebooks call,
and ``grading.gradebook.store_result``, the grader's)."""

from __future__ import annotations

import ast
from collections import defaultdict
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
# names still defined twice, and why they stay so for now (none: helpers.llm.ask, a transformers model's
# answer, and helpers.engine.chat, Lab 5's engine, were both `chat`)
TWICE: dict[str, set[str]] = {}


def public_definitions() -> dict[str, set[str]]:
    """``{name: {module file}}`` of the top-level public functions and classes of helpers/ and grading/
    (``main``, a script's entry point, is every script's)."""
    found = defaultdict(set)
    for folder in ("helpers", "grading"):
        for path in sorted((REPO / folder).glob("*.py")):
            for node in ast.parse(path.read_text(encoding="utf-8")).body:
                if isinstance(node, (ast.FunctionDef, ast.ClassDef)) and not node.name.startswith("_") \
                        and node.name != "main":
                    found[node.name].add(path.relative_to(REPO).as_posix())
    return found


def test_each_name_is_defined_once():
    twice = {name: files for name, files in public_definitions().items() if len(files) > 1}
    assert twice == TWICE, f"give each meaning its own name: {sorted(set(twice) - set(TWICE))}; " \
                           f"no longer twice (drop from TWICE): {sorted(set(TWICE) - set(twice))}"
