/*
 * Tests api_filter_from_proto(): each gRPC Filter message must convert
 * to the same strata_filter as the equivalent Qdrant REST filter JSON
 * read by strata_filter_parse_json() (compared through
 * strata_filter_to_json()), and unsupported or invalid parts must fail
 * with INVALID_ARGUMENT naming where they are.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"

static int failures;

#define CHECK(cond, ...)                                                       \
  do {                                                                         \
    if (!(cond)) {                                                             \
      fprintf(stderr, "%s:%d: check failed: %s: ", __FILE__, __LINE__, #cond); \
      fprintf(stderr, __VA_ARGS__);                                            \
      fputc('\n', stderr);                                                     \
      failures++;                                                              \
    }                                                                          \
  } while (0)

/* ------------------------------------------------------------------ */
/* Message builders.  Everything they allocate is freed by free_all().  */

static void *allocations[4096];
static size_t n_allocations;

static void *alloc(size_t size) {
  if (n_allocations == sizeof allocations / sizeof allocations[0]) {
    fprintf(stderr, "test_filter_convert: too many allocations\n");
    exit(1);
  }
  void *p = calloc(1, size);
  if (p == NULL) {
    fprintf(stderr, "test_filter_convert: out of memory\n");
    exit(1);
  }
  allocations[n_allocations++] = p;
  return p;
}

static void free_all(void) {
  for (size_t i = 0; i < n_allocations; i++)
    free(allocations[i]);
  n_allocations = 0;
}

static Qdrant__Condition *field_cond(Qdrant__FieldCondition *f) {
  Qdrant__Condition *c = alloc(sizeof *c);
  *c = (Qdrant__Condition)QDRANT__CONDITION__INIT;
  c->condition_one_of_case = QDRANT__CONDITION__CONDITION_ONE_OF_FIELD;
  c->field = f;
  return c;
}

static Qdrant__FieldCondition *field(const char *key) {
  Qdrant__FieldCondition *f = alloc(sizeof *f);
  *f = (Qdrant__FieldCondition)QDRANT__FIELD_CONDITION__INIT;
  f->key = (char *)key;
  return f;
}

static Qdrant__Match *match(void) {
  Qdrant__Match *m = alloc(sizeof *m);
  *m = (Qdrant__Match)QDRANT__MATCH__INIT;
  return m;
}

static Qdrant__Condition *match_keyword(const char *key, const char *value) {
  Qdrant__FieldCondition *f = field(key);
  f->match = match();
  f->match->match_value_case = QDRANT__MATCH__MATCH_VALUE_KEYWORD;
  f->match->keyword = (char *)value;
  return field_cond(f);
}

static Qdrant__Condition *match_integer(const char *key, int64_t value) {
  Qdrant__FieldCondition *f = field(key);
  f->match = match();
  f->match->match_value_case = QDRANT__MATCH__MATCH_VALUE_INTEGER;
  f->match->integer = value;
  return field_cond(f);
}

static Qdrant__Range *range_gte_lt(double gte, double lt) {
  Qdrant__Range *r = alloc(sizeof *r);
  *r = (Qdrant__Range)QDRANT__RANGE__INIT;
  r->_gte_case = QDRANT__RANGE___GTE_GTE;
  r->gte = gte;
  r->_lt_case = QDRANT__RANGE___LT_LT;
  r->lt = lt;
  return r;
}

static Qdrant__Filter *filter_new(void) {
  Qdrant__Filter *f = alloc(sizeof *f);
  *f = (Qdrant__Filter)QDRANT__FILTER__INIT;
  return f;
}

/* Appends a condition to a clause array (must, should, must_not). */
static void push(Qdrant__Condition ***list, size_t *n, Qdrant__Condition *c) {
  Qdrant__Condition **grown = alloc((*n + 1) * sizeof *grown);
  if (*n > 0)
    memcpy(grown, *list, *n * sizeof *grown);
  grown[(*n)++] = c;
  *list = grown;
}

/* ------------------------------------------------------------------ */
/* Checks                                                               */

