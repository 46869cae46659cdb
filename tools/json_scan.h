/*
 * A validating JSON scanner that reports where values are in the text
 * instead of building a tree.
 *
 * The importer needs the exact bytes of a payload object: parsing it with
 * jansson and dumping it again would round integers above 2^53 and
 * reorder or reformat members.  This scanner checks RFC 8259 syntax,
 * UTF-8 validity and \u surrogate pairs, and returns byte spans.
 */
#ifndef STRATA_TOOLS_JSON_SCAN_H
#define STRATA_TOOLS_JSON_SCAN_H

#include <stddef.h>

/* Maximum nesting of arrays and objects; deeper input is rejected so that
 * the recursive scanner cannot exhaust the stack. */
#define STRATA_JSON_MAX_DEPTH 512

typedef enum strata_json_type {
  STRATA_JSON_OBJECT,
  STRATA_JSON_ARRAY,
  STRATA_JSON_STRING,
  STRATA_JSON_NUMBER,
  STRATA_JSON_TRUE,
  STRATA_JSON_FALSE,
  STRATA_JSON_NULL
} strata_json_type;

/* A value's bytes: text[start, end). */
typedef struct strata_json_span {
  size_t start;
  size_t end;
  strata_json_type type;
} strata_json_span;

/* Where and why scanning failed. */
typedef struct strata_json_error {
  size_t offset; /* byte offset into the scanned text */
  char message[96];
} strata_json_error;

/* Validates exactly one JSON value in text[0, len), surrounded by optional
 * whitespace.  Returns 0 and sets *value, or -1 and fills *error. */
int strata_json_scan(const char *text, size_t len, strata_json_span *value,
                     strata_json_error *error);

/* Calls `visit` for each member of a validated object span, in order,
 * with the key span (quotes included) and the value span.  Stops and
 * returns the visitor's value when it is nonzero; returns 0 otherwise.
 * The object must come from strata_json_scan: no checks are repeated. */
typedef int (*strata_json_member_fn)(const char *text,
                                     const strata_json_span *key,
                                     const strata_json_span *value,
                                     void *context);
int strata_json_object_foreach(const char *text,
                               const strata_json_span *object,
                               strata_json_member_fn visit, void *context);

/* Calls `visit` for each element of a validated array span, in order,
 * with its index, and stops like strata_json_object_foreach. */
typedef int (*strata_json_element_fn)(const char *text, size_t index,
                                      const strata_json_span *value,
                                      void *context);
int strata_json_array_foreach(const char *text, const strata_json_span *array,
                              strata_json_element_fn visit, void *context);

/* Returns nonzero when the key span (quotes included) decodes to the
 * NUL-terminated string `name`.  Keys with escapes are decoded first. */
int strata_json_key_equals(const char *text, const strata_json_span *key,
                           const char *name);

/* Decodes a validated string span into a new NUL-terminated UTF-8 buffer
 * that the caller frees.  Sets *len to its length, which may be less than
 * strlen when the string contains \u0000.  Returns NULL when out of
 * memory. */
char *strata_json_string_decode(const char *text,
                                const strata_json_span *string, size_t *len);

/* Returns the name of a JSON type ("object", "number", ...). */
const char *strata_json_type_name(strata_json_type type);

#endif
