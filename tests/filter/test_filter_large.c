/* Filters with 100,000 conditions in one clause: parsing, building,
 * evaluation and candidate lookup.  The condition arrays used to grow by
 * one element per condition.  The test asserts on results only, not on
 * time, but stays fast only while that growth is geometric. */
#define _GNU_SOURCE /* asprintf */
#include <jansson.h>

#include "filter.h"
#include "filter_test.h"
#include "payload_index.h"

#define N_CONDITIONS 100000

/* {"should": [{"key": "n", "match": {"value": 0}}, ... up to n - 1]} */
static char *should_json(int n) {
  size_t cap = (size_t)n * 48 + 32, len = 0;
  char *text = malloc(cap);
  REQUIRE(text != NULL);
  len += (size_t)snprintf(text + len, cap - len, "{\"should\":[");
  for (int i = 0; i < n; i++)
    len += (size_t)snprintf(text + len, cap - len,
                            "%s{\"key\":\"n\",\"match\":{\"value\":%d}}",
                            i ? "," : "", i);
  snprintf(text + len, cap - len, "]}");
  return text;
}

static int matches_n(const strata_filter *f, long long n) {
  char *text = NULL;
  REQUIRE(asprintf(&text, "{\"n\":%lld}", n) > 0);
  json_t *payload = NULL;
  REQUIRE(strata_payload_load(text, strlen(text), &payload) == STRATA_OK);
  strata_point_id id = strata_id_num(1);
  int result = strata_filter_matches(f, payload, &id);
  json_decref(payload);
  free(text);
  return result;
}

static void test_parsed_should(void) {
  char *text = should_json(N_CONDITIONS);
  strata_filter *f = NULL;
  REQUIRE(strata_filter_parse_json(text, strlen(text), &f) == STRATA_OK);
  CHECK(f->n_should == N_CONDITIONS);
  CHECK(f->should[N_CONDITIONS - 1]->integer == N_CONDITIONS - 1);
  CHECK(matches_n(f, 0));
  CHECK(matches_n(f, N_CONDITIONS - 1));
  CHECK(!matches_n(f, N_CONDITIONS));
  CHECK(!matches_n(f, -1));

  /* The JSON form round-trips with every condition. */
  char *again = NULL;
  CHECK(strata_filter_to_json(f, &again) == STRATA_OK);
  strata_filter *reparsed = NULL;
  REQUIRE(again != NULL);
  CHECK(strata_filter_parse_json(again, strlen(again), &reparsed) ==
        STRATA_OK);
  REQUIRE(reparsed != NULL);
  CHECK(reparsed->n_should == N_CONDITIONS);
  strata_filter_free(reparsed);
  free(again);
  strata_filter_free(f);
  free(text);
}

static void test_built_must_not(void) {
  strata_filter *f = strata_filter_new();
  REQUIRE(f != NULL);
  for (int i = 0; i < N_CONDITIONS; i++)
    REQUIRE(strata_filter_add(f, STRATA_MUST_NOT,
                              strata_cond_match_integer("n", 2 * i)) ==
            STRATA_OK);
  CHECK(f->n_must_not == N_CONDITIONS);
  CHECK(f->must_not[0]->integer == 0);
  CHECK(f->must_not[N_CONDITIONS - 1]->integer == 2 * (N_CONDITIONS - 1));
  CHECK(!matches_n(f, 0));
  CHECK(!matches_n(f, 2 * (N_CONDITIONS - 1)));
  CHECK(matches_n(f, 1));
  CHECK(matches_n(f, 2 * N_CONDITIONS));
  strata_filter_free(f);
}

/* An integer index resolves every should child to a bitmap, so the union
 * is exact: the points with n below N_CONDITIONS. */
static void test_indexed_should(void) {
  enum { N_POINTS = 1000 };
  strata_payload_index *index = NULL;
  REQUIRE(strata_payload_index_create("n", STRATA_INDEX_INTEGER, &index) ==
          STRATA_OK);
  roaring_bitmap_t *all = roaring_bitmap_create();
  REQUIRE(all != NULL);
  for (uint32_t p = 0; p < N_POINTS; p++) {
    char text[32];
    snprintf(text, sizeof text, "{\"n\":%u}", p * 200);
    json_t *payload = NULL;
    REQUIRE(strata_payload_load(text, strlen(text), &payload) == STRATA_OK);
    REQUIRE(strata_payload_index_add(index, p, payload) == STRATA_OK);
    json_decref(payload);
    roaring_bitmap_add(all, p);
  }
  REQUIRE(strata_payload_index_prepare(index) == STRATA_OK);

  char *text = should_json(N_CONDITIONS);
  strata_filter *f = NULL;
  REQUIRE(strata_filter_parse_json(text, strlen(text), &f) == STRATA_OK);
  strata_payload_indexes indexes = {&index, 1, NULL, NULL};
  roaring_bitmap_t *candidates = NULL;
  int exact = 0;
  REQUIRE(strata_filter_candidates(f, &indexes, all, &candidates, &exact) ==
          STRATA_OK);
  CHECK(exact);
  /* Point p has n = 200 p, which is below 100,000 for p < 500. */
  CHECK(roaring_bitmap_get_cardinality(candidates) == 500);
  CHECK(roaring_bitmap_contains(candidates, 499));
  CHECK(!roaring_bitmap_contains(candidates, 500));

  roaring_bitmap_free(candidates);
  strata_filter_free(f);
  free(text);
  roaring_bitmap_free(all);
  strata_payload_index_free(index);
}

int main(void) {
  test_parsed_should();
  test_built_must_not();
  test_indexed_should();
  return test_result();
}
