/*
 * Query planner: how one search request is answered.
 *
 * Without a filter, a search walks the vector's HNSW graph, or scores
 * every vector exactly when the request asks for it, when the graph is
 * missing, or when the vectors fit in full_scan_threshold_kb.
 *
 * With a filter, the planner first computes the exact set of matching
 * points (strata_collection_select: payload indexes give candidates,
 * payloads decide the rest) and counts those that have the searched
 * vector.  Then:
 *
 *   - fewer than the threshold in points (full_scan_threshold_kb * 1024
 *     / (dim * 4)): score those points one by one (exact_filtered).  Its
 *     cost grows with the matching set only, so a selective filter is
 *     cheap however large the collection is;
 *   - otherwise walk the graph with an allow-list that maps a slot to
 *     its point and tests the set (hnsw_filtered).  The graph search
 *     keeps the walk connected through rejected nodes and falls back to
 *     an exact scan when it finds fewer than k, so it returns
 *     min(k, matching points with the vector) hits.
 *
 * The threshold is the larger of two.  One is the threshold the
 * unfiltered search uses, in points, so a filtered search never walks the
 * graph over fewer candidates than an unfiltered one would.  The other
 * compares costs: scoring m matching points costs about m distances,
 * while a walk that meets matching points at the rate s = m / n costs
 * about ef * GRAPH_WORK / s, because it has to pass that many rejected
 * points per accepted one.  The two are equal at m = sqrt(ef * GRAPH_WORK
 * * n).  On GloVe-100 with 340,479 points and ef 256 (bench/filter) that
 * is about 51,000 points: a 10% filter (34,000 points) then scores in
 * about 1 ms what the graph walk took 7 ms to find.  Computing the matching set exactly costs one
 * pass over the candidates; its size is then known, not estimated, so
 * the choice between the two plans cannot go wrong because of a bad
 * estimate.  strata_filter_estimate() is only reported by explain.
 *
 * That pass checks the payload of every candidate the payload indexes
 * could not decide, which for a filter on unindexed fields is every
 * point, on every query.  So when the collection's parsed payloads are
 * cached (filter_cache.c), the planner first checks the candidates
 * among SAMPLE_POINTS point numbers spread over the collection.  When the sample projects at least
 * the threshold of matching points, the graph walk checks payloads only
 * for the points it meets and remembers each verdict (hnsw_checked).  A
 * wrong projection costs time, never results: when few points match, the
 * graph search gives up and scans, checking each point once.
 */
#include <jansson.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "../index/distance.h"
#include "../index/topk.h"
#include "engine.h"
#include "filter.h"

/* Candidates checked to project the matching count (see above). */
#define SAMPLE_POINTS 1024

/* Cost of a filtered graph walk per unit of ef, in exact distance
 * evaluations: about 15 distances per unit of ef on GloVe-100 (see
 * bench/hnsw), each costing about twice a sequential exact one
 * because of the random access and the heaps.  An estimate, fitted to
 * the crossover measured by bench/filter. */
#define GRAPH_WORK 30

/* Verdicts of payload checks during an hnsw_checked walk. */
enum { VERDICT_UNKNOWN = 0, VERDICT_MATCH = 1, VERDICT_NO_MATCH = 2 };

struct strata_plan_checks {
  const strata_collection *c;
  const strata_space *space;
  const strata_filter *filter;
  strata_payload_indexes indexes;
  const strata_filter_cache *cache;
  const roaring_bitmap_t *candidates;
  uint8_t *verdicts; /* point number -> VERDICT_* */
  size_t n_points;
};

size_t strata_space_threshold_points(const strata_space *space) {
  return (size_t)space->full_scan_threshold_kb * 1024 /
         ((size_t)space->dim * sizeof(float));
}

/* Matching points with the vector below which a filtered search scores
 * them exactly (see the top of the file). */
static uint64_t filtered_exact_below(const strata_space *space,
                                     const strata_search_request *request) {
  uint64_t ef = request->ef ? request->ef : space->hnsw_params.ef_construct;
  if (ef < request->k)
    ef = request->k;
  double work = sqrt((double)ef * GRAPH_WORK * (double)space->store.n_live);
  uint64_t threshold = strata_space_threshold_points(space);
  return work > (double)threshold ? (uint64_t)work : threshold;
}

typedef struct count_state {
  const strata_collection *c;
  size_t space;
  uint64_t n;
} count_state;

