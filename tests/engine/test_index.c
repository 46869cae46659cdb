#define _GNU_SOURCE /* asprintf */
/* The HNSW graph behind strata_search: recall against exact search,
 * replacing and deleting points, and saving the graph across close and
 * open, including damaged, truncated and stale graph files. */
#include <math.h>
#include <rocksdb/c.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "check.h"
#include "testutil.h"

#define DIM 24
#define N 4000
#define QUERIES 100
#define K 10

static float data[N][DIM];
static float queries[QUERIES][DIM];
static char log_text[8192];

static void capture_log(void *ctx, const char *message) {
  size_t used = strlen(log_text);
  snprintf(log_text + used, sizeof log_text - used, "%s\n", message);
}

static strata_db *open_db(const char *dir) {
  strata_open_options options = {1, 0, capture_log, NULL, 2};
  log_text[0] = '\0';
  strata_db *db = NULL;
  REQUIRE(strata_open(dir, &options, &db) == STRATA_OK);
  return db;
}

/* Uniform random data: the hardest case for a graph at this dimension,
 * so a small ef shows a recall clearly below 1. */
static void make_data(void) {
  uint64_t rng = 7;
  for (int i = 0; i < N; i++)
    for (int j = 0; j < DIM; j++)
      data[i][j] = test_random_float(&rng);
  for (int q = 0; q < QUERIES; q++)
    for (int j = 0; j < DIM; j++)
      queries[q][j] = test_random_float(&rng);
}

/* Checks that every stored vector is in the graph, so searches really
 * walk it (an empty graph would fall back to exact scans). */
static void check_indexed(strata_db *db) {
  strata_collection_info *info = NULL;
  CHECK_OK(strata_collection_describe(db, "c", &info));
  REQUIRE(info != NULL);
  CHECK(info->indexed_vectors_count == info->points_count);
  CHECK(info->points_count > 0);
  strata_collection_info_free(info);
}

static void upsert_range(strata_db *db, int from, int to) {
  static strata_named_vector nv[N];
  static strata_point pts[N];
  for (int i = from; i < to; i++) {
    nv[i] = (strata_named_vector){"", data[i], DIM};
    pts[i - from] = (strata_point){strata_id_num((uint64_t)i), &nv[i], 1,
                                   NULL, 0};
  }
  REQUIRE(strata_upsert(db, "c", pts, (size_t)(to - from), NULL) ==
          STRATA_OK);
}

/* Mean recall@K of graph search against exact search; also checks that
 * no id appears twice in a result. */
static double recall(strata_db *db, uint32_t ef) {
  size_t found = 0, total = 0;
  for (int q = 0; q < QUERIES; q++) {
    strata_search_request approx = {"", queries[q], DIM, K, 0, ef, 0};
    strata_search_request exact = {"", queries[q], DIM, K, 0, 0, 1};
    strata_records *a = NULL, *e = NULL;
    CHECK_OK(strata_search(db, "c", &approx, &a));
    CHECK_OK(strata_search(db, "c", &exact, &e));
    REQUIRE(a && e);
    CHECK(a->count == e->count);
    for (size_t i = 0; i < a->count; i++) {
      for (size_t j = 0; j < i; j++)
        CHECK(a->items[i].id.num != a->items[j].id.num);
      for (size_t j = 0; j < e->count; j++)
        found += a->items[i].id.num == e->items[j].id.num;
    }
    total += e->count;
    strata_records_free(a);
    strata_records_free(e);
  }
  return total ? (double)found / (double)total : 0;
}

/* The ids and scores of every query, to compare before and after a
 * reopen. */
static void snapshot(strata_db *db, uint64_t *ids) {
  for (int q = 0; q < QUERIES; q++) {
    strata_search_request req = {"", queries[q], DIM, K, 0, 32, 0};
    strata_records *res = NULL;
    CHECK_OK(strata_search(db, "c", &req, &res));
    for (size_t i = 0; i < K; i++)
      ids[q * K + i] = i < res->count ? res->items[i].id.num : UINT64_MAX;
    strata_records_free(res);
  }
}

