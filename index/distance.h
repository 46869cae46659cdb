/*
 * Distance kernels for float32 vectors.
 *
 * Every kernel has a portable scalar version and SIMD versions written with
 * SIMDe intrinsics (AVX-512, AVX2+FMA, SSE4.1 on x86; NEON elsewhere).
 * strata_kernels_get() picks the widest set the running CPU supports the
 * first time it is called; the choice never changes afterwards, so callers
 * may cache the returned table.
 *
 * This header has no storage or server dependencies: index code, tests,
 * benchmarks and fuzzers link it alone.
 */
#ifndef STRATA_INDEX_DISTANCE_H
#define STRATA_INDEX_DISTANCE_H

#include <stddef.h>

/* Kernel table.  All pointers take two vectors of `dim` floats; neither
 * needs any alignment. */
typedef struct strata_kernels {
  const char *name; /* "avx512", "avx2", "sse4.1", "neon" or "scalar" */
  float (*dot)(const float *a, const float *b, size_t dim);
  float (*l2sq)(const float *a, const float *b, size_t dim); /* squared L2 */
  float (*l1)(const float *a, const float *b, size_t dim);
  /* Dot products of every query with every base vector:
   *   out[i * out_stride + j] = dot(q + i * q_stride, x + j * x_stride)
   * for i < nq and j < nx.  Strides count floats.  SIMD sets keep a tile
   * of several queries and base vectors in registers, so each load feeds
   * several FMAs.  A sum may differ from dot() by float rounding because
   * the terms are added in another order. */
  void (*dot_block)(const float *q, size_t q_stride, size_t nq,
                    const float *x, size_t x_stride, size_t nx, size_t dim,
                    float *out, size_t out_stride);
} strata_kernels;

/* Returns the table for the best instruction set of this CPU.  The
 * environment variable STRATA_KERNELS=scalar|sse4.1|avx2|avx512|neon
 * forces a set (for tests and benchmarks); a set the CPU lacks is ignored
 * and the detected one is used.  Thread-safe. */
const strata_kernels *strata_kernels_get(void);

/* Returns the table of the named set, or NULL when this build or this CPU
 * does not have it.  Tests use it to compare every set against scalar. */
const strata_kernels *strata_kernels_by_name(const char *name);

/* The portable reference set. */
const strata_kernels *strata_kernels_scalar(void);

#endif
