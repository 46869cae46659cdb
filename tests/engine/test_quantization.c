/* int8 scalar quantization through the public API, on Fashion-MNIST:
 * configs and search parameters that are rejected, recall and exact
 * scores with rescoring, filtered searches, upserts and deletes after
 * the codes exist, and the config and recall after reopening.
 *
 * The collection contains the first N_BASE training images as Euclid
 * vectors of raw pixel values (0 to 255).  Its quantile is 0.95, whose
 * upper bound (about 241 on these images) clamps the brightest pixels,
 * so the codes lose information and rescoring has work to do.  With
 * Qdrant's default of 0.99 the bounds would be [0, 255] and every code
 * would equal its pixel. */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <zlib.h>

#include "check.h"
#include "testutil.h"

#define FASHION_DIR "/usr/share/datasets/fashion-mnist"
#define DIM 784
#define N_BASE 5000
#define N_QUERIES 100
#define K 10
#define BATCH 500
#define QUANTILE 0.95f
/* Ids of the points added after the codes exist. */
#define NEW_ID_BASE 100000
#define N_NEW 20
/* The point whose vector is replaced by test image N_QUERIES + N_NEW. */
#define REPLACED_ID 7

typedef struct images {
  uint32_t count;
  uint8_t *pixels; /* count rows of DIM bytes */
} images;

static images base, tests;
static int replaced; /* REPLACED_ID has its new vector */
static char log_text[4096];

static void capture_log(void *ctx, const char *message) {
  size_t used = strlen(log_text);
  snprintf(log_text + used, sizeof log_text - used, "%s\n", message);
}

static strata_db *open_db(const char *dir) {
  strata_open_options options = {1, 0, capture_log, NULL, 2};
  strata_db *db = NULL;
  REQUIRE(strata_open(dir, &options, &db) == STRATA_OK);
  return db;
}

static uint32_t read_be32(gzFile f) {
  uint8_t b[4];
  REQUIRE(gzread(f, b, 4) == 4);
  return (uint32_t)b[0] << 24 | (uint32_t)b[1] << 16 | (uint32_t)b[2] << 8 |
         b[3];
}

/* Reads the first `limit` images of an IDX3 file. */
static images load_images(const char *path, uint32_t limit) {
  gzFile f = gzopen(path, "rb");
  REQUIRE(f != NULL);
  REQUIRE(read_be32(f) == 0x00000803);
  images img = {read_be32(f), NULL};
  uint32_t rows = read_be32(f), cols = read_be32(f);
  REQUIRE(rows * cols == DIM);
  REQUIRE(img.count >= limit);
  img.count = limit;
  img.pixels = malloc((size_t)limit * DIM);
  REQUIRE(img.pixels != NULL);
  REQUIRE(gzread(f, img.pixels, limit * DIM) == (int)(limit * DIM));
  gzclose(f);
  return img;
}

static void to_floats(const uint8_t *pixels, float *out) {
  for (int i = 0; i < DIM; i++)
    out[i] = pixels[i];
}

/* The Euclid distance between two images, exactly. */
static double distance(const uint8_t *a, const uint8_t *b) {
  int64_t sum = 0;
  for (int i = 0; i < DIM; i++) {
    int64_t d = (int64_t)a[i] - b[i];
    sum += d * d;
  }
  return sqrt((double)sum);
}

/* Pixels of point `id`: a training image, or for the points added later
 * a test image from index N_QUERIES on. */
static const uint8_t *pixels_of(uint64_t id) {
  if (id >= NEW_ID_BASE)
    return tests.pixels + (N_QUERIES + (id - NEW_ID_BASE)) * DIM;
  if (id == REPLACED_ID && replaced)
    return tests.pixels + (N_QUERIES + N_NEW) * DIM;
  return base.pixels + id * DIM;
}

