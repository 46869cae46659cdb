/* Kernel selection.  The SIMD sets live in distance_<isa>.c, each compiled
 * with its own target flags; this file only chooses among them, so it must
 * itself stay free of instructions the oldest supported CPU lacks. */
#include "distance.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#if defined(__x86_64__) || defined(__i386__)
#define STRATA_X86 1
extern const strata_kernels strata_kernels_avx512_table;
extern const strata_kernels strata_kernels_avx2_table;
extern const strata_kernels strata_kernels_sse41_table;
#endif
extern const strata_kernels strata_kernels_neon_table;

static float scalar_dot(const float *a, const float *b, size_t dim) {
  float sum = 0.0f;
  for (size_t i = 0; i < dim; i++)
    sum += a[i] * b[i];
  return sum;
}

static float scalar_l2sq(const float *a, const float *b, size_t dim) {
  float sum = 0.0f;
  for (size_t i = 0; i < dim; i++) {
    float d = a[i] - b[i];
    sum += d * d;
  }
  return sum;
}

static float scalar_l1(const float *a, const float *b, size_t dim) {
  float sum = 0.0f;
  for (size_t i = 0; i < dim; i++)
    sum += fabsf(a[i] - b[i]);
  return sum;
}

static void scalar_dot_block(const float *q, size_t q_stride, size_t nq,
                             const float *x, size_t x_stride, size_t nx,
                             size_t dim, float *out, size_t out_stride) {
  for (size_t i = 0; i < nq; i++)
    for (size_t j = 0; j < nx; j++)
      out[i * out_stride + j] =
          scalar_dot(q + i * q_stride, x + j * x_stride, dim);
}

static const strata_kernels scalar_set = {"scalar", scalar_dot, scalar_l2sq,
                                          scalar_l1, scalar_dot_block};

const strata_kernels *strata_kernels_scalar(void) { return &scalar_set; }

const strata_kernels *strata_kernels_by_name(const char *name) {
  if (!name)
    return NULL;
  if (strcmp(name, "scalar") == 0)
    return &scalar_set;
  /* Native on ARM, emulated by SIMDe elsewhere. */
  if (strcmp(name, "neon") == 0)
    return &strata_kernels_neon_table;
#ifdef STRATA_X86
  __builtin_cpu_init();
  /* __builtin_cpu_supports also checks that the OS saves the wide
   * registers (XCR0), not only the CPUID bits. */
  if (strcmp(name, "avx512") == 0)
    return __builtin_cpu_supports("avx512f") &&
                   __builtin_cpu_supports("avx512dq") &&
                   __builtin_cpu_supports("avx512bw") &&
                   __builtin_cpu_supports("avx512vl")
               ? &strata_kernels_avx512_table
               : NULL;
  if (strcmp(name, "avx2") == 0)
    return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma")
               ? &strata_kernels_avx2_table
               : NULL;
  if (strcmp(name, "sse4.1") == 0)
    return __builtin_cpu_supports("sse4.1") ? &strata_kernels_sse41_table
                                            : NULL;
#endif
  return NULL;
}

static const strata_kernels *detect_kernels(void) {
  const strata_kernels *forced = strata_kernels_by_name(getenv("STRATA_KERNELS"));
  if (forced)
    return forced;
#if defined(STRATA_X86)
  static const char *const widest_first[] = {"avx512", "avx2", "sse4.1"};
  for (size_t i = 0; i < sizeof widest_first / sizeof *widest_first; i++) {
    const strata_kernels *set = strata_kernels_by_name(widest_first[i]);
    if (set)
      return set;
  }
  return &scalar_set;
#elif defined(__aarch64__) || defined(__ARM_NEON)
  return &strata_kernels_neon_table;
#else
  return &scalar_set;
#endif
}

const strata_kernels *strata_kernels_get(void) {
  /* Racing first calls all compute the same table, so a plain atomic
   * publish is enough; no lock is needed. */
  static const strata_kernels *chosen;
  const strata_kernels *set = __atomic_load_n(&chosen, __ATOMIC_ACQUIRE);
  if (!set) {
    set = detect_kernels();
    __atomic_store_n(&chosen, set, __ATOMIC_RELEASE);
  }
  return set;
}
