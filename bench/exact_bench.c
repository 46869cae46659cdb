/*
 * Exact k-NN benchmark: strata's vector store and flat search against
 * FAISS IndexFlatL2, in one process on the same data.
 *
 * Data: Fashion-MNIST as float32 pixel values 0..255 (784 dimensions); the
 * 60,000 training images are the base, the 10,000 test images the queries.
 * Measured, each for strata and then FAISS:
 *   add     vectors per second loading the base
 *   single  queries per second, one query per call
 *   batch   queries per second, --batch-size queries per call
 * and the mean fraction of FAISS's top-k ids that strata also returned.
 *
 * Both libraries run batches with the same thread count (--threads): it
 * sets FAISS's OpenMP threads, OpenBLAS's threads when the BLAS is
 * OpenBLAS, and strata's batch threads.  Single queries run on one thread
 * in both (FAISS uses min(nq, threads) OpenMP threads below its BLAS
 * threshold, so one for nq = 1).
 */
#include <dlfcn.h>
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <zlib.h>

#include "distance.h"
#include "faiss_shim.h"
#include "strata.h"
#include "flat.h"
#include "vector_store.h"

typedef struct options {
  const char *data_dir;
  size_t single_queries;
  size_t batches;
  size_t batch_size;
  size_t k;
  int threads;
} options;

typedef struct dataset {
  size_t n, dim;
  float *rows;
} dataset;

static double now_seconds(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + ts.tv_nsec * 1e-9;
}

static uint32_t read_be32(const unsigned char *p) {
  return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 |
         p[3];
}

/*
 * Loads a gzipped IDX file of unsigned bytes with 3 dimensions (images):
 * magic 0x00000803, then item count, rows and columns as big-endian 32-bit
 * integers, then the pixels.  Returns 0, or -1 with a message on stderr.
 */
static int load_idx_images(const char *path, dataset *out) {
  int rc = -1;
  unsigned char *pixels = NULL;
  gzFile f = gzopen(path, "rb");
  if (!f) {
    fprintf(stderr, "cannot open %s: %s\n", path, strerror(errno));
    return -1;
  }
  unsigned char header[16];
  if (gzread(f, header, sizeof header) != (int)sizeof header ||
      read_be32(header) != 0x803) {
    fprintf(stderr, "%s: not an IDX file of 3-dimensional unsigned bytes\n",
            path);
    goto done;
  }
  size_t n = read_be32(header + 4);
  size_t dim = (size_t)read_be32(header + 8) * read_be32(header + 12);
  if (n == 0 || dim == 0 || n > 100000000 || dim > 1000000) {
    fprintf(stderr, "%s: implausible shape %zu x %zu\n", path, n, dim);
    goto done;
  }
  pixels = malloc(n * dim);
  out->rows = malloc(n * dim * sizeof(float));
  if (!pixels || !out->rows) {
    fprintf(stderr, "%s: out of memory for %zu x %zu\n", path, n, dim);
    goto done;
  }
  for (size_t got = 0; got < n * dim;) {
    size_t want = n * dim - got;
    int r = gzread(f, pixels + got, want > (1u << 30) ? 1u << 30
                                                      : (unsigned)want);
    if (r <= 0) {
      fprintf(stderr, "%s: truncated after %zu of %zu bytes\n", path, got,
              n * dim);
      goto done;
    }
    got += (size_t)r;
  }
  for (size_t i = 0; i < n * dim; i++)
    out->rows[i] = pixels[i];
  out->n = n;
  out->dim = dim;
  rc = 0;
done:
  if (rc != 0) {
    free(out->rows);
    out->rows = NULL;
  }
  free(pixels);
  gzclose(f);
  return rc;
}

/* Describes the BLAS that the dynamic linker bound sgemm_ to, and sets its
 * thread count when it is OpenBLAS. */
static const char *configure_blas(int threads) {
  const char *(*get_config)(void) =
      (const char *(*)(void))dlsym(RTLD_DEFAULT, "openblas_get_config");
  void (*set_threads)(int) =
      (void (*)(int))dlsym(RTLD_DEFAULT, "openblas_set_num_threads");
  if (set_threads)
    set_threads(threads);
  if (get_config)
    return get_config();
  return "not OpenBLAS (reference BLAS or other; no openblas_get_config)";
}

