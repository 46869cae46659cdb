/*
 * Filter planning: candidate bitmaps and cardinality estimates from the
 * payload indexes.
 *
 * Candidates follow the filter's structure.  A leaf gets an index's
 * lookup result (exact or a superset) or, when no index helps, every point.
 * `must` intersects, `should` unites, `min_should` counts how many
 * children hold, and `must_not` subtracts an exact child (an inexact
 * child can only leave every point as a candidate).  Each result stays a
 * superset of the matching points, and is exact when every part used is.
 * In a `must`, ranges on numeric and datetime indexes come last and may
 * be checked point by point on the candidates so far, which gives the
 * same result (see must_candidates()).
 *
 * Estimates use the same leaves, combined with interval arithmetic, so
 * [min, max] always contains the true count; `expected` assumes the
 * conditions are independent.
 */
#include <stdlib.h>
#include <string.h>

#include "filter.h"
#include "payload_index.h"
#include "status.h"

typedef struct planner {
  const strata_payload_indexes *indexes;
  const roaring_bitmap_t *all;
  int oom;
  uint64_t universe; /* the largest point number of `all`, plus one */
  int all_full;      /* `all` contains every point number below universe */
} planner;

typedef struct candidates {
  roaring_bitmap_t *bm;
  int exact;
} candidates;

static candidates everything(planner *p) {
  candidates r = {roaring_bitmap_copy(p->all), 0};
  if (!r.bm)
    p->oom = 1;
  return r;
}

static candidates filter_candidates(planner *p, const strata_filter *f);

/* Intersects bm with the point set.  When that set contains every point
 * number below p->universe, the intersection can only drop points at
 * or past it, so it is skipped when bm has none.  That saves a pass over
 * each container, which costs a popcount per 64-bit word in CRoaring
 * 0.2.66 as Debian builds it (without the POPCNT instruction). */
static void intersect_all(planner *p, roaring_bitmap_t *bm) {
  if (p->all_full &&
      (roaring_bitmap_is_empty(bm) || roaring_bitmap_maximum(bm) < p->universe))
    return;
  roaring_bitmap_and_inplace(bm, p->all);
}

/* Intersects the lookup results of every index on `field` (the
 * condition's key, or the key under a nested prefix).  Each is a
 * superset, so the intersection is one, and exact if any is.  Sets r.bm
 * to NULL when no index has the field. */
static candidates index_lookups(planner *p, const strata_condition *c,
                                const char *field) {
  candidates r = {NULL, 0};
  if (c->kind == STRATA_COND_IS_EMPTY || c->kind == STRATA_COND_IS_NULL ||
      c->kind == STRATA_COND_VALUES_COUNT || !p->indexes)
    return r;
  /* Token semantics apply when a text index exists, so only it may
   * look up match text then. */
  int text_only = c->kind == STRATA_COND_MATCH_TEXT &&
                  strata_payload_indexes_find_text(p->indexes, field);
  for (size_t i = 0; i < p->indexes->count; i++) {
    const strata_payload_index *ix = p->indexes->items[i];
    if (strata_payload_index_broken(ix) ||
        strcmp(strata_payload_index_field(ix), field) != 0 ||
        (text_only && strata_payload_index_type(ix) != STRATA_INDEX_TEXT))
      continue;
    roaring_bitmap_t *bm;
    int exact;
    if (strata_payload_index_lookup(ix, c, &bm, &exact) != 0) {
      p->oom = 1;
      break;
    }
    if (!r.bm) {
      r.bm = bm;
      r.exact = exact;
    } else {
      roaring_bitmap_and_inplace(r.bm, bm);
      roaring_bitmap_free(bm);
      r.exact |= exact;
    }
  }
  return r;
}

static candidates field_candidates(planner *p, const strata_condition *c) {
  candidates r = index_lookups(p, c, c->key.text);
  if (!r.bm)
    return everything(p);
  intersect_all(p, r.bm);
  return r;
}

