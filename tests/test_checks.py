"""helpers.checks: [PASS]/[FAIL] lines and the boolean each check returns."""

import torch

from helpers.checks import check_close, check_equal, check_true


def test_check_true(capsys):
    assert check_true("ok", True) and not check_true("bad", 0, "why")
    assert capsys.readouterr().out.splitlines() == ["[PASS] ok", "[FAIL] bad: why"]


def test_check_equal_values(capsys):
    assert check_equal("n", 3, 3)
    assert not check_equal("n", 3, 4)
    assert "got 3, expected 4" in capsys.readouterr().out


def test_check_equal_tensors(capsys):
    assert check_equal("t", torch.tensor([1, 2]), torch.tensor([1, 2]))
    assert not check_equal("t", torch.tensor([1, 2]), torch.tensor([1, 3]))
    assert not check_equal("t", torch.zeros(2, 2), torch.zeros(4))
    out = capsys.readouterr().out
    assert "1 of 2 elements differ" in out and "shape (2, 2) != expected (4,)" in out


def test_check_close(capsys):
    assert check_close("c", torch.tensor([1.0, 2.0]), [1.0, 2.0 + 1e-7])
    assert not check_close("c", torch.tensor([1.0]), [1.1], atol=1e-3)
    assert not check_close("c", torch.ones(3), torch.ones(1, 3))
    assert check_close("c", torch.ones(0), torch.ones(0))
    assert "max abs error 0.1" in capsys.readouterr().out


def test_check_close_accepts_grad_tensors():
    w = torch.ones(2, requires_grad=True)
    assert check_close("w", w * 2, torch.full((2,), 2.0))
