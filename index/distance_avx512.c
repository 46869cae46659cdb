/*
 * AVX-512 distance kernels (16 floats per register).
 *
 * index/CMakeLists.txt compiles this file with -mavx512f -mavx512dq
 * -mavx512bw -mavx512vl on x86, so the SIMDe calls below become native
 * instructions.  distance.c hands out this table only when the CPU reports
 * all four extensions.
 *
 * Loops run four independent accumulators so consecutive FMAs do not wait
 * on each other.  A tail shorter than one register is loaded with its
 * other lanes zero, which adds nothing to a dot product, a squared L2 or
 * an L1 sum, so no load ever reads past the end of an input.
 */
#include <stdbool.h>
#include <stdint.h>
#include <string.h>

#include <simde/x86/avx512.h>

#include "distance.h"

#define LANES 16

static inline float hsum512(simde__m512 v) {
  simde__m256 lo = simde_mm512_castps512_ps256(v);
  simde__m256 hi = simde_mm256_castpd_ps(
      simde_mm512_extractf64x4_pd(simde_mm512_castps_pd(v), 1));
  simde__m256 s8 = simde_mm256_add_ps(lo, hi);
  simde__m128 s4 = simde_mm_add_ps(simde_mm256_castps256_ps128(s8),
                                   simde_mm256_extractf128_ps(s8, 1));
  s4 = simde_mm_add_ps(s4, simde_mm_movehl_ps(s4, s4));
  s4 = simde_mm_add_ss(s4, simde_mm_movehdup_ps(s4));
  return simde_mm_cvtss_f32(s4);
}

/* Loads n < LANES floats, zero-filling the rest of the register.  The
 * native masked load reads no byte past p[n - 1].  The copy is for
 * SIMDe's emulation, whose masked loads read the whole register. */
static inline simde__m512 load_tail(const float *p, size_t n) {
#if defined(SIMDE_X86_AVX512F_NATIVE)
  return _mm512_maskz_loadu_ps((__mmask16)((1u << n) - 1), p);
#else
  float buf[LANES] = {0};
  memcpy(buf, p, n * sizeof *p);
  return simde_mm512_loadu_ps(buf);
#endif
}

static inline simde__m512 abs512(simde__m512 v) {
  simde__m512i mask = simde_mm512_set1_epi32(0x7fffffff);
  return simde_mm512_castsi512_ps(
      simde_mm512_and_si512(simde_mm512_castps_si512(v), mask));
}

#if defined(SIMDE_X86_AVX512F_NATIVE)
/*
 * Pair kernels that read `b` in whole aligned cache lines.  A store row
 * of 100 floats starts at any 16-byte boundary, and when that is not a
 * line boundary each full 64-byte load of it spans two lines.  On the
 * machine of bench/hnsw/RESULTS.md that made the HNSW search on GloVe-100
 * (100,000 vectors) about 13% slower than over rows padded to 112 floats.
 * With these kernels the difference was within the noise of that shared
 * machine.  The loop starts at the line holding b[0] and masks off the
 * lanes before b[0] and after b[dim - 1].  `a` (the query, usually in
 * L1) is loaded at the matching unaligned offsets.  Masked-off lanes are
 * never read, so no load touches a byte outside either vector.  The sum
 * is the same as the plain loop's up to float rounding.
 */
enum pair_kind { PAIR_DOT, PAIR_L2SQ, PAIR_L1 };

static inline __attribute__((always_inline)) __m512
pair_step(__m512 x, __m512 y, __m512 acc, enum pair_kind kind) {
  if (kind == PAIR_DOT)
    return _mm512_fmadd_ps(x, y, acc);
  __m512 d = _mm512_sub_ps(x, y);
  if (kind == PAIR_L2SQ)
    return _mm512_fmadd_ps(d, d, acc);
  return _mm512_add_ps(acc, _mm512_abs_ps(d));
}