static bool count_with_vector(uint32_t point, void *arg) {
  count_state *cs = arg;
  cs->n += cs->c->slots[(size_t)point * cs->c->n_spaces + cs->space] !=
           STRATA_NO_SLOT;
  return true;
}

/* Checks one candidate against the cached payloads, once. */
static int check_point(struct strata_plan_checks *pc, uint32_t point) {
  if (point >= pc->n_points)
    return 0;
  if (pc->verdicts[point] == VERDICT_UNKNOWN) {
    int match = roaring_bitmap_contains(pc->candidates, point) &&
                strata_filter_matches_indexed(
                    pc->filter, strata_filter_cache_payload(pc->cache, point),
                    &pc->c->points[point], &pc->indexes);
    pc->verdicts[point] = match ? VERDICT_MATCH : VERDICT_NO_MATCH;
  }
  return pc->verdicts[point] == VERDICT_MATCH;
}

/* Plans an hnsw_checked walk when the filter cache exists and a sample
 * of the candidates projects at least `exact_below` matching points.
 * Returns 1 when it did; 0 leaves *plan for the exact selection, and -1
 * means out of memory.  Takes over `candidates` when it returns 1. */
static int plan_checked(const strata_collection *c, int space_index,
                        const strata_filter *filter, uint64_t exact_below,
                        roaring_bitmap_t *candidates, strata_plan *plan) {
  const strata_filter_cache *cache = strata_filter_cache_get(c);
  if (!cache)
    return 0;
  struct strata_plan_checks *pc = calloc(1, sizeof *pc);
  uint8_t *verdicts = calloc(c->points_used ? c->points_used : 1, 1);
  if (!pc || !verdicts) {
    free(pc);
    free(verdicts);
    return -1;
  }
  *pc = (struct strata_plan_checks){c,     &c->spaces[space_index],
                                    filter, {0},
                                    cache, candidates,
                                    verdicts, c->points_used};
  strata_collection_indexes(c, &pc->indexes);

  /* The sample takes point numbers at the fractional parts of i times
   * the golden ratio: spread evenly, but not periodic, so a payload that
   * repeats every few points cannot alias with it.  That costs one
   * bitmap lookup per point, where selecting by rank costs a scan of a
   * container.  Only matching points with the vector count. */
  uint64_t n = roaring_bitmap_get_cardinality(candidates);
  uint64_t sampled = 0, passed = 0;
  for (uint64_t i = 0; i < SAMPLE_POINTS && c->points_used > 0; i++) {
    double position = fmod((double)i * 0.6180339887498949, 1.0);
    uint32_t point = (uint32_t)(position * (double)c->points_used);
    if (!roaring_bitmap_contains(candidates, point))
      continue;
    sampled++;
    if (c->slots[(size_t)point * c->n_spaces + (size_t)space_index] !=
        STRATA_NO_SLOT)
      passed += (uint64_t)check_point(pc, point);
  }
  uint64_t projected = sampled ? passed * n / sampled : 0;
  if (projected < exact_below) {
    free(verdicts);
    free(pc);
    return 0;
  }
  plan->strategy = STRATA_PLAN_HNSW_CHECKED;
  plan->allowed = candidates;
  plan->checks = pc;
  plan->matching = projected;
  /* An upper bound: the walk returns min(k, matching points) anyway. */
  plan->matching_with_vector = c->spaces[space_index].store.n_live;
  return 1;
}

