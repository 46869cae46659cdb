/*
 * Exact round trips of payload text through jansson, for the payload
 * updates that rewrite a stored payload (set, delete keys).
 *
 * jansson holds integers as int64, so a payload integer beyond that range
 * cannot be parsed as a number without losing digits.  On load, each such
 * literal becomes a JSON string made of a NUL character followed by the
 * literal's text; on dump, each such string becomes the bare literal
 * again.  Stored payloads never contain a NUL character (upsert parses
 * them without JSON_ALLOW_NUL, which rejects "\u0000"), so the marker
 * cannot collide with a real string.
 */
#include <jansson.h>
#include <stdlib.h>
#include <string.h>

#include "payload_text.h"
#include "status.h"

/* Returns nonzero when the integer literal text[0..n) is outside int64.
 * JSON has no leading zeros, so more than 19 digits always overflow. */
static int beyond_int64(const char *text, size_t n) {
  int negative = text[0] == '-';
  size_t digits = n - (size_t)negative;
  if (digits != 19)
    return digits > 19;
  const char *limit = negative ? "9223372036854775808" : "9223372036854775807";
  return memcmp(text + negative, limit, 19) > 0;
}

strata_status strata_payload_load_exact(const char *text, size_t len,
                                        json_t **out) {
  /* Each literal grows by at most 9 bytes: the quotes and "\u0000". */
  char *marked = malloc(len * 10 + 1);
  if (!marked)
    return strata_fail(STRATA_ERR_NO_MEMORY, "out of memory");
  size_t o = 0, i = 0;
  while (i < len) {
    char ch = text[i];
    if (ch == '"') {
      marked[o++] = text[i++];
      while (i < len && text[i] != '"') {
        if (text[i] == '\\' && i + 1 < len)
          marked[o++] = text[i++];
        marked[o++] = text[i++];
      }
      if (i < len)
        marked[o++] = text[i++];
      continue;
    }
    if (ch == '-' || (ch >= '0' && ch <= '9')) {
      size_t start = i;
      i += ch == '-';
      while (i < len && text[i] >= '0' && text[i] <= '9')
        i++;
      int is_integer = !(i < len && strchr(".eE", text[i]));
      if (is_integer && beyond_int64(text + start, i - start)) {
        memcpy(marked + o, "\"\\u0000", 7);
        o += 7;
        memcpy(marked + o, text + start, i - start);
        o += i - start;
        marked[o++] = '"';
      } else {
        memcpy(marked + o, text + start, i - start);
        o += i - start;
      }
      continue;
    }
    marked[o++] = text[i++];
  }
  json_error_t err;
  *out = json_loadb(marked, o, JSON_ALLOW_NUL, &err);
  free(marked);
  if (!*out)
    return strata_fail(STRATA_ERR_INVALID_ARGUMENT,
                       "invalid payload JSON at line %d column %d: %s",
                       err.line, err.column, err.text);
  return STRATA_OK;
}

char *strata_payload_dump_exact(const json_t *payload, size_t *len) {
  char *text = json_dumps(payload, JSON_COMPACT);
  if (!text)
    return NULL;
  /* Unwrap every "\u0000<literal>" string in place; the result is never
   * longer than the input. */
  static const char marker[] = "\"\\u0000";
  size_t n = strlen(text), o = 0, i = 0;
  while (i < n) {
    if (text[i] == '"' && strncmp(text + i, marker, 7) == 0) {
      i += 7;
      while (i < n && text[i] != '"')
        text[o++] = text[i++];
      i++; /* the closing quote */
      continue;
    }
    if (text[i] == '"') {
      /* Copy an ordinary string whole, escapes included. */
      text[o++] = text[i++];
      while (i < n && text[i] != '"') {
        if (text[i] == '\\' && i + 1 < n)
          text[o++] = text[i++];
        text[o++] = text[i++];
      }
      if (i < n)
        text[o++] = text[i++];
      continue;
    }
    text[o++] = text[i++];
  }
  text[o] = '\0';
  *len = o;
  return text;
}
