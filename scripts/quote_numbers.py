"""Measured numbers in the text come from recorded runs: stamp them, or check them (`make release`).

A measured number in a notebook's markdown, the README or INSTRUCTORS.md is written with an HTML
comment right after it naming where it comes from (invisible when the markdown is rendered):

    after QAT the 2-bit model reaches 93.55<!--= kmeans.bits2.accuracy_after_qat --> %

The expression after ``=`` is evaluated over the recorded results, ``benchmarks/results/<name>.json``:
every file is a top-level name (``lab2_quantization.int8.accuracy``), and inside a lab's own notebook
its own file's keys are top-level names too (``int8.accuracy``). Arithmetic and ``abs``, ``min``,
``max``, ``round`` are allowed (``fp32_size_mib / int8.size_mib``). The number keeps the decimals it
is shown with; a thousands separator (``1,342``) is kept.

    python scripts/quote_numbers.py          # rewrite every quoted number from the results
    python scripts/quote_numbers.py --check  # list the quoted numbers that disagree (exit 1)

tests/test_quoted_numbers.py runs the check.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from dataclasses import dataclass
from pathlib import Path
from types import SimpleNamespace

REPO = Path(__file__).resolve().parents[1]
RESULTS = REPO / "benchmarks" / "results"
DOCS = ("README.md", "INSTRUCTORS.md")
# a number (optional sign, thousands separators, decimals) directly followed by the marker
QUOTE = re.compile(r"(?P<number>[-−]?\d{1,3}(?:,\d{3})+(?:\.\d+)?|[-−]?\d+(?:\.\d+)?)<!--=\s*(?P<expr>.+?)\s*-->")
SAFE_BUILTINS = {"abs": abs, "min": min, "max": max, "round": round}


def _namespace(tree):
    if isinstance(tree, dict):
        return SimpleNamespace(**{k: _namespace(v) for k, v in tree.items()})
    return tree


def load_results(folder: Path = RESULTS) -> dict:
    """``{file stem: results}`` for every recorded results file."""
    return {p.stem: json.loads(p.read_text()) for p in sorted(folder.glob("*.json"))}


def evaluate(expr: str, results: dict, own: str | None = None):
    names = {stem: _namespace(tree) for stem, tree in results.items()}
    if own is not None:
        names.update({k: _namespace(v) for k, v in results[own].items()})
    try:
        return eval(expr, {"__builtins__": SAFE_BUILTINS}, names)  # noqa: S307 (our own text, no input)
    except Exception as exc:  # a typo in a key: say which marker
        raise ValueError(f"cannot evaluate the quoted number <!--= {expr} -->: {type(exc).__name__}: {exc}") from exc


def render(value: float, shown: str) -> str:
    """``value`` written like ``shown``: the same number of decimals, separators and sign style."""
    decimals = len(shown.split(".")[1]) if "." in shown else 0
    text = f"{value:,.{decimals}f}" if "," in shown else f"{value:.{decimals}f}"
    return text.replace("-", "−") if shown.startswith("−") else text


@dataclass
class Quote:
    where: str
    shown: str
    expr: str
    value: float

    @property
    def expected(self) -> str:
        return render(self.value, self.shown)

    @property
    def stale(self) -> bool:
        return self.expected != self.shown


def _rewrite(text: str, where: str, results: dict, own: str | None, found: list) -> str:
    def one(m):
        q = Quote(where, m["number"], m["expr"], float(evaluate(m["expr"], results, own)))
        found.append(q)
        return f"{q.expected}<!--= {q.expr} -->"

    return QUOTE.sub(one, text)


def process(write: bool, repo: Path = REPO) -> list[Quote]:
    """Every quoted number in solutions/*/*.ipynb markdown and the docs; rewritten when ``write``."""
    import nbformat

    results, found = load_results(repo / "benchmarks" / "results"), []
    for path in sorted(repo.glob("solutions/*/*.ipynb")):
        lab = path.stem
        nb = nbformat.read(path, as_version=4)
        changed = False
        for i, cell in enumerate(nb.cells):
            if cell.cell_type == "markdown" and "<!--=" in cell.source:
                new = _rewrite(cell.source, f"{path.relative_to(repo)} cell {cell.get('id', i)}", results,
                               lab if lab in results else None, found)
                changed |= new != cell.source
                cell.source = new
        if write and changed:
            nbformat.write(nb, path)
    for name in DOCS:
        path = repo / name
        if path.exists():
            text = path.read_text()
            new = _rewrite(text, name, results, None, found)
            if write and new != text:
                path.write_text(new)
    return found


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--check", action="store_true", help="only list the quoted numbers that disagree")
    args = parser.parse_args(argv)
    quotes = process(write=not args.check)
    stale = [q for q in quotes if q.stale]
    for q in stale:
        print(f"{q.where}: shows {q.shown}, recorded {q.expected} ({q.expr})")
    verb = "disagree" if args.check else "were rewritten"
    print(f"{len(quotes)} quoted numbers, {len(stale)} {verb}")
    return 1 if args.check and stale else 0


if __name__ == "__main__":
    sys.exit(main())