static void upsert_images(strata_db *db, const char *name, uint64_t first_id,
                          const uint8_t *pixels, size_t n, int with_payload) {
  float *vectors = malloc(n * DIM * sizeof *vectors);
  strata_named_vector *named = malloc(n * sizeof *named);
  strata_point *points = calloc(n, sizeof *points);
  REQUIRE(vectors && named && points);
  for (size_t i = 0; i < n; i++) {
    to_floats(pixels + i * DIM, vectors + i * DIM);
    named[i] = (strata_named_vector){"", vectors + i * DIM, DIM};
    points[i].id = strata_id_num(first_id + i);
    points[i].vectors = &named[i];
    points[i].n_vectors = 1;
    /* One point in ten is "tenth", for the filtered searches. */
    if (with_payload)
      points[i].payload = (first_id + i) % 10 == 0 ? "{\"tenth\":true}"
                                                   : "{\"tenth\":false}";
  }
  CHECK_OK(strata_upsert(db, name, points, n, NULL));
  free(vectors);
  free(named);
  free(points);
}

static uint64_t codes_bytes(strata_db *db, const char *name) {
  strata_collection_info *info = NULL;
  CHECK_OK(strata_collection_describe(db, name, &info));
  REQUIRE(info != NULL);
  uint64_t bytes = info->quantization_bytes[0];
  strata_collection_info_free(info);
  return bytes;
}

static strata_records *search(strata_db *db, const float *query,
                              const strata_search_request *options) {
  strata_search_request request = *options;
  request.query = query;
  request.dim = DIM;
  request.k = K;
  strata_records *out = NULL;
  CHECK_OK(strata_search(db, "img", &request, &out));
  REQUIRE(out != NULL);
  return out;
}

/* Counts the ids of `got` that are in `truth`. */
static size_t common_ids(const strata_records *got,
                         const strata_records *truth) {
  size_t n = 0;
  for (size_t i = 0; i < got->count; i++)
    for (size_t j = 0; j < truth->count; j++)
      n += got->items[i].id.num == truth->items[j].id.num;
  return n;
}

/* Relative difference of a returned score from the exact distance. */
static double score_error(const strata_record *hit, const float *query) {
  uint8_t q[DIM];
  for (int i = 0; i < DIM; i++)
    q[i] = (uint8_t)query[i];
  double exact = distance(q, pixels_of(hit->id.num));
  return fabs(hit->score - exact) / (exact > 1.0 ? exact : 1.0);
}

/* ------------------------------------------------------------------ */

