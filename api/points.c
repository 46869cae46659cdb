/*
 * Handlers of the Points service that write and read points by id:
 * Upsert, Delete, Get, Scroll and Count.  Vectors are checked here
 * against the collection (name and dimension) so that a bad vector is
 * INVALID_ARGUMENT, as in Qdrant, and not the engine's NOT_FOUND.
 */
#include <stdlib.h>
#include <string.h>

#include "internal.h"

#define OUT_OF_MEMORY(call)                                                    \
  api_fail((call), GRPC_STATUS_RESOURCE_EXHAUSTED, "out of memory")

/* Scroll's page size when the request gives none. */
#define DEFAULT_SCROLL_LIMIT 10

Qdrant__PointsOperationResponse *
api_write_response(api_call *call, int wait, const struct timespec *start) {
  Qdrant__PointsOperationResponse *out =
      API_NEW(&call->arena, Qdrant__PointsOperationResponse,
              QDRANT__POINTS_OPERATION_RESPONSE__INIT);
  Qdrant__UpdateResult *result =
      API_NEW(&call->arena, Qdrant__UpdateResult, QDRANT__UPDATE_RESULT__INIT);
  if (out == NULL || result == NULL)
    return NULL;
  /* Writes are applied before the call returns; `wait` only adds the
   * sync to disk, so both report the write as visible. */
  result->status = wait ? QDRANT__UPDATE_STATUS__Completed
                        : QDRANT__UPDATE_STATUS__Acknowledged;
  out->result = result;
  out->time = api_elapsed(start);
  return out;
}

/* Finds the collection's vector `name`; returns its index or -1. */
static int find_vector(const strata_collection_info *info, const char *name) {
  for (size_t i = 0; i < info->n_vectors; i++)
    if (strcmp(info->vectors[i].name, name) == 0)
      return (int)i;
  return -1;
}

/* Converts one Vector message to a dense vector of the collection. */
static grpc_status_code dense_from_proto(api_call *call,
                                         const strata_collection_info *info,
                                         const char *name,
                                         const Qdrant__Vector *v,
                                         strata_named_vector *out) {
  char shown[96];
  const char *label = api_printable(name, shown, sizeof shown);
  const float *data = NULL;
  size_t n = 0;
  const char *unsupported = NULL;

  switch (v->vector_case) {
  case QDRANT__VECTOR__VECTOR_DENSE:
    data = v->dense ? v->dense->data : NULL;
    n = v->dense ? v->dense->n_data : 0;
    break;
  case QDRANT__VECTOR__VECTOR_SPARSE:
    unsupported = "sparse vectors are";
    break;
  case QDRANT__VECTOR__VECTOR_MULTI_DENSE:
    unsupported = "multivectors are";
    break;
  case QDRANT__VECTOR__VECTOR_DOCUMENT:
  case QDRANT__VECTOR__VECTOR_IMAGE:
  case QDRANT__VECTOR__VECTOR_OBJECT:
    unsupported = "documents, images and objects for inference are";
    break;
  default:
    /* The deprecated form: `data`, sparse when `indices` is set. */
    if (v->indices != NULL)
      unsupported = "sparse vectors are";
    data = v->data;
    n = v->n_data;
    break;
  }
  if (unsupported != NULL)
    return api_fail(call, GRPC_STATUS_INVALID_ARGUMENT,
                    "vector \"%s\": %s not supported", label, unsupported);

  int index = find_vector(info, name);
  if (index < 0)
    return api_fail(call, GRPC_STATUS_INVALID_ARGUMENT,
                    "collection \"%s\" has no vector named \"%s\"", info->name,
                    label);
  if (n != info->vectors[index].dim)
    return api_fail(call, GRPC_STATUS_INVALID_ARGUMENT,
                    "wrong vector dimension for vector \"%s\": expected %u, "
                    "got %zu",
                    label, info->vectors[index].dim, n);
  out->name = info->vectors[index].name;
  out->data = data;
  out->dim = (uint32_t)n;
  return GRPC_STATUS_OK;
}