static int parse_size(const char *arg, const char *name, size_t *out) {
  char *end;
  errno = 0;
  unsigned long long v = strtoull(arg, &end, 10);
  if (errno || *end || end == arg || v == 0) {
    fprintf(stderr, "invalid %s '%s': expected a positive integer\n", name,
            arg);
    return -1;
  }
  *out = (size_t)v;
  return 0;
}

static void usage(FILE *to) {
  fprintf(to,
          "usage: exact_bench [--data DIR] [--single N] [--batches N]\n"
          "                   [--batch-size N] [--k N] [--threads N]\n"
          "  --data DIR       Fashion-MNIST directory with the *.gz files\n"
          "                   (default /usr/share/datasets/fashion-mnist)\n"
          "  --single N       queries for the one-query-per-call runs "
          "(default 1000)\n"
          "  --batches N      batches for the batch runs (default 20)\n"
          "  --batch-size N   queries per batch (default 100)\n"
          "  --k N            neighbours per query (default 10)\n"
          "  --threads N      batch threads: FAISS OpenMP and OpenBLAS, "
          "strata (default 1)\n");
}

static int parse_options(int argc, char **argv, options *o) {
  *o = (options){"/usr/share/datasets/fashion-mnist", 1000, 20, 100, 10, 1};
  for (int i = 1; i < argc; i++) {
    const char *a = argv[i];
    if (strcmp(a, "--help") == 0) {
      usage(stdout);
      exit(0);
    }
    if (i + 1 >= argc) {
      fprintf(stderr, "missing value after %s\n", a);
      usage(stderr);
      return -1;
    }
    const char *v = argv[++i];
    size_t threads = 0;
    int rc;
    if (strcmp(a, "--data") == 0) {
      o->data_dir = v;
      rc = 0;
    } else if (strcmp(a, "--single") == 0) {
      rc = parse_size(v, a, &o->single_queries);
    } else if (strcmp(a, "--batches") == 0) {
      rc = parse_size(v, a, &o->batches);
    } else if (strcmp(a, "--batch-size") == 0) {
      rc = parse_size(v, a, &o->batch_size);
    } else if (strcmp(a, "--k") == 0) {
      rc = parse_size(v, a, &o->k);
    } else if (strcmp(a, "--threads") == 0) {
      rc = parse_size(v, a, &threads);
      o->threads = (int)threads;
    } else {
      fprintf(stderr, "unknown option %s\n", a);
      usage(stderr);
      return -1;
    }
    if (rc != 0)
      return -1;
  }
  return 0;
}

/* Mean fraction of FAISS's ids that strata also returned, over nq
 * queries.  Strata slot i is base row i because the store was filled in
 * order. */
static double agreement(const strata_hit *hits, const size_t *counts,
                        const int64_t *ids, size_t nq, size_t k) {
  double sum = 0.0;
  for (size_t q = 0; q < nq; q++) {
    size_t same = 0;
    for (size_t i = 0; i < k; i++)
      for (size_t j = 0; j < counts[q]; j++)
        if ((int64_t)hits[q * k + j].slot == ids[q * k + i]) {
          same++;
          break;
        }
    sum += (double)same / (double)k;
  }
  return sum / (double)nq;
}

static void print_row(const char *what, double strata, double faiss) {
  printf("| %-30s | %12.1f | %12.1f | %6.2f |\n", what, strata, faiss,
         strata / faiss);
}

/* Fortran BLAS entry point that libfaiss.a calls for batches. */
void sgemm_(const char *transa, const char *transb, const int *m,
            const int *n, const int *k, const float *alpha, const float *a,
            const int *lda, const float *b, const int *ldb, const float *beta,
            float *c, const int *ldc);

/*
 * Runs only the matrix products FAISS 1.7.3's exhaustive_L2sqr_blas issues
 * for nq queries (blocks of 1,024 base rows), writing into `ip`.  Its time
 * is a lower bound for any FAISS build's batch search on this BLAS: the
 * norms, distance assembly and heaps come on top.
 */
static void faiss_sgemm_only(const dataset *base, const float *queries,
                             size_t nq, float *ip) {
  const int block = 1024;
  int d = (int)base->dim, nqi = (int)nq;
  float one = 1.0f, zero = 0.0f;
  for (size_t j0 = 0; j0 < base->n; j0 += (size_t)block) {
    int ny = base->n - j0 < (size_t)block ? (int)(base->n - j0) : block;
    sgemm_("Transposed", "Not transposed", &ny, &nqi, &d, &one,
           base->rows + j0 * base->dim, &d, queries, &d, &zero, ip, &ny);
  }
}

