#define _GNU_SOURCE /* asprintf */
/* Filtered search, scroll and count give the same points with payload
 * indexes and without, before and after reopening, and the same points
 * as evaluating the filter on each payload directly. */
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../../engine/filter.h"
#include "check.h"
#include "testutil.h"

#define DIM 8
#define N 2000
#define K 10

static const char *const filters[] = {
    "{}",
    "{\"must\": {\"key\": \"tenant\", \"match\": {\"value\": \"t0\"}}}",
    "{\"must\": {\"key\": \"tenant\", \"match\": {\"value\": \"t9\"}}}",
    "{\"must\": {\"key\": \"tenant\", \"match\": {\"value\": \"nobody\"}}}",
    "{\"must\": {\"key\": \"tenant\", \"match\": {\"any\": [\"t3\", \"t4\"]}}}",
    "{\"must\": {\"key\": \"tenant\", \"match\": {\"except\": [\"t0\"]}}}",
    "{\"must\": {\"key\": \"price\", \"range\": {\"gte\": 100, \"lt\": 300}}}",
    "{\"must\": {\"key\": \"price\", \"match\": {\"value\": 42}}}",
    "{\"must\": {\"key\": \"rating\", \"range\": {\"gt\": 4.5}}}",
    "{\"must\": {\"key\": \"created\", \"range\": {\"gte\": "
    "\"2024-03-01T00:00:00Z\", \"lt\": \"2024-04-01\"}}}",
    "{\"must\": {\"key\": \"description\", \"match\": {\"text\": "
    "\"blue\"}}}",
    "{\"must\": {\"key\": \"tags\", \"match\": {\"value\": \"sale\"}}}",
    "{\"must\": {\"key\": \"tags\", \"values_count\": {\"gte\": 2}}}",
    "{\"must\": {\"key\": \"meta.color\", \"match\": {\"value\": \"red\"}}}",
    "{\"must\": {\"key\": \"items[].sku\", \"match\": {\"value\": "
    "\"sku-7\"}}}",
    "{\"must\": {\"nested\": {\"key\": \"items\", \"filter\": {\"must\": "
    "[{\"key\": \"sku\", \"match\": {\"value\": \"sku-3\"}}, {\"key\": "
    "\"qty\", \"range\": {\"gte\": 5}}]}}}}",
    "{\"must\": {\"is_null\": {\"key\": \"maybe\"}}}",
    "{\"must\": {\"is_empty\": {\"key\": \"maybe\"}}}",
    "{\"must\": {\"key\": \"città\", \"match\": {\"value\": \"Roma\"}}}",
    "{\"must\": {\"key\": \"\\\"a.b\\\"\", \"match\": {\"value\": "
    "\"dotted\"}}}",
    "{\"must\": {\"key\": \"big\", \"range\": {\"gt\": 1e19}}}",
    "{\"should\": [{\"key\": \"tenant\", \"match\": {\"value\": \"t5\"}}, "
    "{\"key\": \"price\", \"range\": {\"lt\": 20}}]}",
    "{\"must_not\": [{\"key\": \"tenant\", \"match\": {\"value\": \"t0\"}}, "
    "{\"key\": \"tags\", \"match\": {\"value\": \"sale\"}}]}",
    "{\"must\": [{\"key\": \"tenant\", \"match\": {\"value\": \"t1\"}}, "
    "{\"key\": \"rating\", \"range\": {\"lte\": 2}}], \"must_not\": "
    "{\"has_id\": [1, 2, 3, 4, 5, 6, 7, 8, 9, 10]}}",
    "{\"min_should\": {\"conditions\": [{\"key\": \"tags\", \"match\": "
    "{\"value\": \"new\"}}, {\"key\": \"meta.color\", \"match\": {\"value\": "
    "\"blue\"}}, {\"key\": \"price\", \"range\": {\"gte\": 900}}], "
    "\"min_count\": 2}}",
    "{\"must\": {\"has_id\": [0, 17, 2999, 5000]}}",
    /* A rare tenant with wide ranges on an integer, a float and a
     * datetime index: the planner checks the ranges through each index's
     * point-to-value table. */
    "{\"must\": [{\"key\": \"price\", \"range\": {\"gte\": 50, \"lt\": "
    "950}}, {\"key\": \"tenant\", \"match\": {\"value\": \"t6\"}}, "
    "{\"key\": \"rating\", \"range\": {\"gt\": 0.5}}, {\"key\": "
    "\"created\", \"range\": {\"gte\": \"2024-02-01T00:00:00Z\", \"lt\": "
    "\"2024-12-01T00:00:00Z\"}}]}",
    "{\"must\": [{\"key\": \"tenant\", \"match\": {\"any\": [\"t3\", "
    "\"t4\"]}}, {\"key\": \"created\", \"range\": {\"lt\": "
    "\"2024-11-15T00:00:00Z\"}}, {\"key\": \"price\", \"range\": {\"gte\": "
    "100}}, {\"key\": \"rating\", \"range\": {\"lte\": 4.8}}]}",
    "{\"must\": [{\"key\": \"price\", \"range\": {\"gte\": 200}}, "
    "{\"key\": \"rating\", \"range\": {\"lt\": 4}}, {\"key\": "
    "\"price\", \"range\": {\"lt\": 260}}]}",
};
#define N_FILTERS (sizeof filters / sizeof filters[0])

