/* Point ids: parsing and formatting of u64 numbers and UUIDs. */
#include <ctype.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "status.h"

strata_point_id strata_id_num(uint64_t num) {
  strata_point_id id;
  memset(&id, 0, sizeof id);
  id.kind = STRATA_ID_NUM;
  id.num = num;
  return id;
}

static int hex_value(char c) {
  if (c >= '0' && c <= '9')
    return c - '0';
  if (c >= 'a' && c <= 'f')
    return c - 'a' + 10;
  if (c >= 'A' && c <= 'F')
    return c - 'A' + 10;
  return -1;
}

/* Parses 32 hex digits, with hyphens after digits 8, 12, 16 and 20 when
 * `hyphenated`; the whole of [text, text+len) must be consumed. */
static int parse_uuid_body(const char *text, size_t len, int hyphenated,
                           uint8_t out[16]) {
  static const size_t hyphen_at[] = {8, 13, 18, 23};
  size_t expected = hyphenated ? 36 : 32;
  if (len != expected)
    return -1;
  int digit = 0;
  for (size_t i = 0; i < len; i++) {
    if (hyphenated) {
      int is_hyphen_position = 0;
      for (size_t h = 0; h < 4; h++)
        is_hyphen_position |= (i == hyphen_at[h]);
      if (is_hyphen_position) {
        if (text[i] != '-')
          return -1;
        continue;
      }
    }
    int v = hex_value(text[i]);
    if (v < 0)
      return -1;
    if (digit % 2 == 0)
      out[digit / 2] = (uint8_t)(v << 4);
    else
      out[digit / 2] |= (uint8_t)v;
    digit++;
  }
  return digit == 32 ? 0 : -1;
}

static strata_status parse_number(const char *text, strata_point_id *out) {
  uint64_t value = 0;
  for (const char *p = text; *p; p++) {
    if (!isdigit((unsigned char)*p))
      return strata_fail(STRATA_ERR_INVALID_ARGUMENT,
                         "invalid point id \"%s\": expected an unsigned "
                         "64-bit integer or a UUID",
                         text);
    unsigned d = (unsigned)(*p - '0');
    if (value > (UINT64_MAX - d) / 10)
      return strata_fail(STRATA_ERR_INVALID_ARGUMENT,
                         "point id %s is too large: integer ids must be at "
                         "most 18446744073709551615; use a UUID instead",
                         text);
    value = value * 10 + d;
  }
  *out = strata_id_num(value);
  return STRATA_OK;
}

strata_status strata_id_parse(const char *text, strata_point_id *out) {
  strata_clear_error();
  if (!text || !*text)
    return strata_fail(STRATA_ERR_INVALID_ARGUMENT,
                       "point id is empty: expected an unsigned 64-bit "
                       "integer or a UUID");
  if (text[0] == '-')
    return strata_fail(STRATA_ERR_INVALID_ARGUMENT,
                       "point id %s is negative: integer ids are unsigned "
                       "(0 to 18446744073709551615)",
                       text);
  size_t len = strlen(text);
  int all_digits = 1;
  for (size_t i = 0; i < len && all_digits; i++)
    all_digits = isdigit((unsigned char)text[i]) != 0;
  if (all_digits && len != 32)
    return parse_number(text, out);

  const char *body = text;
  size_t body_len = len;
  if (len > 9 && strncasecmp(text, "urn:uuid:", 9) == 0) {
    body += 9;
    body_len -= 9;
  } else if (len >= 2 && text[0] == '{' && text[len - 1] == '}') {
    body += 1;
    body_len -= 2;
  }
  strata_point_id id;
  memset(&id, 0, sizeof id);
  id.kind = STRATA_ID_UUID;
  int hyphenated = body_len == 36;
  if (parse_uuid_body(body, body_len, hyphenated, id.uuid) != 0)
    return strata_fail(STRATA_ERR_INVALID_ARGUMENT,
                       "invalid point id \"%s\": not an unsigned integer and "
                       "not a UUID (expected e.g. "
                       "\"5c56c793-69f3-4fbf-87e6-c4bf54c28c26\")",
                       text);
  *out = id;
  return STRATA_OK;
}

char *strata_id_format(const strata_point_id *id, char *buf) {
  if (id->kind == STRATA_ID_NUM) {
    snprintf(buf, STRATA_ID_STRLEN, "%llu", (unsigned long long)id->num);
    return buf;
  }
  static const char digits[] = "0123456789abcdef";
  char *p = buf;
  for (int i = 0; i < 16; i++) {
    if (i == 4 || i == 6 || i == 8 || i == 10)
      *p++ = '-';
    *p++ = digits[id->uuid[i] >> 4];
    *p++ = digits[id->uuid[i] & 15];
  }
  *p = '\0';
  return buf;
}
