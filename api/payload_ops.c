/*
 * Handlers of the payload updates (SetPayload, OverwritePayload,
 * DeletePayload, ClearPayload) and of the payload indexes
 * (CreateFieldIndex, DeleteFieldIndex).  The points to update are given
 * by ids or by a filter; an empty filter selects every point, as in
 * Qdrant.
 */
#include <stdlib.h>
#include <string.h>

#include "internal.h"

#define OUT_OF_MEMORY(call)                                                    \
  api_fail((call), GRPC_STATUS_RESOURCE_EXHAUSTED, "out of memory")

/* Converts a PointsSelector.  *filter receives the converted filter,
 * which the caller frees with strata_filter_free(), also on failure. */
static grpc_status_code selector_from_proto(api_call *call,
                                            const Qdrant__PointsSelector *in,
                                            strata_point_selector *out,
                                            strata_filter **filter) {
  memset(out, 0, sizeof *out);
  *filter = NULL;
  if (in != NULL &&
      in->points_selector_one_of_case ==
          QDRANT__POINTS_SELECTOR__POINTS_SELECTOR_ONE_OF_POINTS &&
      in->points != NULL) {
    size_t n = in->points->n_ids;
    strata_point_id *ids = api_alloc(&call->arena, (n + 1) * sizeof *ids);
    if (ids == NULL)
      return OUT_OF_MEMORY(call);
    for (size_t i = 0; i < n; i++) {
      grpc_status_code code =
          api_id_from_proto(call, in->points->ids[i], &ids[i]);
      if (code != GRPC_STATUS_OK)
        return code;
    }
    out->ids = ids;
    out->n_ids = n;
    return GRPC_STATUS_OK;
  }
  if (in != NULL &&
      in->points_selector_one_of_case ==
          QDRANT__POINTS_SELECTOR__POINTS_SELECTOR_ONE_OF_FILTER) {
    grpc_status_code code = api_filter_from_proto(call, in->filter, filter);
    if (code != GRPC_STATUS_OK)
      return code;
    if (*filter == NULL && (*filter = strata_filter_new()) == NULL)
      return OUT_OF_MEMORY(call);
    out->filter = *filter;
    return GRPC_STATUS_OK;
  }
  return api_fail(call, GRPC_STATUS_INVALID_ARGUMENT,
                  "points selector is missing: give ids or a filter");
}

/* The fields that every payload update shares. */
typedef struct update {
  const char *collection;
  int wait;
  const Qdrant__PointsSelector *selector;
  int has_shard_key;
} update;

typedef enum update_kind { SET, OVERWRITE, DELETE_KEYS, CLEAR } update_kind;

/* Validates, selects the points and applies one payload update. */
static grpc_status_code run_update(api_call *call, const update *u,
                                   update_kind kind, const char *payload,
                                   const char *key, char *const *keys,
                                   size_t n_keys, ProtobufCMessage **response) {
  struct timespec start;
  strata_point_selector points;
  strata_filter *filter = NULL;

  api_clock_start(&start);
  grpc_status_code code = api_check_collection_name(call, u->collection);
  if (code != GRPC_STATUS_OK)
    return code;
  if (u->has_shard_key)
    return api_fail(call, GRPC_STATUS_INVALID_ARGUMENT,
                    "shard keys are not supported");
  code = selector_from_proto(call, u->selector, &points, &filter);
  if (code != GRPC_STATUS_OK) {
    strata_filter_free(filter);
    return code;
  }

  strata_write_options options = {.wait = u->wait};
  strata_status st = STRATA_OK;
  switch (kind) {
  case SET:
    st = strata_payload_set(call->db, u->collection, &points, payload, key,
                            &options, NULL);
    break;
  case OVERWRITE:
    st = strata_payload_overwrite(call->db, u->collection, &points, payload,
                                  &options, NULL);
    break;
  case DELETE_KEYS:
    st = strata_payload_delete_keys(call->db, u->collection, &points,
                                    (const char *const *)keys, n_keys, &options,
                                    NULL);
    break;
  case CLEAR:
    st = strata_payload_clear(call->db, u->collection, &points, &options, NULL);
    break;
  }
  strata_filter_free(filter);
  if (st != STRATA_OK)
    return api_fail_engine(call, st);

  Qdrant__PointsOperationResponse *out =
      api_write_response(call, u->wait, &start);
  if (out == NULL)
    return OUT_OF_MEMORY(call);
  *response = &out->base;
  return GRPC_STATUS_OK;
}

/* SetPayload and OverwritePayload share their request message. */
static grpc_status_code set_payload(api_call *call,
                                    const ProtobufCMessage *request,
                                    ProtobufCMessage **response,
                                    update_kind kind) {
  const Qdrant__SetPayloadPoints *req =
      (const Qdrant__SetPayloadPoints *)request;
  update u = {
      .collection = req->collection_name,
      .wait = req->_wait_case == QDRANT__SET_PAYLOAD_POINTS___WAIT_WAIT &&
              req->wait,
      .selector = req->points_selector,
      .has_shard_key = req->shard_key_selector != NULL,
  };
  const char *key =
      req->_key_case == QDRANT__SET_PAYLOAD_POINTS___KEY_KEY ? req->key : NULL;
  if (key != NULL && kind == OVERWRITE)
    return api_fail(call, GRPC_STATUS_INVALID_ARGUMENT,
                    "key is not supported by OverwritePayload; use "
                    "SetPayload");

  char *json = NULL;
  grpc_status_code code =
      api_payload_to_json(call, (Qdrant__Struct__FieldsEntry **)req->payload,
                          req->n_payload, &json);
  if (code == GRPC_STATUS_OK)
    code =
        run_update(call, &u, kind, json ? json : "{}", key, NULL, 0, response);
  free(json);
  return code;
}