static void test_bad_configs(strata_db *db) {
  struct {
    const char *name;
    uint32_t dim;
    strata_distance distance;
    strata_quantization_config quantization;
    const char *message;
  } cases[] = {
      {"q0", 8, STRATA_DISTANCE_DOT, {STRATA_QUANTIZATION_INT8, 0.0f, 0},
       "quantile 0 is invalid"},
      {"q15", 8, STRATA_DISTANCE_DOT, {STRATA_QUANTIZATION_INT8, 1.5f, 0},
       "quantile 1.5 is invalid"},
      {"qhalf", 8, STRATA_DISTANCE_DOT, {STRATA_QUANTIZATION_INT8, 0.5f, 0},
       "quantile 0.5 is invalid"},
      {"qneg", 8, STRATA_DISTANCE_DOT, {STRATA_QUANTIZATION_INT8, -0.9f, 0},
       "quantile -0.9 is invalid"},
      {"qnan", 8, STRATA_DISTANCE_DOT, {STRATA_QUANTIZATION_INT8, NAN, 0},
       "quantile nan is invalid"},
      {"type", 8, STRATA_DISTANCE_DOT, {(strata_quantization_type)7, 0.99f, 0},
       "quantization type 7 is unknown"},
      {"l1", 8, STRATA_DISTANCE_MANHATTAN,
       {STRATA_QUANTIZATION_INT8, 0.99f, 0}, "Manhattan"},
      {"wide", 40000, STRATA_DISTANCE_DOT,
       {STRATA_QUANTIZATION_INT8, 0.99f, 0}, "at most 32768 dimensions"},
      {"none", 8, STRATA_DISTANCE_DOT, {STRATA_QUANTIZATION_NONE, 0.9f, 0},
       "quantization type is none"},
  };
  for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
    strata_vector_config vector = {"", cases[i].dim, cases[i].distance};
    vector.quantization = cases[i].quantization;
    strata_collection_config config = {&vector, 1};
    CHECK_STATUS(strata_collection_create(db, cases[i].name, &config),
                 STRATA_ERR_INVALID_ARGUMENT);
    if (!strstr(strata_last_error(), cases[i].message)) {
      fprintf(stderr, "case %s: message \"%s\" lacks \"%s\"\n",
              cases[i].name, strata_last_error(), cases[i].message);
      CHECK(0);
    }
    strata_collection_info *info = NULL;
    CHECK_STATUS(strata_collection_describe(db, cases[i].name, &info),
                 STRATA_ERR_NOT_FOUND);
  }

  /* One bad vector among good ones rejects the whole collection. */
  strata_vector_config two[2] = {{"a", 8, STRATA_DISTANCE_DOT},
                                 {"b", 8, STRATA_DISTANCE_DOT}};
  two[0].quantization = (strata_quantization_config){
      STRATA_QUANTIZATION_INT8, STRATA_DEFAULT_QUANTILE, 0};
  two[1].quantization =
      (strata_quantization_config){STRATA_QUANTIZATION_INT8, 1.5f, 0};
  strata_collection_config config = {two, 2};
  CHECK_STATUS(strata_collection_create(db, "two", &config),
               STRATA_ERR_INVALID_ARGUMENT);
  char **names = NULL;
  CHECK_OK(strata_collection_list(db, &names));
  REQUIRE(names != NULL);
  CHECK(names[0] == NULL);
  strata_names_free(names);

  /* The bounds of the range: 1 is valid. */
  strata_vector_config full_range = {"", 8, STRATA_DISTANCE_COSINE};
  full_range.quantization =
      (strata_quantization_config){STRATA_QUANTIZATION_INT8, 1.0f, 0};
  config = (strata_collection_config){&full_range, 1};
  CHECK_OK(strata_collection_create(db, "one", &config));
  CHECK_OK(strata_collection_drop(db, "one"));
}

static void test_bad_search_params(strata_db *db, const float *query) {
  struct {
    strata_quantization_search_params params;
    const char *message;
  } cases[] = {
      {{0, STRATA_RESCORE_DEFAULT, 0.5f}, "oversampling 0.5 is invalid"},
      {{0, STRATA_RESCORE_ON, -1.0f}, "oversampling -1 is invalid"},
      {{0, STRATA_RESCORE_ON, NAN}, "oversampling nan is invalid"},
      {{0, STRATA_RESCORE_ON, INFINITY}, "oversampling inf is invalid"},
      {{0, (strata_rescore)3, 1.0f}, "rescore value 3 is unknown"},
  };
  for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
    strata_search_request request = {"", query, DIM, K};
    request.quantization = cases[i].params;
    strata_records *out = NULL;
    CHECK_STATUS(strata_search(db, "img", &request, &out),
                 STRATA_ERR_INVALID_ARGUMENT);
    CHECK(out == NULL);
    CHECK(strstr(strata_last_error(), cases[i].message) != NULL);
  }
}

/* Searches every query exactly and through the codes with the default
 * parameters, and checks recall and that rescored scores are exact.
 * Returns the recall. */
static double check_recall(strata_db *db, const float *queries) {
  size_t found = 0, total = 0;
  double worst_error = 0;
  for (int q = 0; q < N_QUERIES; q++) {
    const float *query = queries + q * DIM;
    strata_search_request exact = {.exact = 1};
    strata_search_request quantized = {0};
    strata_records *truth = search(db, query, &exact);
    strata_records *got = search(db, query, &quantized);
    CHECK(got->count == K);
    found += common_ids(got, truth);
    total += truth->count;
    for (size_t i = 0; i < got->count; i++) {
      double error = score_error(&got->items[i], query);
      worst_error = error > worst_error ? error : worst_error;
    }
    strata_records_free(truth);
    strata_records_free(got);
  }
  double recall = (double)found / (double)total;
  printf("recall@%d with int8 codes and rescoring: %.4f; worst relative "
         "score error %.2g\n",
         K, recall, worst_error);
  CHECK(recall >= 0.95);
  CHECK(worst_error < 1e-5);
  return recall;
}