static char *graph_file(const char *dir) {
  char *path = NULL;
  if (asprintf(&path, "%s/hnsw/c1-v0.graph", dir) < 0)
    abort();
  return path;
}

static void test_recall_and_updates(const char *dir) {
  strata_db *db = open_db(dir);
  /* A threshold of 1 KB makes every search above 10 points use the
   * graph. */
  strata_vector_config vec = {"", DIM, STRATA_DISTANCE_EUCLID, {12, 80, 1}};
  strata_collection_config config = {&vec, 1};
  REQUIRE(strata_collection_create(db, "c", &config) == STRATA_OK);
  strata_collection_info *info = NULL;
  CHECK_OK(strata_collection_describe(db, "c", &info));
  CHECK(info->vectors[0].hnsw.m == 12);
  CHECK(info->vectors[0].hnsw.ef_construct == 80);
  CHECK(info->vectors[0].hnsw.full_scan_threshold_kb == 1);
  strata_collection_info_free(info);

  /* Batches of different sizes: small ones link on one thread, large
   * ones on several. */
  upsert_range(db, 0, 30);
  upsert_range(db, 30, 1000);
  upsert_range(db, 1000, N);
  check_indexed(db);
  double r = recall(db, 64);
  double low = recall(db, 10);
  printf("recall@%d after insert: %.4f at ef=64, %.4f at ef=10\n", K, r,
         low);
  CHECK(r >= 0.95);
  /* A small beam is measurably worse: the searches use the graph. */
  CHECK(low < r);

  /* Replace 500 points with new vectors: each is then its own top-1, and
   * no id appears twice. */
  static float moved[500][DIM];
  strata_named_vector nv[500];
  strata_point pts[500];
  uint64_t rng = 99;
  for (int i = 0; i < 500; i++) {
    for (int j = 0; j < DIM; j++)
      moved[i][j] = 20 + test_random_float(&rng) * 10;
    nv[i] = (strata_named_vector){"", moved[i], DIM};
    pts[i] = (strata_point){strata_id_num((uint64_t)i * 7), &nv[i], 1, NULL,
                            0};
  }
  CHECK_OK(strata_upsert(db, "c", pts, 500, NULL));
  int self_top1 = 0;
  for (int i = 0; i < 500; i++) {
    strata_search_request req = {"", moved[i], DIM, 1, 0, 64, 0};
    strata_records *res = NULL;
    CHECK_OK(strata_search(db, "c", &req, &res));
    self_top1 += res->count == 1 && res->items[0].id.num == (uint64_t)i * 7;
    strata_records_free(res);
  }
  printf("replaced points that are their own top-1: %d of 500\n", self_top1);
  CHECK(self_top1 >= 495);
  for (int i = 0; i < 500; i++) {
    /* Put the originals back for the recall checks below. */
    nv[i] = (strata_named_vector){"", data[i * 7], DIM};
  }
  CHECK_OK(strata_upsert(db, "c", pts, 500, NULL));
  double before_churn = recall(db, 64);

  /* Delete a random 30% and insert them again: recall must hold. */
  strata_point_id *gone = malloc(N * sizeof *gone);
  size_t n_gone = 0;
  for (int i = 0; i < N; i++)
    if (test_random_u64(&rng) % 10 < 3)
      gone[n_gone++] = strata_id_num((uint64_t)i);
  uint64_t deleted = 0;
  CHECK_OK(strata_delete(db, "c", gone, n_gone, NULL, &deleted));
  CHECK(deleted == n_gone);
  uint64_t count = 0;
  CHECK_OK(strata_count(db, "c", &count));
  CHECK(count == N - n_gone);
  /* Deleted points are never returned. */
  for (int q = 0; q < QUERIES; q++) {
    strata_search_request req = {"", queries[q], DIM, K, 0, 64, 0};
    strata_records *res = NULL;
    CHECK_OK(strata_search(db, "c", &req, &res));
    for (size_t i = 0; i < res->count; i++)
      for (size_t g = 0; g < n_gone; g++)
        CHECK(res->items[i].id.num != gone[g].num);
    strata_records_free(res);
  }
  static strata_named_vector back_nv[N];
  static strata_point back[N];
  for (size_t g = 0; g < n_gone; g++) {
    back_nv[g] = (strata_named_vector){"", data[gone[g].num], DIM};
    back[g] = (strata_point){gone[g], &back_nv[g], 1, NULL, 0};
  }
  CHECK_OK(strata_upsert(db, "c", back, n_gone, NULL));
  check_indexed(db);
  double after_churn = recall(db, 64);
  printf("recall before and after deleting and re-inserting %zu points: "
         "%.4f, %.4f\n",
         n_gone, before_churn, after_churn);
  CHECK(after_churn >= before_churn - 0.01);
  free(gone);
  strata_close(db);
}

