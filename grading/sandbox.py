"""Run one student's kernel in a box: limits, a scrubbed environment, no network, hidden files.

nbgrader starts the kernel through a kernelspec whose command is this file (stdlib only, run as a
script by the interpreter of the grading environment):

    python grading/sandbox.py POLICY.json -- python -m ipykernel_launcher -f {connection_file}

``POLICY.json`` is written by :mod:`grading.worker` for one submission. What the kernel gets:

* **limits** (``resource.setrlimit``, inherited by everything it starts): address space
  (``memory_mb``), processes/threads of its user (``processes``: a fork bomb stops there), size of a
  file it writes (``file_mb``), no core dumps;
* **environment**: only ``env`` from the policy (never the database URL or the grader's secrets);
* **namespaces** when ``unshare`` works (Linux): its own network (loopback only, down: no network),
  its own PID space (when the kernel goes, every process it started goes with it) and its own mounts:
  each ``hide`` path is covered by an empty tmpfs (the repository with ``solutions/``, the course with
  the gradebook and the other submissions, the grader's home), then each ``bind`` ``[src, dst, rw]``
  is mounted back (the interpreter, ``helpers/``, the kernel's own working folder);
* **its own copy of its working folder** (with namespaces): deleting files or planting links there
  never touches the folder where nbgrader, as the grader, writes the graded notebook;
* **another user** when the grader runs as root: ``uid`` (one per worker slot, so kernels cannot see or
  signal each other, and the process limit counts only this kernel). As root without it the kernel
  could simply unmount what hides the secrets, so root always drops.

Outside Linux namespaces (``"namespaces": false``) only the limits, the environment and the user apply;
``python -m grading --check-sandbox`` says which protections this machine gives.
"""

from __future__ import annotations

import ctypes
import json
import os
import resource
import shutil
import signal
import subprocess
import sys

PR_SET_PDEATHSIG = 1
UNSHARE = ["unshare", "--mount", "--net", "--pid", "--fork", "--kill-child", "--mount-proc"]


def die_with_parent(sig: int = signal.SIGKILL) -> None:
    """Ask Linux to send ``sig`` to this process when its parent dies (kept across exec)."""
    try:
        ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, sig, 0, 0, 0)
    except (OSError, AttributeError):  # not Linux: the worker's wall-clock kill is the only bound
        pass


def namespaces_available() -> tuple[bool, str]:
    """Whether this machine lets us put a kernel into its own network, PID and mount namespaces."""
    if not sys.platform.startswith("linux"):
        return False, f"no Linux namespaces on {sys.platform}"
    if shutil.which("unshare") is None:
        return False, "the `unshare` command (util-linux) is not installed"
    cmd = UNSHARE + ([] if os.geteuid() == 0 else ["--map-root-user"]) + [sys.executable, os.path.abspath(__file__),
                                                                          "--probe"]
    try:
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=30)
    except (OSError, subprocess.TimeoutExpired) as exc:
        return False, f"`unshare` failed: {exc}"
    if proc.returncode != 0:
        return False, f"`{' '.join(cmd)}` failed: {proc.stderr.strip() or proc.returncode}"
    return True, "network, PID and mount namespaces"


MS_RDONLY, MS_REMOUNT, MS_BIND, MS_REC = 1, 32, 4096, 16384


def _mount(source: str, target: str, fstype: str | None = None, flags: int = 0, data: str | None = None) -> None:
    """mount(2) itself: mount(8) would resolve a /proc/self/fd source to its (hidden) path."""
    libc = ctypes.CDLL(None, use_errno=True)

    def enc(x):
        return None if x is None else x.encode()

    if libc.mount(enc(source), enc(target), enc(fstype), ctypes.c_ulong(flags), enc(data)) != 0:
        err = ctypes.get_errno()
        raise OSError(err, f"mount {source} on {target}: {os.strerror(err)}")


def _make_path(path: str, is_dir: bool) -> None:
    if is_dir:
        os.makedirs(path, exist_ok=True)
    elif not os.path.exists(path):
        os.makedirs(os.path.dirname(path), exist_ok=True)
        open(path, "a").close()