/* Checks that scores without rescoring are estimates from the codes, and
 * that ignoring the codes gives exact scores again.  On one beam, more
 * oversampling rescores a superset of candidates, so it never finds
 * fewer true neighbours. */
static void check_search_params(strata_db *db, const float *queries) {
  size_t estimated = 0, found_1 = 0, found_4 = 0;
  double worst_ignored = 0;
  for (int q = 0; q < N_QUERIES; q++) {
    const float *query = queries + q * DIM;
    strata_search_request no_rescore = {0};
    no_rescore.quantization.rescore = STRATA_RESCORE_OFF;
    strata_search_request ignore = {0};
    ignore.quantization.ignore = 1;
    ignore.quantization.rescore = STRATA_RESCORE_OFF;
    strata_search_request exact = {.exact = 1};
    strata_search_request over_1 = {.ef = 4 * K};
    strata_search_request over_4 = {.ef = 4 * K};
    over_4.quantization.oversampling = 4.0f;

    strata_records *raw = search(db, query, &no_rescore);
    for (size_t i = 0; i < raw->count; i++)
      estimated += score_error(&raw->items[i], query) > 1e-3;
    strata_records_free(raw);

    strata_records *floats = search(db, query, &ignore);
    for (size_t i = 0; i < floats->count; i++) {
      double error = score_error(&floats->items[i], query);
      worst_ignored = error > worst_ignored ? error : worst_ignored;
    }
    strata_records_free(floats);

    strata_records *truth = search(db, query, &exact);
    strata_records *got_1 = search(db, query, &over_1);
    strata_records *got_4 = search(db, query, &over_4);
    size_t hits_1 = common_ids(got_1, truth);
    size_t hits_4 = common_ids(got_4, truth);
    CHECK(hits_4 >= hits_1);
    found_1 += hits_1;
    found_4 += hits_4;
    strata_records_free(truth);
    strata_records_free(got_1);
    strata_records_free(got_4);
  }
  printf("scores estimated from the codes: %zu of %d; recall@%d at ef %d: "
         "%.3f with oversampling 1, %.3f with 4\n",
         estimated, N_QUERIES * K, K, 4 * K,
         (double)found_1 / (N_QUERIES * K), (double)found_4 / (N_QUERIES * K));
  CHECK(estimated > 0);
  CHECK(worst_ignored < 1e-5);
  CHECK(found_4 > found_1);
}

/* Searches with a filter that matches 9 points in 10, enough for the
 * planner to walk the graph, against the exact filtered result.  Without
 * a payload index the planner projects the matching count from a sample
 * and chooses hnsw_checked; with one it has the matching points
 * exactly and chooses hnsw_filtered.  Both walks must use the codes. */
