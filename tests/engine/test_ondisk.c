/*
 * Vectors with on_disk: the engine keeps their float rows in a file
 * under <data dir>/collections/c<id>.  Two collections get the same
 * points and the same writes, one on the heap and one on disk.  Every
 * search (graph on int8 codes, graph on floats, exact) must return the
 * same ids and scores from both, before and after a reopen.
 *
 * Also checked:
 * - the setting is reported and survives a reopen;
 * - dropping the collection removes its directory;
 * - a catalogue entry without the key, as written before on_disk
 *   existed, opens as on_disk 0, and a malformed key is corruption;
 * - a directory that cannot be created fails the create or the open
 *   with STRATA_ERR_IO and stores nothing;
 * - a file that cannot grow fails the upsert with STRATA_ERR_IO and
 *   stores nothing.
 */
#define _GNU_SOURCE /* asprintf */
#include <errno.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include "../../storage/store.h"
#include "check.h"
#include "testutil.h"

#define DIM 16
#define K 10
/* More than two chunks of the vector store (4096 slots each). */
#define N_POINTS 9000
#define N_QUERIES 25

static uint64_t seed = 20261204;

static strata_db *open_db(const char *dir) {
  /* One thread, so that both collections build the same graph. */
  strata_open_options options = {1, 0, NULL, NULL, 1};
  strata_db *db = NULL;
  REQUIRE(strata_open(dir, &options, &db) == STRATA_OK);
  return db;
}

static strata_status create(strata_db *db, const char *name, int on_disk) {
  strata_vector_config vector = {"", DIM, STRATA_DISTANCE_EUCLID};
  vector.hnsw.full_scan_threshold_kb = 1;
  vector.quantization =
      (strata_quantization_config){STRATA_QUANTIZATION_INT8, 0.99f, 0};
  vector.on_disk = on_disk;
  strata_collection_config config = {&vector, 1};
  return strata_collection_create(db, name, &config);
}

/* Upserts ids first .. first + n - 1 into every collection in `names`,
 * with the same random vectors. */
static strata_status upsert_random(strata_db *db, const char *const *names,
                                   size_t n_names, uint64_t first, size_t n) {
  float *vectors = malloc(n * DIM * sizeof *vectors);
  strata_named_vector *named = malloc(n * sizeof *named);
  strata_point *points = calloc(n, sizeof *points);
  REQUIRE(vectors != NULL);
  REQUIRE(named != NULL);
  REQUIRE(points != NULL);
  for (size_t i = 0; i < n * DIM; i++)
    vectors[i] = test_random_float(&seed);
  for (size_t i = 0; i < n; i++) {
    named[i] = (strata_named_vector){"", vectors + i * DIM, DIM};
    points[i].id = strata_id_num(first + i);
    points[i].vectors = &named[i];
    points[i].n_vectors = 1;
  }
  strata_status st = STRATA_OK;
  for (size_t c = 0; c < n_names && st == STRATA_OK; c++)
    st = strata_upsert(db, names[c], points, n, NULL);
  free(vectors);
  free(named);
  free(points);
  return st;
}

static int on_disk_of(strata_db *db, const char *name) {
  strata_collection_info *info = NULL;
  CHECK_OK(strata_collection_describe(db, name, &info));
  REQUIRE(info != NULL);
  int on_disk = info->vectors[0].on_disk;
  strata_collection_info_free(info);
  return on_disk;
}

static uint64_t count_of(strata_db *db, const char *name) {
  uint64_t n = 0;
  CHECK_OK(strata_count(db, name, &n));
  return n;
}

/* The three ways a search can score: graph on int8 codes with rescoring,
 * graph on floats, exact. */
static void set_mode(strata_search_request *request, int mode) {
  request->exact = mode == 2;
  request->quantization.ignore = mode == 1;
}

/* Checks that `a` and `b` return the same ids and scores for the same
 * queries in every mode; returns the number of results compared. */
