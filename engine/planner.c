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
 * The threshold is the one the unfiltered search uses, in points, so a
 * filtered search never walks the graph over fewer candidates than an
 * unfiltered one would.  Computing the matching set exactly costs one
 * pass over the candidates; its size is then known, not estimated, so
 * the choice between the two plans cannot go wrong because of a bad
 * estimate.  strata_filter_estimate() is only reported by explain.
 */
#include <jansson.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "../index/distance.h"
#include "../index/topk.h"
#include "engine.h"

size_t strata_space_threshold_points(const strata_space *space) {
  return (size_t)space->full_scan_threshold_kb * 1024 /
         ((size_t)space->dim * sizeof(float));
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

  strata_status st =
      strata_collection_select(db, c, request->filter, &plan->allowed);
  if (st != STRATA_OK)
    return st;
  count_state cs = {c, (size_t)space_index, 0};
  roaring_iterate(plan->allowed, count_with_vector, &cs);
  plan->matching = roaring_bitmap_get_cardinality(plan->allowed);
  plan->matching_with_vector = cs.n;
  plan->strategy = graph && cs.n >= plan->threshold
                       ? STRATA_PLAN_HNSW_FILTERED
                       : STRATA_PLAN_EXACT_FILTERED;
  return STRATA_OK;
}

void strata_plan_release(strata_plan *plan) {
  if (plan->allowed)
    roaring_bitmap_free(plan->allowed);
  plan->allowed = NULL;
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

static bool score_point(uint32_t point, void *arg) {
  exact_state *es = arg;
  uint32_t slot =
      es->c->slots[(size_t)point * es->c->n_spaces + es->space_index];
  if (slot == STRATA_NO_SLOT)
    return true;
  float s = es->score(es->query, strata_vs_vector(&es->space->store, slot),
                      es->space->dim);
  if (strata_topk_admits(&es->top, s))
    strata_topk_push(&es->top, (strata_hit){slot, s});
  return true;
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
  roaring_iterate(plan->allowed, score_point, &es);
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

long strata_plan_search(const strata_collection *c, const strata_plan *plan,
                        const float *query, size_t k, size_t ef,
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
    return strata_hnsw_search(space->graph, query, limit, ef, NULL, out);
  case STRATA_PLAN_EXACT_FILTERED:
    return search_allowed(c, plan, query, limit, out);
  case STRATA_PLAN_HNSW_FILTERED: {
    allow_state as = {space, plan->allowed};
    strata_slot_filter filter = {allow_slot, &as};
    return strata_hnsw_search(space->graph, query, limit, ef, &filter, out);
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
  if (st == STRATA_OK)
    obj = plan_to_json(c, request, &plan, &st);
  if (st != STRATA_OK)
    goto done;
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