static void check_filtered(strata_db *db, const float *queries,
                           const char *strategy) {
  strata_filter *filter = NULL;
  const char *json = "{\"must\": [{\"key\": \"tenth\", \"match\": "
                     "{\"value\": false}}]}";
  CHECK_OK(strata_filter_parse_json(json, strlen(json), &filter));
  REQUIRE(filter != NULL);

  /* A first filtered read parses the payloads into the filter cache,
   * which the planner needs to sample unindexed fields. */
  uint64_t matching = 0;
  CHECK_OK(strata_count_filtered(db, "img", filter, &matching));
  CHECK(matching == N_BASE / 10 * 9);

  strata_search_request plan_request = {"", queries, DIM, K};
  plan_request.filter = filter;
  char *plan = NULL;
  CHECK_OK(strata_search_explain(db, "img", &plan_request, &plan));
  REQUIRE(plan != NULL);
  char expected[64];
  snprintf(expected, sizeof expected, "\"strategy\":\"%s\"", strategy);
  if (!strstr(plan, expected))
    fprintf(stderr, "expected %s in the plan: %s\n", expected, plan);
  CHECK(strstr(plan, expected) != NULL);
  free(plan);

  size_t found = 0, total = 0, estimated = 0;
  for (int q = 0; q < N_QUERIES; q++) {
    const float *query = queries + q * DIM;
    strata_search_request exact = {.exact = 1, .filter = filter};
    strata_search_request quantized = {.filter = filter};
    strata_search_request no_rescore = {.filter = filter};
    no_rescore.quantization.rescore = STRATA_RESCORE_OFF;
    strata_records *raw = search(db, query, &no_rescore);
    for (size_t i = 0; i < raw->count; i++)
      estimated += score_error(&raw->items[i], query) > 1e-3;
    strata_records_free(raw);

    strata_records *truth = search(db, query, &exact);
    strata_records *got = search(db, query, &quantized);
    CHECK(got->count == K);
    for (size_t i = 0; i < got->count; i++) {
      CHECK(got->items[i].id.num % 10 != 0);
      CHECK(score_error(&got->items[i], query) < 1e-5);
    }
    found += common_ids(got, truth);
    total += truth->count;
    strata_records_free(truth);
    strata_records_free(got);
  }
  double recall = (double)found / (double)total;
  printf("%s recall@%d with int8 codes: %.4f; scores estimated from "
         "the codes without rescoring: %zu\n",
         strategy, K, recall, estimated);
  CHECK(recall >= 0.95);
  CHECK(estimated > 0);
  strata_filter_free(filter);
}

/* Returns nonzero when a search for the stored vector of `id` returns
 * `id` at distance 0.  Other points at distance 0 (duplicate images) may
 * come first. */
static int finds_itself(strata_db *db, uint64_t id) {
  float vector[DIM];
  to_floats(pixels_of(id), vector);
  strata_search_request request = {0};
  strata_records *got = search(db, vector, &request);
  int found = 0;
  for (size_t i = 0; i < got->count && got->items[i].score == 0.0f; i++)
    found |= got->items[i].id.num == id;
  strata_records_free(got);
  return found;
}

/* Points added, replaced and deleted after the codes exist. */
static void check_writes(strata_db *db, const float *queries,
                         strata_point_id *deleted, size_t n_deleted) {
  for (int i = 0; i < N_NEW; i++)
    CHECK(finds_itself(db, NEW_ID_BASE + i));
  CHECK(finds_itself(db, REPLACED_ID));
  for (int q = 0; q < N_QUERIES; q++) {
    strata_search_request request = {0};
    strata_records *got = search(db, queries + q * DIM, &request);
    for (size_t i = 0; i < got->count; i++)
      for (size_t d = 0; d < n_deleted; d++)
        CHECK(got->items[i].id.num != deleted[d].num);
    strata_records_free(got);
  }
}

static void check_config(strata_db *db) {
  strata_collection_info *info = NULL;
  CHECK_OK(strata_collection_describe(db, "img", &info));
  REQUIRE(info != NULL);
  CHECK(info->n_vectors == 1);
  const strata_quantization_config *q = &info->vectors[0].quantization;
  CHECK(q->type == STRATA_QUANTIZATION_INT8);
  CHECK(q->quantile == QUANTILE);
  CHECK(q->always_ram == 1);
  /* At least one byte per dimension of every live point. */
  CHECK(info->quantization_bytes[0] >= info->points_count * DIM);
  strata_collection_info_free(info);
}

