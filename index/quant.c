/*
 * Scalar quantization: training the bounds, encoding, code storage, and
 * the portable integer kernels.  The SIMD kernels are in quant_avx2.c and
 * quant_avx512.c.
 */
#include <errno.h>
#include <math.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "quant.h"

#define CHUNK_TABLE_LEN (STRATA_VS_MAX_SLOTS / STRATA_VS_CHUNK)

/* Components sampled to pick the bounds. */
#define SAMPLE_MAX ((size_t)1 << 20)

#if defined(__x86_64__) || defined(__i386__)
extern const strata_u8_kernels strata_u8_kernels_avx512_table;
extern const strata_u8_kernels strata_u8_kernels_avx2_table;
#define HAVE_X86_KERNELS 1
#endif

static uint32_t scalar_l2sq(const uint8_t *a, const uint8_t *b, size_t n) {
  uint32_t sum = 0;
  for (size_t i = 0; i < n; i++) {
    int d = (int)a[i] - (int)b[i];
    sum += (uint32_t)(d * d);
  }
  return sum;
}

static uint32_t scalar_dot(const uint8_t *a, const uint8_t *b, size_t n) {
  uint32_t sum = 0;
  for (size_t i = 0; i < n; i++)
    sum += (uint32_t)a[i] * b[i];
  return sum;
}

static const strata_u8_kernels scalar_set = {"scalar", scalar_l2sq,
                                             scalar_dot};

const strata_u8_kernels *strata_u8_kernels_by_name(const char *name) {
  if (strcmp(name, "scalar") == 0)
    return &scalar_set;
#ifdef HAVE_X86_KERNELS
  if (strcmp(name, "avx512") == 0)
    return __builtin_cpu_supports("avx512f") &&
                   __builtin_cpu_supports("avx512bw")
               ? &strata_u8_kernels_avx512_table
               : NULL;
  if (strcmp(name, "avx2") == 0)
    return __builtin_cpu_supports("avx2") ? &strata_u8_kernels_avx2_table
                                          : NULL;
#endif
  return NULL;
}

const strata_u8_kernels *strata_u8_kernels_get(void) {
  static const strata_u8_kernels *chosen;
  const strata_u8_kernels *set = __atomic_load_n(&chosen, __ATOMIC_ACQUIRE);
  if (set)
    return set;
  const char *forced = getenv("STRATA_KERNELS");
  if (forced)
    set = strata_u8_kernels_by_name(forced);
  static const char *const widest_first[] = {"avx512", "avx2"};
  for (size_t i = 0; !set && i < sizeof widest_first / sizeof *widest_first;
       i++)
    set = strata_u8_kernels_by_name(widest_first[i]);
  if (!set)
    set = &scalar_set;
  __atomic_store_n(&chosen, set, __ATOMIC_RELEASE);
  return set;
}

static int cmp_float(const void *a, const void *b) {
  float x = *(const float *)a, y = *(const float *)b;
  return x < y ? -1 : x > y;
}

/* Sets q->lo and q->step from a sample of the live components of vs:
 * every live vector when they fit in SAMPLE_MAX components, else evenly
 * spaced ones. */
static int train(strata_quant *q, const strata_vector_store *vs,
                 float quantile) {
  size_t per_vector = vs->dim;
  size_t take = vs->n_live;
  if (take * per_vector > SAMPLE_MAX)
    take = SAMPLE_MAX / per_vector;
  if (take == 0)
    take = 1;
  q->lo = 0.0f;
  q->step = 1.0f / 255.0f;
  q->trained_points = vs->n_live;
  if (vs->n_live == 0)
    return 0;

  float *sample = malloc(take * per_vector * sizeof *sample);
  if (!sample)
    return ENOMEM;
  size_t n = 0, seen = 0;
  size_t every = vs->n_live / take;
  for (size_t slot = 0; slot < vs->n_slots && n < take * per_vector; slot++) {
    if (!strata_vs_is_live(vs, slot))
      continue;
    if (seen++ % every != 0)
      continue;
    memcpy(sample + n, strata_vs_vector(vs, slot), per_vector * sizeof *sample);
    n += per_vector;
  }
  qsort(sample, n, sizeof *sample, cmp_float);

  /* Bounds at the two tails that lie outside the central share. */
  double tail = (1.0 - (double)quantile) / 2.0;
  size_t at_lo = (size_t)floor(tail * (double)(n - 1));
  size_t at_hi = (size_t)ceil((1.0 - tail) * (double)(n - 1));
  float lo = sample[at_lo], hi = sample[at_hi];
  free(sample);
  q->lo = lo;
  q->step = hi > lo ? (hi - lo) / 255.0f : 1.0f / 255.0f;
  return 0;
}