/* Seconds each contender spent, summed over interleaved rounds. */
typedef struct timings {
  double strata, faiss, sgemm;
} timings;

#define ADD_ROUNDS 3
#define SINGLE_CHUNK 50

/* Loads the base into a fresh store and a fresh index ADD_ROUNDS times,
 * alternating, and keeps the fastest round of each; the last store and
 * index stay loaded.  Returns 0, or -1 with a message. */
static int measure_add(const dataset *base, strata_vector_store *vs,
                       strata_faiss_flat **fx, timings *best) {
  best->strata = best->faiss = 1e300;
  for (int round = 0; round < ADD_ROUNDS; round++) {
    if (round > 0) {
      strata_vs_destroy(vs);
      strata_faiss_flat_free(*fx);
    }
    if (strata_vs_init(vs, base->dim) != 0) {
      fprintf(stderr, "strata_vs_init failed: out of memory\n");
      return -1;
    }
    double t0 = now_seconds();
    for (size_t i = 0; i < base->n; i++) {
      if (strata_vs_add(vs, base->rows + i * base->dim) < 0) {
        fprintf(stderr, "strata_vs_add failed at row %zu\n", i);
        return -1;
      }
    }
    double t = now_seconds() - t0;
    if (t < best->strata)
      best->strata = t;

    if (strata_faiss_flat_create(base->dim, fx) != 0) {
      fprintf(stderr, "FAISS create failed: %s\n",
              strata_faiss_last_error());
      return -1;
    }
    t0 = now_seconds();
    if (strata_faiss_flat_add(*fx, base->n, base->rows) != 0) {
      fprintf(stderr, "FAISS add failed: %s\n", strata_faiss_last_error());
      return -1;
    }
    t = now_seconds() - t0;
    if (t < best->faiss)
      best->faiss = t;
  }
  return 0;
}

/* Times the whole engine path on the same data: strata_upsert into a
 * fresh data directory (RocksDB write batches of 1,000 points, no fsync,
 * the in-memory apply and linking into the HNSW graph), then `n_single`
 * exact queries through strata_search.  Returns 0, or -1 with a
 * message. */
static int measure_engine(const dataset *base, const dataset *queries,
                          size_t n_single, size_t k, double *import_secs,
                          double *search_secs) {
  char dir[] = "/tmp/strata-exact-bench-XXXXXX";
  if (!mkdtemp(dir)) {
    perror("mkdtemp");
    return -1;
  }
  strata_db *db = NULL;
  strata_vector_config vec = {"", (uint32_t)base->dim, STRATA_DISTANCE_EUCLID};
  strata_collection_config config = {&vec, 1};
  if (strata_open(dir, NULL, &db) != STRATA_OK ||
      strata_collection_create(db, "bench", &config) != STRATA_OK) {
    fprintf(stderr, "engine set-up failed: %s\n", strata_last_error());
    strata_close(db);
    return -1;
  }
  enum { IMPORT_BATCH = 1000 };
  strata_named_vector nv[IMPORT_BATCH];
  strata_point pts[IMPORT_BATCH];
  int rc = 0;
  double t0 = now_seconds();
  for (size_t start = 0; start < base->n && rc == 0; start += IMPORT_BATCH) {
    size_t n = base->n - start < IMPORT_BATCH ? base->n - start : IMPORT_BATCH;
    for (size_t i = 0; i < n; i++) {
      nv[i] = (strata_named_vector){"", base->rows + (start + i) * base->dim,
                                    (uint32_t)base->dim};
      pts[i] = (strata_point){strata_id_num(start + i), &nv[i], 1, NULL, 0};
    }
    if (strata_upsert(db, "bench", pts, n, NULL) != STRATA_OK) {
      fprintf(stderr, "strata_upsert failed: %s\n", strata_last_error());
      rc = -1;
    }
  }
  *import_secs = now_seconds() - t0;

  t0 = now_seconds();
  for (size_t q = 0; q < n_single && rc == 0; q++) {
    strata_search_request req = {"", queries->rows + q * queries->dim,
                                 (uint32_t)queries->dim, (uint32_t)k, 0,
                                 0, 1};
    strata_records *res = NULL;
    if (strata_search(db, "bench", &req, &res) != STRATA_OK) {
      fprintf(stderr, "strata_search failed: %s\n", strata_last_error());
      rc = -1;
    }
    strata_records_free(res);
  }
  *search_secs = now_seconds() - t0;
  strata_close(db);

  char cmd[sizeof dir + 16];
  snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
  if (system(cmd) != 0)
    fprintf(stderr, "could not remove %s\n", dir);
  return rc;
}

