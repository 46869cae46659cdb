/*
 * C interface to a FAISS IndexHNSWFlat over inner products, searched with
 * an IDSelectorBitmap, for filter_bench.
 *
 * FAISS 1.7.3 (Debian libfaiss-dev) applies SearchParameters::sel inside
 * the HNSW beam: rejected ids are walked through but never returned, and
 * nothing falls back to an exact scan, so a selective filter can leave
 * fewer than k results (their ids are -1).
 *
 * Functions return 0, or one of the STRATA_FAISS_* codes of
 * bench/faiss_shim.h with the exception's message in
 * strata_faiss_last_error().
 */
#ifndef STRATA_BENCH_FAISS_HNSW_SHIM_H
#define STRATA_BENCH_FAISS_HNSW_SHIM_H

#include <stddef.h>
#include <stdint.h>

#include "faiss_shim.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct strata_faiss_filtered_hnsw strata_faiss_filtered_hnsw;

/* Creates an empty IndexHNSWFlat (inner product) with `m` links per node
 * and beam width `ef_construct` while building. */
int strata_faiss_filtered_hnsw_create(size_t dim, int m, int ef_construct,
                             strata_faiss_filtered_hnsw **out);

/* Adds n vectors (rows of dim floats); ids are 0, 1, ... in order.  The
 * build uses the OpenMP threads set by strata_faiss_set_omp_threads(). */
int strata_faiss_filtered_hnsw_add(strata_faiss_filtered_hnsw *index, size_t n,
                          const float *vectors);

/* Writes the index to `path`, or reads one written by this function. */
int strata_faiss_filtered_hnsw_save(const strata_faiss_filtered_hnsw *index, const char *path);
int strata_faiss_filtered_hnsw_load(const char *path, strata_faiss_filtered_hnsw **out);

/* Returns the number of vectors in the index. */
size_t strata_faiss_filtered_hnsw_count(const strata_faiss_filtered_hnsw *index);

/* Searches one query with beam width `ef`.  `bitmap` (n_bits bits, bit i
 * of byte i / 8 for id i) restricts the results; NULL searches all ids.
 * Writes k scores (inner products) and ids; missing results have id -1.
 * FAISS 1.7.3 reads the beam width from the index, not from
 * SearchParametersHNSW::efSearch, so this sets the index's efSearch and
 * must not run concurrently with other searches of the same index. */
int strata_faiss_filtered_hnsw_search(strata_faiss_filtered_hnsw *index,
                             const float *query, size_t k, int ef,
                             const uint8_t *bitmap, size_t n_bits,
                             float *scores, int64_t *ids);

void strata_faiss_filtered_hnsw_free(strata_faiss_filtered_hnsw *index);

#ifdef __cplusplus
}
#endif

#endif
