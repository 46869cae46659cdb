/*
 * The gRPC client of grpc_bench (see bench_client.c).
 */
#ifndef GRPC_BENCH_CLIENT_H
#define GRPC_BENCH_CLIENT_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include <grpc/grpc.h>
#include <grpc/grpc_security.h>

#include "bench_data.h"
#include "bench_local.h"

/* Upper bound of k, the neighbours per search. */
#define BENCH_MAX_K 1024
/* Upper bound of --client-threads. */
#define BENCH_MAX_CLIENT_THREADS 16

/* Settings of a gRPC row. */
typedef struct grpc_row_config {
  int port; /* of the server on 127.0.0.1 */
  grpc_channel_credentials *creds;
  int default_args;   /* channels with gRPC's default arguments */
  int client_threads; /* polling the completion queue */
  double seconds;     /* measured, after a warm-up */
  pid_t server_pid;   /* whose CPU time the row reports */
} grpc_row_config;

/* Serializes one SearchPoints request per query, with beam width `ef`
 * (0: the server's default). */
grpc_byte_buffer **bench_make_requests(uint32_t k, uint32_t ef,
                                      const matrix *queries);

void bench_free_requests(grpc_byte_buffer **requests, size_t n);

/* Sends every query once, in order, on one connection, and returns the
 * recall@k of the responses.  Adds each call's latency to `latencies` and
 * the handler time that the server reports in SearchResponse.time to
 * `handler_times`, both in microseconds.  Exits when a call fails. */
double bench_grpc_recall(int port, grpc_channel_credentials *creds,
                         int default_args, grpc_byte_buffer **requests,
                         const bench_truth *t, samples *latencies,
                         samples *handler_times);

/* Drives the server for one row with `connections` closed-loop
 * connections and fills *out, counting failed calls in out->errors.  A
 * warm-up of a tenth of the row (at least 0.5 s) is measured neither
 * for latency nor for CPU time. */
void bench_run_grpc(const grpc_row_config *config,
                    grpc_byte_buffer **requests, size_t n_requests,
                    int connections, row_result *out);

#endif
