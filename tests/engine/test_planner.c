/* The query planner: filtered search returns min(k, matching points with
 * the vector) at every selectivity, chooses an exact scan of the allowed
 * points below the full-scan threshold (seen through explain), and the
 * filtered graph search keeps recall@10 >= 0.95 against exact filtered
 * search. */
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "testutil.h"

#define DIM 16
#define N 10000
#define NO_VECTOR 300 /* extra points without a vector, bucket 7 */
#define QUERIES 25
#define K 10
/* 6 KiB of 16-float vectors: the full-scan threshold is 96 points, so
 * 90 points are scanned.  A 1% filter (100 points) is scanned too, since
 * the planner's cost crossover is 4381 points at ef 64; the 50% filter
 * walks the graph.  tests/hnsw/test_hnsw_filter.c covers the filtered
 * graph search at low selectivities. */
#define THRESHOLD_KB 6
#define THRESHOLD_POINTS (THRESHOLD_KB * 1024 / (DIM * 4))

static float data[N][DIM];
static float queries[QUERIES][DIM];

static void load(strata_db *db) {
  strata_vector_config vc = {
      "", DIM, STRATA_DISTANCE_EUCLID, {12, 64, THRESHOLD_KB}};
  strata_collection_config cc = {&vc, 1};
  CHECK_OK(strata_collection_create(db, "c", &cc));
  uint64_t rng = 5;
  for (int i = 0; i < N; i++)
    for (int j = 0; j < DIM; j++)
      data[i][j] = test_random_float(&rng);
  for (int q = 0; q < QUERIES; q++)
    for (int j = 0; j < DIM; j++)
      queries[q][j] = test_random_float(&rng);

  size_t total = N + NO_VECTOR;
  strata_point *points = calloc(total, sizeof *points);
  strata_named_vector *nv = calloc(N, sizeof *nv);
  char(*payloads)[64] = calloc(total, sizeof *payloads);
  REQUIRE(points && nv && payloads);
  for (size_t i = 0; i < total; i++) {
    int with_vector = i < N;
    /* bucket: 100 values of 1% each; half: 50%; tenth: 10%. */
    snprintf(payloads[i], sizeof payloads[i],
             "{\"bucket\": %zu, \"half\": %zu, \"tenth\": %zu, \"n\": %zu}",
             with_vector ? i % 100 : 7, i % 2, i % 10, i);
    if (with_vector)
      nv[i] = (strata_named_vector){"", data[i], DIM};
    points[i] = (strata_point){strata_id_num(i), with_vector ? &nv[i] : NULL,
                               (size_t)with_vector, payloads[i], 0};
  }
  CHECK_OK(strata_upsert(db, "c", points, total, NULL));
  free(points);
  free(nv);
  free(payloads);
}

static strata_filter *parse(const char *json) {
  strata_filter *f = NULL;
  REQUIRE(strata_filter_parse_json(json, strlen(json), &f) == STRATA_OK);
  return f;
}

/* Returns the explain field `key` of a search with `filter`. */
static json_t *explain(strata_db *db, const strata_filter *filter) {
  strata_search_request req = {NULL, queries[0], DIM, K, 0, 0, 0, filter};
  char *text = NULL;
  CHECK_OK(strata_search_explain(db, "c", &req, &text));
  REQUIRE(text != NULL);
  json_t *plan = json_loads(text, 0, NULL);
  REQUIRE(plan != NULL);
  free(text);
  return plan;
}

