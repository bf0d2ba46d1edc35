"""Lab 5's mistakes (each must lose points) and other correct answers (each keeps full marks); what
each constant holds: :class:`grading.catalogue.Catalogue`. The kernels are C sources inside Python answers;
their mutants edit the C code (a mutant that does not compile must cost only its question)."""

LAB = "lab5_llm_deployment"
AUTOGRADED_POINTS = 85  # 75 + the 10-point bonus (a GEMM); the other 25 of the 100 are written answers
BONUS_POINTS = 10
TAMPER = {"delete": "test_gemv_simd", "edit": "test_pack_int4"}
LOOP_ANSWER = None
# the heavy given cells (seconds: one fast-profile run, one thread) that the mutant rounds and the crashes
# leave out: no graded test needs them (the trimmed reference keeps full marks, tests/test_grading.py)
TRIMMED_CELLS = (
    "42fbcc62",  # 4.4 s loading SmolLM2 onto the engine
    "54e60ca9",  # 3.1 s  an answer, fp32 and int4
    "2ac86aab",  # 5.0 s decoding speed
    "7e49cb14",  # where a decoded token's time goes
    "397b5fe9",  # 8.1 s prefill time
    "cd65b9ac",  # 1.3 s a chat
    "97beb25f",  # the AWQ model on the engine: perplexities
)
# one submission whose C kernels crash or never return (run in a separate process by the notebook's
# checks): each must cost only its own question, every other question keeps full marks
CRASHES = {
    "gemv_unrolled_source": ("reads 1 TiB past its row: SIGSEGV", [
        ("const uint8_t *b = row + g * (group_size / 2);", "const uint8_t *b = row + g * (group_size / 2) + (1L << 40);")]),
    "gemv_simd_source": ("an endless loop (a step of 0)", [
        ("i < (g + 1) * group_size; i += 32) {", "i < (g + 1) * group_size; i += 0) {")]),
}

_KERNELS = ("gemv_reference_source", "gemv_unrolled_source", "gemv_threads_source", "gemv_simd_source",
            "gemv_all_source", "gemm_all_source", "gemv_w4a8_source")
# graded answer -> the graded answers its test cell also calls (a mutant of one of those would
# make the test fail for another reason, so such mutants are never graded in the same notebook)
# random_w4 and extreme_w4a8 pack, expected_gemv unpacks
DEPENDS_ON = {kernel: {"pack_int4", "unpack_int4"} for kernel in _KERNELS}

# graded answer -> the test cell that grades it
TEST_OF = {
    "quantize_int4": "test_quantize_int4",
    "pack_int4": "test_pack_int4",
    "unpack_int4": "test_unpack_int4",
    "gemv_reference_source": "test_gemv_reference",
    "gemv_unrolled_source": "test_gemv_unrolled",
    "gemv_threads_source": "test_gemv_threads",
    "gemv_simd_source": "test_gemv_simd",
    "gemv_all_source": "test_gemv_all",
    "gemm_all_source": "test_gemm_all",
    "quantize_activations_int8": "test_quantize_activations_int8",
    "gemv_w4a8_source": "test_gemv_w4a8",
}


# MUTANTS: lab5_llm_deployment.toml, beside this file

_SIGNATURE = '''void gemv_w4(const uint8_t *w, const float *scales, const float *zeros, const float *x, float *y,
             int n_out, int n_in, int group_size)'''

