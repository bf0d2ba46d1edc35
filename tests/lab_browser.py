"""Start a JupyterLab server for a test (the one `make lab` starts, or `jupyter lab` in a course folder),
and drive it with Playwright and Debian's chromium.

    with jupyterlab(tmp_path) as server:          # `make lab` on labs/
        server.url("lab/tree/lab1_pruning/lab1_pruning.ipynb")
    with browser_page(tmp_path) as page: ...      # headless chromium (skips the test when absent)

Every server gets its own Jupyter config/data/runtime/settings folders under the test's tmp_path:
JupyterLab's autosave is off and checkpoints go to tmp_path (a test never writes into labs/), all notebook
cells stay in the DOM (windowing off) and the news/update prompts are silent.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest

from grading.tools import BIN, path_with_bin, with_tools

REPO = Path(__file__).resolve().parents[1]
CHROMIUM = Path(os.environ.get("LABS_CHROMIUM", "/usr/bin/chromium"))
# where the browser tests keep their screenshots (CI can upload the folder)
ARTIFACTS = Path(os.environ.get("LABS_TEST_ARTIFACTS", REPO / "test-artifacts"))
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]
LAB_SETTINGS = {
    "@jupyterlab/docmanager-extension/plugin": {"autosave": False},
    "@jupyterlab/notebook-extension/tracker": {"windowingMode": "none"},
    "@jupyterlab/apputils-extension/notification": {"checkForUpdates": False, "fetchNews": "false"},
}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@dataclass
class Server:
    port: int
    token: str
    proc: subprocess.Popen

    def url(self, path: str = "") -> str:
        sep = "&" if "?" in path else "?"
        return f"http://127.0.0.1:{self.port}/{path.lstrip('/')}{sep}token={self.token}"

    def get_json(self, path: str):
        with urllib.request.urlopen(self.url(path), timeout=10) as r:
            return json.loads(r.read())


def jupyter_env(home: Path) -> dict:
    """Private Jupyter folders (config, data, runtime, JupyterLab settings and workspaces) under ``home``."""
    for name in ("config", "data", "runtime", "workspaces"):
        (home / name).mkdir(parents=True, exist_ok=True)
    for plugin, values in LAB_SETTINGS.items():
        path = home / "settings" / f"{plugin}.jupyterlab-settings"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(values))
    return dict(os.environ, JUPYTER_CONFIG_DIR=str(home / "config"), JUPYTER_DATA_DIR=str(home / "data"),
                JUPYTER_RUNTIME_DIR=str(home / "runtime"), JUPYTERLAB_SETTINGS_DIR=str(home / "settings"),
                JUPYTERLAB_WORKSPACES_DIR=str(home / "workspaces"), PATH=path_with_bin())


@contextmanager
def jupyterlab(tmp_path: Path, course_dir: Path | None = None, extra_args: tuple = (), env: dict | None = None,
               timeout: float = 180):
    """A running JupyterLab: `make lab` (JupyterLab on labs/) by default, else `jupyter lab` in ``course_dir``
    (an nbgrader course, for the formgrader). Stopped (process group) on exit."""
    port, token = free_port(), "labs-test-token"
    server_env = jupyter_env(tmp_path / "jupyter")
    server_env.update(env or {})
    # checkpoints (JupyterLab makes one when it opens a notebook) go to tmp_path, not next to the notebook
    args = ["--ip=127.0.0.1", f"--port={port}", f"--IdentityProvider.token={token}", "--ServerApp.port_retries=0",
            "--no-browser", f"--FileCheckpoints.checkpoint_dir={tmp_path / 'checkpoints'}", *extra_args]
    if course_dir is None:
        venv = Path(sys.executable).parent.parent
        cmd, cwd = ["make", "-s", "lab", f"VENV={venv}", "JUPYTER_ARGS=" + " ".join(args)], REPO
    else:
        root = ["--allow-root"] if os.geteuid() == 0 else []
        cmd, cwd = [str(BIN / "jupyter"), "lab", *root, *args], course_dir
        server_env = with_tools(server_env)  # the course's copy of nbgrader_config.py imports grading/
    log = open(tmp_path / "jupyterlab.log", "w")
    proc = subprocess.Popen(cmd, cwd=cwd, env=server_env, stdout=log, stderr=subprocess.STDOUT, text=True,
                            start_new_session=True)
    server = Server(port, token, proc)
    try:
        deadline, last_error = time.time() + timeout, None
        while True:
            if proc.poll() is not None or time.time() > deadline:
                log.flush()
                pytest.fail(f"JupyterLab did not answer on /api ({last_error}); exit code {proc.poll()}\n"
                            + (tmp_path / "jupyterlab.log").read_text()[-4000:])
            try:
                server.get_json("api")
                break
            except OSError as exc:
                last_error = exc
                time.sleep(1)
        yield server
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGTERM)
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()
        log.close()


def require_browser():
    """Skip (with what to install) when Playwright or the chromium binary is missing."""
    if not CHROMIUM.exists():
        pytest.skip(f"no browser at {CHROMIUM}: install Debian's chromium (`apt-get install chromium`; "
                    ".ci/run does) or point LABS_CHROMIUM at a chromium binary")
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        pytest.skip("the browser tests need Playwright: pip install -r requirements-dev.txt (never "
                    "`playwright install`: the tests use the system chromium)")


@contextmanager
def browser_page(tmp_path: Path, width: int = 1400, height: int = 1000):
    """A page of a headless chromium with a fresh profile (no downloads: Playwright drives /usr/bin/chromium)."""
    require_browser()
    from playwright.sync_api import sync_playwright

    profile = tmp_path / "chromium-profile"
    with sync_playwright() as pw:
        context = pw.chromium.launch_persistent_context(
            str(profile), executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS,
            viewport={"width": width, "height": height})
        context.set_default_timeout(60_000)
        try:
            yield context.pages[0] if context.pages else context.new_page()
        finally:
            context.close()
    shutil.rmtree(profile, ignore_errors=True)


def screenshot(page, flow: str, step: str) -> Path:
    """Keep a screenshot of a step as a test artifact: test-artifacts/<flow>/<step>.png."""
    path = ARTIFACTS / flow / f"{step}.png"
    path.parent.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(path), full_page=False)
    return path