int strata_quant_create(const strata_vector_store *vs, strata_metric metric,
                        float quantile, strata_quant **out) {
  *out = NULL;
  if (!vs || vs->dim == 0 || vs->dim > STRATA_QUANT_MAX_DIM ||
      !(quantile > 0.0f && quantile <= 1.0f) ||
      (metric != STRATA_METRIC_L2 && metric != STRATA_METRIC_DOT))
    return EINVAL;
  strata_quant *q = calloc(1, sizeof *q);
  if (!q)
    return ENOMEM;
  q->dim = vs->dim;
  q->metric = metric;
  q->span = (vs->dim + 63) & ~(size_t)63;
  q->stride = q->span;
  if (metric == STRATA_METRIC_DOT) {
    bool room = q->span - q->dim >= sizeof(uint32_t);
    q->sum_at = room ? q->span - sizeof(uint32_t) : q->span;
    q->stride = room ? q->span : q->span + 64;
  }
  q->kern = strata_u8_kernels_get();
  q->chunks = calloc(CHUNK_TABLE_LEN, sizeof *q->chunks);
  int rc = q->chunks ? train(q, vs, quantile) : ENOMEM;
  if (rc != 0) {
    strata_quant_destroy(q);
    return rc;
  }
  *out = q;
  return 0;
}

static void chunk_free(strata_quant_chunk *c) {
  if (!c)
    return;
  free(c->codes);
  free(c);
}

void strata_quant_destroy(strata_quant *q) {
  if (!q)
    return;
  for (size_t i = 0; q->chunks && i < CHUNK_TABLE_LEN; i++)
    chunk_free(q->chunks[i]);
  free(q->chunks);
  free(q);
}

/* Returns the chunk of `slot`, allocating it if needed.  Racing writers
 * each allocate one; the first to publish wins and the others free
 * theirs. */
static strata_quant_chunk *ensure_chunk(strata_quant *q, uint32_t slot) {
  strata_quant_chunk **at = &q->chunks[slot >> STRATA_VS_CHUNK_SHIFT];
  strata_quant_chunk *c = __atomic_load_n(at, __ATOMIC_ACQUIRE);
  if (c)
    return c;
  c = calloc(1, sizeof *c);
  if (!c)
    return NULL;
  c->codes = aligned_alloc(64, STRATA_VS_CHUNK * q->stride);
  if (!c->codes) {
    chunk_free(c);
    return NULL;
  }
  memset(c->codes, 0, STRATA_VS_CHUNK * q->stride);
  strata_quant_chunk *expected = NULL;
  if (!__atomic_compare_exchange_n(at, &expected, c, false, __ATOMIC_ACQ_REL,
                                   __ATOMIC_ACQUIRE)) {
    chunk_free(c);
    return expected;
  }
  __atomic_add_fetch(&q->n_chunks, 1, __ATOMIC_RELAXED);
  return c;
}

static uint32_t encode_row(const strata_quant *q, const float *vec,
                           uint8_t *out) {
  uint32_t sum = 0;
  float inv = 1.0f / q->step;
  for (size_t i = 0; i < q->dim; i++) {
    float x = (vec[i] - q->lo) * inv;
    /* NaN compares false with both bounds and is stored as 0. */
    uint8_t code = 0;
    if (x >= 255.0f)
      code = 255;
    else if (x > 0.0f)
      code = (uint8_t)lrintf(x);
    out[i] = code;
    sum += code;
  }
  return sum;
}

int strata_quant_encode(strata_quant *q, uint32_t slot, const float *vec) {
  strata_quant_chunk *c = ensure_chunk(q, slot);
  if (!c)
    return ENOMEM;
  uint8_t *row = c->codes + (slot & (STRATA_VS_CHUNK - 1)) * q->stride;
  uint32_t sum = encode_row(q, vec, row);
  if (q->metric == STRATA_METRIC_DOT)
    memcpy(row + q->sum_at, &sum, sizeof sum);
  return 0;
}

uint32_t strata_quant_encode_query(const strata_quant *q, const float *vec,
                                   uint8_t *out) {
  memset(out + q->dim, 0, q->stride - q->dim);
  return encode_row(q, vec, out);
}

size_t strata_quant_memory(const strata_quant *q) {
  size_t per_chunk = sizeof(strata_quant_chunk) + STRATA_VS_CHUNK * q->stride;
  return sizeof *q + CHUNK_TABLE_LEN * sizeof *q->chunks +
         __atomic_load_n(&q->n_chunks, __ATOMIC_RELAXED) * per_chunk;
}