static void check_plan(strata_db *db, const char *filter_json,
                       const char *strategy, json_int_t matching,
                       json_int_t with_vector) {
  strata_filter *f = filter_json ? parse(filter_json) : NULL;
  json_t *plan = explain(db, f);
  const char *got = json_string_value(json_object_get(plan, "strategy"));
  if (!got || strcmp(got, strategy) != 0)
    fprintf(stderr, "filter %s: strategy %s, expected %s\n",
            filter_json ? filter_json : "(none)", got ? got : "(null)",
            strategy);
  CHECK(got && strcmp(got, strategy) == 0);
  CHECK(json_integer_value(json_object_get(plan, "matching")) == matching);
  CHECK(json_integer_value(json_object_get(plan, "matching_with_vector")) ==
        with_vector);
  CHECK(json_integer_value(json_object_get(
            plan, "full_scan_threshold_points")) == THRESHOLD_POINTS);
  json_t *estimate = json_object_get(plan, "estimate");
  json_int_t min = json_integer_value(json_object_get(estimate, "min"));
  json_int_t max = json_integer_value(json_object_get(estimate, "max"));
  CHECK(json_is_object(estimate));
  CHECK(min <= matching);
  CHECK(max >= matching);
  CHECK(filter_json ? json_is_object(json_object_get(plan, "filter"))
                    : json_is_null(json_object_get(plan, "filter")));
  json_decref(plan);
  strata_filter_free(f);
}

/* Searches with `filter` and checks the count of results and that each
 * one matches (its id's bucket per the payload layout). */
static void check_counts(strata_db *db, const char *filter_json,
                         size_t expected) {
  strata_filter *f = parse(filter_json);
  for (int exact = 0; exact <= 1; exact++) {
    strata_search_request req = {NULL, queries[1], DIM, K,
                                 0, 0, exact, f};
    strata_records *recs = NULL;
    CHECK_OK(strata_search(db, "c", &req, &recs));
    REQUIRE(recs != NULL);
    if (recs->count != expected)
      fprintf(stderr, "filter %s exact=%d: %zu results, expected %zu\n",
              filter_json, exact, recs->count, expected);
    CHECK(recs->count == expected);
    strata_records_free(recs);
  }
  strata_filter_free(f);
}

static double recall(strata_db *db, const char *filter_json) {
  strata_filter *f = parse(filter_json);
  size_t found = 0, total = 0;
  for (int q = 0; q < QUERIES; q++) {
    strata_search_request approx = {NULL, queries[q], DIM, K, 0, 64, 0, f};
    strata_search_request exact = {NULL, queries[q], DIM, K, 0, 0, 1, f};
    strata_records *a = NULL, *e = NULL;
    CHECK_OK(strata_search(db, "c", &approx, &a));
    CHECK_OK(strata_search(db, "c", &exact, &e));
    REQUIRE(a && e);
    CHECK(a->count == e->count);
    for (size_t i = 0; i < e->count; i++)
      for (size_t j = 0; j < a->count; j++)
        found += a->items[j].id.num == e->items[i].id.num;
    total += e->count;
    strata_records_free(a);
    strata_records_free(e);
  }
  strata_filter_free(f);
  return total ? (double)found / (double)total : 0;
}

/* The payload of each point as the combined checks model it: n has one
 * value, or two when n2 >= 0. */
typedef struct model {
  int alive[N + NO_VECTOR];
  long n[N + NO_VECTOR], n2[N + NO_VECTOR];
  int bucket[N + NO_VECTOR], half[N + NO_VECTOR];
} model;

static int n_in(const model *m, size_t i, long lo, long hi) {
  return (m->n[i] >= lo && m->n[i] < hi) ||
         (m->n2[i] >= 0 && m->n2[i] >= lo && m->n2[i] < hi);
}

/* Counts combined filters of ranges on the indexed field n with bucket
 * and half conditions, through the planner, against the model. */
