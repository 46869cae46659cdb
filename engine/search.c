/* Nearest-neighbour search over one named vector of a collection. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "engine.h"

strata_status strata_search_request_check(const strata_collection *c,
                                          const strata_search_request *req,
                                          size_t index, int *space_out,
                                          float *query) {
  const char *vname = req->vector_name ? req->vector_name : "";
  int s = strata_collection_space(c, vname);
  if (s < 0)
    return strata_fail(STRATA_ERR_INVALID_ARGUMENT,
                       "request %zu: collection \"%s\" has no vector named "
                       "\"%s\"",
                       index, c->name, vname);
  const strata_space *space = &c->spaces[s];
  if (req->k == 0)
    return strata_fail(STRATA_ERR_INVALID_ARGUMENT,
                       "request %zu: k (limit) is 0; ask for at least 1 "
                       "result",
                       index);
  if (!req->query || req->dim != space->dim)
    return strata_fail(STRATA_ERR_INVALID_ARGUMENT,
                       "request %zu: query vector has dimension %u, but "
                       "vector \"%s\" of collection \"%s\" has dimension %u",
                       index, req->query ? req->dim : 0, vname, c->name,
                       space->dim);
  strata_status st = strata_quantization_params_check(&req->quantization,
                                                      index);
  if (st != STRATA_OK)
    return st;
  double norm = 0;
  for (uint32_t i = 0; i < req->dim; i++) {
    if (!isfinite(req->query[i]))
      return strata_fail(STRATA_ERR_INVALID_ARGUMENT,
                         "request %zu: query has a non-finite value (%f) at "
                         "position %u; queries must not contain NaN or "
                         "infinity",
                         index, (double)req->query[i], i);
    norm += (double)req->query[i] * req->query[i];
    query[i] = req->query[i];
  }
  if (space->distance == STRATA_DISTANCE_COSINE && norm > 0) {
    float scale = (float)(1.0 / sqrt(norm));
    for (uint32_t i = 0; i < req->dim; i++)
      query[i] *= scale;
  }
  *space_out = s;
  return STRATA_OK;
}

/* Turns hits into records: ids, scores, and what `with` asks for. */
static strata_status hits_to_records(strata_db *db, const strata_collection *c,
                                     const strata_space *space,
                                     const strata_hit *hits, size_t n,
                                     int with, strata_records **out) {
  strata_records *records = strata_records_new(n);
  if (!records)
    return strata_fail(STRATA_ERR_NO_MEMORY, "out of memory");
  strata_status st = STRATA_OK;
  for (size_t i = 0; i < n && st == STRATA_OK; i++) {
    uint32_t point = space->owner[hits[i].slot];
    strata_record *rec = &records->items[records->count++];
    st = strata_record_fill(db, c, point, with, rec);
    rec->score = hits[i].score;
  }
  if (st != STRATA_OK) {
    strata_records_free(records);
    return st;
  }
  *out = records;
  return STRATA_OK;
}

/* Nonzero when a search on this space would walk its graph. */
static int space_uses_graph(const strata_space *space) {
  return space->graph &&
         space->store.n_live > strata_space_threshold_points(space);
}

static size_t clamp_k(const strata_space *space, uint32_t k) {
  size_t live = space->store.n_live;
  return k < live ? k : live;
}

/* Answers one filtered request through the planner.  Returns the hit
 * count, or -1 with *st set. */
static long filtered_search(strata_db *db, const strata_collection *c,
                            int space, const strata_search_request *request,
                            const float *query, size_t k, strata_hit *hits,
                            strata_status *st) {
  strata_plan plan;
  *st = strata_plan_make(db, c, space, request, &plan);
  if (*st != STRATA_OK)
    return -1;
  strata_hnsw_search_options options;
  strata_space_search_options(&c->spaces[space], &request->quantization,
                              &options);
  long n = strata_plan_search(c, &plan, query, k, request->ef, &options, hits);
  strata_plan_release(&plan);
  if (n < 0)
    *st = strata_fail(STRATA_ERR_NO_MEMORY, "out of memory during search");
  return n;
}

