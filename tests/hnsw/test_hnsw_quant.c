/* int8 scalar quantization: the integer kernels against the scalar
 * reference, encoding and clamping, recall of quantized searches with and
 * without rescoring (Fashion-MNIST with L2 and cosine, Gaussian vectors),
 * the memory the codes add, and inserts and updates after quantizing.
 *
 * Usage: test_hnsw_quant DATA_DIR [small]
 * "small" (sanitizer builds) uses 4,000 train vectors and 50 queries
 * instead of 20,000 and 200. */
#include <errno.h>
#include <math.h>
#include <stdbool.h>
#include <string.h>

#include "hnsw_internal.h"
#include "hnsw_test.h"
#include "quant.h"

#define K 10

/* Fashion-MNIST, 20,000 vectors, m 16, ef_construct 100, ef 64,
 * quantile 0.99, oversampling 2: recall@10 measured 0.9995 (L2) and
 * 0.9615 (cosine) with rescoring, 0.9995 and 0.919 with codes alone.
 * For L2 the codes are exact, because the pixels are 8-bit. */
#define MIN_RECALL_RESCORED 0.95
#define MIN_RECALL_CODES_ONLY 0.9
/* Rescored recall may trail the float search by this much on any data.
 * The cosine loss measured 0.035: after normalising, the clipped top
 * 0.5% of components are the largest terms of the dot products. */
#define MAX_RESCORED_LOSS 0.05

static uint64_t rng_state = 0x9e3779b97f4a7c15ULL;

static uint8_t random_byte(void) {
  rng_state ^= rng_state << 13;
  rng_state ^= rng_state >> 7;
  rng_state ^= rng_state << 17;
  return (uint8_t)(rng_state >> 24);
}

/* Every SIMD set this CPU has, on every length up to 300 and a few
 * longer ones, from a random offset so loads are unaligned. */
static void test_kernels_match_scalar(void) {
  const strata_u8_kernels *ref = strata_u8_kernels_by_name("scalar");
  REQUIRE(ref != NULL);
  static const char *const sets[] = {"avx2", "avx512"};
  enum { MAX_LEN = 5000 };
  uint8_t *a = malloc(MAX_LEN + 64), *b = malloc(MAX_LEN + 64);
  REQUIRE(a && b);
  for (size_t i = 0; i < MAX_LEN + 64; i++) {
    a[i] = random_byte();
    b[i] = random_byte();
  }
  size_t tested = 0;
  for (size_t si = 0; si < sizeof sets / sizeof *sets; si++) {
    const strata_u8_kernels *kern = strata_u8_kernels_by_name(sets[si]);
    if (!kern) {
      printf("kernels %s: not supported here, skipped\n", sets[si]);
      continue;
    }
    tested++;
    for (size_t n = 0; n <= MAX_LEN; n = n < 300 ? n + 1 : n + 701) {
      size_t off = random_byte() % 64;
      uint32_t want_l2 = ref->l2sq(a + off, b + off, n);
      uint32_t want_dot = ref->dot(a + off, b + off, n);
      if (kern->l2sq(a + off, b + off, n) != want_l2) {
        fprintf(stderr, "%s l2sq differs at length %zu\n", sets[si], n);
        test_failures++;
      }
      if (kern->dot(a + off, b + off, n) != want_dot) {
        fprintf(stderr, "%s dot differs at length %zu\n", sets[si], n);
        test_failures++;
      }
    }
  }
  printf("kernels: %zu SIMD sets checked against scalar\n", tested);
  free(a);
  free(b);
}

/* The largest sums the dimension limit allows must not overflow. */
static void test_kernels_max_dim(void) {
  size_t n = STRATA_QUANT_MAX_DIM;
  uint8_t *zeros = calloc(n, 1), *full = malloc(n);
  REQUIRE(zeros && full);
  memset(full, 255, n);
  const strata_u8_kernels *kern = strata_u8_kernels_get();
  uint32_t want = 255u * 255u * (uint32_t)n;
  CHECK(kern->l2sq(zeros, full, n) == want);
  CHECK(kern->dot(full, full, n) == want);
  free(zeros);
  free(full);
}

