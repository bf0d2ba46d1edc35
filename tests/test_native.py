"""helpers.native: compile C with the system compiler, cache by hash, call it on tensors, describe the CPU."""

import ctypes

import numpy as np
import pytest
import torch

from helpers import native
from helpers.env import CACHE_VARIABLE

AXPY = r"""
void axpy(float a, const float *x, float *y, long n) {
    #pragma omp parallel for
    for (long i = 0; i < n; i++) y[i] += a * x[i];
}
int threads(void) {
#ifdef _OPENMP
    return omp_get_max_threads();
#else
    return 1;
#endif
}
"""
OMP = "#ifdef _OPENMP\n#include <omp.h>\n#endif\n"


@pytest.fixture(autouse=True)
def private_cache(tmp_path, monkeypatch):
    monkeypatch.setenv(CACHE_VARIABLE, str(tmp_path))


def _axpy(lib):
    return lib.func("axpy", None, [ctypes.c_float, ctypes.c_void_p, ctypes.c_void_p, ctypes.c_long])


def test_compile_and_call_on_tensors(capsys):
    lib = native.compile_c(OMP + AXPY, name="axpy")
    assert "axpy: compiled with" in capsys.readouterr().out and "-O2" in lib.flags
    x, y = torch.arange(1001, dtype=torch.float32), torch.ones(1001)
    _axpy(lib)(2.0, native.pointer(x), native.pointer(y), 1001)
    assert torch.equal(y, 1 + 2 * torch.arange(1001, dtype=torch.float32))
    threads = lib.func("threads", ctypes.c_int, [])()
    assert threads >= 1 and (lib.openmp or threads == 1)


def test_second_compile_is_cached(monkeypatch, capsys):
    native.compile_c(OMP + AXPY, name="axpy")
    capsys.readouterr()

    def no_compiler(cmd, cwd):
        raise AssertionError(f"recompiled: {cmd}")

    monkeypatch.setattr(native, "_run", no_compiler)
    lib = native.compile_c(OMP + AXPY, name="axpy")
    assert "axpy: cached" in capsys.readouterr().out
    x, y = np.ones(3, dtype=np.float32), np.zeros(3, dtype=np.float32)  # keep x alive while C reads it
    _axpy(lib)(1.0, native.pointer(x), native.pointer(y), 3)
    assert y.tolist() == [1.0, 1.0, 1.0]


def test_serial_fallback_without_openmp():
    lib = native.compile_c(OMP + AXPY, name="axpy_serial", openmp=False)
    assert not lib.openmp and not any("openmp" in f for f in lib.flags)
    assert lib.func("threads", ctypes.c_int, [])() == 1
    x, y = torch.ones(5), torch.zeros(5)
    _axpy(lib)(3.0, native.pointer(x), native.pointer(y), 5)
    assert torch.equal(y, torch.full((5,), 3.0))


def test_compile_error_shows_the_compilers_message():
    with pytest.raises(native.CompilerError, match=r"broken\.c did not compile(.|\n)*undeclared|broken\.c did not "
                                                   r"compile(.|\n)*error"):
        native.compile_c("int f(void) { return undefined_name; }\n", name="broken", verbose=False)


def test_missing_compiler_says_what_to_install(monkeypatch):
    monkeypatch.setenv("CC", "no-such-compiler-xyz")
    with pytest.raises(native.CompilerError, match=r"CC='no-such-compiler-xyz' was not found.*build-essential"):
        native.compile_c(AXPY)
    monkeypatch.delenv("CC")
    monkeypatch.setenv("PATH", "/nonexistent")
    with pytest.raises(native.CompilerError, match="no C compiler"):
        native.find_compiler()


def test_unknown_function_is_a_clear_error():
    lib = native.compile_c(AXPY, name="axpy", verbose=False)
    with pytest.raises(native.CompilerError, match="no function 'gemv'"):
        lib.func("gemv", None, [])


def test_pointer_checks():
    with pytest.raises(ValueError, match="contiguous"):
        native.pointer(torch.ones(4, 4).t())
    with pytest.raises(ValueError, match="expected dtype torch.float32"):
        native.pointer(torch.ones(3, dtype=torch.int8), torch.float32)
    with pytest.raises(TypeError, match="torch tensor or a NumPy array"):
        native.pointer([1.0, 2.0])
    t = torch.ones(3)
    assert native.pointer(t).value == t.data_ptr()


def test_cpu_features():
    info = native.cpu_features()
    assert info["cores"] >= 1 and info["machine"]
    assert isinstance(info["simd"], list) and isinstance(info["caches"], dict)


def test_copy_bandwidth():
    gbs = native.copy_bandwidth_gbs(megabytes=32, repeats=2)
    assert 0.1 < gbs < 10_000


def test_compiler_without_openmp_falls_back_to_serial(monkeypatch, capsys):
    monkeypatch.setattr(native, "openmp_flags", lambda compiler=None: None)
    lib = native.compile_c(OMP + AXPY, name="axpy_no_omp")
    assert "no OpenMP here: the kernel runs on one thread" in capsys.readouterr().out
    assert not lib.openmp and lib.func("threads", ctypes.c_int, [])() == 1


def test_best_time():
    calls = []
    assert native.best_time(lambda: calls.append(1), repeats=3, warmup=2) >= 0 and len(calls) == 5


# --- isolated calls: a crash or a hang costs only that call -------------------------------------------

