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
* ``lib.func(name, restype, argtypes, isolated=True)`` returns the same function run in a separate,
  freshly started Python process (:class:`IsolatedFunction`): a kernel that crashes (a segfault) or
  never returns costs only that call, which raises :class:`KernelCrash` with a message that says what
  probably went wrong. Tensors and arrays are copied to that process and back (so only for checks,
  never for timing). A fresh interpreter, not ``os.fork()``: a child forked after torch or an OpenMP
  kernel has run can hang (libgomp is not fork-safe).
* :func:`cpu_features` and :func:`copy_bandwidth_gbs` describe the machine the kernels are measured
  against (SIMD extensions, caches, memory bandwidth).
"""

from __future__ import annotations

import atexit
import ctypes
import functools
import hashlib
import os
import pickle
import platform
import select
import shutil
import signal
import struct
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


# the compiler's macros for the CPU's int8 dot-product instructions (what a kernel's `#if` tests)
INT8_DOT_PRODUCT = {
    "__AVX2__": "AVX2 vpmaddubsw",
    "__AVXVNNI__": "AVX-VNNI vpdpbusd",
    "__AVX512VNNI__": "AVX-512 VNNI vpdpbusd",
    "__ARM_FEATURE_DOTPROD": "ARM sdot (vdotq_s32)",
}


@functools.lru_cache(maxsize=None)
def compiler_defines(extra_flags: tuple[str, ...] = ()) -> frozenset[str]:
    """The macros the C compiler predefines with the kernels' flags (:func:`compile_c`'s, plus
    ``extra_flags``): what a kernel's ``#if defined(__AVX2__)`` sees, chosen at compile time."""
    compiler = find_compiler()
    with tempfile.TemporaryDirectory() as tmp:
        empty = Path(tmp) / "empty.c"
        empty.write_text("")
        proc = _run([compiler, *BASE_FLAGS[:2], *native_flags(compiler), *extra_flags, "-dM", "-E", empty.name],
                    Path(tmp))
    if proc.returncode != 0:
        raise CompilerError(f"{Path(compiler).name} could not list its macros: {(proc.stderr or proc.stdout).strip()}")
    return frozenset(line.split()[1] for line in proc.stdout.splitlines() if line.startswith("#define "))


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

    def func(self, name: str, restype, argtypes, isolated: bool = False, timeout: float = 20.0,
             threads: int | None = None):
        """The typed function ``name``; with ``isolated=True`` an :class:`IsolatedFunction` that runs it in
        a separate process (killed after ``timeout`` seconds; ``threads`` sets its ``OMP_NUM_THREADS``)."""
        if isolated:
            self.func(name, restype, argtypes)  # a missing function fails here, with the message below
            return IsolatedFunction(self.path, name, restype, argtypes, timeout=timeout, threads=threads)
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


class ArrayPointer(ctypes.c_void_p):
    """A ``c_void_p`` that also holds the tensor or array it points into (``.array``): it keeps that
    memory alive while the pointer lives, and lets an :class:`IsolatedFunction` copy the data."""


def pointer(tensor, dtype=None) -> ArrayPointer:
    """A C pointer to the data of a contiguous torch tensor or NumPy array (checked: C code trusts it).

    The pointer holds a reference to the tensor, so the memory lives as long as the pointer does."""
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
    ptr = ArrayPointer(address)
    ptr.array = tensor
    return ptr


class KernelCrash(RuntimeError):
    """A C function run by :class:`IsolatedFunction` crashed (a signal) or did not finish in time."""


# what a signal usually means in a kernel like Lab 5's
_SIGNAL_HINTS = {
    "SIGSEGV": "an out-of-bounds read or write? check the row stride and the tail (the last rows, "
               "the last chunk of a row)",
    "SIGBUS": "a misaligned or out-of-bounds access? check the row stride, the tail and the alignment of "
              "vector loads (use __builtin_memcpy for unaligned ones)",
    "SIGFPE": "an integer division by zero (or of INT_MIN by -1)?",
    "SIGABRT": "abort(): e.g. free() of a pointer that malloc did not return, a double free, or memory "
               "written past the end of a malloc'd block",
    "SIGILL": "an instruction this CPU does not have? (or __builtin_trap)",
}