# Correct answers written differently from the reference: each must keep full marks.
ALTERNATIVES = {
    "quantize_int4": '''
def quantize_int4(w, group_size=64):
    rows, cols = w.shape
    if cols % group_size:
        raise ValueError("group_size must divide the number of columns")
    g = w.float().view(rows, -1, group_size)
    lo, hi = g.min(-1).values, g.max(-1).values
    scales = torch.clamp(hi - lo, min=1e-5) / 15.0
    zeros = torch.clamp(torch.round(-lo / scales), 0, 15)
    q = (torch.round(g / scales.unsqueeze(-1)) + zeros.unsqueeze(-1)).clamp(0, 15).to(torch.uint8)
    return q.view(rows, cols), scales, zeros
''',
    "pack_int4": '''
def pack_int4(q):
    if q.shape[-1] % 2 != 0 or q.max().item() > 15:
        raise ValueError("need an even number of 4-bit codes")
    pairs = q.to(torch.int32).reshape(*q.shape[:-1], -1, 2)
    return (pairs[..., 0] + 16 * pairs[..., 1]).to(torch.uint8)
''',
    "unpack_int4": '''
def unpack_int4(packed):
    out = torch.empty(*packed.shape[:-1], packed.shape[-1] * 2, dtype=torch.uint8)
    out[..., 0::2] = packed % 16
    out[..., 1::2] = packed // 16
    return out
''',
    "gemv_reference_source": f'''
def gemv_reference_source():
    return HEADER + r"""
{_SIGNATURE} {{
    for (int o = 0; o < n_out; ++o) {{
        double sum = 0.0;
        for (int i = 0; i < n_in; i += 2) {{
            uint8_t b = w[(long)o * n_in / 2 + i / 2];
            long k = (long)o * (n_in / group_size) + i / group_size;
            sum += (double)scales[k] * (((b & 15) - zeros[k]) * x[i] + ((b >> 4) - zeros[k]) * x[i + 1]);
        }}
        y[o] = (float)sum;
    }}
}}
"""
''',
    "gemv_unrolled_source": f'''
def gemv_unrolled_source():
    return HEADER + r"""
{_SIGNATURE} {{
    int groups = n_in / group_size;
    for (int o = 0; o < n_out; o++) {{
        float total = 0.0f;
        for (int g = 0; g < groups; g++) {{
            const uint8_t *p = w + (long)o * (n_in / 2) + g * group_size / 2;
            const float *v = x + g * group_size;
            float a = 0, b = 0, sum_v = 0;
            for (int j = 0; j < group_size / 2; j += 4) {{
                a += (p[j] & 15) * v[2*j] + (p[j+1] & 15) * v[2*j+2] + (p[j+2] & 15) * v[2*j+4] + (p[j+3] & 15) * v[2*j+6];
                b += (p[j] >> 4) * v[2*j+1] + (p[j+1] >> 4) * v[2*j+3] + (p[j+2] >> 4) * v[2*j+5] + (p[j+3] >> 4) * v[2*j+7];
                sum_v += v[2*j] + v[2*j+1] + v[2*j+2] + v[2*j+3] + v[2*j+4] + v[2*j+5] + v[2*j+6] + v[2*j+7];
            }}
            total += scales[(long)o * groups + g] * (a + b - zeros[(long)o * groups + g] * sum_v);
        }}
        y[o] = total;
    }}
}}
"""
''',
    "gemv_threads_source": f'''
def gemv_threads_source():
    return HEADER + r"""
{_SIGNATURE} {{
    #pragma omp parallel
    {{
        #pragma omp for
        for (int o = 0; o < n_out; o++) {{
            float acc = 0.0f;
            for (int i = 0; i < n_in; i++) {{
                int byte = w[(long)o * (n_in / 2) + (i >> 1)];
                int q = (i & 1) ? (byte >> 4) : (byte & 15);
                long k = (long)o * (n_in / group_size) + i / group_size;
                acc += scales[k] * (q - zeros[k]) * x[i];
            }}
            y[o] = acc;
        }}
    }}
}}
"""
''',
    "gemv_simd_source": f'''
def gemv_simd_source():
    return HEADER + r"""
typedef float v8 __attribute__((vector_size(32)));
typedef int32_t i8 __attribute__((vector_size(32)));
typedef uint8_t b8 __attribute__((vector_size(8)));
{_SIGNATURE} {{
    int groups = n_in / group_size;
    for (int o = 0; o < n_out; o++) {{
        const uint8_t *row = w + (long)o * (n_in / 2);
        float acc = 0.0f;
        for (int g = 0; g < groups; g++) {{
            v8 dot = {{0}}, xs = {{0}};
            for (int i = g * group_size; i < (g + 1) * group_size; i += 16) {{
                b8 b; __builtin_memcpy(&b, row + i / 2, 8);
                v8 lo = __builtin_convertvector(__builtin_convertvector(b & 15, i8), v8);
                v8 hi = __builtin_convertvector(__builtin_convertvector(b >> 4, i8), v8);
                v8 xe, xo;
                for (int k = 0; k < 8; k++) {{ xe[k] = x[i + 2 * k]; xo[k] = x[i + 2 * k + 1]; }}
                dot += lo * xe + hi * xo;
                xs += xe + xo;
            }}
            float d = 0.0f, s = 0.0f;
            for (int k = 0; k < 8; k++) {{ d += dot[k]; s += xs[k]; }}
            long k = (long)o * groups + g;
            acc += scales[k] * (d - zeros[k] * s);
        }}
        y[o] = acc;
    }}
}}
"""
''',
    "gemm_all_source": '''
def gemm_all_source():
    return HEADER + r"""
void gemm_w4(const uint8_t *w, const float *scales, const float *zeros, const float *x, float *y,
             int n_tokens, int n_out, int n_in, int group_size) {
    int groups = n_in / group_size;
    #pragma omp parallel for
    for (int o = 0; o < n_out; o++) {
        for (int t = 0; t < n_tokens; t++) {
            float acc = 0.0f;
            for (int i = 0; i < n_in; i++) {
                int b = w[(long)o * (n_in / 2) + i / 2];
                int q = (i & 1) ? b >> 4 : b & 15;
                long k = (long)o * groups + i / group_size;
                acc += (q - zeros[k]) * scales[k] * x[(long)t * n_in + i];
            }
            y[(long)t * n_out + o] = acc;
        }
    }
}
"""
''',
    "gemv_all_source": f'''
def gemv_all_source():
    return HEADER + r"""
typedef float v16 __attribute__((vector_size(64)));
typedef int32_t i16v __attribute__((vector_size(64)));
typedef uint8_t b16 __attribute__((vector_size(16)));
{_SIGNATURE} {{
    int groups = n_in / group_size, half = n_in / 2;
    float *xe = malloc(sizeof(float) * half), *xo = malloc(sizeof(float) * half), *xs = calloc(groups, sizeof(float));
    for (int j = 0; j < half; j++) {{ xe[j] = x[2 * j]; xo[j] = x[2 * j + 1]; xs[2 * j / group_size] += x[2 * j] + x[2 * j + 1]; }}
    #pragma omp parallel for
    for (int o = 0; o < n_out; o++) {{
        const uint8_t *row = w + (long)o * half;
        float acc = 0.0f;
        for (int g = 0; g < groups; g++) {{
            v16 d = {{0}};
            for (int j = g * group_size / 2; j < (g + 1) * group_size / 2; j += 16) {{
                b16 b; __builtin_memcpy(&b, row + j, 16);
                v16 e, od; __builtin_memcpy(&e, xe + j, 64); __builtin_memcpy(&od, xo + j, 64);
                d += __builtin_convertvector(__builtin_convertvector(b & 15, i16v), v16) * e
                   + __builtin_convertvector(__builtin_convertvector(b >> 4, i16v), v16) * od;
            }}
            float s = 0.0f;
            for (int k = 0; k < 16; k++) s += d[k];
            acc += scales[(long)o * groups + g] * (s - zeros[(long)o * groups + g] * xs[g]);
        }}
        y[o] = acc;
    }}
    free(xe); free(xo); free(xs);
}}
"""
''',
    "quantize_activations_int8": '''
def quantize_activations_int8(x, block=64):
    *lead, n = x.shape
    if n % block:
        raise ValueError("block must divide the last dimension")
    v = x.float().view(*lead, n // block, block)
    amax = v.abs().max(dim=-1).values
    ratio = torch.nan_to_num(v * (127 / amax).unsqueeze(-1), nan=0.0)  # 0 / 0 in a block of zeros
    codes = ratio.round().clamp(-127, 127).to(torch.int8).view(x.shape)
    return codes, amax / 127
''',
    "gemv_w4a8_source": '''
def gemv_w4a8_source():
    # one path, plain C: integer sums per group in int32 (correct with and without -DW4A8_PORTABLE)
    return HEADER + r"""
void gemv_w4a8(const uint8_t *w, const float *scales, const float *zeros, const int8_t *xq,
               const float *x_scales, float *y, int n_out, int n_in, int group_size) {
    int groups = n_in / group_size;
    #pragma omp parallel for
    for (int o = 0; o < n_out; o++) {
        const uint8_t *row = w + (long)o * (n_in / 2);
        float acc = 0.0f;
        for (int g = 0; g < groups; g++) {
            int32_t dot = 0, xsum = 0;
            for (int i = g * group_size; i < (g + 1) * group_size; i += 2) {
                uint8_t b = row[i / 2];
                dot += (b & 15) * xq[i] + (b >> 4) * xq[i + 1];
                xsum += xq[i] + xq[i + 1];
            }
            long k = (long)o * groups + g;
            acc += scales[k] * x_scales[g] * (float)(dot - (int32_t)zeros[k] * xsum);
        }
        y[o] = acc;
    }
}
"""
''',
}


