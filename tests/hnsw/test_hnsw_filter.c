/* Filtered search on Fashion-MNIST.  Checks recall against exact filtered
 * search for filters that allow 10%, 3%, 1% and 0.1% of the points, the
 * switch to two-hop expansion when the filter is selective, and the exact
 * fallback when too few points are allowed.
 *
 * Usage: test_hnsw_filter DATA_DIR [small] */
#include "hnsw_test.h"

#define K 10
#define EF 64

typedef struct modulo_filter {
  uint32_t modulus, residue;
} modulo_filter;

static int allow_modulo(uint32_t slot, void *ctx) {
  const modulo_filter *f = ctx;
  return slot % f->modulus == f->residue;
}

typedef struct label_filter {
  const uint8_t *labels;
  uint8_t label;
} label_filter;

static int allow_label(uint32_t slot, void *ctx) {
  const label_filter *f = ctx;
  return f->labels[slot] == f->label;
}

/* Runs every query with the filter and returns how many switched to
 * two-hop expansion and how many fell back to the exact scan. */
static void count_modes(strata_hnsw *h, const test_data *queries,
                        const strata_slot_filter *filter, size_t *two_hop,
                        size_t *fallback) {
  *two_hop = *fallback = 0;
  size_t distances = 0, calls = 0;
  for (size_t q = 0; q < queries->count; q++) {
    strata_hit hits[K];
    strata_hnsw_query_stats stats;
    long n = strata_hnsw_search_stats(h, queries->rows + q * queries->dim, K,
                                      EF, filter, hits, &stats);
    REQUIRE(n >= 0);
    *two_hop += (size_t)stats.two_hop;
    *fallback += (size_t)stats.exact_fallback;
    distances += stats.distances;
    calls += stats.filter_calls;
  }
  printf("  per query: %.0f distances, %.0f filter calls in the graph\n",
         (double)distances / queries->count, (double)calls / queries->count);
}

static double run_filter(strata_hnsw *h, const strata_vector_store *vs,
                         const test_data *queries,
                         const strata_slot_filter *filter, const char *name,
                         size_t *two_hop, size_t *fallback) {
  test_truth truth = test_exact(vs, STRATA_METRIC_L2, queries, K, filter);
  double recall = test_recall(h, queries, &truth, EF, filter);
  count_modes(h, queries, filter, two_hop, fallback);
  printf("%-22s recall@%d %.4f, two-hop in %zu, exact fallback in %zu of "
         "%zu queries\n",
         name, K, recall, *two_hop, *fallback, queries->count);
  test_truth_free(&truth);
  return recall;
}

int main(int argc, char **argv) {
  REQUIRE(argc >= 2);
  bool small = test_small(argc - 1, argv + 1);
  size_t n_train = small ? 3000 : 10000, n_query = small ? 30 : 100;
  char images[512], labels[512], queries_path[512];
  snprintf(images, sizeof images, "%s/train-images-idx3-ubyte.gz", argv[1]);
  snprintf(labels, sizeof labels, "%s/train-labels-idx1-ubyte.gz", argv[1]);
  snprintf(queries_path, sizeof queries_path, "%s/t10k-images-idx3-ubyte.gz",
           argv[1]);
  test_data train = test_load_idx(images, labels, n_train);
  test_data queries = test_load_idx(queries_path, NULL, n_query);

  strata_vector_store vs;
  REQUIRE(strata_vs_init(&vs, train.dim) == 0);
  test_fill_store(&vs, &train);
  strata_hnsw *h = test_create(STRATA_METRIC_L2, &vs, 16, 100);
  uint32_t *slots = malloc(train.count * sizeof *slots);
  REQUIRE(slots != NULL);
  for (size_t i = 0; i < train.count; i++)
    slots[i] = (uint32_t)i;
  /* One thread, so the graph and the two-hop counts below are the same
   * on every run; two threads made them vary by +-2 of 30 queries. */
  CHECK_RC(strata_hnsw_build(h, slots, train.count, 1), STRATA_HNSW_OK);
  free(slots);
  CHECK_GRAPH(h);

  size_t two_hop, fallback;

  /* One class of ten: about 10% of the points, clustered in space. */
  label_filter shirts = {train.labels, 6};
  strata_slot_filter by_label = {allow_label, &shirts};
  CHECK(run_filter(h, &vs, &queries, &by_label, "label 6 (10%)", &two_hop,
                   &fallback) >= 0.95);

  /* 10% spread uniformly over the space. */
  modulo_filter tenth = {10, 3};
  strata_slot_filter f10 = {allow_modulo, &tenth};
  CHECK(run_filter(h, &vs, &queries, &f10, "slot % 10 (10%)", &two_hop,
                   &fallback) >= 0.95);

  /* 3%: selective enough for two-hop expansion on every query, and with
   * enough allowed nodes (300, or 90 small) to keep walking the graph. */
  modulo_filter f33 = {33, 7};
  strata_slot_filter f3 = {allow_modulo, &f33};
  CHECK(run_filter(h, &vs, &queries, &f3, "slot % 33 (3%)", &two_hop,
                   &fallback) >= 0.90);
  CHECK(two_hop >= queries.count / 2);

  /* 1% (100 points, 30 small): fewer than 2 * ef allowed, so the beam
   * gives up for the exact scan once its sample shows that. */
  modulo_filter hundredth = {100, 7};
  strata_slot_filter f1 = {allow_modulo, &hundredth};
  CHECK(run_filter(h, &vs, &queries, &f1, "slot % 100 (1%)", &two_hop,
                   &fallback) >= 0.98);
  CHECK(fallback >= queries.count / 2);

  /* 0.1% (10 points, 3 small). */
  modulo_filter thousandth = {1000, 11};
  strata_slot_filter f01 = {allow_modulo, &thousandth};
  CHECK(run_filter(h, &vs, &queries, &f01, "slot % 1000 (0.1%)", &two_hop,
                   &fallback) == 1.0);
  CHECK(fallback == queries.count);

  /* Filters combine with removals: removed points are never returned,
   * and the count still equals the exact one. */
  for (uint32_t i = 3; i < train.count; i += 20)
    CHECK_RC(strata_hnsw_remove(h, i), STRATA_HNSW_OK);
  for (uint32_t i = 3; i < train.count; i += 20)
    strata_vs_remove(&vs, i);
  CHECK_GRAPH(h);
  CHECK(run_filter(h, &vs, &queries, &f10, "slot % 10, half removed",
                   &two_hop, &fallback) >= 0.95);

  strata_hnsw_destroy(h);
  strata_vs_destroy(&vs);
  test_data_free(&train);
  test_data_free(&queries);
  return test_finish("test_hnsw_filter");
}
