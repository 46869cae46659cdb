/*
 * Checks every kernel set this CPU can run against a double-precision
 * reference and against the scalar set: all lengths 0..1100, inputs at
 * random unaligned offsets that end exactly at the end of their heap block
 * (so AddressSanitizer reports any read past the last element), and the block
 * kernel on ragged tiles.
 */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "distance.h"
#include "index_check.h"

#define MAX_DIM 1100

static uint64_t rng_state = 0x9E3779B97F4A7C15ull;

static uint64_t next_u64(void) {
  rng_state ^= rng_state << 13;
  rng_state ^= rng_state >> 7;
  rng_state ^= rng_state << 17;
  return rng_state;
}

static float uniform(float lo, float hi) {
  return lo + (hi - lo) * (float)((next_u64() >> 40) / 16777216.0);
}

/* Allocates n floats that start `offset` floats into a block ending right
 * after them. */
static float *alloc_at_end(size_t n, size_t offset, void **block) {
  *block = malloc((n + offset) * sizeof(float) + 1);
  return (float *)*block + offset;
}

enum { DOT, L2SQ, L1, N_KINDS };
static const char *const kind_names[N_KINDS] = {"dot", "l2sq", "l1"};

/* Double reference; *magnitude gets the sum of |terms|, the scale that
 * float rounding error is proportional to. */
static double reference(int kind, const float *a, const float *b, size_t n,
                        double *magnitude) {
  double sum = 0.0, mag = 0.0;
  for (size_t i = 0; i < n; i++) {
    double term;
    if (kind == DOT)
      term = (double)a[i] * b[i];
    else if (kind == L2SQ)
      term = ((double)a[i] - b[i]) * ((double)a[i] - b[i]);
    else
      term = fabs((double)a[i] - b[i]);
    sum += term;
    mag += fabs(term);
  }
  *magnitude = mag;
  return sum;
}

static float run_kind(const strata_kernels *set, int kind, const float *a,
                      const float *b, size_t n) {
  if (kind == DOT)
    return set->dot(a, b, n);
  if (kind == L2SQ)
    return set->l2sq(a, b, n);
  return set->l1(a, b, n);
}

/* Relative to the sum of |terms|; a dropped or doubled element of a
 * 1,100-long vector is off by about 1e-3 of it, far outside this. */
#define REL_TOL 2e-5

static void check_pairs(const strata_kernels *set) {
  const strata_kernels *scalar = strata_kernels_scalar();
  for (size_t n = 0; n <= MAX_DIM; n++) {
    void *block_a, *block_b;
    float *a = alloc_at_end(n, next_u64() % 16, &block_a);
    float *b = alloc_at_end(n, next_u64() % 16, &block_b);
    for (size_t i = 0; i < n; i++) {
      a[i] = uniform(-2.0f, 2.0f);
      b[i] = uniform(-2.0f, 2.0f);
    }
    for (int kind = 0; kind < N_KINDS; kind++) {
      double mag;
      double want = reference(kind, a, b, n, &mag);
      float got = run_kind(set, kind, a, b, n);
      float base = run_kind(scalar, kind, a, b, n);
      double tol = REL_TOL * mag + 1e-30;
      CHECK(fabs(got - want) <= tol, "%s %s n=%zu got %.9g want %.9g",
            set->name, kind_names[kind], n, got, want);
      CHECK(fabs(got - base) <= 2 * tol,
            "%s %s n=%zu got %.9g scalar %.9g", set->name, kind_names[kind],
            n, got, base);
    }
    free(block_a);
    free(block_b);
  }
}

static void check_special_values(const strata_kernels *set) {
  static const size_t lengths[] = {1, 3, 15, 16, 17, 63, 64, 65, 784, 1100};
  for (size_t li = 0; li < sizeof lengths / sizeof *lengths; li++) {
    size_t n = lengths[li];
    float *zeros = calloc(n, sizeof(float));
    float *a = malloc(n * sizeof(float));
    for (size_t i = 0; i < n; i++)
      a[i] = uniform(-3.0f, 3.0f);

    CHECK(set->dot(zeros, zeros, n) == 0.0f, "%s dot zeros n=%zu",
          set->name, n);
    CHECK(set->l2sq(zeros, zeros, n) == 0.0f, "%s l2sq zeros n=%zu",
          set->name, n);
    CHECK(set->l1(zeros, zeros, n) == 0.0f, "%s l1 zeros n=%zu", set->name,
          n);
    CHECK(set->dot(a, zeros, n) == 0.0f, "%s dot a.0 n=%zu", set->name, n);
    CHECK(set->l2sq(a, a, n) == 0.0f, "%s l2sq(a, a) n=%zu", set->name, n);
    CHECK(set->l1(a, a, n) == 0.0f, "%s l1(a, a) n=%zu", set->name, n);

    /* Distance to zero: l2sq equals dot(a, a) and l1 the sum of |a|. */
    double mag;
    double norm = reference(DOT, a, a, n, &mag);
    CHECK(fabs(set->l2sq(a, zeros, n) - norm) <= REL_TOL * mag,
          "%s l2sq(a, 0) n=%zu", set->name, n);
    double abs_sum = reference(L1, a, zeros, n, &mag);
    CHECK(fabs(set->l1(zeros, a, n) - abs_sum) <= REL_TOL * mag,
          "%s l1(0, a) n=%zu", set->name, n);
    free(zeros);
    free(a);
  }
}

