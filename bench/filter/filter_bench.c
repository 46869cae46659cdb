/*
 * filter_bench: filtered search on GloVe-100 with synthetic payloads.
 *
 * Every base vector gets a payload of three fields, drawn with a fixed
 * seed:
 *
 *   "tag":        a keyword, "t000" to "t999", Zipf-distributed with
 *                 exponent ZIPF_EXPONENT ("t000" the most frequent);
 *   "price":      an integer, uniform in [0, PRICE_RANGE);
 *   "created_at": an RFC 3339 datetime, uniform over 2020 to 2024.
 *
 * For each target selectivity (50%, 10%, 1%, 0.1%, 0.01%) the bench
 * builds four filters of the kinds users write: a keyword match or match
 * any on "tag", a price range, a created_at range, and all three
 * combined.  It picks their values from the generated payloads so that
 * the matching count is within 20% of the target, and prints the
 * measured selectivity.  Each filter runs twice: with no payload index
 * and with indexes on the three fields (dropped and created between the
 * passes).
 *
 * Recall@10 is measured against the exact filtered top 10, which the
 * bench computes by brute force over the matching points from its own
 * copy of the payloads and vectors, not through Strata.  Strata's
 * strata_count_filtered() must agree with the bench's count, else the
 * bench stops.
 *
 * QPS is queries per CPU-second of the querying thread, one query at a
 * time, as in bench/hnsw: on a shared machine wall time also counts the
 * time spent waiting for a core.  Latency percentiles are per-query CPU
 * time too.  All filtered searches use the ef at which the unfiltered
 * search first reaches recall 0.95 in a sweep (or -e).
 *
 * FAISS comparison: hnswlib 0.6.2 (Debian libhnswlib-dev) has no filter
 * functor, so the bench builds a FAISS 1.7.3 IndexHNSWFlat with the same
 * m and ef_construct and searches it with an IDSelectorBitmap of the
 * matching points (bench/faiss_shim.h).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "faiss_shim.h"
#include "strata.h"

#define COLLECTION "glove"
#define DIM_MAX 4096
#define K 10
#define N_TAGS 1000
#define ZIPF_EXPONENT 1.1
#define PRICE_RANGE 1000000
#define DATE_FIRST 1577836800LL /* 2020-01-01T00:00:00Z */
#define DATE_SPAN 157852800LL   /* seconds to 2025-01-01T00:00:00Z */
#define SEED 20261204u
#define HNSW_M 16
#define HNSW_EF_CONSTRUCT 100
#define UPSERT_BATCH 1000
#define RECALL_TARGET 0.95

static const double selectivities[] = {0.5, 0.1, 0.01, 0.001, 0.0001};
#define N_SELECTIVITIES (sizeof selectivities / sizeof selectivities[0])

enum { KIND_KEYWORD, KIND_PRICE, KIND_DATE, KIND_COMBINED, N_KINDS };
static const char *const kind_names[N_KINDS] = {"keyword", "price range",
                                                "date range", "combined"};

/* ------------------------------------------------------------------ */
/* Utilities                                                            */

static void die(const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  fprintf(stderr, "filter_bench: ");
  vfprintf(stderr, fmt, ap);
  fprintf(stderr, "\n");
  va_end(ap);
  exit(1);
}

static void check(strata_status st, const char *what) {
  if (st != STRATA_OK)
    die("%s failed: %s: %s", what, strata_strerror(st), strata_last_error());
}

static void *xmalloc(size_t n) {
  void *p = malloc(n ? n : 1);
  if (!p)
    die("out of memory allocating %zu bytes", n);
  return p;
}

static void *xcalloc(size_t n, size_t size) {
  void *p = calloc(n ? n : 1, size);
  if (!p)
    die("out of memory allocating %zu x %zu bytes", n, size);
  return p;
}