class _Runner:
    """A child Python process that loads shared libraries by path and calls their functions on
    arrays it receives through a pipe (see :func:`_serve`); started on first use, reused."""

    def __init__(self, threads: int | None):
        env = dict(os.environ)
        package_root = str(Path(__file__).resolve().parents[1])
        env["PYTHONPATH"] = os.pathsep.join([package_root, *filter(None, [env.get("PYTHONPATH")])])
        if threads is not None:
            env["OMP_NUM_THREADS"] = str(threads)
        self.log = tempfile.TemporaryFile()  # the child's stdout and stderr (C printf, glibc messages)
        self.proc = subprocess.Popen([sys.executable, "-c", "from helpers.native import _serve; _serve()"],
                                     stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=self.log, env=env)

    def alive(self) -> bool:
        return self.proc.poll() is None

    def call(self, request, timeout: float):
        data = pickle.dumps(request, protocol=pickle.HIGHEST_PROTOCOL)
        try:
            self.proc.stdin.write(struct.pack("<Q", len(data)) + data)
            self.proc.stdin.flush()
        except (BrokenPipeError, OSError):
            return None
        deadline = time.monotonic() + timeout
        header = self._read(8, deadline)
        if header is None:
            return None
        body = self._read(struct.unpack("<Q", header)[0], deadline)
        return None if body is None else pickle.loads(body)

    def _read(self, n: int, deadline: float):
        """``n`` bytes from the child, or None when it died or the deadline passed (then it is killed)."""
        fd, chunks, left = self.proc.stdout.fileno(), [], n
        while left:
            wait = deadline - time.monotonic()
            if wait <= 0 or not select.select([fd], [], [], wait)[0]:
                self.kill()
                raise TimeoutError
            chunk = os.read(fd, min(left, 1 << 20))
            if not chunk:
                return None
            chunks.append(chunk)
            left -= len(chunk)
        return b"".join(chunks)

    def kill(self):
        if self.alive():
            self.proc.kill()
        self.proc.wait()

    def log_tail(self, chars: int = 400) -> str:
        self.log.seek(0)
        return self.log.read().decode(errors="replace")[-chars:].strip()


_RUNNERS: dict = {}


def _runner(threads: int | None) -> _Runner:
    runner = _RUNNERS.get(threads)
    if runner is None or not runner.alive():
        runner = _RUNNERS[threads] = _Runner(threads)
    return runner


@atexit.register
def _stop_runners():
    for runner in _RUNNERS.values():
        runner.kill()


def _as_array(arg):
    """(original, NumPy copy to send) for a tensor, an array or an :class:`ArrayPointer`; else None."""
    import numpy as np

    original = arg.array if isinstance(arg, ArrayPointer) else arg
    if isinstance(original, np.ndarray):
        return original, np.ascontiguousarray(original)
    if type(original).__module__.startswith("torch") and hasattr(original, "numpy"):
        if original.device.type != "cpu" or not original.is_contiguous():
            raise ValueError("C kernels need contiguous CPU tensors: pass tensor.contiguous().cpu()")
        return original, original.detach().numpy()
    if isinstance(arg, ctypes.c_void_p):
        raise TypeError("an isolated C function needs the tensors themselves (or native.pointer(tensor)), "
                        "not a bare address: it copies their data to another process")
    return None