static size_t compare_searches(strata_db *db, const char *a, const char *b,
                               uint64_t query_seed) {
  uint64_t state = query_seed;
  size_t compared = 0;
  float query[DIM];
  for (int q = 0; q < N_QUERIES; q++) {
    for (int i = 0; i < DIM; i++)
      query[i] = test_random_float(&state);
    for (int mode = 0; mode < 3; mode++) {
      strata_search_request request = {.query = query, .dim = DIM, .k = K};
      set_mode(&request, mode);
      strata_records *ra = NULL, *rb = NULL;
      CHECK_OK(strata_search(db, a, &request, &ra));
      CHECK_OK(strata_search(db, b, &request, &rb));
      REQUIRE(ra != NULL);
      REQUIRE(rb != NULL);
      CHECK(ra->count == K);
      CHECK(rb->count == ra->count);
      for (size_t i = 0; i < ra->count && i < rb->count; i++) {
        if (ra->items[i].id.num != rb->items[i].id.num ||
            ra->items[i].score != rb->items[i].score) {
          fprintf(stderr, "query %d mode %d rank %zu: %s has id %llu "
                  "score %g, %s id %llu score %g\n", q, mode, i, a,
                  (unsigned long long)ra->items[i].id.num,
                  (double)ra->items[i].score, b,
                  (unsigned long long)rb->items[i].id.num,
                  (double)rb->items[i].score);
          CHECK(0);
          break;
        }
        compared++;
      }
      strata_records_free(ra);
      strata_records_free(rb);
    }
  }
  return compared;
}

/* Returns nonzero when `path` exists. */
static int exists(const char *path) {
  struct stat st;
  return stat(path, &st) == 0;
}

static void test_same_results(const char *dir) {
  strata_db *db = open_db(dir);
  CHECK_OK(create(db, "heap", 0));
  CHECK_OK(create(db, "disk", 1));
  CHECK(on_disk_of(db, "heap") == 0);
  CHECK(on_disk_of(db, "disk") == 1);

  /* Ids are 1 and 2; only the on_disk collection has a directory. */
  char *disk_dir = NULL, *heap_dir = NULL;
  REQUIRE(asprintf(&disk_dir, "%s/collections/c2", dir) > 0);
  REQUIRE(asprintf(&heap_dir, "%s/collections/c1", dir) > 0);
  CHECK(exists(disk_dir));
  CHECK(!exists(heap_dir));

  const char *both[] = {"heap", "disk"};
  CHECK_OK(upsert_random(db, both, 2, 0, N_POINTS));
  /* Deletes across chunks, then new points that reuse their slots, and
   * new vectors for existing points. */
  strata_point_id gone[300];
  for (size_t i = 0; i < 300; i++)
    gone[i] = strata_id_num(i * 29);
  uint64_t deleted = 0;
  CHECK_OK(strata_delete(db, "heap", gone, 300, NULL, &deleted));
  CHECK(deleted == 300);
  CHECK_OK(strata_delete(db, "disk", gone, 300, NULL, &deleted));
  CHECK(deleted == 300);
  CHECK_OK(upsert_random(db, both, 2, N_POINTS, 200));
  CHECK_OK(upsert_random(db, both, 2, 1000, 500));
  /* The second batch brings back the deleted ids in [1000, 1500). */
  uint64_t expected = N_POINTS - 300 + 200;
  for (uint64_t id = 1000; id < 1500; id++)
    expected += id % 29 == 0;
  CHECK(count_of(db, "disk") == expected);
  CHECK(count_of(db, "heap") == count_of(db, "disk"));

  strata_collection_info *info = NULL;
  CHECK_OK(strata_collection_describe(db, "disk", &info));
  REQUIRE(info != NULL);
  CHECK(info->quantization_bytes[0] > 0); /* the codes are trained */
  strata_collection_info_free(info);

  CHECK(compare_searches(db, "heap", "disk", 11) == N_QUERIES * 3 * K);

  /* Reopen: the file is refilled from the stored vectors. */
  strata_close(db);
  CHECK(exists(disk_dir)); /* kept at close, empty */
  CHECK(rmdir(disk_dir) == 0);
  db = open_db(dir);
  CHECK(on_disk_of(db, "disk") == 1);
  CHECK(on_disk_of(db, "heap") == 0);
  CHECK(exists(disk_dir));
  CHECK(count_of(db, "disk") == expected);
  CHECK(compare_searches(db, "heap", "disk", 12) == N_QUERIES * 3 * K);

  /* The vectors read back through the file are the stored ones. */
  strata_point_id id = strata_id_num(1234);
  strata_records *a = NULL, *b = NULL;
  CHECK_OK(strata_get(db, "heap", &id, 1, STRATA_WITH_VECTORS, &a));
  CHECK_OK(strata_get(db, "disk", &id, 1, STRATA_WITH_VECTORS, &b));
  REQUIRE(a != NULL);
  REQUIRE(b != NULL);
  REQUIRE(a->count == 1);
  REQUIRE(b->count == 1);
  CHECK(memcmp(a->items[0].vectors[0].data, b->items[0].vectors[0].data,
               DIM * sizeof(float)) == 0);
  strata_records_free(a);
  strata_records_free(b);

  CHECK_OK(strata_collection_drop(db, "disk"));
  CHECK(!exists(disk_dir));
  CHECK_OK(strata_collection_drop(db, "heap"));
  strata_close(db);
  free(disk_dir);
  free(heap_dir);
}

