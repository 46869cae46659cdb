/*
 * JSON lines: the point reader and the payload line reader.
 *
 * Each line is validated with json_scan, which also gives the byte span
 * of every member.  Payloads are copied from the line as they are, never
 * re-serialised, so large integers and member order survive the import.
 */
#include "reader_internal.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "json_scan.h"

/* Blank lines (only spaces, tabs or a '\r') are skipped in point files. */
static int is_blank(const char *line, size_t len) {
  for (size_t i = 0; i < len; i++)
    if (line[i] != ' ' && line[i] != '\t' && line[i] != '\r')
      return 0;
  return 1;
}

/* Scans a line as one JSON object.  Returns 0 or -1 with the source
 * error naming the line and column. */
static int scan_object_line(source *src, const char *line, size_t len,
                            strata_json_span *object) {
  strata_json_error error;

  if (strata_json_scan(line, len, object, &error) < 0)
    return source_fail_line(src, src->line, "invalid JSON at column %zu: %s",
                            error.offset + 1, error.message);
  if (object->type != STRATA_JSON_OBJECT)
    return source_fail_line(src, src->line,
                            "expected a JSON object, found %s",
                            strata_json_type_name(object->type));
  return 0;
}

/* ------------------------------------------------------------------ */
/* Point ids                                                            */

static int hex_digit(char c) {
  if (c >= '0' && c <= '9')
    return c - '0';
  if (c >= 'a' && c <= 'f')
    return c - 'a' + 10;
  if (c >= 'A' && c <= 'F')
    return c - 'A' + 10;
  return -1;
}

/* Parses a UUID as hyphenated 8-4-4-4-12 hex digits, 32 plain hex digits,
 * either in braces, or with a "urn:uuid:" prefix; any case. */
static int parse_uuid(const char *text, size_t len, uint8_t out[16]) {
  if (len >= 9 && strncasecmp(text, "urn:uuid:", 9) == 0) {
    text += 9;
    len -= 9;
  } else if (len >= 2 && text[0] == '{' && text[len - 1] == '}') {
    text++;
    len -= 2;
  }
  int hyphenated = len == 36;
  if (len != 32 && !hyphenated)
    return -1;

  size_t nibble = 0;
  for (size_t i = 0; i < len; i++) {
    if (hyphenated && (i == 8 || i == 13 || i == 18 || i == 23)) {
      if (text[i] != '-')
        return -1;
      continue;
    }
    int digit = hex_digit(text[i]);
    if (digit < 0)
      return -1;
    if (nibble % 2 == 0)
      out[nibble / 2] = (uint8_t)(digit << 4);
    else
      out[nibble / 2] |= (uint8_t)digit;
    nibble++;
  }
  return 0;
}

static int parse_id(source *src, const char *line, const strata_json_span *v,
                    strata_point_id *id) {
  memset(id, 0, sizeof *id);
  if (v->type == STRATA_JSON_STRING) {
    size_t len;
    char *text = strata_json_string_decode(line, v, &len);
    if (text == NULL)
      return source_fail_line(src, src->line, "out of memory");
    int bad = parse_uuid(text, len, id->uuid) < 0;
    if (bad)
      source_fail_line(src, src->line, "invalid UUID id \"%.60s\": expected "
                       "36 characters like "
                       "550e8400-e29b-41d4-a716-446655440000", text);
    free(text);
    id->kind = STRATA_ID_UUID;
    return bad ? -1 : 0;
  }
  if (v->type != STRATA_JSON_NUMBER)
    return source_fail_line(src, src->line, "\"id\" must be a non-negative "
                            "integer or a UUID string, found %s",
                            strata_json_type_name(v->type));

  const char *digits = line + v->start;
  size_t len = v->end - v->start;
  if (digits[0] == '-')
    return source_fail_line(src, src->line, "negative id %.*s: ids are 0 to "
                            "2^64-1 or UUIDs", (int)len, digits);
  uint64_t value = 0;
  for (size_t i = 0; i < len; i++) {
    if (digits[i] < '0' || digits[i] > '9')
      return source_fail_line(src, src->line, "id %.*s is not an integer",
                              (int)len, digits);
    unsigned d = (unsigned)(digits[i] - '0');
    if (value > (UINT64_MAX - d) / 10)
      return source_fail_line(src, src->line, "id %.*s exceeds 2^64-1",
                              (int)len, digits);
    value = value * 10 + d;
  }
  id->kind = STRATA_ID_NUM;
  id->num = value;
  return 0;
}

