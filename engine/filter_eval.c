/*
 * Filter evaluation against one payload, following Qdrant's rules:
 *
 * - A field condition resolves its key to a list of values (several
 *   with `[]`).  An empty list means the key is missing: only
 *   values_count (counting 0) and is_empty can then hold.
 * - Otherwise the condition holds when it holds for any value, and for
 *   a value that is an array, for any element.  Elements that are arrays
 *   themselves are compared as arrays (they match no match or range).
 * - is_empty holds when every value is null or [].
 * - is_null holds when some value is null.
 * - values_count holds when some value has a count in range.  An array
 *   counts its length, null counts 0, and any other value counts 1.
 * - nested holds when the inner filter holds for one object of key[].
 */
#define _GNU_SOURCE /* memmem */
#include <stdlib.h>
#include <string.h>

#include "filter.h"
#include "payload_index.h"
#include "status.h"

/* ------------------------------------------------------------------ */
/* Path resolution                                                      */

static int values_push(strata_values *v, const json_t *item) {
  if (v->n == v->cap) {
    size_t cap = v->cap * 2;
    const json_t **grown;
    if (v->items == v->inline_items) {
      grown = malloc(cap * sizeof *grown);
      if (grown)
        memcpy(grown, v->items, v->n * sizeof *grown);
    } else {
      grown = realloc(v->items, cap * sizeof *grown);
    }
    if (!grown)
      return -1;
    v->items = grown;
    v->cap = cap;
  }
  v->items[v->n++] = item;
  return 0;
}

static void values_init(strata_values *v) {
  v->items = v->inline_items;
  v->n = 0;
  v->cap = STRATA_VALUES_INLINE;
}

void strata_values_release(strata_values *v) {
  if (v->items != v->inline_items)
    free(v->items);
  values_init(v);
}

/* Appends what segment `seg` selects in `value`. */
static int step(const json_t *value, const strata_path_segment *seg,
                strata_values *next) {
  switch (seg->kind) {
  case STRATA_PATH_KEY: {
    const json_t *child =
        json_is_object(value) ? json_object_get(value, seg->key) : NULL;
    return child ? values_push(next, child) : 0;
  }
  case STRATA_PATH_INDEX: {
    const json_t *child =
        json_is_array(value) && seg->index < json_array_size(value)
            ? json_array_get(value, seg->index)
            : NULL;
    return child ? values_push(next, child) : 0;
  }
  case STRATA_PATH_ALL:
    if (json_is_array(value))
      for (size_t i = 0; i < json_array_size(value); i++)
        if (values_push(next, json_array_get(value, i)) != 0)
          return -1;
    return 0;
  }
  return 0;
}

int strata_values_resolve(const json_t *root, const strata_path *path,
                          strata_values *out) {
  strata_values cur, next;
  values_init(&cur);
  values_init(out);
  if (!root)
    return 0;
  if (values_push(&cur, root) != 0)
    return -1;
  for (size_t s = 0; s < path->n_segments && cur.n > 0; s++) {
    values_init(&next);
    for (size_t i = 0; i < cur.n; i++)
      if (step(cur.items[i], &path->segments[s], &next) != 0) {
        strata_values_release(&cur);
        strata_values_release(&next);
        return -1;
      }
    strata_values_release(&cur);
    cur = next;
    if (cur.items == next.inline_items)
      cur.items = cur.inline_items;
  }
  *out = cur;
  if (cur.items == cur.inline_items)
    out->items = out->inline_items;
  return 0;
}

/* ------------------------------------------------------------------ */
/* One value                                                            */

typedef struct eval_context {
  const strata_point_id *id;
  const strata_payload_indexes *indexes;
  const char *prefix; /* key path of the enclosing nested conditions */
} eval_context;

static int string_equals(const json_t *v, const char *s, size_t len) {
  return json_is_string(v) && json_string_length(v) == len &&
         memcmp(json_string_value(v), s, len) == 0;
}

static int match_value(const strata_condition *c, const json_t *v) {
  switch (c->value_kind) {
  case STRATA_VALUE_KEYWORD:
    return string_equals(v, c->keyword, c->keyword_len);
  case STRATA_VALUE_INTEGER:
    return json_is_integer(v) && json_integer_value(v) == c->integer;
  case STRATA_VALUE_BOOL:
    return json_is_boolean(v) && json_is_true(v) == c->boolean;
  }
  return 0;
}