# how the blind pass began both its combined kernels (Q8 and the bonus GEMM): vector types and helpers
_BLIND_VECTOR_HELPERS = r'''    return HEADER + r"""
typedef uint8_t u8x16 __attribute__((vector_size(16)));   /* 16 bytes = 32 weights */
typedef float   f32x16 __attribute__((vector_size(64)));
typedef int32_t i32x16 __attribute__((vector_size(64)));

static inline f32x16 dequant(i32x16 codes, f32x16 table, float zero, float scale) {
#if defined(__GNUC__) && !defined(__clang__)
    (void)zero; (void)scale;
    return __builtin_shuffle(table, codes);
#else
    (void)table;
    return (__builtin_convertvector(codes, f32x16) - zero) * scale;
#endif
}

static inline f32x16 load_f32x16(const float *p) {
    f32x16 v;
    __builtin_memcpy(&v, p, sizeof v);
    return v;
}

static inline float reduce16(f32x16 v) {
    float s = 0.0f;
    for (int k = 0; k < 16; k++) s += v[k];
    return s;
}

'''

# Answers written by a helper who saw only the student notebook (never solutions/ or these tests),
# exactly as written: {grade_id: (what it revealed, source)}. Each must keep full marks.

BLIND = {
    'quantize_int4': (
        "clamped the scale after dividing (max(range / 15, 1e-5)) where the reference clamps the range before dividing (the old text said only 'clamp the scale to at least 1e-5'), and asked whether the range is widened to include 0 and how to round; the text now writes every clamp into the formula (AWQ's and Lab 4's quantizer: max(max - min, 1e-5) / 15, zero an integer code in 0..15, torch.round half to even) and says a range that excludes 0 is clipped at one end; no test was changed (no hidden input has a range below 15e-5)",
        r'''def quantize_int4(w: torch.Tensor, group_size: int = 64):
    if w.dim() != 2:
        raise ValueError(f"expected a 2-D weight (out_features, in_features), got shape {tuple(w.shape)}")
    n_out, n_in = w.shape
    if group_size <= 0 or n_in % group_size != 0:
        raise ValueError(f"group_size {group_size} does not divide the row length {n_in}")
    groups = w.detach().to(torch.float32).reshape(n_out, n_in // group_size, group_size)
    w_min = groups.amin(dim=-1)
    w_max = groups.amax(dim=-1)
    scales = ((w_max - w_min) / 15).clamp_min(1e-5)
    zeros = (-torch.round(w_min / scales)).clamp(0, 15)
    q = (torch.round(groups / scales[..., None]) + zeros[..., None]).clamp(0, 15)
    return q.to(torch.uint8).reshape(n_out, n_in), scales.contiguous(), zeros.contiguous()'''),
    'pack_int4': (
        'nothing wrong; asked whether non-uint8 integer codes are accepted (they are converted)',
        r'''def pack_int4(q: torch.Tensor) -> torch.Tensor:
    if q.dim() != 2:
        raise ValueError(f"expected 2-D codes (n_out, n_in), got shape {tuple(q.shape)}")
    n_out, n_in = q.shape
    if n_in % 2 != 0:
        raise ValueError(f"n_in = {n_in} is odd: two codes per byte need an even row length")
    if q.is_floating_point() or q.is_complex() or q.dtype == torch.bool:
        raise ValueError(f"codes must be integers, got dtype {q.dtype}")
    if q.numel() and (int(q.max()) > 15 or int(q.min()) < 0):
        raise ValueError(f"codes must be in 0..15, got values in {int(q.min())}..{int(q.max())}")
    q = q.to(torch.uint8)
    low, high = q[:, 0::2], q[:, 1::2]
    return (low | (high << 4)).contiguous()'''),
    'unpack_int4': (
        'nothing',
        r'''def unpack_int4(packed: torch.Tensor) -> torch.Tensor:
    if packed.dim() != 2:
        raise ValueError(f"expected 2-D packed bytes (n_out, n_bytes), got shape {tuple(packed.shape)}")
    packed = packed.to(torch.uint8)
    n_out, n_bytes = packed.shape
    low = packed & 0x0F
    high = packed >> 4
    return torch.stack([low, high], dim=-1).reshape(n_out, 2 * n_bytes).contiguous()'''),
    'gemv_reference_source': (
        'nothing (a float accumulator and size_t row offsets are both fine)',
        r'''def gemv_reference_source() -> str:
    return HEADER + r"""
void gemv_w4(const uint8_t *w, const float *scales, const float *zeros, const float *x, float *y,
             int n_out, int n_in, int group_size) {
    int n_groups = n_in / group_size;
    for (int o = 0; o < n_out; o++) {
        const uint8_t *row = w + (size_t)o * (size_t)(n_in / 2);
        const float *s = scales + (size_t)o * n_groups;
        const float *z = zeros + (size_t)o * n_groups;
        float acc = 0.0f;
        for (int i = 0; i < n_in; i++) {
            uint8_t byte = row[i / 2];
            int code = (i % 2 == 0) ? (byte & 0x0F) : (byte >> 4);
            int g = i / group_size;
            acc += ((float)code - z[g]) * s[g] * x[i];
        }
        y[o] = acc;
    }
}
"""'''),
    'gemv_unrolled_source': (
        "noted that Q4's reference has / and % in its inner loop while Q5 forbids them (as intended)",
        r'''def gemv_unrolled_source() -> str:
    return HEADER + r"""
void gemv_w4(const uint8_t *w, const float *scales, const float *zeros, const float *x, float *y,
             int n_out, int n_in, int group_size) {
    const int n_groups = n_in / group_size;
    const int row_bytes = n_in / 2;
    const int group_bytes = group_size / 2;
    for (int o = 0; o < n_out; o++) {
        const uint8_t *row = w + (size_t)o * (size_t)row_bytes;
        const float *s = scales + (size_t)o * n_groups;
        const float *z = zeros + (size_t)o * n_groups;
        float acc = 0.0f;
        for (int g = 0; g < n_groups; g++) {
            const uint8_t *b = row + (size_t)g * group_bytes;
            const float *xg = x + (size_t)g * group_size;
            /* independent accumulators: four for sum(q * x), four for sum(x) */
            float d0 = 0.0f, d1 = 0.0f, d2 = 0.0f, d3 = 0.0f;
            float x0 = 0.0f, x1 = 0.0f, x2 = 0.0f, x3 = 0.0f;
            for (int j = 0; j < group_bytes; j += 2) {   /* two bytes = four weights per iteration */
                const uint8_t b0 = b[j], b1 = b[j + 1];
                const float *xp = xg + 2 * j;
                const float xa = xp[0], xb = xp[1], xc = xp[2], xd = xp[3];
                d0 += (float)(b0 & 0x0F) * xa;
                d1 += (float)(b0 >> 4) * xb;
                d2 += (float)(b1 & 0x0F) * xc;
                d3 += (float)(b1 >> 4) * xd;
                x0 += xa;
                x1 += xb;
                x2 += xc;
                x3 += xd;
            }
            const float dot = (d0 + d1) + (d2 + d3);
            const float sum_x = (x0 + x1) + (x2 + x3);
            acc += s[g] * (dot - z[g] * sum_x);
        }
        y[o] = acc;
    }
}
"""'''),
    'gemv_threads_source': (
        'nothing; it passes the new bit-for-bit check against the one-thread build',
        r'''def gemv_threads_source() -> str:
    return HEADER + r"""
void gemv_w4(const uint8_t *w, const float *scales, const float *zeros, const float *x, float *y,
             int n_out, int n_in, int group_size) {
    const int n_groups = n_in / group_size;
    #pragma omp parallel for schedule(static)
    for (int o = 0; o < n_out; o++) {
        /* everything a thread writes is private to its row: the row's accumulator and y[o] */
        const uint8_t *row = w + (size_t)o * (size_t)(n_in / 2);
        const float *s = scales + (size_t)o * n_groups;
        const float *z = zeros + (size_t)o * n_groups;
        float acc = 0.0f;
        for (int i = 0; i < n_in; i++) {
            uint8_t byte = row[i / 2];
            int code = (i % 2 == 0) ? (byte & 0x0F) : (byte >> 4);
            int g = i / group_size;
            acc += ((float)code - z[g]) * s[g] * x[i];
        }
        y[o] = acc;
    }
}
"""'''),
    'gemv_simd_source': (
        "asked how to get the even and odd inputs before Q8's de-interleave (gathering them is right)",
        r'''def gemv_simd_source() -> str:
    return HEADER + r"""
typedef uint8_t u8x16 __attribute__((vector_size(16)));   /* 16 bytes = 32 weights */
typedef float   f32x16 __attribute__((vector_size(64)));
typedef int32_t i32x16 __attribute__((vector_size(64)));

static inline float reduce16(f32x16 v) {
    float s = 0.0f;
    for (int k = 0; k < 16; k++) s += v[k];
    return s;
}

void gemv_w4(const uint8_t *w, const float *scales, const float *zeros, const float *x, float *y,
             int n_out, int n_in, int group_size) {
    const int n_groups = n_in / group_size;
    const int row_bytes = n_in / 2;
    const int group_bytes = group_size / 2;
    for (int o = 0; o < n_out; o++) {
        const uint8_t *row = w + (size_t)o * (size_t)row_bytes;
        const float *s = scales + (size_t)o * n_groups;
        const float *z = zeros + (size_t)o * n_groups;
        float acc = 0.0f;
        for (int g = 0; g < n_groups; g++) {
            const uint8_t *bg = row + (size_t)g * group_bytes;
            const float *xg = x + (size_t)g * group_size;
            f32x16 dot = {0}, sum_x = {0};
            for (int j = 0; j < group_bytes; j += 16) {
                u8x16 b;
                __builtin_memcpy(&b, bg + j, 16);                       /* an unaligned load */
                f32x16 even = __builtin_convertvector(__builtin_convertvector(b & 0x0F, i32x16), f32x16);
                f32x16 odd = __builtin_convertvector(__builtin_convertvector(b >> 4, i32x16), f32x16);
                const float *xp = xg + 2 * j;                          /* the 32 matching inputs */
                f32x16 xe, xo;
                for (int k = 0; k < 16; k++) {
                    xe[k] = xp[2 * k];
                    xo[k] = xp[2 * k + 1];
                }
                dot += even * xe + odd * xo;
                sum_x += xe + xo;
            }
            acc += s[g] * (reduce16(dot) - z[g] * reduce16(sum_x));
        }
        y[o] = acc;
    }
}
"""'''),
    'gemv_all_source': (
        "asked what 'two 16-byte chunks per iteration' means for a group of 32 weights (one chunk) and whether malloc'd floats may be loaded as f32x16 (only 16-byte aligned); the text now says both",
        r'''def gemv_all_source() -> str:
''' + _BLIND_VECTOR_HELPERS + r'''void gemv_w4(const uint8_t *w, const float *scales, const float *zeros, const float *x, float *y,
             int n_out, int n_in, int group_size) {
    const int n_groups = n_in / group_size;
    const int row_bytes = n_in / 2;
    const int group_bytes = group_size / 2;
    /* shared by every row: x de-interleaved into its even and odd elements, once per call */
    float *x_even = (float *)malloc((size_t)row_bytes * sizeof(float));
    float *x_odd = (float *)malloc((size_t)row_bytes * sizeof(float));
    if (!x_even || !x_odd) { free(x_even); free(x_odd); return; }
    for (int j = 0; j < row_bytes; j++) {
        x_even[j] = x[2 * j];
        x_odd[j] = x[2 * j + 1];
    }
    const f32x16 iota = {0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15};
    #pragma omp parallel for schedule(static)
    for (int o = 0; o < n_out; o++) {
        const uint8_t *row = w + (size_t)o * (size_t)row_bytes;
        const float *s = scales + (size_t)o * n_groups;
        const float *z = zeros + (size_t)o * n_groups;
        f32x16 acc0 = {0}, acc1 = {0};
        for (int g = 0; g < n_groups; g++) {
            const float scale = s[g], zero = z[g];
            const f32x16 table = (iota - zero) * scale;         /* the group's 16 possible weights */
            const int start = g * group_bytes, end = start + group_bytes;
            int j = start;
            for (; j + 32 <= end; j += 32) {                    /* two 16-byte chunks per iteration */
                u8x16 b0, b1;
                __builtin_memcpy(&b0, row + j, 16);
                __builtin_memcpy(&b1, row + j + 16, 16);
                f32x16 e0 = dequant(__builtin_convertvector(b0 & 0x0F, i32x16), table, zero, scale);
                f32x16 o0 = dequant(__builtin_convertvector(b0 >> 4, i32x16), table, zero, scale);
                f32x16 e1 = dequant(__builtin_convertvector(b1 & 0x0F, i32x16), table, zero, scale);
                f32x16 o1 = dequant(__builtin_convertvector(b1 >> 4, i32x16), table, zero, scale);
                acc0 += e0 * load_f32x16(x_even + j) + o0 * load_f32x16(x_odd + j);
                acc1 += e1 * load_f32x16(x_even + j + 16) + o1 * load_f32x16(x_odd + j + 16);
            }
            for (; j < end; j += 16) {                          /* a last single chunk (e.g. groups of 32) */
                u8x16 b0;
                __builtin_memcpy(&b0, row + j, 16);
                f32x16 e0 = dequant(__builtin_convertvector(b0 & 0x0F, i32x16), table, zero, scale);
                f32x16 o0 = dequant(__builtin_convertvector(b0 >> 4, i32x16), table, zero, scale);
                acc0 += e0 * load_f32x16(x_even + j) + o0 * load_f32x16(x_odd + j);
            }
        }
        y[o] = reduce16(acc0 + acc1);
    }
    free(x_even);
    free(x_odd);
}
"""'''),
    'gemm_all_source': (
        'asked whether the per-token accumulators are per thread (they must be: a shared array races); the bonus text now says per thread',
        r'''def gemm_all_source() -> str:
''' + _BLIND_VECTOR_HELPERS + r'''void gemm_w4(const uint8_t *w, const float *scales, const float *zeros, const float *x, float *y,
             int n_tokens, int n_out, int n_in, int group_size) {
    if (n_tokens <= 0 || n_out <= 0) return;
    const int n_groups = n_in / group_size;
    const int row_bytes = n_in / 2;
    const int group_bytes = group_size / 2;
    /* every token's x de-interleaved once per call: x_even[t * row_bytes + j] = x[t][2j] */
    float *x_even = (float *)malloc((size_t)n_tokens * row_bytes * sizeof(float));
    float *x_odd = (float *)malloc((size_t)n_tokens * row_bytes * sizeof(float));
    if (!x_even || !x_odd) { free(x_even); free(x_odd); return; }
    for (int t = 0; t < n_tokens; t++) {
        const float *xt = x + (size_t)t * n_in;
        float *et = x_even + (size_t)t * row_bytes, *ot = x_odd + (size_t)t * row_bytes;
        for (int j = 0; j < row_bytes; j++) {
            et[j] = xt[2 * j];
            ot[j] = xt[2 * j + 1];
        }
    }
    const f32x16 iota = {0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15};
    #pragma omp parallel
    {
        /* one vector accumulator per token, private to the thread (vector types need 64-byte alignment) */
        f32x16 *acc = (f32x16 *)aligned_alloc(64, (size_t)n_tokens * sizeof(f32x16));
        #pragma omp for schedule(static)
        for (int o = 0; o < n_out; o++) {
            if (!acc) continue;
            const uint8_t *row = w + (size_t)o * (size_t)row_bytes;
            const float *s = scales + (size_t)o * n_groups;
            const float *z = zeros + (size_t)o * n_groups;
            for (int t = 0; t < n_tokens; t++) acc[t] = (f32x16){0};
            for (int g = 0; g < n_groups; g++) {
                const float scale = s[g], zero = z[g];
                const f32x16 table = (iota - zero) * scale;
                const int start = g * group_bytes, end = start + group_bytes;
                for (int j = start; j < end; j += 16) {
                    u8x16 b;
                    __builtin_memcpy(&b, row + j, 16);
                    /* dequantize the 16-byte chunk once ... */
                    const f32x16 we = dequant(__builtin_convertvector(b & 0x0F, i32x16), table, zero, scale);
                    const f32x16 wo = dequant(__builtin_convertvector(b >> 4, i32x16), table, zero, scale);
                    /* ... and use it for every token */
                    for (int t = 0; t < n_tokens; t++) {
                        const size_t off = (size_t)t * row_bytes + j;
                        acc[t] += we * load_f32x16(x_even + off) + wo * load_f32x16(x_odd + off);
                    }
                }
            }
            for (int t = 0; t < n_tokens; t++) y[(size_t)t * n_out + o] = reduce16(acc[t]);
        }
        free(acc);
    }
    free(x_even);
    free(x_odd);
}
"""'''),
}


