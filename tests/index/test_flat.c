/*
 * Checks strata_flat_search and strata_flat_search_batch against a
 * double-precision brute force for every metric, on stores with removed,
 * reused and overwritten slots, a slot filter, duplicate vectors (exact
 * ties), k = 1, k above the live count and empty stores.  The kernel set
 * under test comes from STRATA_KERNELS (see tests/index/CMakeLists.txt).
 */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "distance.h"
#include "flat.h"
#include "index_check.h"
#include "vector_store.h"

static uint64_t rng_state = 0x2545F4914F6CDD1Dull;

static uint64_t next_u64(void) {
  rng_state ^= rng_state << 13;
  rng_state ^= rng_state >> 7;
  rng_state ^= rng_state << 17;
  return rng_state;
}

static float uniform(float lo, float hi) {
  return lo + (hi - lo) * (float)((next_u64() >> 40) / 16777216.0);
}

static const char *const metric_names[] = {"dot", "l2", "l1"};

/* The metric's score in double, as flat.h defines it. */
static double exact_score(strata_metric metric, const float *a,
                          const float *b, size_t dim) {
  double sum = 0.0;
  for (size_t i = 0; i < dim; i++) {
    double d = (double)a[i] - b[i];
    if (metric == STRATA_METRIC_DOT)
      sum += (double)a[i] * b[i];
    else if (metric == STRATA_METRIC_L2)
      sum += d * d;
    else
      sum += fabs(d);
  }
  return metric == STRATA_METRIC_L2 ? sqrt(sum) : sum;
}

/* Float rounding allowance for a score whose size is about `scale`. */
static double tolerance(double scale) { return 1e-4 * (fabs(scale) + 1.0); }

static strata_metric sort_metric;

static int compare_best_first(const void *pa, const void *pb) {
  double a = *(const double *)pa, b = *(const double *)pb;
  if (a == b)
    return 0;
  int a_first = sort_metric == STRATA_METRIC_DOT ? a > b : a < b;
  return a_first ? -1 : 1;
}

typedef struct allow_ctx {
  unsigned modulus; /* slot % modulus == 0 is filtered out */
  unsigned calls;
} allow_ctx;

static int allow_slot(uint32_t slot, void *ctx) {
  allow_ctx *c = ctx;
  c->calls++;
  return slot % c->modulus != 0;
}

/*
 * Verifies one query's hits: count, liveness, filter, uniqueness, order,
 * each score against the double score of its slot, and the i-th score
 * against the i-th best double score over all eligible slots.  Distinct
 * slots with equal scores may appear in either order, so only scores are
 * compared position by position.
 */
static void check_hits(const strata_vector_store *vs, strata_metric metric,
                       const float *query, size_t k,
                       const allow_ctx *filter, const strata_hit *hits,
                       long count, const char *what) {
  double *ref = malloc((vs->n_slots + 1) * sizeof *ref);
  size_t eligible = 0;
  for (size_t slot = 0; slot < vs->n_slots; slot++) {
    if (!strata_vs_is_live(vs, slot))
      continue;
    if (filter && slot % filter->modulus == 0)
      continue;
    ref[eligible++] =
        exact_score(metric, query, strata_vs_vector(vs, slot), vs->dim);
  }
  sort_metric = metric;
  qsort(ref, eligible, sizeof *ref, compare_best_first);

  size_t want = k < eligible ? k : eligible;
  CHECK(count == (long)want, "%s %s: %ld hits, want %zu", what,
        metric_names[metric], count, want);
  size_t n = count < 0 ? 0 : (size_t)count;
  if (n > want)
    n = want;

  unsigned char *seen = calloc(vs->n_slots + 1, 1);
  for (size_t i = 0; i < n; i++) {
    uint32_t slot = hits[i].slot;
    CHECK(strata_vs_is_live(vs, slot), "%s %s: hit %zu slot %u not live",
          what, metric_names[metric], i, slot);
    if (!strata_vs_is_live(vs, slot))
      continue;
    CHECK(!filter || slot % filter->modulus != 0,
          "%s %s: hit %zu slot %u filtered out", what, metric_names[metric],
          i, slot);
    CHECK(!seen[slot], "%s %s: slot %u returned twice", what,
          metric_names[metric], slot);
    seen[slot] = 1;

    double slot_score =
        exact_score(metric, query, strata_vs_vector(vs, slot), vs->dim);
    CHECK(fabs(hits[i].score - slot_score) <= tolerance(slot_score),
          "%s %s: hit %zu slot %u score %.9g, exact %.9g", what,
          metric_names[metric], i, slot, hits[i].score, slot_score);
    CHECK(fabs(slot_score - ref[i]) <= tolerance(ref[i]),
          "%s %s: hit %zu score %.9g, brute force rank %zu is %.9g", what,
          metric_names[metric], i, slot_score, i, ref[i]);
    if (i > 0)
      CHECK(!strata_metric_better(metric, hits[i].score, hits[i - 1].score),
            "%s %s: hit %zu ranks above hit %zu", what,
            metric_names[metric], i, i - 1);
  }
  free(seen);
  free(ref);
}