strata_status strata_plan_make(strata_db *db, const strata_collection *c,
                               int space_index,
                               const strata_search_request *request,
                               strata_plan *plan) {
  const strata_space *space = &c->spaces[space_index];
  memset(plan, 0, sizeof *plan);
  plan->space = space_index;
  plan->threshold = strata_space_threshold_points(space);
  int graph = space->graph && !request->exact;
  if (!request->filter) {
    plan->strategy = graph && space->store.n_live > plan->threshold
                         ? STRATA_PLAN_HNSW
                         : STRATA_PLAN_EXACT;
    plan->matching = c->n_points;
    plan->matching_with_vector = space->store.n_live;
    return STRATA_OK;
  }

  uint64_t exact_below = filtered_exact_below(space, request);
  if (graph && space->store.n_live > exact_below) {
    strata_payload_indexes indexes;
    strata_collection_indexes(c, &indexes);
    roaring_bitmap_t *candidates = NULL;
    int exact = 0;
    strata_status st = strata_filter_candidates(request->filter, &indexes,
                                                c->live, &candidates, &exact);
    if (st != STRATA_OK)
      return strata_fail(st, "out of memory evaluating a filter");
    int planned = exact ? 0
                        : plan_checked(c, space_index, request->filter,
                                       exact_below, candidates, plan);
    if (planned == 1)
      return STRATA_OK;
    if (planned < 0 || !exact) {
      roaring_bitmap_free(candidates);
      if (planned < 0)
        return strata_fail(STRATA_ERR_NO_MEMORY,
                           "out of memory evaluating a filter");
    } else {
      plan->allowed = candidates;
    }
  }
  if (!plan->allowed) {
    strata_status st =
        strata_collection_select(db, c, request->filter, &plan->allowed);
    if (st != STRATA_OK)
      return st;
  }
  plan->matching = roaring_bitmap_get_cardinality(plan->allowed);
  if (space->store.n_live == c->n_points) {
    /* Every point has the vector, so no need to look at each. */
    plan->matching_with_vector = plan->matching;
  } else {
    count_state cs = {c, (size_t)space_index, 0};
    roaring_iterate(plan->allowed, count_with_vector, &cs);
    plan->matching_with_vector = cs.n;
  }
  uint64_t cs_n = plan->matching_with_vector;
  plan->strategy = graph && cs_n >= exact_below
                       ? STRATA_PLAN_HNSW_FILTERED
                       : STRATA_PLAN_EXACT_FILTERED;
  return STRATA_OK;
}

void strata_plan_release(strata_plan *plan) {
  if (plan->allowed)
    roaring_bitmap_free(plan->allowed);
  plan->allowed = NULL;
  if (plan->checks) {
    free(plan->checks->verdicts);
    free(plan->checks);
  }
  plan->checks = NULL;
}

/* ------------------------------------------------------------------ */
/* Execution                                                            */

typedef struct exact_state {
  const strata_collection *c;
  const strata_space *space;
  size_t space_index;
  float (*score)(const float *a, const float *b, size_t dim);
  const float *query;
  strata_topk top;
} exact_state;

/* Points read from the bitmap at a time, and how far ahead of the one
 * being scored a vector is prefetched.  The allowed points are scattered
 * over the store, so without prefetching each vector is a cache miss. */
#define SCORE_BATCH 256
#define PREFETCH_AHEAD 8

static void prefetch_vector(const strata_space *space, uint32_t slot) {
  const char *v = (const char *)strata_vs_vector(&space->store, slot);
  size_t bytes = space->dim * sizeof(float);
  for (size_t off = 0; off < bytes; off += 64)
    __builtin_prefetch(v + off, 0, 1);
}

/* Scores every allowed point that has the vector into es->top. */
static void score_allowed(exact_state *es, const roaring_bitmap_t *allowed) {
  const strata_space *space = es->space;
  uint32_t points[SCORE_BATCH], slots[SCORE_BATCH];
  roaring_uint32_iterator_t it;
  roaring_init_iterator(allowed, &it);
  uint32_t n;
  while ((n = roaring_read_uint32_iterator(&it, points, SCORE_BATCH)) > 0) {
    uint32_t m = 0;
    for (uint32_t i = 0; i < n; i++) {
      uint32_t slot =
          es->c->slots[(size_t)points[i] * es->c->n_spaces + es->space_index];
      if (slot != STRATA_NO_SLOT)
        slots[m++] = slot;
    }
    for (uint32_t i = 0; i < m && i < PREFETCH_AHEAD; i++)
      prefetch_vector(space, slots[i]);
    for (uint32_t i = 0; i < m; i++) {
      if (i + PREFETCH_AHEAD < m)
        prefetch_vector(space, slots[i + PREFETCH_AHEAD]);
      float s = es->score(es->query, strata_vs_vector(&space->store, slots[i]),
                          space->dim);
      if (strata_topk_admits(&es->top, s))
        strata_topk_push(&es->top, (strata_hit){slots[i], s});
    }
  }
}

/* Scores the allowed points that have the vector, as strata_flat_search
 * would score them. */