static int in_list(const strata_condition *c, const json_t *v) {
  if (c->value_kind == STRATA_VALUE_KEYWORD)
    return json_is_string(v) &&
           strata_condition_has_keyword(c, json_string_value(v),
                                        json_string_length(v));
  return json_is_integer(v) &&
         strata_condition_has_integer(c, json_integer_value(v));
}

/* match except: a string or integer of the list's type passes when it is
 * not in the list, null fails, and any other value passes. */
static int match_except(const strata_condition *c, const json_t *v) {
  if (json_is_null(v))
    return 0;
  if (c->value_kind == STRATA_VALUE_KEYWORD && json_is_string(v))
    return !in_list(c, v);
  if (c->value_kind == STRATA_VALUE_INTEGER && json_is_integer(v))
    return !in_list(c, v);
  return 1;
}

typedef struct token_check {
  const json_t *const *docs;
  size_t n_docs;
} token_check;

static int token_found_in(void *arg, const char *token, size_t len) {
  const char *wanted = arg;
  return strlen(wanted) == len && memcmp(wanted, token, len) == 0;
}

/* Returns 1 (stop) when the query token is absent from every document. */
static int token_missing(void *arg, const char *token, size_t len) {
  token_check *tc = arg;
  (void)len;
  for (size_t i = 0; i < tc->n_docs; i++) {
    const json_t *d = tc->docs[i];
    if (strata_text_tokens(json_string_value(d), json_string_length(d),
                           token_found_in, (void *)token))
      return 0;
  }
  return 1;
}

static int has_any_token(void *arg, const char *token, size_t len) {
  (void)arg, (void)token, (void)len;
  return 1;
}

/* Token semantics of a text index: every query token occurs in some
 * string value of the point; a query without tokens matches nothing. */
static int match_tokens(const strata_condition *c, const strata_values *vals) {
  if (!strata_text_tokens(c->keyword, c->keyword_len, has_any_token, NULL))
    return 0;
  const json_t *docs_inline[16];
  const json_t **docs = docs_inline;
  size_t n = 0, cap = 16;
  int result = 0;
  for (size_t i = 0; i < vals->n; i++) {
    const json_t *v = vals->items[i];
    size_t m = json_is_array(v) ? json_array_size(v) : 1;
    for (size_t k = 0; k < m; k++) {
      const json_t *e = json_is_array(v) ? json_array_get(v, k) : v;
      if (!json_is_string(e))
        continue;
      if (n == cap) {
        const json_t **grown = malloc(2 * cap * sizeof *grown);
        if (!grown)
          goto done;
        memcpy(grown, docs, n * sizeof *grown);
        if (docs != docs_inline)
          free(docs);
        docs = grown;
        cap *= 2;
      }
      docs[n++] = e;
    }
  }
  token_check tc = {docs, n};
  result = n > 0 &&
           !strata_text_tokens(c->keyword, c->keyword_len, token_missing, &tc);
done:
  if (docs != docs_inline)
    free(docs);
  return result;
}

static int match_one(const strata_condition *c, const json_t *v) {
  switch (c->kind) {
  case STRATA_COND_MATCH_VALUE:
    return match_value(c, v);
  case STRATA_COND_MATCH_ANY:
    return in_list(c, v);
  case STRATA_COND_MATCH_EXCEPT:
    return match_except(c, v);
  case STRATA_COND_MATCH_TEXT:
    return json_is_string(v) &&
           (c->keyword_len == 0 ||
            memmem(json_string_value(v), json_string_length(v), c->keyword,
                   c->keyword_len) != NULL);
  case STRATA_COND_RANGE:
    return json_is_number(v) &&
           strata_bounds_match_double(&c->bounds, json_number_value(v));
  case STRATA_COND_DATETIME_RANGE: {
    int64_t t;
    return json_is_string(v) &&
           strata_datetime_parse(json_string_value(v), json_string_length(v),
                                 &t) == 0 &&
           strata_bounds_match_int(&c->bounds, t);
  }
  default:
    return 0;
  }
}

static int match_value_or_elements(const strata_condition *c, const json_t *v) {
  if (!json_is_array(v))
    return match_one(c, v);
  for (size_t i = 0; i < json_array_size(v); i++)
    if (match_one(c, json_array_get(v, i)))
      return 1;
  return 0;
}