int main(void) {
  base = load_images(FASHION_DIR "/train-images-idx3-ubyte.gz", N_BASE);
  tests = load_images(FASHION_DIR "/t10k-images-idx3-ubyte.gz",
                      N_QUERIES + N_NEW + 1);
  float *queries = malloc((size_t)N_QUERIES * DIM * sizeof *queries);
  REQUIRE(queries != NULL);
  for (int q = 0; q < N_QUERIES; q++)
    to_floats(tests.pixels + (size_t)q * DIM, queries + q * DIM);

  char *dir = test_make_dir("quantization");
  strata_db *db = open_db(dir);
  test_bad_configs(db);

  /* A collection without quantization reports none and no codes, and
   * is stored without a quantization key, as before it existed. */
  strata_vector_config plain = {"", 4, STRATA_DISTANCE_DOT};
  strata_collection_config plain_config = {&plain, 1};
  CHECK_OK(strata_collection_create(db, "plain", &plain_config));

  strata_vector_config vector = {"", DIM, STRATA_DISTANCE_EUCLID};
  vector.quantization =
      (strata_quantization_config){STRATA_QUANTIZATION_INT8, QUANTILE, 1};
  strata_collection_config config = {&vector, 1};
  CHECK_OK(strata_collection_create(db, "img", &config));
  CHECK(codes_bytes(db, "img") == 0);

  /* The default threshold (10000 KB) is 3265 points of this size: the
   * codes appear with the batch that passes it. */
  for (size_t first = 0; first < N_BASE; first += BATCH) {
    upsert_images(db, "img", first, base.pixels + first * DIM, BATCH, 1);
    uint64_t bytes = codes_bytes(db, "img");
    if (first + BATCH <= 3265)
      CHECK(bytes == 0);
    else
      CHECK(bytes >= (first + BATCH) * DIM);
  }
  check_config(db);
  test_bad_search_params(db, queries);
  check_recall(db, queries);
  check_search_params(db, queries);
  check_filtered(db, queries, "hnsw_checked");
  CHECK_OK(strata_field_index_create(db, "img", "tenth", "bool", NULL));
  check_filtered(db, queries, "hnsw_filtered");

  /* Writes after quantization: new points, one replaced vector, and
   * deletes of the best hit of the first 30 queries. */
  upsert_images(db, "img", NEW_ID_BASE, tests.pixels + N_QUERIES * DIM, N_NEW,
                1);
  replaced = 1;
  upsert_images(db, "img", REPLACED_ID, pixels_of(REPLACED_ID), 1, 1);

  strata_point_id deleted[30];
  size_t n_deleted = 0;
  for (int q = 0; q < 30; q++) {
    strata_search_request exact = {.exact = 1};
    strata_records *got = search(db, queries + q * DIM, &exact);
    if (got->items[0].id.num != REPLACED_ID)
      deleted[n_deleted++] = got->items[0].id;
    strata_records_free(got);
  }
  uint64_t n_existed = 0;
  CHECK_OK(strata_delete(db, "img", deleted, n_deleted, NULL, &n_existed));
  CHECK(n_existed > 0);
  check_writes(db, queries, deleted, n_deleted);
  check_recall(db, queries);

  /* Reopen: the saved graph is loaded and the codes trained again. */
  strata_close(db);
  db = open_db(dir);
  check_config(db);
  check_recall(db, queries);
  check_writes(db, queries, deleted, n_deleted);

  /* Reopen without graph files: the graph is rebuilt, then quantized. */
  strata_close(db);
  char command[4096];
  snprintf(command, sizeof command, "rm -rf '%s/hnsw'", dir);
  REQUIRE(system(command) == 0);
  db = open_db(dir);
  check_config(db);
  check_recall(db, queries);
  check_writes(db, queries, deleted, n_deleted);

  strata_collection_info *info = NULL;
  CHECK_OK(strata_collection_describe(db, "plain", &info));
  REQUIRE(info != NULL);
  CHECK(info->vectors[0].quantization.type == STRATA_QUANTIZATION_NONE);
  CHECK(info->vectors[0].quantization.quantile == 0.0f);
  CHECK(info->quantization_bytes[0] == 0);
  strata_collection_info_free(info);

  strata_close(db);
  test_remove_dir(dir);
  free(dir);
  free(queries);
  free(base.pixels);
  free(tests.pixels);
  return check_finish("test_quantization");
}
