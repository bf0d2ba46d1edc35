"""Record a notebook's headline numbers so scripts can read them back.

``record("dense.accuracy", 93.1)`` stores the value in memory and, when ``LABS_RESULTS_JSON`` names
a file (the benchmark scripts set it), merges it into that JSON file as nested keys.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

RESULTS: dict = {}


def _set(tree: dict, dotted: str, value) -> None:
    *parents, leaf = dotted.split(".")
    for key in parents:
        tree = tree.setdefault(key, {})
    tree[leaf] = value


def record(key: str, value) -> None:
    """Remember ``value`` under the dotted ``key`` (and write it out if ``LABS_RESULTS_JSON`` is set)."""
    if isinstance(value, float):
        value = round(value, 4)
    _set(RESULTS, key, value)
    path = os.environ.get("LABS_RESULTS_JSON")
    if path:
        path = Path(path)
        data = json.loads(path.read_text()) if path.exists() and path.stat().st_size else {}
        _set(data, key, value)
        path.write_text(json.dumps(data, indent=2) + "\n")
