/*
 * Data of grpc_bench: the points and queries (an fvecs file or seeded
 * random vectors), the collection built from them, and the exact top-k
 * of each query that recall is measured against.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "bench_data.h"

void *bench_malloc(size_t size) {
  void *p = malloc(size);
  if (p == NULL && size > 0) {
    fprintf(stderr, "grpc_bench: out of memory\n");
    exit(1);
  }
  return p;
}

/* Deterministic uniform floats in [-1, 1) (xorshift64*). */
static double monotonic_seconds(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

static float next_float(uint64_t *state) {
  *state ^= *state >> 12;
  *state ^= *state << 25;
  *state ^= *state >> 27;
  uint64_t r = *state * 2685821657736338717ULL;
  return (float)((double)(r >> 11) / 9007199254740992.0 * 2.0 - 1.0);
}

void bench_fail_strata(const char *what) {
  fprintf(stderr, "grpc_bench: %s: %s\n", what, strata_last_error());
  exit(1);
}

matrix bench_read_fvecs(const char *path, size_t limit) {
  FILE *f = fopen(path, "rb");
  if (f == NULL) {
    fprintf(stderr, "grpc_bench: cannot open %s: %s\n", path, strerror(errno));
    exit(1);
  }
  int32_t dim = 0;
  struct stat st;
  if (fread(&dim, sizeof dim, 1, f) != 1 || dim <= 0 || dim > STRATA_MAX_DIM ||
      fstat(fileno(f), &st) != 0) {
    fprintf(stderr, "grpc_bench: %s is not an fvecs file\n", path);
    exit(1);
  }
  size_t row_bytes = sizeof(int32_t) + (size_t)dim * sizeof(float);
  if ((size_t)st.st_size % row_bytes != 0) {
    fprintf(stderr,
            "grpc_bench: %s: size %lld is not a multiple of the %zu-byte "
            "rows of dimension %d\n",
            path, (long long)st.st_size, row_bytes, (int)dim);
    exit(1);
  }
  matrix m = {NULL, (size_t)st.st_size / row_bytes, (uint32_t)dim};
  if (limit > 0 && limit < m.rows)
    m.rows = limit;
  m.data = bench_malloc(m.rows * m.dim * sizeof *m.data);
  rewind(f);
  for (size_t i = 0; i < m.rows; i++) {
    int32_t row_dim;
    if (fread(&row_dim, sizeof row_dim, 1, f) != 1 || row_dim != dim ||
        fread(m.data + i * m.dim, sizeof(float), m.dim, f) != m.dim) {
      fprintf(stderr,
              "grpc_bench: %s: row %zu is truncated or not of "
              "dimension %d\n",
              path, i, (int)dim);
      exit(1);
    }
  }
  fclose(f);
  return m;
}

matrix bench_random_matrix(size_t rows, uint32_t dim, uint64_t seed) {
  matrix m = {bench_malloc(rows * dim * sizeof(float)), rows, dim};
  for (size_t i = 0; i < rows * dim; i++)
    m.data[i] = next_float(&seed);
  return m;
}

/* Creates the collection and upserts every point, ids 0 to rows-1. */
static void load_points(strata_db *db, const strata_hnsw_config *hnsw,
                        const matrix *m) {
  strata_vector_config vector = {.name = "",
                                 .dim = m->dim,
                                 .distance = STRATA_DISTANCE_COSINE,
                                 .hnsw = *hnsw};
  strata_collection_config config = {.vectors = &vector, .n_vectors = 1};
  if (strata_collection_create(db, BENCH_COLLECTION, &config) != STRATA_OK)
    bench_fail_strata("create");

  /* Large batches let the engine link each batch on all its threads. */
  enum { BATCH = 10000 };
  strata_named_vector *vectors = bench_malloc(BATCH * sizeof *vectors);
  strata_point *points = bench_malloc(BATCH * sizeof *points);
  for (size_t first = 0; first < m->rows; first += BATCH) {
    size_t n = m->rows - first < BATCH ? m->rows - first : BATCH;
    for (size_t i = 0; i < n; i++) {
      vectors[i] = (strata_named_vector){
          .name = "", .data = m->data + (first + i) * m->dim, .dim = m->dim};
      points[i] = (strata_point){.id = strata_id_num(first + i),
                                 .vectors = &vectors[i],
                                 .n_vectors = 1};
    }
    if (strata_upsert(db, BENCH_COLLECTION, points, n, NULL) != STRATA_OK)
      bench_fail_strata("upsert");
    fprintf(stderr, "\rgrpc_bench: loaded %zu of %zu points", first + n,
            m->rows);
  }
  fprintf(stderr, "\n");
  free(vectors);
  free(points);
}

int bench_ensure_collection(strata_db *db, const strata_hnsw_config *hnsw,
                            const matrix *m, const char *dir) {
  strata_collection_info *info = NULL;
  if (strata_collection_describe(db, BENCH_COLLECTION, &info) == STRATA_OK) {
    int same = info->points_count == m->rows && info->n_vectors == 1 &&
               info->vectors[0].dim == m->dim &&
               info->vectors[0].hnsw.m == hnsw->m &&
               info->vectors[0].hnsw.ef_construct == hnsw->ef_construct;
    if (!same) {
      fprintf(stderr,
              "grpc_bench: collection \"%s\" in %s has %llu points of "
              "dimension %u, m %u, ef_construct %u; expected %zu, %u, %u, "
              "%u: use another --data directory\n",
              BENCH_COLLECTION, dir, (unsigned long long)info->points_count,
              info->vectors[0].dim, info->vectors[0].hnsw.m,
              info->vectors[0].hnsw.ef_construct, m->rows, m->dim, hnsw->m,
              hnsw->ef_construct);
      exit(1);
    }
    strata_collection_info_free(info);
    return 0;
  }
  load_points(db, hnsw, m);
  return 1;
}

static void exact_truth(strata_db *db, const matrix *queries, uint32_t k,
                        bench_truth *t) {
  t->ids = bench_malloc(queries->rows * k * sizeof *t->ids);
  t->n_queries = queries->rows;
  t->k = k;
  for (size_t q = 0; q < queries->rows; q++) {
    strata_search_request request = {.query = queries->data + q * queries->dim,
                                     .dim = queries->dim,
                                     .k = k,
                                     .exact = 1};
    strata_records *hits = NULL;
    if (strata_search(db, BENCH_COLLECTION, &request, &hits) != STRATA_OK)
      bench_fail_strata("exact search");
    for (size_t i = 0; i < k; i++)
      t->ids[q * k + i] = i < hits->count ? hits->items[i].id.num : UINT64_MAX;
    strata_records_free(hits);
  }
}

void bench_load_truth(strata_db *db, const matrix *queries, uint32_t k,
                      const char *path, bench_truth *t) {
  size_t want = queries->rows * k;
  FILE *f = path ? fopen(path, "rb") : NULL;
  if (f != NULL) {
    t->ids = bench_malloc(want * sizeof *t->ids);
    t->n_queries = queries->rows;
    t->k = k;
    size_t got = fread(t->ids, sizeof *t->ids, want + 1, f);
    fclose(f);
    if (got == want)
      return;
    free(t->ids);
  }
  double start = monotonic_seconds();
  exact_truth(db, queries, k, t);
  fprintf(stderr, "grpc_bench: exact search of %zu queries took %.1f s\n",
          queries->rows, monotonic_seconds() - start);
  f = path ? fopen(path, "wb") : NULL;
  if (f != NULL) {
    if (fwrite(t->ids, sizeof *t->ids, want, f) != want)
      fprintf(stderr, "grpc_bench: could not write %s\n", path);
    fclose(f);
  }
}

double bench_recall(const bench_truth *t, size_t q, const uint64_t *found,
                    size_t n_found) {
  size_t hit = 0;
  for (size_t i = 0; i < t->k; i++)
    for (size_t j = 0; j < n_found; j++)
      if (found[j] == t->ids[q * t->k + i]) {
        hit++;
        break;
      }
  return (double)hit / t->k;
}