strata_status strata_search_batch(strata_db *db, const char *collection,
                                  const strata_search_request *requests,
                                  size_t n_requests, strata_records ***out) {
  strata_clear_error();
  *out = NULL;
  if (!db || !collection || (n_requests > 0 && !requests))
    return strata_fail(STRATA_ERR_INVALID_ARGUMENT,
                       "db, collection and requests must not be NULL");
  pthread_rwlock_rdlock(&db->lock);
  strata_status st = STRATA_OK;
  strata_records **results = NULL;
  float *queries = NULL;
  int *spaces = NULL;
  strata_hit *hits = NULL;
  size_t *counts = NULL;
  strata_collection *c = strata_db_find(db, collection);
  if (!c) {
    st = strata_fail(STRATA_ERR_NOT_FOUND, "collection \"%s\" not found",
                     collection);
    goto done;
  }

  /* Validate every request before any work, so a bad one fails the
   * whole call. */
  size_t total_dim = 0, total_k = 0;
  for (size_t i = 0; i < n_requests; i++) {
    int s = strata_collection_space(c, requests[i].vector_name);
    total_dim += s >= 0 ? c->spaces[s].dim : 0;
    /* No search returns more hits than the vector has points, so a k
     * such as UINT32_MAX does not size the buffer. */
    total_k += s >= 0 ? clamp_k(&c->spaces[s], requests[i].k) : 0;
  }
  results = calloc(n_requests ? n_requests : 1, sizeof *results);
  queries = malloc((total_dim ? total_dim : 1) * sizeof *queries);
  spaces = calloc(n_requests ? n_requests : 1, sizeof *spaces);
  if (!results || !queries || !spaces) {
    st = strata_fail(STRATA_ERR_NO_MEMORY, "out of memory");
    goto done;
  }
  size_t offset = 0;
  int same_space = 1;
  int same_k = 1;
  for (size_t i = 0; i < n_requests && st == STRATA_OK; i++) {
    st = strata_search_request_check(c, &requests[i], i, &spaces[i],
                                     queries + offset);
    if (st == STRATA_OK) {
      offset += c->spaces[spaces[i]].dim;
      same_space &= spaces[i] == spaces[0];
      same_k &= requests[i].k == requests[0].k;
    }
  }
  if (st != STRATA_OK || n_requests == 0)
    goto done;

  hits = malloc((total_k ? total_k : 1) * sizeof *hits);
  counts = calloc(n_requests, sizeof *counts);
  if (!hits || !counts) {
    st = strata_fail(STRATA_ERR_NO_MEMORY, "out of memory");
    goto done;
  }

  int all_exact = 1;
  for (size_t i = 0; i < n_requests; i++)
    all_exact &= !requests[i].filter &&
                 (requests[i].exact || !space_uses_graph(&c->spaces[spaces[i]]));
  if (same_space && same_k && all_exact && n_requests > 1) {
    /* One pass over the stored vectors serves every query. */
    const strata_space *space = &c->spaces[spaces[0]];
    size_t k = clamp_k(space, requests[0].k);
    if (k > 0 && strata_flat_search_batch(&space->store, space->metric,
                                          queries, n_requests, k, hits,
                                          counts) != 0) {
      st = strata_fail(STRATA_ERR_NO_MEMORY, "out of memory during search");
      goto done;
    }
    for (size_t i = 0; i < n_requests && st == STRATA_OK; i++)
      st = hits_to_records(db, c, space, hits + i * k, k ? counts[i] : 0,
                           requests[i].with, &results[i]);
  } else {
    offset = 0;
    for (size_t i = 0; i < n_requests && st == STRATA_OK; i++) {
      const strata_space *space = &c->spaces[spaces[i]];
      size_t k = clamp_k(space, requests[i].k);
      long n;
      if (requests[i].filter) {
        n = filtered_search(db, c, spaces[i], &requests[i], queries + offset,
                            k, hits, &st);
        if (st != STRATA_OK)
          break;
      } else {
        strata_hnsw_search_options options;
        strata_space_search_options(space, &requests[i].quantization,
                                    &options);
        n = k ? strata_space_search(space, queries + offset, k,
                                    requests[i].ef, requests[i].exact,
                                    &options, hits)
              : 0;
      }
      offset += space->dim;
      if (n < 0) {
        st = strata_fail(STRATA_ERR_NO_MEMORY, "out of memory during search");
        break;
      }
      st = hits_to_records(db, c, space, hits, (size_t)n, requests[i].with,
                           &results[i]);
    }
  }

done:
  pthread_rwlock_unlock(&db->lock);
  free(queries);
  free(spaces);
  free(hits);
  free(counts);
  if (st != STRATA_OK) {
    strata_records_free_array(results, n_requests);
    return st;
  }
  *out = results;
  return STRATA_OK;
}

strata_status strata_search(strata_db *db, const char *collection,
                            const strata_search_request *request,
                            strata_records **out) {
  *out = NULL;
  if (!request) {
    strata_clear_error();
    return strata_fail(STRATA_ERR_INVALID_ARGUMENT, "request is NULL");
  }
  strata_records **results = NULL;
  strata_status st = strata_search_batch(db, collection, request, 1, &results);
  if (st != STRATA_OK)
    return st;
  *out = results[0];
  free(results);
  return STRATA_OK;
}
