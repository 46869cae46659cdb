/*
 * Payload conversion between Qdrant's Value messages and the JSON text
 * that the engine stores, through jansson.
 *
 * Numbers.  Value has separate integer (int64) and double kinds, and so
 * does jansson, so integers keep every bit both ways.  JSON text stored
 * by other tools may contain an integer beyond int64, which jansson
 * cannot load as an integer.  Such a payload is parsed again with every
 * number as a double, so its integers come back as double_value (exact
 * up to 2^53).
 */
#include <jansson.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"

/* ------------------------------------------------------------------ */
/* Value -> JSON                                                        */

static json_t *value_to_json(api_call *call, const Qdrant__Value *value,
                             grpc_status_code *code);

static json_t *entries_to_json(api_call *call,
                               Qdrant__Struct__FieldsEntry **entries, size_t n,
                               grpc_status_code *code) {
  char shown[96];
  json_t *object = json_object();
  if (object == NULL) {
    *code = api_fail(call, GRPC_STATUS_RESOURCE_EXHAUSTED, "out of memory");
    return NULL;
  }
  for (size_t i = 0; i < n; i++) {
    const char *key = entries[i]->key ? entries[i]->key : "";
    json_t *item = value_to_json(call, entries[i]->value, code);
    if (item == NULL) {
      json_decref(object);
      return NULL;
    }
    /* A repeated key replaces the earlier one: the last occurrence wins,
     * as for any protobuf map. */
    if (json_object_set_new(object, key, item) != 0) {
      json_decref(object);
      *code = api_fail(call, GRPC_STATUS_INVALID_ARGUMENT,
                       "payload key \"%s\" is not valid UTF-8",
                       api_printable(key, shown, sizeof shown));
      return NULL;
    }
  }
  return object;
}

static json_t *value_to_json(api_call *call, const Qdrant__Value *value,
                             grpc_status_code *code) {
  char shown[96];
  json_t *out = NULL;
  if (value == NULL)
    return json_null();
  switch (value->kind_case) {
  case QDRANT__VALUE__KIND__NOT_SET:
  case QDRANT__VALUE__KIND_NULL_VALUE:
    return json_null();
  case QDRANT__VALUE__KIND_DOUBLE_VALUE:
    out = json_real(value->double_value);
    if (out == NULL) {
      *code = api_fail(call, GRPC_STATUS_INVALID_ARGUMENT,
                       "payload contains a non-finite number (%g); JSON has "
                       "no NaN or infinity",
                       value->double_value);
      return NULL;
    }
    return out;
  case QDRANT__VALUE__KIND_INTEGER_VALUE:
    out = json_integer((json_int_t)value->integer_value);
    break;
  case QDRANT__VALUE__KIND_STRING_VALUE:
    out = json_string(value->string_value ? value->string_value : "");
    if (out == NULL) {
      *code = api_fail(call, GRPC_STATUS_INVALID_ARGUMENT,
                       "payload string \"%s\" is not valid UTF-8",
                       api_printable(value->string_value, shown, sizeof shown));
      return NULL;
    }
    return out;
  case QDRANT__VALUE__KIND_BOOL_VALUE:
    return json_boolean(value->bool_value);
  case QDRANT__VALUE__KIND_STRUCT_VALUE:
    if (value->struct_value == NULL)
      return json_object();
    return entries_to_json(call, value->struct_value->fields,
                           value->struct_value->n_fields, code);
  case QDRANT__VALUE__KIND_LIST_VALUE: {
    out = json_array();
    const Qdrant__ListValue *list = value->list_value;
    for (size_t i = 0; out != NULL && list != NULL && i < list->n_values; i++) {
      json_t *item = value_to_json(call, list->values[i], code);
      if (item == NULL) {
        json_decref(out);
        return NULL;
      }
      json_array_append_new(out, item);
    }
    break;
  }
  default:
    *code =
        api_fail(call, GRPC_STATUS_INVALID_ARGUMENT,
                 "payload value has an unknown kind %d", (int)value->kind_case);
    return NULL;
  }
  if (out == NULL)
    *code = api_fail(call, GRPC_STATUS_RESOURCE_EXHAUSTED, "out of memory");
  return out;
}