/* Searches queries one per call, alternating strata and FAISS every
 * SINGLE_CHUNK queries so load from other processes hits both alike. */
static int measure_single(const strata_vector_store *vs,
                          strata_faiss_flat *fx, const dataset *queries,
                          size_t nq, size_t k, strata_hit *hits,
                          size_t *counts, float *dist, int64_t *ids,
                          timings *sum) {
  sum->strata = sum->faiss = 0.0;
  for (size_t q0 = 0; q0 < nq; q0 += SINGLE_CHUNK) {
    size_t q1 = q0 + SINGLE_CHUNK < nq ? q0 + SINGLE_CHUNK : nq;
    double t0 = now_seconds();
    for (size_t q = q0; q < q1; q++) {
      long n = strata_flat_search(vs, STRATA_METRIC_L2,
                                  queries->rows + q * queries->dim, k, NULL,
                                  hits + q * k);
      if (n < 0) {
        fprintf(stderr, "strata_flat_search failed: out of memory\n");
        return -1;
      }
      counts[q] = (size_t)n;
    }
    sum->strata += now_seconds() - t0;

    t0 = now_seconds();
    for (size_t q = q0; q < q1; q++) {
      if (strata_faiss_flat_search(fx, 1, queries->rows + q * queries->dim,
                                   k, dist + q * k, ids + q * k) != 0) {
        fprintf(stderr, "FAISS search failed: %s\n",
                strata_faiss_last_error());
        return -1;
      }
    }
    sum->faiss += now_seconds() - t0;
  }
  return 0;
}

/* Runs the batches, each by strata, FAISS and FAISS's sgemm calls alone,
 * in turn. */
static int measure_batches(const strata_vector_store *vs,
                           strata_faiss_flat *fx, const dataset *base,
                           const dataset *queries, const options *o,
                           strata_hit *hits, size_t *counts, float *dist,
                           int64_t *ids, float *ip, timings *sum) {
  size_t k = o->k;
  sum->strata = sum->faiss = sum->sgemm = 0.0;
  for (size_t b = 0; b < o->batches; b++) {
    size_t first = b * o->batch_size;
    const float *batch = queries->rows + first * queries->dim;
    double t0 = now_seconds();
    if (strata_flat_search_batch_threads(vs, STRATA_METRIC_L2, batch,
                                         o->batch_size, k, hits + first * k,
                                         counts + first,
                                         (unsigned)o->threads) != 0) {
      fprintf(stderr, "strata batch search failed: out of memory or no "
              "threads\n");
      return -1;
    }
    sum->strata += now_seconds() - t0;

    t0 = now_seconds();
    if (strata_faiss_flat_search(fx, o->batch_size, batch, k,
                                 dist + first * k, ids + first * k) != 0) {
      fprintf(stderr, "FAISS search failed: %s\n", strata_faiss_last_error());
      return -1;
    }
    sum->faiss += now_seconds() - t0;

    t0 = now_seconds();
    faiss_sgemm_only(base, batch, o->batch_size, ip);
    sum->sgemm += now_seconds() - t0;
  }
  return 0;
}