static candidates has_id_candidates(planner *p, const strata_condition *c) {
  if (!p->indexes || !p->indexes->resolve_id)
    return everything(p);
  candidates r = {roaring_bitmap_create(), 1};
  if (!r.bm) {
    p->oom = 1;
    return r;
  }
  for (size_t i = 0; i < c->n_ids; i++) {
    uint32_t point;
    if (p->indexes->resolve_id(p->indexes->resolve_arg, &c->ids[i], &point))
      roaring_bitmap_add(r.bm, point);
  }
  intersect_all(p, r.bm);
  return r;
}

static void release(candidates *r);

/* Returns prefix.key, or key[] appended when `array` is set; NULL when
 * out of memory.  The caller frees it. */
static char *nested_path(const char *prefix, const char *key, int array) {
  size_t len = strlen(prefix) + strlen(key) + 4;
  char *path = malloc(len);
  if (path)
    snprintf(path, len, "%s%s%s%s", prefix, prefix[0] ? "." : "", key,
             array ? "[]" : "");
  return path;
}

/* Intersects b into *acc (NULL: no restriction yet). */
static void narrow(candidates *acc, candidates b) {
  if (!b.bm)
    return;
  if (!acc->bm) {
    *acc = b;
    return;
  }
  roaring_bitmap_and_inplace(acc->bm, b.bm);
  release(&b);
}

static candidates nested_lookups(planner *p, const strata_filter *f,
                                 const char *prefix);

static candidates nested_condition_lookups(planner *p,
                                           const strata_condition *c,
                                           const char *prefix) {
  candidates r = {NULL, 0};
  if (c->kind == STRATA_COND_FILTER)
    return nested_lookups(p, c->filter, prefix);
  char *path = nested_path(prefix, c->key.text, c->kind == STRATA_COND_NESTED);
  if (!path) {
    p->oom = 1;
    return r;
  }
  if (c->kind == STRATA_COND_NESTED)
    r = nested_lookups(p, c->filter, path);
  else
    r = index_lookups(p, c, path);
  free(path);
  r.exact = 0;
  return r;
}

/* Looks up a superset of the points where one element under `prefix` (a
 * path ending in "[]") satisfies `f`.  The element satisfies every must
 * condition and one should condition, so the point has a value meeting
 * each of them under the prefix.  must_not and min_should are left out,
 * because a condition that fails on one element does not constrain
 * the others.  Sets r.bm to NULL when nothing could be looked up. */
static candidates nested_lookups(planner *p, const strata_filter *f,
                                 const char *prefix) {
  candidates acc = {NULL, 0};
  for (size_t i = 0; i < f->n_must && !p->oom; i++)
    narrow(&acc, nested_condition_lookups(p, f->must[i], prefix));

  /* The should union helps only when every child has a lookup. */
  candidates any = {NULL, 0};
  for (size_t i = 0; i < f->n_should && !p->oom; i++) {
    candidates child = nested_condition_lookups(p, f->should[i], prefix);
    if (!child.bm) {
      release(&any);
      break;
    }
    if (!any.bm) {
      any = child;
    } else {
      roaring_bitmap_or_inplace(any.bm, child.bm);
      release(&child);
    }
  }
  narrow(&acc, any);
  acc.exact = 0;
  return acc;
}

static candidates nested_candidates(planner *p, const strata_condition *c) {
  char *prefix = nested_path("", c->key.text, 1);
  if (!prefix) {
    p->oom = 1;
    return (candidates){NULL, 0};
  }
  candidates r = nested_lookups(p, c->filter, prefix);
  free(prefix);
  if (!r.bm)
    return everything(p);
  intersect_all(p, r.bm);
  return r;
}

static candidates condition_candidates(planner *p, const strata_condition *c) {
  switch (c->kind) {
  case STRATA_COND_FILTER:
    return filter_candidates(p, c->filter);
  case STRATA_COND_HAS_ID:
    return has_id_candidates(p, c);
  case STRATA_COND_NESTED:
    return nested_candidates(p, c);
  default:
    return field_candidates(p, c);
  }
}

