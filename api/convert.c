/*
 * Conversions between protobuf-c messages and strata.h types: the call
 * arena, point ids, vectors, selectors, filters, result points, and the
 * depth check that runs before a request is decoded.  Payload JSON is in
 * payload.c.
 */
#include <stdlib.h>
#include <string.h>

#include "internal.h"

/* ------------------------------------------------------------------ */
/* Arena                                                                */

struct api_arena_block {
  api_arena_block *next;
  size_t used, size;
  max_align_t data[];
};

#define ARENA_BLOCK_BYTES 16384

void *api_alloc(api_arena *arena, size_t size) {
  size_t align = sizeof(max_align_t);
  size = (size + align - 1) / align * align;
  api_arena_block *block = arena->head;
  if (block == NULL || block->size - block->used < size) {
    size_t bytes = size > ARENA_BLOCK_BYTES ? size : ARENA_BLOCK_BYTES;
    block = malloc(sizeof *block + bytes);
    if (block == NULL)
      return NULL;
    block->size = bytes;
    block->used = 0;
    block->next = arena->head;
    arena->head = block;
  }
  void *p = (char *)block->data + block->used;
  block->used += size;
  memset(p, 0, size);
  return p;
}

char *api_strdup(api_arena *arena, const char *text) {
  size_t len = strlen(text);
  char *copy = api_alloc(arena, len + 1);
  if (copy != NULL)
    memcpy(copy, text, len + 1);
  return copy;
}

void api_arena_free(api_arena *arena) {
  api_arena_block *block = arena->head;
  while (block != NULL) {
    api_arena_block *next = block->next;
    free(block);
    block = next;
  }
  arena->head = NULL;
}

/* ------------------------------------------------------------------ */
/* Text                                                                 */

/* Returns the length of the UTF-8 sequence at s (at most `left` bytes),
 * or 0 when it is invalid: overlong forms, surrogates and code points
 * above U+10FFFF included. */
static size_t utf8_sequence(const unsigned char *s, size_t left) {
  unsigned c = s[0];
  size_t len;
  unsigned min;
  if (c < 0x80)
    return 1;
  if (c >= 0xC2 && c <= 0xDF)
    len = 2, min = 0x80;
  else if (c >= 0xE0 && c <= 0xEF)
    len = 3, min = 0x800;
  else if (c >= 0xF0 && c <= 0xF4)
    len = 4, min = 0x10000;
  else
    return 0;
  if (left < len)
    return 0;
  unsigned cp = c & (0x3F >> (len - 1));
  for (size_t i = 1; i < len; i++) {
    if ((s[i] & 0xC0) != 0x80)
      return 0;
    cp = (cp << 6) | (s[i] & 0x3F);
  }
  if (cp < min || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF))
    return 0;
  return len;
}

const char *api_printable(const char *text, char *buf, size_t size) {
  const unsigned char *s = (const unsigned char *)(text ? text : "");
  size_t left = strlen((const char *)s), out = 0;
  while (left > 0 && out + 4 < size) {
    size_t n = utf8_sequence(s, left);
    if (n == 0 || s[0] < 0x20 || s[0] == 0x7F) {
      buf[out++] = '?';
      n = n ? n : 1;
    } else {
      if (out + n + 4 >= size)
        break;
      memcpy(buf + out, s, n);
      out += n;
    }
    s += n;
    left -= n;
  }
  if (left > 0 && size >= 4) {
    memcpy(buf + out, "...", 3);
    out += 3;
  }
  buf[out] = '\0';
  return buf;
}

int api_is_utf8(const char *text) {
  size_t len = strlen(text);
  const unsigned char *s = (const unsigned char *)text;
  for (size_t i = 0; i < len;) {
    size_t n = utf8_sequence(s + i, len - i);
    if (n == 0)
      return 0;
    i += n;
  }
  return 1;
}

grpc_status_code api_check_utf8(api_call *call, const char *what,
                                const char *text) {
  char shown[96];
  if (api_is_utf8(text))
    return GRPC_STATUS_OK;
  return api_fail(call, GRPC_STATUS_INVALID_ARGUMENT,
                  "%s \"%s\" is not valid UTF-8", what,
                  api_printable(text, shown, sizeof shown));
}