FAULTY = r"""
#include <stddef.h>
void scale(float *y, const float *x, float a, long n) { for (long i = 0; i < n; i++) y[i] = a * x[i]; }
void segfault(float *y, long n) { volatile float *bad = (float *)16; for (long i = 0; i < n; i++) y[i] = bad[i]; }
void spin(float *y, long n) { (void)n; for (;;) y[0] += 1.0f; }
"""


def _faulty():
    return native.compile_c(FAULTY, name="faulty", openmp=False, verbose=False)


def test_isolated_call_equals_the_in_process_call():
    lib = _faulty()
    args = [ctypes.c_void_p, ctypes.c_void_p, ctypes.c_float, ctypes.c_long]
    x = torch.randn(1000)
    y_here, y_there, y_array = torch.empty(1000), torch.zeros(1000), np.zeros(1000, dtype=np.float32)
    lib.func("scale", None, args)(native.pointer(y_here), native.pointer(x), 1.5, 1000)
    isolated = lib.func("scale", None, args, isolated=True)
    isolated(y_there, x, 1.5, 1000)                                      # tensors ...
    isolated(native.pointer(y_array), native.pointer(x.numpy()), 1.5, 1000)  # ... or their pointers
    assert torch.equal(y_there, y_here) and np.array_equal(y_array, y_here.numpy())


def test_a_segfault_costs_only_that_call():
    lib = _faulty()
    crash = lib.func("segfault", None, [ctypes.c_void_p, ctypes.c_long], isolated=True)
    with pytest.raises(native.KernelCrash, match=r"segfault crashed with SIGSEGV: an out-of-bounds read or write\? "
                                                 r"check the row stride and the tail"):
        crash(torch.zeros(4), 4)
    y = torch.zeros(3)  # the runner is restarted for the next call
    lib.func("scale", None, [ctypes.c_void_p, ctypes.c_void_p, ctypes.c_float, ctypes.c_long], isolated=True)(
        y, torch.ones(3), 2.0, 3)
    assert y.tolist() == [2.0, 2.0, 2.0]


def test_an_endless_loop_is_stopped_at_the_deadline():
    lib = _faulty()
    spin = lib.func("spin", None, [ctypes.c_void_p, ctypes.c_long], isolated=True, timeout=1.5)
    y = torch.zeros(2)
    with pytest.raises(native.KernelCrash, match=r"spin did not finish in 1.5 s: an infinite loop\?"):
        spin(y, 2)
    assert y.tolist() == [0.0, 0.0], "a stopped call writes nothing back"


def test_isolated_threads_setting_reaches_openmp():
    lib = native.compile_c(OMP + AXPY, name="axpy")
    assert lib.func("threads", ctypes.c_int, [], isolated=True, threads=3)() == (3 if lib.openmp else 1)


def test_isolated_call_needs_the_tensors_not_bare_addresses():
    lib = _faulty()
    isolated = lib.func("segfault", None, [ctypes.c_void_p, ctypes.c_long], isolated=True)
    with pytest.raises(TypeError, match="needs the tensors themselves"):
        isolated(ctypes.c_void_p(0), 0)


def test_peak_gops_is_above_the_bandwidth_bound():
    peak = native.peak_gops(iterations=2_000_000, repeats=2)
    assert 1.0 < peak < 1e5  # GOP/s: far above what a GEMV reaches, below any CPU's limit


def test_compiler_defines_follow_the_flags():
    """A kernel's `#if defined(__AVX2__)` is chosen at compile time: the macros follow the CPU and the flags,
    and a build without the dot-product instructions has none of them (the portable path)."""
    macros = native.compiler_defines()
    assert "__STDC_VERSION__" in macros
    if "avx2" in native.cpu_features()["simd"]:
        assert "__AVX2__" in macros
    if native.platform.machine() in ("x86_64", "AMD64"):
        without = native.compiler_defines(("-mno-avx2",))
        assert not set(native.INT8_DOT_PRODUCT) & without
    source = "int path(void) {\n#if defined(__AVX2__)\nreturn 1;\n#else\nreturn 0;\n#endif\n}\n"
    built = native.compile_c(source, name="which_path", verbose=False).func("path", ctypes.c_int, [])
    assert built() == int("__AVX2__" in macros)


def test_int8_quantizer_follows_the_rule():
    """Lab 5's activation quantizer in C: t = max|x| / 127 per block, codes round(x / t) clamped to +-127,
    halves to even, a block of zeros -> t = 0 and codes 0; equal to the PyTorch formula."""
    quantize = native.Int8Quantizer(32)
    x = torch.randn(4 * 32, generator=torch.Generator().manual_seed(0)) * 3
    x[32:64] = 0.0
    x[64:96] = torch.arange(32) - 15.5  # ties: with max |x| = 127, t = 1 and x / t = k + 0.5
    x[64] = 127.0
    codes, scales = quantize(x)
    blocks = x.view(4, 32)
    t = blocks.abs().amax(-1) / 127
    want = torch.clamp(torch.round(blocks / torch.where(t > 0, t, torch.ones_like(t))[:, None]), -127, 127)
    assert codes.dtype == torch.int8 and torch.equal(codes.view(4, 32).float(), want)
    assert torch.equal(scales, t) and float(scales[1]) == 0.0
    bare_codes, bare_scales = torch.empty_like(codes), torch.empty_like(scales)  # the bare C call: into buffers
    quantize.kernel(x.data_ptr(), bare_codes.data_ptr(), bare_scales.data_ptr(), x.numel(), 32)
    assert torch.equal(bare_codes, codes) and torch.equal(bare_scales, scales)
    with pytest.raises(ValueError, match="multiple of 32"):
        quantize(torch.randn(48))