static void release(candidates *r) {
  if (r->bm)
    roaring_bitmap_free(r->bm);
  r->bm = NULL;
}

/* Points in at least `m` of the children's candidates.  levels[j] contains
 * the points seen in at least j+1 children so far. */
static candidates min_should_candidates(planner *p, const strata_filter *f) {
  size_t m = f->min_count, n = f->n_min_should;
  if (m == 0 || m > n) {
    candidates r = {
        m == 0 ? roaring_bitmap_copy(p->all) : roaring_bitmap_create(), 1};
    if (!r.bm)
      p->oom = 1;
    return r;
  }
  roaring_bitmap_t **levels = calloc(m, sizeof *levels);
  candidates r = {NULL, 1};
  if (!levels) {
    p->oom = 1;
    return r;
  }
  for (size_t j = 0; j < m; j++)
    if (!(levels[j] = roaring_bitmap_create()))
      p->oom = 1;

  for (size_t i = 0; i < n && !p->oom; i++) {
    candidates child = condition_candidates(p, f->min_should[i]);
    if (!child.bm)
      break;
    r.exact &= child.exact;
    size_t top = i + 1 < m ? i + 1 : m;
    for (size_t j = top - 1; j >= 1; j--) {
      roaring_bitmap_t *both = roaring_bitmap_and(levels[j - 1], child.bm);
      roaring_bitmap_or_inplace(levels[j], both);
      roaring_bitmap_free(both);
    }
    roaring_bitmap_or_inplace(levels[0], child.bm);
    release(&child);
  }

  /* Only the last level is the result. */
  for (size_t j = 0; j + 1 < m; j++)
    if (levels[j])
      roaring_bitmap_free(levels[j]);
  r.bm = levels[m - 1];
  free(levels);
  return r;
}

/* Intersects `part` into *acc (which starts as NULL: every point).  A
 * part without a bitmap is an allocation failure. */
static void intersect(planner *p, candidates *acc, candidates part) {
  if (!part.bm) {
    p->oom = 1;
    return;
  }
  if (!acc->bm) {
    *acc = part;
    return;
  }
  roaring_bitmap_and_inplace(acc->bm, part.bm);
  acc->exact &= part.exact;
  release(&part);
}

/* A must condition that is a range on the values of a numeric or
 * datetime index, the upper bound of its lookup's size, and the cost of
 * the lookup in point checks (strata_payload_index_range_cost()). */
typedef struct deferred_range {
  const strata_condition *c;
  const strata_payload_index *ix;
  uint64_t size;
  uint64_t cost;
} deferred_range;

/* Finds the only index on the condition's field and, when the condition
 * is a range on its values, sets *out and returns 1.  With several
 * indexes on the field, index_lookups() intersects all of them, so such
 * a condition is looked up as before. */
static int range_to_defer(planner *p, const strata_condition *c,
                          deferred_range *out) {
  if (!p->indexes || (c->kind != STRATA_COND_RANGE &&
                      c->kind != STRATA_COND_DATETIME_RANGE))
    return 0;
  const strata_payload_index *found = NULL;
  for (size_t i = 0; i < p->indexes->count; i++) {
    const strata_payload_index *ix = p->indexes->items[i];
    if (strata_payload_index_broken(ix) ||
        strcmp(strata_payload_index_field(ix), c->key.text) != 0)
      continue;
    if (found)
      return 0;
    found = ix;
  }
  if (!found || !strata_payload_index_range_size(found, c, &out->size) ||
      !strata_payload_index_range_cost(found, c, &out->cost))
    return 0;
  out->c = c;
  out->ix = found;
  return 1;
}

static int compare_deferred(const void *a, const void *b) {
  const deferred_range *x = a, *y = b;
  return x->size < y->size ? -1 : x->size > y->size;
}

