/* Recall of the HNSW index after deletes and strata_hnsw_repair, with no
 * inserts after them.  Two rounds each delete a random 30% of the points
 * still present (fixed seeds) and repair.  After each round, recall@10 at
 * a fixed ef must be within MAX_RECALL_LOSS of an index built from
 * scratch over the same remaining vectors, no search may return a
 * deleted slot, and the graph must pass strata_hnsw_check.
 *
 * A repair that refills a damaged list by the heuristic alone leaves
 * about 15 level-0 links per node where a build leaves about 20.  On
 * 20,000 vectors that fails here: recall 0.964 against 0.980 for the
 * fresh index after round 1, and 0.952 against 0.977 after round 2.
 *
 * Usage: test_hnsw_delete_recall DATA_DIR [small]
 * DATA_DIR contains train-images-idx3-ubyte.gz and t10k-images-idx3-ubyte.gz.
 * "small" (sanitizer builds) uses 4,000 train vectors and 100 queries
 * instead of 20,000 and 500. */
#include <string.h>

#include "hnsw_test.h"

#define K 10
#define ROUNDS 2
#define DELETE_SHARE 0.3
#define MAX_RECALL_LOSS 0.01

/* A small beam, so that a weaker graph shows as lost recall. */
#define SEARCH_EF 10

static uint64_t next_random(uint64_t *state) {
  *state = *state * 6364136223846793005ULL + 1442695040888963407ULL;
  return *state >> 33;
}

/* Builds an index from scratch over the vectors of the live slots of
 * `vs` and returns its recall@K at SEARCH_EF. */
static double fresh_recall(const strata_vector_store *vs,
                           const test_data *queries) {
  strata_vector_store fresh;
  REQUIRE(strata_vs_init(&fresh, vs->dim) == 0);
  for (size_t slot = 0; slot < vs->n_slots; slot++) {
    if (strata_vs_is_live(vs, slot))
      REQUIRE(strata_vs_add(&fresh, strata_vs_vector(vs, slot)) >= 0);
  }
  REQUIRE(fresh.n_live == vs->n_live);

  strata_hnsw *h = test_create(STRATA_METRIC_L2, &fresh, 16, 100);
  uint32_t *slots = malloc(fresh.n_slots * sizeof *slots);
  REQUIRE(slots != NULL);
  for (size_t i = 0; i < fresh.n_slots; i++)
    slots[i] = (uint32_t)i;
  CHECK_RC(strata_hnsw_build(h, slots, fresh.n_slots, 2), STRATA_HNSW_OK);
  free(slots);

  test_truth truth = test_exact(&fresh, STRATA_METRIC_L2, queries, K, NULL);
  double recall = test_recall(h, queries, &truth, SEARCH_EF, NULL);
  test_truth_free(&truth);
  strata_hnsw_destroy(h);
  strata_vs_destroy(&fresh);
  return recall;
}

/* Removes DELETE_SHARE of the live slots, chosen with `seed`, from the
 * index and the store, then repairs the index. */
static void delete_and_repair(strata_hnsw *h, strata_vector_store *vs,
                              uint64_t seed) {
  size_t n = vs->n_slots;
  size_t n_del = (size_t)((double)vs->n_live * DELETE_SHARE);
  uint64_t state = seed;
  for (size_t done = 0; done < n_del;) {
    uint32_t slot = (uint32_t)(next_random(&state) % n);
    if (!strata_vs_is_live(vs, slot))
      continue;
    CHECK_RC(strata_hnsw_remove(h, slot), STRATA_HNSW_OK);
    strata_vs_remove(vs, slot);
    done++;
  }
  CHECK_RC(strata_hnsw_repair(h), STRATA_HNSW_OK);
}

/* Counts hits of every query that name a slot the store no longer has. */
static size_t count_deleted_hits(strata_hnsw *h,
                                 const strata_vector_store *vs,
                                 const test_data *queries) {
  size_t deleted = 0;
  strata_hit hits[K];
  for (size_t q = 0; q < queries->count; q++) {
    const float *query = queries->rows + q * queries->dim;
    long n = strata_hnsw_search(h, query, K, SEARCH_EF, NULL, hits);
    REQUIRE(n == K);
    for (long i = 0; i < n; i++)
      deleted += !strata_vs_is_live(vs, hits[i].slot);
  }
  return deleted;
}

int main(int argc, char **argv) {
  REQUIRE(argc >= 2);
  bool small = test_small(argc - 1, argv + 1);
  char train_path[512], query_path[512];
  snprintf(train_path, sizeof train_path, "%s/train-images-idx3-ubyte.gz",
           argv[1]);
  snprintf(query_path, sizeof query_path, "%s/t10k-images-idx3-ubyte.gz",
           argv[1]);
  test_data train = test_load_idx(train_path, NULL, small ? 4000 : 20000);
  test_data queries = test_load_idx(query_path, NULL, small ? 100 : 500);

  strata_vector_store vs;
  REQUIRE(strata_vs_init(&vs, train.dim) == 0);
  test_fill_store(&vs, &train);
  strata_hnsw *h = test_create(STRATA_METRIC_L2, &vs, 16, 100);
  uint32_t *slots = malloc(train.count * sizeof *slots);
  REQUIRE(slots != NULL);
  for (size_t i = 0; i < train.count; i++)
    slots[i] = (uint32_t)i;
  CHECK_RC(strata_hnsw_build(h, slots, train.count, 2), STRATA_HNSW_OK);
  free(slots);
  CHECK_GRAPH(h);

  for (int round = 1; round <= ROUNDS; round++) {
    double t0 = test_seconds();
    delete_and_repair(h, &vs, (uint64_t)round + 100);
    double seconds = test_seconds() - t0;

    test_truth truth = test_exact(&vs, STRATA_METRIC_L2, &queries, K, NULL);
    double recall = test_recall(h, &queries, &truth, SEARCH_EF, NULL);
    test_truth_free(&truth);
    double fresh = fresh_recall(&vs, &queries);
    strata_hnsw_info info;
    strata_hnsw_get_info(h, &info);
    printf("round %d: %zu points left, delete and repair %.2f s, "
           "recall@%d at ef %d %.4f, fresh build %.4f (%+.4f)\n",
           round, info.present, seconds, K, SEARCH_EF, recall, fresh,
           recall - fresh);

    CHECK(recall >= fresh - MAX_RECALL_LOSS);
    CHECK(info.present == vs.n_live);
    CHECK(info.removed == 0);
    CHECK(count_deleted_hits(h, &vs, &queries) == 0);
    CHECK_GRAPH(h);
  }

  strata_hnsw_destroy(h);
  strata_vs_destroy(&vs);
  test_data_free(&train);
  test_data_free(&queries);
  return test_finish("test_hnsw_delete_recall");
}
