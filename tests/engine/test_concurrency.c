/* Concurrency: reader threads search, count and scroll while one writer
 * upserts and deletes whole batches.  Readers must never see part of a
 * batch, and every result must be a stored point.  A second process that
 * opens the directory gets STRATA_ERR_LOCKED. */
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "check.h"
#include "testutil.h"

#define DIM 16
#define BATCH 50
#define ROUNDS 200
#define READERS 3

static strata_db *db;
static atomic_int writer_done;
static atomic_int reader_errors;
static atomic_int reader_passes;

static void vector_of(uint64_t id, float *v) {
  for (int j = 0; j < DIM; j++)
    v[j] = (float)((id * 13 + (uint64_t)j) % 97);
}

/* Round r upserts batch r and, from round 4 on, deletes batch r - 4, so
 * the collection always holds whole batches. */
static void *writer(void *arg) {
  static float data[BATCH][DIM];
  strata_named_vector nv[BATCH];
  strata_point pts[BATCH];
  strata_point_id ids[BATCH];
  for (uint64_t r = 0; r < ROUNDS; r++) {
    for (int i = 0; i < BATCH; i++) {
      uint64_t id = r * BATCH + (uint64_t)i;
      vector_of(id, data[i]);
      nv[i] = (strata_named_vector){"", data[i], DIM};
      pts[i] = (strata_point){strata_id_num(id), &nv[i], 1, "{\"x\":1}", 0};
    }
    if (strata_upsert(db, "c", pts, BATCH, NULL) != STRATA_OK)
      atomic_fetch_add(&reader_errors, 1);
    if (r >= 4) {
      for (int i = 0; i < BATCH; i++)
        ids[i] = strata_id_num((r - 4) * BATCH + (uint64_t)i);
      if (strata_delete(db, "c", ids, BATCH, NULL, NULL) != STRATA_OK)
        atomic_fetch_add(&reader_errors, 1);
    }
  }
  atomic_store(&writer_done, 1);
  return NULL;
}

static void reader_fail(const char *what) {
  fprintf(stderr, "reader: %s\n", what);
  atomic_fetch_add(&reader_errors, 1);
}

static void *reader(void *arg) {
  uint64_t rng = (uint64_t)(uintptr_t)arg;
  float q[DIM];
  while (!atomic_load(&writer_done)) {
    uint64_t count = 0;
    if (strata_count(db, "c", &count) != STRATA_OK || count % BATCH != 0)
      reader_fail("count is not a whole number of batches");

    for (int j = 0; j < DIM; j++)
      q[j] = test_random_float(&rng) * 97;
    strata_search_request req = {"", q, DIM, 2 * BATCH, STRATA_WITH_PAYLOAD};
    strata_records *res = NULL;
    if (strata_search(db, "c", &req, &res) != STRATA_OK) {
      reader_fail(strata_last_error());
      continue;
    }
    for (size_t i = 0; i < res->count; i++)
      if (strcmp(res->items[i].payload, "{\"x\":1}") != 0)
        reader_fail("a search hit has no payload: half-applied write seen");
    strata_records_free(res);

    /* A full scroll sees whole batches: every present batch complete. */
    strata_point_id next;
    int has_next = 0;
    if (strata_scroll(db, "c", NULL, 100000, 0, &res, &next, &has_next) !=
        STRATA_OK) {
      reader_fail(strata_last_error());
      continue;
    }
    if (res->count % BATCH != 0)
      reader_fail("scroll returned part of a batch");
    for (size_t i = 0; i + 1 < res->count; i++)
      if (res->items[i].id.num >= res->items[i + 1].id.num)
        reader_fail("scroll out of id order");
    strata_records_free(res);
    atomic_fetch_add(&reader_passes, 1);
  }
  return NULL;
}

static void test_readers_and_writer(void) {
  pthread_t w, r[READERS];
  for (int i = 0; i < READERS; i++)
    pthread_create(&r[i], NULL, reader, (void *)(uintptr_t)(i + 1));
  pthread_create(&w, NULL, writer, NULL);
  pthread_join(w, NULL);
  for (int i = 0; i < READERS; i++)
    pthread_join(r[i], NULL);
  CHECK(atomic_load(&reader_errors) == 0);
  /* The check means little unless readers ran during the writes. */
  printf("test_concurrency: %d reader passes during %d write rounds\n",
         atomic_load(&reader_passes), ROUNDS);
  CHECK(atomic_load(&reader_passes) >= READERS * 10);
  uint64_t count = 0;
  CHECK_OK(strata_count(db, "c", &count));
  CHECK(count == 4 * BATCH);
}

static void test_second_process_locked(const char *dir) {
  pid_t pid = fork();
  REQUIRE(pid >= 0);
  if (pid == 0) {
    strata_db *other = NULL;
    strata_status st = strata_open(dir, NULL, &other);
    int ok = st == STRATA_ERR_LOCKED && other == NULL &&
             strstr(strata_last_error(), dir) != NULL;
    if (!ok)
      fprintf(stderr, "child: open returned %s: %s\n", strata_strerror(st),
              strata_last_error());
    _exit(ok ? 0 : 1);
  }
  int wstatus = 0;
  waitpid(pid, &wstatus, 0);
  CHECK(WIFEXITED(wstatus) && WEXITSTATUS(wstatus) == 0);
  /* The refused open changed nothing. */
  uint64_t count = 0;
  CHECK_OK(strata_count(db, "c", &count));
  CHECK(count == 4 * BATCH);
}

int main(void) {
  char *dir = test_make_dir("concurrency");
  REQUIRE(strata_open(dir, NULL, &db) == STRATA_OK);
  strata_vector_config vec = {"", DIM, STRATA_DISTANCE_EUCLID};
  strata_collection_config config = {&vec, 1};
  REQUIRE(strata_collection_create(db, "c", &config) == STRATA_OK);
  test_readers_and_writer();
  test_second_process_locked(dir);
  strata_close(db);
  test_remove_dir(dir);
  free(dir);
  return check_finish("test_concurrency");
}
