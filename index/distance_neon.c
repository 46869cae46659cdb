/*
 * NEON distance kernels (4 floats per register).
 *
 * On aarch64 the SIMDe calls below are native NEON.  Elsewhere SIMDe
 * emulates them with whatever the compiler targets, which is slow but lets
 * x86 test runs exercise this code: distance.c offers the "neon" set on
 * every CPU, and picks it by default only on ARM.
 *
 * Loops run four independent accumulators so consecutive FMAs do not wait
 * on each other.  A tail shorter than one register is copied into a
 * zero-padded buffer, which adds nothing to a dot product, a squared L2 or
 * an L1 sum, so no load ever reads past the end of an input.
 */
#include <string.h>

#include <simde/arm/neon.h>

#include "distance.h"

#define LANES 4

/* Loads n < LANES floats, zero-filling the rest of the register. */
static inline simde_float32x4_t load_tail(const float *p, size_t n) {
  float buf[LANES] = {0};
  memcpy(buf, p, n * sizeof *p);
  return simde_vld1q_f32(buf);
}

static float neon_dot(const float *a, const float *b, size_t dim) {
  simde_float32x4_t s0 = simde_vdupq_n_f32(0.0f), s1 = s0, s2 = s0, s3 = s0;
  size_t i = 0;
  for (; i + 4 * LANES <= dim; i += 4 * LANES) {
    s0 = simde_vfmaq_f32(s0, simde_vld1q_f32(a + i), simde_vld1q_f32(b + i));
    s1 = simde_vfmaq_f32(s1, simde_vld1q_f32(a + i + 4),
                         simde_vld1q_f32(b + i + 4));
    s2 = simde_vfmaq_f32(s2, simde_vld1q_f32(a + i + 8),
                         simde_vld1q_f32(b + i + 8));
    s3 = simde_vfmaq_f32(s3, simde_vld1q_f32(a + i + 12),
                         simde_vld1q_f32(b + i + 12));
  }
  for (; i + LANES <= dim; i += LANES)
    s0 = simde_vfmaq_f32(s0, simde_vld1q_f32(a + i), simde_vld1q_f32(b + i));
  if (i < dim)
    s1 = simde_vfmaq_f32(s1, load_tail(a + i, dim - i),
                         load_tail(b + i, dim - i));
  s0 = simde_vaddq_f32(s0, s1);
  s2 = simde_vaddq_f32(s2, s3);
  return simde_vaddvq_f32(simde_vaddq_f32(s0, s2));
}

static inline simde_float32x4_t sq_diff_add(simde_float32x4_t acc,
                                            simde_float32x4_t x,
                                            simde_float32x4_t y) {
  simde_float32x4_t d = simde_vsubq_f32(x, y);
  return simde_vfmaq_f32(acc, d, d);
}

static float neon_l2sq(const float *a, const float *b, size_t dim) {
  simde_float32x4_t s0 = simde_vdupq_n_f32(0.0f), s1 = s0, s2 = s0, s3 = s0;
  size_t i = 0;
  for (; i + 4 * LANES <= dim; i += 4 * LANES) {
    s0 = sq_diff_add(s0, simde_vld1q_f32(a + i), simde_vld1q_f32(b + i));
    s1 = sq_diff_add(s1, simde_vld1q_f32(a + i + 4),
                     simde_vld1q_f32(b + i + 4));
    s2 = sq_diff_add(s2, simde_vld1q_f32(a + i + 8),
                     simde_vld1q_f32(b + i + 8));
    s3 = sq_diff_add(s3, simde_vld1q_f32(a + i + 12),
                     simde_vld1q_f32(b + i + 12));
  }
  for (; i + LANES <= dim; i += LANES)
    s0 = sq_diff_add(s0, simde_vld1q_f32(a + i), simde_vld1q_f32(b + i));
  if (i < dim)
    s1 = sq_diff_add(s1, load_tail(a + i, dim - i), load_tail(b + i, dim - i));
  s0 = simde_vaddq_f32(s0, s1);
  s2 = simde_vaddq_f32(s2, s3);
  return simde_vaddvq_f32(simde_vaddq_f32(s0, s2));
}

static inline simde_float32x4_t abs_diff_add(simde_float32x4_t acc,
                                             simde_float32x4_t x,
                                             simde_float32x4_t y) {
  return simde_vaddq_f32(acc, simde_vabdq_f32(x, y));
}