static const char *const indexes[][2] = {
    {"tenant", "keyword"},   {"price", "integer"},
    {"rating", "float"},     {"created", "datetime"},
    {"description", "text"}, {"tags", "keyword"},
    {"meta.color", "keyword"}, {"items[].sku", "keyword"},
    {"città", "keyword"},    {"\"a.b\"", "keyword"},
    {"big", "float"},        {"maybe", "keyword"},
};
#define N_INDEXES (sizeof indexes / sizeof indexes[0])

/* Results of every filter in one state of the database. */
typedef struct results {
  uint64_t count[N_FILTERS];
  uint64_t scroll[N_FILTERS][N]; /* ids in scroll order */
  size_t n_scroll[N_FILTERS];
  uint64_t search[N_FILTERS][K];
  size_t n_search[N_FILTERS];
} results;

static results without_indexes, with_indexes, reopened, updated;
static float vectors[N][DIM];
static char *payloads[N];
static int deleted[N];

static const char *words[] = {"red",   "blue", "green", "fast", "slow",
                              "cheap", "fine", "old",   "new",  "shiny"};

/* Builds point i's payload: a tenant with a skewed distribution, numbers,
 * a datetime, text, arrays, nested objects, null, odd keys. */
static char *make_payload(int i, uint64_t *rng) {
  int tenant = 0;
  while (tenant < 9 && (test_random_u64(rng) & 1))
    tenant++; /* t0 half the points, t1 a quarter, ... */
  json_t *o = json_object();
  json_object_set_new(o, "tenant", json_sprintf("t%d", tenant));
  json_object_set_new(o, "price", json_integer((json_int_t)(i * 7 % 1000)));
  json_object_set_new(o, "rating",
                      json_real(test_random_float(rng) * 5.0));
  json_object_set_new(o, "created",
                      json_sprintf("2024-%02d-%02dT%02d:00:00Z", 1 + i % 12,
                                   1 + i % 28, i % 24));
  json_object_set_new(o, "description",
                      json_sprintf("%s %s item", words[i % 10],
                                   words[(i / 10) % 10]));
  json_t *tags = json_array();
  for (int t = 0; t < i % 4; t++)
    json_array_append_new(tags,
                          json_string(t == 1 ? "sale" : words[(i + t) % 10]));
  json_object_set_new(o, "tags", tags);
  json_object_set_new(o, "meta",
                      json_pack("{s:s,s:i}", "color", words[i % 3],
                                "size", i % 5));
  json_t *items = json_array();
  for (int t = 0; t < i % 3; t++)
    json_array_append_new(items,
                          json_pack("{s:s,s:i}", "sku",
                                    i % 2 ? "sku-3" : "sku-7", "qty",
                                    (i + t) % 10));
  json_object_set_new(o, "items", items);
  if (i % 5 == 0)
    json_object_set_new(o, "maybe", json_null());
  else if (i % 5 == 1)
    json_object_set_new(o, "maybe", json_string("here"));
  json_object_set_new(o, "città", json_string(i % 4 ? "Milano" : "Roma"));
  if (i % 6 == 0)
    json_object_set_new(o, "a.b", json_string("dotted"));
  char *text = json_dumps(o, JSON_COMPACT | JSON_SORT_KEYS);
  json_decref(o);
  if (i % 100 == 0) {
    /* An integer beyond int64, which the stored text keeps. */
    size_t len = strlen(text);
    char *big = NULL;
    REQUIRE(asprintf(&big, "%.*s,\"big\":18446744073709551616999}",
                     (int)(len - 1), text) > 0);
    free(text);
    text = big;
  }
  return text;
}

