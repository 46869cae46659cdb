/* Filter JSON: round trips, error messages with JSON paths, builders,
 * the depth limit and a large has_id. */
#include <time.h>

#include "filter.h"
#include "filter_test.h"
#include "payload_index.h"

/* Parses `in`, writes it back, and checks the output equals `expected`
 * and parses again to the same output. */
static void check_round_trip(const char *in, const char *expected) {
  strata_filter *f = NULL, *g = NULL;
  char *a = NULL, *b = NULL;
  strata_status st = strata_filter_parse_json(in, strlen(in), &f);
  CHECK_MSG(st == STRATA_OK, "%s: %s", in, strata_last_error());
  if (st != STRATA_OK)
    return;
  REQUIRE(strata_filter_to_json(f, &a) == STRATA_OK);
  CHECK_MSG(strcmp(a, expected) == 0,
            "\n  input    %s\n  output   %s\n  expected %s", in, a, expected);
  REQUIRE(strata_filter_parse_json(a, strlen(a), &g) == STRATA_OK);
  REQUIRE(strata_filter_to_json(g, &b) == STRATA_OK);
  CHECK_MSG(strcmp(a, b) == 0, "second round trip: %s vs %s", a, b);
  free(a);
  free(b);
  strata_filter_free(f);
  strata_filter_free(g);
}

