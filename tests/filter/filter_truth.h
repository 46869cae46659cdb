/*
 * The exact result of a filter for the filter tests, from evaluating
 * every payload one by one.  Index lookups and planned candidates are
 * compared against it.
 */
#ifndef STRATA_TESTS_FILTER_TRUTH_H
#define STRATA_TESTS_FILTER_TRUTH_H

#include <jansson.h>
#include <roaring/roaring.h>
#include <stdint.h>
#include <string.h>

#include "filter.h"
#include "filter_test.h"

/* Parses `json` into *out and returns the points of docs[0] to
 * docs[n - 1] whose payload matches it (a NULL doc is a deleted point).
 * Records a failed check and returns NULL when the filter is invalid. */
static inline roaring_bitmap_t *matching_points(json_t *const *docs,
                                                uint32_t n, const char *json,
                                                strata_filter **out) {
  *out = NULL;
  if (strata_filter_parse_json(json, strlen(json), out) != STRATA_OK) {
    CHECK_MSG(0, "%s: %s", json, strata_last_error());
    return NULL;
  }
  roaring_bitmap_t *truth = roaring_bitmap_create();
  for (uint32_t i = 0; i < n; i++)
    if (docs[i] && strata_filter_matches(*out, docs[i], NULL))
      roaring_bitmap_add(truth, i);
  return truth;
}

#endif