/* Converts `in` and compares with the REST JSON `expected`. */
static void expect_same(const char *name, const Qdrant__Filter *in,
                        const char *expected) {
  api_call call;
  memset(&call, 0, sizeof call);
  strata_filter *got = NULL, *want = NULL;
  char *got_json = NULL, *want_json = NULL;

  grpc_status_code code = api_filter_from_proto(&call, in, &got);
  CHECK(code == GRPC_STATUS_OK, "%s: status %d: %s", name, (int)code,
        call.error);
  CHECK(got != NULL, "%s: no filter", name);
  strata_status st =
      strata_filter_parse_json(expected, strlen(expected), &want);
  CHECK(st == STRATA_OK, "%s: expected JSON rejected: %s", name,
        strata_last_error());
  if (got != NULL && want != NULL) {
    strata_filter_to_json(got, &got_json);
    strata_filter_to_json(want, &want_json);
    CHECK(got_json && want_json && strcmp(got_json, want_json) == 0,
          "%s:\n  got  %s\n  want %s", name, got_json ? got_json : "(null)",
          want_json ? want_json : "(null)");
  }
  free(got_json);
  free(want_json);
  strata_filter_free(got);
  strata_filter_free(want);
  api_arena_free(&call.arena);
}

/* Converts `in` and expects INVALID_ARGUMENT with `fragment` in the
 * message. */
static void expect_error(const char *name, const Qdrant__Filter *in,
                         const char *fragment) {
  api_call call;
  memset(&call, 0, sizeof call);
  strata_filter *got = NULL;
  grpc_status_code code = api_filter_from_proto(&call, in, &got);
  CHECK(code == GRPC_STATUS_INVALID_ARGUMENT, "%s: status %d", name, (int)code);
  CHECK(got == NULL, "%s: a filter was returned", name);
  CHECK(strstr(call.error, fragment) != NULL, "%s: message \"%s\" lacks \"%s\"",
        name, call.error, fragment);
  strata_filter_free(got);
  api_arena_free(&call.arena);
}

/* ------------------------------------------------------------------ */
/* Cases                                                                */

static void test_clauses_and_ids(void) {
  Qdrant__Filter *f = filter_new();
  push(&f->must, &f->n_must, match_keyword("city", "London"));
  Qdrant__FieldCondition *price = field("price");
  price->range = range_gte_lt(10, 20);
  push(&f->must_not, &f->n_must_not, field_cond(price));

  static Qdrant__PointId num = QDRANT__POINT_ID__INIT,
                         uuid = QDRANT__POINT_ID__INIT;
  num.point_id_options_case = QDRANT__POINT_ID__POINT_ID_OPTIONS_NUM;
  num.num = 7;
  uuid.point_id_options_case = QDRANT__POINT_ID__POINT_ID_OPTIONS_UUID;
  uuid.uuid = "6F1C1E9C-0000-4000-8000-000000000001";
  static Qdrant__PointId *ids[2] = {&num, &uuid};
  static Qdrant__HasIdCondition has_id = QDRANT__HAS_ID_CONDITION__INIT;
  has_id.n_has_id = 2;
  has_id.has_id = ids;
  static Qdrant__Condition id_cond = QDRANT__CONDITION__INIT;
  id_cond.condition_one_of_case = QDRANT__CONDITION__CONDITION_ONE_OF_HAS_ID;
  id_cond.has_id = &has_id;
  push(&f->should, &f->n_should, &id_cond);

  expect_same("clauses", f,
              "{\"must\": [{\"key\": \"city\", \"match\": {\"value\": "
              "\"London\"}}],"
              " \"must_not\": [{\"key\": \"price\", \"range\": {\"gte\": 10, "
              "\"lt\": 20}}],"
              " \"should\": [{\"has_id\": [7, "
              "\"6f1c1e9c-0000-4000-8000-000000000001\"]}]}");
}