static void test_round_trips(void) {
  static const char *const cases[][2] = {
      {"{}", "{}"},
      {"{\"must\":[{\"key\":\"city\",\"match\":{\"value\":\"London\"}}]}",
       "{\"must\":[{\"key\":\"city\",\"match\":{\"value\":\"London\"}}]}"},
      /* A single condition in place of an array. */
      {"{\"must\":{\"key\":\"n\",\"match\":{\"value\":-9223372036854775807}}}",
       "{\"must\":[{\"key\":\"n\",\"match\":{\"value\":-9223372036854775807}}]"
       "}"},
      {"{\"should\":[{\"key\":\"ok\",\"match\":{\"value\":true}}]}",
       "{\"should\":[{\"key\":\"ok\",\"match\":{\"value\":true}}]}"},
      /* Lists come back sorted and without duplicates. */
      {"{\"must\":[{\"key\":\"c\",\"match\":{\"any\":[\"b\",\"a\",\"b\"]}}]}",
       "{\"must\":[{\"key\":\"c\",\"match\":{\"any\":[\"a\",\"b\"]}}]}"},
      {"{\"must\":[{\"key\":\"c\",\"match\":{\"any\":[3,1]}}]}",
       "{\"must\":[{\"key\":\"c\",\"match\":{\"any\":[1,3]}}]}"},
      {"{\"must_not\":[{\"key\":\"c\",\"match\":{\"except\":[\"x\"]}}]}",
       "{\"must_not\":[{\"key\":\"c\",\"match\":{\"except\":[\"x\"]}}]}"},
      {"{\"must\":[{\"key\":\"c\",\"match\":{\"except\":[7]}}]}",
       "{\"must\":[{\"key\":\"c\",\"match\":{\"except\":[7]}}]}"},
      {"{\"must\":[{\"key\":\"t\",\"match\":{\"text\":\"hello w\"}}]}",
       "{\"must\":[{\"key\":\"t\",\"match\":{\"text\":\"hello w\"}}]}"},
      {"{\"must\":[{\"key\":\"p\",\"range\":{\"gte\":10,\"lt\":20.5}}]}",
       "{\"must\":[{\"key\":\"p\",\"range\":{\"lt\":20.5,\"gte\":10.0}}]}"},
      {"{\"must\":[{\"key\":\"d\",\"range\":{\"gt\":\"2024-01-02\","
       "\"lte\":\"2024-01-02T03:04:05.5+01:00\"}}]}",
       "{\"must\":[{\"key\":\"d\",\"range\":{\"gt\":\"2024-01-02T00:00:00Z\","
       "\"lte\":\"2024-01-02T02:04:05.500000Z\"}}]}"},
      {"{\"must\":[{\"key\":\"d\",\"range\":{\"lt\":\"1969-12-31 23:59\"}}]}",
       "{\"must\":[{\"key\":\"d\",\"range\":{\"lt\":\"1969-12-31T23:59:00Z\"}}]"
       "}"},
      {"{\"must\":[{\"key\":\"tags\",\"values_count\":{\"gt\":2,\"lte\":5}}]}",
       "{\"must\":[{\"key\":\"tags\",\"values_count\":{\"gt\":2,\"lte\":5}}]}"},
      {"{\"must\":[{\"is_empty\":{\"key\":\"x\"}},{\"is_null\":{\"key\":\"y\"}}"
       "]}",
       "{\"must\":[{\"is_empty\":{\"key\":\"x\"}},{\"is_null\":{\"key\":\"y\"}}"
       "]}"},
      {"{\"must\":[{\"has_id\":[5,1,\"936DA01F-9ABD-4D9D-80C7-02AF85C822A8\","
       "\"18446744073709551615\"]}]}",
       "{\"must\":[{\"has_id\":[1,5,\"18446744073709551615\","
       "\"936da01f-9abd-4d9d-80c7-02af85c822a8\"]}]}"},
      {"{\"must\":[{\"nested\":{\"key\":\"a\",\"filter\":{\"must\":"
       "[{\"key\":\"b\",\"match\":{\"value\":1}}]}}}]}",
       "{\"must\":[{\"nested\":{\"key\":\"a\",\"filter\":{\"must\":"
       "[{\"key\":\"b\",\"match\":{\"value\":1}}]}}}]}"},
      {"{\"should\":[{\"must\":[{\"is_null\":{\"key\":\"a\"}}]},{}]}",
       "{\"should\":[{\"must\":[{\"is_null\":{\"key\":\"a\"}}]},{}]}"},
      {"{\"min_should\":{\"conditions\":[{\"is_null\":{\"key\":\"a\"}},"
       "{\"is_empty\":{\"key\":\"b\"}}],\"min_count\":2}}",
       "{\"min_should\":{\"conditions\":[{\"is_null\":{\"key\":\"a\"}},"
       "{\"is_empty\":{\"key\":\"b\"}}],\"min_count\":2}}"},
      /* Key paths come back in canonical spelling. */
      {"{\"must\":[{\"is_null\":{\"key\":\"a[].\\\"x.y\\\"[3].b\"}}]}",
       "{\"must\":[{\"is_null\":{\"key\":\"a[].\\\"x.y\\\"[3].b\"}}]}"},
      {"{\"must\":[{\"is_null\":{\"key\":\"\\\"plain\\\".z\"}}]}",
       "{\"must\":[{\"is_null\":{\"key\":\"plain.z\"}}]}"},
      {"{\"must\":[{\"key\":\"город\",\"match\":{\"value\":\"Zürich\"}}]}",
       "{\"must\":[{\"key\":\"город\",\"match\":{\"value\":\"Zürich\"}}]}"},
      {"{\"must\":null,\"should\":[]}", "{}"},
  };
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++)
    check_round_trip(cases[i][0], cases[i][1]);
}

/* Checks that parsing fails with a message that contains `expected`. */
static void check_error(const char *in, const char *expected) {
  strata_filter *f = NULL;
  strata_status st = strata_filter_parse_json(in, strlen(in), &f);
  CHECK_MSG(st == STRATA_ERR_INVALID_ARGUMENT, "%s: status %d", in, st);
  CHECK(f == NULL);
  CHECK_MSG(strstr(strata_last_error(), expected) != NULL,
            "\n  input    %s\n  message  %s\n  expected %s", in,
            strata_last_error(), expected);
  strata_filter_free(f);
}

