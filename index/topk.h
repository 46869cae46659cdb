/*
 * Bounded top-k selection: a binary heap whose root is the worst of the
 * best k seen so far, so a new candidate is compared with one value.
 */
#ifndef STRATA_INDEX_TOPK_H
#define STRATA_INDEX_TOPK_H

#include <stddef.h>

#include "flat.h"

typedef struct strata_topk {
  strata_hit *hits; /* heap storage, capacity k */
  size_t k, n;
  strata_metric metric;
} strata_topk;

static inline void strata_topk_init(strata_topk *t, strata_hit *storage,
                                    size_t k, strata_metric metric) {
  t->hits = storage;
  t->k = k;
  t->n = 0;
  t->metric = metric;
}

/* Nonzero when a ranks strictly worse than b, ties broken by slot so the
 * result does not depend on scan order. */
static inline int strata_topk_worse(const strata_topk *t, strata_hit a,
                                    strata_hit b) {
  if (a.score != b.score)
    return strata_metric_better(t->metric, b.score, a.score);
  return a.slot > b.slot;
}

/* Returns nonzero when `score` could enter the heap: it is not full, or
 * `score` is no worse than its worst entry.  Always zero when k is 0. */
static inline int strata_topk_admits(const strata_topk *t, float score) {
  if (t->n < t->k)
    return 1;
  return t->n > 0 && !strata_metric_better(t->metric, t->hits[0].score, score);
}

void strata_topk_push(strata_topk *t, strata_hit hit);

/* Sorts the heap contents best first, in place; returns the count. */
size_t strata_topk_finish(strata_topk *t);

#endif
