"""Compile C from a notebook and call it on tensors (Lab 5's kernels).

    lib = compile_c(SOURCE, name="gemv")           # system compiler, fixed flags, cached by hash
    lib.func("gemv", None, [ctypes.c_void_p, ctypes.c_int])(pointer(x), n)

* The compiler is ``$CC`` or the first of ``cc``, ``gcc``, ``clang`` on ``PATH``; without one,
  :class:`CompilerError` says what to install on this operating system.
* Flags are fixed and printed: ``-O2 -std=c11 -fPIC -shared``, plus ``-march=native`` (x86) or
  ``-mcpu=native`` (ARM) when the compiler accepts it, plus OpenMP when the compiler can build and
  link an OpenMP program (``-fopenmp``; Apple clang: ``-Xpreprocessor -fopenmp -lomp``). Without
  OpenMP the same source builds serially: ``#pragma omp`` lines are ignored.
* Libraries are cached under the cache directory by a hash of the source, compiler and flags, so
  re-running a cell does not recompile; a compile error raises :class:`CompilerError` with the
  compiler's own message.
* :func:`cpu_features` and :func:`copy_bandwidth_gbs` describe the machine the kernels are measured
  against (SIMD extensions, caches, memory bandwidth).
"""

from __future__ import annotations

import ctypes
import functools
import hashlib
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

from .env import cache_dir

BASE_FLAGS = ("-O2", "-std=c11", "-fPIC", "-shared")
_SUFFIX = ".dylib" if sys.platform == "darwin" else ".so"


class CompilerError(RuntimeError):
    """No C compiler, or the source did not compile; the message says what to do or what failed."""


def _install_hint() -> str:
    if sys.platform == "darwin":
        return "install the Xcode command line tools: `xcode-select --install` (OpenMP: `brew install libomp`)"
    if sys.platform.startswith("win"):
        return ("use WSL (Ubuntu: `sudo apt-get install build-essential`), Google Colab, or install a C compiler "
                "(e.g. `conda install -c conda-forge c-compiler`) and set CC")
    return ("Debian/Ubuntu: `sudo apt-get install build-essential`; Fedora: `sudo dnf install gcc`; "
            "conda: `conda install -c conda-forge c-compiler`; or set CC to your compiler")


def find_compiler() -> str:
    """The C compiler's path: ``$CC`` if set, else ``cc``, ``gcc`` or ``clang`` from ``PATH``."""
    wanted = os.environ.get("CC")
    candidates = [wanted] if wanted else ["cc", "gcc", "clang"]
    for name in candidates:
        path = shutil.which(name)
        if path:
            return path
    what = f"CC={wanted!r} was not found" if wanted else "no C compiler (cc, gcc or clang) was found on PATH"
    raise CompilerError(f"Lab 5 compiles C kernels, but {what}. To fix: {_install_hint()}.")


