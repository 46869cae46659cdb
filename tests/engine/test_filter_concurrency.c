/* Filtered reads during payload updates: a reader never sees half of an
 * update, with a payload index on the field or without.  The writer
 * turns points from blue to red 100 at a time, so every count of red
 * points is a multiple of 100 and red plus blue is always N. */
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "testutil.h"

#define DIM 4
#define N 2000
#define STEP 100

static strata_db *db;
static atomic_int writer_done;
static atomic_int torn_reads;
static atomic_int reads;

static strata_filter *parse(const char *json) {
  strata_filter *f = NULL;
  REQUIRE(strata_filter_parse_json(json, strlen(json), &f) == STRATA_OK);
  return f;
}

static void *reader(void *arg) {
  (void)arg;
  strata_filter *red = parse("{\"must\": {\"key\": \"color\", \"match\": "
                             "{\"value\": \"red\"}}}");
  strata_filter *any = parse("{\"must\": {\"key\": \"color\", \"match\": "
                             "{\"any\": [\"red\", \"blue\"]}}}");
  float q[DIM] = {1, 0, 0, 0};
  while (!atomic_load(&writer_done)) {
    uint64_t n_red = 0, n_any = 0;
    if (strata_count_filtered(db, "c", red, &n_red) != STRATA_OK ||
        strata_count_filtered(db, "c", any, &n_any) != STRATA_OK)
      atomic_fetch_add(&torn_reads, 1);
    if (n_red % STEP != 0 || n_any != N)
      atomic_fetch_add(&torn_reads, 1);
    /* Every hit of a search for red is red. */
    strata_search_request req = {NULL, q, DIM, 10, STRATA_WITH_PAYLOAD, 0, 0,
                                 red};
    strata_records *recs = NULL;
    if (strata_search(db, "c", &req, &recs) != STRATA_OK)
      atomic_fetch_add(&torn_reads, 1);
    for (size_t i = 0; recs && i < recs->count; i++)
      if (!strstr(recs->items[i].payload, "red"))
        atomic_fetch_add(&torn_reads, 1);
    strata_records_free(recs);
    atomic_fetch_add(&reads, 1);
  }
  strata_filter_free(red);
  strata_filter_free(any);
  return NULL;
}

/* Turns every point blue, then red STEP points at a time. */
static void run_round(void) {
  strata_filter *all = parse("{}");
  strata_point_selector everything = {NULL, 0, all};
  CHECK_OK(strata_payload_set(db, "c", &everything, "{\"color\": \"blue\"}",
                              NULL, NULL, NULL));
  strata_point_id ids[STEP];
  for (int start = 0; start < N; start += STEP) {
    for (int i = 0; i < STEP; i++)
      ids[i] = strata_id_num((uint64_t)(start + i));
    strata_point_selector batch = {ids, STEP, NULL};
    uint64_t updated = 0;
    CHECK_OK(strata_payload_set(db, "c", &batch, "{\"color\": \"red\"}", NULL,
                                NULL, &updated));
    CHECK(updated == STEP);
  }
  strata_filter_free(all);
}

int main(void) {
  char *dir = test_make_dir("filter-concurrency");
  REQUIRE(strata_open(dir, NULL, &db) == STRATA_OK);
  strata_vector_config vc = {"", DIM, STRATA_DISTANCE_DOT, {0, 0, 0}};
  strata_collection_config cc = {&vc, 1};
  CHECK_OK(strata_collection_create(db, "c", &cc));
  static float v[N][DIM];
  strata_point *points = calloc(N, sizeof *points);
  strata_named_vector *nv = calloc(N, sizeof *nv);
  REQUIRE(points && nv);
  for (int i = 0; i < N; i++) {
    v[i][i % DIM] = 1.0f + (float)i / N;
    nv[i] = (strata_named_vector){"", v[i], DIM};
    points[i] = (strata_point){strata_id_num((uint64_t)i), &nv[i], 1,
                               "{\"color\": \"blue\"}", 0};
  }
  CHECK_OK(strata_upsert(db, "c", points, N, NULL));
  free(points);
  free(nv);

  for (int indexed = 0; indexed <= 1; indexed++) {
    if (indexed)
      CHECK_OK(strata_field_index_create(db, "c", "color", "keyword", NULL));
    atomic_store(&writer_done, 0);
    pthread_t thread;
    REQUIRE(pthread_create(&thread, NULL, reader, NULL) == 0);
    run_round();
    atomic_store(&writer_done, 1);
    pthread_join(thread, NULL);
  }
  printf("%d filtered reads ran during updates\n", atomic_load(&reads));
  CHECK(atomic_load(&reads) > 0);
  CHECK(atomic_load(&torn_reads) == 0);

  strata_close(db);
  test_remove_dir(dir);
  free(dir);
  return check_finish("test_filter_concurrency");
}
