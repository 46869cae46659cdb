/* Edge cases of the HNSW index on small seeded random data: empty and
 * single-node graphs, identical and duplicate vectors, k and ef against
 * the node count, deleting the entry point, deleting everything, updates,
 * score conventions, filters, and argument errors.  Every phase ends with
 * a whole-graph check. */
#include <math.h>
#include <string.h>

#include "hnsw_test.h"

#define DIM 8

static strata_hnsw *build_over(strata_vector_store *vs, const test_data *d,
                               strata_metric metric) {
  REQUIRE(strata_vs_init(vs, d->dim) == 0);
  test_fill_store(vs, d);
  strata_hnsw *h = test_create(metric, vs, 8, 64);
  for (size_t i = 0; i < d->count; i++)
    CHECK_RC(strata_hnsw_insert(h, (uint32_t)i), STRATA_HNSW_OK);
  CHECK_GRAPH(h);
  return h;
}

static bool hits_sorted(strata_metric metric, const strata_hit *hits,
                        long n) {
  for (long i = 1; i < n; i++) {
    if (strata_metric_better(metric, hits[i].score, hits[i - 1].score))
      return false;
  }
  return true;
}

static bool hits_distinct(const strata_hit *hits, long n) {
  for (long i = 0; i < n; i++) {
    for (long j = 0; j < i; j++) {
      if (hits[i].slot == hits[j].slot)
        return false;
    }
  }
  return true;
}

static void test_bad_arguments(void) {
  strata_vector_store vs;
  REQUIRE(strata_vs_init(&vs, DIM) == 0);
  strata_hnsw_params p;
  strata_hnsw *h = NULL;

  strata_hnsw_params_default(&p);
  CHECK(p.m == 16 && p.ef_construct == 100);
  p.m = 1;
  CHECK_RC(strata_hnsw_create(&p, STRATA_METRIC_L2, &vs, &h),
           STRATA_HNSW_EINVAL);
  p.m = 129;
  CHECK_RC(strata_hnsw_create(&p, STRATA_METRIC_L2, &vs, &h),
           STRATA_HNSW_EINVAL);
  strata_hnsw_params_default(&p);
  p.ef_construct = 0;
  CHECK_RC(strata_hnsw_create(&p, STRATA_METRIC_L2, &vs, &h),
           STRATA_HNSW_EINVAL);
  strata_hnsw_params_default(&p);
  CHECK_RC(strata_hnsw_create(&p, (strata_metric)7, &vs, &h),
           STRATA_HNSW_EINVAL);
  CHECK(h == NULL);
  for (int e = STRATA_HNSW_OK; e <= STRATA_HNSW_EMISMATCH; e++)
    CHECK(strata_hnsw_strerror(e) != NULL);
  strata_vs_destroy(&vs);
}

static void test_empty(void) {
  strata_vector_store vs;
  REQUIRE(strata_vs_init(&vs, DIM) == 0);
  strata_hnsw *h = test_create(STRATA_METRIC_L2, &vs, 16, 100);
  float q[DIM] = {0};
  strata_hit hits[4];
  CHECK(strata_hnsw_search(h, q, 4, 10, NULL, hits) == 0);
  CHECK(strata_hnsw_search(h, q, 0, 10, NULL, hits) == 0);
  CHECK_RC(strata_hnsw_remove(h, 0), STRATA_HNSW_ENOTFOUND);
  CHECK_RC(strata_hnsw_remove(h, UINT32_MAX), STRATA_HNSW_ENOTFOUND);
  CHECK_RC(strata_hnsw_update(h, 0), STRATA_HNSW_ENOTFOUND);
  CHECK_RC(strata_hnsw_update(h, UINT32_MAX), STRATA_HNSW_ENOTFOUND);
  CHECK_RC(strata_hnsw_insert(h, UINT32_MAX), STRATA_HNSW_EINVAL);
  CHECK_RC(strata_hnsw_insert(h, 0), STRATA_HNSW_EINVAL); /* not in store */
  CHECK_RC(strata_hnsw_repair(h), STRATA_HNSW_OK);
  strata_hnsw_info info;
  strata_hnsw_get_info(h, &info);
  CHECK(info.present == 0 && info.removed == 0);
  CHECK(info.entry == UINT32_MAX);
  CHECK(info.memory_bytes > 0);
  CHECK_GRAPH(h);
  strata_hnsw_destroy(h);
  strata_hnsw_destroy(NULL);
  strata_vs_destroy(&vs);
}

