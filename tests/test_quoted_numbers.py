"""Measured numbers quoted in the notebooks and docs are the recorded ones (scripts/quote_numbers.py)."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "scripts"))
import quote_numbers  # noqa: E402

RESULTS = {"lab9": {"acc": 93.456, "size": {"mib": 1.0993}, "n": 1342.0}, "other": {"gain": -0.034}}


def test_a_quote_keeps_its_decimals_and_follows_the_results():
    found = []
    text = "acc 93.5<!--= acc -->, size 1.10<!--= size.mib --> MiB, n 1,342<!--= n -->, gain −0.03<!--= other.gain -->"
    assert quote_numbers._rewrite(text, "t", RESULTS, "lab9", found) == text
    assert not any(q.stale for q in found) and len(found) == 4
    stale = "acc 93.4<!--= acc --> and 3<!--= size.mib * 2 -->×"
    found = []
    out = quote_numbers._rewrite(stale, "t", RESULTS, "lab9", found)
    assert out.startswith("acc 93.5<!--= acc -->") and found[0].stale
    assert "2<!--= size.mib * 2 -->" in out  # 2.1986 shown without decimals, like the text


def test_a_misspelt_key_is_an_error_that_names_the_marker():
    with pytest.raises(ValueError, match="acc_typo"):
        quote_numbers.evaluate("acc_typo", RESULTS, "lab9")


def test_every_quoted_number_is_the_recorded_one():
    quotes = quote_numbers.process(write=False)
    stale = [f"{q.where}: shows {q.shown}, recorded {q.expected} ({q.expr})" for q in quotes if q.stale]
    assert not stale, "quoted numbers disagree with benchmarks/results (run `python scripts/quote_numbers.py` " \
                      "after the benchmark, then `make release`):\n" + "\n".join(stale)
