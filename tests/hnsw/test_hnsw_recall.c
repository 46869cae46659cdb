/* Recall of the HNSW index against exact search on Fashion-MNIST (L2 and
 * cosine), recall under delete and re-insert churn, and a save/load round
 * trip that must give identical results.
 *
 * Usage: test_hnsw_recall DATA_DIR [small]
 * DATA_DIR contains train-images-idx3-ubyte.gz and t10k-images-idx3-ubyte.gz.
 * "small" (sanitizer builds) uses 4,000 train vectors and 50 queries
 * instead of 20,000 and 200. */
#include <math.h>
#include <string.h>
#include <unistd.h>

#include "hnsw_test.h"

#define K 10

/* With 20,000 vectors, 200 queries, m 16 and ef_construct 100, recall@10
 * at ef 64 measured 0.9995 to 1.000 for L2 and 0.9955 to 0.9965 for
 * cosine over several runs (4,000 vectors and 50 queries: 1.000 for
 * both).  Each threshold sits a little below. */
#define MIN_RECALL_L2_EF64 0.995
#define MIN_RECALL_COSINE_EF64 0.99
#define MAX_CHURN_LOSS 0.01

typedef struct setup {
  test_data train, queries;
  strata_vector_store vs;
  strata_hnsw *h;
  strata_metric metric;
} setup;

static void build(setup *s, strata_metric metric) {
  s->metric = metric;
  REQUIRE(strata_vs_init(&s->vs, s->train.dim) == 0);
  test_fill_store(&s->vs, &s->train);
  s->h = test_create(metric, &s->vs, 16, 100);
  uint32_t *slots = malloc(s->train.count * sizeof *slots);
  REQUIRE(slots != NULL);
  for (size_t i = 0; i < s->train.count; i++)
    slots[i] = (uint32_t)i;
  double t0 = test_seconds();
  CHECK_RC(strata_hnsw_build(s->h, slots, s->train.count, 2),
           STRATA_HNSW_OK);
  double t1 = test_seconds();
  free(slots);
  strata_hnsw_info info;
  strata_hnsw_get_info(s->h, &info);
  printf("built %zu nodes in %.2f s on 2 threads: max level %u, %.1f MB\n",
         info.present, t1 - t0, info.max_level,
         info.memory_bytes / 1048576.0);
  CHECK(info.present == s->train.count);
  CHECK_GRAPH(s->h);
}

static void teardown(setup *s) {
  strata_hnsw_destroy(s->h);
  strata_vs_destroy(&s->vs);
  test_data_free(&s->train);
  test_data_free(&s->queries);
}

/* Prints recall@K for a few ef values and returns the one at ef 64. */
static double sweep(setup *s, const char *name) {
  test_truth truth = test_exact(&s->vs, s->metric, &s->queries, K, NULL);
  double at64 = 0;
  static const size_t efs[] = {10, 16, 32, 64, 128};
  for (size_t i = 0; i < sizeof efs / sizeof efs[0]; i++) {
    double t0 = test_seconds();
    double r = test_recall(s->h, &s->queries, &truth, efs[i], NULL);
    double t1 = test_seconds();
    printf("%s: ef %3zu recall@%d %.4f, %.0f queries/s\n", name, efs[i], K,
           r, (double)s->queries.count / (t1 - t0));
    if (efs[i] == 64)
      at64 = r;
  }
  test_truth_free(&truth);
  return at64;
}

/* Deletes 30% of the points from the index and the store, optionally
 * repairs, then adds the same vectors back (into reused slots) and
 * inserts them. */
