/*
 * Scalar quantization of float vectors to one byte per dimension, for
 * graph traversal on compact codes (as Qdrant's "scalar" int8
 * quantization).
 *
 * One pair of bounds [lo, hi] covers every dimension.  It is taken from
 * the data: the central `quantile` share of a sample of all components
 * lies inside it, so a few outliers do not stretch the scale.  A
 * component x is stored as the code round((x - lo) / step), clamped to
 * 0..255, with step = (hi - lo) / 255, and decodes to lo + step * code.
 *
 * Codes live in chunks of STRATA_VS_CHUNK slots, like the vector store,
 * allocated on first use and never moved.  The kernels run over `span`
 * bytes: the dim codes, then zero codes up to a multiple of 64, so that
 * SIMD loops run on whole rows.  Zero padding adds nothing to the
 * integer sums below.  The dot product estimate also needs the sum of a
 * row's codes.  For STRATA_METRIC_DOT that sum is kept inside the row, at
 * byte `sum_at`, so a distance reads one contiguous row.  It takes the
 * last 4 bytes of the padding when the padding has room, because the
 * query's padding is zero there and the kernel's dot product stays the
 * same.  Otherwise it takes a 64-byte tail after the span.  A row is
 * `stride` bytes.
 *
 * Distances between two codes a and b of one quantizer:
 *   squared L2  ~ step^2 * sum (a_i - b_i)^2
 *   dot         ~ dim * lo^2 + lo * step * (sum a_i + sum b_i)
 *                 + step^2 * sum a_i * b_i
 * The integer sums are exact in 32 bits for dim <= STRATA_QUANT_MAX_DIM.
 */
#ifndef STRATA_INDEX_QUANT_H
#define STRATA_INDEX_QUANT_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "flat.h"
#include "vector_store.h"

/* 255^2 * 32768 < 2^31, so no 32-bit lane of a kernel overflows. */
#define STRATA_QUANT_MAX_DIM 32768

/* Integer kernels over byte codes.  Neither input needs any alignment;
 * `n` may be any length. */
typedef struct strata_u8_kernels {
  const char *name; /* "avx512", "avx2" or "scalar" */
  uint32_t (*l2sq)(const uint8_t *a, const uint8_t *b, size_t n);
  uint32_t (*dot)(const uint8_t *a, const uint8_t *b, size_t n);
} strata_u8_kernels;

/* Returns the kernels for the widest instruction set of this CPU.
 * STRATA_KERNELS=scalar|avx2|avx512 forces a set as for the float
 * kernels of distance.h; a set the CPU lacks is ignored. */
const strata_u8_kernels *strata_u8_kernels_get(void);

/* Returns the named set, or NULL when this build or CPU lacks it. */
const strata_u8_kernels *strata_u8_kernels_by_name(const char *name);

typedef struct strata_quant_chunk {
  uint8_t *codes; /* STRATA_VS_CHUNK rows of `stride` bytes */
} strata_quant_chunk;

typedef struct strata_quant {
  size_t dim;
  strata_metric metric; /* STRATA_METRIC_L2 or STRATA_METRIC_DOT */
  size_t span;    /* bytes the kernels read: dim rounded up to 64 */
  size_t stride;  /* bytes per row: span, plus 64 when the code sum
                     does not fit in the padding */
  size_t sum_at;  /* DOT: byte offset of the uint32_t code sum in a row */
  float lo, step; /* a code c decodes to lo + step * c */
  size_t trained_points; /* live vectors when the bounds were trained */
  const strata_u8_kernels *kern;
  strata_quant_chunk **chunks; /* STRATA_VS_MAX_SLOTS / STRATA_VS_CHUNK */
  size_t n_chunks;             /* atomic: chunks allocated */
} strata_quant;

/* Creates a quantizer for the live vectors of `vs`, for distances of
 * `metric` (STRATA_METRIC_L2 or STRATA_METRIC_DOT), with bounds holding
 * the central `quantile` (in (0, 1]) of a sample of up to 2^20 of their
 * components.  Encodes no slot.  Returns 0, EINVAL (another metric,
 * quantile out of range, dim 0 or above STRATA_QUANT_MAX_DIM) or ENOMEM.
 * With no live vector the bounds are [0, 1]. */
int strata_quant_create(const strata_vector_store *vs, strata_metric metric,
                        float quantile, strata_quant **out);

/* Frees the quantizer and its codes.  NULL is a no-op. */
void strata_quant_destroy(strata_quant *q);

/* Encodes `vec` (q->dim floats) as the codes of `slot`.  Returns 0 or
 * ENOMEM.  Concurrent calls must be for different slots; a reader of the
 * slot meanwhile may see a mix of old and new codes. */
int strata_quant_encode(strata_quant *q, uint32_t slot, const float *vec);

/* Encodes a query into `out` (q->stride bytes, everything after the dim
 * codes zeroed) and returns the sum of its codes. */
uint32_t strata_quant_encode_query(const strata_quant *q, const float *vec,
                                   uint8_t *out);

/* Returns the codes of an encoded slot. */
static inline const uint8_t *strata_quant_codes(const strata_quant *q,
                                                uint32_t slot) {
  const strata_quant_chunk *c = __atomic_load_n(
      &q->chunks[slot >> STRATA_VS_CHUNK_SHIFT], __ATOMIC_ACQUIRE);
  return c->codes + (slot & (STRATA_VS_CHUNK - 1)) * q->stride;
}

/* Estimates the squared L2 distance (STRATA_METRIC_L2) or the dot product
 * (STRATA_METRIC_DOT), as the quantizer was created for, between two
 * encoded vectors and the sums of their codes. */
static inline float strata_quant_distance_codes(const strata_quant *q,
                                                const uint8_t *a,
                                                uint32_t sum_a,
                                                const uint8_t *b,
                                                uint32_t sum_b) {
  if (q->metric == STRATA_METRIC_L2)
    return q->step * q->step * (float)q->kern->l2sq(a, b, q->span);
  float sums = (float)sum_a + (float)sum_b;
  return (float)q->dim * q->lo * q->lo + q->lo * q->step * sums +
         q->step * q->step * (float)q->kern->dot(a, b, q->span);
}

/* Estimates the distance, as strata_quant_distance_codes does, between an
 * encoded query and an encoded slot. */
static inline float strata_quant_distance(const strata_quant *q,
                                          const uint8_t *query,
                                          uint32_t query_sum,
                                          uint32_t slot) {
  const uint8_t *codes = strata_quant_codes(q, slot);
  uint32_t row_sum = 0;
  if (q->metric == STRATA_METRIC_DOT)
    memcpy(&row_sum, codes + q->sum_at, sizeof row_sum);
  return strata_quant_distance_codes(q, query, query_sum, codes, row_sum);
}

/* Heap bytes owned by the quantizer. */
size_t strata_quant_memory(const strata_quant *q);

#endif