/* Returns 1 when a Vectors message contains a vector or a map of named
 * vectors (which may leave some of the collection's names out). */
static int has_vectors(const Qdrant__Vectors *vectors) {
  if (vectors == NULL)
    return 0;
  switch (vectors->vectors_options_case) {
  case QDRANT__VECTORS__VECTORS_OPTIONS_VECTOR:
    return vectors->vector != NULL;
  case QDRANT__VECTORS__VECTORS_OPTIONS_VECTORS:
    return vectors->vectors != NULL;
  default:
    return 0;
  }
}

static grpc_status_code point_from_proto(api_call *call,
                                         const strata_collection_info *info,
                                         const Qdrant__PointStruct *in,
                                         strata_point *out, char **payload) {
  grpc_status_code code = api_id_from_proto(call, in->id, &out->id);
  if (code != GRPC_STATUS_OK)
    return code;

  /* Qdrant rejects a point without vectors.  The engine would store it
   * with none, and no search would find it. */
  const Qdrant__Vectors *vectors = in->vectors;
  if (!has_vectors(vectors)) {
    char text[STRATA_ID_STRLEN];
    return api_fail(call, GRPC_STATUS_INVALID_ARGUMENT,
                    "point %s has no vector: every upserted point needs "
                    "its vectors",
                    strata_id_format(&out->id, text));
  }
  if (vectors != NULL &&
      vectors->vectors_options_case ==
          QDRANT__VECTORS__VECTORS_OPTIONS_VECTOR &&
      vectors->vector != NULL) {
    strata_named_vector *v = api_alloc(&call->arena, sizeof *v);
    if (v == NULL)
      return OUT_OF_MEMORY(call);
    code = dense_from_proto(call, info, "", vectors->vector, v);
    out->vectors = v;
    out->n_vectors = 1;
  } else if (vectors != NULL &&
             vectors->vectors_options_case ==
                 QDRANT__VECTORS__VECTORS_OPTIONS_VECTORS &&
             vectors->vectors != NULL) {
    const Qdrant__NamedVectors *named = vectors->vectors;
    strata_named_vector *v =
        api_alloc(&call->arena, (named->n_vectors + 1) * sizeof *v);
    if (v == NULL)
      return OUT_OF_MEMORY(call);
    size_t n = 0;
    for (size_t i = 0; i < named->n_vectors && code == GRPC_STATUS_OK; i++) {
      const char *name = named->vectors[i]->key ? named->vectors[i]->key : "";
      if (named->vectors[i]->value == NULL)
        continue;
      /* The last entry of a repeated name wins, as in any map. */
      size_t slot = n;
      for (size_t j = 0; j < n; j++)
        if (strcmp(v[j].name, name) == 0)
          slot = j;
      code = dense_from_proto(call, info, name, named->vectors[i]->value,
                              &v[slot]);
      if (slot == n)
        n++;
    }
    out->vectors = v;
    out->n_vectors = n;
  }
  if (code != GRPC_STATUS_OK)
    return code;

  code = api_payload_to_json(call, (Qdrant__Struct__FieldsEntry **)in->payload,
                             in->n_payload, payload);
  out->payload = *payload;
  out->payload_len = 0;
  return code;
}