/* Replaces the stored catalogue entry of `name` with `json`, as another
 * version of Strata could have written it. */
static void put_catalogue(const char *dir, const char *name,
                          const char *json) {
  strata_store *store = NULL;
  REQUIRE(strata_store_open(dir, 0, 0, &store) == STRATA_OK);
  char key[300];
  snprintf(key, sizeof key, "collection/%s", name);
  strata_store_batch *batch = strata_store_batch_new();
  REQUIRE(batch != NULL);
  strata_store_batch_put(batch, store, STRATA_CF_META, key, strlen(key), json,
                         strlen(json));
  CHECK_OK(strata_store_write(store, batch, 1));
  strata_store_batch_free(batch);
  strata_store_close(store);
}

/* Returns the stored catalogue entry of `name`; the caller frees it. */
static char *get_catalogue(const char *dir, const char *name) {
  strata_store *store = NULL;
  REQUIRE(strata_store_open(dir, 0, 0, &store) == STRATA_OK);
  char key[300];
  snprintf(key, sizeof key, "collection/%s", name);
  char *value = NULL;
  size_t len = 0;
  CHECK_OK(strata_store_get(store, NULL, STRATA_CF_META, key, strlen(key),
                            &value, &len));
  strata_store_close(store);
  REQUIRE(value != NULL);
  char *text = strndup(value, len);
  free(value);
  return text;
}

static void test_catalogue(const char *dir) {
  strata_db *db = open_db(dir);
  CHECK_OK(create(db, "old", 1));
  const char *one[] = {"old"};
  CHECK_OK(upsert_random(db, one, 1, 0, 500));
  strata_close(db);

  /* New entries carry the key. */
  char *text = get_catalogue(dir, "old");
  CHECK(strstr(text, "\"on_disk\":true") != NULL);

  /* Without the key, as written before on_disk existed: on_disk 0. */
  char *old = strdup(text);
  REQUIRE(old != NULL);
  char *key = strstr(old, ",\"on_disk\":true");
  REQUIRE(key != NULL);
  memmove(key, key + strlen(",\"on_disk\":true"),
          strlen(key + strlen(",\"on_disk\":true")) + 1);
  CHECK(strstr(old, "on_disk") == NULL);
  put_catalogue(dir, "old", old);
  db = open_db(dir);
  CHECK(on_disk_of(db, "old") == 0);
  CHECK(count_of(db, "old") == 500);
  strata_close(db);

  /* A value that is not a boolean is damage, not a default. */
  char *bad = strdup(text);
  REQUIRE(bad != NULL);
  char *value = strstr(bad, "true");
  REQUIRE(value != NULL);
  memcpy(value, "1   ", 4);
  put_catalogue(dir, "old", bad);
  strata_db *broken = NULL;
  strata_open_options options = {1, 0, NULL, NULL, 1};
  CHECK_STATUS(strata_open(dir, &options, &broken), STRATA_ERR_CORRUPTION);
  CHECK(broken == NULL);
  CHECK(strstr(strata_last_error(), "\"old\"") != NULL);

  put_catalogue(dir, "old", text);
  db = open_db(dir);
  CHECK(on_disk_of(db, "old") == 1);
  CHECK(count_of(db, "old") == 500);
  CHECK_OK(strata_collection_drop(db, "old"));
  strata_close(db);
  free(text);
  free(old);
  free(bad);
}

