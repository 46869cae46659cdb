/*
 * Data of grpc_bench: points and queries, the collection built from
 * them, and exact results for recall.  Failures print a message and exit,
 * as suits a benchmark.
 */
#ifndef GRPC_BENCH_DATA_H
#define GRPC_BENCH_DATA_H

#include <stddef.h>
#include <stdint.h>

#include "strata.h"

/* Name of the benchmark's collection. */
#define BENCH_COLLECTION "bench"

/* A row-major matrix of float vectors. */
typedef struct matrix {
  float *data;
  size_t rows;
  uint32_t dim;
} matrix;

/* Exact top-k ids of every query, k per query. */
typedef struct bench_truth {
  uint64_t *ids;
  size_t n_queries;
  uint32_t k;
} bench_truth;

/* Allocates like malloc, but exits when memory runs out. */
void *bench_malloc(size_t size);

/* Prints `what` with the engine's last error and exits. */
void bench_fail_strata(const char *what);

/* Reads an fvecs file (each row an int32 dimension, then that many
 * float32), keeping at most `limit` rows (0: all). */
matrix bench_read_fvecs(const char *path, size_t limit);

/* Fills a matrix with deterministic uniform floats in [-1, 1). */
matrix bench_random_matrix(size_t rows, uint32_t dim, uint64_t seed);

/* Creates BENCH_COLLECTION (Cosine, the given HNSW settings) from the
 * rows of `m`, ids 0 to rows-1, unless the database already contains it
 * with the same size, dimension and settings.  Exits when it contains a
 * different one (`dir` names the database in that message).  Returns 1
 * when the collection was loaded now, 0 when it was reused. */
int bench_ensure_collection(strata_db *db, const strata_hnsw_config *hnsw,
                            const matrix *m, const char *dir);

/* Sets *t to the exact top-k of each query.  Reads them from `path` when
 * that file has them for this many queries and this k; otherwise runs
 * exact searches and, with a path, saves the result there. */
void bench_load_truth(strata_db *db, const matrix *queries, uint32_t k,
                      const char *path, bench_truth *t);

/* Returns the share of query q's true top-k found among `found`. */
double bench_recall(const bench_truth *t, size_t q, const uint64_t *found,
                    size_t n_found);

#endif