def hide_and_bind(hide: list[str], binds: list[list]) -> None:
    """Cover each ``hide`` path with an empty tmpfs (a file with /dev/null), then mount each bind
    ``[src, dst, writable]`` back. The sources are opened before anything is hidden."""
    sources = [(os.open(src, os.O_PATH), os.path.isdir(src), dst, rw) for src, dst, rw in binds if os.path.exists(src)]
    covered: list[str] = []
    for path in sorted({os.path.realpath(p) for p in hide}, key=len):
        if not os.path.exists(path) or any(path.startswith(c + os.sep) for c in covered):
            continue  # absent, or already inside a hidden folder
        if os.path.isdir(path):
            _mount("tmpfs", path, "tmpfs", 0, "mode=0755,size=1m")
            covered.append(path)
        else:
            _mount("/dev/null", path, flags=MS_BIND)
    for fd, is_dir, dst, rw in sorted(sources, key=lambda s: len(s[2])):
        _make_path(dst, is_dir)
        _mount(f"/proc/self/fd/{fd}", dst, flags=MS_BIND | MS_REC)
        if not rw:
            _mount("none", dst, flags=MS_REMOUNT | MS_BIND | MS_RDONLY)
        os.close(fd)


def set_limits(policy: dict) -> None:
    mib = 1024 * 1024
    limits = {resource.RLIMIT_AS: policy["memory_mb"] * mib, resource.RLIMIT_NPROC: policy["processes"],
              resource.RLIMIT_FSIZE: policy["file_mb"] * mib, resource.RLIMIT_CORE: 0}
    for what, value in limits.items():
        resource.setrlimit(what, (value, value))


def hand_over(uid: int, paths: list[str]) -> None:
    """Give ``paths`` (the kernel's writable folders, its connection file) to ``uid``, before any
    read-only folder is mounted inside them."""
    for top in paths:
        os.lchown(top, uid, uid)
        for root, dirs, files in os.walk(top):
            for name in dirs + files:
                os.lchown(os.path.join(root, name), uid, uid)


def drop_root(uid: int) -> None:
    os.setgroups([])
    os.setgid(uid)
    os.setuid(uid)


def run_kernel(policy: dict, cmd: list[str]) -> int:
    """Start the kernel as a child with the limits, the environment and the user; wait for it while
    reaping everything else (as PID 1 of the namespace: when we return, the namespace dies)."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # an interrupt is for the kernel (same process group)
    pid = os.fork()
    if pid == 0:
        try:
            signal.signal(signal.SIGINT, signal.SIG_DFL)
            if policy.get("uid") is not None:
                drop_root(policy["uid"])
            die_with_parent()  # (re)armed after the uid change, which clears it
            set_limits(policy)
            os.chdir(policy["cwd"])
            os.execvpe(cmd[0], cmd, policy["env"])
        except BaseException as exc:  # noqa: B036 - report anything, then leave without cleanup
            print(f"grading sandbox: cannot start the kernel: {exc}", file=sys.stderr, flush=True)
        finally:
            os._exit(127)
    signal.signal(signal.SIGTERM, lambda *_: os.kill(pid, signal.SIGKILL))
    while True:
        try:
            child, status = os.wait()
        except ChildProcessError:
            return 0
        if child == pid:
            return os.waitstatus_to_exitcode(status)


def probe() -> int:
    """Inside fresh namespaces: can we mount (what hiding files needs)?"""
    import tempfile

    with tempfile.TemporaryDirectory() as tmp:
        _mount("tmpfs", tmp, "tmpfs", 0, "size=1m")
        ctypes.CDLL(None, use_errno=True).umount2(tmp.encode(), 2)  # MNT_DETACH
    return 0


def main(argv: list[str]) -> int:
    if argv == ["--probe"]:
        return probe()
    inner = argv[:1] == ["--inner"]
    argv = argv[1:] if inner else argv
    if len(argv) < 3 or argv[1] != "--":
        sys.exit("usage: sandbox.py POLICY.json -- KERNEL COMMAND...")
    with open(argv[0]) as f:
        policy = json.load(f)
    cmd = argv[2:]
    if policy["namespaces"] and not inner:
        die_with_parent()  # the grader gave up on this kernel: take the namespace down
        extra = [] if os.geteuid() == 0 else ["--map-root-user"]
        os.execvp("unshare", UNSHARE + extra + ["--", sys.executable, os.path.abspath(__file__), "--inner", *argv])
    if policy["namespaces"]:
        # the kernel works on a copy of its folder, mounted over it: what it deletes or links there
        # never touches the folder where nbgrader (as the grader) writes the graded notebook
        shutil.copytree(policy["cwd"], policy["work"], symlinks=True, dirs_exist_ok=True)
    if policy.get("uid") is not None:
        hand_over(policy["uid"], policy["writable"] + [a for a in cmd if a.endswith(".json")])
    if policy["namespaces"]:
        hide_and_bind(policy["hide"], [*policy["binds"], [policy["work"], policy["cwd"], True]])
    return run_kernel(policy, cmd)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
