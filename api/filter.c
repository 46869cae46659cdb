/*
 * Conversion of Qdrant's Filter message to the engine's strata_filter
 * (strata_filter.h), with the same semantics as Qdrant's REST filter JSON
 * that strata_filter_parse_json() reads.
 *
 * Qdrant's gRPC form differs from the JSON form in three ways handled
 * here: a FieldCondition may carry several tests (they must all hold, so
 * they become one nested filter of `must` conditions), unset conditions
 * are dropped (as Qdrant does), and datetime bounds are
 * google.protobuf.Timestamp values, passed on as RFC 3339 text.
 *
 * Errors name where in the filter they are, e.g. "filter.must[1].match:".
 */
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "internal.h"
#include "strata_filter.h"

#define WHERE_MAX 160

static grpc_status_code convert_filter(api_call *call, const char *where,
                                       const Qdrant__Filter *in,
                                       strata_filter **out);

/* Fails with the engine's message for a builder that returned NULL. */
static grpc_status_code fail_builder(api_call *call, const char *where) {
  return api_fail(call, GRPC_STATUS_INVALID_ARGUMENT, "%s: %s", where,
                  strata_last_error());
}

/* Writes a Timestamp as RFC 3339 UTC text with microseconds, the form
 * strata_cond_datetime_range() parses.  Returns -1 outside years 1 to
 * 9999 or with nanos outside 0 to 999999999. */
static int format_timestamp(const Google__Protobuf__Timestamp *t, char *buf,
                            size_t size) {
  const int64_t min_seconds = -62135596800LL; /* 0001-01-01T00:00:00Z */
  const int64_t max_seconds = 253402300799LL; /* 9999-12-31T23:59:59Z */
  if (t->seconds < min_seconds || t->seconds > max_seconds || t->nanos < 0 ||
      t->nanos > 999999999)
    return -1;
  time_t seconds = (time_t)t->seconds;
  struct tm tm;
  if (gmtime_r(&seconds, &tm) == NULL)
    return -1;
  snprintf(buf, size, "%04d-%02d-%02dT%02d:%02d:%02d.%06dZ", tm.tm_year + 1900,
           tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec,
           t->nanos / 1000);
  return 0;
}

static grpc_status_code match_condition(api_call *call, const char *where,
                                        const char *key, const Qdrant__Match *m,
                                        strata_condition **out) {
  const char *unsupported = NULL;
  *out = NULL;
  switch (m->match_value_case) {
  case QDRANT__MATCH__MATCH_VALUE_KEYWORD:
    *out = strata_cond_match_keyword(key, m->keyword);
    break;
  case QDRANT__MATCH__MATCH_VALUE_INTEGER:
    *out = strata_cond_match_integer(key, m->integer);
    break;
  case QDRANT__MATCH__MATCH_VALUE_BOOLEAN:
    *out = strata_cond_match_bool(key, m->boolean);
    break;
  case QDRANT__MATCH__MATCH_VALUE_TEXT:
    *out = strata_cond_match_text(key, m->text);
    break;
  case QDRANT__MATCH__MATCH_VALUE_KEYWORDS:
  case QDRANT__MATCH__MATCH_VALUE_EXCEPT_KEYWORDS: {
    const Qdrant__RepeatedStrings *list =
        m->match_value_case == QDRANT__MATCH__MATCH_VALUE_KEYWORDS
            ? m->keywords
            : m->except_keywords;
    int except =
        m->match_value_case == QDRANT__MATCH__MATCH_VALUE_EXCEPT_KEYWORDS;
    *out = strata_cond_match_keywords(
        key, list ? (const char *const *)list->strings : NULL,
        list ? list->n_strings : 0, except);
    break;
  }
  case QDRANT__MATCH__MATCH_VALUE_INTEGERS:
  case QDRANT__MATCH__MATCH_VALUE_EXCEPT_INTEGERS: {
    const Qdrant__RepeatedIntegers *list =
        m->match_value_case == QDRANT__MATCH__MATCH_VALUE_INTEGERS
            ? m->integers
            : m->except_integers;
    int except =
        m->match_value_case == QDRANT__MATCH__MATCH_VALUE_EXCEPT_INTEGERS;
    *out = strata_cond_match_integers(key, list ? list->integers : NULL,
                                      list ? list->n_integers : 0, except);
    break;
  }
  case QDRANT__MATCH__MATCH_VALUE_PHRASE:
    unsupported = "phrase";
    break;
  case QDRANT__MATCH__MATCH_VALUE_TEXT_ANY:
    unsupported = "text_any";
    break;
  default:
    return api_fail(call, GRPC_STATUS_INVALID_ARGUMENT,
                    "%s.match: no value is set", where);
  }
  if (unsupported != NULL)
    return api_fail(call, GRPC_STATUS_INVALID_ARGUMENT,
                    "%s.match: match %s is not supported", where, unsupported);
  return *out ? GRPC_STATUS_OK : fail_builder(call, where);
}

