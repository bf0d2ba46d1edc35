"""Where the labs run: profile, device, seeding, cache directory, progress bars. (The installation
check that the setup cells print is :mod:`helpers.install_check`.)

Profiles (``LABS_PROFILE``):

* ``full`` (default for a person running a notebook) reproduces the lab's real results;
* ``fast`` shrinks data, epochs, scans and search budgets so a notebook runs in about two
  minutes on a 2-core CPU. It is forced whenever nbgrader executes a notebook
  (``NBGRADER_EXECUTION`` is set), and CI uses it. It never changes what a graded
  function must compute.

Under nbgrader (autograding, or the Validate button) the fast profile is trimmed further by
:data:`GRADING_CAPS`: the graded tests bring their own small inputs, so the ungraded heavy cells
(fine-tuning, sensitivity scans, LLM evaluation and calibration) need only run, and a class's batch
autograde runs every student's notebook.
"""

from __future__ import annotations

import os
import random
import sys
from pathlib import Path

PROFILES = ("fast", "full")


def get_profile() -> str:
    """Return ``"fast"`` or ``"full"`` (see the module docstring)."""
    if under_nbgrader():
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


def under_nbgrader() -> bool:
    """nbgrader is executing this notebook (autograding, or the Validate button)."""
    return bool(os.environ.get("NBGRADER_EXECUTION"))


# How far nbgrader trims the fast profile's ungraded work (the helpers that read each cap say so):
GRADING_CAPS = {
    "scan_images": 64,   # helpers.pruning.sensitivity_scan: the first test images (of the fast 1,000)
    "test_images": 256,  # helpers.data.get_dataloaders(report_only_test=True): the first test images (fast: 1,000)
    "train_steps": 2,    # helpers.train.fine_tune: batches per epoch (the fast profile runs 8)
    "llm_windows": 1,    # helpers.llm.token_windows: windows of evaluation or calibration text (fast: 2)
    "chat_tokens": 4,    # helpers.engine.chat: new tokens of an answer (fast: 16)
    "batch_images": 32,  # Lab 7's BATCH_SIZE: the batch of its memory tables, TinyTL and distillation runs (128)
    "llm_layers": 2,     # helpers.llm.load_llm: the first decoder blocks of the LLM (of 30): its graded
                         # tests build their own tiny models, and the ungraded cells need only run
}


def grading_cap(name: str, value):
    """``value`` capped at ``GRADING_CAPS[name]`` under nbgrader (``None``, no limit, becomes the cap);
    ``value`` unchanged otherwise."""
    if not under_nbgrader():
        return value
    return GRADING_CAPS[name] if value is None else min(value, GRADING_CAPS[name])


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


# The cache of downloads and converted files, named here only (the grader, the docs and the tests read these):
# the folder that the variable names, else this folder under the home folder.
CACHE_VARIABLE = "LABS_CACHE"
CACHE_FOLDER = Path(".cache") / "efficient-dl-labs"
LLM_CACHE = "llm"  # its subfolder of converted LLMs (helpers.llm), which the grader lends its kernels


def cache_dir(create: bool = True) -> Path:
    """Where downloads and converted files live: ``$LABS_CACHE`` or ``~/.cache/efficient-dl-labs``
    (created, unless ``create`` is False)."""
    path = Path(os.environ.get(CACHE_VARIABLE, Path.home() / CACHE_FOLDER))
    if create:
        path.mkdir(parents=True, exist_ok=True)
    return path


def show_progress() -> bool:
    """Progress bars are off while nbgrader executes (keeps graded output clean) or if LABS_PROGRESS=0."""
    if under_nbgrader():
        return False
    return os.environ.get("LABS_PROGRESS", "1") != "0"

