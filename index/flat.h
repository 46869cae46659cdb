/*
 * Exact (brute-force) k-nearest-neighbour search over a vector store.
 *
 * Scores follow one convention for every caller: for STRATA_METRIC_DOT a
 * larger score is better; for STRATA_METRIC_L2 (the true Euclidean
 * distance, square root taken) and STRATA_METRIC_L1 a smaller one is.
 * Cosine similarity is STRATA_METRIC_DOT over vectors the caller has
 * normalised.
 */
#ifndef STRATA_INDEX_FLAT_H
#define STRATA_INDEX_FLAT_H

#include <stddef.h>
#include <stdint.h>

#include "vector_store.h"

typedef enum strata_metric {
  STRATA_METRIC_DOT = 0,
  STRATA_METRIC_L2 = 1,
  STRATA_METRIC_L1 = 2,
} strata_metric;

typedef struct strata_hit {
  uint32_t slot;
  float score;
} strata_hit;

/* Optional allow-list: when non-NULL, only slots for which
 * allow(slot, ctx) returns nonzero are considered. */
typedef struct strata_slot_filter {
  int (*allow)(uint32_t slot, void *ctx);
  void *ctx;
} strata_slot_filter;

/* Returns nonzero when score `a` ranks before score `b` under `metric`. */
static inline int strata_metric_better(strata_metric metric, float a,
                                       float b) {
  return metric == STRATA_METRIC_DOT ? a > b : a < b;
}

/* Finds the k best live slots for one query.  Writes at most k hits to
 * `out`, best first, and returns how many (min(k, live allowed slots)).
 * Returns -1 when out of memory. */
long strata_flat_search(const strata_vector_store *vs, strata_metric metric,
                        const float *query, size_t k,
                        const strata_slot_filter *filter, strata_hit *out);

/* Answers `nq` queries at once (rows of vs->dim floats, contiguous).
 * `out` has room for nq * k hits; query i's hits start at out + i * k and
 * their count is written to counts[i].  Returns 0, or -1 when out of
 * memory.  Same answers as nq calls of strata_flat_search, faster because
 * base vectors are read once per block of queries. */
int strata_flat_search_batch(const strata_vector_store *vs,
                             strata_metric metric, const float *queries,
                             size_t nq, size_t k, strata_hit *out,
                             size_t *counts);

#define STRATA_FLAT_MAX_THREADS 64

/* Same results as strata_flat_search_batch, with the queries split into
 * up to `threads` contiguous runs searched in parallel (the calling thread
 * takes one run, the others get new pthreads; at most
 * STRATA_FLAT_MAX_THREADS).  Every thread reads the whole store, so the
 * caller must keep it unchanged until the call returns, as for any
 * search.  threads <= 1 searches on the calling thread.  Returns 0, or -1
 * when out of memory or a thread could not be started. */
int strata_flat_search_batch_threads(const strata_vector_store *vs,
                                     strata_metric metric,
                                     const float *queries, size_t nq,
                                     size_t k, strata_hit *out,
                                     size_t *counts, unsigned threads);

#endif