static void test_single_point(void) {
  test_data d = test_random(1, DIM, 11);
  strata_vector_store vs;
  strata_hnsw *h = build_over(&vs, &d, STRATA_METRIC_L2);
  strata_hit hits[5];
  CHECK(strata_hnsw_search(h, d.rows, 5, 10, NULL, hits) == 1);
  CHECK(hits[0].slot == 0 && hits[0].score == 0.0f);
  CHECK_RC(strata_hnsw_insert(h, 0), STRATA_HNSW_EEXIST);
  CHECK_RC(strata_hnsw_insert(h, 1), STRATA_HNSW_EINVAL);
  CHECK_RC(strata_hnsw_update(h, 0), STRATA_HNSW_OK);
  strata_hnsw_info info;
  strata_hnsw_get_info(h, &info);
  CHECK(info.present == 1 && info.entry == 0);
  CHECK_GRAPH(h);
  strata_hnsw_destroy(h);
  strata_vs_destroy(&vs);
  test_data_free(&d);
}

static void test_identical_points(void) {
  test_data d = test_random(300, DIM, 12);
  for (size_t i = 1; i < d.count; i++)
    memcpy(d.rows + i * DIM, d.rows, DIM * sizeof(float));
  strata_vector_store vs;
  strata_hnsw *h = build_over(&vs, &d, STRATA_METRIC_L2);
  strata_hit hits[400];
  long n = strata_hnsw_search(h, d.rows, 10, 10, NULL, hits);
  CHECK(n == 10);
  for (long i = 0; i < n; i++)
    CHECK(hits[i].score == 0.0f);
  CHECK(hits_distinct(hits, n));
  n = strata_hnsw_search(h, d.rows, 400, 10, NULL, hits);
  CHECK(n == 300);
  CHECK(hits_distinct(hits, n));
  strata_hnsw_destroy(h);
  strata_vs_destroy(&vs);
  test_data_free(&d);
}

static void test_duplicate_cluster_then_spread(void) {
  /* 1000 copies of the data's centre go in first, so the entry point is
   * one of them, then 1000 spread-out vectors, which must stay reachable
   * through the copies.  Recall at ef 64 was 0.57 when every new node
   * linked to the same few copies. */
  test_data d = test_random(2000, DIM, 14);
  memset(d.rows, 0, 1000 * DIM * sizeof(float)); /* the data's centre */
  test_data queries = test_random(100, DIM, 15);
  strata_vector_store vs;
  strata_hnsw *h = build_over(&vs, &d, STRATA_METRIC_L2);
  test_truth truth = test_exact(&vs, STRATA_METRIC_L2, &queries, 10, NULL);
  double recall = test_recall(h, &queries, &truth, 64, NULL);
  printf("duplicate cluster: recall@10 at ef 64 %.3f\n", recall);
  CHECK(recall >= 0.95);

  /* A search for the copied vector finds copies first. */
  strata_hit hits[10];
  const float centre[DIM] = {0};
  CHECK(strata_hnsw_search(h, centre, 10, 64, NULL, hits) == 10);
  for (int i = 0; i < 10; i++) {
    CHECK(hits[i].slot < 1000);
    CHECK(hits[i].score == 0.0f);
  }
  CHECK_GRAPH(h);
  test_truth_free(&truth);
  strata_hnsw_destroy(h);
  strata_vs_destroy(&vs);
  test_data_free(&queries);
  test_data_free(&d);
}

