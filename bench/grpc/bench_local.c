/*
 * Latency samples and the in-process search loop of grpc_bench.
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include "bench_local.h"

/* Upper bound of --server-threads, and so of in-process threads. */
#define MAX_LOCAL_THREADS 256

void samples_add(samples *s, double value) {
  if (s->count == s->cap) {
    s->cap = s->cap ? s->cap * 2 : 4096;
    s->values = realloc(s->values, s->cap * sizeof *s->values);
    if (s->values == NULL) {
      fprintf(stderr, "grpc_bench: out of memory\n");
      exit(1);
    }
  }
  s->values[s->count++] = value;
}

static int compare_double(const void *a, const void *b) {
  double x = *(const double *)a, y = *(const double *)b;
  return (x > y) - (x < y);
}

void samples_sort(samples *s) {
  if (s->count > 0)
    qsort(s->values, s->count, sizeof *s->values, compare_double);
}

double samples_quantile(const samples *s, double q) {
  if (s->count == 0)
    return 0;
  size_t rank = (size_t)(q * (double)s->count);
  if (rank >= s->count)
    rank = s->count - 1;
  return s->values[rank];
}

double bench_now(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

static double thread_cpu_seconds(void) {
  struct timespec t;
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &t);
  return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

typedef struct local_worker {
  strata_db *db;
  const matrix *queries;
  uint32_t k, ef;
  size_t first_query;
  double until;
  samples latencies;
  double cpu_seconds;
} local_worker;

static void *local_main(void *arg) {
  local_worker *w = arg;
  const matrix *queries = w->queries;
  double cpu_start = thread_cpu_seconds();
  for (size_t i = w->first_query; bench_now() < w->until; i++) {
    strata_search_request request = {
        .vector_name = "",
        .query = queries->data + (i % queries->rows) * queries->dim,
        .dim = queries->dim,
        .k = w->k,
        .ef = w->ef};
    strata_records *hits = NULL;
    double start = bench_now();
    if (strata_search(w->db, BENCH_COLLECTION, &request, &hits) != STRATA_OK)
      bench_fail_strata("search");
    samples_add(&w->latencies, (bench_now() - start) * 1e6);
    strata_records_free(hits);
  }
  w->cpu_seconds = thread_cpu_seconds() - cpu_start;
  return NULL;
}

void bench_run_local(strata_db *db, const matrix *queries, uint32_t k,
                     uint32_t ef, int threads, double seconds,
                     row_result *out) {
  local_worker workers[MAX_LOCAL_THREADS];
  pthread_t ids[MAX_LOCAL_THREADS];
  samples all = {0};
  double cpu = 0;

  if (threads < 1 || threads > MAX_LOCAL_THREADS) {
    fprintf(stderr, "grpc_bench: %d in-process threads is out of range 1 to "
                    "%d\n",
            threads, MAX_LOCAL_THREADS);
    exit(1);
  }
  double start = bench_now();
  for (int t = 0; t < threads; t++) {
    /* Threads start at different queries, so they do not search in
     * lockstep. */
    workers[t] = (local_worker){.db = db,
                                .queries = queries,
                                .k = k,
                                .ef = ef,
                                .first_query = (size_t)t * 7919,
                                .until = start + seconds};
    if (pthread_create(&ids[t], NULL, local_main, &workers[t]) != 0) {
      fprintf(stderr, "grpc_bench: cannot start a search thread\n");
      exit(1);
    }
  }
  for (int t = 0; t < threads; t++) {
    pthread_join(ids[t], NULL);
    for (size_t i = 0; i < workers[t].latencies.count; i++)
      samples_add(&all, workers[t].latencies.values[i]);
    free(workers[t].latencies.values);
    cpu += workers[t].cpu_seconds;
  }
  double elapsed = bench_now() - start;

  samples_sort(&all);
  *out = (row_result){.qps = (double)all.count / elapsed,
                      .p50 = samples_quantile(&all, 0.5),
                      .p99 = samples_quantile(&all, 0.99),
                      .p999 = samples_quantile(&all, 0.999),
                      .client_cpu = cpu / elapsed,
                      .cpu_us_per_op =
                          all.count > 0 ? cpu * 1e6 / (double)all.count : 0,
                      .operations = all.count};
  free(all.values);
}
