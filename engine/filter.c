/* Filter trees: key paths, datetimes, the builders and freeing. */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "filter.h"
#include "status.h"

/* ------------------------------------------------------------------ */
/* Key paths                                                            */

static int key_needs_quotes(const char *key) {
  return strpbrk(key, ".[]") != NULL || key[0] == '\0';
}

/* Builds path->text from the segments. */
static int path_set_text(strata_path *path) {
  size_t len = 1;
  for (size_t i = 0; i < path->n_segments; i++)
    len += path->segments[i].kind == STRATA_PATH_KEY
               ? strlen(path->segments[i].key) + 3
               : 13;
  char *text = malloc(len), *p = text;
  if (!text)
    return -1;
  for (size_t i = 0; i < path->n_segments; i++) {
    const strata_path_segment *s = &path->segments[i];
    if (s->kind == STRATA_PATH_KEY) {
      if (i > 0)
        *p++ = '.';
      if (key_needs_quotes(s->key))
        p += sprintf(p, "\"%s\"", s->key);
      else
        p += sprintf(p, "%s", s->key);
    } else if (s->kind == STRATA_PATH_ALL) {
      p += sprintf(p, "[]");
    } else {
      p += sprintf(p, "[%u]", s->index);
    }
  }
  *p = '\0';
  path->text = text;
  return 0;
}

void strata_path_free(strata_path *path) {
  if (!path)
    return;
  for (size_t i = 0; i < path->n_segments; i++)
    free((char *)path->segments[i].key);
  free(path->segments);
  free(path->text);
  memset(path, 0, sizeof *path);
}

static strata_status path_push(strata_path *path, strata_path_segment_kind kind,
                               const char *key, size_t key_len,
                               uint32_t index) {
  strata_path_segment *grown =
      realloc(path->segments, (path->n_segments + 1) * sizeof *path->segments);
  if (!grown)
    return strata_fail(STRATA_ERR_NO_MEMORY, "out of memory");
  path->segments = grown;
  strata_path_segment *s = &grown[path->n_segments];
  s->kind = kind;
  s->index = index;
  s->key = NULL;
  if (kind == STRATA_PATH_KEY) {
    char *copy = malloc(key_len + 1);
    if (!copy)
      return strata_fail(STRATA_ERR_NO_MEMORY, "out of memory");
    memcpy(copy, key, key_len);
    copy[key_len] = '\0';
    s->key = copy;
  }
  path->n_segments++;
  return STRATA_OK;
}

/* Parses one key segment at text[*pos]: quoted or bare. */
static strata_status parse_key_segment(const char *text, size_t *pos,
                                       strata_path *path) {
  size_t i = *pos;
  if (text[i] == '"') {
    const char *end = strchr(text + i + 1, '"');
    if (!end)
      return strata_fail(STRATA_ERR_INVALID_ARGUMENT,
                         "invalid key path \"%s\": unclosed quote", text);
    size_t len = (size_t)(end - (text + i + 1));
    if (len == 0)
      return strata_fail(STRATA_ERR_INVALID_ARGUMENT,
                         "invalid key path \"%s\": empty quoted key", text);
    *pos = (size_t)(end - text) + 1;
    return path_push(path, STRATA_PATH_KEY, text + i + 1, len, 0);
  }
  size_t start = i;
  while (text[i] && !strchr(".[]\"", text[i]))
    i++;
  if (i == start)
    return strata_fail(STRATA_ERR_INVALID_ARGUMENT,
                       "invalid key path \"%s\": empty key at offset %zu", text,
                       start);
  *pos = i;
  return path_push(path, STRATA_PATH_KEY, text + start, i - start, 0);
}