grpc_status_code api_payload_to_json(api_call *call,
                                     Qdrant__Struct__FieldsEntry **entries,
                                     size_t n_entries, char **json) {
  grpc_status_code code = GRPC_STATUS_OK;
  *json = NULL;
  if (n_entries == 0)
    return GRPC_STATUS_OK;
  json_t *object = entries_to_json(call, entries, n_entries, &code);
  if (object == NULL)
    return code;
  *json = json_dumps(object, JSON_COMPACT | JSON_ENCODE_ANY);
  json_decref(object);
  if (*json == NULL)
    return api_fail(call, GRPC_STATUS_RESOURCE_EXHAUSTED, "out of memory");
  return GRPC_STATUS_OK;
}

/* ------------------------------------------------------------------ */
/* JSON -> Value                                                        */

static Qdrant__Value *json_to_value(api_call *call, json_t *json);

static Qdrant__Struct__FieldsEntry **
object_to_entries(api_call *call, json_t *object, size_t *n_out) {
  size_t n = json_object_size(object);
  Qdrant__Struct__FieldsEntry **entries =
      api_alloc(&call->arena, (n + 1) * sizeof *entries);
  if (entries == NULL)
    return NULL;
  const char *key;
  json_t *item;
  size_t i = 0;
  json_object_foreach(object, key, item) {
    Qdrant__Struct__FieldsEntry *entry =
        API_NEW(&call->arena, Qdrant__Struct__FieldsEntry,
                QDRANT__STRUCT__FIELDS_ENTRY__INIT);
    if (entry == NULL)
      return NULL;
    entry->key = api_strdup(&call->arena, key);
    entry->value = json_to_value(call, item);
    if (entry->key == NULL || entry->value == NULL)
      return NULL;
    entries[i++] = entry;
  }
  *n_out = i;
  return entries;
}

static Qdrant__Value *json_to_value(api_call *call, json_t *json) {
  Qdrant__Value *v = API_NEW(&call->arena, Qdrant__Value, QDRANT__VALUE__INIT);
  if (v == NULL)
    return NULL;
  switch (json_typeof(json)) {
  case JSON_OBJECT: {
    Qdrant__Struct *s =
        API_NEW(&call->arena, Qdrant__Struct, QDRANT__STRUCT__INIT);
    if (s == NULL)
      return NULL;
    s->fields = object_to_entries(call, json, &s->n_fields);
    if (s->fields == NULL)
      return NULL;
    v->kind_case = QDRANT__VALUE__KIND_STRUCT_VALUE;
    v->struct_value = s;
    break;
  }
  case JSON_ARRAY: {
    Qdrant__ListValue *list =
        API_NEW(&call->arena, Qdrant__ListValue, QDRANT__LIST_VALUE__INIT);
    size_t n = json_array_size(json);
    if (list == NULL)
      return NULL;
    list->values = api_alloc(&call->arena, (n + 1) * sizeof *list->values);
    if (list->values == NULL)
      return NULL;
    for (size_t i = 0; i < n; i++) {
      list->values[i] = json_to_value(call, json_array_get(json, i));
      if (list->values[i] == NULL)
        return NULL;
    }
    list->n_values = n;
    v->kind_case = QDRANT__VALUE__KIND_LIST_VALUE;
    v->list_value = list;
    break;
  }
  case JSON_STRING:
    v->kind_case = QDRANT__VALUE__KIND_STRING_VALUE;
    v->string_value = api_strdup(&call->arena, json_string_value(json));
    if (v->string_value == NULL)
      return NULL;
    break;
  case JSON_INTEGER:
    v->kind_case = QDRANT__VALUE__KIND_INTEGER_VALUE;
    v->integer_value = (int64_t)json_integer_value(json);
    break;
  case JSON_REAL:
    v->kind_case = QDRANT__VALUE__KIND_DOUBLE_VALUE;
    v->double_value = json_real_value(json);
    break;
  case JSON_TRUE:
  case JSON_FALSE:
    v->kind_case = QDRANT__VALUE__KIND_BOOL_VALUE;
    v->bool_value = json_is_true(json);
    break;
  case JSON_NULL:
    v->kind_case = QDRANT__VALUE__KIND_NULL_VALUE;
    v->null_value = QDRANT__NULL_VALUE__NULL_VALUE;
    break;
  }
  return v;
}