static void test_encode_bounds(void) {
  /* 1,000 vectors of 4 components spread evenly over [-1, 1]. */
  strata_vector_store vs;
  REQUIRE(strata_vs_init(&vs, 4) == 0);
  for (int i = 0; i < 1000; i++) {
    float x = -1.0f + 2.0f * (float)i / 999.0f;
    float v[4] = {x, x, x, x};
    REQUIRE(strata_vs_add(&vs, v) >= 0);
  }
  strata_quant *q = NULL;
  REQUIRE(strata_quant_create(&vs, STRATA_METRIC_DOT, 1.0f, &q) == 0);
  CHECK(q->lo == -1.0f);
  CHECK(fabsf(q->step - 2.0f / 255.0f) < 1e-6f);
  CHECK(q->stride == 64);

  /* Round trip within half a step; clamping outside; NaN to 0. */
  uint8_t code[64];
  float in[4] = {0.3f, -5.0f, 7.0f, NAN};
  uint32_t sum = strata_quant_encode_query(q, in, code);
  CHECK(fabsf(q->lo + q->step * code[0] - 0.3f) <= q->step / 2 + 1e-6f);
  CHECK(code[1] == 0);
  CHECK(code[2] == 255);
  CHECK(code[3] == 0);
  CHECK(sum == (uint32_t)code[0] + 255u);
  CHECK(code[4] == 0);
  CHECK(code[63] == 0);
  strata_quant_destroy(q);

  /* A narrower quantile cuts the tails: 0.5 keeps about [-0.5, 0.5]. */
  REQUIRE(strata_quant_create(&vs, STRATA_METRIC_L2, 0.5f, &q) == 0);
  CHECK(fabsf(q->lo + 0.5f) < 0.01f);
  CHECK(fabsf(q->lo + 255.0f * q->step - 0.5f) < 0.01f);
  strata_quant_destroy(q);

  CHECK(strata_quant_create(&vs, STRATA_METRIC_L2, 0.0f, &q) == EINVAL);
  CHECK(strata_quant_create(&vs, STRATA_METRIC_L2, 1.5f, &q) == EINVAL);
  CHECK(strata_quant_create(&vs, STRATA_METRIC_L2, NAN, &q) == EINVAL);
  CHECK(strata_quant_create(&vs, STRATA_METRIC_L1, 1.0f, &q) == EINVAL);
  CHECK(q == NULL);
  strata_vs_destroy(&vs);
}

/* For dot products the code sum lives in the row: in the padding when it
 * has 4 free bytes, else in a 64-byte tail.  L2 keeps no sum. */
static void test_sum_in_row(void) {
  const size_t dims[] = {4, 60, 61, 64, 128};
  for (size_t d = 0; d < sizeof dims / sizeof dims[0]; d++) {
    size_t dim = dims[d];
    strata_vector_store vs;
    REQUIRE(strata_vs_init(&vs, dim) == 0);
    float v[128];
    for (size_t i = 0; i < dim; i++)
      v[i] = (float)i / (float)dim;
    REQUIRE(strata_vs_add(&vs, v) >= 0);
    strata_quant *q = NULL;
    REQUIRE(strata_quant_create(&vs, STRATA_METRIC_DOT, 1.0f, &q) == 0);
    size_t span = (dim + 63) & ~(size_t)63;
    CHECK(q->span == span);
    bool room = span - dim >= 4;
    CHECK(q->stride == (room ? span : span + 64));
    CHECK(q->sum_at == (room ? span - 4 : span));
    REQUIRE(strata_quant_encode(q, 0, v) == 0);
    uint8_t query[192];
    uint32_t qsum = strata_quant_encode_query(q, v, query);
    uint32_t row_sum;
    memcpy(&row_sum, strata_quant_codes(q, 0) + q->sum_at, sizeof row_sum);
    CHECK(row_sum == qsum);
    /* The estimate of v . v is close to the exact one. */
    float exact = 0.0f;
    for (size_t i = 0; i < dim; i++)
      exact += v[i] * v[i];
    float estimate = strata_quant_distance(q, query, qsum, 0);
    CHECK(fabsf(estimate - exact) < 0.02f * exact + 0.01f);
    strata_quant_destroy(q);

    REQUIRE(strata_quant_create(&vs, STRATA_METRIC_L2, 1.0f, &q) == 0);
    CHECK(q->stride == span);
    REQUIRE(strata_quant_encode(q, 0, v) == 0);
    strata_quant_encode_query(q, v, query);
    CHECK(strata_quant_distance(q, query, 0, 0) == 0.0f);
    strata_quant_destroy(q);
    strata_vs_destroy(&vs);
  }
}

