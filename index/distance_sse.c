/*
 * SSE4.1 distance kernels (4 floats per register).
 *
 * index/CMakeLists.txt compiles this file with -msse4.1 on x86, so the SIMDe
 * calls below become native instructions.  distance.c hands out this table
 * only when the CPU reports SSE4.1.
 *
 * Loops run four independent accumulators so consecutive adds do not wait
 * on each other.  A tail shorter than one register is copied into a
 * zero-padded buffer, which adds nothing to a dot product, a squared L2 or
 * an L1 sum, so no load ever reads past the end of an input.
 */
#include <string.h>

#include <simde/x86/sse4.1.h>

#include "distance.h"

#define LANES 4

static inline float hsum128(simde__m128 v) {
  v = simde_mm_add_ps(v, simde_mm_movehl_ps(v, v));
  v = simde_mm_add_ss(v, simde_mm_movehdup_ps(v));
  return simde_mm_cvtss_f32(v);
}

/* Loads n < LANES floats, zero-filling the rest of the register. */
static inline simde__m128 load_tail(const float *p, size_t n) {
  float buf[LANES] = {0};
  memcpy(buf, p, n * sizeof *p);
  return simde_mm_loadu_ps(buf);
}

static inline simde__m128 abs128(simde__m128 v) {
  simde__m128i mask = simde_mm_set1_epi32(0x7fffffff);
  return simde_mm_and_ps(v, simde_mm_castsi128_ps(mask));
}

/* SSE4.1 has no FMA, so each step is a multiply and an add. */
static inline simde__m128 mul_add(simde__m128 x, simde__m128 y,
                                  simde__m128 acc) {
  return simde_mm_add_ps(acc, simde_mm_mul_ps(x, y));
}

static float sse_dot(const float *a, const float *b, size_t dim) {
  simde__m128 s0 = simde_mm_setzero_ps(), s1 = s0, s2 = s0, s3 = s0;
  size_t i = 0;
  for (; i + 4 * LANES <= dim; i += 4 * LANES) {
    s0 = mul_add(simde_mm_loadu_ps(a + i), simde_mm_loadu_ps(b + i), s0);
    s1 = mul_add(simde_mm_loadu_ps(a + i + 4), simde_mm_loadu_ps(b + i + 4),
                 s1);
    s2 = mul_add(simde_mm_loadu_ps(a + i + 8), simde_mm_loadu_ps(b + i + 8),
                 s2);
    s3 = mul_add(simde_mm_loadu_ps(a + i + 12),
                 simde_mm_loadu_ps(b + i + 12), s3);
  }
  for (; i + LANES <= dim; i += LANES)
    s0 = mul_add(simde_mm_loadu_ps(a + i), simde_mm_loadu_ps(b + i), s0);
  if (i < dim)
    s1 = mul_add(load_tail(a + i, dim - i), load_tail(b + i, dim - i), s1);
  s0 = simde_mm_add_ps(s0, s1);
  s2 = simde_mm_add_ps(s2, s3);
  return hsum128(simde_mm_add_ps(s0, s2));
}

static inline simde__m128 sq_diff_add(simde__m128 x, simde__m128 y,
                                      simde__m128 acc) {
  simde__m128 d = simde_mm_sub_ps(x, y);
  return simde_mm_add_ps(acc, simde_mm_mul_ps(d, d));
}

static float sse_l2sq(const float *a, const float *b, size_t dim) {
  simde__m128 s0 = simde_mm_setzero_ps(), s1 = s0, s2 = s0, s3 = s0;
  size_t i = 0;
  for (; i + 4 * LANES <= dim; i += 4 * LANES) {
    s0 = sq_diff_add(simde_mm_loadu_ps(a + i), simde_mm_loadu_ps(b + i), s0);
    s1 = sq_diff_add(simde_mm_loadu_ps(a + i + 4),
                     simde_mm_loadu_ps(b + i + 4), s1);
    s2 = sq_diff_add(simde_mm_loadu_ps(a + i + 8),
                     simde_mm_loadu_ps(b + i + 8), s2);
    s3 = sq_diff_add(simde_mm_loadu_ps(a + i + 12),
                     simde_mm_loadu_ps(b + i + 12), s3);
  }
  for (; i + LANES <= dim; i += LANES)
    s0 = sq_diff_add(simde_mm_loadu_ps(a + i), simde_mm_loadu_ps(b + i), s0);
  if (i < dim)
    s1 = sq_diff_add(load_tail(a + i, dim - i), load_tail(b + i, dim - i), s1);
  s0 = simde_mm_add_ps(s0, s1);
  s2 = simde_mm_add_ps(s2, s3);
  return hsum128(simde_mm_add_ps(s0, s2));
}