/* Finds the value at a dotted path ("a.b") inside nested objects. */
static json_t *path_get(json_t *root, const char *path) {
  char *copy = strdup(path), *save = NULL;
  json_t *node = root;
  if (copy == NULL)
    return NULL;
  for (char *part = strtok_r(copy, ".", &save); part != NULL && node != NULL;
       part = strtok_r(NULL, ".", &save))
    node = json_is_object(node) ? json_object_get(node, part) : NULL;
  free(copy);
  return node;
}

/* Copies the value at `path` of `source` to the same path of `target`,
 * creating the objects on the way. */
static void path_copy(json_t *target, json_t *source, const char *path) {
  json_t *value = path_get(source, path);
  if (value == NULL)
    return;
  char *copy = strdup(path), *save = NULL;
  if (copy == NULL)
    return;
  json_t *node = target;
  char *part = strtok_r(copy, ".", &save);
  while (part != NULL) {
    char *next = strtok_r(NULL, ".", &save);
    if (next == NULL) {
      json_object_set(node, part, value);
      break;
    }
    json_t *child = json_object_get(node, part);
    if (!json_is_object(child)) {
      child = json_object();
      json_object_set_new(node, part, child);
    }
    node = child;
    part = next;
  }
  free(copy);
}

/* Removes the value at a dotted path. */
static void path_delete(json_t *root, const char *path) {
  const char *dot = strrchr(path, '.');
  if (dot == NULL) {
    json_object_del(root, path);
    return;
  }
  char *parent_path = strndup(path, (size_t)(dot - path));
  if (parent_path == NULL)
    return;
  json_t *parent = path_get(root, parent_path);
  free(parent_path);
  if (json_is_object(parent))
    json_object_del(parent, dot + 1);
}

grpc_status_code api_payload_from_json(api_call *call,
                                       const strata_record *record,
                                       const api_selection *selection,
                                       Qdrant__Struct__FieldsEntry ***entries,
                                       size_t *n_entries) {
  *entries = NULL;
  *n_entries = 0;
  if (!(selection->with & STRATA_WITH_PAYLOAD) || record->payload == NULL)
    return GRPC_STATUS_OK;

  json_error_t error;
  json_t *root = json_loadb(record->payload, record->payload_len, 0, &error);
  if (root == NULL) /* an integer beyond int64; see the file comment */
    root = json_loadb(record->payload, record->payload_len,
                      JSON_DECODE_INT_AS_REAL, &error);
  if (!json_is_object(root)) {
    char id[STRATA_ID_STRLEN];
    json_decref(root);
    return api_fail(call, GRPC_STATUS_INTERNAL,
                    "the stored payload of point %s is not a JSON object "
                    "(%s)",
                    strata_id_format(&record->id, id), error.text);
  }

  /* Apply include or exclude field lists. */
  const Qdrant__WithPayloadSelector *sel = selection->payload;
  if (sel != NULL &&
      sel->selector_options_case ==
          QDRANT__WITH_PAYLOAD_SELECTOR__SELECTOR_OPTIONS_INCLUDE &&
      sel->include != NULL) {
    json_t *picked = json_object();
    for (size_t i = 0; picked != NULL && i < sel->include->n_fields; i++)
      path_copy(picked, root, sel->include->fields[i]);
    json_decref(root);
    root = picked;
  } else if (sel != NULL &&
             sel->selector_options_case ==
                 QDRANT__WITH_PAYLOAD_SELECTOR__SELECTOR_OPTIONS_EXCLUDE &&
             sel->exclude != NULL) {
    for (size_t i = 0; i < sel->exclude->n_fields; i++)
      path_delete(root, sel->exclude->fields[i]);
  }
  if (root == NULL)
    return api_fail(call, GRPC_STATUS_RESOURCE_EXHAUSTED, "out of memory");

  *entries = object_to_entries(call, root, n_entries);
  json_decref(root);
  if (*entries == NULL)
    return api_fail(call, GRPC_STATUS_RESOURCE_EXHAUSTED, "out of memory");
  return GRPC_STATUS_OK;
}