grpc_status_code api_check_collection_name(api_call *call, const char *name) {
  if (name == NULL || name[0] == '\0')
    return api_fail(call, GRPC_STATUS_INVALID_ARGUMENT,
                    "collection_name is empty");
  return api_check_utf8(call, "collection_name", name);
}

/* ------------------------------------------------------------------ */
/* Point ids                                                            */

grpc_status_code api_id_from_proto(api_call *call, const Qdrant__PointId *in,
                                   strata_point_id *out) {
  char shown[96];
  if (in == NULL)
    return api_fail(call, GRPC_STATUS_INVALID_ARGUMENT,
                    "a point id is missing");
  switch (in->point_id_options_case) {
  case QDRANT__POINT_ID__POINT_ID_OPTIONS_NUM:
    *out = strata_id_num(in->num);
    return GRPC_STATUS_OK;
  case QDRANT__POINT_ID__POINT_ID_OPTIONS_UUID:
    /* strata_id_parse also takes decimal numbers; a uuid field must hold
     * a UUID. */
    if (strata_id_parse(in->uuid, out) != STRATA_OK ||
        out->kind != STRATA_ID_UUID)
      return api_fail(call, GRPC_STATUS_INVALID_ARGUMENT,
                      "invalid point id: \"%s\" is not a UUID",
                      api_printable(in->uuid, shown, sizeof shown));
    return GRPC_STATUS_OK;
  default:
    return api_fail(call, GRPC_STATUS_INVALID_ARGUMENT,
                    "invalid point id: neither num nor uuid is set");
  }
}

Qdrant__PointId *api_id_to_proto(api_call *call, const strata_point_id *id) {
  Qdrant__PointId *out =
      API_NEW(&call->arena, Qdrant__PointId, QDRANT__POINT_ID__INIT);
  if (out == NULL)
    return NULL;
  if (id->kind == STRATA_ID_NUM) {
    out->point_id_options_case = QDRANT__POINT_ID__POINT_ID_OPTIONS_NUM;
    out->num = id->num;
  } else {
    char text[STRATA_ID_STRLEN];
    out->point_id_options_case = QDRANT__POINT_ID__POINT_ID_OPTIONS_UUID;
    out->uuid = api_strdup(&call->arena, strata_id_format(id, text));
    if (out->uuid == NULL)
      return NULL;
  }
  return out;
}

/* ------------------------------------------------------------------ */
/* Filters                                                              */

int api_filter_is_set(const Qdrant__Filter *filter) {
  return filter != NULL &&
         (filter->n_should > 0 || filter->n_must > 0 ||
          filter->n_must_not > 0 || filter->min_should != NULL);
}

/* ------------------------------------------------------------------ */
/* Depth check                                                          */

/* Reads a base-128 varint; returns bytes used or 0 when malformed. */
static size_t read_varint(const uint8_t *p, size_t len, uint64_t *out) {
  uint64_t value = 0;
  for (size_t i = 0; i < len && i < 10; i++) {
    value |= (uint64_t)(p[i] & 0x7F) << (7 * i);
    if ((p[i] & 0x80) == 0) {
      *out = value;
      return i + 1;
    }
  }
  return 0;
}

int api_check_depth(const ProtobufCMessageDescriptor *descriptor,
                    const uint8_t *data, size_t len, int depth) {
  if (depth > API_MAX_MESSAGE_DEPTH)
    return -1;
  size_t pos = 0;
  while (pos < len) {
    uint64_t key, size;
    size_t n = read_varint(data + pos, len - pos, &key);
    if (n == 0)
      return -1;
    pos += n;
    switch (key & 7) {
    case 0: /* varint */
      n = read_varint(data + pos, len - pos, &size);
      if (n == 0)
        return -1;
      pos += n;
      break;
    case 1: /* 64-bit */
      if (len - pos < 8)
        return -1;
      pos += 8;
      break;
    case 5: /* 32-bit */
      if (len - pos < 4)
        return -1;
      pos += 4;
      break;
    case 2: { /* length-delimited: recurse into known message fields */
      n = read_varint(data + pos, len - pos, &size);
      if (n == 0 || size > len - pos - n)
        return -1;
      pos += n;
      const ProtobufCFieldDescriptor *field =
          key >> 3 <= UINT32_MAX ? protobuf_c_message_descriptor_get_field(
                                       descriptor, (unsigned)(key >> 3))
                                 : NULL;
      if (field != NULL && field->type == PROTOBUF_C_TYPE_MESSAGE &&
          api_check_depth(field->descriptor, data + pos, (size_t)size,
                          depth + 1) != 0)
        return -1;
      pos += (size_t)size;
      break;
    }
    default: /* groups (3, 4) are not used by proto3 */
      return -1;
    }
  }
  return 0;
}

