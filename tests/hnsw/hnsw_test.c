#include "hnsw_test.h"

#include <math.h>
#include <string.h>
#include <time.h>
#include <zlib.h>

int test_failures;

int test_finish(const char *name) {
  if (test_failures) {
    fprintf(stderr, "%s: %d check(s) failed\n", name, test_failures);
    return 1;
  }
  printf("%s: all checks passed\n", name);
  return 0;
}

bool test_small(int argc, char **argv) {
  return argc > 1 && strcmp(argv[1], "small") == 0;
}

static uint32_t read_be32(gzFile f) {
  uint8_t b[4];
  REQUIRE(gzread(f, b, 4) == 4);
  return (uint32_t)b[0] << 24 | (uint32_t)b[1] << 16 | (uint32_t)b[2] << 8 |
         b[3];
}

test_data test_load_idx(const char *images_path, const char *labels_path,
                        size_t max) {
  test_data d = {0, 0, NULL, NULL};
  gzFile f = gzopen(images_path, "rb");
  if (!f) {
    fprintf(stderr, "cannot open %s\n", images_path);
    exit(1);
  }
  REQUIRE(read_be32(f) == 0x00000803);
  uint32_t count = read_be32(f);
  uint32_t rows = read_be32(f), cols = read_be32(f);
  d.count = count < max ? count : max;
  d.dim = (size_t)rows * cols;
  uint8_t *pixels = malloc(d.count * d.dim);
  d.rows = malloc(d.count * d.dim * sizeof *d.rows);
  REQUIRE(pixels && d.rows);
  REQUIRE(gzread(f, pixels, (unsigned)(d.count * d.dim)) ==
          (int)(d.count * d.dim));
  gzclose(f);
  for (size_t i = 0; i < d.count * d.dim; i++)
    d.rows[i] = pixels[i] / 255.0f;
  free(pixels);

  if (labels_path) {
    f = gzopen(labels_path, "rb");
    REQUIRE(f != NULL);
    REQUIRE(read_be32(f) == 0x00000801);
    REQUIRE(read_be32(f) >= d.count);
    d.labels = malloc(d.count);
    REQUIRE(d.labels != NULL);
    REQUIRE(gzread(f, d.labels, (unsigned)d.count) == (int)d.count);
    gzclose(f);
  }
  return d;
}

static uint64_t next_random(uint64_t *state) {
  uint64_t x = (*state += 0x9E3779B97F4A7C15ULL);
  x = (x ^ (x >> 30)) * 0xBF58476D1CE4E5B9ULL;
  x = (x ^ (x >> 27)) * 0x94D049BB133111EBULL;
  return x ^ (x >> 31);
}

test_data test_random(size_t count, size_t dim, uint64_t seed) {
  test_data d = {count, dim, malloc(count * dim * sizeof(float)), NULL};
  REQUIRE(d.rows != NULL);
  uint64_t state = seed;
  for (size_t i = 0; i < count * dim; i++) {
    /* Box-Muller from two uniforms in (0, 1]. */
    double u1 = ((next_random(&state) >> 11) + 1) * 0x1.0p-53;
    double u2 = ((next_random(&state) >> 11) + 1) * 0x1.0p-53;
    d.rows[i] = (float)(sqrt(-2.0 * log(u1)) * cos(2.0 * M_PI * u2));
  }
  return d;
}

void test_normalize(test_data *d) {
  for (size_t i = 0; i < d->count; i++) {
    float *v = d->rows + i * d->dim;
    double sum = 0;
    for (size_t j = 0; j < d->dim; j++)
      sum += (double)v[j] * v[j];
    float inv = sum > 0 ? (float)(1.0 / sqrt(sum)) : 0.0f;
    for (size_t j = 0; j < d->dim; j++)
      v[j] *= inv;
  }
}

void test_data_free(test_data *d) {
  free(d->rows);
  free(d->labels);
  d->rows = NULL;
  d->labels = NULL;
}

void test_fill_store(strata_vector_store *vs, const test_data *d) {
  for (size_t i = 0; i < d->count; i++)
    REQUIRE(strata_vs_add(vs, d->rows + i * d->dim) == (int64_t)i);
}

test_truth test_exact(const strata_vector_store *vs, strata_metric metric,
                      const test_data *queries, size_t k,
                      const strata_slot_filter *filter) {
  test_truth t = {k, malloc(queries->count * k * sizeof(strata_hit)),
                  malloc(queries->count * sizeof(size_t))};
  REQUIRE(t.hits && t.counts);
  if (!filter) {
    REQUIRE(strata_flat_search_batch(vs, metric, queries->rows,
                                     queries->count, k, t.hits,
                                     t.counts) == 0);
    return t;
  }
  for (size_t q = 0; q < queries->count; q++) {
    long n = strata_flat_search(vs, metric, queries->rows + q * queries->dim,
                                k, filter, t.hits + q * k);
    REQUIRE(n >= 0);
    t.counts[q] = (size_t)n;
  }
  return t;
}

void test_truth_free(test_truth *t) {
  free(t->hits);
  free(t->counts);
  t->hits = NULL;
  t->counts = NULL;
}

double test_recall(strata_hnsw *h, const test_data *queries,
                   const test_truth *truth, size_t ef,
                   const strata_slot_filter *filter) {
  size_t k = truth->k;
  strata_hit *got = malloc(k * sizeof *got);
  REQUIRE(got != NULL);
  size_t found = 0, expected = 0;
  for (size_t q = 0; q < queries->count; q++) {
    const float *vec = queries->rows + q * queries->dim;
    long n = strata_hnsw_search(h, vec, k, ef, filter, got);
    REQUIRE(n >= 0);
    const strata_hit *want = truth->hits + q * k;
    size_t m = truth->counts[q];
    CHECK((size_t)n == m);
    for (size_t i = 0; i < m; i++) {
      for (long j = 0; j < n; j++) {
        if (got[j].slot == want[i].slot) {
          found++;
          break;
        }
      }
    }
    expected += m;
  }
  free(got);
  return expected ? (double)found / (double)expected : 1.0;
}

strata_hnsw *test_create(strata_metric metric, const strata_vector_store *vs,
                         uint32_t m, uint32_t ef_construct) {
  strata_hnsw_params params;
  strata_hnsw_params_default(&params);
  params.m = m;
  params.ef_construct = ef_construct;
  strata_hnsw *h = NULL;
  int rc = strata_hnsw_create(&params, metric, vs, &h);
  REQUIRE(rc == STRATA_HNSW_OK && h != NULL);
  return h;
}

double test_seconds(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + ts.tv_nsec * 1e-9;
}