grpc_status_code api_points_set_payload(api_call *call,
                                        const ProtobufCMessage *request,
                                        ProtobufCMessage **response) {
  return set_payload(call, request, response, SET);
}

grpc_status_code api_points_overwrite_payload(api_call *call,
                                              const ProtobufCMessage *request,
                                              ProtobufCMessage **response) {
  return set_payload(call, request, response, OVERWRITE);
}

grpc_status_code api_points_delete_payload(api_call *call,
                                           const ProtobufCMessage *request,
                                           ProtobufCMessage **response) {
  const Qdrant__DeletePayloadPoints *req =
      (const Qdrant__DeletePayloadPoints *)request;
  update u = {
      .collection = req->collection_name,
      .wait = req->_wait_case == QDRANT__DELETE_PAYLOAD_POINTS___WAIT_WAIT &&
              req->wait,
      .selector = req->points_selector,
      .has_shard_key = req->shard_key_selector != NULL,
  };
  for (size_t i = 0; i < req->n_keys; i++) {
    grpc_status_code code = api_check_utf8(call, "payload key", req->keys[i]);
    if (code != GRPC_STATUS_OK)
      return code;
  }
  return run_update(call, &u, DELETE_KEYS, NULL, NULL, req->keys, req->n_keys,
                    response);
}

grpc_status_code api_points_clear_payload(api_call *call,
                                          const ProtobufCMessage *request,
                                          ProtobufCMessage **response) {
  const Qdrant__ClearPayloadPoints *req =
      (const Qdrant__ClearPayloadPoints *)request;
  update u = {
      .collection = req->collection_name,
      .wait = req->_wait_case == QDRANT__CLEAR_PAYLOAD_POINTS___WAIT_WAIT &&
              req->wait,
      .selector = req->points,
      .has_shard_key = req->shard_key_selector != NULL,
  };
  return run_update(call, &u, CLEAR, NULL, NULL, NULL, 0, response);
}

/* ------------------------------------------------------------------ */
/* Payload indexes                                                      */

/* Returns the engine's name of a field type, or NULL for geo and
 * unknown types. */
static const char *field_type_name(Qdrant__FieldType type) {
  switch (type) {
  case QDRANT__FIELD_TYPE__FieldTypeKeyword:
    return "keyword";
  case QDRANT__FIELD_TYPE__FieldTypeInteger:
    return "integer";
  case QDRANT__FIELD_TYPE__FieldTypeFloat:
    return "float";
  case QDRANT__FIELD_TYPE__FieldTypeText:
    return "text";
  case QDRANT__FIELD_TYPE__FieldTypeBool:
    return "bool";
  case QDRANT__FIELD_TYPE__FieldTypeDatetime:
    return "datetime";
  case QDRANT__FIELD_TYPE__FieldTypeUuid:
    return "uuid";
  default:
    return NULL;
  }
}

grpc_status_code api_points_create_field_index(api_call *call,
                                               const ProtobufCMessage *request,
                                               ProtobufCMessage **response) {
  const Qdrant__CreateFieldIndexCollection *req =
      (const Qdrant__CreateFieldIndexCollection *)request;
  struct timespec start;

  api_clock_start(&start);
  grpc_status_code code = api_check_collection_name(call, req->collection_name);
  if (code == GRPC_STATUS_OK)
    code = api_check_utf8(call, "field_name", req->field_name);
  if (code != GRPC_STATUS_OK)
    return code;
  if (req->_field_type_case !=
      QDRANT__CREATE_FIELD_INDEX_COLLECTION___FIELD_TYPE_FIELD_TYPE)
    return api_fail(call, GRPC_STATUS_INVALID_ARGUMENT,
                    "field_type is missing");
  const char *type = field_type_name(req->field_type);
  if (type == NULL)
    return api_fail(call, GRPC_STATUS_INVALID_ARGUMENT,
                    "field_type %d is not supported (geo indexes are not)",
                    (int)req->field_type);

  int wait =
      req->_wait_case == QDRANT__CREATE_FIELD_INDEX_COLLECTION___WAIT_WAIT &&
      req->wait;
  strata_write_options options = {.wait = wait};
  strata_status st = strata_field_index_create(call->db, req->collection_name,
                                               req->field_name, type, &options);
  if (st != STRATA_OK)
    return api_fail_engine(call, st);
  Qdrant__PointsOperationResponse *out = api_write_response(call, wait, &start);
  if (out == NULL)
    return OUT_OF_MEMORY(call);
  *response = &out->base;
  return GRPC_STATUS_OK;
}

grpc_status_code api_points_delete_field_index(api_call *call,
                                               const ProtobufCMessage *request,
                                               ProtobufCMessage **response) {
  const Qdrant__DeleteFieldIndexCollection *req =
      (const Qdrant__DeleteFieldIndexCollection *)request;
  struct timespec start;

  api_clock_start(&start);
  grpc_status_code code = api_check_collection_name(call, req->collection_name);
  if (code == GRPC_STATUS_OK)
    code = api_check_utf8(call, "field_name", req->field_name);
  if (code != GRPC_STATUS_OK)
    return code;
  int wait =
      req->_wait_case == QDRANT__DELETE_FIELD_INDEX_COLLECTION___WAIT_WAIT &&
      req->wait;
  strata_write_options options = {.wait = wait};
  strata_status st = strata_field_index_drop(call->db, req->collection_name,
                                             req->field_name, &options);
  if (st != STRATA_OK)
    return api_fail_engine(call, st);
  Qdrant__PointsOperationResponse *out = api_write_response(call, wait, &start);
  if (out == NULL)
    return OUT_OF_MEMORY(call);
  *response = &out->base;
  return GRPC_STATUS_OK;
}