static grpc_status_code range_condition(api_call *call, const char *where,
                                        const char *key, const Qdrant__Range *r,
                                        strata_condition **out) {
  strata_bounds bounds;
  memset(&bounds, 0, sizeof bounds);
  if (r->_lt_case == QDRANT__RANGE___LT_LT) {
    bounds.set |= STRATA_BOUND_LT;
    bounds.lt = r->lt;
  }
  if (r->_gt_case == QDRANT__RANGE___GT_GT) {
    bounds.set |= STRATA_BOUND_GT;
    bounds.gt = r->gt;
  }
  if (r->_lte_case == QDRANT__RANGE___LTE_LTE) {
    bounds.set |= STRATA_BOUND_LTE;
    bounds.lte = r->lte;
  }
  if (r->_gte_case == QDRANT__RANGE___GTE_GTE) {
    bounds.set |= STRATA_BOUND_GTE;
    bounds.gte = r->gte;
  }
  *out = strata_cond_range(key, &bounds);
  return *out ? GRPC_STATUS_OK : fail_builder(call, where);
}

static grpc_status_code count_condition(api_call *call, const char *where,
                                        const char *key,
                                        const Qdrant__ValuesCount *v,
                                        strata_condition **out) {
  *out = NULL;
  strata_bounds bounds;
  memset(&bounds, 0, sizeof bounds);
  struct {
    int set;
    uint64_t value;
    unsigned bit;
    int64_t *field;
  } parts[] = {
      {v->_lt_case == QDRANT__VALUES_COUNT___LT_LT, v->lt, STRATA_BOUND_LT,
       &bounds.lt_i},
      {v->_gt_case == QDRANT__VALUES_COUNT___GT_GT, v->gt, STRATA_BOUND_GT,
       &bounds.gt_i},
      {v->_lte_case == QDRANT__VALUES_COUNT___LTE_LTE, v->lte, STRATA_BOUND_LTE,
       &bounds.lte_i},
      {v->_gte_case == QDRANT__VALUES_COUNT___GTE_GTE, v->gte, STRATA_BOUND_GTE,
       &bounds.gte_i},
  };
  for (size_t i = 0; i < sizeof parts / sizeof parts[0]; i++) {
    if (!parts[i].set)
      continue;
    if (parts[i].value > INT64_MAX)
      return api_fail(call, GRPC_STATUS_INVALID_ARGUMENT,
                      "%s.values_count: bound %llu is above 2^63-1", where,
                      (unsigned long long)parts[i].value);
    bounds.set |= parts[i].bit;
    *parts[i].field = (int64_t)parts[i].value;
  }
  *out = strata_cond_values_count(key, &bounds);
  return *out ? GRPC_STATUS_OK : fail_builder(call, where);
}

static grpc_status_code datetime_condition(api_call *call, const char *where,
                                           const char *key,
                                           const Qdrant__DatetimeRange *d,
                                           strata_condition **out) {
  *out = NULL;
  const Google__Protobuf__Timestamp *stamps[4] = {d->lt, d->gt, d->lte, d->gte};
  char text[4][40];
  const char *bounds[4];
  for (int i = 0; i < 4; i++) {
    bounds[i] = NULL;
    if (stamps[i] == NULL)
      continue;
    if (format_timestamp(stamps[i], text[i], sizeof text[i]) != 0)
      return api_fail(call, GRPC_STATUS_INVALID_ARGUMENT,
                      "%s.datetime_range: timestamp %lld s %d ns is not "
                      "between years 1 and 9999",
                      where, (long long)stamps[i]->seconds, stamps[i]->nanos);
    bounds[i] = text[i];
  }
  *out = strata_cond_datetime_range(key, bounds[0], bounds[1], bounds[2],
                                    bounds[3]);
  return *out ? GRPC_STATUS_OK : fail_builder(call, where);
}

/* Converts every test of a FieldCondition; several become one filter
 * whose `must` contains them all. */