static void test_persistence(const char *dir) {
  static uint64_t before[QUERIES * K], after[QUERIES * K];
  strata_db *db = open_db(dir);
  CHECK(log_text[0] == '\0'); /* graph loaded, not rebuilt */
  check_indexed(db);
  snapshot(db, before);
  strata_close(db);

  db = open_db(dir);
  CHECK(log_text[0] == '\0');
  snapshot(db, after);
  CHECK(memcmp(before, after, sizeof before) == 0);
  strata_close(db);

  /* A flipped byte in the graph file is detected and the graph rebuilt. */
  char *path = graph_file(dir);
  FILE *f = fopen(path, "r+b");
  REQUIRE(f != NULL);
  fseek(f, 100, SEEK_SET);
  int byte = fgetc(f);
  fseek(f, 100, SEEK_SET);
  fputc(byte ^ 0x40, f);
  fclose(f);
  db = open_db(dir);
  CHECK(strstr(log_text, "cannot be used") != NULL);
  CHECK(strstr(log_text, "rebuilding") != NULL);
  check_indexed(db);
  CHECK(recall(db, 64) >= 0.95);
  strata_close(db);

  /* A truncated graph file: the same. */
  struct stat sb;
  REQUIRE(stat(path, &sb) == 0);
  REQUIRE(truncate(path, sb.st_size / 2) == 0);
  db = open_db(dir);
  CHECK(strstr(log_text, "cannot be used") != NULL);
  CHECK(recall(db, 64) >= 0.95);
  strata_close(db);

  /* A write after the save (as when a process dies without closing):
   * the slot file is stale and the graph is rebuilt. */
  rocksdb_options_t *opts = rocksdb_options_create();
  const char *names[] = {"default", "meta", "points", "payloads"};
  const rocksdb_options_t *cf_opts[] = {opts, opts, opts, opts};
  rocksdb_column_family_handle_t *handles[4];
  char *err = NULL;
  rocksdb_t *raw = rocksdb_open_column_families(opts, dir, 4, names, cf_opts,
                                                handles, &err);
  REQUIRE(err == NULL);
  rocksdb_writeoptions_t *wo = rocksdb_writeoptions_create();
  rocksdb_put_cf(raw, wo, handles[1], "unrelated", 9, "x", 1, &err);
  REQUIRE(err == NULL);
  rocksdb_writeoptions_destroy(wo);
  for (int i = 0; i < 4; i++)
    rocksdb_column_family_handle_destroy(handles[i]);
  rocksdb_close(raw);
  rocksdb_options_destroy(opts);
  db = open_db(dir);
  CHECK(strstr(log_text, "changed after the graph was saved") != NULL);
  CHECK(recall(db, 64) >= 0.95);

  /* Dropping the collection removes its graph files. */
  CHECK_OK(strata_collection_drop(db, "c"));
  CHECK(access(path, F_OK) != 0);
  strata_close(db);
  free(path);
}

