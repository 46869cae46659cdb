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
 * allocated on first use and never moved.  A row is `stride` bytes: the
 * dim codes, then zero codes up to a multiple of 64 so that SIMD loops
 * run on whole rows.  Zero padding adds nothing to the integer sums
 * below.  Each slot also keeps the sum of its codes, which the dot
 * product estimate needs.
 *
 * Distances between two codes a and b of one quantizer:
 *   squared L2  ~ step^2 * sum (a_i - b_i)^2
 *   dot         ~ dim * lo^2 + lo * step * (sum a_i + sum b_i)
 *                 + step^2 * sum a_i * b_i
 * The integer sums are exact in 32 bits for dim <= STRATA_QUANT_MAX_DIM.
 */
#ifndef STRATA_INDEX_QUANT_H
#define STRATA_INDEX_QUANT_H

#include <pthread.h>
#include <stddef.h>
#include <stdint.h>

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
  uint32_t *sums; /* per slot: the sum of its codes */
} strata_quant_chunk;

typedef struct strata_quant {
  size_t dim;
  size_t stride;  /* bytes per row: dim rounded up to a multiple of 64 */
  float lo, step; /* a code c decodes to lo + step * c */
  size_t trained_points; /* live vectors when the bounds were trained */
  const strata_u8_kernels *kern;
  strata_quant_chunk **chunks; /* STRATA_VS_MAX_SLOTS / STRATA_VS_CHUNK */
  size_t n_chunks;             /* atomic: chunks allocated */
} strata_quant;

/* Creates a quantizer for the live vectors of `vs`, with bounds holding
 * the central `quantile` (in (0, 1]) of a sample of up to 2^20 of their
 * components.  Encodes no slot.  Returns 0, EINVAL (quantile out of
 * range, dim 0 or above STRATA_QUANT_MAX_DIM) or ENOMEM.  With no live
 * vector the bounds are [0, 1]. */
int strata_quant_create(const strata_vector_store *vs, float quantile,
                        strata_quant **out);

/* Frees the quantizer and its codes.  NULL is a no-op. */
void strata_quant_destroy(strata_quant *q);

/* Encodes `vec` (q->dim floats) as the codes of `slot`.  Returns 0 or
 * ENOMEM.  Concurrent calls must be for different slots; a reader of the
 * slot meanwhile may see a mix of old and new codes. */
int strata_quant_encode(strata_quant *q, uint32_t slot, const float *vec);

/* Encodes a query into `out` (q->stride bytes, padding zeroed) and
 * returns the sum of its codes. */
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
 * (STRATA_METRIC_DOT) between an encoded query and an encoded slot. */
static inline float strata_quant_distance(const strata_quant *q,
                                          strata_metric metric,
                                          const uint8_t *query,
                                          uint32_t query_sum,
                                          uint32_t slot) {
  const strata_quant_chunk *c = __atomic_load_n(
      &q->chunks[slot >> STRATA_VS_CHUNK_SHIFT], __ATOMIC_ACQUIRE);
  size_t i = slot & (STRATA_VS_CHUNK - 1);
  const uint8_t *codes = c->codes + i * q->stride;
  if (metric == STRATA_METRIC_L2)
    return q->step * q->step * (float)q->kern->l2sq(query, codes, q->stride);
  float sums = (float)query_sum + (float)c->sums[i];
  return (float)q->dim * q->lo * q->lo + q->lo * q->step * sums +
         q->step * q->step * (float)q->kern->dot(query, codes, q->stride);
}

/* Heap bytes owned by the quantizer. */
size_t strata_quant_memory(const strata_quant *q);

struct strata_hnsw;

/* Trains new int8 codes for an index as strata_hnsw_quantize does, and
 * replaces its codes, if any, with them.  Every search that uses the
 * index must hold `readers` for reading: the swap takes it for writing,
 * so that no search still reads the old codes when they are freed.  The
 * caller must not hold `readers`.  Returns the codes of
 * strata_hnsw_quantize, never STRATA_HNSW_EEXIST.  Defined in
 * hnsw_quant.c.  NOTE: belongs in hnsw.h, next to strata_hnsw_quantize. */
int strata_hnsw_quantize_again(struct strata_hnsw *h, float quantile,
                               pthread_rwlock_t *readers);

/* Returns the number of live vectors that the codes of `h` were trained
 * on, or 0 when it has no codes.  Defined in hnsw_quant.c. */
size_t strata_hnsw_quantized_points(struct strata_hnsw *h);

#endif