static float neon_l1(const float *a, const float *b, size_t dim) {
  simde_float32x4_t s0 = simde_vdupq_n_f32(0.0f), s1 = s0, s2 = s0, s3 = s0;
  size_t i = 0;
  for (; i + 4 * LANES <= dim; i += 4 * LANES) {
    s0 = abs_diff_add(s0, simde_vld1q_f32(a + i), simde_vld1q_f32(b + i));
    s1 = abs_diff_add(s1, simde_vld1q_f32(a + i + 4),
                      simde_vld1q_f32(b + i + 4));
    s2 = abs_diff_add(s2, simde_vld1q_f32(a + i + 8),
                      simde_vld1q_f32(b + i + 8));
    s3 = abs_diff_add(s3, simde_vld1q_f32(a + i + 12),
                      simde_vld1q_f32(b + i + 12));
  }
  for (; i + LANES <= dim; i += LANES)
    s0 = abs_diff_add(s0, simde_vld1q_f32(a + i), simde_vld1q_f32(b + i));
  if (i < dim)
    s1 = abs_diff_add(s1, load_tail(a + i, dim - i),
                      load_tail(b + i, dim - i));
  s0 = simde_vaddq_f32(s0, s1);
  s2 = simde_vaddq_f32(s2, s3);
  return simde_vaddvq_f32(simde_vaddq_f32(s0, s2));
}

/* Returns the four sums of a[0..3] in one register, in order. */
static inline simde_float32x4_t reduce4(const simde_float32x4_t a[4]) {
  return simde_vpaddq_f32(simde_vpaddq_f32(a[0], a[1]),
                          simde_vpaddq_f32(a[2], a[3]));
}

/*
 * Computes the 4 x 4 dot products of queries q[0..3] with base vectors
 * x[0..3] and stores them to sums[4 * query + base].  AArch64 has 32
 * vector registers, enough for 16 accumulators and 5 operands.
 */
static void tile4x4(const float *const q[4], const float *const x[4],
                    size_t dim, float sums[16]) {
  simde_float32x4_t acc[16];
  for (int i = 0; i < 16; i++)
    acc[i] = simde_vdupq_n_f32(0.0f);

  size_t i = 0;
  for (; i + LANES <= dim; i += LANES) {
    simde_float32x4_t xv0 = simde_vld1q_f32(x[0] + i);
    simde_float32x4_t xv1 = simde_vld1q_f32(x[1] + i);
    simde_float32x4_t xv2 = simde_vld1q_f32(x[2] + i);
    simde_float32x4_t xv3 = simde_vld1q_f32(x[3] + i);
    for (int r = 0; r < 4; r++) {
      simde_float32x4_t qv = simde_vld1q_f32(q[r] + i);
      acc[4 * r + 0] = simde_vfmaq_f32(acc[4 * r + 0], qv, xv0);
      acc[4 * r + 1] = simde_vfmaq_f32(acc[4 * r + 1], qv, xv1);
      acc[4 * r + 2] = simde_vfmaq_f32(acc[4 * r + 2], qv, xv2);
      acc[4 * r + 3] = simde_vfmaq_f32(acc[4 * r + 3], qv, xv3);
    }
  }
  if (i < dim) {
    size_t n = dim - i;
    simde_float32x4_t xv[4];
    for (int c = 0; c < 4; c++)
      xv[c] = load_tail(x[c] + i, n);
    for (int r = 0; r < 4; r++) {
      simde_float32x4_t qv = load_tail(q[r] + i, n);
      for (int c = 0; c < 4; c++)
        acc[4 * r + c] = simde_vfmaq_f32(acc[4 * r + c], qv, xv[c]);
    }
  }
  for (int r = 0; r < 4; r++)
    simde_vst1q_f32(sums + 4 * r, reduce4(acc + 4 * r));
}

/*
 * Block dot products, see strata_kernels.dot_block.  Edge tiles repeat the
 * last valid query or base vector in the unused positions and drop those
 * results, so every tile runs the same full-width code.
 */
static void neon_dot_block(const float *q, size_t q_stride, size_t nq,
                           const float *x, size_t x_stride, size_t nx,
                           size_t dim, float *out, size_t out_stride) {
  for (size_t qi = 0; qi < nq; qi += 4) {
    const float *qp[4];
    size_t qn = nq - qi < 4 ? nq - qi : 4;
    for (size_t r = 0; r < 4; r++)
      qp[r] = q + (qi + (r < qn ? r : qn - 1)) * q_stride;

    for (size_t xi = 0; xi < nx; xi += 4) {
      const float *xp[4];
      size_t xn = nx - xi < 4 ? nx - xi : 4;
      for (size_t c = 0; c < 4; c++)
        xp[c] = x + (xi + (c < xn ? c : xn - 1)) * x_stride;

      float sums[16];
      tile4x4(qp, xp, dim, sums);
      for (size_t r = 0; r < qn; r++)
        for (size_t c = 0; c < xn; c++)
          out[(qi + r) * out_stride + xi + c] = sums[4 * r + c];
    }
  }
}

const strata_kernels strata_kernels_neon_table = {
    "neon", neon_dot, neon_l2sq, neon_l1, neon_dot_block};
