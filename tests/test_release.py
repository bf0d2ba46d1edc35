"""One source for the release: the repository URL and tag in every setup cell (solutions/ and labs/) and in
the README's Colab badges are those of pyproject.toml, and `scripts/release.py` stamps them."""

from __future__ import annotations

import importlib.util
import json
import shutil
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
_spec = importlib.util.spec_from_file_location("release_script", REPO / "scripts" / "release.py")
release = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(release)


def test_notebooks_and_readme_agree_with_pyproject():
    problems = release.disagreements(REPO)
    assert not problems, "run `make release` (scripts/release.py) and commit:\n" + "\n".join(problems)


def test_every_lab_has_a_colab_badge_at_the_release_tag():
    url, tag = release.release_info(REPO)
    readme = (REPO / "README.md").read_text(encoding="utf-8")
    labs = release.lab_names(REPO)
    assert labs == sorted(p.parent.name for p in (REPO / "solutions").glob("*/*.ipynb") if p.stem == p.parent.name)
    for lab in labs:
        assert f"]({release.colab_url(url, tag, lab)})" in readme, f"no Colab badge for {lab}"
        assert (REPO / "labs" / lab / f"{lab}.ipynb").is_file()
    assert release.colab_url(url, tag, "lab1_pruning") == (
        f"https://colab.research.google.com/github/{url.split('github.com/')[1]}/blob/{tag}/labs/lab1_pruning/"
        "lab1_pruning.ipynb")


def test_setup_cells_install_the_release(tmp_path):
    """On Colab the cell installs git+URL@tag unless LABS_HELPERS_SPEC names something else (the tests)."""
    for lab in release.lab_names(REPO):
        cells = json.loads((REPO / "labs" / lab / f"{lab}.ipynb").read_text(encoding="utf-8"))["cells"]
        setup = "".join(next(c for c in cells if c["cell_type"] == "code")["source"])
        assert 'os.environ.get("LABS_HELPERS_SPEC", f"git+{REPO}@{RELEASE}")' in setup, lab
        assert '"google.colab" in sys.modules' in setup, lab


def _copy_project(dst: Path) -> Path:
    shutil.copy(REPO / "pyproject.toml", dst / "pyproject.toml")
    shutil.copy(REPO / "README.md", dst / "README.md")
    for lab in release.lab_names(REPO):
        for folder in ("solutions", "labs"):
            (dst / folder / lab).mkdir(parents=True)
            shutil.copy(REPO / folder / lab / f"{lab}.ipynb", dst / folder / lab / f"{lab}.ipynb")
    return dst


def test_a_disagreement_fails_and_stamping_changes_one_line(tmp_path):
    root = _copy_project(tmp_path)
    url, tag = release.release_info(root)
    pyproject = root / "pyproject.toml"
    pyproject.write_text(pyproject.read_text().replace(f'version = "{tag[1:]}"', 'version = "9.8.7"')
                         .replace(url, "https://github.com/someone/fork"), encoding="utf-8")
    assert release.release_info(root) == ("https://github.com/someone/fork", "v9.8.7")
    problems = release.disagreements(root)
    assert len(problems) == 2 * len(release.lab_names(root)) + 1, problems
    assert any("README.md" in p for p in problems)

    lab = release.lab_names(root)[0]
    nb = root / "solutions" / lab / f"{lab}.ipynb"
    before = nb.read_text(encoding="utf-8").splitlines()
    assert release.stamp_notebook(nb, "https://github.com/someone/fork", "v9.8.7")
    after = nb.read_text(encoding="utf-8").splitlines()
    changed = [(a, b) for a, b in zip(before, after) if a != b]
    assert len(before) == len(after) and len(changed) == 1, changed
    assert '\\"https://github.com/someone/fork\\", \\"v9.8.7\\"' in changed[0][1]
    assert release.setup_cell_release(nb) == ("https://github.com/someone/fork", "v9.8.7")
    assert not release.stamp_notebook(nb, "https://github.com/someone/fork", "v9.8.7")  # idempotent

    assert release.stamp_readme(root, "https://github.com/someone/fork", "v9.8.7")
    readme = (root / "README.md").read_text(encoding="utf-8")
    assert "github/someone/fork/blob/v9.8.7/labs/" in readme and "efficient-dl-labs/blob/" not in readme
    assert not any("README.md" in p for p in release.disagreements(root))


def test_the_helpers_version_is_pyprojects():
    """helpers.__version__ is read from the installed package's metadata, never written a second time."""
    import helpers

    assert helpers.__version__ == release.read_toml(REPO / "pyproject.toml")["project"]["version"], \
        "the installed helpers are older than pyproject.toml: run `make setup` (pip install -e .)"
