/* Concurrency: inserts from several writer threads while reader threads
 * search, then concurrent updates and removes under searches.  After each
 * phase the graph must pass the check.  After the inserts, and after a
 * bulk build on 4 threads, every vector's top-1 must be itself; after
 * moves and removes, all but MAX_MISSES_AFTER_MOVES.
 *
 * Usage: test_hnsw_concurrent [small] */
#include <pthread.h>
#include <string.h>

#include "hnsw_test.h"

/* Gaussian data of 12 dimensions.  At 24 dimensions, a few vectors in
 * 20,000 were not their own top-1 at ef 64 even after a single-threaded
 * build: their nearest neighbours prune them, so only farther nodes link
 * to them.  That is a recall limit, not a concurrency fault. */
#define DIM 12
/* After a quarter of the points moved (or were removed), an extreme
 * outlier can be left with in-links only from nodes farther away than its
 * new nearest neighbours.  Runs of this test with 20,000 points showed at
 * most one such point (nearest neighbour at distance 3.2, links into it
 * from 4.2 and 5.6). */
#define MAX_MISSES_AFTER_MOVES 2

#define WRITERS 2
#define READERS 2

typedef struct shared {
  strata_hnsw *h;
  const test_data *data;
  size_t n;
  int stop;          /* atomic: readers run until it is set */
  size_t searches;   /* atomic */
  size_t bad_hits;   /* atomic: hits out of range or out of order */
  int writer_errors; /* atomic */
} shared;

typedef struct writer_arg {
  shared *sh;
  unsigned id;
  int phase; /* 0 insert, 1 update, 2 remove */
} writer_arg;

static void *writer_main(void *p) {
  writer_arg *w = p;
  shared *sh = w->sh;
  for (size_t i = w->id; i < sh->n; i += WRITERS) {
    int rc = STRATA_HNSW_OK;
    if (w->phase == 0)
      rc = strata_hnsw_insert(sh->h, (uint32_t)i);
    else if (w->phase == 1 && i % 4 == 0)
      rc = strata_hnsw_update(sh->h, (uint32_t)i);
    else if (w->phase == 2 && i % 4 == 1)
      rc = strata_hnsw_remove(sh->h, (uint32_t)i);
    if (rc != STRATA_HNSW_OK)
      __atomic_add_fetch(&sh->writer_errors, 1, __ATOMIC_RELAXED);
  }
  return NULL;
}

static void *reader_main(void *p) {
  shared *sh = p;
  strata_hit hits[10];
  uint32_t q = 0;
  while (!__atomic_load_n(&sh->stop, __ATOMIC_ACQUIRE)) {
    const float *vec = sh->data->rows + (q % sh->n) * DIM;
    q += 7919;
    long n = strata_hnsw_search(sh->h, vec, 10, 32, NULL, hits);
    bool bad = n < 0;
    for (long i = 0; i < n; i++) {
      bad |= hits[i].slot >= sh->n;
      bad |= i > 0 && hits[i].score < hits[i - 1].score;
    }
    if (bad)
      __atomic_add_fetch(&sh->bad_hits, 1, __ATOMIC_RELAXED);
    __atomic_add_fetch(&sh->searches, 1, __ATOMIC_RELAXED);
  }
  return NULL;
}

/* Runs one writer phase on WRITERS threads while READERS threads search. */
static void run_phase(shared *sh, int phase) {
  pthread_t writers[WRITERS], readers[READERS];
  writer_arg args[WRITERS];
  __atomic_store_n(&sh->stop, 0, __ATOMIC_RELEASE);
  for (int i = 0; i < READERS; i++)
    REQUIRE(pthread_create(&readers[i], NULL, reader_main, sh) == 0);
  for (unsigned i = 0; i < WRITERS; i++) {
    args[i] = (writer_arg){sh, i, phase};
    REQUIRE(pthread_create(&writers[i], NULL, writer_main, &args[i]) == 0);
  }
  for (int i = 0; i < WRITERS; i++)
    pthread_join(writers[i], NULL);
  __atomic_store_n(&sh->stop, 1, __ATOMIC_RELEASE);
  for (int i = 0; i < READERS; i++)
    pthread_join(readers[i], NULL);
}

/* Counts the slots in [0, n) whose top-1 at ef 64 is not themselves;
 * slots with `skip(slot)` true are left out. */