/* ------------------------------------------------------------------ */
/* Vectors                                                              */

typedef struct vector_parse {
  source *src;
  strata_batch *batch;
  float *values; /* dim floats reserved in the batch */
  const char *name;
} vector_parse;

static int parse_component(const char *line, size_t index,
                           const strata_json_span *v, void *context) {
  vector_parse *parse = context;

  if (v->type != STRATA_JSON_NUMBER)
    return source_fail_line(parse->src, parse->src->line,
                            "vector \"%s\" component %zu is %s, expected a "
                            "number", parse->name, index,
                            strata_json_type_name(v->type));

  /* The span is a valid JSON number, which strtod parses fully. */
  double value = strtod(line + v->start, NULL);
  float f = (float)value;
  if (!isfinite(f))
    return source_fail_line(parse->src, parse->src->line,
                            "vector \"%s\" component %zu (%.*s) is outside "
                            "the float32 range", parse->name, index,
                            (int)(v->end - v->start), line + v->start);
  parse->values[index] = f;
  return 0;
}

static int count_element(const char *line, size_t index,
                         const strata_json_span *v, void *context) {
  (void)line;
  (void)index;
  (void)v;
  ++*(size_t *)context;
  return 0;
}

/* Appends one named vector of the current row to the batch. */
static int push_vector(strata_reader *reader, strata_batch *batch,
                       const char *line, const char *name,
                       const strata_json_span *array) {
  source *src = &reader->src;
  size_t dim = 0;

  if (array->type != STRATA_JSON_ARRAY)
    return source_fail_line(src, src->line, "vector \"%s\" must be an array "
                            "of numbers, found %s", name,
                            strata_json_type_name(array->type));
  strata_json_array_foreach(line, array, count_element, &dim);
  if (dim == 0 || dim > STRATA_MAX_DIM)
    return source_fail_line(src, src->line, "vector \"%s\" has dim %zu, "
                            "expected 1..%d", name, dim, STRATA_MAX_DIM);

  long index = reader_vector_index(reader, name, (uint32_t)dim);
  if (index < 0)
    return source_fail_line(src, src->line, "out of memory");
  if (reader->dims[index] != dim)
    return source_fail_line(src, src->line, "vector \"%s\" has dim %zu, "
                            "expected %u as in the first row that has it",
                            name, dim, reader->dims[index]);

  strata_batch_vector *vector = batch_push_vector(batch);
  float *values = vector != NULL ? batch_push_values(batch, dim) : NULL;
  if (values == NULL)
    return source_fail_line(src, src->line, "out of memory");
  vector->name = (size_t)index;
  vector->dim = (uint32_t)dim;
  vector->offset = batch->n_values - dim;

  vector_parse parse = {src, batch, values, name};
  return strata_json_array_foreach(line, array, parse_component, &parse);
}

typedef struct named_vectors {
  strata_reader *reader;
  strata_batch *batch;
} named_vectors;

static int push_named_vector(const char *line, const strata_json_span *key,
                             const strata_json_span *value, void *context) {
  named_vectors *named = context;
  size_t len;
  char *name = strata_json_string_decode(line, key, &len);

  if (name == NULL)
    return source_fail_line(&named->reader->src, named->reader->src.line,
                            "out of memory");
  int rc;
  if (len == 0 || len > STRATA_MAX_VECTOR_NAME || strlen(name) != len)
    rc = source_fail_line(&named->reader->src, named->reader->src.line,
                          "vector name \"%.60s\" must be 1 to %d bytes "
                          "without NUL", name, STRATA_MAX_VECTOR_NAME);
  else
    rc = push_vector(named->reader, named->batch, line, name, value);
  free(name);
  return rc;
}

/* ------------------------------------------------------------------ */
/* Rows                                                                 */

typedef struct row_members {
  source *src;
  strata_json_span id, vector, payload;
  int has_id, has_vector, has_payload;
} row_members;