static void load(strata_db *db) {
  strata_vector_config vc = {"", DIM, STRATA_DISTANCE_EUCLID, {0, 0, 0}};
  strata_collection_config cc = {&vc, 1};
  CHECK_OK(strata_collection_create(db, "c", &cc));
  uint64_t rng = 11;
  strata_point *points = calloc(N, sizeof *points);
  strata_named_vector *nv = calloc(N, sizeof *nv);
  REQUIRE(points && nv);
  for (int i = 0; i < N; i++) {
    for (int j = 0; j < DIM; j++)
      vectors[i][j] = test_random_float(&rng);
    /* Every 50th point has no payload at all. */
    payloads[i] = i % 50 == 49 ? NULL : make_payload(i, &rng);
    nv[i] = (strata_named_vector){"", vectors[i], DIM};
    points[i] = (strata_point){strata_id_num((uint64_t)i), &nv[i], 1,
                               payloads[i], 0};
  }
  CHECK_OK(strata_upsert(db, "c", points, N, NULL));
  free(points);
  free(nv);
}

static void run_filters(strata_db *db, results *r) {
  float query[DIM] = {0.5f, 0.5f, 0.5f, 0.5f, 0.5f, 0.5f, 0.5f, 0.5f};
  for (size_t f = 0; f < N_FILTERS; f++) {
    strata_filter *filter = NULL;
    CHECK_OK(strata_filter_parse_json(filters[f], strlen(filters[f]),
                                      &filter));
    REQUIRE(filter != NULL);
    CHECK_OK(strata_count_filtered(db, "c", filter, &r->count[f]));

    strata_records *recs = NULL;
    strata_point_id next;
    int has_next = 0;
    CHECK_OK(strata_scroll_filtered(db, "c", filter, NULL, N, 0, &recs,
                                    &next, &has_next));
    REQUIRE(recs != NULL);
    CHECK(!has_next);
    r->n_scroll[f] = recs->count;
    for (size_t i = 0; i < recs->count; i++)
      r->scroll[f][i] = recs->items[i].id.num;
    strata_records_free(recs);

    strata_search_request req = {NULL, query, DIM, K, 0, 0, 1, filter};
    CHECK_OK(strata_search(db, "c", &req, &recs));
    REQUIRE(recs != NULL);
    r->n_search[f] = recs->count;
    for (size_t i = 0; i < recs->count; i++)
      r->search[f][i] = recs->items[i].id.num;
    strata_records_free(recs);
    strata_filter_free(filter);
  }
}

/* Evaluates every filter on every payload directly and checks the
 * counts and the scroll order of `r`. */
static void check_against_evaluation(const results *r) {
  for (size_t f = 0; f < N_FILTERS; f++) {
    strata_filter *filter = NULL;
    REQUIRE(strata_filter_parse_json(filters[f], strlen(filters[f]),
                                     &filter) == STRATA_OK);
    size_t n = 0;
    int order_ok = 1;
    for (int i = 0; i < N; i++) {
      if (deleted[i])
        continue;
      json_t *payload = NULL;
      REQUIRE(!payloads[i] ||
              strata_payload_load(payloads[i], strlen(payloads[i]),
                                  &payload) == STRATA_OK);
      strata_point_id id = strata_id_num((uint64_t)i);
      if (strata_filter_matches(filter, payload, &id)) {
        if (n >= r->n_scroll[f] || r->scroll[f][n] != (uint64_t)i)
          order_ok = 0;
        n++;
      }
      json_decref(payload);
    }
    if (r->count[f] != n || !order_ok)
      fprintf(stderr, "filter %zu (%s): count %llu, scroll %zu, evaluated "
                      "%zu\n",
              f, filters[f], (unsigned long long)r->count[f],
              r->n_scroll[f], n);
    CHECK(r->count[f] == n);
    CHECK(r->n_scroll[f] == n);
    CHECK(order_ok);
    CHECK(r->n_search[f] == (n < K ? n : K));
    strata_filter_free(filter);
  }
}