static int64_t values_count(const json_t *v) {
  if (json_is_null(v))
    return 0;
  return json_is_array(v) ? (int64_t)json_array_size(v) : 1;
}

/* ------------------------------------------------------------------ */
/* Conditions and filters                                               */

static int eval_filter(const strata_filter *f, const json_t *payload,
                       const eval_context *ctx);

/* Whether the text condition's field has a text index. */
static int has_text_index(const strata_condition *c, const eval_context *ctx) {
  if (!ctx->indexes)
    return 0;
  if (!ctx->prefix)
    return strata_payload_indexes_find_text(ctx->indexes, c->key.text) != NULL;
  size_t len = strlen(ctx->prefix) + strlen(c->key.text) + 2;
  char *full = malloc(len);
  if (!full)
    return 0;
  snprintf(full, len, "%s.%s", ctx->prefix, c->key.text);
  int found = strata_payload_indexes_find_text(ctx->indexes, full) != NULL;
  free(full);
  return found;
}

static int eval_nested(const strata_condition *c, const json_t *payload,
                       const eval_context *ctx) {
  strata_values vals;
  if (strata_values_resolve(payload, &c->key, &vals) != 0)
    return 0;
  /* The prefix is the key with "[]", as index paths spell it. */
  size_t len =
      strlen(c->key.text) + 3 + (ctx->prefix ? strlen(ctx->prefix) + 1 : 0);
  char *prefix = malloc(len);
  int result = 0;
  if (prefix) {
    if (ctx->prefix)
      snprintf(prefix, len, "%s.%s[]", ctx->prefix, c->key.text);
    else
      snprintf(prefix, len, "%s[]", c->key.text);
    eval_context inner = {NULL, ctx->indexes, prefix};
    for (size_t i = 0; i < vals.n && !result; i++) {
      const json_t *v = vals.items[i];
      for (size_t k = 0; json_is_array(v) && k < json_array_size(v); k++) {
        const json_t *e = json_array_get(v, k);
        if (json_is_object(e) && eval_filter(c->filter, e, &inner)) {
          result = 1;
          break;
        }
      }
    }
    free(prefix);
  }
  strata_values_release(&vals);
  return result;
}

static int eval_has_id(const strata_condition *c, const strata_point_id *id) {
  if (!id)
    return 0;
  size_t lo = 0, hi = c->n_ids;
  while (lo < hi) {
    size_t mid = lo + (hi - lo) / 2;
    int cmp = strata_point_id_compare(&c->ids[mid], id);
    if (cmp == 0)
      return 1;
    if (cmp < 0)
      lo = mid + 1;
    else
      hi = mid;
  }
  return 0;
}

static int eval_field(const strata_condition *c, const json_t *payload,
                      const eval_context *ctx) {
  strata_values vals;
  if (strata_values_resolve(payload, &c->key, &vals) != 0)
    return 0;
  int result = 0;
  if (vals.n == 0) {
    result = c->kind == STRATA_COND_IS_EMPTY ||
             (c->kind == STRATA_COND_VALUES_COUNT &&
              strata_bounds_match_int(&c->bounds, 0));
  } else if (c->kind == STRATA_COND_IS_EMPTY) {
    result = 1;
    for (size_t i = 0; i < vals.n && result; i++)
      result = values_count(vals.items[i]) == 0;
  } else if (c->kind == STRATA_COND_IS_NULL) {
    for (size_t i = 0; i < vals.n && !result; i++)
      result = json_is_null(vals.items[i]);
  } else if (c->kind == STRATA_COND_VALUES_COUNT) {
    for (size_t i = 0; i < vals.n && !result; i++)
      result = strata_bounds_match_int(&c->bounds, values_count(vals.items[i]));
  } else if (c->kind == STRATA_COND_MATCH_TEXT && has_text_index(c, ctx)) {
    result = match_tokens(c, &vals);
  } else {
    for (size_t i = 0; i < vals.n && !result; i++)
      result = match_value_or_elements(c, vals.items[i]);
  }
  strata_values_release(&vals);
  return result;
}

static int eval_condition(const strata_condition *c, const json_t *payload,
                          const eval_context *ctx) {
  switch (c->kind) {
  case STRATA_COND_FILTER:
    return eval_filter(c->filter, payload, ctx);
  case STRATA_COND_NESTED:
    return eval_nested(c, payload, ctx);
  case STRATA_COND_HAS_ID:
    return eval_has_id(c, ctx->id);
  default:
    return eval_field(c, payload, ctx);
  }
}