/* Mean recall@K of quantized searches against `truth`. */
static double quant_recall(strata_hnsw *h, const test_data *queries,
                           const test_truth *truth, size_t ef,
                           const strata_hnsw_search_options *opts) {
  strata_hit got[K];
  size_t found = 0, expected = 0;
  for (size_t q = 0; q < queries->count; q++) {
    long n = strata_hnsw_search_ex(h, queries->rows + q * queries->dim, K,
                                   ef, NULL, opts, got, NULL);
    REQUIRE(n >= 0);
    CHECK((size_t)n == truth->counts[q]);
    for (size_t i = 0; i < truth->counts[q]; i++) {
      for (long j = 0; j < n; j++) {
        if (got[j].slot == truth->hits[q * K + i].slot) {
          found++;
          break;
        }
      }
    }
    expected += truth->counts[q];
  }
  return expected ? (double)found / (double)expected : 1.0;
}

/* Expected bytes of a quantizer holding `n` slots of dimension `dim`. */
static size_t expected_codes_bytes(size_t n, size_t dim,
                                   strata_metric metric) {
  size_t stride = (dim + 63) & ~(size_t)63;
  if (metric == STRATA_METRIC_DOT && stride - dim < sizeof(uint32_t))
    stride += 64;
  size_t chunks = (n + STRATA_VS_CHUNK - 1) / STRATA_VS_CHUNK;
  return sizeof(strata_quant) +
         (STRATA_VS_MAX_SLOTS / STRATA_VS_CHUNK) * sizeof(void *) +
         chunks * (sizeof(strata_quant_chunk) +
                   STRATA_VS_CHUNK * stride);
}

/* Builds an index over `train`, quantizes it, and checks recall, memory,
 * exact rescored scores, and codes for later inserts and updates. */
