/*
 * Qdrant's REST filter JSON: parsing into strata_filter and writing it
 * back.  Errors name the JSON path of the bad part, e.g.
 * `must[2].range: a range needs at least one of lt, gt, gte, lte`.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "filter.h"
#include "status.h"

strata_condition *strata_cond_match_keywords_n(const char *key,
                                               const char *const *values,
                                               const size_t *lens, size_t n,
                                               int except);

#define PATH_MAX_LEN 512

/* Fails with the JSON path of the bad part before the message. */
static strata_status fail_at(const char *where, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static strata_status fail_at(const char *where, const char *fmt, ...) {
  char message[768];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(message, sizeof message, fmt, ap);
  va_end(ap);
  return strata_fail(STRATA_ERR_INVALID_ARGUMENT, "%s: %s",
                     where[0] ? where : "filter", message);
}

/* Keeps a builder's message (which has no JSON path) behind the path. */
static strata_status fail_builder(const char *where) {
  char message[768];
  snprintf(message, sizeof message, "%s", strata_last_error());
  if (strstr(message, "out of memory"))
    return strata_fail(STRATA_ERR_NO_MEMORY, "out of memory");
  return fail_at(where, "%s", message);
}

/* Appends s to out (holding *len bytes), cutting it at PATH_MAX_LEN. */
static void append_text(char *out, size_t *len, const char *s) {
  size_t n = strlen(s), room = PATH_MAX_LEN - 1 - *len;
  if (n > room)
    n = room;
  memcpy(out + *len, s, n);
  *len += n;
  out[*len] = '\0';
}

/* Writes the JSON path base.part (base[part] for an index) into out,
 * which must not overlap base. */
static void join(char *out, const char *base, const char *part) {
  size_t len = 0;
  out[0] = '\0';
  append_text(out, &len, base);
  if (base[0] && part[0] != '[')
    append_text(out, &len, ".");
  append_text(out, &len, part);
}

static void join_index(char *out, const char *base, size_t i) {
  char part[32];
  snprintf(part, sizeof part, "[%zu]", i);
  join(out, base, part);
}

/* Fails on an object key outside `allowed` (NULL-terminated). */
static strata_status check_keys(const json_t *obj, const char *where,
                                const char *const *allowed) {
  const char *key;
  json_t *value;
  json_object_foreach((json_t *)obj, key, value) {
    int known = 0;
    for (size_t i = 0; allowed[i] && !known; i++)
      known = strcmp(key, allowed[i]) == 0;
    if (!known) {
      char list[256] = "";
      for (size_t i = 0; allowed[i]; i++)
        snprintf(list + strlen(list), sizeof list - strlen(list), "%s%s",
                 i ? ", " : "", allowed[i]);
      return fail_at(where, "unknown field \"%s\" (expected one of: %s)", key,
                     list);
    }
  }
  (void)value;
  return STRATA_OK;
}

static const char *type_name(const json_t *v) {
  switch (json_typeof(v)) {
  case JSON_OBJECT:
    return "an object";
  case JSON_ARRAY:
    return "an array";
  case JSON_STRING:
    return "a string";
  case JSON_INTEGER:
    return "an integer";
  case JSON_REAL:
    return "a real number";
  case JSON_TRUE:
  case JSON_FALSE:
    return "a boolean";
  case JSON_NULL:
    return "null";
  }
  return "a value";
}

/* ------------------------------------------------------------------ */
/* Parsing                                                              */

static strata_status parse_filter(const json_t *obj, const char *where,
                                  int depth, int in_nested,
                                  strata_filter **out);

static strata_status get_key(const json_t *obj, const char *where,
                             const char **key) {
  char at[PATH_MAX_LEN];
  join(at, where, "key");
  const json_t *k = json_object_get(obj, "key");
  if (!k)
    return fail_at(where, "missing field \"key\"");
  if (!json_is_string(k))
    return fail_at(at, "expected a string, got %s", type_name(k));
  if (strlen(json_string_value(k)) != json_string_length(k))
    return fail_at(at, "a key path cannot contain a NUL character");
  *key = json_string_value(k);
  strata_path path;
  strata_status st = strata_path_parse(*key, &path);
  if (st != STRATA_OK)
    return st == STRATA_ERR_NO_MEMORY ? st : fail_builder(at);
  strata_path_free(&path);
  return STRATA_OK;
}

static strata_condition *parse_list(const char *key, const json_t *list,
                                    int except, const char *where,
                                    strata_status *st) {
  size_t n = json_array_size(list);
  int strings = 0, integers = 0;
  for (size_t i = 0; i < n; i++) {
    const json_t *v = json_array_get(list, i);
    strings += json_is_string(v);
    integers += json_is_integer(v);
    if (!json_is_string(v) && !json_is_integer(v)) {
      char at[PATH_MAX_LEN];
      join_index(at, where, i);
      *st =
          fail_at(at, "expected a string or an integer, got %s", type_name(v));
      return NULL;
    }
  }
  if (strings && integers) {
    *st = fail_at(where, "the list mixes strings and integers");
    return NULL;
  }
  strata_condition *c = NULL;
  if (integers) {
    int64_t *values = malloc(n * sizeof *values);
    if (values) {
      for (size_t i = 0; i < n; i++)
        values[i] = json_integer_value(json_array_get(list, i));
      c = strata_cond_match_integers(key, values, n, except);
      free(values);
    }
  } else {
    const char **values = malloc((n ? n : 1) * sizeof *values);
    size_t *lens = malloc((n ? n : 1) * sizeof *lens);
    if (values && lens) {
      for (size_t i = 0; i < n; i++) {
        values[i] = json_string_value(json_array_get(list, i));
        lens[i] = json_string_length(json_array_get(list, i));
      }
      c = strata_cond_match_keywords_n(key, values, lens, n, except);
    }
    free(values);
    free(lens);
  }
  if (!c)
    *st = strata_fail(STRATA_ERR_NO_MEMORY, "out of memory");
  return c;
}

static strata_status parse_match(const json_t *m, const char *key,
                                 const char *where, strata_condition **out) {
  static const char *const allowed[] = {"value", "any", "except", "text", NULL};
  if (!json_is_object(m))
    return fail_at(where, "expected an object, got %s", type_name(m));
  strata_status st = check_keys(m, where, allowed);
  if (st != STRATA_OK)
    return st;
  if (json_object_size(m) != 1)
    return fail_at(where, "a match needs exactly one of value, any, except, "
                          "text");
  const char *kind = json_object_iter_key(json_object_iter((json_t *)m));
  const json_t *v = json_object_iter_value(json_object_iter((json_t *)m));
  char at[PATH_MAX_LEN];
  join(at, where, kind);
  strata_condition *c = NULL;
  if (strcmp(kind, "value") == 0) {
    if (json_is_string(v)) {
      c = strata_cond_match_keyword(key, "");
      if (c) {
        free(c->keyword);
        c->keyword_len = json_string_length(v);
        c->keyword = malloc(c->keyword_len + 1);
        if (c->keyword)
          memcpy(c->keyword, json_string_value(v), c->keyword_len + 1);
        else
          strata_condition_free(c), c = NULL;
      }
    } else if (json_is_integer(v)) {
      c = strata_cond_match_integer(key, json_integer_value(v));
    } else if (json_is_boolean(v)) {
      c = strata_cond_match_bool(key, json_is_true(v));
    } else {
      return fail_at(at, "expected a string, an integer or a boolean, got %s",
                     type_name(v));
    }
  } else if (strcmp(kind, "text") == 0) {
    if (!json_is_string(v))
      return fail_at(at, "expected a string, got %s", type_name(v));
    c = strata_cond_match_text(key, "");
    if (c) {
      free(c->keyword);
      c->keyword_len = json_string_length(v);
      c->keyword = malloc(c->keyword_len + 1);
      if (c->keyword)
        memcpy(c->keyword, json_string_value(v), c->keyword_len + 1);
      else
        strata_condition_free(c), c = NULL;
    }
  } else {
    if (!json_is_array(v))
      return fail_at(at, "expected an array, got %s", type_name(v));
    st = STRATA_OK;
    c = parse_list(key, v, strcmp(kind, "except") == 0, at, &st);
    if (!c)
      return st;
  }
  if (!c)
    return strata_fail(STRATA_ERR_NO_MEMORY, "out of memory");
  *out = c;
  return STRATA_OK;
}

static const char *const bound_names[] = {"lt", "gt", "lte", "gte"};
static const unsigned bound_bits[] = {STRATA_BOUND_LT, STRATA_BOUND_GT,
                                      STRATA_BOUND_LTE, STRATA_BOUND_GTE};

static strata_status parse_range(const json_t *r, const char *key,
                                 const char *where, strata_condition **out) {
  static const char *const allowed[] = {"lt", "gt", "lte", "gte", NULL};
  if (!json_is_object(r))
    return fail_at(where, "expected an object, got %s", type_name(r));
  strata_status st = check_keys(r, where, allowed);
  if (st != STRATA_OK)
    return st;
  strata_bounds b;
  memset(&b, 0, sizeof b);
  double *dslots[] = {&b.lt, &b.gt, &b.lte, &b.gte};
  int64_t *islots[] = {&b.lt_i, &b.gt_i, &b.lte_i, &b.gte_i};
  int numbers = 0, strings = 0;
  for (size_t i = 0; i < 4; i++) {
    const json_t *v = json_object_get(r, bound_names[i]);
    if (!v || json_is_null(v))
      continue;
    char at[PATH_MAX_LEN];
    join(at, where, bound_names[i]);
    if (json_is_number(v)) {
      *dslots[i] = json_number_value(v);
      numbers++;
    } else if (json_is_string(v)) {
      if (strata_datetime_parse(json_string_value(v), json_string_length(v),
                                islots[i]) != 0)
        return fail_at(at,
                       "invalid datetime \"%s\": expected RFC 3339, "
                       "YYYY-MM-DD HH:MM[:SS] or YYYY-MM-DD",
                       json_string_value(v));
      strings++;
    } else {
      return fail_at(at, "expected a number or a datetime string, got %s",
                     type_name(v));
    }
    b.set |= bound_bits[i];
  }
  if (!b.set)
    return fail_at(where, "a range needs at least one of lt, gt, gte, lte");
  if (numbers && strings)
    return fail_at(where, "a range mixes numbers and datetime strings");
  strata_condition *c =
      numbers ? strata_cond_range(key, &b) : strata_cond_is_empty(key);
  if (!c)
    return fail_builder(where);
  if (strings) {
    c->kind = STRATA_COND_DATETIME_RANGE;
    c->bounds = b;
  }
  *out = c;
  return STRATA_OK;
}

static strata_status parse_values_count(const json_t *r, const char *key,
                                        const char *where,
                                        strata_condition **out) {
  static const char *const allowed[] = {"lt", "gt", "lte", "gte", NULL};
  if (!json_is_object(r))
    return fail_at(where, "expected an object, got %s", type_name(r));
  strata_status st = check_keys(r, where, allowed);
  if (st != STRATA_OK)
    return st;
  strata_bounds b;
  memset(&b, 0, sizeof b);
  int64_t *slots[] = {&b.lt_i, &b.gt_i, &b.lte_i, &b.gte_i};
  for (size_t i = 0; i < 4; i++) {
    const json_t *v = json_object_get(r, bound_names[i]);
    if (!v || json_is_null(v))
      continue;
    char at[PATH_MAX_LEN];
    join(at, where, bound_names[i]);
    if (!json_is_integer(v) || json_integer_value(v) < 0)
      return fail_at(at, "expected a non-negative integer, got %s",
                     type_name(v));
    *slots[i] = json_integer_value(v);
    b.set |= bound_bits[i];
  }
  if (!b.set)
    return fail_at(where, "values_count needs at least one of lt, gt, gte, "
                          "lte");
  strata_condition *c = strata_cond_values_count(key, &b);
  if (!c)
    return fail_builder(where);
  *out = c;
  return STRATA_OK;
}

static strata_status parse_field(const json_t *obj, const char *where,
                                 strata_condition **out) {
  static const char *const allowed[] = {"key", "match", "range", "values_count",
                                        NULL};
  strata_status st = check_keys(obj, where, allowed);
  if (st != STRATA_OK)
    return st;
  const char *key;
  if ((st = get_key(obj, where, &key)) != STRATA_OK)
    return st;
  if (json_object_size(obj) != 2)
    return fail_at(where, "a field condition needs exactly one of match, "
                          "range, values_count");
  char at[PATH_MAX_LEN];
  const json_t *v;
  if ((v = json_object_get(obj, "match"))) {
    join(at, where, "match");
    return parse_match(v, key, at, out);
  }
  if ((v = json_object_get(obj, "range"))) {
    join(at, where, "range");
    return parse_range(v, key, at, out);
  }
  v = json_object_get(obj, "values_count");
  join(at, where, "values_count");
  return parse_values_count(v, key, at, out);
}

/* {"key": "..."} of is_empty and is_null. */
static strata_status parse_key_only(const json_t *obj, const char *where,
                                    strata_condition_kind kind,
                                    strata_condition **out) {
  static const char *const allowed[] = {"key", NULL};
  if (!json_is_object(obj))
    return fail_at(where, "expected an object, got %s", type_name(obj));
  const char *key;
  strata_status st = check_keys(obj, where, allowed);
  if (st == STRATA_OK)
    st = get_key(obj, where, &key);
  if (st != STRATA_OK)
    return st;
  *out = kind == STRATA_COND_IS_EMPTY ? strata_cond_is_empty(key)
                                      : strata_cond_is_null(key);
  return *out ? STRATA_OK : fail_builder(where);
}

static strata_status parse_has_id(const json_t *list, const char *where,
                                  strata_condition **out) {
  if (!json_is_array(list))
    return fail_at(where, "expected an array of point ids, got %s",
                   type_name(list));
  size_t n = json_array_size(list);
  strata_point_id *ids = malloc((n ? n : 1) * sizeof *ids);
  if (!ids)
    return strata_fail(STRATA_ERR_NO_MEMORY, "out of memory");
  for (size_t i = 0; i < n; i++) {
    const json_t *v = json_array_get(list, i);
    int ok = 0;
    if (json_is_integer(v) && json_integer_value(v) >= 0) {
      ids[i] = strata_id_num((uint64_t)json_integer_value(v));
      ok = 1;
    } else if (json_is_string(v) &&
               strata_id_parse(json_string_value(v), &ids[i]) == STRATA_OK) {
      ok = 1;
    }
    if (!ok) {
      char at[PATH_MAX_LEN];
      join_index(at, where, i);
      free(ids);
      return fail_at(at, "invalid point id: expected an unsigned integer or "
                         "a UUID string");
    }
  }
  *out = strata_cond_has_id(ids, n);
  free(ids);
  return *out ? STRATA_OK : strata_fail(STRATA_ERR_NO_MEMORY, "out of memory");
}

static strata_status parse_nested(const json_t *obj, const char *where,
                                  int depth, strata_condition **out) {
  static const char *const allowed[] = {"key", "filter", NULL};
  if (!json_is_object(obj))
    return fail_at(where, "expected an object, got %s", type_name(obj));
  const char *key;
  strata_status st = check_keys(obj, where, allowed);
  if (st == STRATA_OK)
    st = get_key(obj, where, &key);
  if (st != STRATA_OK)
    return st;
  const json_t *f = json_object_get(obj, "filter");
  char at[PATH_MAX_LEN];
  join(at, where, "filter");
  if (!f)
    return fail_at(where, "missing field \"filter\"");
  strata_filter *inner;
  if ((st = parse_filter(f, at, depth + 1, 1, &inner)) != STRATA_OK)
    return st;
  *out = strata_cond_nested(key, inner);
  return *out ? STRATA_OK : fail_builder(where);
}

static strata_status parse_condition(const json_t *obj, const char *where,
                                     int depth, int in_nested,
                                     strata_condition **out) {
  *out = NULL;
  if (!json_is_object(obj))
    return fail_at(where, "expected a condition object, got %s",
                   type_name(obj));
  char at[PATH_MAX_LEN];
  const json_t *v;
  if (json_object_get(obj, "key"))
    return parse_field(obj, where, out);
  if ((v = json_object_get(obj, "has_id"))) {
    join(at, where, "has_id");
    if (json_object_size(obj) != 1)
      return fail_at(where, "has_id cannot be combined with other fields");
    if (in_nested)
      return fail_at(at, "has_id is not supported inside nested");
    return parse_has_id(v, at, out);
  }
  static const char *const single[] = {"is_empty", "is_null", "nested"};
  for (size_t i = 0; i < 3; i++) {
    if (!(v = json_object_get(obj, single[i])))
      continue;
    join(at, where, single[i]);
    if (json_object_size(obj) != 1)
      return fail_at(where, "%s cannot be combined with other fields",
                     single[i]);
    if (i == 2)
      return parse_nested(v, at, depth, out);
    return parse_key_only(
        v, at, i == 0 ? STRATA_COND_IS_EMPTY : STRATA_COND_IS_NULL, out);
  }
  static const char *const clauses[] = {"must", "should", "must_not",
                                        "min_should", NULL};
  const char *first = json_object_iter_key(json_object_iter((json_t *)obj));
  int is_filter = first == NULL;
  for (size_t i = 0; clauses[i] && !is_filter; i++)
    is_filter = strcmp(first, clauses[i]) == 0;
  if (!is_filter)
    return fail_at(where,
                   "unknown condition \"%s\" (expected key, has_id, "
                   "is_empty, is_null, nested, or a filter)",
                   first);
  strata_filter *inner;
  strata_status st = parse_filter(obj, where, depth + 1, in_nested, &inner);
  if (st != STRATA_OK)
    return st;
  *out = strata_cond_filter(inner);
  return *out ? STRATA_OK : strata_fail(STRATA_ERR_NO_MEMORY, "out of memory");
}

/* One condition or an array of them, appended to `clause`. */
static strata_status parse_clause(strata_filter *f, strata_clause clause,
                                  const json_t *v, const char *where, int depth,
                                  int in_nested) {
  if (json_is_null(v))
    return STRATA_OK;
  int single = !json_is_array(v);
  size_t n = single ? 1 : json_array_size(v);
  for (size_t i = 0; i < n; i++) {
    char at[PATH_MAX_LEN];
    if (single)
      snprintf(at, sizeof at, "%s", where);
    else
      join_index(at, where, i);
    strata_condition *c;
    strata_status st = parse_condition(single ? v : json_array_get(v, i), at,
                                       depth, in_nested, &c);
    if (st != STRATA_OK)
      return st;
    if ((st = strata_filter_add(f, clause, c)) != STRATA_OK)
      return st == STRATA_ERR_NO_MEMORY ? st : fail_builder(at);
  }
  return STRATA_OK;
}

static strata_status parse_filter(const json_t *obj, const char *where,
                                  int depth, int in_nested,
                                  strata_filter **out) {
  static const char *const allowed[] = {"must", "should", "must_not",
                                        "min_should", NULL};
  *out = NULL;
  if (depth > STRATA_FILTER_MAX_DEPTH)
    return fail_at(where, "filters nest deeper than %d levels",
                   STRATA_FILTER_MAX_DEPTH);
  if (!json_is_object(obj))
    return fail_at(where, "expected a filter object, got %s", type_name(obj));
  strata_status st = check_keys(obj, where, allowed);
  if (st != STRATA_OK)
    return st;
  strata_filter *f = strata_filter_new();
  if (!f)
    return STRATA_ERR_NO_MEMORY;
  static const strata_clause kinds[] = {STRATA_MUST, STRATA_SHOULD,
                                        STRATA_MUST_NOT};
  for (size_t i = 0; i < 3 && st == STRATA_OK; i++) {
    const json_t *v = json_object_get(obj, allowed[i]);
    char at[PATH_MAX_LEN];
    join(at, where, allowed[i]);
    if (v)
      st = parse_clause(f, kinds[i], v, at, depth, in_nested);
  }
  const json_t *ms = json_object_get(obj, "min_should");
  if (st == STRATA_OK && ms && !json_is_null(ms)) {
    static const char *const ms_allowed[] = {"conditions", "min_count", NULL};
    char at[PATH_MAX_LEN], sub[PATH_MAX_LEN];
    join(at, where, "min_should");
    const json_t *conds = json_object_get(ms, "conditions");
    const json_t *count = json_object_get(ms, "min_count");
    if (!json_is_object(ms))
      st = fail_at(at, "expected an object, got %s", type_name(ms));
    else if ((st = check_keys(ms, at, ms_allowed)) != STRATA_OK)
      ;
    else if (!conds)
      st = fail_at(at, "missing field \"conditions\"");
    else if (!count)
      st = fail_at(at, "missing field \"min_count\"");
    else if (!json_is_integer(count) || json_integer_value(count) < 0) {
      join(sub, at, "min_count");
      st = fail_at(sub, "expected a non-negative integer, got %s",
                   type_name(count));
    } else {
      strata_filter_set_min_count(f, (size_t)json_integer_value(count));
      join(sub, at, "conditions");
      st = parse_clause(f, STRATA_MIN_SHOULD, conds, sub, depth, in_nested);
    }
  }
  if (st != STRATA_OK) {
    strata_filter_free(f);
    return st;
  }
  *out = f;
  return STRATA_OK;
}

strata_status strata_filter_parse_json(const char *json, size_t len,
                                       strata_filter **out) {
  *out = NULL;
  json_error_t err;
  json_t *root = json_loadb(json, len, 0, &err);
  if (!root) {
    if (json_error_code(&err) == json_error_out_of_memory)
      return strata_fail(STRATA_ERR_NO_MEMORY, "out of memory");
    return strata_fail(STRATA_ERR_INVALID_ARGUMENT,
                       "filter: invalid JSON at line %d column %d: %s",
                       err.line, err.column, err.text);
  }
  strata_status st = parse_filter(root, "", 1, 0, out);
  json_decref(root);
  return st;
}

/* ------------------------------------------------------------------ */
/* Writing                                                              */

/* Adds value to obj, clearing *ok when either is NULL (out of memory);
 * jansson frees value when adding fails. */
static void set_field(json_t *obj, const char *key, json_t *value, int *ok) {
  if (!obj) {
    json_decref(value);
    *ok = 0;
  } else if (json_object_set_new(obj, key, value) != 0) {
    *ok = 0;
  }
}

static void push(json_t *array, json_t *value, int *ok) {
  if (!array) {
    json_decref(value);
    *ok = 0;
  } else if (json_array_append_new(array, value) != 0) {
    *ok = 0;
  }
}

static json_t *filter_to_json(const strata_filter *f, int *ok);

static json_t *bounds_to_json(const strata_condition *c, int *ok) {
  json_t *obj = json_object();
  const double *d[] = {&c->bounds.lt, &c->bounds.gt, &c->bounds.lte,
                       &c->bounds.gte};
  const int64_t *i64[] = {&c->bounds.lt_i, &c->bounds.gt_i, &c->bounds.lte_i,
                          &c->bounds.gte_i};
  for (size_t i = 0; obj && i < 4; i++) {
    if (!(c->bounds.set & bound_bits[i]))
      continue;
    json_t *v;
    if (c->kind == STRATA_COND_RANGE) {
      v = json_real(*d[i]);
    } else if (c->kind == STRATA_COND_VALUES_COUNT) {
      v = json_integer(*i64[i]);
    } else {
      char buf[48];
      strata_datetime_format(*i64[i], buf);
      v = json_string(buf);
    }
    set_field(obj, bound_names[i], v, ok);
  }
  return obj;
}

static json_t *match_to_json(const strata_condition *c, int *ok) {
  json_t *v = NULL;
  const char *name = "value";
  if (c->kind == STRATA_COND_MATCH_VALUE) {
    if (c->value_kind == STRATA_VALUE_KEYWORD)
      v = json_stringn(c->keyword, c->keyword_len);
    else if (c->value_kind == STRATA_VALUE_INTEGER)
      v = json_integer(c->integer);
    else
      v = json_boolean(c->boolean);
  } else if (c->kind == STRATA_COND_MATCH_TEXT) {
    name = "text";
    v = json_stringn(c->keyword, c->keyword_len);
  } else {
    name = c->kind == STRATA_COND_MATCH_ANY ? "any" : "except";
    v = json_array();
    for (size_t i = 0; v && i < c->n_values; i++)
      push(v,
           c->value_kind == STRATA_VALUE_KEYWORD
               ? json_stringn(c->keywords[i], c->keyword_lens[i])
               : json_integer(c->integers[i]),
           ok);
  }
  json_t *m = json_object();
  set_field(m, name, v, ok);
  return m;
}

static json_t *key_object(const strata_condition *c, int *ok) {
  json_t *obj = json_object();
  set_field(obj, "key", json_string(c->key.text), ok);
  return obj;
}

static json_t *condition_to_json(const strata_condition *c, int *ok) {
  json_t *obj = NULL, *inner;
  char buf[STRATA_ID_STRLEN];
  switch (c->kind) {
  case STRATA_COND_MATCH_VALUE:
  case STRATA_COND_MATCH_ANY:
  case STRATA_COND_MATCH_EXCEPT:
  case STRATA_COND_MATCH_TEXT:
    obj = key_object(c, ok);
    set_field(obj, "match", match_to_json(c, ok), ok);
    break;
  case STRATA_COND_RANGE:
  case STRATA_COND_DATETIME_RANGE:
  case STRATA_COND_VALUES_COUNT:
    obj = key_object(c, ok);
    set_field(obj,
              c->kind == STRATA_COND_VALUES_COUNT ? "values_count" : "range",
              bounds_to_json(c, ok), ok);
    break;
  case STRATA_COND_IS_EMPTY:
  case STRATA_COND_IS_NULL:
    obj = json_object();
    set_field(obj, c->kind == STRATA_COND_IS_EMPTY ? "is_empty" : "is_null",
              key_object(c, ok), ok);
    break;
  case STRATA_COND_HAS_ID:
    inner = json_array();
    for (size_t i = 0; inner && i < c->n_ids; i++) {
      const strata_point_id *id = &c->ids[i];
      /* u64 ids above INT64_MAX do not fit a jansson integer. */
      push(inner,
           id->kind == STRATA_ID_NUM && id->num <= INT64_MAX
               ? json_integer((json_int_t)id->num)
               : json_string(strata_id_format(id, buf)),
           ok);
    }
    obj = json_object();
    set_field(obj, "has_id", inner, ok);
    break;
  case STRATA_COND_NESTED:
    inner = key_object(c, ok);
    set_field(inner, "filter", filter_to_json(c->filter, ok), ok);
    obj = json_object();
    set_field(obj, "nested", inner, ok);
    break;
  case STRATA_COND_FILTER:
    obj = filter_to_json(c->filter, ok);
    break;
  }
  return obj;
}

static json_t *list_to_json(strata_condition *const *list, size_t n, int *ok) {
  json_t *arr = json_array();
  if (!arr)
    *ok = 0;
  for (size_t i = 0; arr && i < n; i++)
    push(arr, condition_to_json(list[i], ok), ok);
  return arr;
}

static json_t *filter_to_json(const strata_filter *f, int *ok) {
  json_t *obj = json_object();
  if (!obj) {
    *ok = 0;
    return NULL;
  }
  if (f->n_must)
    set_field(obj, "must", list_to_json(f->must, f->n_must, ok), ok);
  if (f->n_should)
    set_field(obj, "should", list_to_json(f->should, f->n_should, ok), ok);
  if (f->n_must_not)
    set_field(obj, "must_not", list_to_json(f->must_not, f->n_must_not, ok),
              ok);
  if (f->has_min_should) {
    json_t *ms = json_object();
    set_field(ms, "conditions",
              list_to_json(f->min_should, f->n_min_should, ok), ok);
    set_field(ms, "min_count", json_integer((json_int_t)f->min_count), ok);
    set_field(obj, "min_should", ms, ok);
  }
  return obj;
}

strata_status strata_filter_to_json(const strata_filter *f, char **out) {
  *out = NULL;
  int ok = 1;
  json_t *obj = filter_to_json(f, &ok);
  char *text =
      obj && ok ? json_dumps(obj, JSON_COMPACT | JSON_PRESERVE_ORDER) : NULL;
  json_decref(obj);
  if (!text)
    return strata_fail(STRATA_ERR_NO_MEMORY, "out of memory");
  *out = text;
  return STRATA_OK;
}