static grpc_status_code field_condition(api_call *call, const char *where,
                                        const Qdrant__FieldCondition *f,
                                        strata_condition **out) {
  strata_condition *tests[8] = {NULL};
  size_t n = 0;
  grpc_status_code code = GRPC_STATUS_OK;
  const char *key = f->key ? f->key : "";

  if (f->geo_bounding_box != NULL || f->geo_radius != NULL ||
      f->geo_polygon != NULL)
    return api_fail(call, GRPC_STATUS_INVALID_ARGUMENT,
                    "%s: geo conditions are not supported", where);
  if (f->match != NULL)
    code = match_condition(call, where, key, f->match, &tests[n++]);
  if (code == GRPC_STATUS_OK && f->range != NULL)
    code = range_condition(call, where, key, f->range, &tests[n++]);
  if (code == GRPC_STATUS_OK && f->values_count != NULL)
    code = count_condition(call, where, key, f->values_count, &tests[n++]);
  if (code == GRPC_STATUS_OK && f->datetime_range != NULL)
    code = datetime_condition(call, where, key, f->datetime_range, &tests[n++]);
  if (code == GRPC_STATUS_OK &&
      f->_is_empty_case == QDRANT__FIELD_CONDITION___IS_EMPTY_IS_EMPTY) {
    /* NOTE: is_empty=false is read as "the field is not empty", a guess
     * at Qdrant's meaning that no test against Qdrant has checked. */
    strata_condition *test = strata_cond_is_empty(key);
    if (test != NULL && !f->is_empty) {
      strata_filter *inner = strata_filter_new();
      if (inner == NULL ||
          strata_filter_add(inner, STRATA_MUST_NOT, test) != STRATA_OK) {
        strata_filter_free(inner);
        test = NULL;
      } else {
        test = strata_cond_filter(inner);
      }
    }
    tests[n++] = test;
    if (test == NULL)
      code = fail_builder(call, where);
  }
  if (code == GRPC_STATUS_OK &&
      f->_is_null_case == QDRANT__FIELD_CONDITION___IS_NULL_IS_NULL) {
    if (!f->is_null) {
      code = api_fail(call, GRPC_STATUS_INVALID_ARGUMENT,
                      "%s: is_null=false is not supported; put is_null in "
                      "must_not",
                      where);
    } else {
      tests[n] = strata_cond_is_null(key);
      if (tests[n++] == NULL)
        code = fail_builder(call, where);
    }
  }
  if (code == GRPC_STATUS_OK && n == 0)
    code = api_fail(call, GRPC_STATUS_INVALID_ARGUMENT,
                    "%s: the condition on \"%s\" has no test", where, key);
  if (code != GRPC_STATUS_OK) {
    for (size_t i = 0; i < n; i++)
      strata_condition_free(tests[i]);
    return code;
  }
  if (n == 1) {
    *out = tests[0];
    return GRPC_STATUS_OK;
  }

  strata_filter *all = strata_filter_new();
  strata_status st = all ? STRATA_OK : STRATA_ERR_NO_MEMORY;
  size_t i = 0;
  for (; i < n && st == STRATA_OK; i++)
    st = strata_filter_add(all, STRATA_MUST, tests[i]);
  for (; i < n; i++) /* the tests not handed to the filter */
    strata_condition_free(tests[i]);
  if (st != STRATA_OK) {
    strata_filter_free(all);
    return fail_builder(call, where);
  }
  *out = strata_cond_filter(all);
  return *out ? GRPC_STATUS_OK : fail_builder(call, where);
}