static int eval_filter(const strata_filter *f, const json_t *payload,
                       const eval_context *ctx) {
  if (f->n_should > 0) {
    int any = 0;
    for (size_t i = 0; i < f->n_should && !any; i++)
      any = eval_condition(f->should[i], payload, ctx);
    if (!any)
      return 0;
  }
  if (f->has_min_should) {
    size_t hits = 0;
    for (size_t i = 0; i < f->n_min_should && hits < f->min_count; i++)
      hits += (size_t)eval_condition(f->min_should[i], payload, ctx);
    if (hits < f->min_count)
      return 0;
  }
  for (size_t i = 0; i < f->n_must; i++)
    if (!eval_condition(f->must[i], payload, ctx))
      return 0;
  for (size_t i = 0; i < f->n_must_not; i++)
    if (eval_condition(f->must_not[i], payload, ctx))
      return 0;
  return 1;
}

int strata_filter_matches_indexed(const strata_filter *f, const json_t *payload,
                                  const strata_point_id *id,
                                  const strata_payload_indexes *indexes) {
  eval_context ctx = {id, indexes, NULL};
  return eval_filter(f, payload, &ctx);
}

int strata_filter_matches(const strata_filter *f, const json_t *payload,
                          const strata_point_id *id) {
  return strata_filter_matches_indexed(f, payload, id, NULL);
}

/* ------------------------------------------------------------------ */
/* Loading payloads                                                     */

/* Copies `text`, adding ".0" after every integer literal that does not
 * fit in int64, so that jansson reads those as reals. */
static char *widen_big_integers(const char *text, size_t len, size_t *out_len) {
  char *out = malloc(len * 2 + 1);
  size_t o = 0, i = 0;
  if (!out)
    return NULL;
  while (i < len) {
    char ch = text[i];
    if (ch == '"') {
      out[o++] = text[i++];
      while (i < len && text[i] != '"') {
        if (text[i] == '\\' && i + 1 < len)
          out[o++] = text[i++];
        out[o++] = text[i++];
      }
      if (i < len)
        out[o++] = text[i++];
      continue;
    }
    if (ch == '-' || (ch >= '0' && ch <= '9')) {
      size_t start = i;
      i += ch == '-';
      while (i < len && text[i] >= '0' && text[i] <= '9')
        i++;
      int is_integer = !(i < len && strchr(".eE", text[i]));
      memcpy(out + o, text + start, i - start);
      o += i - start;
      size_t digits = i - start - (ch == '-');
      /* JSON has no leading zeros, so 20 digits always overflow.  With
       * 19, compare against the int64 limits as strtoll would, which
       * is how jansson reads integers. */
      if (is_integer && digits >= 19) {
        char buf[32];
        int overflow = digits > 19;
        if (!overflow) {
          memcpy(buf, text + start, i - start);
          buf[i - start] = '\0';
          overflow = (ch == '-' ? strcmp(buf + 1, "9223372036854775808")
                                : strcmp(buf, "9223372036854775807")) > 0;
        }
        if (overflow) {
          out[o++] = '.';
          out[o++] = '0';
        }
      }
      continue;
    }
    out[o++] = text[i++];
  }
  out[o] = '\0';
  *out_len = o;
  return out;
}

strata_status strata_payload_load(const char *text, size_t len, json_t **out) {
  json_error_t err;
  *out = json_loadb(text, len, 0, &err);
  if (*out)
    return STRATA_OK;
  if (json_error_code(&err) == json_error_out_of_memory)
    return strata_fail(STRATA_ERR_NO_MEMORY, "out of memory");
  if (json_error_code(&err) != json_error_numeric_overflow)
    return strata_fail(STRATA_ERR_INVALID_ARGUMENT,
                       "invalid payload JSON at line %d column %d: %s",
                       err.line, err.column, err.text);
  size_t wide_len;
  char *wide = widen_big_integers(text, len, &wide_len);
  if (!wide)
    return strata_fail(STRATA_ERR_NO_MEMORY, "out of memory");
  *out = json_loadb(wide, wide_len, 0, &err);
  free(wide);
  if (!*out)
    return strata_fail(STRATA_ERR_INVALID_ARGUMENT,
                       "invalid payload JSON at line %d column %d: %s",
                       err.line, err.column, err.text);
  return STRATA_OK;
}