# Second blind pass (issue 13): written from the student notebook as rewritten, by a helper who saw
# nothing else. It replaces the first pass for these answers; the first-pass answers stay in
# BLIND_SUPERSEDED for the record (written against the old text, not graded).
BLIND_SUPERSEDED = {gid: BLIND[gid] for gid in ('quantize_int4', 'gemv_threads_source', 'gemv_all_source', 'gemm_all_source') if gid in BLIND}
BLIND.update({
    'quantize_int4': (
        "second pass on the rewritten text (Lab 4's quantizer, every clamp written): range clamped before dividing, zero point an integer code in [0, 15], torch.round; raises ValueError on non-2-D input and group_size <= 0; nothing else open",
        'def quantize_int4(w: torch.Tensor, group_size: int = 64):\n    if w.dim() != 2:\n        raise ValueError(f"expected a 2-D weight (out_features, in_features), got shape {tuple(w.shape)}")\n    n_out, n_in = w.shape\n    if group_size <= 0 or n_in % group_size != 0:\n        raise ValueError(f"group_size {group_size} does not divide the row length {n_in}")\n    max_int = 2 ** 4 - 1\n    groups = w.detach().float().reshape(n_out, n_in // group_size, group_size)\n    max_val = groups.amax(dim=-1, keepdim=True)\n    min_val = groups.amin(dim=-1, keepdim=True)\n    scales = (max_val - min_val).clamp(min=1e-5) / max_int           # clamp the range, then divide\n    zeros = torch.clamp(-torch.round(min_val / scales), 0, max_int)  # an integer code 0..15\n    q = torch.clamp(torch.round(groups / scales) + zeros, 0, max_int)\n    return (q.to(torch.uint8).reshape(n_out, n_in),\n            scales.squeeze(-1).contiguous(), zeros.squeeze(-1).contiguous())'),
    'gemv_threads_source': (
        'second pass on the rewritten text (rows split, result equal to one thread bit for bit): every written variable declared inside the row loop, schedule(static) chosen (the text does not fix it); passes the race check',
        'def gemv_threads_source() -> str:\n    # the reference kernel with the output rows split across threads; every variable a thread writes\n    # (acc, q, g, b) is declared inside the row loop, so it is private to that thread\n    return HEADER + r"""\nvoid gemv_w4(const uint8_t *w, const float *scales, const float *zeros, const float *x, float *y,\n             int n_out, int n_in, int group_size) {\n    const int n_groups = n_in / group_size;\n    #pragma omp parallel for schedule(static)\n    for (int o = 0; o < n_out; o++) {\n        const uint8_t *row = w + (size_t)o * (size_t)(n_in / 2);\n        const float *s = scales + (size_t)o * n_groups, *z = zeros + (size_t)o * n_groups;\n        float acc = 0.0f;\n        for (int i = 0; i < n_in; i++) {\n            uint8_t b = row[i / 2];\n            int q = (i % 2 == 0) ? (b & 0x0F) : (b >> 4);\n            int g = i / group_size;\n            acc += ((float)q - z[g]) * s[g] * x[i];\n        }\n        y[o] = acc;\n    }\n}\n"""'),
    'gemv_all_source': (
        'second pass on the rewritten text (a 32-weight group is one chunk, unaligned loads with __builtin_memcpy): reduces once per row; returns without writing y if malloc fails (the text says nothing about it)',
        'def gemv_all_source() -> str:\n    return HEADER + r"""\ntypedef uint8_t u8x16 __attribute__((vector_size(16)));\ntypedef float   f32x16 __attribute__((vector_size(64)));\ntypedef int32_t i32x16 __attribute__((vector_size(64)));\n\nstatic inline f32x16 dequant(i32x16 codes, f32x16 table, float zero, float scale) {\n#if defined(__GNUC__) && !defined(__clang__)\n    (void)zero; (void)scale;\n    return __builtin_shuffle(table, codes);\n#else\n    (void)table;\n    return (__builtin_convertvector(codes, f32x16) - zero) * scale;\n#endif\n}\n\nstatic inline f32x16 load16(const float *p) {   /* an unaligned load of 16 floats */\n    f32x16 v;\n    __builtin_memcpy(&v, p, sizeof v);\n    return v;\n}\n\nvoid gemv_w4(const uint8_t *w, const float *scales, const float *zeros, const float *x, float *y,\n             int n_out, int n_in, int group_size) {\n    const int n_groups = n_in / group_size, half = group_size / 2, n_bytes = n_in / 2;\n    /* de-interleave x once per call: xe[j] = x[2j] (low nibbles), xo[j] = x[2j+1] (high nibbles) */\n    float *xe = malloc(sizeof(float) * (size_t)(n_bytes > 0 ? n_bytes : 1));\n    float *xo = malloc(sizeof(float) * (size_t)(n_bytes > 0 ? n_bytes : 1));\n    if (!xe || !xo) { free(xe); free(xo); return; }\n    for (int j = 0; j < n_bytes; j++) { xe[j] = x[2 * j]; xo[j] = x[2 * j + 1]; }\n    const f32x16 iota = {0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15};\n\n    #pragma omp parallel for schedule(static)\n    for (int o = 0; o < n_out; o++) {\n        const uint8_t *row = w + (size_t)o * (size_t)n_bytes;\n        const float *s = scales + (size_t)o * n_groups, *z = zeros + (size_t)o * n_groups;\n        f32x16 acc0 = {0}, acc1 = {0};\n        for (int g = 0; g < n_groups; g++) {\n            const float scale = s[g], zero = z[g];\n            const f32x16 table = (iota - zero) * scale;          /* the group\'s 16 weight values */\n            const int start = g * half, end = start + half;\n            int j = start;\n            for (; j + 32 <= end; j += 32) {                      /* two 16-byte chunks */\n                u8x16 b0, b1;\n                __builtin_memcpy(&b0, row + j, 16);\n                __builtin_memcpy(&b1, row + j + 16, 16);\n                f32x16 we0 = dequant(__builtin_convertvector(b0 & 0x0F, i32x16), table, zero, scale);\n                f32x16 wo0 = dequant(__builtin_convertvector(b0 >> 4, i32x16), table, zero, scale);\n                f32x16 we1 = dequant(__builtin_convertvector(b1 & 0x0F, i32x16), table, zero, scale);\n                f32x16 wo1 = dequant(__builtin_convertvector(b1 >> 4, i32x16), table, zero, scale);\n                acc0 += we0 * load16(xe + j) + wo0 * load16(xo + j);\n                acc1 += we1 * load16(xe + j + 16) + wo1 * load16(xo + j + 16);\n            }\n            if (j < end) {                                        /* a group of 32 weights: one chunk */\n                u8x16 b0;\n                __builtin_memcpy(&b0, row + j, 16);\n                f32x16 we0 = dequant(__builtin_convertvector(b0 & 0x0F, i32x16), table, zero, scale);\n                f32x16 wo0 = dequant(__builtin_convertvector(b0 >> 4, i32x16), table, zero, scale);\n                acc0 += we0 * load16(xe + j) + wo0 * load16(xo + j);\n            }\n        }\n        f32x16 acc = acc0 + acc1;\n        float total = 0.0f;\n        for (int k = 0; k < 16; k++) total += acc[k];\n        y[o] = total;\n    }\n    free(xe);\n    free(xo);\n}\n"""'),
    'gemm_all_source': (
        'second pass on the rewritten text (per-thread accumulators): aligned_alloc per thread, one chunk per iteration, each chunk dequantized once for all tokens; n_tokens <= 0 returns at once',
        'def gemm_all_source() -> str:\n    return HEADER + r"""\ntypedef uint8_t u8x16 __attribute__((vector_size(16)));\ntypedef float   f32x16 __attribute__((vector_size(64)));\ntypedef int32_t i32x16 __attribute__((vector_size(64)));\n\nstatic inline f32x16 dequant(i32x16 codes, f32x16 table, float zero, float scale) {\n#if defined(__GNUC__) && !defined(__clang__)\n    (void)zero; (void)scale;\n    return __builtin_shuffle(table, codes);\n#else\n    (void)table;\n    return (__builtin_convertvector(codes, f32x16) - zero) * scale;\n#endif\n}\n\nstatic inline f32x16 load16(const float *p) {   /* an unaligned load of 16 floats */\n    f32x16 v;\n    __builtin_memcpy(&v, p, sizeof v);\n    return v;\n}\n\nvoid gemm_w4(const uint8_t *w, const float *scales, const float *zeros, const float *x, float *y,\n             int n_tokens, int n_out, int n_in, int group_size) {\n    if (n_tokens <= 0 || n_out <= 0) return;\n    const int n_groups = n_in / group_size, half = group_size / 2, n_bytes = n_in / 2;\n    /* de-interleave every token\'s x once: xe[t][j] = x[t][2j], xo[t][j] = x[t][2j+1] */\n    size_t n_x = (size_t)n_tokens * (size_t)(n_bytes > 0 ? n_bytes : 1);\n    float *xe = malloc(sizeof(float) * n_x), *xo = malloc(sizeof(float) * n_x);\n    if (!xe || !xo) { free(xe); free(xo); return; }\n    for (int t = 0; t < n_tokens; t++)\n        for (int j = 0; j < n_bytes; j++) {\n            xe[(size_t)t * n_bytes + j] = x[(size_t)t * n_in + 2 * j];\n            xo[(size_t)t * n_bytes + j] = x[(size_t)t * n_in + 2 * j + 1];\n        }\n    const f32x16 iota = {0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15};\n\n    #pragma omp parallel\n    {\n        /* one vector accumulator per token, private to this thread */\n        f32x16 *acc = aligned_alloc(64, sizeof(f32x16) * (size_t)n_tokens);\n        #pragma omp for schedule(static)\n        for (int o = 0; o < n_out; o++) {\n            if (!acc) continue;\n            const uint8_t *row = w + (size_t)o * (size_t)n_bytes;\n            const float *s = scales + (size_t)o * n_groups, *z = zeros + (size_t)o * n_groups;\n            for (int t = 0; t < n_tokens; t++) acc[t] = (f32x16){0};\n            for (int g = 0; g < n_groups; g++) {\n                const float scale = s[g], zero = z[g];\n                const f32x16 table = (iota - zero) * scale;\n                for (int j = g * half; j < (g + 1) * half; j += 16) {\n                    u8x16 b;\n                    __builtin_memcpy(&b, row + j, 16);\n                    /* dequantize the chunk once, use it for every token */\n                    const f32x16 we = dequant(__builtin_convertvector(b & 0x0F, i32x16), table, zero, scale);\n                    const f32x16 wo = dequant(__builtin_convertvector(b >> 4, i32x16), table, zero, scale);\n                    for (int t = 0; t < n_tokens; t++) {\n                        const float *xet = xe + (size_t)t * n_bytes + j, *xot = xo + (size_t)t * n_bytes + j;\n                        acc[t] += we * load16(xet) + wo * load16(xot);\n                    }\n                }\n            }\n            for (int t = 0; t < n_tokens; t++) {\n                float total = 0.0f;\n                for (int k = 0; k < 16; k++) total += acc[t][k];\n                y[(size_t)t * n_out + o] = total;\n            }\n        }\n        free(acc);\n    }\n    free(xe);\n    free(xo);\n}\n"""'),
})