static void churn(setup *s, bool repair, uint64_t seed) {
  size_t n = s->train.count, n_del = n * 3 / 10;
  uint32_t *victims = malloc(n_del * sizeof *victims);
  uint8_t *gone = calloc(n, 1);
  REQUIRE(victims && gone);
  uint64_t x = seed;
  for (size_t i = 0; i < n_del;) {
    x = x * 6364136223846793005ULL + 1442695040888963407ULL;
    uint32_t slot = (uint32_t)((x >> 33) % n);
    if (gone[slot] || !strata_vs_is_live(&s->vs, slot))
      continue;
    gone[slot] = 1;
    victims[i++] = slot;
  }
  for (size_t i = 0; i < n_del; i++) {
    CHECK_RC(strata_hnsw_remove(s->h, victims[i]), STRATA_HNSW_OK);
    strata_vs_remove(&s->vs, victims[i]);
  }
  CHECK_GRAPH(s->h);
  if (repair) {
    CHECK_RC(strata_hnsw_repair(s->h), STRATA_HNSW_OK);
    strata_hnsw_info info;
    strata_hnsw_get_info(s->h, &info);
    CHECK(info.removed == 0);
    CHECK_GRAPH(s->h);
  }

  /* The store hands the freed slots out again, most recent first, so most
   * vectors land in a slot that held another one. */
  size_t moved = 0;
  for (size_t i = 0; i < n_del; i++) {
    uint32_t original = victims[i];
    int64_t slot = strata_vs_add(&s->vs, s->train.rows + original * s->train.dim);
    REQUIRE(slot >= 0);
    moved += (uint32_t)slot != original;
    CHECK_RC(strata_hnsw_insert(s->h, (uint32_t)slot), STRATA_HNSW_OK);
  }
  printf("churn (%s): deleted and re-inserted %zu, %zu into another slot\n",
         repair ? "repair first" : "no repair", n_del, moved);
  CHECK(moved > n_del / 2);
  strata_hnsw_info info;
  strata_hnsw_get_info(s->h, &info);
  CHECK(info.present == n);
  CHECK_GRAPH(s->h);
  free(victims);
  free(gone);
}

static void round_trip(setup *s) {
  char path[] = "/tmp/strata-hnsw-recall-XXXXXX";
  int fd = mkstemp(path);
  REQUIRE(fd >= 0);
  close(fd);
  CHECK_RC(strata_hnsw_save(s->h, path), STRATA_HNSW_OK);
  strata_hnsw *loaded = NULL;
  char msg[256];
  CHECK_RC(strata_hnsw_load(path, &s->vs, &loaded, msg, sizeof msg),
           STRATA_HNSW_OK);
  unlink(path);
  REQUIRE(loaded != NULL);
  CHECK_GRAPH(loaded);

  strata_hit a[K], b[K];
  size_t same = 0;
  for (size_t q = 0; q < s->queries.count; q++) {
    const float *vec = s->queries.rows + q * s->queries.dim;
    long na = strata_hnsw_search(s->h, vec, K, 64, NULL, a);
    long nb = strata_hnsw_search(loaded, vec, K, 64, NULL, b);
    CHECK(na == nb);
    if (na == nb && na >= 0 && memcmp(a, b, (size_t)na * sizeof *a) == 0)
      same++;
  }
  printf("round trip: %zu of %zu queries identical\n", same,
         s->queries.count);
  CHECK(same == s->queries.count);
  strata_hnsw_destroy(loaded);
}

int main(int argc, char **argv) {
  REQUIRE(argc >= 2);
  bool small = test_small(argc - 1, argv + 1);
  size_t n_train = small ? 4000 : 20000, n_query = small ? 50 : 200;
  char train_path[512], query_path[512];
  snprintf(train_path, sizeof train_path, "%s/train-images-idx3-ubyte.gz",
           argv[1]);
  snprintf(query_path, sizeof query_path, "%s/t10k-images-idx3-ubyte.gz",
           argv[1]);

  /* L2: recall sweep, churn, round trip. */
  setup l2 = {0};
  l2.train = test_load_idx(train_path, NULL, n_train);
  l2.queries = test_load_idx(query_path, NULL, n_query);
  build(&l2, STRATA_METRIC_L2);
  double base = sweep(&l2, "L2");
  CHECK(base >= MIN_RECALL_L2_EF64);

  churn(&l2, false, 1);
  double after = sweep(&l2, "L2 after churn without repair");
  CHECK(after >= base - MAX_CHURN_LOSS);
  churn(&l2, true, 2);
  after = sweep(&l2, "L2 after churn with repair");
  CHECK(after >= base - MAX_CHURN_LOSS);
  round_trip(&l2);
  teardown(&l2);

  /* Cosine: DOT over normalised vectors. */
  setup cos = {0};
  cos.train = test_load_idx(train_path, NULL, n_train);
  cos.queries = test_load_idx(query_path, NULL, n_query);
  test_normalize(&cos.train);
  test_normalize(&cos.queries);
  build(&cos, STRATA_METRIC_DOT);
  CHECK(sweep(&cos, "cosine") >= MIN_RECALL_COSINE_EF64);
  teardown(&cos);

  return test_finish("test_hnsw_recall");
}