/* Estimates what intersecting bitmaps of a and b points costs, in the
 * unit of strata_payload_index_range_cost() (one point checked through a
 * point-to-value table, 5 to 14 ns).  CRoaring stores a 2^16 range of
 * point numbers as an array when it contains at most 4,096 points (one
 * sixteenth), else as a bitset.  Two arrays intersect by a merge, about
 * 3 ns per element.  An array and a bitset take a bit test per array
 * element.  Two bitsets take a word AND per 64 point numbers, plus about
 * 3 ns per result point to extract a sparse result as an array.  Estimates from timing CRoaring 0.2.66 (Debian build)
 * on random bitmaps of 340,479 point numbers. */
static uint64_t and_cost(uint64_t a, uint64_t b, uint64_t universe) {
  int dense_a = a * 16 > universe, dense_b = b * 16 > universe;
  if (!dense_a && !dense_b)
    return (a + b) / 2;
  if (!dense_a || !dense_b)
    return (dense_a ? b : a) / 4;
  double both = (double)a * (double)b / (double)(universe ? universe : 1);
  return universe / 1024 + (uint64_t)(both / 2);
}

/* Intersects the candidates of every must condition into *acc.
 *
 * A range lookup costs the same however few points the other conditions
 * leave.  So ranges on numeric and datetime indexes come last, smallest
 * first.  When checking each candidate's value in the index's
 * point-to-value table costs less than the lookup and the intersection
 * with its result, the planner does that instead.  Both ways give the
 * same bitmap and exactness. */
static void must_candidates(planner *p, const strata_filter *f,
                            candidates *acc) {
  deferred_range *ranges = malloc(f->n_must * sizeof *ranges);
  if (!ranges) {
    p->oom = 1;
    return;
  }
  size_t n_ranges = 0;
  for (size_t i = 0; i < f->n_must && !p->oom; i++) {
    if (range_to_defer(p, f->must[i], &ranges[n_ranges]))
      n_ranges++;
    else
      intersect(p, acc, condition_candidates(p, f->must[i]));
  }
  qsort(ranges, n_ranges, sizeof *ranges, compare_deferred);

  for (size_t i = 0; i < n_ranges && !p->oom; i++) {
    uint64_t n = acc->bm ? roaring_bitmap_get_cardinality(acc->bm) : 0;
    if (acc->bm &&
        n < ranges[i].cost + and_cost(n, ranges[i].size, p->universe)) {
      int exact = 1;
      int done =
          strata_payload_index_restrict(ranges[i].ix, ranges[i].c, &acc->bm,
                                        &exact);
      if (done < 0) {
        p->oom = 1;
        break;
      }
      if (done) {
        acc->exact &= exact;
        continue;
      }
    }
    intersect(p, acc, condition_candidates(p, ranges[i].c));
  }
  free(ranges);
}

static candidates filter_candidates(planner *p, const strata_filter *f) {
  candidates acc = {NULL, 1};
  if (f->n_should > 0) {
    candidates any = {roaring_bitmap_create(), 1};
    if (!any.bm)
      p->oom = 1;
    for (size_t i = 0; i < f->n_should && !p->oom; i++) {
      candidates child = condition_candidates(p, f->should[i]);
      if (!child.bm)
        break;
      roaring_bitmap_or_inplace(any.bm, child.bm);
      any.exact &= child.exact;
      release(&child);
    }
    intersect(p, &acc, any);
  }
  if (f->has_min_should && !p->oom)
    intersect(p, &acc, min_should_candidates(p, f));
  if (f->n_must > 0 && !p->oom)
    must_candidates(p, f, &acc);
  for (size_t i = 0; i < f->n_must_not && !p->oom; i++) {
    candidates child = condition_candidates(p, f->must_not[i]);
    if (!child.bm)
      break;
    if (child.exact) {
      roaring_bitmap_t *rest = roaring_bitmap_andnot(p->all, child.bm);
      release(&child);
      intersect(p, &acc, (candidates){rest, 1});
    } else {
      release(&child);
      if (acc.bm)
        acc.exact = 0;
      else
        acc = everything(p);
    }
  }
  if (!acc.bm && !p->oom)
    acc = (candidates){roaring_bitmap_copy(p->all), 1};
  if (!acc.bm)
    p->oom = 1;
  return acc;
}