/* Parses "[]" or "[n]" at text[*pos] == '['. */
static strata_status parse_bracket(const char *text, size_t *pos,
                                   strata_path *path) {
  size_t i = *pos + 1;
  if (text[i] == ']') {
    *pos = i + 1;
    return path_push(path, STRATA_PATH_ALL, NULL, 0, 0);
  }
  uint64_t value = 0;
  size_t digits = 0;
  while (isdigit((unsigned char)text[i])) {
    value = value * 10 + (uint64_t)(text[i] - '0');
    if (value > UINT32_MAX)
      return strata_fail(STRATA_ERR_INVALID_ARGUMENT,
                         "invalid key path \"%s\": array index too large",
                         text);
    i++;
    digits++;
  }
  if (digits == 0 || text[i] != ']')
    return strata_fail(STRATA_ERR_INVALID_ARGUMENT,
                       "invalid key path \"%s\": expected [] or [number] "
                       "at offset %zu",
                       text, *pos);
  *pos = i + 1;
  return path_push(path, STRATA_PATH_INDEX, NULL, 0, (uint32_t)value);
}

strata_status strata_path_parse(const char *text, strata_path *out) {
  memset(out, 0, sizeof *out);
  if (!text || !text[0])
    return strata_fail(STRATA_ERR_INVALID_ARGUMENT,
                       "invalid key path: the key is empty");
  size_t pos = 0;
  strata_status st = parse_key_segment(text, &pos, out);
  while (st == STRATA_OK && text[pos]) {
    if (text[pos] == '.') {
      pos++;
      st = parse_key_segment(text, &pos, out);
    } else if (text[pos] == '[') {
      st = parse_bracket(text, &pos, out);
    } else {
      st = strata_fail(STRATA_ERR_INVALID_ARGUMENT,
                       "invalid key path \"%s\": unexpected '%c' at offset "
                       "%zu",
                       text, text[pos], pos);
    }
  }
  if (st == STRATA_OK && path_set_text(out) != 0)
    st = strata_fail(STRATA_ERR_NO_MEMORY, "out of memory");
  if (st != STRATA_OK)
    strata_path_free(out);
  return st;
}

/* ------------------------------------------------------------------ */
/* Datetimes                                                            */

/* Days since 1970-01-01 of a proleptic Gregorian date (the era-based
 * civil calendar conversion, 400-year cycles of 146097 days). */
static int64_t days_from_civil(int64_t y, int m, int d) {
  y -= m <= 2;
  int64_t era = (y >= 0 ? y : y - 399) / 400;
  int64_t yoe = y - era * 400;
  int64_t doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
  int64_t doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
  return era * 146097 + doe - 719468;
}

static void civil_from_days(int64_t z, int64_t *y, int *m, int *d) {
  z += 719468;
  int64_t era = (z >= 0 ? z : z - 146096) / 146097;
  int64_t doe = z - era * 146097;
  int64_t yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
  int64_t doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
  int64_t mp = (5 * doy + 2) / 153;
  *d = (int)(doy - (153 * mp + 2) / 5 + 1);
  *m = (int)(mp < 10 ? mp + 3 : mp - 9);
  *y = yoe + era * 400 + (*m <= 2);
}