static long search_allowed(const strata_collection *c, const strata_plan *plan,
                           const float *query, size_t k, strata_hit *out) {
  const strata_space *space = &c->spaces[plan->space];
  const strata_kernels *kern = strata_kernels_get();
  exact_state es = {c, space, (size_t)plan->space, NULL, query, {0}};
  switch (space->metric) {
  case STRATA_METRIC_DOT:
    es.score = kern->dot;
    break;
  case STRATA_METRIC_L2:
    es.score = kern->l2sq;
    break;
  case STRATA_METRIC_L1:
    es.score = kern->l1;
    break;
  }
  if (!es.score)
    return -1;
  strata_topk_init(&es.top, out, k, space->metric);
  score_allowed(&es, plan->allowed);
  size_t n = strata_topk_finish(&es.top);
  if (space->metric == STRATA_METRIC_L2)
    for (size_t i = 0; i < n; i++)
      out[i].score = sqrtf(out[i].score);
  return (long)n;
}

typedef struct allow_state {
  const strata_space *space;
  const roaring_bitmap_t *allowed;
} allow_state;

static int allow_slot(uint32_t slot, void *ctx) {
  const allow_state *as = ctx;
  return roaring_bitmap_contains(as->allowed, as->space->owner[slot]);
}

static int allow_checked_slot(uint32_t slot, void *ctx) {
  struct strata_plan_checks *pc = ctx;
  return check_point(pc, pc->space->owner[slot]);
}

long strata_plan_search(const strata_collection *c, const strata_plan *plan,
                        const float *query, size_t k, size_t ef,
                        const strata_hnsw_search_options *options,
                        strata_hit *out) {
  const strata_space *space = &c->spaces[plan->space];
  size_t limit = k < plan->matching_with_vector
                     ? k
                     : (size_t)plan->matching_with_vector;
  if (limit == 0)
    return 0;
  if (ef == 0)
    ef = space->hnsw_params.ef_construct;
  if (ef < limit)
    ef = limit;
  switch (plan->strategy) {
  case STRATA_PLAN_EXACT:
    return strata_flat_search(&space->store, space->metric, query, limit, NULL,
                              out);
  case STRATA_PLAN_HNSW:
    return strata_hnsw_search_ex(space->graph, query, limit, ef, NULL,
                                 options, out, NULL);
  case STRATA_PLAN_EXACT_FILTERED:
    return search_allowed(c, plan, query, limit, out);
  case STRATA_PLAN_HNSW_FILTERED: {
    allow_state as = {space, plan->allowed};
    strata_slot_filter filter = {allow_slot, &as};
    return strata_hnsw_search_ex(space->graph, query, limit, ef, &filter,
                                 options, out, NULL);
  }
  case STRATA_PLAN_HNSW_CHECKED: {
    strata_slot_filter filter = {allow_checked_slot, plan->checks};
    return strata_hnsw_search_ex(space->graph, query, limit, ef, &filter,
                                 options, out, NULL);
  }
  }
  return -1;
}

/* ------------------------------------------------------------------ */
/* Explain                                                              */

static const char *strategy_name(strata_plan_strategy strategy) {
  switch (strategy) {
  case STRATA_PLAN_EXACT:
    return "exact";
  case STRATA_PLAN_HNSW:
    return "hnsw";
  case STRATA_PLAN_EXACT_FILTERED:
    return "exact_filtered";
  case STRATA_PLAN_HNSW_FILTERED:
    return "hnsw_filtered";
  case STRATA_PLAN_HNSW_CHECKED:
    return "hnsw_checked";
  }
  return "unknown";
}

/* Builds the explain object of a plan; returns NULL when out of memory
 * or with the error of the filter functions set. */
