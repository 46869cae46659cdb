/*
 * Handlers of Search, SearchBatch, Query and QueryBatch.  All four reduce
 * to one nearest-neighbour request (struct nearest) on the engine's
 * search, which walks the HNSW graph unless SearchParams.exact is set or
 * the vector is small, on the vector's int8 codes when it has them and
 * SearchParams.quantization does not say ignore.  The engine has no offset or score threshold, so
 * the handler
 * requests offset + limit hits and drops the first `offset` and those
 * that miss the threshold.
 */
#include <float.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"

#define OUT_OF_MEMORY(call)                                                    \
  api_fail((call), GRPC_STATUS_RESOURCE_EXHAUSTED, "out of memory")

/* Query's limit when the request gives none. */
#define DEFAULT_QUERY_LIMIT 10

typedef struct nearest {
  const char *vector_name; /* "" for the unnamed vector */
  const float *query;
  size_t dim;
  uint64_t limit, offset;
  const float *threshold; /* NULL: none */
  api_selection selection;
  uint32_t ef;           /* HNSW beam width, 0 for the vector's default */
  int exact;             /* score every vector instead of walking the graph */
  strata_quantization_search_params quantization;
  int has_exclude;       /* query by point id: leave that point out */
  strata_filter *filter; /* owned; NULL for every point */
  strata_point_id exclude;
} nearest;

/* Applies SearchParams.quantization: ignore, rescore, oversampling. */
static grpc_status_code
quantization_params(api_call *call, const Qdrant__QuantizationSearchParams *q,
                    strata_quantization_search_params *out) {
  if (q == NULL)
    return GRPC_STATUS_OK;
  if (q->_ignore_case == QDRANT__QUANTIZATION_SEARCH_PARAMS___IGNORE_IGNORE)
    out->ignore = q->ignore;
  if (q->_rescore_case == QDRANT__QUANTIZATION_SEARCH_PARAMS___RESCORE_RESCORE)
    out->rescore = q->rescore ? STRATA_RESCORE_ON : STRATA_RESCORE_OFF;
  if (q->_oversampling_case ==
      QDRANT__QUANTIZATION_SEARCH_PARAMS___OVERSAMPLING_OVERSAMPLING) {
    /* Written so that NaN fails too.  An explicit 0 is rejected, as
     * Qdrant does, although the engine reads 0 as the default. */
    if (!(q->oversampling >= 1.0 && q->oversampling <= FLT_MAX))
      return api_fail(call, GRPC_STATUS_INVALID_ARGUMENT,
                      "quantization oversampling %g is invalid; it must be "
                      "a finite number of at least 1",
                      q->oversampling);
    out->oversampling = (float)q->oversampling;
  }
  return GRPC_STATUS_OK;
}

/* Applies SearchParams: hnsw_ef, exact and quantization.  Other fields are
 * ignored. */
static grpc_status_code
search_params(api_call *call, const Qdrant__SearchParams *params, nearest *n) {
  if (params == NULL)
    return GRPC_STATUS_OK;
  if (params->_hnsw_ef_case == QDRANT__SEARCH_PARAMS___HNSW_EF_HNSW_EF) {
    if (params->hnsw_ef > UINT32_MAX)
      return api_fail(call, GRPC_STATUS_INVALID_ARGUMENT,
                      "hnsw_ef %llu is above 2^32-1",
                      (unsigned long long)params->hnsw_ef);
    n->ef = (uint32_t)params->hnsw_ef;
  }
  if (params->_exact_case == QDRANT__SEARCH_PARAMS___EXACT_EXACT)
    n->exact = params->exact;
  return quantization_params(call, params->quantization, &n->quantization);
}