static int collect_member(const char *line, const strata_json_span *key,
                          const strata_json_span *value, void *context) {
  row_members *row = context;
  strata_json_span *slot;
  int *seen;
  const char *name;

  if (strata_json_key_equals(line, key, "id")) {
    slot = &row->id, seen = &row->has_id, name = "id";
  } else if (strata_json_key_equals(line, key, "vector")) {
    slot = &row->vector, seen = &row->has_vector, name = "vector";
  } else if (strata_json_key_equals(line, key, "payload")) {
    slot = &row->payload, seen = &row->has_payload, name = "payload";
  } else {
    return source_fail_line(row->src, row->src->line,
                            "unknown key %.*s (expected \"id\", \"vector\" "
                            "and optionally \"payload\")",
                            (int)(key->end - key->start), line + key->start);
  }
  if (*seen)
    return source_fail_line(row->src, row->src->line, "duplicate \"%s\"",
                            name);
  *slot = *value;
  *seen = 1;
  return 0;
}

static int parse_row(strata_reader *reader, strata_batch *batch,
                     const char *line, size_t len) {
  source *src = &reader->src;
  strata_json_span object;
  row_members members = {.src = src};

  if (scan_object_line(src, line, len, &object) < 0)
    return -1;
  if (strata_json_object_foreach(line, &object, collect_member, &members))
    return -1;
  if (!members.has_id)
    return source_fail_line(src, src->line, "missing \"id\"");
  if (!members.has_vector)
    return source_fail_line(src, src->line, "missing \"vector\"");

  strata_batch_row *row = &batch->rows[batch->count];
  memset(row, 0, sizeof *row);
  row->line = src->line;
  row->has_id = 1;
  if (parse_id(src, line, &members.id, &row->id) < 0)
    return -1;

  row->first_vector = batch->n_vectors;
  if (members.vector.type == STRATA_JSON_OBJECT) {
    named_vectors named = {reader, batch};
    if (strata_json_object_foreach(line, &members.vector, push_named_vector,
                                   &named))
      return -1;
  } else if (push_vector(reader, batch, line, "", &members.vector) < 0) {
    return -1;
  }
  row->n_vectors = batch->n_vectors - row->first_vector;
  if (row->n_vectors == 0)
    return source_fail_line(src, src->line, "\"vector\" is an empty object");

  if (members.has_payload && members.payload.type != STRATA_JSON_NULL) {
    if (members.payload.type != STRATA_JSON_OBJECT)
      return source_fail_line(src, src->line, "\"payload\" must be an "
                              "object, found %s",
                              strata_json_type_name(members.payload.type));
    row->payload_offset = batch->text_len;
    row->payload_len = members.payload.end - members.payload.start;
    if (batch_push_text(batch, line + members.payload.start,
                        row->payload_len) < 0)
      return source_fail_line(src, src->line, "out of memory");
  }
  batch->count++;
  reader->rows_read++;
  return 0;
}

int jsonl_next(strata_reader *reader, size_t max_rows, strata_batch *batch) {
  while (batch->count < max_rows) {
    char *line;
    size_t len;
    int rc = source_getline(&reader->src, &line, &len);
    if (rc < 0)
      return -1;
    if (rc == 0)
      break;
    if (is_blank(line, len))
      continue;
    if (parse_row(reader, batch, line, len) < 0)
      return -1;
  }
  return 0;
}

/* ------------------------------------------------------------------ */
/* Payload lines                                                        */

struct strata_lines {
  source src;
};

int strata_lines_open(const char *path, strata_lines **out, char *error) {
  strata_lines *lines = calloc(1, sizeof *lines);

  if (lines == NULL) {
    snprintf(error, STRATA_READER_ERROR_MAX, "%s: out of memory", path);
    return -1;
  }
  if (source_open(&lines->src, path) < 0) {
    snprintf(error, STRATA_READER_ERROR_MAX, "%s", lines->src.error);
    strata_lines_close(lines);
    return -1;
  }
  *out = lines;
  return 0;
}

int strata_lines_next(strata_lines *lines, const char **object,
                      size_t *len) {
  char *line;
  size_t line_len;
  strata_json_span span;

  int rc = source_getline(&lines->src, &line, &line_len);
  if (rc <= 0)
    return rc;
  if (is_blank(line, line_len))
    return source_fail_line(&lines->src, lines->src.line,
                            "empty line, expected a JSON object");
  if (scan_object_line(&lines->src, line, line_len, &span) < 0)
    return -1;
  *object = line + span.start;
  *len = span.end - span.start;
  return 1;
}

const char *strata_lines_error(const strata_lines *lines) {
  return lines->src.error;
}

uint64_t strata_lines_number(const strata_lines *lines) {
  return lines->src.line;
}

void strata_lines_close(strata_lines *lines) {
  if (lines == NULL)
    return;
  source_close(&lines->src);
  free(lines);
}
