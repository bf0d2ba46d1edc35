"""`make lab` starts a JupyterLab server that answers on loopback (started headless, checked on
/api, stopped)."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.mark.slow
def test_make_lab_serves_jupyterlab(tmp_path):
    port, token = free_port(), "labs-test-token"
    env = dict(os.environ, JUPYTER_RUNTIME_DIR=str(tmp_path / "runtime"), JUPYTER_DATA_DIR=str(tmp_path / "data"))
    venv = Path(sys.executable).parent.parent
    args = f"--no-browser --ip=127.0.0.1 --port={port} --IdentityProvider.token={token} --ServerApp.port_retries=0"
    proc = subprocess.Popen(["make", "-s", "lab", f"VENV={venv}", f"JUPYTER_ARGS={args}"], cwd=REPO, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, start_new_session=True)
    try:
        deadline, reply, last_error = time.time() + 120, None, None
        while time.time() < deadline and proc.poll() is None:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/api?token={token}", timeout=5) as r:
                    reply = json.loads(r.read())
                break
            except OSError as exc:
                last_error = exc
                time.sleep(1)
        if reply is None:
            output = proc.stdout.read() if proc.poll() is not None else ""
            pytest.fail(f"no answer on /api ({last_error}); exit code {proc.poll()}\n{output}")
        assert "version" in reply
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/lab?token={token}", timeout=10) as r:
            assert r.status == 200
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/api/contents/lab1_pruning?token={token}",
                                    timeout=10) as r:
            names = [item["name"] for item in json.loads(r.read())["content"]]
        assert "lab1_pruning.ipynb" in names, "JupyterLab must open on labs/"
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGTERM)
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()