static void check_data_set(const char *name, strata_metric metric,
                           test_data *train, test_data *queries,
                           double min_rescored, double min_codes_only) {
  strata_vector_store vs;
  REQUIRE(strata_vs_init(&vs, train->dim) == 0);
  test_fill_store(&vs, train);
  strata_hnsw *h = test_create(metric, &vs, 16, 100);
  uint32_t *slots = malloc(train->count * sizeof *slots);
  REQUIRE(slots != NULL);
  for (size_t i = 0; i < train->count; i++)
    slots[i] = (uint32_t)i;
  CHECK_RC(strata_hnsw_build(h, slots, train->count, 2), STRATA_HNSW_OK);
  free(slots);
  test_truth truth = test_exact(&vs, metric, queries, K, NULL);

  /* Before quantizing, the quantized option falls back to floats. */
  strata_hnsw_search_options rescored = {1, 1, 2.0f};
  double plain = test_recall(h, queries, &truth, 64, NULL);
  CHECK(quant_recall(h, queries, &truth, 64, &rescored) == plain);

  strata_hnsw_info before, after;
  strata_hnsw_get_info(h, &before);
  CHECK_RC(strata_hnsw_quantize(h, 0.99f), STRATA_HNSW_OK);
  CHECK_RC(strata_hnsw_quantize(h, 0.99f), STRATA_HNSW_EEXIST);
  strata_hnsw_get_info(h, &after);
  CHECK(after.memory_bytes - before.memory_bytes ==
        expected_codes_bytes(train->count, train->dim, metric));

  strata_hnsw_search_options codes_only = {1, 0, 0.0f};
  double r_rescored = quant_recall(h, queries, &truth, 64, &rescored);
  double r_codes = quant_recall(h, queries, &truth, 64, &codes_only);
  printf("%s: ef 64 recall@%d float %.4f, int8 rescored %.4f, int8 codes "
         "only %.4f\n",
         name, K, plain, r_rescored, r_codes);
  CHECK(r_rescored >= min_rescored);
  CHECK(r_rescored >= plain - MAX_RESCORED_LOSS);
  CHECK(r_codes >= min_codes_only);
  /* The plain search is unchanged by quantizing. */
  CHECK(test_recall(h, queries, &truth, 64, NULL) == plain);

  /* Rescored scores are exact: the best hit of a stored vector is
   * itself, at distance 0 (L2) or similarity |v|^2 (dot). */
  strata_hit hit[K];
  const float *v0 = train->rows;
  long n = strata_hnsw_search_ex(h, v0, K, 64, NULL, &rescored, hit, NULL);
  CHECK(n == K);
  CHECK(hit[0].slot == 0 || hit[0].score == hit[1].score);
  if (metric == STRATA_METRIC_L2)
    CHECK(hit[0].score == 0.0f);

  /* Inserts after quantizing get codes: each new vector (a query row)
   * finds itself first. */
  size_t extra = queries->count < 20 ? queries->count : 20;
  for (size_t i = 0; i < extra; i++) {
    int64_t slot = strata_vs_add(&vs, queries->rows + i * queries->dim);
    REQUIRE(slot >= 0);
    CHECK_RC(strata_hnsw_insert(h, (uint32_t)slot), STRATA_HNSW_OK);
    n = strata_hnsw_search_ex(h, queries->rows + i * queries->dim, 1, 64,
                              NULL, &codes_only, hit, NULL);
    CHECK(n == 1);
    CHECK(hit[0].slot == (uint32_t)slot);
  }

  /* So do updates: slot 1 takes query row `extra`'s vector. */
  const float *moved = queries->rows + extra * queries->dim;
  strata_vs_set(&vs, 1, moved);
  CHECK_RC(strata_hnsw_update(h, 1), STRATA_HNSW_OK);
  n = strata_hnsw_search_ex(h, moved, 1, 64, NULL, &codes_only, hit, NULL);
  CHECK(n == 1);
  CHECK(hit[0].slot == 1);
  CHECK_GRAPH(h);

  test_truth_free(&truth);
  strata_hnsw_destroy(h);
  strata_vs_destroy(&vs);
}

static void test_quantize_rejects_l1(void) {
  strata_vector_store vs;
  REQUIRE(strata_vs_init(&vs, 8) == 0);
  strata_hnsw *h = test_create(STRATA_METRIC_L1, &vs, 16, 100);
  CHECK_RC(strata_hnsw_quantize(h, 0.99f), STRATA_HNSW_EINVAL);
  strata_hnsw_destroy(h);
  h = test_create(STRATA_METRIC_L2, &vs, 16, 100);
  CHECK_RC(strata_hnsw_quantize(h, 2.0f), STRATA_HNSW_EINVAL);
  /* An empty store quantizes with default bounds. */
  CHECK_RC(strata_hnsw_quantize(h, 0.99f), STRATA_HNSW_OK);
  strata_hnsw_destroy(h);
  strata_vs_destroy(&vs);
}

/* A bulk build of 4,096 nodes or more may walk temporary codes, but the
 * links are still picked by float distances.  Recall must match a graph
 * built by single inserts, and no codes may remain afterwards. */