static void check_same(const results *a, const results *b, const char *what) {
  for (size_t f = 0; f < N_FILTERS; f++) {
    int same = a->count[f] == b->count[f] &&
               a->n_scroll[f] == b->n_scroll[f] &&
               a->n_search[f] == b->n_search[f] &&
               memcmp(a->scroll[f], b->scroll[f],
                      a->n_scroll[f] * sizeof a->scroll[f][0]) == 0 &&
               memcmp(a->search[f], b->search[f],
                      a->n_search[f] * sizeof a->search[f][0]) == 0;
    if (!same)
      fprintf(stderr, "%s: filter %zu (%s) differs\n", what, f, filters[f]);
    CHECK(same);
  }
}

/* The filters select a spread of sizes, so the test covers small, large
 * and empty results. */
static void check_spread(const results *r) {
  int empty = 0, small = 0, large = 0;
  for (size_t f = 0; f < N_FILTERS; f++) {
    empty += r->count[f] == 0;
    small += r->count[f] > 0 && r->count[f] < K;
    large += r->count[f] > N / 4;
  }
  CHECK(empty >= 1);
  CHECK(small >= 1);
  CHECK(large >= 3);
}

static void check_described(strata_db *db) {
  strata_collection_info *info = NULL;
  CHECK_OK(strata_collection_describe(db, "c", &info));
  REQUIRE(info != NULL);
  CHECK(info->n_field_indexes == N_INDEXES);
  int found_tenant = 0;
  for (size_t i = 0; i < info->n_field_indexes; i++)
    found_tenant |= strcmp(info->field_indexes[i].field, "tenant") == 0 &&
                    strcmp(info->field_indexes[i].type, "keyword") == 0;
  CHECK(found_tenant);
  strata_collection_info_free(info);
}

/* Searches collection "g" for the origin with a filter; writes the hit
 * ids to ids (room for K) and returns their count. */
static size_t search_g(strata_db *db, const char *filter_json, int exact,
                       uint64_t *ids) {
  strata_filter *filter = NULL;
  REQUIRE(strata_filter_parse_json(filter_json, strlen(filter_json),
                                   &filter) == STRATA_OK);
  float query[DIM] = {0};
  strata_search_request req = {NULL, query, DIM, K, 0, K, exact, filter};
  strata_records *recs = NULL;
  CHECK_OK(strata_search(db, "g", &req, &recs));
  REQUIRE(recs != NULL);
  size_t n = recs->count;
  for (size_t i = 0; i < n && i < K; i++)
    ids[i] = recs->items[i].id.num;
  strata_records_free(recs);
  strata_filter_free(filter);
  return n;
}

static char *explain_g(strata_db *db, const char *filter_json) {
  strata_filter *filter = NULL;
  REQUIRE(strata_filter_parse_json(filter_json, strlen(filter_json),
                                   &filter) == STRATA_OK);
  float query[DIM] = {0};
  strata_search_request req = {NULL, query, DIM, K, 0, K, 0, filter};
  char *text = NULL;
  CHECK_OK(strata_search_explain(db, "g", &req, &text));
  strata_filter_free(filter);
  REQUIRE(text != NULL);
  return text;
}

/* A graph walk that checks cached payloads as it goes (hnsw_checked)
 * returns only matching points, and a payload update is seen by the
 * next search, because every write drops the cached payloads. */
