/*
 * JSON validation by recursive descent over a byte buffer, following the
 * grammar of RFC 8259.  Nothing is allocated while scanning.
 */
#include "json_scan.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct scanner {
  const char *text;
  size_t len;
  size_t pos;
  strata_json_error *error;
} scanner;

static int fail(scanner *s, size_t offset, const char *message) {
  s->error->offset = offset;
  snprintf(s->error->message, sizeof s->error->message, "%s", message);
  return -1;
}

static void skip_space(scanner *s) {
  while (s->pos < s->len) {
    char c = s->text[s->pos];
    if (c != ' ' && c != '\t' && c != '\n' && c != '\r')
      break;
    s->pos++;
  }
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

/* Reads the four hex digits after "\u" at s->pos. */
static int scan_hex4(scanner *s, unsigned *out) {
  unsigned value = 0;
  if (s->len - s->pos < 4)
    return fail(s, s->pos, "truncated \\u escape");
  for (int i = 0; i < 4; i++) {
    int digit = hex_value(s->text[s->pos + i]);
    if (digit < 0)
      return fail(s, s->pos + i, "invalid hex digit in \\u escape");
    value = value * 16 + (unsigned)digit;
  }
  s->pos += 4;
  *out = value;
  return 0;
}

/* Checks one UTF-8 sequence starting at s->pos and advances past it.
 * Rejects overlong forms, surrogates and code points above U+10FFFF. */
static int scan_utf8(scanner *s) {
  const unsigned char *p = (const unsigned char *)s->text + s->pos;
  size_t left = s->len - s->pos;
  size_t n;
  uint32_t cp;

  if (p[0] < 0x80) {
    s->pos++;
    return 0;
  } else if (p[0] >= 0xC2 && p[0] <= 0xDF) {
    n = 2;
    cp = p[0] & 0x1F;
  } else if (p[0] >= 0xE0 && p[0] <= 0xEF) {
    n = 3;
    cp = p[0] & 0x0F;
  } else if (p[0] >= 0xF0 && p[0] <= 0xF4) {
    n = 4;
    cp = p[0] & 0x07;
  } else {
    return fail(s, s->pos, "invalid UTF-8 byte");
  }
  if (left < n)
    return fail(s, s->pos, "truncated UTF-8 sequence");
  for (size_t i = 1; i < n; i++) {
    if ((p[i] & 0xC0) != 0x80)
      return fail(s, s->pos + i, "invalid UTF-8 continuation byte");
    cp = (cp << 6) | (p[i] & 0x3F);
  }
  if ((n == 3 && cp < 0x800) || (n == 4 && cp < 0x10000) || cp > 0x10FFFF)
    return fail(s, s->pos, "overlong or out-of-range UTF-8 sequence");
  if (cp >= 0xD800 && cp <= 0xDFFF)
    return fail(s, s->pos, "UTF-8 encoded surrogate");
  s->pos += n;
  return 0;
}

static int scan_string(scanner *s) {
  s->pos++; /* opening quote */
  while (s->pos < s->len) {
    unsigned char c = (unsigned char)s->text[s->pos];
    if (c == '"') {
      s->pos++;
      return 0;
    }
    if (c < 0x20)
      return fail(s, s->pos, "unescaped control character in string");
    if (c != '\\') {
      if (scan_utf8(s) < 0)
        return -1;
      continue;
    }

    /* An escape sequence. */
    s->pos++;
    if (s->pos >= s->len)
      break;
    c = (unsigned char)s->text[s->pos++];
    if (strchr("\"\\/bfnrt", c) != NULL && c != '\0')
      continue;
    if (c != 'u')
      return fail(s, s->pos - 1, "invalid escape in string");
    unsigned unit;
    if (scan_hex4(s, &unit) < 0)
      return -1;
    if (unit >= 0xDC00 && unit <= 0xDFFF)
      return fail(s, s->pos - 6, "\\u escape is a lone low surrogate");
    if (unit >= 0xD800 && unit <= 0xDBFF) {
      unsigned low;
      if (s->len - s->pos < 2 || s->text[s->pos] != '\\' ||
          s->text[s->pos + 1] != 'u')
        return fail(s, s->pos - 6, "high surrogate without a low surrogate");
      s->pos += 2;
      if (scan_hex4(s, &low) < 0)
        return -1;
      if (low < 0xDC00 || low > 0xDFFF)
        return fail(s, s->pos - 6, "high surrogate without a low surrogate");
    }
  }
  return fail(s, s->len, "unterminated string");
}

static int scan_digits(scanner *s) {
  size_t start = s->pos;
  while (s->pos < s->len && s->text[s->pos] >= '0' && s->text[s->pos] <= '9')
    s->pos++;
  if (s->pos == start)
    return fail(s, s->pos, "expected a digit");
  return 0;
}

static int scan_number(scanner *s) {
  if (s->text[s->pos] == '-')
    s->pos++;
  if (s->pos < s->len && s->text[s->pos] == '0') {
    s->pos++;
  } else if (scan_digits(s) < 0) {
    return -1;
  }
  if (s->pos < s->len && s->text[s->pos] == '.') {
    s->pos++;
    if (scan_digits(s) < 0)
      return -1;
  }
  if (s->pos < s->len && (s->text[s->pos] == 'e' || s->text[s->pos] == 'E')) {
    s->pos++;
    if (s->pos < s->len && (s->text[s->pos] == '+' || s->text[s->pos] == '-'))
      s->pos++;
    if (scan_digits(s) < 0)
      return -1;
  }
  return 0;
}

static int scan_literal(scanner *s, const char *word) {
  size_t n = strlen(word);
  if (s->len - s->pos < n || memcmp(s->text + s->pos, word, n) != 0)
    return fail(s, s->pos, "invalid literal");
  s->pos += n;
  return 0;
}

static int scan_value(scanner *s, int depth, strata_json_span *out);

static int scan_container(scanner *s, int depth, int is_object) {
  char close = is_object ? '}' : ']';

  if (depth >= STRATA_JSON_MAX_DEPTH)
    return fail(s, s->pos, "nesting deeper than 512 levels");
  s->pos++;
  skip_space(s);
  if (s->pos < s->len && s->text[s->pos] == close) {
    s->pos++;
    return 0;
  }
  for (;;) {
    strata_json_span item;
    if (is_object) {
      skip_space(s);
      if (s->pos >= s->len || s->text[s->pos] != '"')
        return fail(s, s->pos, "expected a string as object key");
      if (scan_string(s) < 0)
        return -1;
      skip_space(s);
      if (s->pos >= s->len || s->text[s->pos] != ':')
        return fail(s, s->pos, "expected ':' after object key");
      s->pos++;
    }
    if (scan_value(s, depth + 1, &item) < 0)
      return -1;
    skip_space(s);
    if (s->pos >= s->len)
      return fail(s, s->pos, is_object ? "unterminated object"
                                       : "unterminated array");
    if (s->text[s->pos] == close) {
      s->pos++;
      return 0;
    }
    if (s->text[s->pos] != ',')
      return fail(s, s->pos, is_object ? "expected ',' or '}' in object"
                                       : "expected ',' or ']' in array");
    s->pos++;
  }
}

static int scan_value(scanner *s, int depth, strata_json_span *out) {
  int rc;

  skip_space(s);
  if (s->pos >= s->len)
    return fail(s, s->pos, "expected a JSON value, found end of input");
  out->start = s->pos;
  switch (s->text[s->pos]) {
  case '{':
    out->type = STRATA_JSON_OBJECT;
    rc = scan_container(s, depth, 1);
    break;
  case '[':
    out->type = STRATA_JSON_ARRAY;
    rc = scan_container(s, depth, 0);
    break;
  case '"':
    out->type = STRATA_JSON_STRING;
    rc = scan_string(s);
    break;
  case 't':
    out->type = STRATA_JSON_TRUE;
    rc = scan_literal(s, "true");
    break;
  case 'f':
    out->type = STRATA_JSON_FALSE;
    rc = scan_literal(s, "false");
    break;
  case 'n':
    out->type = STRATA_JSON_NULL;
    rc = scan_literal(s, "null");
    break;
  default:
    if (s->text[s->pos] != '-' &&
        (s->text[s->pos] < '0' || s->text[s->pos] > '9'))
      return fail(s, s->pos, "unexpected character");
    out->type = STRATA_JSON_NUMBER;
    rc = scan_number(s);
    break;
  }
  out->end = s->pos;
  return rc;
}

int strata_json_scan(const char *text, size_t len, strata_json_span *value,
                     strata_json_error *error) {
  scanner s = {text, len, 0, error};

  if (scan_value(&s, 0, value) < 0)
    return -1;
  skip_space(&s);
  if (s.pos != len)
    return fail(&s, s.pos, "unexpected text after the JSON value");
  return 0;
}

int strata_json_object_foreach(const char *text,
                               const strata_json_span *object,
                               strata_json_member_fn visit, void *context) {
  strata_json_error ignored;
  scanner s = {text, object->end, object->start + 1, &ignored};

  for (;;) {
    strata_json_span key, value;
    skip_space(&s);
    if (s.text[s.pos] == '}')
      return 0;
    key.start = s.pos;
    key.type = STRATA_JSON_STRING;
    scan_string(&s);
    key.end = s.pos;
    skip_space(&s);
    s.pos++; /* ':' */
    scan_value(&s, 0, &value);
    int rc = visit(text, &key, &value, context);
    if (rc != 0)
      return rc;
    skip_space(&s);
    if (s.text[s.pos] == ',')
      s.pos++;
  }
}

int strata_json_array_foreach(const char *text, const strata_json_span *array,
                              strata_json_element_fn visit, void *context) {
  strata_json_error ignored;
  scanner s = {text, array->end, array->start + 1, &ignored};

  for (size_t index = 0;; index++) {
    strata_json_span value;
    skip_space(&s);
    if (s.text[s.pos] == ']')
      return 0;
    scan_value(&s, 0, &value);
    int rc = visit(text, index, &value, context);
    if (rc != 0)
      return rc;
    skip_space(&s);
    if (s.text[s.pos] == ',')
      s.pos++;
  }
}

/* Appends code point cp to out as UTF-8 and returns the bytes written. */
static size_t put_utf8(char *out, uint32_t cp) {
  if (cp < 0x80) {
    out[0] = (char)cp;
    return 1;
  }
  if (cp < 0x800) {
    out[0] = (char)(0xC0 | (cp >> 6));
    out[1] = (char)(0x80 | (cp & 0x3F));
    return 2;
  }
  if (cp < 0x10000) {
    out[0] = (char)(0xE0 | (cp >> 12));
    out[1] = (char)(0x80 | ((cp >> 6) & 0x3F));
    out[2] = (char)(0x80 | (cp & 0x3F));
    return 3;
  }
  out[0] = (char)(0xF0 | (cp >> 18));
  out[1] = (char)(0x80 | ((cp >> 12) & 0x3F));
  out[2] = (char)(0x80 | ((cp >> 6) & 0x3F));
  out[3] = (char)(0x80 | (cp & 0x3F));
  return 4;
}

static uint32_t read_hex4(const char *p) {
  uint32_t value = 0;
  for (int i = 0; i < 4; i++)
    value = value * 16 + (uint32_t)hex_value(p[i]);
  return value;
}

char *strata_json_string_decode(const char *text,
                                const strata_json_span *string, size_t *len) {
  /* Decoding never grows the text: "\uXXXX" (6 bytes) becomes at most 3,
   * and a surrogate pair (12 bytes) becomes 4. */
  size_t raw = string->end - string->start;
  char *out = malloc(raw + 1);
  size_t n = 0;

  if (out == NULL)
    return NULL;
  for (size_t i = string->start + 1; i + 1 < string->end; i++) {
    char c = text[i];
    if (c != '\\') {
      out[n++] = c;
      continue;
    }
    c = text[++i];
    switch (c) {
    case 'b': out[n++] = '\b'; break;
    case 'f': out[n++] = '\f'; break;
    case 'n': out[n++] = '\n'; break;
    case 'r': out[n++] = '\r'; break;
    case 't': out[n++] = '\t'; break;
    case 'u': {
      uint32_t cp = read_hex4(text + i + 1);
      i += 4;
      if (cp >= 0xD800 && cp <= 0xDBFF) {
        uint32_t low = read_hex4(text + i + 3);
        cp = 0x10000 + ((cp - 0xD800) << 10) + (low - 0xDC00);
        i += 6;
      }
      n += put_utf8(out + n, cp);
      break;
    }
    default: out[n++] = c; break; /* '"', '\\' and '/' */
    }
  }
  out[n] = '\0';
  *len = n;
  return out;
}

int strata_json_key_equals(const char *text, const strata_json_span *key,
                           const char *name) {
  size_t raw = key->end - key->start - 2;
  const char *body = text + key->start + 1;

  if (memchr(body, '\\', raw) == NULL)
    return raw == strlen(name) && memcmp(body, name, raw) == 0;

  size_t len;
  char *decoded = strata_json_string_decode(text, key, &len);
  int equal = decoded != NULL && len == strlen(name) &&
              memcmp(decoded, name, len) == 0;
  free(decoded);
  return equal;
}

const char *strata_json_type_name(strata_json_type type) {
  switch (type) {
  case STRATA_JSON_OBJECT: return "object";
  case STRATA_JSON_ARRAY: return "array";
  case STRATA_JSON_STRING: return "string";
  case STRATA_JSON_NUMBER: return "number";
  case STRATA_JSON_TRUE: return "true";
  case STRATA_JSON_FALSE: return "false";
  case STRATA_JSON_NULL: return "null";
  }
  return "unknown";
}
