/*
 * C interface to FAISS IndexFlatL2 and IndexHNSWFlat, for benchmarks
 * written in C.
 *
 * Every function catches C++ exceptions and returns an error code instead:
 * 0 on success, STRATA_FAISS_ENOMEM when FAISS ran out of memory and
 * STRATA_FAISS_EFAISS for any other exception.  After an error,
 * strata_faiss_last_error() returns the exception's message.
 */
#ifndef STRATA_BENCH_FAISS_SHIM_H
#define STRATA_BENCH_FAISS_SHIM_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define STRATA_FAISS_ENOMEM (-1)
#define STRATA_FAISS_EFAISS (-2)

typedef struct strata_faiss_flat strata_faiss_flat;

/* Creates an empty IndexFlatL2 of `dim` dimensions in *out. */
int strata_faiss_flat_create(size_t dim, strata_faiss_flat **out);

/* Appends n vectors (rows of dim floats); FAISS copies them. */
int strata_faiss_flat_add(strata_faiss_flat *index, size_t n,
                          const float *vectors);

/* Searches nq queries; writes nq * k squared L2 distances and ids.
 * FAISS uses BLAS sgemm when nq >= faiss::distance_compute_blas_threshold
 * (20 by default) and a per-vector loop below that. */
int strata_faiss_flat_search(strata_faiss_flat *index, size_t nq,
                             const float *queries, size_t k,
                             float *distances, int64_t *ids);

void strata_faiss_flat_free(strata_faiss_flat *index);

typedef struct strata_faiss_hnsw strata_faiss_hnsw;

/* Creates an empty IndexHNSWFlat of `dim` dimensions with `m` links per
 * node above level 0 (2m on level 0) and an insertion beam of
 * `ef_construct`, in *out.  inner_product != 0 selects
 * METRIC_INNER_PRODUCT (cosine similarity over normalised vectors),
 * 0 selects METRIC_L2. */
int strata_faiss_hnsw_create(size_t dim, int m, int ef_construct,
                             int inner_product, strata_faiss_hnsw **out);

/* Appends n vectors and links them, on the OpenMP thread count in force
 * (strata_faiss_set_omp_threads).  Their ids are 0, 1, ... in the order
 * added. */
int strata_faiss_hnsw_add(strata_faiss_hnsw *index, size_t n,
                          const float *vectors);

/* Saves the index to `path` with faiss::write_index. */
int strata_faiss_hnsw_write(const strata_faiss_hnsw *index, const char *path);

/* Reads an index that strata_faiss_hnsw_write saved and checks that it is
 * an IndexHNSWFlat with the given dimension, m, ef_construct and metric
 * (as for strata_faiss_hnsw_create) over exactly the n vectors given.
 * Returns STRATA_FAISS_EFAISS with the reason in
 * strata_faiss_last_error() when the file cannot be read or differs. */
int strata_faiss_hnsw_read(const char *path, size_t dim, int m,
                           int ef_construct, int inner_product, size_t n,
                           const float *vectors, strata_faiss_hnsw **out);

/* Searches nq queries with efSearch = ef: writes nq * k ids, best first,
 * and their distances (squared L2, or the inner product).  When
 * `distance_count` is not NULL, stores the distance evaluations of the
 * call from FAISS's global hnsw_stats, which the call resets first.
 * FAISS 1.7.3 allocates a visited table of one byte per vector per call,
 * so callers timing queries should pass many queries per call. */
int strata_faiss_hnsw_search(strata_faiss_hnsw *index, size_t nq,
                             const float *queries, size_t k, size_t ef,
                             float *distances, int64_t *ids,
                             size_t *distance_count);

/* Searches one query with efSearch = ef, returning only ids whose bit is
 * set in `bitmap` (n_bits bits, bit i of byte i / 8 for id i; NULL allows
 * every id).  Writes k scores and ids; missing results have id -1.
 * FAISS 1.7.3 applies the selector inside the beam (rejected ids are
 * walked through, never returned) and has no exact fallback.  It also
 * reads the beam width from the index, not from
 * SearchParametersHNSW::efSearch, so this sets the index's efSearch and
 * must not run concurrently with other searches of the same index. */
int strata_faiss_hnsw_search_selected(strata_faiss_hnsw *index,
                                      const float *query, size_t k,
                                      size_t ef, const uint8_t *bitmap,
                                      size_t n_bits, float *scores,
                                      int64_t *ids);

void strata_faiss_hnsw_free(strata_faiss_hnsw *index);

/* Sets the OpenMP thread count FAISS uses (omp_set_num_threads). */
void strata_faiss_set_omp_threads(int threads);

/* Returns the OpenMP thread limit now in force (omp_get_max_threads). */
int strata_faiss_omp_threads(void);

/* Returns FAISS's BLAS threshold (faiss::distance_compute_blas_threshold). */
int strata_faiss_blas_threshold(void);

/* Message of the last exception caught on this thread, or "". */
const char *strata_faiss_last_error(void);

#ifdef __cplusplus
}
#endif

#endif