int main(int argc, char **argv) {
  options o;
  if (parse_options(argc, argv, &o) != 0)
    return 2;

  char path[4096];
  dataset base = {0}, queries = {0};
  snprintf(path, sizeof path, "%s/train-images-idx3-ubyte.gz", o.data_dir);
  if (load_idx_images(path, &base) != 0)
    return 1;
  snprintf(path, sizeof path, "%s/t10k-images-idx3-ubyte.gz", o.data_dir);
  if (load_idx_images(path, &queries) != 0)
    return 1;
  if (queries.dim != base.dim) {
    fprintf(stderr, "query dimension %zu differs from base %zu\n",
            queries.dim, base.dim);
    return 1;
  }
  size_t batch_total = o.batches * o.batch_size;
  if (o.single_queries > queries.n || batch_total > queries.n) {
    fprintf(stderr, "need at most %zu queries; reduce --single or "
            "--batches\n", queries.n);
    return 2;
  }

  strata_faiss_set_omp_threads(o.threads);
  const char *blas = configure_blas(o.threads);
  const strata_kernels *kern = strata_kernels_get();

  strata_vector_store vs;
  strata_faiss_flat *fx = NULL;
  timings add;
  if (measure_add(&base, &vs, &fx, &add) != 0)
    return 1;

  size_t k = o.k;
  size_t nq_max =
      batch_total > o.single_queries ? batch_total : o.single_queries;
  strata_hit *hits = malloc(nq_max * k * sizeof *hits);
  size_t *counts = malloc(nq_max * sizeof *counts);
  float *dist = malloc(nq_max * k * sizeof *dist);
  int64_t *ids = malloc(nq_max * k * sizeof *ids);
  float *ip = malloc((size_t)1024 * o.batch_size * sizeof *ip);
  if (!hits || !counts || !dist || !ids || !ip) {
    fprintf(stderr, "out of memory for results\n");
    return 1;
  }

  /* Warm up both (lazy initialisation, thread pools). */
  strata_flat_search(&vs, STRATA_METRIC_L2, queries.rows, k, NULL, hits);
  strata_faiss_flat_search(fx, 1, queries.rows, k, dist, ids);

  timings single, batch;
  if (measure_single(&vs, fx, &queries, o.single_queries, k, hits, counts,
                     dist, ids, &single) != 0)
    return 1;
  double single_agree = agreement(hits, counts, ids, o.single_queries, k);
  if (measure_batches(&vs, fx, &base, &queries, &o, hits, counts, dist, ids,
                      ip, &batch) != 0)
    return 1;
  double batch_agree = agreement(hits, counts, ids, batch_total, k);
  double engine_import = 0, engine_search = 0;
  if (measure_engine(&base, &queries, o.single_queries, k, &engine_import,
                     &engine_search) != 0)
    return 1;

  printf("data:        Fashion-MNIST, base %zu x %zu, queries from t10k, "
         "L2, k=%zu\n", base.n, base.dim, k);
  printf("strata:      kernel set %s, batch threads %d\n", kern->name,
         o.threads);
  printf("faiss:       IndexFlatL2, OpenMP threads %d, BLAS threshold "
         "nq >= %d\n", strata_faiss_omp_threads(),
         strata_faiss_blas_threshold());
  printf("blas:        %s (threads set to %d)\n", blas, o.threads);
  printf("runs:        add best of %d; %zu single queries; %zu batches of "
         "%zu; strata and faiss interleaved\n\n",
         ADD_ROUNDS, o.single_queries, o.batches, o.batch_size);
  printf("| %-30s | %12s | %12s | %6s |\n", "measurement", "strata",
         "faiss", "ratio");
  printf("|--------------------------------|--------------|--------------|"
         "--------|\n");
  print_row("add (vectors/s)", base.n / add.strata, base.n / add.faiss);
  print_row("single query (QPS)", o.single_queries / single.strata,
            o.single_queries / single.faiss);
  print_row("import+HNSW, strata_upsert", base.n / engine_import,
            base.n / add.faiss);
  print_row("exact query, strata_search", o.single_queries / engine_search,
            o.single_queries / single.faiss);
  char label[80];
  snprintf(label, sizeof label, "batch of %zu (QPS)", o.batch_size);
  print_row(label, batch_total / batch.strata, batch_total / batch.faiss);
  snprintf(label, sizeof label, "batch of %zu, faiss sgemm only", o.batch_size);
  print_row(label, batch_total / batch.strata, batch_total / batch.sgemm);
  printf("\nratio is strata / faiss; above 1 means strata is faster.\n"
         "The strata_upsert and strata_search rows go through the public\n"
         "API: RocksDB writes (no fsync), HNSW linking and the read lock\n"
         "included; strata_search is asked for an exact search.\n"
         "\"sgemm only\" times just FAISS's BLAS calls for the same "
         "batches:\nan upper bound on any FAISS build's batch QPS with "
         "this BLAS.\n");
  printf("top-%zu agreement with FAISS ids: single %.4f, batch %.4f\n", k,
         single_agree, batch_agree);

  free(ip);
  free(ids);
  free(dist);
  free(counts);
  free(hits);
  strata_faiss_flat_free(fx);
  strata_vs_destroy(&vs);
  free(base.rows);
  free(queries.rows);
  return 0;
}
