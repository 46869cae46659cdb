/* Helpers for the HNSW tests: assertions, a graph check after every
 * phase, data sets (Fashion-MNIST and seeded random vectors), and recall
 * against exact search. */
#ifndef STRATA_TESTS_HNSW_TEST_H
#define STRATA_TESTS_HNSW_TEST_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#include "hnsw.h"

extern int test_failures;

#define CHECK(cond)                                                       \
  do {                                                                    \
    if (!(cond)) {                                                        \
      fprintf(stderr, "%s:%d: CHECK failed: %s\n", __FILE__, __LINE__,    \
              #cond);                                                     \
      test_failures++;                                                    \
    }                                                                     \
  } while (0)

/* Stops the test when a precondition for the rest fails. */
#define REQUIRE(cond)                                                     \
  do {                                                                    \
    if (!(cond)) {                                                        \
      fprintf(stderr, "%s:%d: REQUIRE failed: %s\n", __FILE__, __LINE__,  \
              #cond);                                                     \
      exit(1);                                                            \
    }                                                                     \
  } while (0)

/* Checks that an HNSW call returned `expected`. */
#define CHECK_RC(call, expected)                                          \
  do {                                                                    \
    int check_rc_ = (call);                                               \
    if (check_rc_ != (expected)) {                                        \
      fprintf(stderr, "%s:%d: %s returned %d (%s), expected %s\n",        \
              __FILE__, __LINE__, #call, check_rc_,                       \
              strata_hnsw_strerror(check_rc_), #expected);                \
      test_failures++;                                                    \
    }                                                                     \
  } while (0)

/* Runs strata_hnsw_check and reports the violation it found. */
#define CHECK_GRAPH(h)                                                    \
  do {                                                                    \
    char check_msg_[256];                                                 \
    if (strata_hnsw_check((h), check_msg_, sizeof check_msg_) !=          \
        STRATA_HNSW_OK) {                                                 \
      fprintf(stderr, "%s:%d: graph check failed: %s\n", __FILE__,        \
              __LINE__, check_msg_);                                      \
      test_failures++;                                                    \
    }                                                                     \
  } while (0)

int test_finish(const char *name);

/* True when the test should use its reduced sizes: the first argument is
 * "small" (sanitizer builds pass it). */
bool test_small(int argc, char **argv);

/* Row-major float vectors. */
typedef struct test_data {
  size_t count, dim;
  float *rows;
  uint8_t *labels; /* NULL for random data */
} test_data;

/* Reads the first `max` images of a gzipped IDX file, pixels scaled to
 * [0, 1], and their labels when `labels_path` is not NULL. */
test_data test_load_idx(const char *images_path, const char *labels_path,
                        size_t max);

/* Seeded Gaussian vectors. */
test_data test_random(size_t count, size_t dim, uint64_t seed);

void test_normalize(test_data *d);
void test_data_free(test_data *d);

/* Adds every row to the store; slots come out as 0..count-1. */
void test_fill_store(strata_vector_store *vs, const test_data *d);

/* Exact top-k of every query row by strata_flat_search: k hits per
 * query, counts[q] of them valid.  Free with test_truth_free. */
typedef struct test_truth {
  size_t k;
  strata_hit *hits;
  size_t *counts;
} test_truth;

test_truth test_exact(const strata_vector_store *vs, strata_metric metric,
                      const test_data *queries, size_t k,
                      const strata_slot_filter *filter);
void test_truth_free(test_truth *t);

/* Mean recall@k of the index over the query rows against `truth`, which
 * was computed with the same filter.  Also checks that every search
 * returns as many hits as the exact one. */
double test_recall(strata_hnsw *h, const test_data *queries,
                   const test_truth *truth, size_t ef,
                   const strata_slot_filter *filter);

/* Creates an index with default parameters, failing the test on error. */
strata_hnsw *test_create(strata_metric metric, const strata_vector_store *vs,
                         uint32_t m, uint32_t ef_construct);

double test_seconds(void);

#endif