static void check_combined_counts(strata_db *db, const model *m,
                                  const char *phase) {
  static const long bounds[][2] = {
      {2000, 8000}, {0, 10300}, {511, 513}, {4096, 4097}, {5000, 5000}};
  for (size_t b = 0; b < sizeof bounds / sizeof bounds[0]; b++) {
    long lo = bounds[b][0], hi = bounds[b][1];
    char json[512];
    snprintf(json, sizeof json,
             "{\"must\": [{\"key\": \"bucket\", \"match\": {\"any\": "
             "[1, 2, 3, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 20, 30, 40]}}, "
             "{\"key\": \"n\", \"range\": {\"gte\": %ld, \"lt\": %ld}}, "
             "{\"key\": \"half\", \"match\": {\"value\": 1}}, "
             "{\"key\": \"n\", \"range\": {\"gte\": %ld}}]}",
             lo, hi, lo / 2);
    uint64_t expected = 0;
    for (size_t i = 0; i < N + NO_VECTOR; i++) {
      int tag = m->bucket[i];
      int tag_ok = (tag >= 1 && tag <= 15 && tag != 4) || tag == 20 ||
                   tag == 30 || tag == 40;
      expected += m->alive[i] && tag_ok && m->half[i] == 1 &&
                  n_in(m, i, lo, hi) && n_in(m, i, lo / 2, 1L << 40);
    }
    strata_filter *f = parse(json);
    uint64_t count = 0;
    CHECK_OK(strata_count_filtered(db, "c", f, &count));
    if (count != expected)
      fprintf(stderr, "%s: combined, n in [%ld, %ld): %llu points, "
              "expected %llu\n", phase, lo, hi, (unsigned long long)count,
              (unsigned long long)expected);
    CHECK(count == expected);
    strata_filter_free(f);

    /* The range alone is looked up in the index, through its buckets
     * when it covers any. */
    snprintf(json, sizeof json,
             "{\"must\": {\"key\": \"n\", \"range\": {\"gte\": %ld, "
             "\"lt\": %ld}}}", lo, hi);
    expected = 0;
    for (size_t i = 0; i < N + NO_VECTOR; i++)
      expected += m->alive[i] && n_in(m, i, lo, hi);
    f = parse(json);
    CHECK_OK(strata_count_filtered(db, "c", f, &count));
    if (count != expected)
      fprintf(stderr, "%s: n in [%ld, %ld): %llu points, expected %llu\n",
              phase, lo, hi, (unsigned long long)count,
              (unsigned long long)expected);
    CHECK(count == expected);
    strata_filter_free(f);
  }
}

/* Sets the payload of the points whose bucket is `bucket` to `payload`. */
static void set_bucket(strata_db *db, int bucket, const char *payload) {
  char json[128];
  snprintf(json, sizeof json,
           "{\"must\": {\"key\": \"bucket\", \"match\": {\"value\": "
           "%d}}}",
           bucket);
  strata_filter *f = parse(json);
  strata_point_selector sel = {NULL, 0, f};
  CHECK_OK(strata_payload_set(db, "c", &sel, payload, NULL, NULL, NULL));
  strata_filter_free(f);
}

/* Moves points between the buckets of the index on n by payload updates
 * and deletes, gives some points two values of n, and reopens the
 * database.  Combined counts must stay those of the model throughout. */
static strata_db *check_combined_writes(strata_db *db, const char *dir) {
  static model m;
  for (size_t i = 0; i < N + NO_VECTOR; i++) {
    m.alive[i] = 1;
    m.n[i] = (long)i;
    m.n2[i] = -1;
    m.bucket[i] = i < N ? (int)(i % 100) : 7;
    m.half[i] = (int)(i % 2);
  }
  check_combined_counts(db, &m, "indexed");

  /* Few changes: dead entries in the buckets and an unsorted tail. */
  set_bucket(db, 5, "{\"n\": 20000}");
  set_bucket(db, 6, "{\"n\": [3000, 9000]}");
  strata_point_id gone[N / 100];
  for (size_t i = 0; i < N / 100; i++)
    gone[i] = strata_id_num(i * 100 + 9);
  CHECK_OK(strata_delete(db, "c", gone, N / 100, NULL, NULL));
  for (size_t i = 0; i < N + NO_VECTOR; i++) {
    if (m.bucket[i] == 5)
      m.n[i] = 20000;
    if (m.bucket[i] == 6) {
      m.n[i] = 3000;
      m.n2[i] = 9000;
    }
    if (m.bucket[i] == 9)
      m.alive[i] = 0;
  }
  check_combined_counts(db, &m, "after a few updates");

  /* Many changes: prepare merges and builds the buckets again. */
  for (int bucket = 10; bucket < 20; bucket++)
    set_bucket(db, bucket, "{\"n\": 4096}");
  for (size_t i = 0; i < N + NO_VECTOR; i++)
    if (m.bucket[i] >= 10 && m.bucket[i] < 20)
      m.n[i] = 4096;
  check_combined_counts(db, &m, "after many updates");

  strata_close(db);
  REQUIRE(strata_open(dir, NULL, &db) == STRATA_OK);
  check_combined_counts(db, &m, "reopened");
  return db;
}