static void test_errors(void) {
  static const char *const cases[][2] = {
      {"{\"must\":[", "filter: invalid JSON"},
      {"[]", "filter: expected a filter object, got an array"},
      {"{\"must\":[{},{},{\"key\":\"p\",\"range\":{}}]}",
       "must[2].range: a range needs at least one of lt, gt, gte, lte"},
      {"{\"must\":[{\"key\":\"p\",\"range\":{\"gte\":null}}]}",
       "must[0].range: a range needs at least one"},
      {"{\"musts\":[]}", "filter: unknown field \"musts\""},
      {"{\"must\":[{\"geo_radius\":{}}]}",
       "must[0]: unknown condition \"geo_radius\""},
      {"{\"should\":{\"key\":\"a\",\"match\":{\"value\":1},\"extra\":1}}",
       "should: unknown field \"extra\""},
      {"{\"must\":[{\"key\":\"a..b\",\"match\":{\"value\":1}}]}",
       "must[0].key: invalid key path \"a..b\""},
      {"{\"must\":[{\"key\":\"a[x]\",\"match\":{\"value\":1}}]}",
       "must[0].key: invalid key path \"a[x]\""},
      {"{\"must\":[{\"key\":\"\\\"a\",\"match\":{\"value\":1}}]}",
       "unclosed quote"},
      {"{\"must\":[{\"key\":\"\",\"match\":{\"value\":1}}]}",
       "must[0].key: invalid key path: the key is empty"},
      {"{\"must\":[{\"key\":5,\"match\":{\"value\":1}}]}",
       "must[0].key: expected a string, got an integer"},
      {"{\"must\":[{\"key\":\"a\"}]}",
       "must[0]: a field condition needs exactly one of match"},
      {"{\"must\":[{\"key\":\"a\",\"match\":{\"value\":1.5}}]}",
       "must[0].match.value: expected a string, an integer or a boolean, got "
       "a real number"},
      {"{\"must\":[{\"key\":\"a\",\"match\":{\"value\":1,\"any\":[1]}}]}",
       "must[0].match: a match needs exactly one of"},
      {"{\"must\":[{\"key\":\"a\",\"match\":{\"like\":1}}]}",
       "must[0].match: unknown field \"like\""},
      {"{\"must\":[{\"key\":\"a\",\"match\":{\"any\":[1,\"x\"]}}]}",
       "must[0].match.any: the list mixes strings and integers"},
      {"{\"must\":[{\"key\":\"a\",\"match\":{\"except\":[1,true]}}]}",
       "must[0].match.except[1]: expected a string or an integer, got a "
       "boolean"},
      {"{\"must\":[{\"key\":\"a\",\"match\":{\"any\":\"x\"}}]}",
       "must[0].match.any: expected an array, got a string"},
      {"{\"must\":[{\"key\":\"a\",\"range\":{\"gt\":1,\"lt\":\"2024-01-01\"}}]"
       "}",
       "must[0].range: a range mixes numbers and datetime strings"},
      {"{\"must\":[{\"key\":\"a\",\"range\":{\"gt\":\"yesterday\"}}]}",
       "must[0].range.gt: invalid datetime \"yesterday\""},
      {"{\"must\":[{\"key\":\"a\",\"range\":{\"gt\":\"2024-02-30\"}}]}",
       "must[0].range.gt: invalid datetime"},
      {"{\"must\":[{\"key\":\"a\",\"range\":{\"gt\":true}}]}",
       "must[0].range.gt: expected a number or a datetime string"},
      {"{\"must\":[{\"key\":\"a\",\"values_count\":{\"gt\":-1}}]}",
       "must[0].values_count.gt: expected a non-negative integer"},
      {"{\"must\":[{\"key\":\"a\",\"values_count\":{}}]}",
       "must[0].values_count: values_count needs at least one of"},
      {"{\"must\":[{\"has_id\":[1,-2]}]}",
       "must[0].has_id[1]: invalid point id"},
      {"{\"must\":[{\"has_id\":[\"not-a-uuid\"]}]}",
       "must[0].has_id[0]: invalid point id"},
      {"{\"must\":[{\"has_id\":1}]}",
       "must[0].has_id: expected an array of point ids"},
      {"{\"must\":[{\"nested\":{\"key\":\"a\",\"filter\":{\"must\":"
       "[{\"has_id\":[1]}]}}}]}",
       "must[0].nested.filter.must[0].has_id: has_id is not supported inside "
       "nested"},
      {"{\"must\":[{\"nested\":{\"key\":\"a\"}}]}",
       "must[0].nested: missing field \"filter\""},
      {"{\"must\":[{\"is_empty\":{\"key\":\"a\",\"x\":1}}]}",
       "must[0].is_empty: unknown field \"x\""},
      {"{\"must\":[{\"is_null\":{}}]}",
       "must[0].is_null: missing field \"key\""},
      {"{\"must\":[{\"is_null\":{\"key\":\"a\"},\"has_id\":[1]}]}",
       "must[0]: has_id cannot be combined"},
      {"{\"min_should\":{\"conditions\":[]}}",
       "min_should: missing field \"min_count\""},
      {"{\"min_should\":{\"conditions\":[],\"min_count\":-1}}",
       "min_should.min_count: expected a non-negative integer"},
      {"{\"min_should\":{\"conditions\":[5],\"min_count\":1}}",
       "min_should.conditions[0]: expected a condition object, got an integer"},
      {"{\"must\":[{\"key\":\"a\",\"match\":{\"value\":99999999999999999999}}]"
       "}",
       "filter: invalid JSON"},
  };
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++)
    check_error(cases[i][0], cases[i][1]);
}