/* ------------------------------------------------------------------ */
/* Selectors and results                                                */

api_selection api_selection_make(const Qdrant__WithPayloadSelector *payload,
                                 int payload_default,
                                 const Qdrant__WithVectorsSelector *vectors) {
  api_selection s = {0, NULL, NULL};
  int with_payload = payload_default;
  if (payload != NULL) {
    switch (payload->selector_options_case) {
    case QDRANT__WITH_PAYLOAD_SELECTOR__SELECTOR_OPTIONS_ENABLE:
      with_payload = payload->enable;
      break;
    case QDRANT__WITH_PAYLOAD_SELECTOR__SELECTOR_OPTIONS_INCLUDE:
    case QDRANT__WITH_PAYLOAD_SELECTOR__SELECTOR_OPTIONS_EXCLUDE:
      with_payload = 1;
      s.payload = payload;
      break;
    default:
      break;
    }
  }
  if (with_payload)
    s.with |= STRATA_WITH_PAYLOAD;
  if (vectors != NULL) {
    if (vectors->selector_options_case ==
            QDRANT__WITH_VECTORS_SELECTOR__SELECTOR_OPTIONS_ENABLE &&
        vectors->enable)
      s.with |= STRATA_WITH_VECTORS;
    if (vectors->selector_options_case ==
        QDRANT__WITH_VECTORS_SELECTOR__SELECTOR_OPTIONS_INCLUDE) {
      s.with |= STRATA_WITH_VECTORS;
      s.vectors = vectors;
    }
  }
  return s;
}

static int vector_selected(const api_selection *selection, const char *name) {
  if (selection->vectors == NULL)
    return 1;
  const Qdrant__VectorsSelector *include = selection->vectors->include;
  if (include == NULL)
    return 0;
  for (size_t i = 0; i < include->n_names; i++)
    if (strcmp(include->names[i], name) == 0)
      return 1;
  return 0;
}

static Qdrant__VectorOutput *vector_output(api_call *call,
                                           const strata_named_vector *v) {
  Qdrant__VectorOutput *out =
      API_NEW(&call->arena, Qdrant__VectorOutput, QDRANT__VECTOR_OUTPUT__INIT);
  Qdrant__DenseVector *dense =
      API_NEW(&call->arena, Qdrant__DenseVector, QDRANT__DENSE_VECTOR__INIT);
  float *data = api_alloc(&call->arena, (size_t)v->dim * sizeof(float) + 1);
  if (out == NULL || dense == NULL || data == NULL)
    return NULL;
  memcpy(data, v->data, (size_t)v->dim * sizeof(float));
  dense->n_data = v->dim;
  dense->data = data;
  out->vector_case = QDRANT__VECTOR_OUTPUT__VECTOR_DENSE;
  out->dense = dense;
  return out;
}