strata_status strata_filter_candidates(const strata_filter *filter,
                                       const strata_payload_indexes *indexes,
                                       const roaring_bitmap_t *all_points,
                                       roaring_bitmap_t **out, int *exact) {
  planner p = {indexes, all_points, 0, 0, 0};
  if (!roaring_bitmap_is_empty(all_points)) {
    p.universe = (uint64_t)roaring_bitmap_maximum(all_points) + 1;
    p.all_full = roaring_bitmap_get_cardinality(all_points) == p.universe;
  }
  candidates r = filter_candidates(&p, filter);
  if (p.oom) {
    release(&r);
    return strata_fail(STRATA_ERR_NO_MEMORY, "out of memory");
  }
  *out = r.bm;
  *exact = r.exact;
  return STRATA_OK;
}

/* ------------------------------------------------------------------ */
/* Estimates                                                            */

typedef struct estimator {
  const strata_payload_indexes *indexes;
  uint64_t n;
  int oom;
} estimator;

static strata_estimate clamp(strata_estimate e, uint64_t n) {
  if (e.max > n)
    e.max = n;
  if (e.min > e.max)
    e.min = e.max;
  if (e.expected < e.min)
    e.expected = e.min;
  if (e.expected > e.max)
    e.expected = e.max;
  return e;
}

static strata_estimate unknown(const estimator *es) {
  return (strata_estimate){0, es->n / 2, es->n};
}

static strata_estimate filter_estimate(estimator *es, const strata_filter *f);

static strata_estimate field_estimate(estimator *es,
                                      const strata_condition *c) {
  planner p = {es->indexes, NULL, 0, 0, 0};
  candidates r = index_lookups(&p, c, c->key.text);
  if (p.oom)
    es->oom = 1;
  if (!r.bm)
    return unknown(es);
  uint64_t count = roaring_bitmap_get_cardinality(r.bm);
  int exact = r.exact;
  release(&r);
  if (count > es->n)
    count = es->n;
  if (exact)
    return (strata_estimate){count, count, count};
  return (strata_estimate){0, count / 2, count};
}

/* A nested condition: its lookups give a bound, never an exact count. */
static strata_estimate nested_estimate(estimator *es,
                                       const strata_condition *c) {
  planner p = {es->indexes, NULL, 0, 0, 0};
  char *prefix = nested_path("", c->key.text, 1);
  if (!prefix) {
    es->oom = 1;
    return unknown(es);
  }
  candidates r = nested_lookups(&p, c->filter, prefix);
  free(prefix);
  if (p.oom)
    es->oom = 1;
  if (!r.bm)
    return unknown(es);
  uint64_t count = roaring_bitmap_get_cardinality(r.bm);
  release(&r);
  if (count > es->n)
    count = es->n;
  return (strata_estimate){0, count / 2, count};
}

static strata_estimate condition_estimate(estimator *es,
                                          const strata_condition *c) {
  switch (c->kind) {
  case STRATA_COND_FILTER:
    return filter_estimate(es, c->filter);
  case STRATA_COND_HAS_ID: {
    uint64_t n_ids = c->n_ids < es->n ? c->n_ids : es->n;
    if (!es->indexes || !es->indexes->resolve_id)
      return (strata_estimate){0, n_ids, n_ids};
    uint64_t found = 0;
    for (size_t i = 0; i < c->n_ids; i++) {
      uint32_t point;
      found += (uint64_t)es->indexes->resolve_id(es->indexes->resolve_arg,
                                                 &c->ids[i], &point);
    }
    return clamp((strata_estimate){found, found, found}, es->n);
  }
  case STRATA_COND_IS_EMPTY:
  case STRATA_COND_IS_NULL:
  case STRATA_COND_VALUES_COUNT:
    return unknown(es);
  case STRATA_COND_NESTED:
    return nested_estimate(es, c);
  default:
    return field_estimate(es, c);
  }
}