/* Builds {"must":[{"must":[ ... {} ... ]}]} nested `levels` deep. */
static char *deep_filter(int levels) {
  size_t len = (size_t)levels * 16 + 16;
  char *s = malloc(len), *p = s;
  for (int i = 1; i < levels; i++)
    p += sprintf(p, "{\"must\":[");
  p += sprintf(p, "{}");
  for (int i = 1; i < levels; i++)
    p += sprintf(p, "]}");
  return s;
}

static void test_depth_limit(void) {
  strata_filter *f = NULL;
  char *ok = deep_filter(STRATA_FILTER_MAX_DEPTH);
  CHECK(strata_filter_parse_json(ok, strlen(ok), &f) == STRATA_OK);
  CHECK(f != NULL);
  CHECK(f && f->depth == STRATA_FILTER_MAX_DEPTH);
  strata_filter_free(f);
  char *bad = deep_filter(STRATA_FILTER_MAX_DEPTH + 1);
  CHECK(strata_filter_parse_json(bad, strlen(bad), &f) ==
        STRATA_ERR_INVALID_ARGUMENT);
  CHECK(strstr(strata_last_error(), "nest deeper than 32 levels") != NULL);
  CHECK(strstr(strata_last_error(), "must[0].must[0]") != NULL);
  free(ok);
  free(bad);

  /* Builders enforce the same limit. */
  strata_filter *inner = strata_filter_new();
  for (int i = 1; i < STRATA_FILTER_MAX_DEPTH; i++) {
    strata_filter *outer = strata_filter_new();
    REQUIRE(strata_filter_add(outer, STRATA_MUST, strata_cond_filter(inner)) ==
            STRATA_OK);
    inner = outer;
  }
  CHECK(inner->depth == STRATA_FILTER_MAX_DEPTH);
  strata_filter *top = strata_filter_new();
  CHECK(strata_filter_add(top, STRATA_MUST, strata_cond_filter(inner)) ==
        STRATA_ERR_INVALID_ARGUMENT);
  strata_filter_free(top);
}

