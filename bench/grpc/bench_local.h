/*
 * Measurement helpers of grpc_bench: latency samples, the result of one
 * timed row, and the in-process search loop that gRPC rows are compared
 * against.
 */
#ifndef GRPC_BENCH_LOCAL_H
#define GRPC_BENCH_LOCAL_H

#include <stddef.h>
#include <stdint.h>

#include "bench_data.h"
#include "strata.h"

/* Latencies in microseconds. */
typedef struct samples {
  double *values;
  size_t count, cap;
} samples;

void samples_add(samples *s, double value);

/* Sorts the values in place; samples_quantile needs sorted values. */
void samples_sort(samples *s);

/* Returns the q-quantile (0 to 1) of sorted values by nearest rank, or 0
 * when there are none. */
double samples_quantile(const samples *s, double q);

/* One timed row: in-process searches or gRPC calls. */
typedef struct row_result {
  double qps;
  double p50, p99, p999; /* latency in microseconds */
  /* Cores used (CPU seconds per second of wall time) by the searching
   * threads (in-process) or the client process (gRPC), by the whole
   * server process, and by its strata-worker threads.  In-process rows
   * leave the server fields at 0. */
  double client_cpu, server_cpu, worker_cpu;
  double cpu_us_per_op; /* CPU time of both processes per operation */
  double server_us_per_op; /* the server process's part of it */
  size_t operations;
  unsigned long errors;
} row_result;

/* Runs strata_search() in a closed loop on `threads` threads for
 * `seconds`, cycling through the queries, and fills *out.  The CPU time
 * is that of the searching threads alone. */
void bench_run_local(strata_db *db, const matrix *queries, uint32_t k,
                     uint32_t ef, int threads, double seconds,
                     row_result *out);

double bench_now(void);

#endif