class IsolatedFunction:
    """``fn(*args)``: call a compiled function in a separate process, with a deadline.

    Tensor, array and :func:`pointer` arguments are copied to the process and, after the call, copied
    back into the originals (a kernel may write any of them); numbers are passed as they are. A
    signal (a segfault) or a call longer than ``timeout`` seconds raises :class:`KernelCrash` (the
    process is then restarted on the next call); the caller's process is never affected."""

    def __init__(self, path, name: str, restype, argtypes, timeout: float = 20.0, threads: int | None = None):
        self.path, self.name, self.restype, self.argtypes = str(path), name, restype, list(argtypes)
        self.timeout, self.threads = timeout, threads

    def __call__(self, *args):
        if len(args) != len(self.argtypes):
            raise TypeError(f"{self.name} takes {len(self.argtypes)} arguments, got {len(args)}")
        arrays = [_as_array(a) for a in args]
        sent = [("array", a[1]) if a is not None else ("value", v) for a, v in zip(arrays, args)]
        runner = _runner(self.threads)
        try:
            reply = runner.call((self.path, self.name, self.restype, self.argtypes, sent), self.timeout)
        except TimeoutError:
            raise KernelCrash(f"{self.name} did not finish in {self.timeout:g} s: an infinite loop? (check the "
                              "loop bounds and steps; it was stopped)") from None
        if reply is None:
            raise KernelCrash(self._death_message(runner)) from None
        status, result, returned = reply
        if status != "ok":
            raise KernelCrash(f"{self.name} could not be called: {result}")
        for array, back in zip(arrays, returned):
            if array is not None:
                _copy_back(array[0], back)
        return result

    def _death_message(self, runner: _Runner) -> str:
        runner.kill()
        code = runner.proc.returncode
        if code is not None and code < 0:
            try:
                name = signal.Signals(-code).name
            except ValueError:
                name = f"signal {-code}"
            what = f"crashed with {name}" + (f": {_SIGNAL_HINTS[name]}" if name in _SIGNAL_HINTS else "")
        else:
            what = f"ended its process (exit status {code}): exit() or abort() in the C code?"
        tail = runner.log_tail()
        return f"{self.name} {what}" + (f"\n  its output: {tail}" if tail else "")


def _copy_back(original, array):
    import numpy as np

    if isinstance(original, np.ndarray):
        original[...] = array
    else:
        import torch

        original.copy_(torch.from_numpy(array).view(original.shape))


def _serve():
    """The child's loop (see :class:`_Runner`): read a request, call, reply, until stdin closes."""
    import numpy as np

    replies = os.fdopen(os.dup(1), "wb")
    os.dup2(2, 1)  # anything the C code prints goes to the log, not into the replies
    requests, libraries = sys.stdin.buffer, {}
    while True:
        header = requests.read(8)
        if len(header) < 8:
            return
        path, name, restype, argtypes, args = pickle.loads(requests.read(struct.unpack("<Q", header)[0]))
        arrays = []
        try:
            lib = libraries.get(path) or libraries.setdefault(path, ctypes.CDLL(path))
            fn = getattr(lib, name)
            fn.restype, fn.argtypes = restype, argtypes
            values = []
            for kind, value in args:
                if kind == "array":
                    value = np.array(value, copy=True, order="C")
                    arrays.append(value)
                    values.append(ctypes.c_void_p(value.ctypes.data))
                else:
                    arrays.append(None)
                    values.append(value)
            reply = ("ok", fn(*values), arrays)
        except Exception as exc:  # a wrong argument, a missing symbol: the caller raises it
            reply = ("error", f"{type(exc).__name__}: {exc}", [])
        data = pickle.dumps(reply, protocol=pickle.HIGHEST_PROTOCOL)
        replies.write(struct.pack("<Q", len(data)) + data)
        replies.flush()


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


_QUANTIZE_INT8_SOURCE = r"""
#include <math.h>
#include <stdint.h>
/* Lab 5's activation quantizer (its Question 9): per block of x, t = max |x| / 127 and
   a = clamp(round(x / t), -127, 127), rounding halves to even (nearbyintf in the default rounding mode);
   a block of zeros gets t = 0 and codes 0 */
void quantize_int8(const float *x, int8_t *codes, float *scales, int n, int block) {
    for (int b = 0; b < n / block; b++) {
        const float *xb = x + (long)b * block;
        float amax = 0.0f;
        for (int i = 0; i < block; i++) amax = fmaxf(amax, fabsf(xb[i]));
        float t = amax / 127.0f, divisor = t > 0.0f ? t : 1.0f;
        scales[b] = t;
        for (int i = 0; i < block; i++) {
            float a = nearbyintf(xb[i] / divisor);
            codes[(long)b * block + i] = (int8_t)(a > 127.0f ? 127.0f : (a < -127.0f ? -127.0f : a));
        }
    }
}
"""