static void test_match_kinds(void) {
  Qdrant__Filter *f = filter_new();
  static char *words[] = {"b", "a"};
  static Qdrant__RepeatedStrings strings = QDRANT__REPEATED_STRINGS__INIT;
  strings.n_strings = 2;
  strings.strings = words;
  Qdrant__FieldCondition *any = field("tag");
  any->match = match();
  any->match->match_value_case = QDRANT__MATCH__MATCH_VALUE_KEYWORDS;
  any->match->keywords = &strings;
  push(&f->must, &f->n_must, field_cond(any));

  static int64_t numbers[] = {3, 1};
  static Qdrant__RepeatedIntegers integers = QDRANT__REPEATED_INTEGERS__INIT;
  integers.n_integers = 2;
  integers.integers = numbers;
  Qdrant__FieldCondition *except = field("n");
  except->match = match();
  except->match->match_value_case = QDRANT__MATCH__MATCH_VALUE_EXCEPT_INTEGERS;
  except->match->except_integers = &integers;
  push(&f->must, &f->n_must, field_cond(except));

  Qdrant__FieldCondition *text = field("body");
  text->match = match();
  text->match->match_value_case = QDRANT__MATCH__MATCH_VALUE_TEXT;
  text->match->text = "needle";
  push(&f->must, &f->n_must, field_cond(text));

  Qdrant__FieldCondition *flag = field("ok");
  flag->match = match();
  flag->match->match_value_case = QDRANT__MATCH__MATCH_VALUE_BOOLEAN;
  flag->match->boolean = 1;
  push(&f->must, &f->n_must, field_cond(flag));
  push(&f->must, &f->n_must, match_integer("year", -5));

  expect_same("match kinds", f,
              "{\"must\": ["
              "{\"key\": \"tag\", \"match\": {\"any\": [\"b\", \"a\"]}},"
              "{\"key\": \"n\", \"match\": {\"except\": [3, 1]}},"
              "{\"key\": \"body\", \"match\": {\"text\": \"needle\"}},"
              "{\"key\": \"ok\", \"match\": {\"value\": true}},"
              "{\"key\": \"year\", \"match\": {\"value\": -5}}]}");
}

static void test_other_conditions(void) {
  Qdrant__Filter *f = filter_new();

  Qdrant__FieldCondition *count = field("tags");
  static Qdrant__ValuesCount vc = QDRANT__VALUES_COUNT__INIT;
  vc._gte_case = QDRANT__VALUES_COUNT___GTE_GTE;
  vc.gte = 2;
  count->values_count = &vc;
  push(&f->must, &f->n_must, field_cond(count));

  static Qdrant__IsEmptyCondition empty = QDRANT__IS_EMPTY_CONDITION__INIT;
  empty.key = "e";
  static Qdrant__Condition empty_cond = QDRANT__CONDITION__INIT;
  empty_cond.condition_one_of_case =
      QDRANT__CONDITION__CONDITION_ONE_OF_IS_EMPTY;
  empty_cond.is_empty = &empty;
  push(&f->must, &f->n_must, &empty_cond);

  static Qdrant__IsNullCondition null = QDRANT__IS_NULL_CONDITION__INIT;
  null.key = "z";
  static Qdrant__Condition null_cond = QDRANT__CONDITION__INIT;
  null_cond.condition_one_of_case = QDRANT__CONDITION__CONDITION_ONE_OF_IS_NULL;
  null_cond.is_null = &null;
  push(&f->should, &f->n_should, &null_cond);

  /* nested {key: "items", filter: {must: [price match 3]}} */
  Qdrant__Filter *inner = filter_new();
  push(&inner->must, &inner->n_must, match_integer("price", 3));
  static Qdrant__NestedCondition nested = QDRANT__NESTED_CONDITION__INIT;
  nested.key = "items";
  nested.filter = inner;
  static Qdrant__Condition nested_cond = QDRANT__CONDITION__INIT;
  nested_cond.condition_one_of_case =
      QDRANT__CONDITION__CONDITION_ONE_OF_NESTED;
  nested_cond.nested = &nested;
  push(&f->must, &f->n_must, &nested_cond);

  /* A filter as a condition, and an unset condition that is dropped. */
  Qdrant__Filter *sub = filter_new();
  push(&sub->must_not, &sub->n_must_not, match_keyword("a", "x"));
  static Qdrant__Condition sub_cond = QDRANT__CONDITION__INIT;
  sub_cond.condition_one_of_case = QDRANT__CONDITION__CONDITION_ONE_OF_FILTER;
  sub_cond.filter = sub;
  push(&f->must, &f->n_must, &sub_cond);
  static Qdrant__Condition unset = QDRANT__CONDITION__INIT;
  push(&f->must, &f->n_must, &unset);

  /* min_should: one of two. */
  static Qdrant__MinShould min = QDRANT__MIN_SHOULD__INIT;
  min.min_count = 1;
  push(&min.conditions, &min.n_conditions, match_keyword("c", "1"));
  push(&min.conditions, &min.n_conditions, match_keyword("c", "2"));
  f->min_should = &min;

  expect_same("other conditions", f,
              "{\"must\": ["
              "{\"key\": \"tags\", \"values_count\": {\"gte\": 2}},"
              "{\"is_empty\": {\"key\": \"e\"}},"
              "{\"nested\": {\"key\": \"items\", \"filter\": {\"must\": "
              "[{\"key\": \"price\", \"match\": {\"value\": 3}}]}}},"
              "{\"must_not\": [{\"key\": \"a\", \"match\": {\"value\": "
              "\"x\"}}]}],"
              " \"should\": [{\"is_null\": {\"key\": \"z\"}}],"
              " \"min_should\": {\"conditions\": ["
              "{\"key\": \"c\", \"match\": {\"value\": \"1\"}},"
              "{\"key\": \"c\", \"match\": {\"value\": \"2\"}}], "
              "\"min_count\": 1}}");
}