/* Runs one nearest-neighbour request and converts its hits. */
static grpc_status_code run_nearest(api_call *call, const char *collection,
                                    const strata_collection_info *info,
                                    const nearest *n,
                                    Qdrant__ScoredPoint ***points,
                                    size_t *n_points) {
  char shown[96];
  const char *label = api_printable(n->vector_name, shown, sizeof shown);
  const strata_vector_config *vector = NULL;
  for (size_t i = 0; i < info->n_vectors; i++)
    if (strcmp(info->vectors[i].name, n->vector_name) == 0)
      vector = &info->vectors[i];
  if (vector == NULL)
    return api_fail(call, GRPC_STATUS_INVALID_ARGUMENT,
                    "collection \"%s\" has no vector named \"%s\"", info->name,
                    label);
  if (n->dim != vector->dim)
    return api_fail(call, GRPC_STATUS_INVALID_ARGUMENT,
                    "wrong query vector dimension for vector \"%s\": "
                    "expected %u, got %zu",
                    label, vector->dim, n->dim);

  /* Ask for enough hits to skip the offset and the excluded point, but
   * never more than the collection holds. */
  uint64_t want = n->limit + n->offset + (n->has_exclude ? 1 : 0);
  if (want < n->limit || want > info->points_count)
    want = info->points_count;
  if (want == 0) {
    *points = api_alloc(&call->arena, sizeof **points);
    *n_points = 0;
    return *points ? GRPC_STATUS_OK : OUT_OF_MEMORY(call);
  }

  strata_search_request request = {.vector_name = n->vector_name,
                                   .query = n->query,
                                   .dim = (uint32_t)n->dim,
                                   .k = (uint32_t)want,
                                   .with = n->selection.with,
                                   .ef = n->ef,
                                   .exact = n->exact,
                                   .filter = n->filter,
                                   .quantization = n->quantization};
  strata_records *hits = NULL;
  strata_status st = strata_search(call->db, collection, &request, &hits);
  if (st != STRATA_OK)
    return api_fail_engine(call, st);
  grpc_status_code code =
      api_scored_points(call, hits, &n->selection, (size_t)n->offset,
                        (size_t)n->limit, n->has_exclude ? &n->exclude : NULL,
                        n->threshold, vector->distance, points, n_points);
  strata_records_free(hits);
  return code;
}

/* ------------------------------------------------------------------ */
/* Search                                                               */

/* Fills `n` from a SearchPoints.  The caller frees n->filter, also when
 * this fails. */
static grpc_status_code
search_to_nearest(api_call *call, const Qdrant__SearchPoints *req, nearest *n) {
  memset(n, 0, sizeof *n);
  if (req->sparse_indices != NULL)
    return api_fail(call, GRPC_STATUS_INVALID_ARGUMENT,
                    "sparse vectors are not supported");
  if (req->shard_key_selector != NULL)
    return api_fail(call, GRPC_STATUS_INVALID_ARGUMENT,
                    "shard keys are not supported");
  if (req->limit == 0)
    return api_fail(call, GRPC_STATUS_INVALID_ARGUMENT,
                    "limit must be at least 1");
  grpc_status_code code = api_filter_from_proto(call, req->filter, &n->filter);
  if (code != GRPC_STATUS_OK)
    return code;
  n->vector_name =
      req->_vector_name_case == QDRANT__SEARCH_POINTS___VECTOR_NAME_VECTOR_NAME
          ? req->vector_name
          : "";
  n->query = req->vector;
  n->dim = req->n_vector;
  n->limit = req->limit;
  n->offset = req->_offset_case == QDRANT__SEARCH_POINTS___OFFSET_OFFSET
                  ? req->offset
                  : 0;
  if (req->_score_threshold_case ==
      QDRANT__SEARCH_POINTS___SCORE_THRESHOLD_SCORE_THRESHOLD)
    n->threshold = &req->score_threshold;
  n->selection = api_selection_make(req->with_payload, 0, req->with_vectors);
  return search_params(call, req->params, n);
}

/* Describes the collection of a request: existence, vectors, size. */
static grpc_status_code describe(api_call *call, const char *name,
                                 strata_collection_info **info) {
  grpc_status_code code = api_check_collection_name(call, name);
  if (code != GRPC_STATUS_OK)
    return code;
  strata_status st = strata_collection_describe(call->db, name, info);
  return st == STRATA_OK ? GRPC_STATUS_OK : api_fail_engine(call, st);
}

grpc_status_code api_points_search(api_call *call,
                                   const ProtobufCMessage *request,
                                   ProtobufCMessage **response) {
  const Qdrant__SearchPoints *req = (const Qdrant__SearchPoints *)request;
  struct timespec start;
  strata_collection_info *info = NULL;
  nearest n;

  memset(&n, 0, sizeof n);
  api_clock_start(&start);
  grpc_status_code code = describe(call, req->collection_name, &info);
  if (code != GRPC_STATUS_OK)
    return code;
  Qdrant__SearchResponse *out = API_NEW(&call->arena, Qdrant__SearchResponse,
                                        QDRANT__SEARCH_RESPONSE__INIT);
  code = out ? search_to_nearest(call, req, &n) : OUT_OF_MEMORY(call);
  if (code == GRPC_STATUS_OK)
    code = run_nearest(call, req->collection_name, info, &n, &out->result,
                       &out->n_result);
  strata_filter_free(n.filter);
  strata_collection_info_free(info);
  if (code != GRPC_STATUS_OK)
    return code;
  out->time = api_elapsed(&start);
  *response = &out->base;
  return GRPC_STATUS_OK;
}