/* Conjunction: any point may miss any part, so min is the pigeonhole
 * bound. */
static strata_estimate and_estimate(const strata_estimate *parts, size_t k,
                                    uint64_t n) {
  if (k == 0)
    return (strata_estimate){n, n, n};
  double expected = (double)n, min_sum = 0;
  uint64_t max = n;
  for (size_t i = 0; i < k; i++) {
    min_sum += (double)parts[i].min;
    if (parts[i].max < max)
      max = parts[i].max;
    expected *= n ? (double)parts[i].expected / (double)n : 0;
  }
  double slack = (double)(k - 1) * (double)n;
  uint64_t min = min_sum > slack ? (uint64_t)(min_sum - slack) : 0;
  return clamp((strata_estimate){min, (uint64_t)expected, max}, n);
}

static strata_estimate or_estimate(const strata_estimate *parts, size_t k,
                                   uint64_t n) {
  double none = 1, max = 0;
  uint64_t min = 0;
  for (size_t i = 0; i < k; i++) {
    if (parts[i].min > min)
      min = parts[i].min;
    max += (double)parts[i].max;
    none *= n ? 1.0 - (double)parts[i].expected / (double)n : 1;
  }
  uint64_t max_u = max > (double)n ? n : (uint64_t)max;
  return clamp(
      (strata_estimate){min, (uint64_t)((1 - none) * (double)n), max_u}, n);
}

/* At least m of k: a point counted x times contributes x <= k if it
 * matches and x <= m-1 if not, which bounds the count from both sides;
 * `expected` is the Poisson-binomial tail under independence. */
static strata_estimate at_least_estimate(const strata_estimate *parts, size_t k,
                                         size_t m, uint64_t n) {
  if (m == 0)
    return (strata_estimate){n, n, n};
  if (m > k)
    return (strata_estimate){0, 0, 0};
  double sum_min = 0, sum_max = 0;
  double *prob = calloc(m + 1, sizeof *prob);
  for (size_t i = 0; i < k; i++) {
    sum_min += (double)parts[i].min;
    sum_max += (double)parts[i].max;
  }
  double lower = (sum_min - (double)n * (double)(m - 1)) / (double)(k - m + 1);
  uint64_t min = lower > 0 ? (uint64_t)lower : 0;
  uint64_t max = (uint64_t)(sum_max / (double)m);
  double tail = 0.5;
  if (prob && n) {
    /* prob[j]: chance that exactly j (j < m) children hold; prob[m]: at
     * least m. */
    prob[0] = 1;
    for (size_t i = 0; i < k; i++) {
      double q = (double)parts[i].expected / (double)n;
      prob[m] += prob[m - 1] * q;
      for (size_t j = m - 1; j >= 1; j--)
        prob[j] = prob[j] * (1 - q) + prob[j - 1] * q;
      prob[0] *= 1 - q;
    }
    tail = prob[m];
  }
  free(prob);
  return clamp((strata_estimate){min, (uint64_t)(tail * (double)n), max}, n);
}