def _run(cmd: list[str], cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run(cmd, cwd=cwd, capture_output=True, text=True, timeout=120)


@functools.lru_cache(maxsize=None)
def _accepted(compiler: str, flags: tuple[str, ...], source: str = "int f(void) { return 0; }\n") -> bool:
    """Whether ``compiler`` builds a shared library from ``source`` with ``flags``."""
    with tempfile.TemporaryDirectory() as tmp:
        (Path(tmp) / "t.c").write_text(source)
        return _run([compiler, *BASE_FLAGS, *flags, "t.c", "-o", "t" + _SUFFIX], Path(tmp)).returncode == 0


@functools.lru_cache(maxsize=None)
def openmp_flags(compiler: str | None = None) -> tuple[str, ...] | None:
    """The flags that build and link OpenMP with ``compiler``, or None when it cannot."""
    compiler = compiler or find_compiler()
    probe = "#include <omp.h>\nint f(void) { return omp_get_max_threads(); }\n"
    for flags in (("-fopenmp",), ("-Xpreprocessor", "-fopenmp", "-lomp")):
        if _accepted(compiler, flags, probe):
            return flags
    return None


@functools.lru_cache(maxsize=None)
def native_flags(compiler: str | None = None) -> tuple[str, ...]:
    """``-march=native`` (or ``-mcpu=native`` on ARM) when the compiler accepts it, else nothing."""
    compiler = compiler or find_compiler()
    for flag in ("-march=native", "-mcpu=native"):
        if _accepted(compiler, (flag,)):
            return (flag,)
    return ()


@functools.lru_cache(maxsize=None)
def compiler_version(compiler: str) -> str:
    try:
        return _run([compiler, "--version"], Path.cwd()).stdout.splitlines()[0]
    except (OSError, IndexError, subprocess.SubprocessError):
        return "unknown"


@dataclass
class CompiledLibrary:
    """A compiled shared library: ``func(name, restype, argtypes)`` returns a typed ctypes function."""

    path: Path
    compiler: str
    flags: tuple[str, ...]
    openmp: bool
    lib: ctypes.CDLL = field(repr=False)

    def func(self, name: str, restype, argtypes):
        try:
            fn = getattr(self.lib, name)
        except AttributeError:
            raise CompilerError(f"{self.path.name} has no function {name!r}: check its name and that it is "
                                "not `static`") from None
        fn.restype, fn.argtypes = restype, list(argtypes)
        return fn


def compile_c(source: str, name: str = "kernel", extra_flags: tuple[str, ...] = (), openmp: bool = True,
              verbose: bool = True) -> CompiledLibrary:
    """Compile ``source`` into a shared library (cached by source, compiler and flags) and load it."""
    compiler = find_compiler()
    omp = openmp_flags(compiler) if openmp else None
    flags = (*BASE_FLAGS, *native_flags(compiler), *(omp or ()), *extra_flags)
    key = hashlib.sha256("\0".join([source, compiler, compiler_version(compiler), *flags]).encode()).hexdigest()
    out_dir = cache_dir() / "native"
    out_dir.mkdir(parents=True, exist_ok=True)
    target = out_dir / f"{name}-{key[:16]}{_SUFFIX}"
    if not target.exists():
        with tempfile.TemporaryDirectory() as tmp:
            src = Path(tmp) / f"{name}.c"
            src.write_text(source)
            built = Path(tmp) / f"{name}{_SUFFIX}"
            proc = _run([compiler, *flags, src.name, "-o", built.name], Path(tmp))
            if proc.returncode != 0:
                raise CompilerError(f"{name}.c did not compile ({Path(compiler).name} {' '.join(flags)}):\n"
                                    f"{(proc.stderr or proc.stdout).strip()}")
            shutil.move(str(built), target.with_suffix(f".tmp{os.getpid()}"))
            os.replace(target.with_suffix(f".tmp{os.getpid()}"), target)  # atomic: concurrent builds are safe
        how = "compiled"
    else:
        how = "cached"
    if verbose:
        print(f"{name}: {how} with {Path(compiler).name} {' '.join(flags)}"
              + ("" if omp or not openmp else "  (no OpenMP here: the kernel runs on one thread)"))
    return CompiledLibrary(target, compiler, flags, omp is not None, ctypes.CDLL(str(target)))


def pointer(tensor, dtype=None) -> ctypes.c_void_p:
    """A C pointer to the data of a contiguous torch tensor or NumPy array (checked: C code trusts it).

    The pointer does not keep the tensor alive: bind the tensor to a name for as long as C uses it
    (``native.pointer(torch.ones(5))`` passed straight to a kernel may point at freed memory)."""
    import numpy as np
    import torch

    if isinstance(tensor, torch.Tensor):
        if tensor.device.type != "cpu":
            raise ValueError(f"C kernels need CPU tensors, got one on {tensor.device}: use tensor.cpu()")
        contiguous, address, kind = tensor.is_contiguous(), tensor.data_ptr(), tensor.dtype
    elif isinstance(tensor, np.ndarray):
        contiguous, address, kind = tensor.flags["C_CONTIGUOUS"], tensor.ctypes.data, tensor.dtype
    else:
        raise TypeError(f"expected a torch tensor or a NumPy array, got {type(tensor).__name__}")
    if not contiguous:
        raise ValueError("C kernels need contiguous memory: pass tensor.contiguous()")
    if dtype is not None and kind != dtype:
        raise ValueError(f"expected dtype {dtype}, got {kind}")
    return ctypes.c_void_p(address)


def cpu_features() -> dict:
    """Architecture, model, cores, SIMD extensions and cache sizes of this machine (best effort)."""
    info = {"machine": platform.machine(), "system": platform.system(), "cores": os.cpu_count(), "model": "",
            "simd": [], "caches": {}}
    cpuinfo = Path("/proc/cpuinfo")
    if cpuinfo.exists():
        flags: set[str] = set()
        for line in cpuinfo.read_text().splitlines():
            key, _, value = line.partition(":")
            key = key.strip()
            if key in ("model name", "Model", "CPU part") and not info["model"]:
                info["model"] = value.strip()
            elif key in ("flags", "Features"):
                flags.update(value.split())
        wanted = ("sse4_2", "avx", "avx2", "fma", "avx512f", "avx512_vnni", "neon", "asimd", "asimddp", "sve")
        info["simd"] = [f for f in wanted if f in flags]
        for index in sorted(Path("/sys/devices/system/cpu/cpu0/cache").glob("index*")):
            try:
                level, kind, size = ((index / n).read_text().strip() for n in ("level", "type", "size"))
            except OSError:
                continue
            info["caches"][f"L{level}{'d' if kind == 'Data' else 'i' if kind == 'Instruction' else ''}"] = size
    elif sys.platform == "darwin":
        def sysctl(name):
            out = subprocess.run(["sysctl", "-n", name], capture_output=True, text=True)
            return out.stdout.strip()
        info["model"] = sysctl("machdep.cpu.brand_string")
        info["simd"] = ["neon"] if platform.machine() == "arm64" else sysctl("machdep.cpu.features").lower().split()
        for level, key in (("L1d", "hw.l1dcachesize"), ("L2", "hw.l2cachesize"), ("L3", "hw.l3cachesize")):
            value = sysctl(key)
            if value.isdigit() and int(value):
                info["caches"][level] = f"{int(value) // 1024}K"
    return info


def best_time(fn, *args, repeats: int = 20, warmup: int = 2) -> float:
    """The fastest of ``repeats`` timed calls of ``fn(*args)`` in seconds, after ``warmup`` untimed ones
    (the minimum is the least disturbed by other work on the machine)."""
    for _ in range(warmup):
        fn(*args)
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        fn(*args)
        best = min(best, time.perf_counter() - start)
    return best


_COPY_SOURCE = r"""
#include <stddef.h>
void copy_floats(const float *src, float *dst, long n) {
    #pragma omp parallel for
    for (long i = 0; i < n; i++) dst[i] = src[i];
}
"""


def copy_bandwidth_gbs(megabytes: int = 256, repeats: int = 5, verbose: bool = False) -> float:
    """Memory bandwidth of this machine in GB/s (1e9 bytes/s): the best of ``repeats`` copies of a
    ``megabytes`` float array (far larger than the caches) by a compiled C loop on all cores,
    counting the bytes read and written."""
    import torch

    lib = compile_c(_COPY_SOURCE, name="copy_bandwidth", verbose=verbose)
    copy = lib.func("copy_floats", None, [ctypes.c_void_p, ctypes.c_void_p, ctypes.c_long])
    n = megabytes * 2**20 // 4
    src, dst = torch.rand(n), torch.empty(n)
    best = best_time(copy, pointer(src), pointer(dst), n, repeats=repeats, warmup=1)  # warm-up touches every page
    if not torch.equal(src, dst):
        raise RuntimeError("the copy kernel did not copy: the compiler or OpenMP runtime is broken")
    return 2 * n * 4 / best / 1e9