static double wall_now(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static double cpu_now(void) {
  struct timespec ts;
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

/* splitmix64: a small generator with a fixed seed, so that payloads and
 * filter values are the same in every run. */
static uint64_t rng_state = SEED;
static uint64_t rng_next(void) {
  uint64_t z = (rng_state += 0x9e3779b97f4a7c15ULL);
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
  return z ^ (z >> 31);
}
static double rng_unit(void) { return (double)(rng_next() >> 11) * 0x1p-53; }

/* ------------------------------------------------------------------ */
/* Data                                                                 */

typedef struct matrix {
  float *rows;
  size_t n, dim;
} matrix;

/* Reads up to `max` vectors of an fvecs file (per vector a little-endian
 * int32 dimension, then that many float32) and normalises each, as
 * Strata does on insert for Cosine. */
static matrix load_fvecs(const char *path, size_t max) {
  FILE *f = fopen(path, "rb");
  if (!f)
    die("cannot open %s: %s", path, strerror(errno));
  matrix m = {NULL, 0, 0};
  size_t cap = 0;
  int32_t dim;
  while (m.n < max && fread(&dim, 4, 1, f) == 1) {
    if (dim <= 0 || dim > DIM_MAX || (m.dim && (size_t)dim != m.dim))
      die("%s: invalid or inconsistent dimension %d", path, (int)dim);
    m.dim = (size_t)dim;
    if (m.n == cap) {
      cap = cap ? cap * 2 : 4096;
      m.rows = realloc(m.rows, cap * m.dim * sizeof *m.rows);
      if (!m.rows)
        die("out of memory reading %s", path);
    }
    float *row = m.rows + m.n * m.dim;
    if (fread(row, sizeof *row, m.dim, f) != m.dim)
      die("%s is truncated", path);
    double norm = 0;
    for (size_t i = 0; i < m.dim; i++)
      norm += (double)row[i] * row[i];
    float scale = norm > 0 ? (float)(1 / sqrt(norm)) : 0.0f;
    for (size_t i = 0; i < m.dim; i++)
      row[i] *= scale;
    m.n++;
  }
  fclose(f);
  if (m.n == 0)
    die("no vectors in %s", path);
  return m;
}

/* The payload fields of every base point. */
typedef struct payloads {
  uint16_t *tag;      /* Zipf rank, 0 most frequent */
  int32_t *price;     /* [0, PRICE_RANGE) */
  int64_t *date;      /* seconds since 1970 */
  size_t tag_count[N_TAGS];
  size_t n;
} payloads;

static payloads make_payloads(size_t n) {
  payloads p = {xmalloc(n * sizeof *p.tag), xmalloc(n * sizeof *p.price),
                xmalloc(n * sizeof *p.date), {0}, n};
  double cdf[N_TAGS], total = 0;
  for (int r = 0; r < N_TAGS; r++)
    cdf[r] = total += pow(r + 1, -ZIPF_EXPONENT);
  for (size_t i = 0; i < n; i++) {
    double u = rng_unit() * total;
    int lo = 0, hi = N_TAGS - 1;
    while (lo < hi) {
      int mid = (lo + hi) / 2;
      if (cdf[mid] < u)
        lo = mid + 1;
      else
        hi = mid;
    }
    p.tag[i] = (uint16_t)lo;
    p.tag_count[lo]++;
    p.price[i] = (int32_t)(rng_next() % PRICE_RANGE);
    p.date[i] = DATE_FIRST + (int64_t)(rng_next() % DATE_SPAN);
  }
  return p;
}

static void format_date(int64_t seconds, char *buf, size_t size) {
  time_t t = (time_t)seconds;
  struct tm tm;
  gmtime_r(&t, &tm);
  strftime(buf, size, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

static int format_payload(const payloads *p, size_t i, char *buf,
                          size_t size) {
  char date[32];
  format_date(p->date[i], date, sizeof date);
  return snprintf(buf, size,
                  "{\"tag\":\"t%03u\",\"price\":%d,\"created_at\":\"%s\"}",
                  (unsigned)p->tag[i], (int)p->price[i], date);
}

/* ------------------------------------------------------------------ */
/* Filters                                                              */

/* A conjunction of up to three parts.  An absent part matches all. */
typedef struct bench_filter {
  int kind;
  double target;
  uint8_t tags[N_TAGS]; /* has_tags: the tags that match */
  int has_tags, has_price, has_date;
  int64_t price_lo, price_hi; /* gte, lt */
  int64_t date_lo, date_hi;   /* gte, lt */
  uint32_t *points;           /* matching points, ascending */
  size_t n_points;
  uint8_t *bitmap;            /* the same as a bitmap, for FAISS */
  char *json;
} bench_filter;

static int filter_matches(const bench_filter *f, const payloads *p,
                          size_t i) {
  if (f->has_tags && !f->tags[p->tag[i]])
    return 0;
  if (f->has_price && (p->price[i] < f->price_lo || p->price[i] >= f->price_hi))
    return 0;
  if (f->has_date && (p->date[i] < f->date_lo || p->date[i] >= f->date_hi))
    return 0;
  return 1;
}

/* Chooses tags whose counts (restricted to `among`, or all points when
 * NULL) add up to about `want`.  That is one tag when one is within 10%,
 * else the largest tags that still fit, picked greedily. */
static void pick_tags(bench_filter *f, const payloads *p, const uint8_t *among,
                      double want) {
  size_t count[N_TAGS] = {0};
  for (size_t i = 0; i < p->n; i++)
    if (!among || among[i])
      count[p->tag[i]]++;
  memset(f->tags, 0, sizeof f->tags);
  f->has_tags = 1;
  int best = -1;
  for (int r = 0; r < N_TAGS; r++)
    if (count[r] > 0 && fabs((double)count[r] - want) <= 0.1 * want &&
        (best < 0 || fabs((double)count[r] - want) <
                         fabs((double)count[best] - want)))
      best = r;
  if (best >= 0) {
    f->tags[best] = 1;
    return;
  }
  double left = want;
  for (int r = 0; r < N_TAGS && left > 0.02 * want; r++)
    if (count[r] > 0 && (double)count[r] <= left * 1.02) {
      f->tags[r] = 1;
      left -= (double)count[r];
    }
}

static int compare_i64(const void *a, const void *b) {
  int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
  return (x > y) - (x < y);
}

/* Chooses [lo, hi) over `values` of the points in `among` (NULL: all) so
 * that about `want` of them fall in it, starting at a random rank. */
static void pick_range(const payloads *p, const uint8_t *among,
                       const int64_t *values, double want, int64_t *lo,
                       int64_t *hi, int64_t upper) {
  int64_t *sorted = xmalloc(p->n * sizeof *sorted);
  size_t n = 0;
  for (size_t i = 0; i < p->n; i++)
    if (!among || among[i])
      sorted[n++] = values[i];
  qsort(sorted, n, sizeof *sorted, compare_i64);
  size_t take = (size_t)llround(want);
  if (take < 1)
    take = 1;
  if (take > n)
    take = n;
  size_t start = n > take ? (size_t)(rng_next() % (n - take + 1)) : 0;
  *lo = sorted[start];
  *hi = start + take < n ? sorted[start + take] : upper;
  free(sorted);
}

static char *filter_json(const bench_filter *f) {
  size_t cap = 64 + N_TAGS * 8, len = 0;
  char *s = xmalloc(cap + 256);
  len += (size_t)sprintf(s + len, "{\"must\":[");
  int first = 1;
  if (f->has_tags) {
    int n = 0, only = -1;
    for (int r = 0; r < N_TAGS; r++)
      if (f->tags[r])
        n++, only = r;
    if (n == 1) {
      len += (size_t)sprintf(s + len,
                             "{\"key\":\"tag\",\"match\":{\"value\":\"t%03d\"}}",
                             only);
    } else {
      len += (size_t)sprintf(s + len, "{\"key\":\"tag\",\"match\":{\"any\":[");
      int comma = 0;
      for (int r = 0; r < N_TAGS; r++)
        if (f->tags[r]) {
          len += (size_t)sprintf(s + len, "%s\"t%03d\"", comma ? "," : "", r);
          comma = 1;
        }
      len += (size_t)sprintf(s + len, "]}}");
    }
    first = 0;
  }
  if (f->has_price) {
    len += (size_t)sprintf(
        s + len, "%s{\"key\":\"price\",\"range\":{\"gte\":%lld,\"lt\":%lld}}",
        first ? "" : ",", (long long)f->price_lo, (long long)f->price_hi);
    first = 0;
  }
  if (f->has_date) {
    char lo[32], hi[32];
    format_date(f->date_lo, lo, sizeof lo);
    format_date(f->date_hi, hi, sizeof hi);
    len += (size_t)sprintf(
        s + len,
        "%s{\"key\":\"created_at\",\"range\":{\"gte\":\"%s\",\"lt\":\"%s\"}}",
        first ? "" : ",", lo, hi);
  }
  sprintf(s + len, "]}");
  return s;
}

static void filter_finish(bench_filter *f, const payloads *p) {
  f->points = xmalloc(p->n * sizeof *f->points);
  f->bitmap = xcalloc((p->n + 7) / 8, 1);
  f->n_points = 0;
  for (size_t i = 0; i < p->n; i++)
    if (filter_matches(f, p, i)) {
      f->points[f->n_points++] = (uint32_t)i;
      f->bitmap[i / 8] |= (uint8_t)(1u << (i % 8));
    }
  f->json = filter_json(f);
}

static void make_filter(bench_filter *f, int kind, double target,
                        const payloads *p) {
  memset(f, 0, sizeof *f);
  f->kind = kind;
  f->target = target;
  double want = target * (double)p->n;
  switch (kind) {
  case KIND_KEYWORD:
    pick_tags(f, p, NULL, want);
    break;
  case KIND_PRICE: {
    int64_t *values = xmalloc(p->n * sizeof *values);
    for (size_t i = 0; i < p->n; i++)
      values[i] = p->price[i];
    f->has_price = 1;
    pick_range(p, NULL, values, want, &f->price_lo, &f->price_hi,
               PRICE_RANGE);
    free(values);
    break;
  }
  case KIND_DATE:
    f->has_date = 1;
    pick_range(p, NULL, p->date, want, &f->date_lo, &f->date_hi,
               DATE_FIRST + DATE_SPAN);
    break;
  case KIND_COMBINED: {
    /* Each part keeps about the cube root of the target, the price range
     * last, chosen among the points the other two keep. */
    double part = cbrt(target);
    uint8_t *kept = xcalloc(p->n, 1);
    pick_tags(f, p, NULL, part * (double)p->n);
    f->has_date = 1;
    for (size_t i = 0; i < p->n; i++)
      kept[i] = f->tags[p->tag[i]];
    size_t n_kept = 0;
    for (size_t i = 0; i < p->n; i++)
      n_kept += kept[i];
    pick_range(p, kept, p->date, part * (double)n_kept, &f->date_lo,
               &f->date_hi, DATE_FIRST + DATE_SPAN);
    for (size_t i = 0; i < p->n; i++)
      kept[i] = filter_matches(f, p, i);
    int64_t *values = xmalloc(p->n * sizeof *values);
    for (size_t i = 0; i < p->n; i++)
      values[i] = p->price[i];
    f->has_price = 1;
    pick_range(p, kept, values, want, &f->price_lo, &f->price_hi,
               PRICE_RANGE);
    free(values);
    free(kept);
    break;
  }
  }
  filter_finish(f, p);
}

/* ------------------------------------------------------------------ */
/* Exact answers                                                        */

typedef struct top10 {
  uint32_t ids[K];
  float scores[K];
  size_t n;
} top10;

static void top_push(top10 *t, uint32_t id, float score) {
  if (t->n == K && score <= t->scores[K - 1])
    return;
  size_t at = t->n < K ? t->n++ : K - 1;
  while (at > 0 && t->scores[at - 1] < score) {
    t->scores[at] = t->scores[at - 1];
    t->ids[at] = t->ids[at - 1];
    at--;
  }
  t->scores[at] = score;
  t->ids[at] = id;
}

static float dot(const float *a, const float *b, size_t dim) {
  float s = 0;
#pragma omp simd reduction(+ : s)
  for (size_t i = 0; i < dim; i++)
    s += a[i] * b[i];
  return s;
}

#define QUERY_BLOCK 32

/* The exact top 10 of every query among `points` (NULL: all base
 * points).  Queries go in blocks so that each base vector is read once
 * per block. */
static void exact_top10(const matrix *base, const matrix *queries,
                        const uint32_t *points, size_t n_points, top10 *out) {
  size_t n = points ? n_points : base->n;
  for (size_t q0 = 0; q0 < queries->n; q0 += QUERY_BLOCK) {
    size_t q1 = q0 + QUERY_BLOCK < queries->n ? q0 + QUERY_BLOCK : queries->n;
    for (size_t q = q0; q < q1; q++)
      out[q].n = 0;
    for (size_t j = 0; j < n; j++) {
      uint32_t id = points ? points[j] : (uint32_t)j;
      const float *v = base->rows + (size_t)id * base->dim;
      for (size_t q = q0; q < q1; q++)
        top_push(&out[q], id, dot(queries->rows + q * queries->dim, v,
                                  base->dim));
    }
  }
}

/* Fraction of the exact top 10 found.  A hit whose exact score ties the
 * 10th exact score counts as found, because either may be returned. */
static double recall_of(const matrix *base, const float *query,
                        const top10 *truth, const int64_t *ids, size_t n) {
  if (truth->n == 0)
    return 1;
  float kth = truth->scores[truth->n - 1];
  size_t found = 0;
  for (size_t i = 0; i < n && i < truth->n; i++) {
    if (ids[i] < 0)
      continue;
    int hit = 0;
    for (size_t j = 0; j < truth->n && !hit; j++)
      hit = truth->ids[j] == (uint32_t)ids[i];
    if (!hit)
      hit = dot(query, base->rows + (size_t)ids[i] * base->dim, base->dim) >=
            kth - 1e-6f;
    found += (size_t)hit;
  }
  return (double)found / (double)truth->n;
}

/* ------------------------------------------------------------------ */
/* Runs                                                                 */

typedef struct run_result {
  double qps, p50_us, p99_us, recall;
  char plan[32];
  uint64_t matching;
} run_result;

static int compare_double(const void *a, const void *b) {
  double x = *(const double *)a, y = *(const double *)b;
  return (x > y) - (x < y);
}

static void percentiles(double *seconds, size_t n, run_result *r) {
  qsort(seconds, n, sizeof *seconds, compare_double);
  r->p50_us = seconds[n / 2] * 1e6;
  r->p99_us = seconds[(n * 99) / 100 < n ? (n * 99) / 100 : n - 1] * 1e6;
}

/* Reads "strategy" and "matching" out of an explain object. */
static void read_plan(const char *explain, run_result *r) {
  const char *s = strstr(explain, "\"strategy\":\"");
  snprintf(r->plan, sizeof r->plan, "?");
  if (s) {
    s += strlen("\"strategy\":\"");
    size_t len = strcspn(s, "\"");
    snprintf(r->plan, sizeof r->plan, "%.*s", (int)len, s);
  }
  const char *m = strstr(explain, "\"matching\":");
  r->matching = m ? strtoull(m + strlen("\"matching\":"), NULL, 10) : 0;
}

static run_result run_strata(strata_db *db, const matrix *base,
                             const matrix *queries, size_t n_queries,
                             const strata_filter *filter, const top10 *truth,
                             uint32_t ef) {
  run_result r = {0};
  strata_search_request req = {0};
  req.dim = (uint32_t)queries->dim;
  req.k = K;
  req.ef = ef;
  req.filter = filter;
  req.query = queries->rows;
  char *explain = NULL;
  check(strata_search_explain(db, COLLECTION, &req, &explain), "explain");
  read_plan(explain, &r);
  free(explain);

  double *seconds = xmalloc(n_queries * sizeof *seconds);
  double total = 0, recall = 0;
  for (size_t q = 0; q < n_queries; q++) {
    req.query = queries->rows + q * queries->dim;
    strata_records *hits = NULL;
    double t0 = cpu_now();
    check(strata_search(db, COLLECTION, &req, &hits), "search");
    seconds[q] = cpu_now() - t0;
    total += seconds[q];
    int64_t ids[K];
    for (size_t i = 0; i < hits->count && i < K; i++)
      ids[i] = (int64_t)hits->items[i].id.num;
    recall += recall_of(base, req.query, &truth[q], ids, hits->count);
    strata_records_free(hits);
  }
  r.qps = (double)n_queries / total;
  r.recall = recall / (double)n_queries;
  percentiles(seconds, n_queries, &r);
  free(seconds);
  return r;
}

static run_result run_faiss(strata_faiss_hnsw *index,
                            const matrix *base, const matrix *queries,
                            size_t n_queries, const bench_filter *filter,
                            const top10 *truth, int ef) {
  run_result r = {0};
  snprintf(r.plan, sizeof r.plan, "faiss");
  double *seconds = xmalloc(n_queries * sizeof *seconds);
  double total = 0, recall = 0;
  for (size_t q = 0; q < n_queries; q++) {
    const float *query = queries->rows + q * queries->dim;
    float scores[K];
    int64_t ids[K];
    double t0 = cpu_now();
    int rc = strata_faiss_hnsw_search_selected(
        index, query, K, (size_t)ef, filter ? filter->bitmap : NULL, base->n,
        scores, ids);
    seconds[q] = cpu_now() - t0;
    if (rc != 0)
      die("FAISS search failed: %s", strata_faiss_last_error());
    total += seconds[q];
    recall += recall_of(base, query, &truth[q], ids, K);
  }
  r.qps = (double)n_queries / total;
  r.recall = recall / (double)n_queries;
  percentiles(seconds, n_queries, &r);
  free(seconds);
  return r;
}

/* ------------------------------------------------------------------ */
/* Setup                                                                */

static int collection_exists(strata_db *db) {
  char **names = NULL;
  check(strata_collection_list(db, &names), "collection list");
  int found = 0;
  for (char **n = names; *n; n++)
    found |= strcmp(*n, COLLECTION) == 0;
  strata_names_free(names);
  return found;
}

static void load_collection(strata_db *db, const matrix *base,
                            const payloads *p) {
  if (collection_exists(db))
    check(strata_collection_drop(db, COLLECTION), "collection drop");
  strata_vector_config vc = {"", (uint32_t)base->dim, STRATA_DISTANCE_COSINE,
                             {HNSW_M, HNSW_EF_CONSTRUCT, 0}};
  strata_collection_config cc = {&vc, 1};
  check(strata_collection_create(db, COLLECTION, &cc), "collection create");

  strata_point *points = xcalloc(UPSERT_BATCH, sizeof *points);
  strata_named_vector *vectors = xcalloc(UPSERT_BATCH, sizeof *vectors);
  char *text = xmalloc((size_t)UPSERT_BATCH * 128);
  double t0 = wall_now();
  for (size_t start = 0; start < base->n; start += UPSERT_BATCH) {
    size_t n = base->n - start < UPSERT_BATCH ? base->n - start : UPSERT_BATCH;
    for (size_t i = 0; i < n; i++) {
      size_t id = start + i;
      char *payload = text + i * 128;
      format_payload(p, id, payload, 128);
      vectors[i] = (strata_named_vector){
          "", base->rows + id * base->dim, (uint32_t)base->dim};
      points[i] = (strata_point){strata_id_num(id), &vectors[i], 1, payload,
                                 0};
    }
    check(strata_upsert(db, COLLECTION, points, n, NULL), "upsert");
  }
  printf("loaded %zu points with payloads in %.1f s (HNSW m %d, "
         "ef_construct %d)\n",
         base->n, wall_now() - t0, HNSW_M, HNSW_EF_CONSTRUCT);
  free(points);
  free(vectors);
  free(text);
}

static const char *const index_fields[] = {"tag", "price", "created_at"};
static const char *const index_types[] = {"keyword", "integer", "datetime"};

static void drop_indexes(strata_db *db) {
  for (size_t i = 0; i < 3; i++) {
    strata_status st = strata_field_index_drop(db, COLLECTION,
                                               index_fields[i], NULL);
    if (st != STRATA_ERR_NOT_FOUND)
      check(st, "payload index drop");
  }
}

static void create_indexes(strata_db *db) {
  double t0 = wall_now();
  for (size_t i = 0; i < 3; i++)
    check(strata_field_index_create(db, COLLECTION, index_fields[i],
                                    index_types[i], NULL),
          "payload index create");
  printf("created payload indexes (tag keyword, price integer, created_at "
         "datetime) in %.1f s\n",
         wall_now() - t0);
}

static strata_faiss_hnsw *faiss_index(const char *dir, const matrix *base,
                                      int reuse) {
  char path[4096];
  snprintf(path, sizeof path, "%s/faiss_hnsw.index", dir);
  strata_faiss_hnsw *index = NULL;
  struct stat st;
  if (reuse && stat(path, &st) == 0) {
    if (strata_faiss_hnsw_read(path, base->dim, HNSW_M, HNSW_EF_CONSTRUCT, 1,
                               base->n, base->rows, &index) == 0)
      return index;
    printf("rebuilding the FAISS index: %s\n", strata_faiss_last_error());
  }
  double t0 = wall_now();
  if (strata_faiss_hnsw_create(base->dim, HNSW_M, HNSW_EF_CONSTRUCT, 1,
                               &index) != 0 ||
      strata_faiss_hnsw_add(index, base->n, base->rows) != 0)
    die("FAISS build failed: %s", strata_faiss_last_error());
  printf("built FAISS IndexHNSWFlat in %.1f s on %d OpenMP thread(s)\n",
         wall_now() - t0, strata_faiss_omp_threads());
  if (strata_faiss_hnsw_write(index, path) != 0)
    die("cannot save %s: %s", path, strata_faiss_last_error());
  return index;
}

/* ------------------------------------------------------------------ */
/* Main                                                                 */

static void usage(void) {
  fprintf(stderr,
          "usage: filter_bench [-n BASE] [-q QUERIES] [-u QUERIES] [-e EF] "
          "[-r] [-F] GLOVE_DIR DATA_DIR\n"
          "  GLOVE_DIR  holds base.fvecs and query.fvecs "
          "(bench/hnsw/glove_to_fvecs.js)\n"
          "  DATA_DIR   Strata data directory for the collection; created "
          "when missing\n"
          "  -n BASE    base vectors to load (default: all)\n"
          "  -q QUERIES queries per indexed run (default 1000)\n"
          "  -u QUERIES queries per run without a payload index "
          "(default: as -q)\n"
          "  -e EF      search beam width (default: the smallest of the "
          "sweep that\n"
          "             gives unfiltered recall@10 >= %.2f)\n"
          "  -r         reuse the collection and FAISS index in DATA_DIR\n"
          "  -F         skip the FAISS comparison\n",
          RECALL_TARGET);
  exit(2);
}

static void print_header(void) {
  printf("%-12s %7s %9s %9s %-15s %8s %9s %9s %7s %8s\n", "filter", "target",
         "measured", "matching", "plan", "QPS", "p50 us", "p99 us",
         "recall", "vs unf.");
}

static void print_row(const bench_filter *f, size_t n, const run_result *r,
                      double unfiltered_qps) {
  printf("%-12s %6.2f%% %8.3f%% %9zu %-15s %8.0f %9.1f %9.1f %7.4f %7.2fx\n",
         kind_names[f->kind], f->target * 100,
         100.0 * (double)f->n_points / (double)n, f->n_points, r->plan,
         r->qps, r->p50_us, r->p99_us, r->recall, r->qps / unfiltered_qps);
  fflush(stdout);
}

int main(int argc, char **argv) {
  size_t n_base = SIZE_MAX, n_queries = 1000, n_queries_unindexed = 0;
  uint32_t fixed_ef = 0;
  int reuse = 0, with_faiss = 1, opt;
  while ((opt = getopt(argc, argv, "n:q:u:e:rF")) != -1) {
    switch (opt) {
    case 'n':
      n_base = strtoull(optarg, NULL, 10);
      break;
    case 'q':
      n_queries = strtoull(optarg, NULL, 10);
      break;
    case 'u':
      n_queries_unindexed = strtoull(optarg, NULL, 10);
      break;
    case 'e':
      fixed_ef = (uint32_t)strtoul(optarg, NULL, 10);
      break;
    case 'r':
      reuse = 1;
      break;
    case 'F':
      with_faiss = 0;
      break;
    default:
      usage();
    }
  }
  if (argc - optind != 2 || n_base == 0 || n_queries == 0)
    usage();
  const char *glove = argv[optind], *dir = argv[optind + 1];

  char path[4096];
  snprintf(path, sizeof path, "%s/base.fvecs", glove);
  matrix base = load_fvecs(path, n_base);
  snprintf(path, sizeof path, "%s/query.fvecs", glove);
  matrix queries = load_fvecs(path, n_queries);
  n_queries = queries.n;
  if (n_queries_unindexed == 0 || n_queries_unindexed > n_queries)
    n_queries_unindexed = n_queries;
  if (queries.dim != base.dim)
    die("queries have %zu dimensions, base vectors %zu", queries.dim,
        base.dim);
  payloads p = make_payloads(base.n);
  printf("GloVe: %zu base vectors, %zu queries, %zu dimensions, cosine\n",
         base.n, queries.n, base.dim);
  printf("payload: tag Zipf(%.1f) over %d keywords (top tag %.2f%%), price "
         "uniform in [0, %d), created_at uniform over 2020-2024; seed %u\n",
         ZIPF_EXPONENT, N_TAGS, 100.0 * (double)p.tag_count[0] / (double)p.n,
         PRICE_RANGE, SEED);

  /* The database, loaded unless reused. */
  strata_open_options oo = {1, 0, NULL, NULL, 0};
  strata_db *db = NULL;
  check(strata_open(dir, &oo, &db), "open");
  uint64_t count = 0;
  if (reuse && collection_exists(db))
    check(strata_count(db, COLLECTION, &count), "count");
  if (!reuse || count != base.n)
    load_collection(db, &base, &p);
  else
    printf("reusing collection \"%s\" in %s\n", COLLECTION, dir);

  /* Filters, checked against Strata's count. */
  bench_filter filters[N_SELECTIVITIES * N_KINDS];
  strata_filter *parsed[N_SELECTIVITIES * N_KINDS];
  size_t n_filters = 0;
  for (size_t s = 0; s < N_SELECTIVITIES; s++)
    for (int kind = 0; kind < N_KINDS; kind++) {
      bench_filter *f = &filters[n_filters];
      make_filter(f, kind, selectivities[s], &p);
      check(strata_filter_parse_json(f->json, strlen(f->json),
                                     &parsed[n_filters]),
            "filter parse");
      n_filters++;
    }

  /* Exact answers. */
  double t0 = wall_now();
  top10 *truth_all = xmalloc(n_queries * sizeof *truth_all);
  exact_top10(&base, &queries, NULL, 0, truth_all);
  top10 *truth = xmalloc(n_filters * n_queries * sizeof *truth);
  for (size_t i = 0; i < n_filters; i++)
    exact_top10(&base, &queries, filters[i].points, filters[i].n_points,
                truth + i * n_queries);
  printf("exact top 10 of every query and filter in %.1f s\n\n",
         wall_now() - t0);

  /* Unfiltered: the ef sweep. */
  static const uint32_t efs[] = {10,  16,  24,  32,  48,  64,  96,
                                 128, 192, 256, 384, 512, 1024};
  uint32_t ef = fixed_ef;
  run_result unfiltered = {0};
  printf("unfiltered search, %zu queries, k %d\n", n_queries, K);
  printf("%6s %8s %9s %9s %7s %-10s\n", "ef", "QPS", "p50 us", "p99 us",
         "recall", "plan");
  for (size_t i = 0; i < sizeof efs / sizeof efs[0]; i++) {
    uint32_t e = fixed_ef ? fixed_ef : efs[i];
    unfiltered =
        run_strata(db, &base, &queries, n_queries, NULL, truth_all, e);
    printf("%6u %8.0f %9.1f %9.1f %7.4f %-10s\n", e, unfiltered.qps,
           unfiltered.p50_us, unfiltered.p99_us, unfiltered.recall,
           unfiltered.plan);
    ef = e;
    if (fixed_ef || unfiltered.recall >= RECALL_TARGET)
      break;
  }
  printf("filtered searches use ef %u (unfiltered recall %.4f, %.0f QPS)\n\n",
         ef, unfiltered.recall, unfiltered.qps);

  /* Filtered, without and with payload indexes. */
  for (int pass = 0; pass < 2; pass++) {
    size_t nq = pass == 0 ? n_queries_unindexed : n_queries;
    if (pass == 0)
      drop_indexes(db);
    else
      create_indexes(db);
    printf("%s payload index, %zu queries per filter\n",
           pass == 0 ? "without a" : "with a", nq);
    print_header();
    for (size_t i = 0; i < n_filters; i++) {
      uint64_t strata_count_value = 0;
      check(strata_count_filtered(db, COLLECTION, parsed[i],
                                  &strata_count_value),
            "count filtered");
      if (strata_count_value != filters[i].n_points)
        die("filter %s: Strata counts %llu matching points, the bench %zu",
            filters[i].json, (unsigned long long)strata_count_value,
            filters[i].n_points);
      run_result r = run_strata(db, &base, &queries, nq, parsed[i],
                                truth + i * n_queries, ef);
      print_row(&filters[i], base.n, &r, unfiltered.qps);
    }
    printf("\n");
  }

  /* FAISS with an IDSelectorBitmap, at the same ef. */
  if (with_faiss) {
    strata_faiss_set_omp_threads(2);
    strata_faiss_hnsw *fx = faiss_index(dir, &base, reuse);
    strata_faiss_set_omp_threads(1);
    run_result fu = run_faiss(fx, &base, &queries, n_queries, NULL, truth_all,
                              (int)ef);
    printf("FAISS 1.7.3 IndexHNSWFlat, IDSelectorBitmap, ef %u: unfiltered "
           "%.0f QPS, recall %.4f\n",
           ef, fu.qps, fu.recall);
    print_header();
    for (size_t i = 0; i < n_filters; i++) {
      run_result r = run_faiss(fx, &base, &queries, n_queries, &filters[i],
                               truth + i * n_queries, (int)ef);
      print_row(&filters[i], base.n, &r, fu.qps);
    }
    strata_faiss_hnsw_free(fx);
  }

  printf("\nfilters:\n");
  for (size_t i = 0; i < n_filters; i++) {
    printf("%-12s %6.2f%%  %s\n", kind_names[filters[i].kind],
           filters[i].target * 100, filters[i].json);
    strata_filter_free(parsed[i]);
    free(filters[i].points);
    free(filters[i].bitmap);
    free(filters[i].json);
  }
  strata_close(db);
  free(truth);
  free(truth_all);
  free(base.rows);
  free(queries.rows);
  free(p.tag);
  free(p.price);
  free(p.date);
  return 0;
}