static strata_estimate filter_estimate(estimator *es, const strata_filter *f) {
  size_t k = f->n_must + f->n_must_not + 2;
  strata_estimate *parts = calloc(k, sizeof *parts);
  strata_estimate *children = NULL;
  size_t cap = f->n_should > f->n_min_should ? f->n_should : f->n_min_should;
  children = calloc(cap ? cap : 1, sizeof *children);
  if (!parts || !children) {
    free(parts);
    free(children);
    es->oom = 1;
    return unknown(es);
  }

  /* One part per clause group, combined as a conjunction. */
  size_t used = 0;
  if (f->n_should > 0) {
    for (size_t i = 0; i < f->n_should; i++)
      children[i] = condition_estimate(es, f->should[i]);
    parts[used++] = or_estimate(children, f->n_should, es->n);
  }
  if (f->has_min_should) {
    for (size_t i = 0; i < f->n_min_should; i++)
      children[i] = condition_estimate(es, f->min_should[i]);
    parts[used++] =
        at_least_estimate(children, f->n_min_should, f->min_count, es->n);
  }
  for (size_t i = 0; i < f->n_must; i++)
    parts[used++] = condition_estimate(es, f->must[i]);
  for (size_t i = 0; i < f->n_must_not; i++) {
    strata_estimate e = condition_estimate(es, f->must_not[i]);
    parts[used++] =
        (strata_estimate){es->n - e.max, es->n - e.expected, es->n - e.min};
  }
  strata_estimate r = and_estimate(parts, used, es->n);
  free(parts);
  free(children);
  return r;
}

strata_status strata_filter_estimate(const strata_filter *filter,
                                     const strata_payload_indexes *indexes,
                                     uint64_t n_points, strata_estimate *out) {
  estimator es = {indexes, n_points, 0};
  *out = filter_estimate(&es, filter);
  if (es.oom)
    return strata_fail(STRATA_ERR_NO_MEMORY, "out of memory");
  return STRATA_OK;
}

/* ------------------------------------------------------------------ */
/* Selection                                                            */

/* Whether evaluating the filter reads the payload: every condition but
 * has_id does. */
static int needs_payload(const strata_filter *f) {
  strata_condition **lists[] = {f->must, f->should, f->must_not, f->min_should};
  size_t counts[] = {f->n_must, f->n_should, f->n_must_not, f->n_min_should};
  for (size_t l = 0; l < 4; l++)
    for (size_t i = 0; i < counts[l]; i++) {
      const strata_condition *c = lists[l][i];
      if (c->kind == STRATA_COND_FILTER ? needs_payload(c->filter)
                                        : c->kind != STRATA_COND_HAS_ID)
        return 1;
    }
  return 0;
}

strata_status strata_filter_select(const strata_filter *filter,
                                   const strata_payload_indexes *indexes,
                                   const roaring_bitmap_t *all_points,
                                   const strata_filter_source *source,
                                   roaring_bitmap_t **out) {
  roaring_bitmap_t *cand = NULL;
  int exact = 0;
  *out = NULL;
  strata_status st =
      strata_filter_candidates(filter, indexes, all_points, &cand, &exact);
  if (st != STRATA_OK || exact) {
    *out = cand;
    return st;
  }

  /* Check each candidate and drop those that fail. */
  int need_payload = needs_payload(filter);
  roaring_uint32_iterator_t *it = roaring_create_iterator(cand);
  roaring_bitmap_t *failed = roaring_bitmap_create();
  if (!it || !failed)
    st = strata_fail(STRATA_ERR_NO_MEMORY, "out of memory");
  for (; st == STRATA_OK && it->has_value;
       roaring_advance_uint32_iterator(it)) {
    json_t *payload = NULL;
    strata_point_id id;
    st = source->load(source->arg, it->current_value, need_payload, &payload,
                      &id);
    if (st != STRATA_OK)
      break;
    if (!strata_filter_matches_indexed(filter, payload, &id, indexes))
      roaring_bitmap_add(failed, it->current_value);
    json_decref(payload);
  }
  if (it)
    roaring_free_uint32_iterator(it);
  if (st == STRATA_OK) {
    roaring_bitmap_andnot_inplace(cand, failed);
    *out = cand;
  } else {
    roaring_bitmap_free(cand);
  }
  if (failed)
    roaring_bitmap_free(failed);
  return st;
}