# Blind pass for W4A8 (issue 15): written from the student notebook alone by a helper who saw nothing else.
BLIND.update({
    'quantize_activations_int8': (
        "W4A8 blind pass: float32 first, a guarded divisor for a block of zeros (and codes zeroed there), ValueError also for block <= 0 and 0-d input; nothing else open",
        'def quantize_activations_int8(x: torch.Tensor, block: int = 64):\n    if x.dim() == 0:\n        raise ValueError("x must have at least one dimension")\n    n = x.shape[-1]\n    if block <= 0 or n % block != 0:\n        raise ValueError(f"block {block} does not divide the last dimension {n}")\n    x = x.to(torch.float32)\n    blocks = x.reshape(*x.shape[:-1], n // block, block)\n    scales = blocks.abs().amax(dim=-1) / 127                      # t = max |x| / 127, one per block\n    safe = torch.where(scales > 0, scales, torch.ones_like(scales))  # a block of zeros: t = 0, codes 0\n    codes = torch.round(blocks / safe[..., None]).clamp(-127, 127)\n    codes = torch.where(scales[..., None] > 0, codes, torch.zeros_like(codes))\n    return codes.to(torch.int8).reshape(x.shape).contiguous(), scales.contiguous()'),
    'gemv_w4a8_source': (
        "W4A8 blind pass: AVX2 path two 32-byte chunks per iteration, then one, then a 16-byte _mm_ chunk, widened to int32 once per chunk; both paths de-interleave and sum the codes once per call; returns without writing y if malloc fails. It found the text's int16 limit muddled (8 chunks of 3810 vs 4 steps of 7620): the paragraph now counts both",
        'def gemv_w4a8_source() -> str:\n    return HEADER + r"""\n#include <string.h>\n\n#if defined(__AVX2__) && !defined(W4A8_PORTABLE)\n#include <immintrin.h>\n\nstatic inline int32_t hsum256_epi32(__m256i v) {\n    __m128i s = _mm_add_epi32(_mm256_castsi256_si128(v), _mm256_extracti128_si256(v, 1));\n    s = _mm_add_epi32(s, _mm_shuffle_epi32(s, _MM_SHUFFLE(1, 0, 3, 2)));\n    s = _mm_add_epi32(s, _mm_shuffle_epi32(s, _MM_SHUFFLE(2, 3, 0, 1)));\n    return _mm_cvtsi128_si32(s);\n}\n\n/* sum over one group of q_i * a_i, exact in int32: n_bytes (a multiple of 16) bytes of the row,\n   the matching de-interleaved even and odd activation codes */\nstatic inline int32_t group_dot(const uint8_t *w, const int8_t *xe, const int8_t *xo, int n_bytes) {\n    const __m256i mask = _mm256_set1_epi8(0x0F), ones = _mm256_set1_epi16(1);\n    __m256i acc0 = _mm256_setzero_si256(), acc1 = _mm256_setzero_si256();\n    int j = 0;\n    for (; j + 64 <= n_bytes; j += 64) {   /* two 32-byte chunks (128 weights) per iteration */\n        __m256i b0 = _mm256_loadu_si256((const __m256i *)(w + j));\n        __m256i b1 = _mm256_loadu_si256((const __m256i *)(w + j + 32));\n        __m256i lo0 = _mm256_and_si256(b0, mask), hi0 = _mm256_and_si256(_mm256_srli_epi16(b0, 4), mask);\n        __m256i lo1 = _mm256_and_si256(b1, mask), hi1 = _mm256_and_si256(_mm256_srli_epi16(b1, 4), mask);\n        /* each maddubs lane <= 2 * 1905 = 3810; even + odd <= 7620: fits int16 */\n        __m256i s0 = _mm256_add_epi16(\n            _mm256_maddubs_epi16(lo0, _mm256_loadu_si256((const __m256i *)(xe + j))),\n            _mm256_maddubs_epi16(hi0, _mm256_loadu_si256((const __m256i *)(xo + j))));\n        __m256i s1 = _mm256_add_epi16(\n            _mm256_maddubs_epi16(lo1, _mm256_loadu_si256((const __m256i *)(xe + j + 32))),\n            _mm256_maddubs_epi16(hi1, _mm256_loadu_si256((const __m256i *)(xo + j + 32))));\n        acc0 = _mm256_add_epi32(acc0, _mm256_madd_epi16(s0, ones));   /* widened to int32 */\n        acc1 = _mm256_add_epi32(acc1, _mm256_madd_epi16(s1, ones));\n    }\n    if (j + 32 <= n_bytes) {               /* one 32-byte chunk (64 weights) */\n        __m256i b = _mm256_loadu_si256((const __m256i *)(w + j));\n        __m256i lo = _mm256_and_si256(b, mask), hi = _mm256_and_si256(_mm256_srli_epi16(b, 4), mask);\n        __m256i s = _mm256_add_epi16(\n            _mm256_maddubs_epi16(lo, _mm256_loadu_si256((const __m256i *)(xe + j))),\n            _mm256_maddubs_epi16(hi, _mm256_loadu_si256((const __m256i *)(xo + j))));\n        acc0 = _mm256_add_epi32(acc0, _mm256_madd_epi16(s, ones));\n        j += 32;\n    }\n    int32_t total = hsum256_epi32(_mm256_add_epi32(acc0, acc1));\n    if (j + 16 <= n_bytes) {               /* a 16-byte chunk (32 weights): the 128-bit versions */\n        const __m128i mask16 = _mm_set1_epi8(0x0F), ones16 = _mm_set1_epi16(1);\n        __m128i b = _mm_loadu_si128((const __m128i *)(w + j));\n        __m128i lo = _mm_and_si128(b, mask16), hi = _mm_and_si128(_mm_srli_epi16(b, 4), mask16);\n        __m128i s = _mm_add_epi16(_mm_maddubs_epi16(lo, _mm_loadu_si128((const __m128i *)(xe + j))),\n                                  _mm_maddubs_epi16(hi, _mm_loadu_si128((const __m128i *)(xo + j))));\n        __m128i t = _mm_madd_epi16(s, ones16);\n        t = _mm_add_epi32(t, _mm_shuffle_epi32(t, _MM_SHUFFLE(1, 0, 3, 2)));\n        t = _mm_add_epi32(t, _mm_shuffle_epi32(t, _MM_SHUFFLE(2, 3, 0, 1)));\n        total += _mm_cvtsi128_si32(t);\n    }\n    return total;\n}\n\n#else  /* portable: GCC/Clang vector extensions */\n\ntypedef uint8_t u8x16 __attribute__((vector_size(16)));\ntypedef int8_t  i8x16 __attribute__((vector_size(16)));\ntypedef int16_t i16x16 __attribute__((vector_size(32)));\ntypedef int32_t i32x16 __attribute__((vector_size(64)));\n\nstatic inline int32_t group_dot(const uint8_t *w, const int8_t *xe, const int8_t *xo, int n_bytes) {\n    i32x16 acc = {0};\n    for (int j = 0; j < n_bytes; j += 16) {   /* 16 bytes = 32 weights */\n        u8x16 b; i8x16 ae, ao;\n        __builtin_memcpy(&b, w + j, 16);\n        __builtin_memcpy(&ae, xe + j, 16);\n        __builtin_memcpy(&ao, xo + j, 16);\n        i16x16 lo = __builtin_convertvector(b & 0x0F, i16x16);   /* the 16 even weights */\n        i16x16 hi = __builtin_convertvector(b >> 4, i16x16);     /* the 16 odd weights */\n        /* each product <= 1905 in size, the two together <= 3810: fits int16 */\n        i16x16 s = lo * __builtin_convertvector(ae, i16x16) + hi * __builtin_convertvector(ao, i16x16);\n        acc += __builtin_convertvector(s, i32x16);               /* widened to int32 every chunk */\n    }\n    int32_t total = 0;\n    for (int k = 0; k < 16; k++) total += acc[k];\n    return total;\n}\n\n#endif\n\nvoid gemv_w4a8(const uint8_t *w, const float *scales, const float *zeros, const int8_t *xq,\n               const float *x_scales, float *y, int n_out, int n_in, int group_size) {\n    const int half = n_in / 2, n_groups = n_in / group_size, group_bytes = group_size / 2;\n    /* once per call, shared (read-only) by all rows: xq de-interleaved into its even and odd codes,\n       and the sum of the codes of each group */\n    int8_t *xe = (int8_t *)malloc((size_t)half + 64);\n    int8_t *xo = (int8_t *)malloc((size_t)half + 64);\n    int32_t *xsum = (int32_t *)malloc(sizeof(int32_t) * (size_t)(n_groups > 0 ? n_groups : 1));\n    if (xe == NULL || xo == NULL || xsum == NULL) {\n        free(xe); free(xo); free(xsum);\n        return;\n    }\n    for (int j = 0; j < half; j++) {\n        xe[j] = xq[2 * j];\n        xo[j] = xq[2 * j + 1];\n    }\n    for (int g = 0; g < n_groups; g++) {\n        int32_t s = 0;\n        for (int i = g * group_size; i < (g + 1) * group_size; i++) s += xq[i];\n        xsum[g] = s;\n    }\n\n    #pragma omp parallel for schedule(static)\n    for (int o = 0; o < n_out; o++) {\n        const uint8_t *row = w + (size_t)o * half;\n        const float *s_row = scales + (size_t)o * n_groups, *z_row = zeros + (size_t)o * n_groups;\n        float acc = 0.0f;\n        for (int g = 0; g < n_groups; g++) {\n            const int off = g * group_bytes;\n            int32_t dot = group_dot(row + off, xe + off, xo + off, group_bytes);   /* sum q_i a_i */\n            /* z * sum a_i: z is an integer code, both terms are exact integers in float (< 2^24) */\n            float centred = (float)dot - z_row[g] * (float)xsum[g];\n            acc += (s_row[g] * x_scales[g]) * centred;\n        }\n        y[o] = acc;\n    }\n    free(xe);\n    free(xo);\n    free(xsum);\n}\n"""'),
})