static json_t *plan_to_json(const strata_collection *c,
                            const strata_search_request *request,
                            const strata_plan *plan, strata_status *st) {
  const strata_space *space = &c->spaces[plan->space];
  json_t *obj = json_object();
  json_t *indexes_used = json_array();
  json_t *filter = json_null();
  strata_estimate estimate = {c->n_points, c->n_points, c->n_points};
  *st = STRATA_OK;
  if (request->filter) {
    strata_payload_indexes indexes;
    strata_collection_indexes(c, &indexes);
    char *text = NULL;
    *st = strata_filter_to_json(request->filter, &text);
    if (*st == STRATA_OK) {
      json_decref(filter);
      filter = json_loads(text, 0, NULL);
    }
    free(text);
    if (*st == STRATA_OK)
      *st = strata_filter_estimate(request->filter, &indexes, c->n_points,
                                   &estimate);
    for (size_t i = 0; i < c->n_field_indexes && indexes_used; i++) {
      const strata_payload_index *index = c->field_indexes[i];
      if (!strata_payload_index_broken(index))
        json_array_append_new(indexes_used,
                              json_string(strata_payload_index_field(index)));
    }
  }
  json_t *est = json_pack("{s:I,s:I,s:I}", "min", (json_int_t)estimate.min,
                          "expected", (json_int_t)estimate.expected, "max",
                          (json_int_t)estimate.max);
  if (*st != STRATA_OK || !obj || !indexes_used || !filter || !est) {
    json_decref(obj);
    json_decref(indexes_used);
    json_decref(filter);
    json_decref(est);
    if (*st == STRATA_OK)
      *st = strata_fail(STRATA_ERR_NO_MEMORY, "out of memory");
    return NULL;
  }
  json_object_set_new(obj, "strategy",
                      json_string(strategy_name(plan->strategy)));
  json_object_set_new(obj, "vector", json_string(space->name));
  json_object_set_new(obj, "points", json_integer((json_int_t)c->n_points));
  json_object_set_new(obj, "vectors",
                      json_integer((json_int_t)space->store.n_live));
  json_object_set_new(obj, "full_scan_threshold_points",
                      json_integer((json_int_t)plan->threshold));
  if (request->filter)
    json_object_set_new(
        obj, "filtered_exact_below_points",
        json_integer((json_int_t)filtered_exact_below(space, request)));
  json_object_set_new(obj, "filter", filter);
  json_object_set_new(obj, "estimate", est);
  json_object_set_new(obj, "matching",
                      json_integer((json_int_t)plan->matching));
  json_object_set_new(obj, "matching_with_vector",
                      json_integer((json_int_t)plan->matching_with_vector));
  json_object_set_new(obj, "indexes_used", indexes_used);
  return obj;
}

strata_status strata_search_explain(strata_db *db, const char *collection,
                                    const strata_search_request *request,
                                    char **out) {
  strata_clear_error();
  if (!out)
    return strata_fail(STRATA_ERR_INVALID_ARGUMENT, "out is NULL");
  *out = NULL;
  if (!db || !collection || !request)
    return strata_fail(STRATA_ERR_INVALID_ARGUMENT,
                       "db, collection and request must not be NULL");
  pthread_rwlock_rdlock(&db->lock);
  strata_status st = STRATA_OK;
  strata_plan plan = {0};
  json_t *obj = NULL;
  float *query = NULL;
  int s = -1;
  strata_collection *c = strata_db_find(db, collection);
  if (!c) {
    st = strata_fail(STRATA_ERR_NOT_FOUND, "collection \"%s\" not found",
                     collection);
    goto done;
  }
  s = strata_collection_space(c, request->vector_name);
  query = malloc((s >= 0 ? c->spaces[s].dim : 1) * sizeof *query);
  if (!query) {
    st = strata_fail(STRATA_ERR_NO_MEMORY, "out of memory");
    goto done;
  }
  st = strata_search_request_check(c, request, 0, &s, query);
  if (st == STRATA_OK)
    st = strata_plan_make(db, c, s, request, &plan);

  /* hnsw_checked projects its count from a sample; explain reports the
   * exact count as well. */
  uint64_t projected = plan.matching;
  roaring_bitmap_t *matching = NULL;
  if (st == STRATA_OK && plan.strategy == STRATA_PLAN_HNSW_CHECKED)
    st = strata_collection_select(db, c, request->filter, &matching);
  if (matching) {
    count_state cs = {c, (size_t)s, 0};
    roaring_iterate(matching, count_with_vector, &cs);
    plan.matching = roaring_bitmap_get_cardinality(matching);
    plan.matching_with_vector = cs.n;
    roaring_bitmap_free(matching);
  }
  if (st == STRATA_OK)
    obj = plan_to_json(c, request, &plan, &st);
  if (st != STRATA_OK)
    goto done;
  if (plan.strategy == STRATA_PLAN_HNSW_CHECKED)
    json_object_set_new(obj, "projected_matching",
                        json_integer((json_int_t)projected));
  *out = json_dumps(obj, JSON_COMPACT);
  if (!*out)
    st = strata_fail(STRATA_ERR_NO_MEMORY, "out of memory");

done:
  pthread_rwlock_unlock(&db->lock);
  strata_plan_release(&plan);
  json_decref(obj);
  free(query);
  return st;
}