/* Fills a store with n random vectors, then removes about a tenth, adds a
 * few back (reusing freed slots), overwrites some and adds duplicates of
 * live vectors so exact ties exist. */
static void build_store(strata_vector_store *vs, size_t dim, size_t n) {
  float *v = malloc(dim * sizeof *v);
  CHECK(strata_vs_init(vs, dim) == 0, "init dim=%zu", dim);
  for (size_t i = 0; i < n; i++) {
    for (size_t d = 0; d < dim; d++)
      v[d] = uniform(-1.0f, 1.0f);
    CHECK(strata_vs_add(vs, v) == (int64_t)i, "add %zu", i);
  }
  for (size_t i = 0; i < n / 10; i++)
    strata_vs_remove(vs, (uint32_t)(next_u64() % n));
  for (size_t i = 0; i < n / 40; i++) {
    for (size_t d = 0; d < dim; d++)
      v[d] = uniform(-1.0f, 1.0f);
    CHECK(strata_vs_add(vs, v) >= 0, "re-add %zu", i);
  }
  for (size_t i = 0; i < n / 20; i++) {
    uint32_t slot = (uint32_t)(next_u64() % n);
    if (!strata_vs_is_live(vs, slot))
      continue;
    for (size_t d = 0; d < dim; d++)
      v[d] = uniform(-1.0f, 1.0f);
    strata_vs_set(vs, slot, v);
  }
  for (size_t i = 0; i < 8; i++) {
    uint32_t slot = (uint32_t)(next_u64() % n);
    if (strata_vs_is_live(vs, slot))
      CHECK(strata_vs_add(vs, strata_vs_vector(vs, slot)) >= 0, "dup");
  }
  free(v);
}

static float *random_queries(size_t nq, size_t dim) {
  float *q = malloc(nq * dim * sizeof *q + 1);
  for (size_t i = 0; i < nq * dim; i++)
    q[i] = uniform(-1.0f, 1.0f);
  return q;
}

static void check_single(const strata_vector_store *vs, const float *queries,
                         size_t nq) {
  static const size_t ks[] = {1, 10, 57};
  strata_hit hits[57];
  for (int m = 0; m < 3; m++) {
    strata_metric metric = (strata_metric)m;
    for (size_t ki = 0; ki < 3; ki++) {
      for (size_t q = 0; q < nq; q++) {
        const float *query = queries + q * vs->dim;
        long n = strata_flat_search(vs, metric, query, ks[ki], NULL, hits);
        check_hits(vs, metric, query, ks[ki], NULL, hits, n, "single");

        allow_ctx filter = {3, 0};
        strata_slot_filter f = {allow_slot, &filter};
        n = strata_flat_search(vs, metric, query, ks[ki], &f, hits);
        check_hits(vs, metric, query, ks[ki], &filter, hits, n, "filtered");
        CHECK(filter.calls == vs->n_live, "filter called %u times for %zu "
              "live slots", filter.calls, vs->n_live);
      }
    }
  }
}