grpc_status_code api_points_upsert(api_call *call,
                                   const ProtobufCMessage *request,
                                   ProtobufCMessage **response) {
  const Qdrant__UpsertPoints *req = (const Qdrant__UpsertPoints *)request;
  struct timespec start;
  strata_collection_info *info = NULL;
  strata_point *points = NULL;
  char **payloads = NULL;
  grpc_status_code code;

  api_clock_start(&start);
  code = api_check_collection_name(call, req->collection_name);
  if (code != GRPC_STATUS_OK)
    return code;
  if (api_filter_is_set(req->update_filter))
    return api_fail(call, GRPC_STATUS_INVALID_ARGUMENT,
                    "update_filter is not supported: the engine has no "
                    "conditional upsert");
  if (req->shard_key_selector != NULL)
    return api_fail(call, GRPC_STATUS_INVALID_ARGUMENT,
                    "shard keys are not supported");
  if (req->_update_mode_case ==
          QDRANT__UPSERT_POINTS___UPDATE_MODE_UPDATE_MODE &&
      req->update_mode != QDRANT__UPDATE_MODE__Upsert)
    return api_fail(call, GRPC_STATUS_INVALID_ARGUMENT,
                    "update_mode %d is not supported; only Upsert is",
                    (int)req->update_mode);

  strata_status st =
      strata_collection_describe(call->db, req->collection_name, &info);
  if (st != STRATA_OK)
    return api_fail_engine(call, st);

  points = calloc(req->n_points + 1, sizeof *points);
  payloads = calloc(req->n_points + 1, sizeof *payloads);
  if (points == NULL || payloads == NULL)
    code = OUT_OF_MEMORY(call);
  for (size_t i = 0; i < req->n_points && code == GRPC_STATUS_OK; i++)
    code =
        point_from_proto(call, info, req->points[i], &points[i], &payloads[i]);

  int wait = req->_wait_case == QDRANT__UPSERT_POINTS___WAIT_WAIT && req->wait;
  if (code == GRPC_STATUS_OK && req->n_points > 0) {
    strata_write_options options = {.wait = wait};
    st = strata_upsert(call->db, req->collection_name, points, req->n_points,
                       &options);
    if (st != STRATA_OK)
      code = api_fail_engine(call, st);
  }
  for (size_t i = 0; payloads != NULL && i < req->n_points; i++)
    free(payloads[i]);
  free(payloads);
  free(points);
  strata_collection_info_free(info);
  if (code != GRPC_STATUS_OK)
    return code;

  Qdrant__PointsOperationResponse *out = api_write_response(call, wait, &start);
  if (out == NULL)
    return OUT_OF_MEMORY(call);
  *response = &out->base;
  return GRPC_STATUS_OK;
}

/* Converts a list of ids into an arena array. */
static grpc_status_code ids_from_proto(api_call *call, Qdrant__PointId **in,
                                       size_t n, strata_point_id **out) {
  *out = api_alloc(&call->arena, (n + 1) * sizeof **out);
  if (*out == NULL)
    return OUT_OF_MEMORY(call);
  for (size_t i = 0; i < n; i++) {
    grpc_status_code code = api_id_from_proto(call, in[i], &(*out)[i]);
    if (code != GRPC_STATUS_OK)
      return code;
  }
  return GRPC_STATUS_OK;
}

grpc_status_code api_points_delete(api_call *call,
                                   const ProtobufCMessage *request,
                                   ProtobufCMessage **response) {
  const Qdrant__DeletePoints *req = (const Qdrant__DeletePoints *)request;
  struct timespec start;
  strata_point_id *ids = NULL;
  size_t n_ids = 0;

  api_clock_start(&start);
  grpc_status_code code = api_check_collection_name(call, req->collection_name);
  if (code != GRPC_STATUS_OK)
    return code;
  if (req->shard_key_selector != NULL)
    return api_fail(call, GRPC_STATUS_INVALID_ARGUMENT,
                    "shard keys are not supported");

  int wait = req->_wait_case == QDRANT__DELETE_POINTS___WAIT_WAIT && req->wait;
  strata_write_options options = {.wait = wait};
  const Qdrant__PointsSelector *sel = req->points;
  if (sel != NULL &&
      sel->points_selector_one_of_case ==
          QDRANT__POINTS_SELECTOR__POINTS_SELECTOR_ONE_OF_FILTER) {
    strata_filter *filter = NULL;
    code = api_filter_from_proto(call, sel->filter, &filter);
    if (code != GRPC_STATUS_OK)
      return code;
    /* An empty filter matches every point, as in Qdrant; the engine asks
     * for it explicitly so that NULL cannot empty a collection. */
    if (filter == NULL && (filter = strata_filter_new()) == NULL)
      return OUT_OF_MEMORY(call);
    strata_status st = strata_delete_by_filter(call->db, req->collection_name,
                                               filter, &options, NULL);
    strata_filter_free(filter);
    if (st != STRATA_OK)
      return api_fail_engine(call, st);
  } else if (sel != NULL &&
             sel->points_selector_one_of_case ==
                 QDRANT__POINTS_SELECTOR__POINTS_SELECTOR_ONE_OF_POINTS &&
             sel->points != NULL) {
    n_ids = sel->points->n_ids;
    code = ids_from_proto(call, sel->points->ids, n_ids, &ids);
    if (code != GRPC_STATUS_OK)
      return code;
    strata_status st = strata_delete(call->db, req->collection_name, ids, n_ids,
                                     &options, NULL);
    if (st != STRATA_OK)
      return api_fail_engine(call, st);
  } else {
    return api_fail(call, GRPC_STATUS_INVALID_ARGUMENT,
                    "points selector is missing: give ids or a filter");
  }
  Qdrant__PointsOperationResponse *out = api_write_response(call, wait, &start);
  if (out == NULL)
    return OUT_OF_MEMORY(call);
  *response = &out->base;
  return GRPC_STATUS_OK;
}