static void test_duplicate_vectors(void) {
  /* 400 vectors, each stored twice: both copies must come back first. */
  test_data base = test_random(400, DIM, 13);
  test_data d = test_random(800, DIM, 13);
  for (size_t i = 0; i < 800; i++)
    memcpy(d.rows + i * DIM, base.rows + (i % 400) * DIM,
           DIM * sizeof(float));
  strata_vector_store vs;
  strata_hnsw *h = build_over(&vs, &d, STRATA_METRIC_L2);
  size_t both = 0;
  for (uint32_t i = 0; i < 400; i++) {
    strata_hit hits[2];
    long n = strata_hnsw_search(h, base.rows + i * DIM, 2, 32, NULL, hits);
    CHECK(n == 2);
    bool a = hits[0].slot == i || hits[1].slot == i;
    bool b = hits[0].slot == i + 400 || hits[1].slot == i + 400;
    both += a && b;
  }
  printf("duplicates: both copies first for %zu of 400\n", both);
  CHECK(both == 400);
  strata_hnsw_destroy(h);
  strata_vs_destroy(&vs);
  test_data_free(&d);
  test_data_free(&base);
}

static void test_k_and_ef_bounds(void) {
  test_data d = test_random(60, DIM, 14);
  test_data queries = test_random(20, DIM, 15);
  strata_vector_store vs;
  strata_hnsw *h = build_over(&vs, &d, STRATA_METRIC_L2);

  /* k beyond the count returns every node once, sorted. */
  strata_hit hits[100];
  long n = strata_hnsw_search(h, queries.rows, 100, 10, NULL, hits);
  CHECK(n == 60);
  CHECK(hits_sorted(STRATA_METRIC_L2, hits, n));
  CHECK(hits_distinct(hits, n));

  /* ef beyond the count makes the beam exhaustive: exact results. */
  test_truth truth = test_exact(&vs, STRATA_METRIC_L2, &queries, 10, NULL);
  CHECK(test_recall(h, &queries, &truth, 1000, NULL) == 1.0);

  /* An ef or k far beyond the count is bounded, not allocated. */
  n = strata_hnsw_search(h, queries.rows, 100, SIZE_MAX, NULL, hits);
  CHECK(n == 60);

  /* ef below k is raised to k: still k results. */
  n = strata_hnsw_search(h, queries.rows, 10, 1, NULL, hits);
  CHECK(n == 10);
  CHECK(hits_sorted(STRATA_METRIC_L2, hits, n));
  CHECK(test_recall(h, &queries, &truth, 1, NULL) >= 0.9);
  test_truth_free(&truth);
  strata_hnsw_destroy(h);
  strata_vs_destroy(&vs);
  test_data_free(&d);
  test_data_free(&queries);
}

static void test_scores_match_flat(void) {
  static const strata_metric metrics[] = {STRATA_METRIC_L2, STRATA_METRIC_DOT,
                                          STRATA_METRIC_L1};
  test_data d = test_random(500, DIM, 16);
  test_data queries = test_random(10, DIM, 17);
  for (size_t mi = 0; mi < 3; mi++) {
    strata_vector_store vs;
    strata_hnsw *h = build_over(&vs, &d, metrics[mi]);
    for (size_t q = 0; q < queries.count; q++) {
      strata_hit got[5], want[5];
      const float *vec = queries.rows + q * DIM;
      long n = strata_hnsw_search(h, vec, 5, 500, NULL, got);
      long m = strata_flat_search(&vs, metrics[mi], vec, 5, NULL, want);
      REQUIRE(n == 5 && m == 5);
      CHECK(hits_sorted(metrics[mi], got, n));
      for (int i = 0; i < 5; i++) {
        CHECK(got[i].slot == want[i].slot);
        CHECK(fabsf(got[i].score - want[i].score) <=
              1e-4f * (1.0f + fabsf(want[i].score)));
      }
    }
    strata_hnsw_destroy(h);
    strata_vs_destroy(&vs);
  }
  test_data_free(&d);
  test_data_free(&queries);
}

static bool contains_slot(const strata_hit *hits, long n, uint32_t slot) {
  for (long i = 0; i < n; i++) {
    if (hits[i].slot == slot)
      return true;
  }
  return false;
}