static inline __attribute__((always_inline)) float
pair_aligned(const float *a, const float *b, size_t dim,
             enum pair_kind kind) {
  size_t skip = ((uintptr_t)b & 63) / sizeof(float);
  /* b_line is the start of b's first cache line; a_start matches it. */
  const float *a_start = a - skip, *b_line = b - skip;
  size_t end = skip + dim; /* lanes to cover from b_line */
  __m512 s0 = _mm512_setzero_ps(), s1 = s0, s2 = s0, s3 = s0;

  /* First line: lanes [skip, min(end, 16)). */
  __mmask16 mask = (__mmask16)(0xFFFFu << skip);
  if (end < LANES)
    mask &= (__mmask16)((1u << end) - 1);
  s0 = pair_step(_mm512_maskz_loadu_ps(mask, a_start),
                 _mm512_maskz_load_ps(mask, b_line), s0, kind);

  size_t i = LANES;
  for (; i + 4 * LANES <= end; i += 4 * LANES) {
    const float *x = a_start + i, *y = b_line + i;
    s0 = pair_step(_mm512_loadu_ps(x), _mm512_load_ps(y), s0, kind);
    s1 = pair_step(_mm512_loadu_ps(x + 16), _mm512_load_ps(y + 16), s1, kind);
    s2 = pair_step(_mm512_loadu_ps(x + 32), _mm512_load_ps(y + 32), s2, kind);
    s3 = pair_step(_mm512_loadu_ps(x + 48), _mm512_load_ps(y + 48), s3, kind);
  }
  for (; i + LANES <= end; i += LANES)
    s1 = pair_step(_mm512_loadu_ps(a_start + i), _mm512_load_ps(b_line + i),
                   s1, kind);
  if (i < end) {
    mask = (__mmask16)((1u << (end - i)) - 1);
    s2 = pair_step(_mm512_maskz_loadu_ps(mask, a_start + i),
                   _mm512_maskz_load_ps(mask, b_line + i), s2, kind);
  }
  s0 = _mm512_add_ps(s0, s1);
  s2 = _mm512_add_ps(s2, s3);
  return _mm512_reduce_add_ps(_mm512_add_ps(s0, s2));
}

/* True when pair_aligned applies: `b` is float-aligned, as every float
 * array in C is, and non-empty. */
static inline bool can_align(const float *b, size_t dim) {
  return dim > 0 && ((uintptr_t)b & (sizeof(float) - 1)) == 0;
}
#endif

static float avx512_dot(const float *a, const float *b, size_t dim) {
#if defined(SIMDE_X86_AVX512F_NATIVE)
  if (can_align(b, dim))
    return pair_aligned(a, b, dim, PAIR_DOT);
#endif
  simde__m512 s0 = simde_mm512_setzero_ps(), s1 = s0, s2 = s0, s3 = s0;
  size_t i = 0;
  for (; i + 4 * LANES <= dim; i += 4 * LANES) {
    s0 = simde_mm512_fmadd_ps(simde_mm512_loadu_ps(a + i),
                              simde_mm512_loadu_ps(b + i), s0);
    s1 = simde_mm512_fmadd_ps(simde_mm512_loadu_ps(a + i + 16),
                              simde_mm512_loadu_ps(b + i + 16), s1);
    s2 = simde_mm512_fmadd_ps(simde_mm512_loadu_ps(a + i + 32),
                              simde_mm512_loadu_ps(b + i + 32), s2);
    s3 = simde_mm512_fmadd_ps(simde_mm512_loadu_ps(a + i + 48),
                              simde_mm512_loadu_ps(b + i + 48), s3);
  }
  for (; i + LANES <= dim; i += LANES)
    s0 = simde_mm512_fmadd_ps(simde_mm512_loadu_ps(a + i),
                              simde_mm512_loadu_ps(b + i), s0);
  if (i < dim)
    s1 = simde_mm512_fmadd_ps(load_tail(a + i, dim - i),
                              load_tail(b + i, dim - i), s1);
  s0 = simde_mm512_add_ps(s0, s1);
  s2 = simde_mm512_add_ps(s2, s3);
  return hsum512(simde_mm512_add_ps(s0, s2));
}

static inline simde__m512 sq_diff_add(simde__m512 x, simde__m512 y,
                                      simde__m512 acc) {
  simde__m512 d = simde_mm512_sub_ps(x, y);
  return simde_mm512_fmadd_ps(d, d, acc);
}