/* dot_block on every tile shape up to 9 x 9 with padded strides; entries
 * outside the nq x nx window of `out` must stay untouched. */
static void check_dot_block(const strata_kernels *set) {
  static const size_t dims[] = {0, 1, 7, 16, 17, 100, 784, 1100};
  const float sentinel = -12345.0f;
  for (size_t di = 0; di < sizeof dims / sizeof *dims; di++) {
    size_t dim = dims[di];
    size_t q_stride = dim + 3, x_stride = dim + 5, out_stride = 11;
    void *q_block, *x_block;
    float *q = alloc_at_end(9 * q_stride, 1, &q_block);
    float *x = alloc_at_end(9 * x_stride, 3, &x_block);
    for (size_t i = 0; i < 9 * q_stride; i++)
      q[i] = uniform(-1.0f, 1.0f);
    for (size_t i = 0; i < 9 * x_stride; i++)
      x[i] = uniform(-1.0f, 1.0f);
    float out[10 * 11];

    for (size_t nq = 1; nq <= 9; nq++) {
      for (size_t nx = 1; nx <= 9; nx++) {
        for (size_t i = 0; i < 10 * 11; i++)
          out[i] = sentinel;
        set->dot_block(q, q_stride, nq, x, x_stride, nx, dim, out,
                       out_stride);
        for (size_t i = 0; i < 10; i++) {
          for (size_t j = 0; j < out_stride; j++) {
            float got = out[i * out_stride + j];
            if (i >= nq || j >= nx) {
              CHECK(got == sentinel, "%s dot_block wrote outside (%zu,%zu)",
                    set->name, i, j);
              continue;
            }
            double mag;
            double want = reference(DOT, q + i * q_stride, x + j * x_stride,
                                    dim, &mag);
            CHECK(fabs(got - want) <= REL_TOL * mag + 1e-30,
                  "%s dot_block dim=%zu nq=%zu nx=%zu (%zu,%zu) got %.9g "
                  "want %.9g",
                  set->name, dim, nq, nx, i, j, got, want);
          }
        }
      }
    }
    free(q_block);
    free(x_block);
  }
}

int main(void) {
  static const char *const names[] = {"scalar", "sse4.1", "avx2", "avx512",
                                      "neon"};
  int tested = 0;
  for (size_t i = 0; i < sizeof names / sizeof *names; i++) {
    const strata_kernels *set = strata_kernels_by_name(names[i]);
    if (!set) {
      printf("%-7s not available on this CPU\n", names[i]);
      continue;
    }
    CHECK(strcmp(set->name, names[i]) == 0, "by_name(%s) returned %s",
          names[i], set->name);
    int before = failures;
    check_pairs(set);
    check_special_values(set);
    check_dot_block(set);
    printf("%-7s %s\n", names[i], failures == before ? "ok" : "FAILED");
    tested++;
  }

  /* Scalar and NEON (native or emulated) exist on every CPU. */
  CHECK(strata_kernels_by_name("scalar") == strata_kernels_scalar(),
        "scalar set missing");
  CHECK(strata_kernels_by_name("neon") != NULL, "neon set missing");
  CHECK(strata_kernels_by_name("no-such-set") == NULL, "unknown name");
  CHECK(strata_kernels_by_name(NULL) == NULL, "NULL name");
  CHECK(tested >= 2, "only %d sets tested", tested);

  const strata_kernels *chosen = strata_kernels_get();
  CHECK(chosen != NULL, "strata_kernels_get returned NULL");
  CHECK(strata_kernels_by_name(chosen->name) == chosen,
        "selected set %s is not available by name", chosen->name);
  CHECK(strata_kernels_get() == chosen, "selection changed between calls");
  printf("selected: %s\n", chosen->name);

  if (failures)
    fprintf(stderr, "%d checks failed\n", failures);
  return failures ? 1 : 0;
}