grpc_status_code api_points_search_batch(api_call *call,
                                         const ProtobufCMessage *request,
                                         ProtobufCMessage **response) {
  const Qdrant__SearchBatchPoints *req =
      (const Qdrant__SearchBatchPoints *)request;
  struct timespec start;
  strata_collection_info *info = NULL;
  nearest n;

  memset(&n, 0, sizeof n);
  api_clock_start(&start);
  grpc_status_code code = describe(call, req->collection_name, &info);
  if (code != GRPC_STATUS_OK)
    return code;
  Qdrant__SearchBatchResponse *out =
      API_NEW(&call->arena, Qdrant__SearchBatchResponse,
              QDRANT__SEARCH_BATCH_RESPONSE__INIT);
  Qdrant__BatchResult **results =
      api_alloc(&call->arena, (req->n_search_points + 1) * sizeof *results);
  if (out == NULL || results == NULL)
    code = OUT_OF_MEMORY(call);
  for (size_t i = 0; i < req->n_search_points && code == GRPC_STATUS_OK; i++) {
    const Qdrant__SearchPoints *item = req->search_points[i];
    /* The batch names the collection; entries may repeat it or not. */
    if (item->collection_name[0] != '\0' &&
        strcmp(item->collection_name, req->collection_name) != 0) {
      char shown[96];
      code =
          api_fail(call, GRPC_STATUS_INVALID_ARGUMENT,
                   "search %zu names collection \"%s\", not the batch's", i,
                   api_printable(item->collection_name, shown, sizeof shown));
      break;
    }
    if (api_deadline_passed(call)) {
      code = api_fail(call, GRPC_STATUS_DEADLINE_EXCEEDED,
                      "the deadline passed after %zu of %zu searches", i,
                      req->n_search_points);
      break;
    }
    results[i] =
        API_NEW(&call->arena, Qdrant__BatchResult, QDRANT__BATCH_RESULT__INIT);
    code = results[i] ? search_to_nearest(call, item, &n) : OUT_OF_MEMORY(call);
    if (code == GRPC_STATUS_OK)
      code = run_nearest(call, req->collection_name, info, &n,
                         &results[i]->result, &results[i]->n_result);
    strata_filter_free(n.filter);
    n.filter = NULL;
  }
  strata_collection_info_free(info);
  if (code != GRPC_STATUS_OK)
    return code;
  out->result = results;
  out->n_result = req->n_search_points;
  out->time = api_elapsed(&start);
  *response = &out->base;
  return GRPC_STATUS_OK;
}

/* ------------------------------------------------------------------ */
/* Query                                                                */

static const char *query_variant_name(Qdrant__Query__VariantCase variant) {
  switch (variant) {
  case QDRANT__QUERY__VARIANT_RECOMMEND:
    return "recommend";
  case QDRANT__QUERY__VARIANT_DISCOVER:
    return "discover";
  case QDRANT__QUERY__VARIANT_CONTEXT:
    return "context";
  case QDRANT__QUERY__VARIANT_ORDER_BY:
    return "order_by";
  case QDRANT__QUERY__VARIANT_FUSION:
    return "fusion";
  case QDRANT__QUERY__VARIANT_SAMPLE:
    return "sample";
  case QDRANT__QUERY__VARIANT_FORMULA:
    return "formula";
  case QDRANT__QUERY__VARIANT_NEAREST_WITH_MMR:
    return "nearest_with_mmr";
  case QDRANT__QUERY__VARIANT_RRF:
    return "rrf";
  case QDRANT__QUERY__VARIANT_RELEVANCE_FEEDBACK:
    return "relevance_feedback";
  default:
    return "an unknown variant";
  }
}

/* Sets the query vector of `n` from a VectorInput: a dense vector, or the
 * stored vector of a point (fetched into *query_point, which the caller
 * frees). */