static void test_builders(void) {
  strata_filter *f = strata_filter_new();
  REQUIRE(f);
  const char *cities[] = {"Paris", "London"};
  int64_t sizes[] = {3, 1};
  strata_bounds price = {.set = STRATA_BOUND_GTE, .gte = 10};
  strata_bounds count = {.set = STRATA_BOUND_GT, .gt_i = 1};
  strata_point_id ids[] = {strata_id_num(7)};
  strata_filter *inner = strata_filter_new();
  CHECK(strata_filter_add(inner, STRATA_MUST,
                          strata_cond_match_bool("ok", 1)) == STRATA_OK);
  CHECK(strata_filter_add(f, STRATA_MUST,
                          strata_cond_match_keyword("city", "London")) ==
        STRATA_OK);
  CHECK(strata_filter_add(f, STRATA_MUST, strata_cond_range("price", &price)) ==
        STRATA_OK);
  CHECK(strata_filter_add(f, STRATA_SHOULD,
                          strata_cond_match_keywords("city", cities, 2, 0)) ==
        STRATA_OK);
  CHECK(strata_filter_add(f, STRATA_SHOULD,
                          strata_cond_match_integers("size", sizes, 2, 1)) ==
        STRATA_OK);
  CHECK(strata_filter_add(f, STRATA_MUST_NOT, strata_cond_has_id(ids, 1)) ==
        STRATA_OK);
  CHECK(strata_filter_add(f, STRATA_MIN_SHOULD,
                          strata_cond_values_count("tags", &count)) ==
        STRATA_OK);
  CHECK(strata_filter_add(
            f, STRATA_MIN_SHOULD,
            strata_cond_datetime_range("d", NULL, NULL, NULL, "2024-05-01")) ==
        STRATA_OK);
  CHECK(strata_filter_add(f, STRATA_MIN_SHOULD,
                          strata_cond_nested("items", inner)) == STRATA_OK);
  strata_filter_set_min_count(f, 2);
  char *json = NULL;
  REQUIRE(strata_filter_to_json(f, &json) == STRATA_OK);
  const char *expected =
      "{\"must\":[{\"key\":\"city\",\"match\":{\"value\":\"London\"}},"
      "{\"key\":\"price\",\"range\":{\"gte\":10.0}}],"
      "\"should\":[{\"key\":\"city\",\"match\":{\"any\":[\"London\",\"Paris\"]}"
      "},"
      "{\"key\":\"size\",\"match\":{\"except\":[1,3]}}],"
      "\"must_not\":[{\"has_id\":[7]}],"
      "\"min_should\":{\"conditions\":[{\"key\":\"tags\",\"values_count\":"
      "{\"gt\":1}},{\"key\":\"d\",\"range\":{\"gte\":\"2024-05-01T00:00:00Z\"}}"
      ","
      "{\"nested\":{\"key\":\"items\",\"filter\":{\"must\":[{\"key\":\"ok\","
      "\"match\":{\"value\":true}}]}}}],\"min_count\":2}}";
  CHECK_MSG(strcmp(json, expected) == 0, "%s", json);
  free(json);
  strata_filter_free(f);

  /* A failed builder returns NULL, and add reports its message. */
  f = strata_filter_new();
  CHECK(
      strata_filter_add(f, STRATA_MUST, strata_cond_match_keyword("a[", "x")) ==
      STRATA_ERR_INVALID_ARGUMENT);
  CHECK(strstr(strata_last_error(), "invalid key path \"a[\"") != NULL);
  CHECK(strata_filter_add(
            f, STRATA_MUST,
            strata_cond_datetime_range("d", "soon", NULL, NULL, NULL)) ==
        STRATA_ERR_INVALID_ARGUMENT);
  CHECK(strstr(strata_last_error(), "invalid datetime \"soon\"") != NULL);
  strata_bounds none = {0};
  CHECK(strata_cond_range("p", &none) == NULL);
  strata_filter *with_id = strata_filter_new();
  CHECK(strata_filter_add(with_id, STRATA_SHOULD, strata_cond_has_id(ids, 1)) ==
        STRATA_OK);
  strata_filter *wrapper = strata_filter_new();
  CHECK(strata_filter_add(wrapper, STRATA_MUST, strata_cond_filter(with_id)) ==
        STRATA_OK);
  CHECK(strata_cond_nested("a", wrapper) == NULL);
  CHECK(strstr(strata_last_error(), "has_id is not supported inside nested"));
  CHECK(f->n_must == 0);
  strata_filter_free(f);
}