/* Converts records to RetrievedPoints. */
static grpc_status_code retrieved_points(api_call *call,
                                         const strata_records *records,
                                         const api_selection *selection,
                                         Qdrant__RetrievedPoint ***out) {
  *out = api_alloc(&call->arena, (records->count + 1) * sizeof **out);
  if (*out == NULL)
    return OUT_OF_MEMORY(call);
  for (size_t i = 0; i < records->count; i++) {
    const strata_record *r = &records->items[i];
    Qdrant__RetrievedPoint *p = API_NEW(&call->arena, Qdrant__RetrievedPoint,
                                        QDRANT__RETRIEVED_POINT__INIT);
    if (p == NULL || (p->id = api_id_to_proto(call, &r->id)) == NULL)
      return OUT_OF_MEMORY(call);
    grpc_status_code code = api_payload_from_json(
        call, r, selection, (Qdrant__Struct__FieldsEntry ***)&p->payload,
        &p->n_payload);
    if (code == GRPC_STATUS_OK)
      code = api_vectors_to_proto(call, r, selection, &p->vectors);
    if (code != GRPC_STATUS_OK)
      return code;
    (*out)[i] = p;
  }
  return GRPC_STATUS_OK;
}

grpc_status_code api_points_get(api_call *call, const ProtobufCMessage *request,
                                ProtobufCMessage **response) {
  const Qdrant__GetPoints *req = (const Qdrant__GetPoints *)request;
  struct timespec start;
  strata_point_id *ids = NULL;
  strata_records *records = NULL;

  api_clock_start(&start);
  grpc_status_code code = api_check_collection_name(call, req->collection_name);
  if (code == GRPC_STATUS_OK)
    code = ids_from_proto(call, req->ids, req->n_ids, &ids);
  if (code != GRPC_STATUS_OK)
    return code;
  api_selection selection =
      api_selection_make(req->with_payload, 0, req->with_vectors);
  strata_status st = strata_get(call->db, req->collection_name, ids, req->n_ids,
                                selection.with, &records);
  if (st != STRATA_OK)
    return api_fail_engine(call, st);

  Qdrant__GetResponse *out =
      API_NEW(&call->arena, Qdrant__GetResponse, QDRANT__GET_RESPONSE__INIT);
  code = out ? retrieved_points(call, records, &selection, &out->result)
             : OUT_OF_MEMORY(call);
  if (code == GRPC_STATUS_OK) {
    out->n_result = records->count;
    out->time = api_elapsed(&start);
    *response = &out->base;
  }
  strata_records_free(records);
  return code;
}

