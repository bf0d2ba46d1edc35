"""Record a notebook's headline numbers so scripts can read them back.

``record("dense.accuracy", 93.1)`` merges the value into the JSON file named by ``LABS_RESULTS_JSON``
(the benchmark scripts set it) as nested keys; without that variable it does nothing.
"""

from __future__ import annotations

import json
import os
from pathlib import Path


def _set(tree: dict, dotted: str, value) -> None:
    *parents, leaf = dotted.split(".")
    for key in parents:
        tree = tree.setdefault(key, {})
    tree[leaf] = value


def record(key: str, value) -> None:
    """Write ``value`` under the dotted ``key`` into the ``LABS_RESULTS_JSON`` file, if it is set."""
    if isinstance(value, float):
        value = round(value, 4)
    path = os.environ.get("LABS_RESULTS_JSON")
    if path:
        path = Path(path)
        data = json.loads(path.read_text()) if path.exists() and path.stat().st_size else {}
        _set(data, key, value)
        path.write_text(json.dumps(data, indent=2) + "\n")
