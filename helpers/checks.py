"""Self-checks for notebooks: print ``[PASS]`` / ``[FAIL]`` lines and return a bool to ``assert``.

    assert check_close("pruned tensor", actual, expected, atol=1e-6)
"""

from __future__ import annotations

import torch


def _as_tensor(x) -> torch.Tensor:
    return x.detach().cpu() if isinstance(x, torch.Tensor) else torch.as_tensor(x)


def check_true(name: str, condition: bool, detail: str = "") -> bool:
    """Report a yes/no condition."""
    ok = bool(condition)
    print(f"[{'PASS' if ok else 'FAIL'}] {name}" + (f": {detail}" if detail else ""))
    return ok


def check_equal(name: str, actual, expected) -> bool:
    """Exact equality (numbers, strings, tuples, or tensors of equal shape)."""
    if isinstance(actual, torch.Tensor) or isinstance(expected, torch.Tensor):
        a, e = _as_tensor(actual), _as_tensor(expected)
        if a.shape != e.shape:
            return check_true(name, False, f"shape {tuple(a.shape)} != expected {tuple(e.shape)}")
        wrong = int((a != e).sum())
        return check_true(name, wrong == 0, f"{wrong} of {a.numel()} elements differ")
    return check_true(name, actual == expected, f"got {actual!r}, expected {expected!r}")


def check_close(name: str, actual, expected, atol: float = 1e-6, rtol: float = 1e-5) -> bool:
    """``|actual - expected| <= atol + rtol * |expected|`` element-wise; prints max abs/rel error."""
    a, e = _as_tensor(actual).double(), _as_tensor(expected).double()
    if a.shape != e.shape:
        return check_true(name, False, f"shape {tuple(a.shape)} != expected {tuple(e.shape)}")
    if a.numel() == 0:
        return check_true(name, True, "both empty")
    err = (a - e).abs()
    rel = err / e.abs().clamp_min(1e-12)
    ok = bool((err <= atol + rtol * e.abs()).all())
    return check_true(name, ok, f"max abs error {err.max().item():.3g}, max rel error {rel.max().item():.3g}")
