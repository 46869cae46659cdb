/*
 * AVX2 + FMA distance kernels (8 floats per register).
 *
 * index/CMakeLists.txt compiles this file with -mavx2 -mfma on x86, so the
 * SIMDe calls below become native instructions.  distance.c hands out this
 * table only when the CPU reports both extensions.
 *
 * Loops run four independent accumulators so consecutive FMAs do not wait
 * on each other.  A tail shorter than one register is loaded with its
 * other lanes zero, which adds nothing to a dot product, a squared L2 or
 * an L1 sum, so no load ever reads past the end of an input.
 */
#include <string.h>

#include <simde/x86/avx2.h>
#include <simde/x86/fma.h>

#include "distance.h"

#define LANES 8

static inline float hsum256(simde__m256 v) {
  simde__m128 s4 = simde_mm_add_ps(simde_mm256_castps256_ps128(v),
                                   simde_mm256_extractf128_ps(v, 1));
  s4 = simde_mm_add_ps(s4, simde_mm_movehl_ps(s4, s4));
  s4 = simde_mm_add_ss(s4, simde_mm_movehdup_ps(s4));
  return simde_mm_cvtss_f32(s4);
}

/* Loads n < LANES floats, zero-filling the rest of the register.  The
 * native masked load reads no byte past p[n - 1].  The copy is for
 * SIMDe's emulation, whose masked load reads the whole register. */
static inline simde__m256 load_tail(const float *p, size_t n) {
#if defined(SIMDE_X86_AVX_NATIVE)
  static const int32_t ones[2 * LANES] = {-1, -1, -1, -1, -1, -1, -1, -1};
  __m256i mask = _mm256_loadu_si256((const __m256i *)(ones + LANES - n));
  return _mm256_maskload_ps(p, mask);
#else
  float buf[LANES] = {0};
  memcpy(buf, p, n * sizeof *p);
  return simde_mm256_loadu_ps(buf);
#endif
}

static inline simde__m256 abs256(simde__m256 v) {
  simde__m256i mask = simde_mm256_set1_epi32(0x7fffffff);
  return simde_mm256_and_ps(v, simde_mm256_castsi256_ps(mask));
}

static float avx2_dot(const float *a, const float *b, size_t dim) {
  simde__m256 s0 = simde_mm256_setzero_ps(), s1 = s0, s2 = s0, s3 = s0;
  size_t i = 0;
  for (; i + 4 * LANES <= dim; i += 4 * LANES) {
    s0 = simde_mm256_fmadd_ps(simde_mm256_loadu_ps(a + i),
                              simde_mm256_loadu_ps(b + i), s0);
    s1 = simde_mm256_fmadd_ps(simde_mm256_loadu_ps(a + i + 8),
                              simde_mm256_loadu_ps(b + i + 8), s1);
    s2 = simde_mm256_fmadd_ps(simde_mm256_loadu_ps(a + i + 16),
                              simde_mm256_loadu_ps(b + i + 16), s2);
    s3 = simde_mm256_fmadd_ps(simde_mm256_loadu_ps(a + i + 24),
                              simde_mm256_loadu_ps(b + i + 24), s3);
  }
  for (; i + LANES <= dim; i += LANES)
    s0 = simde_mm256_fmadd_ps(simde_mm256_loadu_ps(a + i),
                              simde_mm256_loadu_ps(b + i), s0);
  if (i < dim)
    s1 = simde_mm256_fmadd_ps(load_tail(a + i, dim - i),
                              load_tail(b + i, dim - i), s1);
  s0 = simde_mm256_add_ps(s0, s1);
  s2 = simde_mm256_add_ps(s2, s3);
  return hsum256(simde_mm256_add_ps(s0, s2));
}

static inline simde__m256 sq_diff_add(simde__m256 x, simde__m256 y,
                                      simde__m256 acc) {
  simde__m256 d = simde_mm256_sub_ps(x, y);
  return simde_mm256_fmadd_ps(d, d, acc);
}

static float avx2_l2sq(const float *a, const float *b, size_t dim) {
  simde__m256 s0 = simde_mm256_setzero_ps(), s1 = s0, s2 = s0, s3 = s0;
  size_t i = 0;
  for (; i + 4 * LANES <= dim; i += 4 * LANES) {
    s0 = sq_diff_add(simde_mm256_loadu_ps(a + i),
                     simde_mm256_loadu_ps(b + i), s0);
    s1 = sq_diff_add(simde_mm256_loadu_ps(a + i + 8),
                     simde_mm256_loadu_ps(b + i + 8), s1);
    s2 = sq_diff_add(simde_mm256_loadu_ps(a + i + 16),
                     simde_mm256_loadu_ps(b + i + 16), s2);
    s3 = sq_diff_add(simde_mm256_loadu_ps(a + i + 24),
                     simde_mm256_loadu_ps(b + i + 24), s3);
  }
  for (; i + LANES <= dim; i += LANES)
    s0 = sq_diff_add(simde_mm256_loadu_ps(a + i), simde_mm256_loadu_ps(b + i),
                     s0);
  if (i < dim)
    s1 = sq_diff_add(load_tail(a + i, dim - i), load_tail(b + i, dim - i), s1);
  s0 = simde_mm256_add_ps(s0, s1);
  s2 = simde_mm256_add_ps(s2, s3);
  return hsum256(simde_mm256_add_ps(s0, s2));
}

static inline simde__m256 abs_diff_add(simde__m256 x, simde__m256 y,
                                       simde__m256 acc) {
  return simde_mm256_add_ps(acc, abs256(simde_mm256_sub_ps(x, y)));
}