static grpc_status_code vector_input(api_call *call, const char *collection,
                                     const Qdrant__VectorInput *in, nearest *n,
                                     strata_records **query_point) {
  switch (in->variant_case) {
  case QDRANT__VECTOR_INPUT__VARIANT_DENSE:
    n->query = in->dense ? in->dense->data : NULL;
    n->dim = in->dense ? in->dense->n_data : 0;
    return GRPC_STATUS_OK;
  case QDRANT__VECTOR_INPUT__VARIANT_ID: {
    strata_point_id id;
    char text[STRATA_ID_STRLEN];
    grpc_status_code code = api_id_from_proto(call, in->id, &id);
    if (code != GRPC_STATUS_OK)
      return code;
    strata_status st = strata_get(call->db, collection, &id, 1,
                                  STRATA_WITH_VECTORS, query_point);
    if (st != STRATA_OK)
      return api_fail_engine(call, st);
    if ((*query_point)->count == 0)
      return api_fail(call, GRPC_STATUS_NOT_FOUND,
                      "point %s of the query does not exist",
                      strata_id_format(&id, text));
    const strata_record *r = &(*query_point)->items[0];
    for (size_t i = 0; i < r->n_vectors; i++) {
      const char *name = r->vectors[i].name ? r->vectors[i].name : "";
      if (strcmp(name, n->vector_name) == 0) {
        n->query = r->vectors[i].data;
        n->dim = r->vectors[i].dim;
        n->has_exclude = 1;
        n->exclude = id;
        return GRPC_STATUS_OK;
      }
    }
    char shown[96];
    return api_fail(call, GRPC_STATUS_INVALID_ARGUMENT,
                    "point %s has no vector \"%s\"", text,
                    api_printable(n->vector_name, shown, sizeof shown));
  }
  case QDRANT__VECTOR_INPUT__VARIANT_SPARSE:
    return api_fail(call, GRPC_STATUS_INVALID_ARGUMENT,
                    "sparse vectors are not supported");
  case QDRANT__VECTOR_INPUT__VARIANT_MULTI_DENSE:
    return api_fail(call, GRPC_STATUS_INVALID_ARGUMENT,
                    "multivectors are not supported");
  case QDRANT__VECTOR_INPUT__VARIANT_DOCUMENT:
  case QDRANT__VECTOR_INPUT__VARIANT_IMAGE:
  case QDRANT__VECTOR_INPUT__VARIANT_OBJECT:
    return api_fail(call, GRPC_STATUS_INVALID_ARGUMENT,
                    "documents, images and objects for inference are not "
                    "supported");
  default:
    return api_fail(call, GRPC_STATUS_INVALID_ARGUMENT,
                    "nearest query has no vector or point id");
  }
}

/* Without a query, Query lists points in id order with score 0. */
static grpc_status_code
query_without_vector(api_call *call, const char *collection, const nearest *n,
                     Qdrant__ScoredPoint ***points, size_t *n_points) {
  strata_records *page = NULL;
  strata_point_id next;
  int has_next;
  uint64_t count = 0;
  strata_status st =
      strata_count_filtered(call->db, collection, n->filter, &count);
  if (st != STRATA_OK)
    return api_fail_engine(call, st);
  uint64_t want = n->limit + n->offset;
  if (want < n->limit || want > count)
    want = count;
  if (want == 0) {
    *points = api_alloc(&call->arena, sizeof **points);
    *n_points = 0;
    return *points ? GRPC_STATUS_OK : OUT_OF_MEMORY(call);
  }
  st = strata_scroll_filtered(call->db, collection, n->filter, NULL,
                              (size_t)want, n->selection.with, &page, &next,
                              &has_next);
  if (st != STRATA_OK)
    return api_fail_engine(call, st);
  grpc_status_code code = api_scored_points(
      call, page, &n->selection, (size_t)n->offset, (size_t)n->limit, NULL,
      NULL, STRATA_DISTANCE_DOT, points, n_points);
  strata_records_free(page);
  return code;
}

/* Runs one QueryPoints request against an already described collection. */
static grpc_status_code run_query(api_call *call, const char *collection,
                                  const strata_collection_info *info,
                                  const Qdrant__QueryPoints *req,
                                  Qdrant__ScoredPoint ***points,
                                  size_t *n_points) {
  nearest n;
  strata_records *query_point = NULL;
  grpc_status_code code;
  if (req->n_prefetch > 0)
    return api_fail(call, GRPC_STATUS_INVALID_ARGUMENT,
                    "prefetch is not supported");
  if (req->lookup_from != NULL)
    return api_fail(call, GRPC_STATUS_INVALID_ARGUMENT,
                    "lookup_from is not supported");
  if (req->shard_key_selector != NULL)
    return api_fail(call, GRPC_STATUS_INVALID_ARGUMENT,
                    "shard keys are not supported");

  memset(&n, 0, sizeof n);
  n.vector_name =
      req->_using_case == QDRANT__QUERY_POINTS___USING_USING ? req->using_ : "";
  n.limit = DEFAULT_QUERY_LIMIT;
  if (req->_limit_case == QDRANT__QUERY_POINTS___LIMIT_LIMIT) {
    if (req->limit == 0)
      return api_fail(call, GRPC_STATUS_INVALID_ARGUMENT,
                      "limit must be at least 1");
    n.limit = req->limit;
  }
  if (req->_offset_case == QDRANT__QUERY_POINTS___OFFSET_OFFSET)
    n.offset = req->offset;
  if (req->_score_threshold_case ==
      QDRANT__QUERY_POINTS___SCORE_THRESHOLD_SCORE_THRESHOLD)
    n.threshold = &req->score_threshold;
  n.selection = api_selection_make(req->with_payload, 0, req->with_vectors);
  code = search_params(call, req->params, &n);
  if (code != GRPC_STATUS_OK)
    return code;

  const Qdrant__Query *query = req->query;
  if (query != NULL && query->variant_case != QDRANT__QUERY__VARIANT_NEAREST)
    return api_fail(call, GRPC_STATUS_INVALID_ARGUMENT,
                    "query %s is not supported; only nearest is",
                    query_variant_name(query->variant_case));
  if (query != NULL && query->nearest == NULL)
    return api_fail(call, GRPC_STATUS_INVALID_ARGUMENT,
                    "nearest query has no vector or point id");

  code = api_filter_from_proto(call, req->filter, &n.filter);
  if (code == GRPC_STATUS_OK && query == NULL)
    code = query_without_vector(call, collection, &n, points, n_points);
  else if (code == GRPC_STATUS_OK) {
    code = vector_input(call, collection, query->nearest, &n, &query_point);
    if (code == GRPC_STATUS_OK)
      code = run_nearest(call, collection, info, &n, points, n_points);
  }
  strata_records_free(query_point);
  strata_filter_free(n.filter);
  return code;
}