class Int8Quantizer:
    """Lab 5's activation quantizer in C, for the engine's hot path (one call instead of a dozen PyTorch
    operations): ``quantizer(x)`` -> ``(codes, scales)`` for a contiguous float32 vector ``x``, int8 codes
    and one float32 scale per ``block`` elements, by the rule of the lab's Question 9.

    ``quantizer.kernel(x, codes, scales, n, block)`` is the bare C function, on addresses (``data_ptr()``) and
    unchecked: for a hot loop that has checked its buffers once (a contiguous float32 ``x`` of ``n``, int8
    ``codes`` of ``n``, float32 ``scales`` of ``n // block``)."""

    def __init__(self, block: int):
        lib = compile_c(_QUANTIZE_INT8_SOURCE, name="quantize_int8", openmp=False, verbose=False)
        self.kernel = lib.func("quantize_int8", None, [ctypes.c_void_p] * 3 + [ctypes.c_int] * 2)
        self.block = block

    def __call__(self, x):
        import torch

        n = x.shape[-1]
        if x.dim() != 1 or n % self.block:
            raise ValueError(f"expected one vector whose length is a multiple of {self.block}, got shape "
                             f"{tuple(x.shape)}")
        if x.dtype != torch.float32 or not x.is_contiguous() or x.device.type != "cpu":
            raise ValueError(f"expected a contiguous float32 CPU tensor, got {x.dtype} on {x.device}")
        codes, scales = torch.empty(n, dtype=torch.int8), torch.empty(n // self.block)
        # checked above: the bare addresses (pointer() checks again, which costs more than the work here)
        self.kernel(x.data_ptr(), codes.data_ptr(), scales.data_ptr(), n, self.block)
        return codes, scales


_PEAK_SOURCE = r"""
/* the widest vector this CPU holds in one register: 16 floats with AVX-512, else 8 (AVX2; 2 NEON ones) */
#ifdef __AVX512F__
#define LANES 16
#else
#define LANES 8
#endif
typedef float vec __attribute__((vector_size(4 * LANES)));
/* 10 independent chains of multiply-adds per thread, held in registers: enough to keep the FMA units busy */
double peak_ops(long iterations) {
    double total = 0.0;
    #pragma omp parallel reduction(+:total)
    {
        const vec m = (vec){0} + 0.999999f, c = (vec){0} + 1e-7f;
        vec a0 = m * 0.1f, a1 = m * 0.2f, a2 = m * 0.3f, a3 = m * 0.4f, a4 = m * 0.5f;
        vec a5 = m * 0.6f, a6 = m * 0.7f, a7 = m * 0.8f, a8 = m * 0.9f, a9 = m * 1.1f;
        for (long i = 0; i < iterations; i++) {
            a0 = a0 * m + c; a1 = a1 * m + c; a2 = a2 * m + c; a3 = a3 * m + c; a4 = a4 * m + c;
            a5 = a5 * m + c; a6 = a6 * m + c; a7 = a7 * m + c; a8 = a8 * m + c; a9 = a9 * m + c;
        }
        vec a = a0 + a1 + a2 + a3 + a4 + a5 + a6 + a7 + a8 + a9;
        float s = 0.0f;
        for (int lane = 0; lane < LANES; lane++) s += a[lane];
        total += 2.0 * 10 * LANES * iterations + (s < 0 ? 1.0 : 0.0);   /* s keeps the loop alive */
    }
    return total;
}
"""


def peak_gops(iterations: int = 20_000_000, repeats: int = 3) -> float:
    """This machine's compute roof in GOP/s (1e9 float operations/s): the best of ``repeats`` runs of a
    compiled loop of independent SIMD multiply-adds on all cores (fused into FMAs where the CPU has them)."""
    lib = compile_c(_PEAK_SOURCE, name="peak_ops", extra_flags=("-ffp-contract=fast",), verbose=False)
    run = lib.func("peak_ops", ctypes.c_double, [ctypes.c_long])
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        ops = run(iterations)
        best = min(best, time.perf_counter() - start)
    return ops / best / 1e9