static void check_graph_walk_checks(strata_db *db) {
  /* A 1 KB threshold (32 vectors of 8 floats) and ef 10 make filters
   * that match 1000 points or more walk the graph: the planner's cost
   * crossover is then sqrt(10 * 30 * 2000) = 775 points. */
  strata_vector_config vc = {"", DIM, STRATA_DISTANCE_EUCLID, {16, 100, 1}};
  strata_collection_config cc = {&vc, 1};
  CHECK_OK(strata_collection_create(db, "g", &cc));
  strata_point *points = calloc(N, sizeof *points);
  strata_named_vector *nv = calloc(N, sizeof *nv);
  char(*text)[32] = calloc(N, sizeof *text);
  REQUIRE(points && nv && text);
  for (int i = 0; i < N; i++) {
    snprintf(text[i], sizeof text[i], "{\"n\":%d}", i);
    nv[i] = (strata_named_vector){"", vectors[i], DIM};
    points[i] = (strata_point){strata_id_num((uint64_t)i), &nv[i], 1,
                               text[i], 0};
  }
  CHECK_OK(strata_upsert(db, "g", points, N, NULL));

  /* The first search scans the payloads and caches them, the second
   * walks the graph with checks. */
  const char *half = "{\"must\":{\"key\":\"n\",\"range\":{\"lt\":1000}}}";
  uint64_t ids[K], exact_ids[K];
  size_t n = search_g(db, half, 0, ids);
  char *plan = explain_g(db, half);
  CHECK(strstr(plan, "\"strategy\":\"hnsw_checked\"") != NULL);
  CHECK(strstr(plan, "\"matching\":1000,") != NULL);
  free(plan);
  n = search_g(db, half, 0, ids);
  CHECK(n == K);
  for (size_t i = 0; i < n; i++)
    CHECK(ids[i] < 1000);
  size_t n_exact = search_g(db, half, 1, exact_ids);
  CHECK(n_exact == K);
  size_t found = 0;
  for (size_t i = 0; i < n; i++)
    for (size_t j = 0; j < n_exact; j++)
      found += ids[i] == exact_ids[j];
  CHECK(found >= K - 2);

  /* Move the first half out of the range: nothing matches any more. */
  strata_point_id *first = calloc(1000, sizeof *first);
  REQUIRE(first != NULL);
  for (int i = 0; i < 1000; i++)
    first[i] = strata_id_num((uint64_t)i);
  strata_point_selector sel = {first, 1000, NULL};
  CHECK_OK(strata_payload_set(db, "g", &sel, "{\"n\":5000}", NULL, NULL,
                              NULL));
  CHECK(search_g(db, half, 0, ids) == 0);
  const char *rest = "{\"must\":{\"key\":\"n\",\"range\":{\"gte\":1000}}}";
  search_g(db, rest, 0, ids);
  n = search_g(db, rest, 0, ids);
  CHECK(n == K);
  plan = explain_g(db, rest);
  CHECK(strstr(plan, "\"matching\":2000,") != NULL);
  free(plan);

  free(first);
  free(points);
  free(nv);
  free(text);
}

/* Replaces the payloads of 400 points of collection "c" with those of
 * other points and deletes 100 more, so that the payload indexes must
 * follow updates and deletes. */
static void update_and_delete(strata_db *db) {
  uint64_t rng = 23;
  strata_point points[400];
  strata_named_vector nv[400];
  for (int k = 0; k < 400; k++) {
    int i = (k * 37 + 3) % N;
    free(payloads[i]);
    payloads[i] = make_payload((i * 13 + 7) % N, &rng);
    nv[k] = (strata_named_vector){"", vectors[i], DIM};
    points[k] = (strata_point){strata_id_num((uint64_t)i), &nv[k], 1,
                               payloads[i], 0};
  }
  CHECK_OK(strata_upsert(db, "c", points, 400, NULL));

  strata_point_id ids[100];
  for (int k = 0; k < 100; k++) {
    int i = (k * 101 + 11) % N;
    deleted[i] = 1;
    ids[k] = strata_id_num((uint64_t)i);
  }
  uint64_t n_deleted = 0;
  CHECK_OK(strata_delete(db, "c", ids, 100, NULL, &n_deleted));
  CHECK(n_deleted == 100);
}

int main(void) {
  char *dir = test_make_dir("filters");
  strata_db *db = NULL;
  REQUIRE(strata_open(dir, NULL, &db) == STRATA_OK);
  load(db);

  run_filters(db, &without_indexes);
  check_against_evaluation(&without_indexes);
  check_spread(&without_indexes);
  check_graph_walk_checks(db);

  for (size_t i = 0; i < N_INDEXES; i++)
    CHECK_OK(strata_field_index_create(db, "c", indexes[i][0], indexes[i][1],
                                       NULL));
  check_described(db);
  run_filters(db, &with_indexes);
  check_same(&without_indexes, &with_indexes, "with indexes");

  strata_close(db);
  REQUIRE(strata_open(dir, NULL, &db) == STRATA_OK);
  check_described(db);
  run_filters(db, &reopened);
  check_same(&without_indexes, &reopened, "after reopening");

  update_and_delete(db);
  run_filters(db, &updated);
  check_against_evaluation(&updated);

  strata_close(db);
  for (int i = 0; i < N; i++)
    free(payloads[i]);
  test_remove_dir(dir);
  free(dir);
  return check_finish("test_filters");
}