static size_t count_self_misses(strata_hnsw *h, const test_data *d, size_t n,
                                bool (*skip)(size_t)) {
  size_t misses = 0;
  for (size_t i = 0; i < n; i++) {
    if (skip && skip(i))
      continue;
    strata_hit hit;
    long got = strata_hnsw_search(h, d->rows + i * DIM, 1, 64, NULL, &hit);
    misses += got != 1 || hit.slot != i;
  }
  return misses;
}

static bool removed_in_phase_2(size_t slot) { return slot % 4 == 1; }

int main(int argc, char **argv) {
  size_t n = test_small(argc, argv) ? 3000 : 12000;
  test_data d = test_random(n, DIM, 31);
  test_data moved = test_random(n, DIM, 32);
  strata_vector_store vs;
  REQUIRE(strata_vs_init(&vs, DIM) == 0);
  test_fill_store(&vs, &d);
  strata_hnsw *h = test_create(STRATA_METRIC_L2, &vs, 16, 100);
  shared sh = {h, &d, n, 0, 0, 0, 0};

  /* 1. Inserts under searches. */
  run_phase(&sh, 0);
  printf("inserted %zu on %d threads during %zu searches\n", n, WRITERS,
         sh.searches);
  CHECK(sh.writer_errors == 0);
  CHECK(sh.bad_hits == 0);
  CHECK_GRAPH(h);
  strata_hnsw_info info;
  strata_hnsw_get_info(h, &info);
  CHECK(info.present == n);
  size_t misses = count_self_misses(h, &d, n, NULL);
  printf("top-1 is not itself for %zu of %zu\n", misses, n);
  CHECK(misses == 0);

  /* 2. Updates under searches: every fourth point moves.  The store is
   * changed first, with no index call running, as hnsw.h requires. */
  for (size_t i = 0; i < n; i += 4) {
    strata_vs_set(&vs, (uint32_t)i, moved.rows + i * DIM);
    memcpy(d.rows + i * DIM, moved.rows + i * DIM, DIM * sizeof(float));
  }
  run_phase(&sh, 1);
  CHECK(sh.writer_errors == 0);
  CHECK(sh.bad_hits == 0);
  CHECK_GRAPH(h);
  misses = count_self_misses(h, &d, n, NULL);
  printf("after updates, top-1 is not itself for %zu of %zu\n", misses, n);
  CHECK(misses <= MAX_MISSES_AFTER_MOVES);

  /* 3. Removes under searches, then a repair. */
  run_phase(&sh, 2);
  CHECK(sh.writer_errors == 0);
  CHECK(sh.bad_hits == 0);
  CHECK_GRAPH(h);
  strata_hnsw_get_info(h, &info);
  CHECK(info.removed == (n + 2) / 4);
  CHECK_RC(strata_hnsw_repair(h), STRATA_HNSW_OK);
  CHECK_GRAPH(h);
  misses = count_self_misses(h, &d, n, removed_in_phase_2);
  printf("after removes and repair, top-1 is not itself for %zu\n", misses);
  CHECK(misses <= MAX_MISSES_AFTER_MOVES);

  /* 4. A second index built by strata_hnsw_build on 4 threads. */
  strata_hnsw *bulk = test_create(STRATA_METRIC_L2, &vs, 16, 100);
  uint32_t *slots = malloc(n * sizeof *slots);
  REQUIRE(slots != NULL);
  size_t n_live = 0;
  for (size_t i = 0; i < n; i++) {
    if (!removed_in_phase_2(i))
      slots[n_live++] = (uint32_t)i;
  }
  CHECK_RC(strata_hnsw_build(bulk, slots, n_live, 4), STRATA_HNSW_OK);
  CHECK_GRAPH(bulk);
  misses = count_self_misses(bulk, &d, n, removed_in_phase_2);
  printf("bulk build on 4 threads: top-1 is not itself for %zu\n", misses);
  CHECK(misses == 0);
  CHECK_RC(strata_hnsw_build(bulk, slots, 1, 2), STRATA_HNSW_EEXIST);
  free(slots);

  strata_hnsw_destroy(bulk);
  strata_hnsw_destroy(h);
  strata_vs_destroy(&vs);
  test_data_free(&d);
  test_data_free(&moved);
  return test_finish("test_hnsw_concurrent");
}