static int days_in_month(int64_t y, int m) {
  static const int days[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
  int leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
  return m == 2 && leap ? 29 : days[m - 1];
}

/* Reads exactly `n` digits at s[*i]. */
static int read_digits(const char *s, size_t len, size_t *i, int n, int *out) {
  int v = 0;
  for (int k = 0; k < n; k++) {
    if (*i >= len || !isdigit((unsigned char)s[*i]))
      return -1;
    v = v * 10 + (s[(*i)++] - '0');
  }
  *out = v;
  return 0;
}

static int expect(const char *s, size_t len, size_t *i, char c) {
  if (*i >= len || s[*i] != c)
    return -1;
  (*i)++;
  return 0;
}

/* Reads [.fraction] and an optional zone after HH:MM[:SS]; adds them to
 * *micros. */
static int parse_time_tail(const char *s, size_t len, size_t i,
                           int64_t *micros) {
  if (i < len && s[i] == '.') {
    i++;
    int64_t frac = 0, scale = 100000;
    size_t digits = 0;
    while (i < len && isdigit((unsigned char)s[i])) {
      frac += (s[i] - '0') * scale;
      scale /= 10;
      i++;
      digits++;
    }
    if (digits == 0)
      return -1;
    *micros += frac;
  }
  if (i == len)
    return 0;
  if ((s[i] == 'Z' || s[i] == 'z') && i + 1 == len)
    return 0;
  if (s[i] != '+' && s[i] != '-')
    return -1;
  int sign = s[i] == '-' ? -1 : 1, zh, zm;
  i++;
  if (read_digits(s, len, &i, 2, &zh) || expect(s, len, &i, ':') ||
      read_digits(s, len, &i, 2, &zm) || i != len || zh > 23 || zm > 59)
    return -1;
  *micros -= sign * ((int64_t)zh * 3600 + zm * 60) * 1000000;
  return 0;
}

int strata_datetime_parse(const char *s, size_t len, int64_t *micros) {
  size_t i = 0;
  int y, mo, d, h = 0, mi = 0, sec = 0;
  if (read_digits(s, len, &i, 4, &y) || expect(s, len, &i, '-') ||
      read_digits(s, len, &i, 2, &mo) || expect(s, len, &i, '-') ||
      read_digits(s, len, &i, 2, &d))
    return -1;
  if (mo < 1 || mo > 12 || d < 1 || d > days_in_month(y, mo))
    return -1;

  int64_t t = days_from_civil(y, mo, d) * 86400 * 1000000;
  if (i == len) {
    *micros = t;
    return 0;
  }
  /* The time of day, after 'T', 't' or a space. */
  if (s[i] != 'T' && s[i] != 't' && s[i] != ' ')
    return -1;
  i++;
  if (read_digits(s, len, &i, 2, &h) || expect(s, len, &i, ':') ||
      read_digits(s, len, &i, 2, &mi))
    return -1;
  int has_seconds = i < len && s[i] == ':';
  if (has_seconds &&
      (expect(s, len, &i, ':') || read_digits(s, len, &i, 2, &sec)))
    return -1;
  /* Second 60 is a leap second, which RFC 3339 allows. */
  if (h > 23 || mi > 59 || sec > 60)
    return -1;

  t += ((int64_t)h * 3600 + mi * 60 + sec) * 1000000;
  /* A fraction needs seconds. */
  if (!has_seconds && i < len && s[i] == '.')
    return -1;
  if (parse_time_tail(s, len, i, &t) != 0)
    return -1;
  *micros = t;
  return 0;
}

void strata_datetime_format(int64_t micros, char *buf) {
  int64_t secs = micros / 1000000, us = micros % 1000000;
  if (us < 0) {
    us += 1000000;
    secs--;
  }
  int64_t days = secs / 86400, rem = secs % 86400;
  if (rem < 0) {
    rem += 86400;
    days--;
  }
  int64_t y;
  int m, d;
  civil_from_days(days, &y, &m, &d);
  int n = sprintf(buf, "%04lld-%02d-%02dT%02d:%02d:%02d", (long long)y, m, d,
                  (int)(rem / 3600), (int)(rem / 60 % 60), (int)(rem % 60));
  if (us)
    n += sprintf(buf + n, ".%06lld", (long long)us);
  sprintf(buf + n, "Z");
}

/* ------------------------------------------------------------------ */
/* Small shared helpers                                                 */

int strata_point_id_compare(const strata_point_id *a,
                            const strata_point_id *b) {
  if (a->kind != b->kind)
    return a->kind == STRATA_ID_NUM ? -1 : 1;
  if (a->kind == STRATA_ID_NUM)
    return a->num < b->num ? -1 : a->num > b->num;
  return memcmp(a->uuid, b->uuid, 16);
}

int strata_bounds_match_double(const strata_bounds *b, double x) {
  return (!(b->set & STRATA_BOUND_LT) || x < b->lt) &&
         (!(b->set & STRATA_BOUND_GT) || x > b->gt) &&
         (!(b->set & STRATA_BOUND_LTE) || x <= b->lte) &&
         (!(b->set & STRATA_BOUND_GTE) || x >= b->gte);
}

int strata_bounds_match_int(const strata_bounds *b, int64_t x) {
  return (!(b->set & STRATA_BOUND_LT) || x < b->lt_i) &&
         (!(b->set & STRATA_BOUND_GT) || x > b->gt_i) &&
         (!(b->set & STRATA_BOUND_LTE) || x <= b->lte_i) &&
         (!(b->set & STRATA_BOUND_GTE) || x >= b->gte_i);
}

static int compare_bytes(const char *a, size_t alen, const char *b,
                         size_t blen) {
  int c = memcmp(a, b, alen < blen ? alen : blen);
  if (c)
    return c;
  return alen < blen ? -1 : alen > blen;
}

int strata_condition_has_keyword(const strata_condition *c, const char *s,
                                 size_t len) {
  size_t lo = 0, hi = c->n_values;
  while (lo < hi) {
    size_t mid = lo + (hi - lo) / 2;
    int cmp = compare_bytes(c->keywords[mid], c->keyword_lens[mid], s, len);
    if (cmp == 0)
      return 1;
    if (cmp < 0)
      lo = mid + 1;
    else
      hi = mid;
  }
  return 0;
}

int strata_condition_has_integer(const strata_condition *c, int64_t v) {
  size_t lo = 0, hi = c->n_values;
  while (lo < hi) {
    size_t mid = lo + (hi - lo) / 2;
    if (c->integers[mid] == v)
      return 1;
    if (c->integers[mid] < v)
      lo = mid + 1;
    else
      hi = mid;
  }
  return 0;
}

int strata_text_tokens(const char *text, size_t len,
                       int (*fn)(void *arg, const char *token, size_t len),
                       void *arg) {
  char buf[256];
  size_t i = 0;
  while (i < len) {
    while (i < len && !isalnum((unsigned char)text[i]) &&
           (unsigned char)text[i] < 0x80)
      i++;
    size_t start = i;
    while (i < len &&
           (isalnum((unsigned char)text[i]) || (unsigned char)text[i] >= 0x80))
      i++;
    if (i == start)
      continue;
    /* NOTE: tokens longer than the buffer are cut to 255 bytes, so two
     * long tokens with one prefix compare equal. */
    size_t n = i - start < sizeof buf - 1 ? i - start : sizeof buf - 1;
    for (size_t k = 0; k < n; k++)
      buf[k] = (char)tolower((unsigned char)text[start + k]);
    buf[n] = '\0';
    int r = fn(arg, buf, n);
    if (r)
      return r;
  }
  return 0;
}

/* ------------------------------------------------------------------ */
/* Freeing                                                              */

void strata_condition_free(strata_condition *c) {
  if (!c)
    return;
  strata_path_free(&c->key);
  free(c->keyword);
  for (size_t i = 0; c->keywords && i < c->n_values; i++)
    free(c->keywords[i]);
  free(c->keywords);
  free(c->keyword_lens);
  free(c->integers);
  free(c->ids);
  strata_filter_free(c->filter);
  free(c);
}

static void free_list(strata_condition **list, size_t n) {
  for (size_t i = 0; i < n; i++)
    strata_condition_free(list[i]);
  free(list);
}

void strata_filter_free(strata_filter *f) {
  if (!f)
    return;
  free_list(f->must, f->n_must);
  free_list(f->should, f->n_should);
  free_list(f->must_not, f->n_must_not);
  free_list(f->min_should, f->n_min_should);
  free(f);
}

/* ------------------------------------------------------------------ */
/* Builders                                                             */

strata_filter *strata_filter_new(void) {
  strata_filter *f = calloc(1, sizeof *f);
  if (!f) {
    strata_fail(STRATA_ERR_NO_MEMORY, "out of memory");
    return NULL;
  }
  f->depth = 1;
  return f;
}

strata_status strata_filter_add(strata_filter *f, strata_clause clause,
                                strata_condition *c) {
  if (!c)
    return STRATA_ERR_INVALID_ARGUMENT;
  if (!f) {
    strata_condition_free(c);
    return strata_fail(STRATA_ERR_INVALID_ARGUMENT, "the filter is NULL");
  }
  int inner_depth = c->filter ? c->filter->depth + 1 : 1;
  if (inner_depth > STRATA_FILTER_MAX_DEPTH) {
    strata_condition_free(c);
    return strata_fail(STRATA_ERR_INVALID_ARGUMENT,
                       "filters nest deeper than %d levels",
                       STRATA_FILTER_MAX_DEPTH);
  }
  strata_condition ***list;
  size_t *n;
  switch (clause) {
  case STRATA_MUST:
    list = &f->must, n = &f->n_must;
    break;
  case STRATA_SHOULD:
    list = &f->should, n = &f->n_should;
    break;
  case STRATA_MUST_NOT:
    list = &f->must_not, n = &f->n_must_not;
    break;
  case STRATA_MIN_SHOULD:
    list = &f->min_should, n = &f->n_min_should;
    f->has_min_should = 1;
    break;
  default:
    strata_condition_free(c);
    return strata_fail(STRATA_ERR_INVALID_ARGUMENT, "unknown filter clause %d",
                       (int)clause);
  }
  /* The capacity is implicit: 4, then the next power of two above the
   * count.  Growing by one each time made a 100,000-condition list
   * quadratic. */
  if (*n == 0 || (*n >= 4 && (*n & (*n - 1)) == 0)) {
    size_t cap = *n == 0 ? 4 : *n * 2;
    strata_condition **grown = realloc(*list, cap * sizeof *grown);
    if (!grown) {
      strata_condition_free(c);
      return strata_fail(STRATA_ERR_NO_MEMORY, "out of memory");
    }
    *list = grown;
  }
  (*list)[(*n)++] = c;
  if (inner_depth > f->depth)
    f->depth = inner_depth;
  if (c->kind == STRATA_COND_HAS_ID || (c->filter && c->filter->uses_has_id))
    f->uses_has_id = 1;
  return STRATA_OK;
}

void strata_filter_set_min_count(strata_filter *f, size_t min_count) {
  f->has_min_should = 1;
  f->min_count = min_count;
}

static strata_condition *cond_new(strata_condition_kind kind, const char *key) {
  strata_condition *c = calloc(1, sizeof *c);
  if (!c) {
    strata_fail(STRATA_ERR_NO_MEMORY, "out of memory");
    return NULL;
  }
  c->kind = kind;
  if (key && strata_path_parse(key, &c->key) != STRATA_OK) {
    free(c);
    return NULL;
  }
  return c;
}

static strata_condition *cond_oom(strata_condition *c) {
  strata_condition_free(c);
  strata_fail(STRATA_ERR_NO_MEMORY, "out of memory");
  return NULL;
}

strata_condition *strata_cond_match_keyword(const char *key,
                                            const char *value) {
  strata_condition *c = cond_new(STRATA_COND_MATCH_VALUE, key);
  if (!c)
    return NULL;
  c->value_kind = STRATA_VALUE_KEYWORD;
  c->keyword = strdup(value ? value : "");
  c->keyword_len = value ? strlen(value) : 0;
  return c->keyword ? c : cond_oom(c);
}

strata_condition *strata_cond_match_integer(const char *key, int64_t value) {
  strata_condition *c = cond_new(STRATA_COND_MATCH_VALUE, key);
  if (c) {
    c->value_kind = STRATA_VALUE_INTEGER;
    c->integer = value;
  }
  return c;
}

strata_condition *strata_cond_match_bool(const char *key, int value) {
  strata_condition *c = cond_new(STRATA_COND_MATCH_VALUE, key);
  if (c) {
    c->value_kind = STRATA_VALUE_BOOL;
    c->boolean = value != 0;
  }
  return c;
}

typedef struct keyword_ref {
  const char *s;
  size_t len;
} keyword_ref;

static int compare_keyword_refs(const void *a, const void *b) {
  const keyword_ref *x = a, *y = b;
  return compare_bytes(x->s, x->len, y->s, y->len);
}

static int compare_int64(const void *a, const void *b) {
  int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
  return x < y ? -1 : x > y;
}

/* Stores a sorted copy of the keywords, without duplicates, in c. */
static int set_keywords(strata_condition *c, const char *const *values,
                        const size_t *lens, size_t n) {
  keyword_ref *refs = malloc((n ? n : 1) * sizeof *refs);
  c->keywords = calloc(n ? n : 1, sizeof *c->keywords);
  c->keyword_lens = calloc(n ? n : 1, sizeof *c->keyword_lens);
  if (!refs || !c->keywords || !c->keyword_lens) {
    free(refs);
    return -1;
  }
  for (size_t i = 0; i < n; i++) {
    refs[i].s = values[i];
    refs[i].len = lens ? lens[i] : strlen(values[i]);
  }
  qsort(refs, n, sizeof *refs, compare_keyword_refs);
  size_t out = 0;
  for (size_t i = 0; i < n; i++) {
    if (out > 0 && compare_keyword_refs(&refs[i], &refs[i - 1]) == 0)
      continue;
    char *copy = malloc(refs[i].len + 1);
    if (!copy) {
      free(refs);
      return -1;
    }
    memcpy(copy, refs[i].s, refs[i].len);
    copy[refs[i].len] = '\0';
    c->keywords[out] = copy;
    c->keyword_lens[out] = refs[i].len;
    c->n_values = ++out;
  }
  free(refs);
  return 0;
}

static int set_integers(strata_condition *c, const int64_t *values, size_t n) {
  c->integers = malloc((n ? n : 1) * sizeof *c->integers);
  if (!c->integers)
    return -1;
  if (n)
    memcpy(c->integers, values, n * sizeof *values);
  qsort(c->integers, n, sizeof *c->integers, compare_int64);
  size_t out = 0;
  for (size_t i = 0; i < n; i++)
    if (out == 0 || c->integers[i] != c->integers[out - 1])
      c->integers[out++] = c->integers[i];
  c->n_values = out;
  return 0;
}

/* Used by the JSON parser too: keyword lengths may contain NUL bytes. */
strata_condition *strata_cond_match_keywords_n(const char *key,
                                               const char *const *values,
                                               const size_t *lens, size_t n,
                                               int except);

strata_condition *strata_cond_match_keywords_n(const char *key,
                                               const char *const *values,
                                               const size_t *lens, size_t n,
                                               int except) {
  strata_condition *c =
      cond_new(except ? STRATA_COND_MATCH_EXCEPT : STRATA_COND_MATCH_ANY, key);
  if (!c)
    return NULL;
  c->value_kind = STRATA_VALUE_KEYWORD;
  if (set_keywords(c, values, lens, n) != 0)
    return cond_oom(c);
  return c;
}

strata_condition *strata_cond_match_keywords(const char *key,
                                             const char *const *values,
                                             size_t n, int except) {
  return strata_cond_match_keywords_n(key, values, NULL, n, except);
}

strata_condition *strata_cond_match_integers(const char *key,
                                             const int64_t *values, size_t n,
                                             int except) {
  strata_condition *c =
      cond_new(except ? STRATA_COND_MATCH_EXCEPT : STRATA_COND_MATCH_ANY, key);
  if (!c)
    return NULL;
  c->value_kind = STRATA_VALUE_INTEGER;
  if (set_integers(c, values, n) != 0)
    return cond_oom(c);
  return c;
}

strata_condition *strata_cond_match_text(const char *key, const char *text) {
  strata_condition *c = strata_cond_match_keyword(key, text);
  if (c)
    c->kind = STRATA_COND_MATCH_TEXT;
  return c;
}

strata_condition *strata_cond_range(const char *key,
                                    const strata_bounds *bounds) {
  if (!bounds || !(bounds->set & 15)) {
    strata_fail(STRATA_ERR_INVALID_ARGUMENT,
                "a range needs at least one of lt, gt, gte, lte");
    return NULL;
  }
  strata_condition *c = cond_new(STRATA_COND_RANGE, key);
  if (c)
    c->bounds = *bounds;
  return c;
}

static int set_datetime_bound(strata_bounds *b, unsigned bit, const char *text,
                              int64_t *slot) {
  if (!text)
    return 0;
  if (strata_datetime_parse(text, strlen(text), slot) != 0) {
    strata_fail(STRATA_ERR_INVALID_ARGUMENT,
                "invalid datetime \"%s\": expected RFC 3339, "
                "YYYY-MM-DD HH:MM[:SS] or YYYY-MM-DD",
                text);
    return -1;
  }
  b->set |= bit;
  return 0;
}

strata_condition *strata_cond_datetime_range(const char *key, const char *lt,
                                             const char *gt, const char *lte,
                                             const char *gte) {
  strata_bounds b;
  memset(&b, 0, sizeof b);
  if (set_datetime_bound(&b, STRATA_BOUND_LT, lt, &b.lt_i) ||
      set_datetime_bound(&b, STRATA_BOUND_GT, gt, &b.gt_i) ||
      set_datetime_bound(&b, STRATA_BOUND_LTE, lte, &b.lte_i) ||
      set_datetime_bound(&b, STRATA_BOUND_GTE, gte, &b.gte_i))
    return NULL;
  if (!b.set) {
    strata_fail(STRATA_ERR_INVALID_ARGUMENT,
                "a range needs at least one of lt, gt, gte, lte");
    return NULL;
  }
  strata_condition *c = cond_new(STRATA_COND_DATETIME_RANGE, key);
  if (c)
    c->bounds = b;
  return c;
}

strata_condition *strata_cond_values_count(const char *key,
                                           const strata_bounds *bounds) {
  if (!bounds || !(bounds->set & 15)) {
    strata_fail(STRATA_ERR_INVALID_ARGUMENT,
                "values_count needs at least one of lt, gt, gte, lte");
    return NULL;
  }
  if (bounds->lt_i < 0 || bounds->gt_i < 0 || bounds->lte_i < 0 ||
      bounds->gte_i < 0) {
    strata_fail(STRATA_ERR_INVALID_ARGUMENT,
                "values_count bounds must be at least 0");
    return NULL;
  }
  strata_condition *c = cond_new(STRATA_COND_VALUES_COUNT, key);
  if (c)
    c->bounds = *bounds;
  return c;
}

strata_condition *strata_cond_is_empty(const char *key) {
  return cond_new(STRATA_COND_IS_EMPTY, key);
}

strata_condition *strata_cond_is_null(const char *key) {
  return cond_new(STRATA_COND_IS_NULL, key);
}

static int compare_ids(const void *a, const void *b) {
  return strata_point_id_compare(a, b);
}

strata_condition *strata_cond_has_id(const strata_point_id *ids, size_t n) {
  strata_condition *c = cond_new(STRATA_COND_HAS_ID, NULL);
  if (!c)
    return NULL;
  c->ids = malloc((n ? n : 1) * sizeof *c->ids);
  if (!c->ids)
    return cond_oom(c);
  if (n)
    memcpy(c->ids, ids, n * sizeof *ids);
  qsort(c->ids, n, sizeof *c->ids, compare_ids);
  size_t out = 0;
  for (size_t i = 0; i < n; i++)
    if (out == 0 || compare_ids(&c->ids[i], &c->ids[out - 1]) != 0)
      c->ids[out++] = c->ids[i];
  c->n_ids = out;
  return c;
}

strata_condition *strata_cond_nested(const char *key, strata_filter *inner) {
  if (!inner)
    return NULL;
  if (inner->uses_has_id) {
    strata_filter_free(inner);
    strata_fail(STRATA_ERR_INVALID_ARGUMENT,
                "has_id is not supported inside nested");
    return NULL;
  }
  strata_condition *c = cond_new(STRATA_COND_NESTED, key);
  if (!c) {
    strata_filter_free(inner);
    return NULL;
  }
  c->filter = inner;
  return c;
}

strata_condition *strata_cond_filter(strata_filter *inner) {
  if (!inner)
    return NULL;
  strata_condition *c = cond_new(STRATA_COND_FILTER, NULL);
  if (!c) {
    strata_filter_free(inner);
    return NULL;
  }
  c->filter = inner;
  return c;
}
