"""helpers.results: recording headline numbers into LABS_RESULTS_JSON."""

import json

from helpers import results


def test_record_nested_and_rounded(monkeypatch, tmp_path):
    path = tmp_path / "r.json"
    monkeypatch.setenv("LABS_RESULTS_JSON", str(path))
    results.record("dense.accuracy", 93.123456)
    results.record("dense.macs", 10)
    results.record("pruned.accuracy", 90.0)
    assert json.loads(path.read_text()) == {"dense": {"accuracy": 93.1235, "macs": 10}, "pruned": {"accuracy": 90.0}}


def test_record_merges_into_existing_file(monkeypatch, tmp_path):
    path = tmp_path / "r.json"
    path.write_text(json.dumps({"other": {"x": 1}}))
    monkeypatch.setenv("LABS_RESULTS_JSON", str(path))
    results.record("other.y", 2)
    assert json.loads(path.read_text()) == {"other": {"x": 1, "y": 2}}


def test_record_without_file_writes_nothing(monkeypatch, tmp_path):
    monkeypatch.delenv("LABS_RESULTS_JSON", raising=False)
    monkeypatch.chdir(tmp_path)
    results.record("a.b", 1)
    assert list(tmp_path.iterdir()) == []
