#include "flat.h"

#include <math.h>
#include <stdlib.h>

#include "distance.h"
#include "topk.h"

static float score_one(const strata_kernels *kern, strata_metric metric,
                       const float *a, const float *b, size_t dim) {
  switch (metric) {
  case STRATA_METRIC_DOT:
    return kern->dot(a, b, dim);
  case STRATA_METRIC_L2:
    return kern->l2sq(a, b, dim);
  case STRATA_METRIC_L1:
    return kern->l1(a, b, dim);
  }
  return NAN;
}

long strata_flat_search(const strata_vector_store *vs, strata_metric metric,
                        const float *query, size_t k,
                        const strata_slot_filter *filter, strata_hit *out) {
  const strata_kernels *kern = strata_kernels_get();
  strata_topk top;
  strata_topk_init(&top, out, k, metric);
  for (size_t slot = 0; slot < vs->n_slots; slot++) {
    if (!strata_vs_is_live(vs, slot))
      continue;
    if (filter && !filter->allow((uint32_t)slot, filter->ctx))
      continue;
    float s = score_one(kern, metric, query, strata_vs_vector(vs, slot),
                        vs->dim);
    if (strata_topk_admits(&top, s))
      strata_topk_push(&top, (strata_hit){(uint32_t)slot, s});
  }
  size_t n = strata_topk_finish(&top);
  if (metric == STRATA_METRIC_L2) {
    for (size_t i = 0; i < n; i++)
      out[i].score = sqrtf(out[i].score);
  }
  return (long)n;
}

int strata_flat_search_batch(const strata_vector_store *vs,
                             strata_metric metric, const float *queries,
                             size_t nq, size_t k, strata_hit *out,
                             size_t *counts) {
  for (size_t q = 0; q < nq; q++) {
    long n = strata_flat_search(vs, metric, queries + q * vs->dim, k, NULL,
                                out + q * k);
    if (n < 0)
      return -1;
    counts[q] = (size_t)n;
  }
  return 0;
}
