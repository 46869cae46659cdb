/* Exact search on Fashion-MNIST, checked against an independent exact
 * computation.
 *
 * Usage: check_fashion_mnist DATA_DIR COLLECTION TRAIN_IDX QUERY_IDX N
 *
 * The collection was imported from TRAIN_IDX (ids 0..59999 in file order,
 * Euclid) by the CLI before this runs.  For the first N query images this
 * program computes every squared distance exactly, in 64-bit integers
 * (pixels are bytes), and compares Strata's top 10 with the exact ranking.
 * Strata scores in float32, whose rounding can reorder two points whose
 * exact squared distances differ by less than about one part in a
 * million; so at every rank the exact squared distance of Strata's point
 * must equal the exact one of that rank within 1e-6 relative, and each id
 * must appear once.  The report also counts ranks where the ids are
 * identical.  These searches set `exact`; the same queries through the
 * HNSW graph at its default ef must reach a recall@10 of 0.95. */
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

#include "check.h"

#define K 10

typedef struct idx_images {
  uint32_t count, dim;
  uint8_t *pixels;
} idx_images;

static int read_be32(gzFile f, uint32_t *out) {
  uint8_t b[4];
  if (gzread(f, b, 4) != 4)
    return -1;
  *out = (uint32_t)b[0] << 24 | (uint32_t)b[1] << 16 | (uint32_t)b[2] << 8 |
         b[3];
  return 0;
}

static idx_images load_idx(const char *path) {
  idx_images img = {0, 0, NULL};
  gzFile f = gzopen(path, "rb");
  REQUIRE(f != NULL);
  uint32_t magic, rows, cols;
  REQUIRE(read_be32(f, &magic) == 0 && magic == 0x00000803);
  REQUIRE(read_be32(f, &img.count) == 0);
  REQUIRE(read_be32(f, &rows) == 0 && read_be32(f, &cols) == 0);
  img.dim = rows * cols;
  size_t bytes = (size_t)img.count * img.dim;
  img.pixels = malloc(bytes);
  REQUIRE(img.pixels != NULL);
  REQUIRE(gzread(f, img.pixels, (unsigned)bytes) == (int)bytes);
  gzclose(f);
  return img;
}

static int64_t exact_sq(const uint8_t *a, const uint8_t *b, uint32_t dim) {
  int64_t sum = 0;
  for (uint32_t i = 0; i < dim; i++) {
    int64_t d = (int64_t)a[i] - b[i];
    sum += d * d;
  }
  return sum;
}

static int cmp_i64(const void *a, const void *b) {
  int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
  return (x > y) - (x < y);
}

int main(int argc, char **argv) {
  if (argc != 6) {
    fprintf(stderr, "usage: %s DATA_DIR COLLECTION TRAIN_IDX QUERY_IDX N\n",
            argv[0]);
    return 2;
  }
  const char *collection = argv[2];
  idx_images base = load_idx(argv[3]);
  idx_images queries = load_idx(argv[4]);
  size_t n_queries = strtoul(argv[5], NULL, 10);
  REQUIRE(n_queries >= 1 && n_queries <= queries.count);
  REQUIRE(base.dim == queries.dim);

  strata_db *db = NULL;
  strata_open_options ro = {0, 1, NULL, NULL, 0};
  REQUIRE(strata_open(argv[1], &ro, &db) == STRATA_OK);
  uint64_t count = 0;
  CHECK_OK(strata_count(db, collection, &count));
  CHECK(count == base.count);

  int64_t *dist = malloc(base.count * sizeof *dist);
  int64_t *sorted = malloc(base.count * sizeof *sorted);
  float *q = malloc(base.dim * sizeof *q);
  REQUIRE(dist && sorted && q);
  size_t same_id = 0, checked = 0, graph_hits = 0;
  for (size_t qi = 0; qi < n_queries; qi++) {
    const uint8_t *qp = queries.pixels + qi * queries.dim;
    for (uint32_t i = 0; i < base.count; i++)
      sorted[i] = dist[i] = exact_sq(qp, base.pixels + (size_t)i * base.dim,
                                     base.dim);
    qsort(sorted, base.count, sizeof *sorted, cmp_i64);

    for (uint32_t j = 0; j < base.dim; j++)
      q[j] = qp[j];
    strata_search_request req = {"", q, base.dim, K, 0, 0, 1};
    strata_records *res = NULL;
    CHECK_OK(strata_search(db, collection, &req, &res));
    REQUIRE(res != NULL);
    CHECK(res->count == K);
    for (size_t r = 0; r < res->count; r++) {
      uint64_t id = res->items[r].id.num;
      CHECK(res->items[r].id.kind == STRATA_ID_NUM && id < base.count);
      if (id >= base.count)
        continue;
      for (size_t e = 0; e < r; e++)
        CHECK(res->items[e].id.num != id);
      int64_t got = dist[id], want = sorted[r];
      /* Strata's score is the true distance: check it against exact. */
      CHECK(fabs(res->items[r].score - sqrt((double)got)) <=
            1e-4 * sqrt((double)got) + 1e-3);
      if (llabs(got - want) > (int64_t)(1e-6 * (double)want)) {
        fprintf(stderr,
                "query %zu rank %zu: id %llu has squared distance %lld, the "
                "exact rank-%zu distance is %lld\n",
                qi, r, (unsigned long long)id, (long long)got, r,
                (long long)want);
        check_failures++;
      }
      /* The exact ranking's own point at this rank, for the report. */
      same_id += got == want;
      checked++;
    }

    /* The HNSW graph at its default ef: count the hits whose exact
     * squared distance is within the true top 10. */
    strata_search_request graph_req = {"", q, base.dim, K, 0, 0, 0};
    strata_records *approx = NULL;
    CHECK_OK(strata_search(db, collection, &graph_req, &approx));
    REQUIRE(approx != NULL);
    CHECK(approx->count == K);
    for (size_t r = 0; r < approx->count; r++) {
      uint64_t id = approx->items[r].id.num;
      graph_hits += id < base.count && dist[id] <= sorted[K - 1];
    }
    strata_records_free(approx);
    strata_records_free(res);
  }
  printf("check_fashion_mnist: %zu queries, %zu of %zu ranks at the exact "
         "distance of that rank\n",
         n_queries, same_id, checked);
  double graph_recall = (double)graph_hits / (double)(n_queries * K);
  printf("check_fashion_mnist: HNSW recall@%d at the default ef: %.4f\n", K,
         graph_recall);
  CHECK(graph_recall >= 0.95);
  strata_close(db);
  free(dist);
  free(sorted);
  free(q);
  free(base.pixels);
  free(queries.pixels);
  return check_finish("check_fashion_mnist");
}