static void test_datetimes(void) {
  static const struct {
    const char *text;
    int64_t micros;
  } ok[] = {
      {"1970-01-01", 0},
      {"1970-01-01T00:00:01Z", 1000000},
      {"1970-01-01 00:01", 60000000},
      {"1970-01-01t00:00:00.000001z", 1},
      {"1970-01-01T01:00:00+01:00", 0},
      {"1969-12-31T23:00:00-01:00", 0},
      {"1969-12-31", -86400LL * 1000000},
      {"2000-02-29T12:00:00.1234567", 951825600123456LL},
      {"2024-05-01 10:00:00", 1714557600000000LL},
  };
  for (size_t i = 0; i < sizeof ok / sizeof ok[0]; i++) {
    int64_t t = -42;
    CHECK_MSG(strata_datetime_parse(ok[i].text, strlen(ok[i].text), &t) == 0 &&
                  t == ok[i].micros,
              "%s -> %lld", ok[i].text, (long long)t);
  }
  static const char *const bad[] = {"",
                                    "2024",
                                    "2024-1-01",
                                    "2024-13-01",
                                    "2023-02-29",
                                    "2024-01-01T",
                                    "2024-01-01T10",
                                    "2024-01-01T24:00",
                                    "2024-01-01T10:00Zx",
                                    "2024-01-01T10:00:00+0100",
                                    "2024-01-01X10:00",
                                    "2024-01-01T10:00.5",
                                    "2024-01-01T10:00:00."};
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
    int64_t t;
    CHECK_MSG(strata_datetime_parse(bad[i], strlen(bad[i]), &t) != 0, "%s",
              bad[i]);
  }
  char buf[48];
  strata_datetime_format(-1, buf);
  CHECK_MSG(strcmp(buf, "1969-12-31T23:59:59.999999Z") == 0, "%s", buf);
  strata_datetime_format(951825600123456LL, buf);
  CHECK_MSG(strcmp(buf, "2000-02-29T12:00:00.123456Z") == 0, "%s", buf);
}

static int resolve_all(void *arg, const strata_point_id *id, uint32_t *point) {
  (void)arg;
  if (id->kind != STRATA_ID_NUM || id->num >= 300000)
    return 0;
  *point = (uint32_t)id->num;
  return 1;
}

/* has_id with 100,000 ids: parse, evaluate and plan in well under a
 * second each. */
static void test_large_has_id(void) {
  size_t n = 100000, cap = n * 12 + 32;
  char *json = malloc(cap), *p = json;
  p += sprintf(p, "{\"must\":[{\"has_id\":[");
  for (size_t i = 0; i < n; i++)
    p += sprintf(p, "%s%zu", i ? "," : "", (n - i) * 2);
  p += sprintf(p, "]}]}");
  clock_t start = clock();
  strata_filter *f = NULL;
  REQUIRE(strata_filter_parse_json(json, strlen(json), &f) == STRATA_OK);
  CHECK(f->must[0]->n_ids == n);
  int hits = 0;
  for (uint64_t id = 0; id < 2 * n + 10; id++) {
    strata_point_id pid = strata_id_num(id);
    hits += strata_filter_matches(f, NULL, &pid);
  }
  CHECK(hits == (int)n);
  CHECK(!strata_filter_matches(f, NULL, NULL));

  strata_payload_indexes set = {NULL, 0, resolve_all, NULL};
  roaring_bitmap_t *all = roaring_bitmap_from_range(0, 300000, 1), *bm = NULL;
  int exact = 0;
  REQUIRE(strata_filter_candidates(f, &set, all, &bm, &exact) == STRATA_OK);
  CHECK(exact);
  CHECK(roaring_bitmap_get_cardinality(bm) == n);
  CHECK(roaring_bitmap_contains(bm, 2));
  CHECK(!roaring_bitmap_contains(bm, 3));
  strata_estimate est;
  REQUIRE(strata_filter_estimate(f, &set, 300000, &est) == STRATA_OK);
  CHECK(est.min == n);
  CHECK(est.max == n);
  double seconds = (double)(clock() - start) / CLOCKS_PER_SEC;
  CHECK_MSG(seconds < 5, "took %.2f s", seconds);
  roaring_bitmap_free(all);
  roaring_bitmap_free(bm);
  strata_filter_free(f);
  free(json);
}