grpc_status_code api_points_scroll(api_call *call,
                                   const ProtobufCMessage *request,
                                   ProtobufCMessage **response) {
  const Qdrant__ScrollPoints *req = (const Qdrant__ScrollPoints *)request;
  struct timespec start;
  strata_point_id offset, next;
  strata_records *records = NULL;
  int has_next = 0;

  api_clock_start(&start);
  grpc_status_code code = api_check_collection_name(call, req->collection_name);
  if (code == GRPC_STATUS_OK && req->offset != NULL)
    code = api_id_from_proto(call, req->offset, &offset);
  if (code != GRPC_STATUS_OK)
    return code;
  if (req->order_by != NULL)
    return api_fail(call, GRPC_STATUS_INVALID_ARGUMENT,
                    "order_by is not supported; scroll returns points in id "
                    "order");
  if (req->shard_key_selector != NULL)
    return api_fail(call, GRPC_STATUS_INVALID_ARGUMENT,
                    "shard keys are not supported");

  size_t limit = DEFAULT_SCROLL_LIMIT;
  if (req->_limit_case == QDRANT__SCROLL_POINTS___LIMIT_LIMIT) {
    if (req->limit == 0)
      return api_fail(call, GRPC_STATUS_INVALID_ARGUMENT,
                      "limit must be at least 1");
    limit = req->limit;
  }
  /* A page never contains more than the collection, so cutting the
   * limit bounds the engine's allocation for a hostile limit. */
  uint64_t count = 0;
  strata_status st = strata_count(call->db, req->collection_name, &count);
  if (st != STRATA_OK)
    return api_fail_engine(call, st);
  if (limit > count)
    limit = count > 0 ? (size_t)count : 1;

  /* Scroll returns payloads unless asked not to, as Qdrant does. */
  api_selection selection =
      api_selection_make(req->with_payload, 1, req->with_vectors);
  strata_filter *filter = NULL;
  code = api_filter_from_proto(call, req->filter, &filter);
  if (code != GRPC_STATUS_OK)
    return code;
  st = strata_scroll_filtered(call->db, req->collection_name, filter,
                              req->offset ? &offset : NULL, limit,
                              selection.with, &records, &next, &has_next);
  strata_filter_free(filter);
  if (st != STRATA_OK)
    return api_fail_engine(call, st);

  Qdrant__ScrollResponse *out = API_NEW(&call->arena, Qdrant__ScrollResponse,
                                        QDRANT__SCROLL_RESPONSE__INIT);
  code = out ? retrieved_points(call, records, &selection, &out->result)
             : OUT_OF_MEMORY(call);
  if (code == GRPC_STATUS_OK && has_next) {
    out->next_page_offset = api_id_to_proto(call, &next);
    if (out->next_page_offset == NULL)
      code = OUT_OF_MEMORY(call);
  }
  if (code == GRPC_STATUS_OK) {
    out->n_result = records->count;
    out->time = api_elapsed(&start);
    *response = &out->base;
  }
  strata_records_free(records);
  return code;
}

grpc_status_code api_points_count(api_call *call,
                                  const ProtobufCMessage *request,
                                  ProtobufCMessage **response) {
  const Qdrant__CountPoints *req = (const Qdrant__CountPoints *)request;
  struct timespec start;
  uint64_t count = 0;

  api_clock_start(&start);
  strata_filter *filter = NULL;
  grpc_status_code code = api_check_collection_name(call, req->collection_name);
  if (code == GRPC_STATUS_OK)
    code = api_filter_from_proto(call, req->filter, &filter);
  if (code != GRPC_STATUS_OK)
    return code;
  /* `exact` is ignored: the count is always exact. */
  strata_status st =
      strata_count_filtered(call->db, req->collection_name, filter, &count);
  strata_filter_free(filter);
  if (st != STRATA_OK)
    return api_fail_engine(call, st);

  Qdrant__CountResponse *out = API_NEW(&call->arena, Qdrant__CountResponse,
                                       QDRANT__COUNT_RESPONSE__INIT);
  Qdrant__CountResult *result =
      API_NEW(&call->arena, Qdrant__CountResult, QDRANT__COUNT_RESULT__INIT);
  if (out == NULL || result == NULL)
    return OUT_OF_MEMORY(call);
  result->count = count;
  out->result = result;
  out->time = api_elapsed(&start);
  *response = &out->base;
  return GRPC_STATUS_OK;
}