int main(void) {
  char *dir = test_make_dir("planner");
  strata_db *db = NULL;
  REQUIRE(strata_open(dir, NULL, &db) == STRATA_OK);
  load(db);

  /* Result counts from nothing to everything. */
  check_counts(db, "{\"must\": {\"key\": \"bucket\", \"match\": "
                   "{\"value\": 1000}}}", 0);
  check_counts(db, "{\"must\": {\"key\": \"n\", \"match\": {\"value\": 77}}}",
               1);
  check_counts(db, "{\"must\": {\"key\": \"n\", \"range\": {\"gte\": 100, "
                   "\"lt\": 105}}}", 5);
  /* Points without the vector match but cannot be returned. */
  check_counts(db, "{\"must\": {\"key\": \"n\", \"range\": {\"gte\": "
                   "10000}}}", 0);
  check_counts(db, "{\"must\": {\"key\": \"bucket\", \"match\": "
                   "{\"value\": 7}}}", K);
  check_counts(db, "{\"must\": {\"key\": \"half\", \"match\": "
                   "{\"value\": 0}}}", K);
  check_counts(db, "{}", K);

  /* The plans, without and with a payload index on the fields. */
  for (int indexed = 0; indexed <= 1; indexed++) {
    check_plan(db, NULL, "hnsw", N + NO_VECTOR, N);
    check_plan(db, "{\"must\": {\"key\": \"n\", \"range\": {\"gte\": 100, "
                   "\"lt\": 105}}}", "exact_filtered", 5, 5);
    /* Above the full-scan threshold, but below the cost crossover
     * sqrt(ef 64 * 30 * 10,000 points) = 4381. */
    check_plan(db, "{\"must\": {\"key\": \"bucket\", \"match\": "
                   "{\"value\": 7}}}", "exact_filtered", 100 + NO_VECTOR,
               100);
    check_plan(db, "{\"must\": {\"key\": \"bucket\", \"match\": "
                   "{\"value\": 42}}}", "exact_filtered", 100, 100);
    /* Without an index the graph walk checks the cached payloads of the
     * points it meets (the searches above cached them). */
    const char *walk = indexed ? "hnsw_filtered" : "hnsw_checked";
    check_plan(db, "{\"must\": {\"key\": \"n\", \"range\": {\"lt\": 90}}}",
               "exact_filtered", 90, 90);
    /* 350 points match, but only 50 have the vector. */
    check_plan(db, "{\"must\": {\"key\": \"n\", \"range\": {\"gte\": "
                   "9950}}}", "exact_filtered", 50 + NO_VECTOR, 50);
    check_plan(db, "{\"must\": {\"key\": \"half\", \"match\": "
                   "{\"value\": 1}}}", walk, (N + NO_VECTOR) / 2, N / 2);
    if (!indexed) {
      CHECK_OK(strata_field_index_create(db, "c", "bucket", "integer", NULL));
      CHECK_OK(strata_field_index_create(db, "c", "half", "integer", NULL));
      CHECK_OK(strata_field_index_create(db, "c", "n", "integer", NULL));
    }
  }

  /* Filtered graph search against exact filtered search. */
  double r50 = recall(db, "{\"must\": {\"key\": \"half\", \"match\": "
                          "{\"value\": 1}}}");
  double r10 = recall(db, "{\"must\": {\"key\": \"tenth\", \"match\": "
                          "{\"value\": 3}}}");
  double r1 = recall(db, "{\"must\": {\"key\": \"bucket\", \"match\": "
                         "{\"value\": 42}}}");
  printf("recall@10 of filtered search: 50%% %.3f, 10%% %.3f, 1%% %.3f\n", r50,
         r10, r1);
  CHECK(r50 >= 0.95);
  CHECK(r10 >= 0.95);
  CHECK(r1 >= 0.95);

  db = check_combined_writes(db, dir);

  strata_close(db);
  test_remove_dir(dir);
  free(dir);
  return check_finish("test_planner");
}