static float avx512_l2sq(const float *a, const float *b, size_t dim) {
#if defined(SIMDE_X86_AVX512F_NATIVE)
  if (can_align(b, dim))
    return pair_aligned(a, b, dim, PAIR_L2SQ);
#endif
  simde__m512 s0 = simde_mm512_setzero_ps(), s1 = s0, s2 = s0, s3 = s0;
  size_t i = 0;
  for (; i + 4 * LANES <= dim; i += 4 * LANES) {
    s0 = sq_diff_add(simde_mm512_loadu_ps(a + i),
                     simde_mm512_loadu_ps(b + i), s0);
    s1 = sq_diff_add(simde_mm512_loadu_ps(a + i + 16),
                     simde_mm512_loadu_ps(b + i + 16), s1);
    s2 = sq_diff_add(simde_mm512_loadu_ps(a + i + 32),
                     simde_mm512_loadu_ps(b + i + 32), s2);
    s3 = sq_diff_add(simde_mm512_loadu_ps(a + i + 48),
                     simde_mm512_loadu_ps(b + i + 48), s3);
  }
  for (; i + LANES <= dim; i += LANES)
    s0 = sq_diff_add(simde_mm512_loadu_ps(a + i), simde_mm512_loadu_ps(b + i),
                     s0);
  if (i < dim)
    s1 = sq_diff_add(load_tail(a + i, dim - i), load_tail(b + i, dim - i), s1);
  s0 = simde_mm512_add_ps(s0, s1);
  s2 = simde_mm512_add_ps(s2, s3);
  return hsum512(simde_mm512_add_ps(s0, s2));
}

static inline simde__m512 abs_diff_add(simde__m512 x, simde__m512 y,
                                       simde__m512 acc) {
  return simde_mm512_add_ps(acc, abs512(simde_mm512_sub_ps(x, y)));
}

static float avx512_l1(const float *a, const float *b, size_t dim) {
#if defined(SIMDE_X86_AVX512F_NATIVE)
  if (can_align(b, dim))
    return pair_aligned(a, b, dim, PAIR_L1);
#endif
  simde__m512 s0 = simde_mm512_setzero_ps(), s1 = s0, s2 = s0, s3 = s0;
  size_t i = 0;
  for (; i + 4 * LANES <= dim; i += 4 * LANES) {
    s0 = abs_diff_add(simde_mm512_loadu_ps(a + i),
                      simde_mm512_loadu_ps(b + i), s0);
    s1 = abs_diff_add(simde_mm512_loadu_ps(a + i + 16),
                      simde_mm512_loadu_ps(b + i + 16), s1);
    s2 = abs_diff_add(simde_mm512_loadu_ps(a + i + 32),
                      simde_mm512_loadu_ps(b + i + 32), s2);
    s3 = abs_diff_add(simde_mm512_loadu_ps(a + i + 48),
                      simde_mm512_loadu_ps(b + i + 48), s3);
  }
  for (; i + LANES <= dim; i += LANES)
    s0 = abs_diff_add(simde_mm512_loadu_ps(a + i),
                      simde_mm512_loadu_ps(b + i), s0);
  if (i < dim)
    s1 = abs_diff_add(load_tail(a + i, dim - i), load_tail(b + i, dim - i),
                      s1);
  s0 = simde_mm512_add_ps(s0, s1);
  s2 = simde_mm512_add_ps(s2, s3);
  return hsum512(simde_mm512_add_ps(s0, s2));
}

/*
 * Reduces 16 accumulators to one register holding their 16 sums, in order:
 * lane i of the result is the sum of the lanes of acc[i].  Three rounds of
 * pairwise shuffles and adds replace 16 separate horizontal sums.
 */
static inline simde__m512 reduce16(const simde__m512 acc[16]) {
  simde__m512 quad[4];
  for (int g = 0; g < 4; g++) {
    const simde__m512 *a = acc + 4 * g;
    /* Per 128-bit lane: partial sums of a[0] and a[1] interleaved. */
    simde__m512 x01 = simde_mm512_add_ps(simde_mm512_unpacklo_ps(a[0], a[1]),
                                         simde_mm512_unpackhi_ps(a[0], a[1]));
    simde__m512 x23 = simde_mm512_add_ps(simde_mm512_unpacklo_ps(a[2], a[3]),
                                         simde_mm512_unpackhi_ps(a[2], a[3]));
    /* Per 128-bit lane: [sum a[0], sum a[1], sum a[2], sum a[3]]. */
    quad[g] = simde_mm512_add_ps(simde_mm512_shuffle_ps(x01, x23, 0x44),
                                 simde_mm512_shuffle_ps(x01, x23, 0xEE));
  }
  /* Add the four 128-bit lanes of each quad[g] together; quad[g] ends up
   * as lane g of the result. */
  simde__m512 z01 =
      simde_mm512_add_ps(simde_mm512_shuffle_f32x4(quad[0], quad[1], 0x88),
                         simde_mm512_shuffle_f32x4(quad[0], quad[1], 0xDD));
  simde__m512 z23 =
      simde_mm512_add_ps(simde_mm512_shuffle_f32x4(quad[2], quad[3], 0x88),
                         simde_mm512_shuffle_f32x4(quad[2], quad[3], 0xDD));
  return simde_mm512_add_ps(simde_mm512_shuffle_f32x4(z01, z23, 0x88),
                            simde_mm512_shuffle_f32x4(z01, z23, 0xDD));
}