static void test_datetime_and_several_tests(void) {
  Qdrant__Filter *f = filter_new();

  /* 2024-05-01T10:00:00.5Z and 1970-01-01T00:00:00Z */
  static Google__Protobuf__Timestamp gte = GOOGLE__PROTOBUF__TIMESTAMP__INIT,
                                     lt = GOOGLE__PROTOBUF__TIMESTAMP__INIT;
  gte.seconds = 1714557600;
  gte.nanos = 500000000;
  lt.seconds = 0;
  static Qdrant__DatetimeRange dr = QDRANT__DATETIME_RANGE__INIT;
  dr.gte = &gte;
  dr.lt = &lt;
  Qdrant__FieldCondition *when = field("t");
  when->datetime_range = &dr;
  push(&f->must, &f->n_must, field_cond(when));

  /* One FieldCondition with a match and a range: both must hold. */
  Qdrant__FieldCondition *both = field("n");
  both->match = match();
  both->match->match_value_case = QDRANT__MATCH__MATCH_VALUE_INTEGER;
  both->match->integer = 4;
  both->range = range_gte_lt(1, 9);
  push(&f->must, &f->n_must, field_cond(both));

  /* is_empty=false: the field is not empty. */
  Qdrant__FieldCondition *filled = field("f");
  filled->_is_empty_case = QDRANT__FIELD_CONDITION___IS_EMPTY_IS_EMPTY;
  filled->is_empty = 0;
  push(&f->must, &f->n_must, field_cond(filled));

  expect_same("datetime and several tests", f,
              "{\"must\": ["
              "{\"key\": \"t\", \"range\": {\"gte\": "
              "\"2024-05-01T10:00:00.5Z\", \"lt\": \"1970-01-01T00:00:00Z\"}},"
              "{\"must\": [{\"key\": \"n\", \"match\": {\"value\": 4}},"
              " {\"key\": \"n\", \"range\": {\"gte\": 1, \"lt\": 9}}]},"
              "{\"must_not\": [{\"is_empty\": {\"key\": \"f\"}}]}]}");
}

static void test_empty_filters(void) {
  api_call call;
  memset(&call, 0, sizeof call);
  strata_filter *out = (strata_filter *)&call; /* must be reset to NULL */

  CHECK(api_filter_from_proto(&call, NULL, &out) == GRPC_STATUS_OK, "NULL");
  CHECK(out == NULL, "absent filter converted");

  Qdrant__Filter *f = filter_new();
  CHECK(api_filter_from_proto(&call, f, &out) == GRPC_STATUS_OK, "empty");
  CHECK(out == NULL, "empty filter converted");

  static Qdrant__Condition unset = QDRANT__CONDITION__INIT;
  push(&f->must, &f->n_must, &unset);
  CHECK(api_filter_from_proto(&call, f, &out) == GRPC_STATUS_OK, "unset");
  CHECK(out == NULL, "filter of unset conditions converted");
  api_arena_free(&call.arena);
}