/* The threaded batch must return exactly what the plain batch returns. */
static void check_threaded(const strata_vector_store *vs,
                           strata_metric metric, const float *queries,
                           size_t nq, size_t k, const strata_hit *want,
                           const size_t *want_counts, unsigned threads) {
  strata_hit *got = malloc(nq * k * sizeof *got);
  size_t *counts = malloc(nq * sizeof *counts);
  int rc = strata_flat_search_batch_threads(vs, metric, queries, nq, k, got,
                                            counts, threads);
  CHECK(rc == 0, "%u threads %s returned %d", threads, metric_names[metric],
        rc);
  for (size_t q = 0; q < nq && rc == 0; q++) {
    CHECK(counts[q] == want_counts[q], "%u threads query %zu: %zu hits, "
          "want %zu", threads, q, counts[q], want_counts[q]);
    for (size_t i = 0; i < counts[q] && i < want_counts[q]; i++) {
      const strata_hit *a = &got[q * k + i], *b = &want[q * k + i];
      CHECK(a->slot == b->slot, "%u threads %s query %zu hit %zu: slot %u, "
            "want %u", threads, metric_names[metric], q, i, a->slot,
            b->slot);
      CHECK(a->score == b->score, "%u threads %s query %zu hit %zu: score "
            "%.9g, want %.9g", threads, metric_names[metric], q, i, a->score,
            b->score);
    }
  }
  free(counts);
  free(got);
}

/* Batch results must match the brute force and, slot for slot and bit for
 * bit, strata_flat_search.  Only hits with equal scores may swap slots. */
static void check_batch(const strata_vector_store *vs, const float *queries,
                        size_t nq, size_t k) {
  strata_hit *batch = malloc(nq * k * sizeof *batch);
  strata_hit *single = malloc(k * sizeof *single);
  size_t *counts = malloc(nq * sizeof *counts);
  for (int m = 0; m < 3; m++) {
    strata_metric metric = (strata_metric)m;
    int rc = strata_flat_search_batch(vs, metric, queries, nq, k, batch,
                                      counts);
    CHECK(rc == 0, "batch %s returned %d", metric_names[m], rc);
    check_threaded(vs, metric, queries, nq, k, batch, counts, 0);
    check_threaded(vs, metric, queries, nq, k, batch, counts, 3);
    check_threaded(vs, metric, queries, nq, k, batch, counts, 1000);
    for (size_t q = 0; q < nq; q++) {
      const float *query = queries + q * vs->dim;
      const strata_hit *got = batch + q * k;
      check_hits(vs, metric, query, k, NULL, got, (long)counts[q], "batch");
      long n = strata_flat_search(vs, metric, query, k, NULL, single);
      CHECK(n == (long)counts[q], "batch count %zu, single %ld", counts[q],
            n);
      for (long i = 0; i < n && i < (long)counts[q]; i++) {
        CHECK(got[i].score == single[i].score,
              "%s query %zu hit %ld: batch score %.9g, single %.9g",
              metric_names[m], q, i, got[i].score, single[i].score);
        CHECK(got[i].slot == single[i].slot ||
                  got[i].score == single[i].score,
              "%s query %zu hit %ld: batch slot %u, single %u",
              metric_names[m], q, i, got[i].slot, single[i].slot);
      }
    }
  }
  free(counts);
  free(single);
  free(batch);
}

/* A store of 20 vectors with 5 removed: k = 100 returns each of the 15
 * live slots exactly once. */
static void check_k_above_live(void) {
  strata_vector_store vs;
  CHECK(strata_vs_init(&vs, 5) == 0, "init");
  float v[5];
  for (int i = 0; i < 20; i++) {
    for (int d = 0; d < 5; d++)
      v[d] = uniform(-1.0f, 1.0f);
    strata_vs_add(&vs, v);
  }
  for (uint32_t slot = 0; slot < 20; slot += 4)
    strata_vs_remove(&vs, slot);
  float *q = random_queries(3, 5);
  strata_hit hits[3 * 100];
  size_t counts[3];
  for (int m = 0; m < 3; m++) {
    long n = strata_flat_search(&vs, (strata_metric)m, q, 100, NULL, hits);
    CHECK(n == 15, "%s: %ld hits from 15 live slots", metric_names[m], n);
    check_hits(&vs, (strata_metric)m, q, 100, NULL, hits, n, "k>live");
    CHECK(strata_flat_search_batch(&vs, (strata_metric)m, q, 3, 100, hits,
                                   counts) == 0,
          "batch k>live");
    for (size_t i = 0; i < 3; i++) {
      CHECK(counts[i] == 15, "batch %s: %zu hits", metric_names[m],
            counts[i]);
      check_hits(&vs, (strata_metric)m, q + i * 5, 100, NULL, hits + i * 100,
                 (long)counts[i], "batch k>live");
    }
  }
  free(q);
  strata_vs_destroy(&vs);
}