/*
 * Computes the 6 x 4 dot products of queries q[0..5] with base vectors
 * x[0..3] and stores them to sums[4 * query + base].  The 24 accumulators
 * and 5 operands fit the 32 zmm registers.  Each step issues 10 loads for
 * 24 FMAs: on a core with two 512-bit FMA units and two load ports that is
 * 12 cycles of FMAs against 5 of loads, so the FMA units set the pace.
 * Only the four base rows stream from L2; the six query rows stay in L1.
 */
static void tile6x4(const float *const q[6], const float *const x[4],
                    size_t dim, float sums[24]) {
  simde__m512 acc[24];
  for (int i = 0; i < 24; i++)
    acc[i] = simde_mm512_setzero_ps();

  size_t i = 0;
  for (; i + LANES <= dim; i += LANES) {
    simde__m512 xv0 = simde_mm512_loadu_ps(x[0] + i);
    simde__m512 xv1 = simde_mm512_loadu_ps(x[1] + i);
    simde__m512 xv2 = simde_mm512_loadu_ps(x[2] + i);
    simde__m512 xv3 = simde_mm512_loadu_ps(x[3] + i);
    for (int r = 0; r < 6; r++) {
      simde__m512 qv = simde_mm512_loadu_ps(q[r] + i);
      acc[4 * r + 0] = simde_mm512_fmadd_ps(qv, xv0, acc[4 * r + 0]);
      acc[4 * r + 1] = simde_mm512_fmadd_ps(qv, xv1, acc[4 * r + 1]);
      acc[4 * r + 2] = simde_mm512_fmadd_ps(qv, xv2, acc[4 * r + 2]);
      acc[4 * r + 3] = simde_mm512_fmadd_ps(qv, xv3, acc[4 * r + 3]);
    }
  }
  if (i < dim) {
    size_t n = dim - i;
    simde__m512 xv[4];
    for (int c = 0; c < 4; c++)
      xv[c] = load_tail(x[c] + i, n);
    for (int r = 0; r < 6; r++) {
      simde__m512 qv = load_tail(q[r] + i, n);
      for (int c = 0; c < 4; c++)
        acc[4 * r + c] = simde_mm512_fmadd_ps(qv, xv[c], acc[4 * r + c]);
    }
  }

  /* Queries 0-3 fill one register of sums; queries 4-5 fill the low half
   * of a second one, whose high half repeats them and is dropped. */
  simde_mm512_storeu_ps(sums, reduce16(acc));
  simde__m512 rest[16];
  for (int j = 0; j < 8; j++)
    rest[j] = rest[j + 8] = acc[16 + j];
  float rest_sums[16];
  simde_mm512_storeu_ps(rest_sums, reduce16(rest));
  memcpy(sums + 16, rest_sums, 8 * sizeof(float));
}

#define TILE_Q 6
#define TILE_X 4

/*
 * Block dot products, see strata_kernels.dot_block.  Edge tiles repeat the
 * last valid query or base vector in the unused positions and drop those
 * results, so every tile runs the same full-width code.
 */
static void avx512_dot_block(const float *q, size_t q_stride, size_t nq,
                             const float *x, size_t x_stride, size_t nx,
                             size_t dim, float *out, size_t out_stride) {
  for (size_t qi = 0; qi < nq; qi += TILE_Q) {
    const float *qp[TILE_Q];
    size_t qn = nq - qi < TILE_Q ? nq - qi : TILE_Q;
    for (size_t r = 0; r < TILE_Q; r++)
      qp[r] = q + (qi + (r < qn ? r : qn - 1)) * q_stride;

    for (size_t xi = 0; xi < nx; xi += TILE_X) {
      const float *xp[TILE_X];
      size_t xn = nx - xi < TILE_X ? nx - xi : TILE_X;
      for (size_t c = 0; c < TILE_X; c++)
        xp[c] = x + (xi + (c < xn ? c : xn - 1)) * x_stride;

      float sums[TILE_Q * TILE_X];
      tile6x4(qp, xp, dim, sums);
      for (size_t r = 0; r < qn; r++)
        for (size_t c = 0; c < xn; c++)
          out[(qi + r) * out_stride + xi + c] = sums[TILE_X * r + c];
    }
  }
}

const strata_kernels strata_kernels_avx512_table = {
    "avx512", avx512_dot, avx512_l2sq, avx512_l1, avx512_dot_block};
