/* Allocation failures: every malloc, calloc and realloc made by the index
 * fails in turn (the Nth of a fixed scenario, for N = 0, 1, ...).  Each
 * call must report STRATA_HNSW_ENOMEM (or EIO when the C library's own
 * allocation inside fopen fails), leave a graph that passes the check,
 * and leak nothing (AddressSanitizer builds).  Linked with
 * -Wl,--wrap=malloc,--wrap=calloc,--wrap=realloc. */
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "hnsw_test.h"

#define DIM 8
#define POINTS 300
/* Point i is stored in slot i * SLOT_SPREAD, so that the nodes span
 * several chunks and the index's chunk table has to grow. */
#define SLOT_SPREAD 16

void *__real_malloc(size_t size);
void *__real_calloc(size_t n, size_t size);
void *__real_realloc(void *p, size_t size);

static long fail_at = -1; /* index of the allocation to fail, -1 none */
static long allocations;
static int failed;

static int should_fail(void) {
  if (fail_at < 0)
    return 0;
  if (allocations++ != fail_at)
    return 0;
  failed = 1;
  return 1;
}

void *__wrap_malloc(size_t size) {
  return should_fail() ? NULL : __real_malloc(size);
}

void *__wrap_calloc(size_t n, size_t size) {
  return should_fail() ? NULL : __real_calloc(n, size);
}

void *__wrap_realloc(void *p, size_t size) {
  return should_fail() ? NULL : __real_realloc(p, size);
}

/* Runs the graph check with injection paused. */
static void check_paused(strata_hnsw *h) {
  long saved = fail_at;
  fail_at = -1;
  CHECK_GRAPH(h);
  fail_at = saved;
}

static bool ok_or(int rc, int allowed) {
  return rc == STRATA_HNSW_OK || rc == allowed;
}

/* The scenario: create, insert, search, remove, repair, save, load. */
static void scenario(const test_data *d, const strata_vector_store *vs,
                     const char *path) {
  strata_hnsw_params params;
  strata_hnsw_params_default(&params);
  params.m = 6;
  params.ef_construct = 20;
  strata_hnsw *h = NULL;
  int rc = strata_hnsw_create(&params, STRATA_METRIC_L2, vs, &h);
  CHECK(ok_or(rc, STRATA_HNSW_ENOMEM));
  if (rc != STRATA_HNSW_OK)
    return;

  for (uint32_t i = 0; i < POINTS; i++)
    CHECK(ok_or(strata_hnsw_insert(h, i * SLOT_SPREAD), STRATA_HNSW_ENOMEM));
  check_paused(h);

  strata_hit hits[10];
  for (size_t q = 0; q < 5; q++) {
    long n = strata_hnsw_search(h, d->rows + q * DIM, 10, 16, NULL, hits);
    CHECK(n >= -1);
    CHECK(n <= 10);
  }
  for (uint32_t i = 0; i < POINTS; i += 3) {
    rc = strata_hnsw_remove(h, i * SLOT_SPREAD);
    CHECK(rc == STRATA_HNSW_OK || rc == STRATA_HNSW_ENOTFOUND);
  }
  CHECK(ok_or(strata_hnsw_repair(h), STRATA_HNSW_ENOMEM));
  check_paused(h);

  rc = strata_hnsw_save(h, path);
  CHECK(rc == STRATA_HNSW_OK || rc == STRATA_HNSW_ENOMEM ||
        rc == STRATA_HNSW_EIO);
  if (rc == STRATA_HNSW_OK) {
    strata_hnsw *loaded = NULL;
    rc = strata_hnsw_load(path, vs, &loaded, NULL, 0);
    CHECK(rc == STRATA_HNSW_OK || rc == STRATA_HNSW_ENOMEM ||
          rc == STRATA_HNSW_EIO);
    if (rc == STRATA_HNSW_OK) {
      check_paused(loaded);
      strata_hnsw_destroy(loaded);
    }
  }
  strata_hnsw_destroy(h);
}

int main(int argc, char **argv) {
  char path[] = "/tmp/strata-hnsw-oom-XXXXXX";
  int fd = mkstemp(path);
  REQUIRE(fd >= 0);
  close(fd);
  (void)argc;
  (void)argv;

  test_data d = test_random(POINTS, DIM, 51);
  strata_vector_store vs;
  REQUIRE(strata_vs_init(&vs, DIM) == 0);
  for (uint32_t i = 0; i < POINTS; i++)
    REQUIRE(strata_vs_add_at(&vs, i * SLOT_SPREAD, d.rows + i * DIM) == 0);

  long runs = 0;
  for (fail_at = 0;; fail_at++) {
    allocations = 0;
    failed = 0;
    scenario(&d, &vs, path);
    runs++;
    if (!failed)
      break; /* the scenario made fewer than fail_at allocations */
  }
  fail_at = -1;
  printf("failed each of %ld allocations in turn\n", runs - 1);
  /* A floor on the allocation sites covered; upper-level lists come
   * from shared arena blocks, so there is no allocation per node. */
  CHECK(runs > 80);

  unlink(path);
  strata_vs_destroy(&vs);
  test_data_free(&d);
  return test_finish("test_hnsw_oom");
}
