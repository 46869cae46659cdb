#include "topk.h"

#include <stdlib.h>

static void sift_down(strata_topk *t, size_t i) {
  for (;;) {
    size_t worst = i, l = 2 * i + 1, r = l + 1;
    if (l < t->n && strata_topk_worse(t, t->hits[l], t->hits[worst]))
      worst = l;
    if (r < t->n && strata_topk_worse(t, t->hits[r], t->hits[worst]))
      worst = r;
    if (worst == i)
      return;
    strata_hit tmp = t->hits[i];
    t->hits[i] = t->hits[worst];
    t->hits[worst] = tmp;
    i = worst;
  }
}

void strata_topk_push(strata_topk *t, strata_hit hit) {
  if (t->k == 0)
    return;
  if (t->n < t->k) {
    size_t i = t->n++;
    t->hits[i] = hit;
    while (i > 0) {
      size_t parent = (i - 1) / 2;
      if (!strata_topk_worse(t, t->hits[i], t->hits[parent]))
        break;
      strata_hit tmp = t->hits[i];
      t->hits[i] = t->hits[parent];
      t->hits[parent] = tmp;
      i = parent;
    }
    return;
  }
  if (!strata_topk_worse(t, t->hits[0], hit))
    return;
  t->hits[0] = hit;
  sift_down(t, 0);
}

size_t strata_topk_finish(strata_topk *t) {
  /* Heap sort: repeatedly move the worst to the end. */
  size_t count = t->n;
  while (t->n > 1) {
    strata_hit tmp = t->hits[0];
    t->hits[0] = t->hits[t->n - 1];
    t->hits[t->n - 1] = tmp;
    t->n--;
    sift_down(t, 0);
  }
  t->n = count;
  return count;
}