static void check_empty_and_k0(void) {
  strata_vector_store vs;
  CHECK(strata_vs_init(&vs, 8) == 0, "init");
  float q[16] = {0};
  strata_hit hits[4];
  size_t counts[2] = {99, 99};
  CHECK(strata_flat_search(&vs, STRATA_METRIC_L2, q, 4, NULL, hits) == 0,
        "empty store single");
  CHECK(strata_flat_search_batch(&vs, STRATA_METRIC_L2, q, 2, 4, hits,
                                 counts) == 0,
        "empty store batch rc");
  CHECK(counts[0] == 0, "empty store batch count 0: %zu", counts[0]);
  CHECK(counts[1] == 0, "empty store batch count 1: %zu", counts[1]);

  /* All slots removed: still empty. */
  float v[8] = {1, 2, 3, 4, 5, 6, 7, 8};
  strata_vs_add(&vs, v);
  strata_vs_remove(&vs, 0);
  CHECK(strata_flat_search(&vs, STRATA_METRIC_DOT, q, 4, NULL, hits) == 0,
        "all removed single");
  counts[0] = counts[1] = 99;
  CHECK(strata_flat_search_batch(&vs, STRATA_METRIC_DOT, q, 2, 4, hits,
                                 counts) == 0,
        "all removed batch rc");
  CHECK(counts[0] == 0, "all removed batch count 0: %zu", counts[0]);
  CHECK(counts[1] == 0, "all removed batch count 1: %zu", counts[1]);

  /* k = 0 returns nothing and must not touch `out` (NULL here). */
  strata_vs_add(&vs, v);
  CHECK(strata_flat_search(&vs, STRATA_METRIC_L2, q, 0, NULL, NULL) == 0,
        "k=0 single");
  counts[0] = counts[1] = 99;
  CHECK(strata_flat_search_batch(&vs, STRATA_METRIC_L2, q, 2, 0, NULL,
                                 counts) == 0,
        "k=0 batch rc");
  CHECK(counts[0] == 0, "k=0 batch count 0: %zu", counts[0]);
  CHECK(counts[1] == 0, "k=0 batch count 1: %zu", counts[1]);

  /* One live slot at distance 0 from the query. */
  CHECK(strata_flat_search(&vs, STRATA_METRIC_L2, v, 4, NULL, hits) == 1,
        "self match count");
  CHECK(hits[0].slot == 0, "self match slot %u", hits[0].slot);
  CHECK(hits[0].score == 0.0f, "self match score %.9g", hits[0].score);
  strata_vs_destroy(&vs);
}

int main(void) {
  /* STRATA_KERNELS must win whenever it names a set this CPU can run. */
  const char *forced = getenv("STRATA_KERNELS");
  const strata_kernels *chosen = strata_kernels_get();
  if (forced && strata_kernels_by_name(forced))
    CHECK(strcmp(chosen->name, forced) == 0,
          "STRATA_KERNELS=%s but the selected set is %s", forced,
          chosen->name);
  printf("kernel set: %s\n", chosen->name);

  /* dim 37: odd tails and a padded stride; 5,000 slots cross the first
   * 4,096-slot chunk.  dim 128: no tail.  300 batch queries span more
   * than one query group. */
  static const size_t dims[] = {37, 128};
  static const size_t sizes[] = {5000, 1500};
  for (int c = 0; c < 2; c++) {
    strata_vector_store vs;
    build_store(&vs, dims[c], sizes[c]);
    float *queries = random_queries(300, dims[c]);
    check_single(&vs, queries, 6);
    check_batch(&vs, queries, 300, 10);
    check_batch(&vs, queries, 7, 1);
    free(queries);
    strata_vs_destroy(&vs);
  }
  check_k_above_live();
  check_empty_and_k0();

  if (failures) {
    fprintf(stderr, "%d checks failed\n", failures);
    return 1;
  }
  printf("ok\n");
  return 0;
}
