"""A throw-away PostgreSQL server on loopback, for the shared-gradebook tests.

    with postgres_server() as url:   # postgresql://grader:<password>@127.0.0.1:<port>/gradebook
        ...

initdb + pg_ctl from /usr/lib/postgresql/*/bin (Debian's `postgresql` package) or PATH, in a temporary
folder. PostgreSQL refuses to run as root: as root the server runs as `nobody` (through runuser).
Raises ``Unavailable`` with the reason (the tests skip with it) when that cannot be done.
"""

from __future__ import annotations

import contextlib
import glob
import os
import secrets
import shutil
import socket
import subprocess
import tempfile
from pathlib import Path


class Unavailable(Exception):
    pass


def pg_bin() -> Path:
    candidates = sorted(glob.glob("/usr/lib/postgresql/*/bin"), reverse=True)
    for path in candidates + [os.path.dirname(shutil.which("initdb") or "")]:
        if path and (Path(path) / "initdb").exists() and (Path(path) / "pg_ctl").exists():
            return Path(path)
    raise Unavailable("no PostgreSQL server binaries (initdb, pg_ctl): apt-get install postgresql")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextlib.contextmanager
def postgres_server():
    bin_dir = pg_bin()
    try:
        import psycopg  # noqa: F401
    except ImportError:
        raise Unavailable("the psycopg driver is not installed: pip install 'psycopg[binary]'") from None
    as_user: list[str] = []
    if os.geteuid() == 0:
        if shutil.which("runuser") is None:
            raise Unavailable("running as root and `runuser` is missing: PostgreSQL refuses to run as root")
        as_user = ["runuser", "-u", "nobody", "--"]
    root = Path(tempfile.mkdtemp(prefix="pg-"))
    password = secrets.token_hex(8)
    try:
        os.chmod(root, 0o755)
        (root / "pw").write_text(password + "\n")
        if as_user:
            shutil.chown(root, "nobody")
            shutil.chown(root / "pw", "nobody")
        port = _free_port()
        run = dict(capture_output=True, text=True, timeout=120, cwd=root)
        proc = subprocess.run(as_user + [str(bin_dir / "initdb"), "-D", str(root / "data"), "-U", "grader",
                                         "--auth=scram-sha-256", f"--pwfile={root / 'pw'}", "-E", "UTF8"], **run)
        if proc.returncode != 0:
            raise Unavailable(f"initdb failed: {proc.stderr.strip()[-500:]}")
        proc = subprocess.run(as_user + [str(bin_dir / "pg_ctl"), "-D", str(root / "data"), "-l", str(root / "log"),
                                         "-w", "-o", f"-h 127.0.0.1 -p {port} -k {root}", "start"], **run)
        if proc.returncode != 0:
            log = (root / "log").read_text() if (root / "log").exists() else ""
            raise Unavailable(f"pg_ctl start failed: {proc.stderr.strip()[-300:]} {log[-500:]}")
        try:
            import psycopg

            with psycopg.connect(f"postgresql://grader:{password}@127.0.0.1:{port}/postgres", autocommit=True) as c:
                c.execute("CREATE DATABASE gradebook")
            yield f"postgresql://grader:{password}@127.0.0.1:{port}/gradebook"
        finally:
            subprocess.run(as_user + [str(bin_dir / "pg_ctl"), "-D", str(root / "data"), "-m", "fast", "stop"], **run)
    finally:
        shutil.rmtree(root, ignore_errors=True)