static void test_paths(void) {
  strata_path path;
  REQUIRE(strata_path_parse("a.\"b.c\"[].d[12]", &path) == STRATA_OK);
  CHECK(path.n_segments == 5);
  CHECK(path.segments[1].kind == STRATA_PATH_KEY &&
        strcmp(path.segments[1].key, "b.c") == 0);
  CHECK(path.segments[2].kind == STRATA_PATH_ALL);
  CHECK(path.segments[4].kind == STRATA_PATH_INDEX &&
        path.segments[4].index == 12);
  CHECK(strcmp(path.text, "a.\"b.c\"[].d[12]") == 0);
  strata_path_free(&path);
  static const char *const bad[] = {"a.",  ".a",    "a[",   "a[]x",
                                    "a]",  "a[-1]", "\"\"", "a[99999999999]",
                                    "a\"b"};
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
    CHECK_MSG(strata_path_parse(bad[i], &path) == STRATA_ERR_INVALID_ARGUMENT,
              "%s", bad[i]);
}

/* Mutates valid filters byte by byte: each result must parse or fail
 * with INVALID_ARGUMENT, and what parses must write and parse again. */
static void test_mutations(void) {
  static const char *const seeds[] = {
      "{\"must\":[{\"key\":\"a[].\\\"x.y\\\"\",\"match\":{\"any\":[1,2]}},"
      "{\"key\":\"d\",\"range\":{\"gte\":\"2024-01-02 03:04\"}}],"
      "\"should\":{\"has_id\":[1,\"936da01f-9abd-4d9d-80c7-02af85c822a8\"]}}",
      "{\"min_should\":{\"conditions\":[{\"nested\":{\"key\":\"a\",\"filter\":"
      "{\"must_not\":{\"is_null\":{\"key\":\"b\"}}}}},{\"key\":\"c\","
      "\"values_count\":{\"lt\":3}}],\"min_count\":1}}",
  };
  static const char alphabet[] = "{}[]\":,.-0123456789abkeymustrange \\";
  uint64_t state = 12345;
  char buf[512];
  for (int round = 0; round < 20000; round++) {
    const char *seed = seeds[round % 2];
    size_t len = strlen(seed);
    memcpy(buf, seed, len + 1);
    for (int edits = 1 + round % 3; edits > 0; edits--) {
      state = state * 6364136223846793005ULL + 1442695040888963407ULL;
      size_t at = (size_t)(state >> 33) % len;
      char ch = alphabet[(state >> 20) % (sizeof alphabet - 1)];
      int op = (int)((state >> 10) % 3);
      if (op == 0) {
        buf[at] = ch;
      } else if (op == 1 && len > 1) {
        memmove(buf + at, buf + at + 1, len - at);
        len--;
      } else if (len + 1 < sizeof buf) {
        memmove(buf + at + 1, buf + at, len - at + 1);
        buf[at] = ch;
        len++;
      }
    }
    strata_filter *f = NULL;
    strata_status st = strata_filter_parse_json(buf, len, &f);
    CHECK_MSG(st == STRATA_OK || st == STRATA_ERR_INVALID_ARGUMENT,
              "status %d for %s", st, buf);
    if (st != STRATA_OK)
      continue;
    char *json = NULL;
    strata_filter *again = NULL;
    CHECK(strata_filter_to_json(f, &json) == STRATA_OK);
    CHECK_MSG(json && strata_filter_parse_json(json, strlen(json), &again) ==
                          STRATA_OK,
              "%s -> %s", buf, json ? json : "(null)");
    free(json);
    strata_filter_free(again);
    strata_filter_free(f);
  }
}

int main(void) {
  test_round_trips();
  test_errors();
  test_depth_limit();
  test_builders();
  test_datetimes();
  test_large_has_id();
  test_paths();
  test_mutations();
  return test_result();
}