static void test_errors(void) {
  Qdrant__Filter *phrase = filter_new();
  push(&phrase->must, &phrase->n_must, match_keyword("a", "x"));
  Qdrant__FieldCondition *p = field("b");
  p->match = match();
  p->match->match_value_case = QDRANT__MATCH__MATCH_VALUE_PHRASE;
  p->match->phrase = "two words";
  push(&phrase->must, &phrase->n_must, field_cond(p));
  expect_error("phrase", phrase, "filter.must[1].match: match phrase");

  Qdrant__Filter *geo = filter_new();
  Qdrant__FieldCondition *g = field("loc");
  static Qdrant__GeoRadius radius = QDRANT__GEO_RADIUS__INIT;
  g->geo_radius = &radius;
  push(&geo->should, &geo->n_should, field_cond(g));
  expect_error("geo", geo, "filter.should[0]: geo conditions");

  Qdrant__Filter *vector = filter_new();
  static Qdrant__HasVectorCondition hv = QDRANT__HAS_VECTOR_CONDITION__INIT;
  static Qdrant__Condition hv_cond = QDRANT__CONDITION__INIT;
  hv_cond.condition_one_of_case =
      QDRANT__CONDITION__CONDITION_ONE_OF_HAS_VECTOR;
  hv_cond.has_vector = &hv;
  push(&vector->must_not, &vector->n_must_not, &hv_cond);
  expect_error("has_vector", vector, "filter.must_not[0]: has_vector");

  Qdrant__Filter *count = filter_new();
  Qdrant__FieldCondition *c = field("n");
  static Qdrant__ValuesCount huge = QDRANT__VALUES_COUNT__INIT;
  huge._lt_case = QDRANT__VALUES_COUNT___LT_LT;
  huge.lt = UINT64_MAX;
  c->values_count = &huge;
  push(&count->must, &count->n_must, field_cond(c));
  expect_error("values_count bound", count, "above 2^63-1");

  Qdrant__Filter *when = filter_new();
  Qdrant__FieldCondition *w = field("t");
  static Google__Protobuf__Timestamp far = GOOGLE__PROTOBUF__TIMESTAMP__INIT;
  far.seconds = 253402300800LL; /* year 10000 */
  static Qdrant__DatetimeRange dr = QDRANT__DATETIME_RANGE__INIT;
  dr.gt = &far;
  w->datetime_range = &dr;
  push(&when->must, &when->n_must, field_cond(w));
  expect_error("timestamp range", when, "between years 1 and 9999");

  Qdrant__Filter *no_test = filter_new();
  push(&no_test->must, &no_test->n_must, field_cond(field("k")));
  expect_error("no test", no_test, "has no test");

  Qdrant__Filter *bad_id = filter_new();
  static Qdrant__PointId id = QDRANT__POINT_ID__INIT;
  id.point_id_options_case = QDRANT__POINT_ID__POINT_ID_OPTIONS_UUID;
  id.uuid = "not-a-uuid";
  static Qdrant__PointId *ids[1] = {&id};
  static Qdrant__HasIdCondition has = QDRANT__HAS_ID_CONDITION__INIT;
  has.n_has_id = 1;
  has.has_id = ids;
  static Qdrant__Condition has_cond = QDRANT__CONDITION__INIT;
  has_cond.condition_one_of_case = QDRANT__CONDITION__CONDITION_ONE_OF_HAS_ID;
  has_cond.has_id = &has;
  push(&bad_id->must, &bad_id->n_must, &has_cond);
  expect_error("bad uuid", bad_id, "not a UUID");

  /* Nesting deeper than the engine allows. */
  Qdrant__Filter *deep = filter_new();
  push(&deep->must, &deep->n_must, match_keyword("a", "x"));
  for (int i = 0; i < STRATA_FILTER_MAX_DEPTH + 2; i++) {
    Qdrant__Filter *outer = filter_new();
    Qdrant__Condition *c2 = alloc(sizeof *c2);
    *c2 = (Qdrant__Condition)QDRANT__CONDITION__INIT;
    c2->condition_one_of_case = QDRANT__CONDITION__CONDITION_ONE_OF_FILTER;
    c2->filter = deep;
    push(&outer->must, &outer->n_must, c2);
    deep = outer;
  }
  expect_error("too deep", deep, "filter.must[0].filter.must[0]");
}

int main(void) {
  test_clauses_and_ids();
  test_match_kinds();
  test_other_conditions();
  test_datetime_and_several_tests();
  test_empty_filters();
  test_errors();
  free_all();
  if (failures > 0) {
    fprintf(stderr, "%d checks failed\n", failures);
    return 1;
  }
  printf("filter conversion: all checks passed\n");
  return 0;
}