static inline simde__m128 abs_diff_add(simde__m128 x, simde__m128 y,
                                       simde__m128 acc) {
  return simde_mm_add_ps(acc, abs128(simde_mm_sub_ps(x, y)));
}

static float sse_l1(const float *a, const float *b, size_t dim) {
  simde__m128 s0 = simde_mm_setzero_ps(), s1 = s0, s2 = s0, s3 = s0;
  size_t i = 0;
  for (; i + 4 * LANES <= dim; i += 4 * LANES) {
    s0 = abs_diff_add(simde_mm_loadu_ps(a + i), simde_mm_loadu_ps(b + i), s0);
    s1 = abs_diff_add(simde_mm_loadu_ps(a + i + 4),
                      simde_mm_loadu_ps(b + i + 4), s1);
    s2 = abs_diff_add(simde_mm_loadu_ps(a + i + 8),
                      simde_mm_loadu_ps(b + i + 8), s2);
    s3 = abs_diff_add(simde_mm_loadu_ps(a + i + 12),
                      simde_mm_loadu_ps(b + i + 12), s3);
  }
  for (; i + LANES <= dim; i += LANES)
    s0 = abs_diff_add(simde_mm_loadu_ps(a + i), simde_mm_loadu_ps(b + i), s0);
  if (i < dim)
    s1 = abs_diff_add(load_tail(a + i, dim - i), load_tail(b + i, dim - i),
                      s1);
  s0 = simde_mm_add_ps(s0, s1);
  s2 = simde_mm_add_ps(s2, s3);
  return hsum128(simde_mm_add_ps(s0, s2));
}

/* Returns the four sums of a[0..3] in one register, in order. */
static inline simde__m128 reduce4(const simde__m128 a[4]) {
  return simde_mm_hadd_ps(simde_mm_hadd_ps(a[0], a[1]),
                          simde_mm_hadd_ps(a[2], a[3]));
}

/*
 * Computes the 3 x 4 dot products of queries q[0..2] with base vectors
 * x[0..3] and stores them to sums[4 * query + base].
 */
static void tile3x4(const float *const q[3], const float *const x[4],
                    size_t dim, float sums[12]) {
  simde__m128 acc[12];
  for (int i = 0; i < 12; i++)
    acc[i] = simde_mm_setzero_ps();

  size_t i = 0;
  for (; i + LANES <= dim; i += LANES) {
    simde__m128 xv0 = simde_mm_loadu_ps(x[0] + i);
    simde__m128 xv1 = simde_mm_loadu_ps(x[1] + i);
    simde__m128 xv2 = simde_mm_loadu_ps(x[2] + i);
    simde__m128 xv3 = simde_mm_loadu_ps(x[3] + i);
    for (int r = 0; r < 3; r++) {
      simde__m128 qv = simde_mm_loadu_ps(q[r] + i);
      acc[4 * r + 0] = mul_add(qv, xv0, acc[4 * r + 0]);
      acc[4 * r + 1] = mul_add(qv, xv1, acc[4 * r + 1]);
      acc[4 * r + 2] = mul_add(qv, xv2, acc[4 * r + 2]);
      acc[4 * r + 3] = mul_add(qv, xv3, acc[4 * r + 3]);
    }
  }
  if (i < dim) {
    size_t n = dim - i;
    simde__m128 xv[4];
    for (int c = 0; c < 4; c++)
      xv[c] = load_tail(x[c] + i, n);
    for (int r = 0; r < 3; r++) {
      simde__m128 qv = load_tail(q[r] + i, n);
      for (int c = 0; c < 4; c++)
        acc[4 * r + c] = mul_add(qv, xv[c], acc[4 * r + c]);
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
static void sse_dot_block(const float *q, size_t q_stride, size_t nq,
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

const strata_kernels strata_kernels_sse41_table = {
    "sse4.1", sse_dot, sse_l2sq, sse_l1, sse_dot_block};