/* Converts one condition; *out stays NULL for an unset one. */
static grpc_status_code convert_condition(api_call *call, const char *where,
                                          const Qdrant__Condition *c,
                                          strata_condition **out) {
  char inner_where[WHERE_MAX];
  strata_filter *inner = NULL;
  grpc_status_code code;

  *out = NULL;
  switch (c->condition_one_of_case) {
  case QDRANT__CONDITION__CONDITION_ONE_OF_FIELD:
    if (c->field == NULL)
      return GRPC_STATUS_OK;
    return field_condition(call, where, c->field, out);
  case QDRANT__CONDITION__CONDITION_ONE_OF_IS_EMPTY:
    *out = strata_cond_is_empty(
        c->is_empty && c->is_empty->key ? c->is_empty->key : "");
    break;
  case QDRANT__CONDITION__CONDITION_ONE_OF_IS_NULL:
    *out = strata_cond_is_null(c->is_null && c->is_null->key ? c->is_null->key
                                                             : "");
    break;
  case QDRANT__CONDITION__CONDITION_ONE_OF_HAS_ID: {
    size_t n = c->has_id ? c->has_id->n_has_id : 0;
    strata_point_id *ids = api_alloc(&call->arena, (n + 1) * sizeof *ids);
    if (ids == NULL)
      return api_fail(call, GRPC_STATUS_RESOURCE_EXHAUSTED, "out of memory");
    for (size_t i = 0; i < n; i++) {
      code = api_id_from_proto(call, c->has_id->has_id[i], &ids[i]);
      if (code != GRPC_STATUS_OK)
        return code;
    }
    *out = strata_cond_has_id(ids, n);
    break;
  }
  case QDRANT__CONDITION__CONDITION_ONE_OF_FILTER:
    snprintf(inner_where, sizeof inner_where, "%s.filter", where);
    code = convert_filter(call, inner_where, c->filter, &inner);
    if (code != GRPC_STATUS_OK)
      return code;
    *out = strata_cond_filter(inner ? inner : strata_filter_new());
    break;
  case QDRANT__CONDITION__CONDITION_ONE_OF_NESTED:
    snprintf(inner_where, sizeof inner_where, "%s.nested", where);
    code = convert_filter(call, inner_where,
                          c->nested ? c->nested->filter : NULL, &inner);
    if (code != GRPC_STATUS_OK)
      return code;
    *out = strata_cond_nested(c->nested && c->nested->key ? c->nested->key : "",
                              inner ? inner : strata_filter_new());
    break;
  case QDRANT__CONDITION__CONDITION_ONE_OF_HAS_VECTOR:
    return api_fail(call, GRPC_STATUS_INVALID_ARGUMENT,
                    "%s: has_vector is not supported", where);
  default:
    return GRPC_STATUS_OK; /* unset: Qdrant drops it */
  }
  return *out ? GRPC_STATUS_OK : fail_builder(call, where);
}

/* Converts the conditions of one clause and adds them to `filter`. */
static grpc_status_code add_clause(api_call *call, const char *where,
                                   const char *clause_name,
                                   strata_clause clause,
                                   Qdrant__Condition **conditions, size_t n,
                                   strata_filter *filter) {
  char item_where[WHERE_MAX];
  for (size_t i = 0; i < n; i++) {
    strata_condition *condition = NULL;
    snprintf(item_where, sizeof item_where, "%s.%s[%zu]", where, clause_name,
             i);
    grpc_status_code code =
        convert_condition(call, item_where, conditions[i], &condition);
    if (code != GRPC_STATUS_OK)
      return code;
    if (condition != NULL &&
        strata_filter_add(filter, clause, condition) != STRATA_OK)
      return fail_builder(call, item_where);
  }
  return GRPC_STATUS_OK;
}

static grpc_status_code convert_filter(api_call *call, const char *where,
                                       const Qdrant__Filter *in,
                                       strata_filter **out) {
  *out = NULL;
  if (in == NULL)
    return GRPC_STATUS_OK;
  strata_filter *filter = strata_filter_new();
  if (filter == NULL)
    return api_fail(call, GRPC_STATUS_RESOURCE_EXHAUSTED, "out of memory");

  grpc_status_code code = add_clause(call, where, "must", STRATA_MUST, in->must,
                                     in->n_must, filter);
  if (code == GRPC_STATUS_OK)
    code = add_clause(call, where, "should", STRATA_SHOULD, in->should,
                      in->n_should, filter);
  if (code == GRPC_STATUS_OK)
    code = add_clause(call, where, "must_not", STRATA_MUST_NOT, in->must_not,
                      in->n_must_not, filter);
  if (code == GRPC_STATUS_OK && in->min_should != NULL) {
    code = add_clause(call, where, "min_should.conditions", STRATA_MIN_SHOULD,
                      in->min_should->conditions, in->min_should->n_conditions,
                      filter);
    strata_filter_set_min_count(filter, (size_t)in->min_should->min_count);
  }
  if (code != GRPC_STATUS_OK) {
    strata_filter_free(filter);
    return code;
  }
  *out = filter;
  return GRPC_STATUS_OK;
}

grpc_status_code api_filter_from_proto(api_call *call, const Qdrant__Filter *in,
                                       strata_filter **out) {
  *out = NULL;
  if (!api_filter_is_set(in))
    return GRPC_STATUS_OK;
  grpc_status_code code = convert_filter(call, "filter", in, out);
  if (code != GRPC_STATUS_OK)
    return code;

  /* Only unset conditions: nothing to filter, as in Qdrant. */
  strata_filter *f = *out;
  if (f->n_must == 0 && f->n_should == 0 && f->n_must_not == 0 &&
      !f->has_min_should) {
    strata_filter_free(f);
    *out = NULL;
  }
  return GRPC_STATUS_OK;
}