static void test_remove_entry_point(void) {
  test_data d = test_random(600, DIM, 18);
  strata_vector_store vs;
  strata_hnsw *h = build_over(&vs, &d, STRATA_METRIC_L2);
  for (int round = 0; round < 25; round++) {
    strata_hnsw_info before, after;
    strata_hnsw_get_info(h, &before);
    CHECK_RC(strata_hnsw_remove(h, before.entry), STRATA_HNSW_OK);
    CHECK_RC(strata_hnsw_remove(h, before.entry), STRATA_HNSW_ENOTFOUND);
    strata_hnsw_get_info(h, &after);
    CHECK(after.entry != before.entry && after.entry != UINT32_MAX);
    CHECK(after.present == before.present - 1);
    CHECK_GRAPH(h);
    strata_hit hits[600];
    long n = strata_hnsw_search(h, d.rows + before.entry * DIM, 600, 50,
                                NULL, hits);
    CHECK(n == (long)after.present);
    CHECK(!contains_slot(hits, n, before.entry));
    if (round % 5 == 4) {
      CHECK_RC(strata_hnsw_repair(h), STRATA_HNSW_OK);
      CHECK_GRAPH(h);
    }
  }
  strata_hnsw_destroy(h);
  strata_vs_destroy(&vs);
  test_data_free(&d);
}

/* Removes every node, checks the index is empty, then inserts them all
 * again, with or without a repair in between. */
static void test_remove_all_then_insert(bool repair) {
  test_data d = test_random(400, DIM, 19);
  test_data queries = test_random(20, DIM, 20);
  strata_vector_store vs;
  strata_hnsw *h = build_over(&vs, &d, STRATA_METRIC_L2);
  for (uint32_t i = 0; i < 400; i++)
    CHECK_RC(strata_hnsw_remove(h, i), STRATA_HNSW_OK);
  strata_hnsw_info info;
  strata_hnsw_get_info(h, &info);
  CHECK(info.present == 0 && info.removed == 400);
  CHECK(info.entry == UINT32_MAX);
  CHECK_GRAPH(h);
  strata_hit hits[10];
  CHECK(strata_hnsw_search(h, queries.rows, 10, 50, NULL, hits) == 0);
  if (repair) {
    CHECK_RC(strata_hnsw_repair(h), STRATA_HNSW_OK);
    strata_hnsw_get_info(h, &info);
    CHECK(info.removed == 0);
    CHECK_GRAPH(h);
  }
  for (uint32_t i = 0; i < 400; i++)
    CHECK_RC(strata_hnsw_insert(h, i), STRATA_HNSW_OK);
  strata_hnsw_get_info(h, &info);
  CHECK(info.present == 400 && info.removed == 0);
  CHECK_GRAPH(h);
  test_truth truth = test_exact(&vs, STRATA_METRIC_L2, &queries, 10, NULL);
  double recall = test_recall(h, &queries, &truth, 64, NULL);
  printf("remove all, %s, insert again: recall %.3f\n",
         repair ? "repair" : "no repair", recall);
  CHECK(recall >= 0.98);
  test_truth_free(&truth);
  strata_hnsw_destroy(h);
  strata_vs_destroy(&vs);
  test_data_free(&d);
  test_data_free(&queries);
}

static void test_update_moves_point(void) {
  test_data d = test_random(500, DIM, 21);
  strata_vector_store vs;
  strata_hnsw *h = build_over(&vs, &d, STRATA_METRIC_L2);
  /* Move every tenth point onto a fresh random position. */
  test_data moved = test_random(50, DIM, 22);
  for (uint32_t i = 0; i < 50; i++) {
    strata_vs_set(&vs, i * 10, moved.rows + i * DIM);
    CHECK_RC(strata_hnsw_update(h, i * 10), STRATA_HNSW_OK);
  }
  CHECK_GRAPH(h);
  strata_hnsw_info info;
  strata_hnsw_get_info(h, &info);
  CHECK(info.present == 500);
  size_t self = 0, stale = 0;
  for (uint32_t i = 0; i < 50; i++) {
    strata_hit hits[1];
    long n = strata_hnsw_search(h, moved.rows + i * DIM, 1, 64, NULL, hits);
    self += n == 1 && hits[0].slot == i * 10 && hits[0].score == 0.0f;
    n = strata_hnsw_search(h, d.rows + i * 10 * DIM, 1, 64, NULL, hits);
    stale += n == 1 && hits[0].slot == i * 10;
  }
  CHECK(self == 50);
  CHECK(stale == 0);

  /* An update moves the node: every slot comes back exactly once. */
  strata_hit all[500];
  long n_all = strata_hnsw_search(h, moved.rows, 500, 500, NULL, all);
  CHECK(n_all == 500);
  CHECK(hits_distinct(all, n_all));
  strata_hnsw_destroy(h);
  strata_vs_destroy(&vs);
  test_data_free(&d);
  test_data_free(&moved);
}