static void test_build_on_codes(const char *name, const test_data *train,
                                const test_data *queries, size_t ef,
                                double min_recall) {
  strata_vector_store vs;
  REQUIRE(strata_vs_init(&vs, train->dim) == 0);
  test_fill_store(&vs, train);
  uint32_t *slots = malloc(train->count * sizeof *slots);
  REQUIRE(slots != NULL);
  for (size_t i = 0; i < train->count; i++)
    slots[i] = (uint32_t)i;
  test_truth truth = test_exact(&vs, STRATA_METRIC_L2, queries, K, NULL);

  strata_hnsw *bulk = test_create(STRATA_METRIC_L2, &vs, 16, 100);
  CHECK_RC(strata_hnsw_build(bulk, slots, train->count, 2), STRATA_HNSW_OK);
  CHECK(bulk->build_quant == NULL);
  CHECK(bulk->quant == NULL);

  strata_hnsw *single = test_create(STRATA_METRIC_L2, &vs, 16, 100);
  for (size_t i = 0; i < train->count; i++)
    CHECK_RC(strata_hnsw_insert(single, slots[i]), STRATA_HNSW_OK);

  double r_bulk = test_recall(bulk, queries, &truth, ef, NULL);
  double r_single = test_recall(single, queries, &truth, ef, NULL);
  printf("%s: recall@%d at ef %zu, bulk build %.4f, single inserts %.4f\n",
         name, K, ef, r_bulk, r_single);
  CHECK(r_bulk >= min_recall);
  CHECK(r_bulk >= r_single - 0.02);

  char msg[256];
  CHECK_RC(strata_hnsw_check(bulk, msg, sizeof msg), STRATA_HNSW_OK);
  strata_hnsw_destroy(bulk);
  strata_hnsw_destroy(single);
  test_truth_free(&truth);
  free(slots);
  strata_vs_destroy(&vs);
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

  test_kernels_match_scalar();
  test_kernels_max_dim();
  test_encode_bounds();
  test_sum_in_row();
  test_quantize_rejects_l1();

  test_data train = test_load_idx(train_path, NULL, n_train);
  test_data queries = test_load_idx(query_path, NULL, n_query);
  test_data build_train = test_load_idx(train_path, NULL, 5000);
  test_build_on_codes("Fashion-MNIST bulk build", &build_train, &queries,
                      10, 0.95);
  test_data_free(&build_train);

  /* Data that one pair of bounds encodes badly: 2% of the vectors 10^4
   * times larger than the rest, or two dimensions far from all others.
   * The ordinary components then share one or two codes, so the build
   * must notice and walk the vectors instead. */
  for (int kind = 0; kind < 2; kind++) {
    test_data odd = test_random(5000, 64, 11 + (uint64_t)kind);
    test_data odd_queries = test_random(100, 64, 21 + (uint64_t)kind);
    for (size_t i = 0; i < odd.count; i++) {
      float *row = odd.rows + i * odd.dim;
      if (kind == 0 && i % 50 == 0) {
        for (size_t d = 0; d < odd.dim; d++)
          row[d] *= 1e4f;
      } else if (kind == 1) {
        row[0] = row[1] = 1000.0f;
      }
    }
    for (size_t i = 0; kind == 1 && i < odd_queries.count; i++)
      odd_queries.rows[i * odd_queries.dim] =
          odd_queries.rows[i * odd_queries.dim + 1] = 1000.0f;
    test_build_on_codes(kind == 0 ? "outlier vectors" : "constant dimensions",
                        &odd, &odd_queries, 64, 0.8);
    test_data_free(&odd);
    test_data_free(&odd_queries);
  }
  check_data_set("Fashion-MNIST L2", STRATA_METRIC_L2, &train, &queries,
                 MIN_RECALL_RESCORED, MIN_RECALL_CODES_ONLY);
  test_normalize(&train);
  test_normalize(&queries);
  check_data_set("Fashion-MNIST cosine", STRATA_METRIC_DOT, &train, &queries,
                 MIN_RECALL_RESCORED, MIN_RECALL_CODES_ONLY);
  test_data_free(&train);
  test_data_free(&queries);

  /* Gaussian vectors in 64 dimensions are hard for any graph (float
   * recall@10 at ef 64 measured 0.875), so only the loss against the
   * float search is bounded here. */
  test_data g_train = test_random(small ? 2000 : 10000, 64, 7);
  test_data g_queries = test_random(small ? 50 : 200, 64, 8);
  check_data_set("Gaussian L2", STRATA_METRIC_L2, &g_train, &g_queries, 0.0,
                 0.0);
  test_data_free(&g_train);
  test_data_free(&g_queries);

  return test_finish("test_hnsw_quant");
}