static void test_bad_directory(const char *dir) {
  strata_db *db = open_db(dir);
  CHECK_OK(create(db, "kept", 1));
  strata_close(db);

  /* A regular file where the collections directory belongs. */
  char *collections = NULL;
  REQUIRE(asprintf(&collections, "%s/collections", dir) > 0);
  test_remove_dir(collections);
  FILE *f = fopen(collections, "w");
  REQUIRE(f != NULL);
  fclose(f);

  /* Opening needs the directory for "kept". */
  strata_db *failed = NULL;
  strata_open_options options = {1, 0, NULL, NULL, 1};
  CHECK_STATUS(strata_open(dir, &options, &failed), STRATA_ERR_IO);
  CHECK(failed == NULL);
  CHECK(strstr(strata_last_error(), collections) != NULL);
  CHECK(strstr(strata_last_error(), "\"kept\"") != NULL);

  /* With the file gone the same data directory opens. */
  CHECK(unlink(collections) == 0);
  db = open_db(dir);
  CHECK(on_disk_of(db, "kept") == 1);
  CHECK_OK(strata_collection_drop(db, "kept"));
  strata_close(db);

  /* Creating fails cleanly and stores nothing. */
  test_remove_dir(collections);
  f = fopen(collections, "w");
  REQUIRE(f != NULL);
  fclose(f);
  db = open_db(dir);
  CHECK_STATUS(create(db, "refused", 1), STRATA_ERR_IO);
  CHECK(strstr(strata_last_error(), collections) != NULL);
  CHECK(strstr(strata_last_error(), strerror(ENOTDIR)) != NULL);
  char **names = NULL;
  CHECK_OK(strata_collection_list(db, &names));
  REQUIRE(names != NULL);
  CHECK(names[0] == NULL);
  strata_names_free(names);
  CHECK_OK(create(db, "on_heap", 0)); /* heap collections do not need it */
  strata_close(db);

  db = open_db(dir);
  CHECK_OK(strata_collection_list(db, &names));
  REQUIRE(names != NULL);
  REQUIRE(names[0] != NULL);
  CHECK(strcmp(names[0], "on_heap") == 0);
  CHECK(names[1] == NULL);
  strata_names_free(names);
  CHECK_OK(strata_collection_drop(db, "on_heap"));
  strata_close(db);
  CHECK(unlink(collections) == 0);
  free(collections);
}

/* RLIMIT_FSIZE makes posix_fallocate fail with EFBIG, as a full disk
 * fails with ENOSPC.  The upsert that needs a new chunk must fail before
 * anything is written. */
static void test_file_cannot_grow(const char *dir) {
  strata_db *db = open_db(dir);
  CHECK_OK(create(db, "full", 1));
  const char *one[] = {"full"};
  /* One chunk of 4096 slots, nearly full. */
  CHECK_OK(upsert_random(db, one, 1, 0, 4000));
  size_t chunk_bytes = 4096 * DIM * sizeof(float);

  struct rlimit old_limit, limit;
  REQUIRE(getrlimit(RLIMIT_FSIZE, &old_limit) == 0);
  limit = old_limit;
  limit.rlim_cur = chunk_bytes;
  void (*old_handler)(int) = signal(SIGXFSZ, SIG_IGN);
  REQUIRE(setrlimit(RLIMIT_FSIZE, &limit) == 0);
  strata_status st = upsert_random(db, one, 1, 4000, 200);
  REQUIRE(setrlimit(RLIMIT_FSIZE, &old_limit) == 0);
  signal(SIGXFSZ, old_handler);

  CHECK_STATUS(st, STRATA_ERR_IO);
  CHECK(strstr(strata_last_error(), "\"full\"") != NULL);
  CHECK(strstr(strata_last_error(), strerror(EFBIG)) != NULL);
  CHECK(count_of(db, "full") == 4000);
  strata_point_id id = strata_id_num(4100);
  strata_records *got = NULL;
  CHECK_OK(strata_get(db, "full", &id, 1, 0, &got));
  REQUIRE(got != NULL);
  CHECK(got->count == 0);
  strata_records_free(got);

  /* With room again the same upsert succeeds, and survives a reopen. */
  CHECK_OK(upsert_random(db, one, 1, 4000, 200));
  CHECK(count_of(db, "full") == 4200);
  strata_close(db);
  db = open_db(dir);
  CHECK(count_of(db, "full") == 4200);
  CHECK_OK(strata_collection_drop(db, "full"));
  strata_close(db);
}

int main(void) {
  char *dir = test_make_dir("ondisk");
  test_same_results(dir);
  test_catalogue(dir);
  test_bad_directory(dir);
  test_file_cannot_grow(dir);
  test_remove_dir(dir);
  free(dir);
  return check_finish("test_ondisk");
}