static int allow_none(uint32_t slot, void *ctx) {
  (void)slot;
  (void)ctx;
  return 0;
}

static int allow_all(uint32_t slot, void *ctx) {
  (void)slot;
  (void)ctx;
  return 1;
}

static int allow_one(uint32_t slot, void *ctx) {
  return slot == *(uint32_t *)ctx;
}

static void test_filter_edges(void) {
  test_data d = test_random(1000, DIM, 23);
  test_data queries = test_random(10, DIM, 24);
  strata_vector_store vs;
  strata_hnsw *h = build_over(&vs, &d, STRATA_METRIC_L2);
  strata_hit hits[10], plain[10];

  strata_slot_filter none = {allow_none, NULL};
  CHECK(strata_hnsw_search(h, queries.rows, 10, 32, &none, hits) == 0);

  uint32_t target = 777;
  strata_slot_filter one = {allow_one, &target};
  long n = strata_hnsw_search(h, queries.rows, 10, 32, &one, hits);
  CHECK(n == 1 && hits[0].slot == target);

  strata_slot_filter all = {allow_all, NULL};
  for (size_t q = 0; q < queries.count; q++) {
    const float *vec = queries.rows + q * DIM;
    long a = strata_hnsw_search(h, vec, 10, 32, &all, hits);
    long b = strata_hnsw_search(h, vec, 10, 32, NULL, plain);
    CHECK(a == 10 && b == 10);
    CHECK(memcmp(hits, plain, sizeof hits) == 0);
  }

  /* A removed node never comes back, even when the filter allows only
   * it. */
  CHECK_RC(strata_hnsw_remove(h, target), STRATA_HNSW_OK);
  CHECK(strata_hnsw_search(h, queries.rows, 10, 32, &one, hits) == 0);
  CHECK_GRAPH(h);
  strata_hnsw_destroy(h);
  strata_vs_destroy(&vs);
  test_data_free(&d);
  test_data_free(&queries);
}

static void test_removed_never_returned(void) {
  test_data d = test_random(2000, DIM, 25);
  test_data queries = test_random(100, DIM, 26);
  strata_vector_store vs;
  strata_hnsw *h = build_over(&vs, &d, STRATA_METRIC_L2);
  for (uint32_t i = 0; i < 2000; i += 3)
    CHECK_RC(strata_hnsw_remove(h, i), STRATA_HNSW_OK);
  CHECK_GRAPH(h);
  size_t leaked = 0;
  for (size_t q = 0; q < queries.count; q++) {
    strata_hit hits[50];
    long n = strata_hnsw_search(h, queries.rows + q * DIM, 50, 64, NULL,
                                hits);
    CHECK(n == 50);
    for (long i = 0; i < n; i++)
      leaked += hits[i].slot % 3 == 0;
  }
  CHECK(leaked == 0);
  strata_hnsw_destroy(h);
  strata_vs_destroy(&vs);
  test_data_free(&d);
  test_data_free(&queries);
}

int main(void) {
  test_bad_arguments();
  test_empty();
  test_single_point();
  test_identical_points();
  test_duplicate_vectors();
  test_duplicate_cluster_then_spread();
  test_k_and_ef_bounds();
  test_scores_match_flat();
  test_remove_entry_point();
  test_remove_all_then_insert(false);
  test_remove_all_then_insert(true);
  test_update_moves_point();
  test_filter_edges();
  test_removed_never_returned();
  return test_finish("test_hnsw_basic");
}
