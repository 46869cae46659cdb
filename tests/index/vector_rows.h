/*
 * Rows of the vector store tests.  Row `id` has id + i / 8 in dimension
 * i, so a test can tell which row a slot contains.
 */
#ifndef STRATA_TESTS_INDEX_VECTOR_ROWS_H
#define STRATA_TESTS_INDEX_VECTOR_ROWS_H

#include <string.h>

#include "vector_store.h"

#define DIM 6

/* Fills vec with the values of row `id`. */
static inline void make_row(float *vec, size_t id) {
  for (size_t i = 0; i < DIM; i++)
    vec[i] = (float)id + (float)i / 8.0f;
}

/* Returns whether `slot` of `vs` contains row `id`. */
static inline int row_matches(const strata_vector_store *vs, size_t slot,
                              size_t id) {
  float want[DIM];
  make_row(want, id);
  return memcmp(strata_vs_vector(vs, slot), want, sizeof want) == 0;
}

#endif