grpc_status_code api_points_query(api_call *call,
                                  const ProtobufCMessage *request,
                                  ProtobufCMessage **response) {
  const Qdrant__QueryPoints *req = (const Qdrant__QueryPoints *)request;
  struct timespec start;
  strata_collection_info *info = NULL;

  api_clock_start(&start);
  grpc_status_code code = describe(call, req->collection_name, &info);
  if (code != GRPC_STATUS_OK)
    return code;
  Qdrant__QueryResponse *out = API_NEW(&call->arena, Qdrant__QueryResponse,
                                       QDRANT__QUERY_RESPONSE__INIT);
  code = out ? run_query(call, req->collection_name, info, req, &out->result,
                         &out->n_result)
             : OUT_OF_MEMORY(call);
  strata_collection_info_free(info);
  if (code != GRPC_STATUS_OK)
    return code;
  out->time = api_elapsed(&start);
  *response = &out->base;
  return GRPC_STATUS_OK;
}

grpc_status_code api_points_query_batch(api_call *call,
                                        const ProtobufCMessage *request,
                                        ProtobufCMessage **response) {
  const Qdrant__QueryBatchPoints *req =
      (const Qdrant__QueryBatchPoints *)request;
  struct timespec start;
  strata_collection_info *info = NULL;

  api_clock_start(&start);
  grpc_status_code code = describe(call, req->collection_name, &info);
  if (code != GRPC_STATUS_OK)
    return code;
  Qdrant__QueryBatchResponse *out =
      API_NEW(&call->arena, Qdrant__QueryBatchResponse,
              QDRANT__QUERY_BATCH_RESPONSE__INIT);
  Qdrant__BatchResult **results =
      api_alloc(&call->arena, (req->n_query_points + 1) * sizeof *results);
  if (out == NULL || results == NULL)
    code = OUT_OF_MEMORY(call);
  for (size_t i = 0; i < req->n_query_points && code == GRPC_STATUS_OK; i++) {
    const Qdrant__QueryPoints *item = req->query_points[i];
    if (item->collection_name[0] != '\0' &&
        strcmp(item->collection_name, req->collection_name) != 0) {
      char shown[96];
      code =
          api_fail(call, GRPC_STATUS_INVALID_ARGUMENT,
                   "query %zu names collection \"%s\", not the batch's", i,
                   api_printable(item->collection_name, shown, sizeof shown));
      break;
    }
    if (api_deadline_passed(call)) {
      code = api_fail(call, GRPC_STATUS_DEADLINE_EXCEEDED,
                      "the deadline passed after %zu of %zu queries", i,
                      req->n_query_points);
      break;
    }
    results[i] =
        API_NEW(&call->arena, Qdrant__BatchResult, QDRANT__BATCH_RESULT__INIT);
    code = results[i] ? run_query(call, req->collection_name, info, item,
                                  &results[i]->result, &results[i]->n_result)
                      : OUT_OF_MEMORY(call);
  }
  strata_collection_info_free(info);
  if (code != GRPC_STATUS_OK)
    return code;
  out->result = results;
  out->n_result = req->n_query_points;
  out->time = api_elapsed(&start);
  *response = &out->base;
  return GRPC_STATUS_OK;
}