static float avx2_l1(const float *a, const float *b, size_t dim) {
  simde__m256 s0 = simde_mm256_setzero_ps(), s1 = s0, s2 = s0, s3 = s0;
  size_t i = 0;
  for (; i + 4 * LANES <= dim; i += 4 * LANES) {
    s0 = abs_diff_add(simde_mm256_loadu_ps(a + i),
                      simde_mm256_loadu_ps(b + i), s0);
    s1 = abs_diff_add(simde_mm256_loadu_ps(a + i + 8),
                      simde_mm256_loadu_ps(b + i + 8), s1);
    s2 = abs_diff_add(simde_mm256_loadu_ps(a + i + 16),
                      simde_mm256_loadu_ps(b + i + 16), s2);
    s3 = abs_diff_add(simde_mm256_loadu_ps(a + i + 24),
                      simde_mm256_loadu_ps(b + i + 24), s3);
  }
  for (; i + LANES <= dim; i += LANES)
    s0 = abs_diff_add(simde_mm256_loadu_ps(a + i),
                      simde_mm256_loadu_ps(b + i), s0);
  if (i < dim)
    s1 = abs_diff_add(load_tail(a + i, dim - i), load_tail(b + i, dim - i),
                      s1);
  s0 = simde_mm256_add_ps(s0, s1);
  s2 = simde_mm256_add_ps(s2, s3);
  return hsum256(simde_mm256_add_ps(s0, s2));
}

/* Returns the four sums of a[0..3] in one 128-bit register, in order. */
static inline simde__m128 reduce4(const simde__m256 a[4]) {
  simde__m256 t01 = simde_mm256_hadd_ps(a[0], a[1]);
  simde__m256 t23 = simde_mm256_hadd_ps(a[2], a[3]);
  /* Per 128-bit half: [sum a[0], sum a[1], sum a[2], sum a[3]]. */
  simde__m256 t = simde_mm256_hadd_ps(t01, t23);
  return simde_mm_add_ps(simde_mm256_castps256_ps128(t),
                         simde_mm256_extractf128_ps(t, 1));
}

/*
 * Computes the 3 x 4 dot products of queries q[0..2] with base vectors
 * x[0..3] and stores them to sums[4 * query + base].  Twelve accumulators
 * plus four base registers fill the 16 ymm registers of AVX2.
 */
static void tile3x4(const float *const q[3], const float *const x[4],
                    size_t dim, float sums[12]) {
  simde__m256 acc[12];
  for (int i = 0; i < 12; i++)
    acc[i] = simde_mm256_setzero_ps();

  size_t i = 0;
  for (; i + LANES <= dim; i += LANES) {
    simde__m256 xv0 = simde_mm256_loadu_ps(x[0] + i);
    simde__m256 xv1 = simde_mm256_loadu_ps(x[1] + i);
    simde__m256 xv2 = simde_mm256_loadu_ps(x[2] + i);
    simde__m256 xv3 = simde_mm256_loadu_ps(x[3] + i);
    for (int r = 0; r < 3; r++) {
      simde__m256 qv = simde_mm256_loadu_ps(q[r] + i);
      acc[4 * r + 0] = simde_mm256_fmadd_ps(qv, xv0, acc[4 * r + 0]);
      acc[4 * r + 1] = simde_mm256_fmadd_ps(qv, xv1, acc[4 * r + 1]);
      acc[4 * r + 2] = simde_mm256_fmadd_ps(qv, xv2, acc[4 * r + 2]);
      acc[4 * r + 3] = simde_mm256_fmadd_ps(qv, xv3, acc[4 * r + 3]);
    }
  }
  if (i < dim) {
    size_t n = dim - i;
    simde__m256 xv[4];
    for (int c = 0; c < 4; c++)
      xv[c] = load_tail(x[c] + i, n);
    for (int r = 0; r < 3; r++) {
      simde__m256 qv = load_tail(q[r] + i, n);
      for (int c = 0; c < 4; c++)
        acc[4 * r + c] = simde_mm256_fmadd_ps(qv, xv[c], acc[4 * r + c]);
    }
  }
  for (int r = 0; r < 3; r++)
    simde_mm_storeu_ps(sums + 4 * r, reduce4(acc + 4 * r));
}

/*
 * Block dot products, see strata_kernels.dot_block.  Edge tiles repeat the
 * last valid query or base vector in the unused positions and drop those
 * results, so every tile runs the same full-width code.
 */
static void avx2_dot_block(const float *q, size_t q_stride, size_t nq,
                           const float *x, size_t x_stride, size_t nx,
                           size_t dim, float *out, size_t out_stride) {
  for (size_t qi = 0; qi < nq; qi += 3) {
    const float *qp[3];
    size_t qn = nq - qi < 3 ? nq - qi : 3;
    for (size_t r = 0; r < 3; r++)
      qp[r] = q + (qi + (r < qn ? r : qn - 1)) * q_stride;

    for (size_t xi = 0; xi < nx; xi += 4) {
      const float *xp[4];
      size_t xn = nx - xi < 4 ? nx - xi : 4;
      for (size_t c = 0; c < 4; c++)
        xp[c] = x + (xi + (c < xn ? c : xn - 1)) * x_stride;

      float sums[12];
      tile3x4(qp, xp, dim, sums);
      for (size_t r = 0; r < qn; r++)
        for (size_t c = 0; c < xn; c++)
          out[(qi + r) * out_stride + xi + c] = sums[4 * r + c];
    }
  }
}

const strata_kernels strata_kernels_avx2_table = {
    "avx2", avx2_dot, avx2_l2sq, avx2_l1, avx2_dot_block};
