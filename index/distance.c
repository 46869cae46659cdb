/* Kernel selection.  The SIMD sets live in distance_<isa>.c, each compiled
 * with its own target flags; this file only chooses among them. */
#include "distance.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

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

static const strata_kernels scalar_set = {"scalar", scalar_dot, scalar_l2sq,
                                          scalar_l1};

const strata_kernels *strata_kernels_scalar(void) { return &scalar_set; }

const strata_kernels *strata_kernels_by_name(const char *name) {
  if (name && strcmp(name, "scalar") == 0)
    return &scalar_set;
  return NULL;
}

const strata_kernels *strata_kernels_get(void) { return &scalar_set; }