/* Deleting the point in the highest slot shrinks the slot range that a
 * reload sees; the saved graph must still load, every time. */
static void test_delete_top_slot(const char *dir) {
  strata_db *db = open_db(dir);
  strata_vector_config vec = {"", 2, STRATA_DISTANCE_DOT, {0, 0, 1}};
  strata_collection_config config = {&vec, 1};
  REQUIRE(strata_collection_create(db, "tail", &config) == STRATA_OK);
  float v[3][2] = {{1, 0}, {0, 1}, {1, 1}};
  strata_named_vector nv[3];
  strata_point pts[3];
  for (int i = 0; i < 3; i++) {
    nv[i] = (strata_named_vector){"", v[i], 2};
    pts[i] = (strata_point){strata_id_num((uint64_t)i + 1), &nv[i], 1, NULL,
                            0};
  }
  CHECK_OK(strata_upsert(db, "tail", pts, 3, NULL));
  strata_point_id last = strata_id_num(3);
  CHECK_OK(strata_delete(db, "tail", &last, 1, NULL, NULL));
  strata_close(db);
  for (int round = 0; round < 2; round++) {
    db = open_db(dir);
    CHECK(log_text[0] == '\0');
    if (log_text[0])
      fprintf(stderr, "reopen %d logged: %s", round, log_text);
    strata_close(db);
  }
  db = open_db(dir);
  CHECK_OK(strata_collection_drop(db, "tail"));
  strata_close(db);
}

/* A read-only handle does not rebuild a stale graph: it scores exactly,
 * and says so. */
static void test_read_only_stale(const char *dir) {
  strata_db *db = open_db(dir);
  strata_vector_config vec = {"", 2, STRATA_DISTANCE_DOT, {0, 0, 1}};
  strata_collection_config config = {&vec, 1};
  REQUIRE(strata_collection_create(db, "ro", &config) == STRATA_OK);
  static float v[200][2];
  strata_named_vector nv[200];
  strata_point pts[200];
  for (int i = 0; i < 200; i++) {
    v[i][0] = (float)i;
    v[i][1] = 1;
    nv[i] = (strata_named_vector){"", v[i], 2};
    pts[i] = (strata_point){strata_id_num((uint64_t)i), &nv[i], 1, NULL, 0};
  }
  CHECK_OK(strata_upsert(db, "ro", pts, 200, NULL));
  strata_close(db);
  /* Make the saved graph stale, as a running writer would. */
  char *slots = NULL;
  if (asprintf(&slots, "%s/hnsw/c3-v0.slots", dir) < 0)
    abort();
  FILE *f = fopen(slots, "r+b");
  REQUIRE(f != NULL);
  fseek(f, 16, SEEK_SET);
  fputc(0x7f, f); /* the sequence number */
  fclose(f);
  free(slots);
  strata_open_options ro = {0, 1, capture_log, NULL, 1};
  log_text[0] = '\0';
  REQUIRE(strata_open(dir, &ro, &db) == STRATA_OK);
  CHECK(strstr(log_text, "scores searches exactly") != NULL);
  float q[2] = {1, 0};
  strata_search_request req = {"", q, 2, 3, 0};
  strata_records *res = NULL;
  CHECK_OK(strata_search(db, "ro", &req, &res));
  REQUIRE(res != NULL);
  CHECK(res->count == 3);
  CHECK(res->items[0].id.num == 199);
  strata_records_free(res);
  strata_close(db);
}

int main(void) {
  make_data();
  char *dir = test_make_dir("index");
  test_recall_and_updates(dir);
  test_persistence(dir);
  test_delete_top_slot(dir);
  test_read_only_stale(dir);
  test_remove_dir(dir);
  free(dir);
  return check_finish("test_index");
}