grpc_status_code api_vectors_to_proto(api_call *call,
                                      const strata_record *record,
                                      const api_selection *selection,
                                      Qdrant__VectorsOutput **out) {
  *out = NULL;
  if (!(selection->with & STRATA_WITH_VECTORS) || record->vectors == NULL)
    return GRPC_STATUS_OK;
  Qdrant__VectorsOutput *vectors = API_NEW(&call->arena, Qdrant__VectorsOutput,
                                           QDRANT__VECTORS_OUTPUT__INIT);
  if (vectors == NULL)
    return api_fail(call, GRPC_STATUS_RESOURCE_EXHAUSTED, "out of memory");

  /* A point whose only vector is the unnamed one gets the single form. */
  if (record->n_vectors == 1 &&
      (record->vectors[0].name == NULL || record->vectors[0].name[0] == '\0') &&
      selection->vectors == NULL) {
    vectors->vectors_options_case =
        QDRANT__VECTORS_OUTPUT__VECTORS_OPTIONS_VECTOR;
    vectors->vector = vector_output(call, &record->vectors[0]);
    if (vectors->vector == NULL)
      return api_fail(call, GRPC_STATUS_RESOURCE_EXHAUSTED, "out of memory");
    *out = vectors;
    return GRPC_STATUS_OK;
  }

  Qdrant__NamedVectorsOutput *named =
      API_NEW(&call->arena, Qdrant__NamedVectorsOutput,
              QDRANT__NAMED_VECTORS_OUTPUT__INIT);
  Qdrant__NamedVectorsOutput__VectorsEntry **entries =
      api_alloc(&call->arena, (record->n_vectors + 1) * sizeof *entries);
  if (named == NULL || entries == NULL)
    return api_fail(call, GRPC_STATUS_RESOURCE_EXHAUSTED, "out of memory");
  for (size_t i = 0; i < record->n_vectors; i++) {
    const strata_named_vector *v = &record->vectors[i];
    const char *name = v->name ? v->name : "";
    if (!vector_selected(selection, name))
      continue;
    Qdrant__NamedVectorsOutput__VectorsEntry *entry =
        API_NEW(&call->arena, Qdrant__NamedVectorsOutput__VectorsEntry,
                QDRANT__NAMED_VECTORS_OUTPUT__VECTORS_ENTRY__INIT);
    if (entry == NULL)
      return api_fail(call, GRPC_STATUS_RESOURCE_EXHAUSTED, "out of memory");
    entry->key = api_strdup(&call->arena, name);
    entry->value = vector_output(call, v);
    if (entry->key == NULL || entry->value == NULL)
      return api_fail(call, GRPC_STATUS_RESOURCE_EXHAUSTED, "out of memory");
    entries[named->n_vectors++] = entry;
  }
  named->vectors = entries;
  vectors->vectors_options_case =
      QDRANT__VECTORS_OUTPUT__VECTORS_OPTIONS_VECTORS;
  vectors->vectors = named;
  *out = vectors;
  return GRPC_STATUS_OK;
}

/* Returns 1 when `score` passes the threshold: strictly better, which is
 * larger for similarities and smaller for distances. */
static int passes_threshold(float score, float threshold,
                            strata_distance distance) {
  if (distance == STRATA_DISTANCE_EUCLID ||
      distance == STRATA_DISTANCE_MANHATTAN)
    return score < threshold;
  return score > threshold;
}

static int same_id(const strata_point_id *a, const strata_point_id *b) {
  if (a->kind != b->kind)
    return 0;
  if (a->kind == STRATA_ID_NUM)
    return a->num == b->num;
  return memcmp(a->uuid, b->uuid, sizeof a->uuid) == 0;
}

grpc_status_code api_scored_points(api_call *call, const strata_records *hits,
                                   const api_selection *selection, size_t skip,
                                   size_t limit, const strata_point_id *exclude,
                                   const float *threshold,
                                   strata_distance distance,
                                   Qdrant__ScoredPoint ***out, size_t *n_out) {
  size_t cap = hits->count < limit ? hits->count : limit;
  Qdrant__ScoredPoint **points =
      api_alloc(&call->arena, (cap + 1) * sizeof *points);
  if (points == NULL)
    return api_fail(call, GRPC_STATUS_RESOURCE_EXHAUSTED, "out of memory");
  size_t n = 0;
  for (size_t i = 0; i < hits->count && n < cap; i++) {
    const strata_record *r = &hits->items[i];
    if (exclude != NULL && same_id(&r->id, exclude))
      continue;
    if (threshold != NULL && !passes_threshold(r->score, *threshold, distance))
      break; /* hits are sorted best first */
    if (skip > 0) {
      skip--;
      continue;
    }
    Qdrant__ScoredPoint *p =
        API_NEW(&call->arena, Qdrant__ScoredPoint, QDRANT__SCORED_POINT__INIT);
    if (p == NULL)
      return api_fail(call, GRPC_STATUS_RESOURCE_EXHAUSTED, "out of memory");
    p->id = api_id_to_proto(call, &r->id);
    if (p->id == NULL)
      return api_fail(call, GRPC_STATUS_RESOURCE_EXHAUSTED, "out of memory");
    p->score = r->score;
    grpc_status_code code = api_payload_from_json(
        call, r, selection, (Qdrant__Struct__FieldsEntry ***)&p->payload,
        &p->n_payload);
    if (code == GRPC_STATUS_OK)
      code = api_vectors_to_proto(call, r, selection, &p->vectors);
    if (code != GRPC_STATUS_OK)
      return code;
    points[n++] = p;
  }
  *out = points;
  *n_out = n;
  return GRPC_STATUS_OK;
}
