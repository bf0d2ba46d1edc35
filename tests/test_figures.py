"""Every figure a reference notebook shows is in its stored outputs (solutions/ carry a full run's
outputs, which is where instructors and readers of the repository look)."""

from __future__ import annotations

import inspect
import re
from pathlib import Path

import nbformat
import pytest

import helpers.plots

REPO = Path(__file__).resolve().parents[1]
LABS = sorted(p.parent.name for p in REPO.glob("solutions/*/*.ipynb") if p.stem == p.parent.name)
# a cell shows a figure when it calls plt.show() or a plotting function of helpers.plots
PLOTTERS = [name for name, f in inspect.getmembers(helpers.plots, inspect.isfunction)
            if not name.startswith("_") and f.__module__ == helpers.plots.__name__]
SHOWS = re.compile(r"\bplt\.show\(\)|\b(" + "|".join(map(re.escape, PLOTTERS)) + r")\(")


def figure_cells(nb):
    for cell in nb.cells:
        if cell.cell_type == "code" and SHOWS.search(cell.source):
            images = sum("image/png" in o.get("data", {}) for o in cell.get("outputs", []))
            yield cell, images


def test_the_plotting_helpers_are_found():
    assert len(PLOTTERS) >= 3 and "plot_weight_distribution" in PLOTTERS


# Lab 3's stored outputs have no images (found by this test; the fix, benchmarks/common.py forcing the inline
# backend, needs a full-profile rerun of Lab 3, which waits with branch lab3-trust): expected to fail until then.
PENDING_RERUN = {"lab3_nas"}


@pytest.mark.parametrize("lab", [pytest.param(lab, marks=pytest.mark.xfail(strict=True,
                                                                           reason="full-profile rerun pending"))
                                 if lab in PENDING_RERUN else lab for lab in LABS])
def test_every_shown_figure_is_stored(lab):
    nb = nbformat.read(REPO / "solutions" / lab / f"{lab}.ipynb", as_version=4)
    missing = [c.get("id") or c.source.splitlines()[0] for c, images in figure_cells(nb) if images == 0]
    assert not missing, (f"{lab}: cells that show a figure but store no image (rerun the full-profile "
                         f"benchmark with --update-solution): {missing}")
