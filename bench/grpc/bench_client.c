/*
 * The gRPC client of grpc_bench, on gRPC core's C API.  Each connection
 * is its own channel with a local subchannel pool, so that gRPC opens one
 * TCP connection per channel instead of sharing one, and keeps one
 * Points/Search call in flight (a closed loop).  All calls of a row
 * complete on one completion queue.
 */
#define _GNU_SOURCE /* pthread_setname_np */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>

#include <grpc/byte_buffer.h>
#include <grpc/byte_buffer_reader.h>
#include <grpc/grpc.h>
#include <grpc/support/alloc.h>
#include <grpc/support/time.h>

#include "bench_client.h"
#include "bench_server.h"
#include "points.pb-c.h"

typedef struct slot {
  grpc_channel *channel;
  grpc_call *call;
  double started;
  grpc_metadata_array initial_metadata, trailing_metadata;
  grpc_byte_buffer *request; /* a copy: sending consumes its slices */
  grpc_byte_buffer *response;
  grpc_status_code status;
  grpc_slice details;
  size_t next_query;
} slot;

typedef struct client {
  grpc_completion_queue *cq;
  slot *slots;
  int n_slots;
  grpc_byte_buffer **requests; /* one serialized SearchPoints per query */
  size_t n_requests;
  grpc_slice method;
  pthread_mutex_t lock;
  double measure_from, until;
  samples latencies;
  unsigned long errors;
  int in_flight;
} client;

static void start_call(client *c, slot *s) {
  grpc_op ops[6];
  memset(ops, 0, sizeof ops);
  grpc_metadata_array_init(&s->initial_metadata);
  grpc_metadata_array_init(&s->trailing_metadata);
  s->response = NULL;
  s->call = grpc_channel_create_call(s->channel, NULL, GRPC_PROPAGATE_DEFAULTS,
                                     c->cq, c->method, NULL,
                                     gpr_inf_future(GPR_CLOCK_REALTIME), NULL);
  ops[0].op = GRPC_OP_SEND_INITIAL_METADATA;
  ops[1].op = GRPC_OP_SEND_MESSAGE;
  s->request =
      grpc_byte_buffer_copy(c->requests[s->next_query++ % c->n_requests]);
  ops[1].data.send_message.send_message = s->request;
  ops[2].op = GRPC_OP_SEND_CLOSE_FROM_CLIENT;
  ops[3].op = GRPC_OP_RECV_INITIAL_METADATA;
  ops[3].data.recv_initial_metadata.recv_initial_metadata =
      &s->initial_metadata;
  ops[4].op = GRPC_OP_RECV_MESSAGE;
  ops[4].data.recv_message.recv_message = &s->response;
  ops[5].op = GRPC_OP_RECV_STATUS_ON_CLIENT;
  ops[5].data.recv_status_on_client.trailing_metadata = &s->trailing_metadata;
  ops[5].data.recv_status_on_client.status = &s->status;
  ops[5].data.recv_status_on_client.status_details = &s->details;
  s->started = bench_now();
  if (grpc_call_start_batch(s->call, ops, 6, s, NULL) != GRPC_CALL_OK) {
    fprintf(stderr, "grpc_bench: starting a call failed\n");
    exit(1);
  }
}

static void report_failure(const slot *s) {
  char *text = grpc_slice_to_c_string(s->details);
  fprintf(stderr, "grpc_bench: call failed: status %d: %s\n", (int)s->status,
          text);
  gpr_free(text);
}

/* Records a finished call and, until time is up, starts the next one on
 * the same connection.  Returns 0 when no call is left in flight. */
static int finish_call(client *c, slot *s) {
  double done = bench_now();
  int again;
  grpc_call_unref(s->call);
  grpc_byte_buffer_destroy(s->request);
  if (s->response != NULL)
    grpc_byte_buffer_destroy(s->response);
  grpc_metadata_array_destroy(&s->initial_metadata);
  grpc_metadata_array_destroy(&s->trailing_metadata);

  pthread_mutex_lock(&c->lock);
  if (s->status != GRPC_STATUS_OK || s->response == NULL) {
    c->errors++;
    if (c->errors == 1)
      report_failure(s);
  } else if (s->started >= c->measure_from) {
    samples_add(&c->latencies, (done - s->started) * 1e6);
  }
  again = done < c->until;
  if (!again)
    c->in_flight--;
  int left = c->in_flight;
  pthread_mutex_unlock(&c->lock);
  grpc_slice_unref(s->details);

  if (again)
    start_call(c, s);
  return again || left > 0;
}

static void *client_main(void *arg) {
  client *c = arg;
  pthread_setname_np(pthread_self(), "bench-client");
  for (;;) {
    grpc_event event = grpc_completion_queue_next(
        c->cq, gpr_inf_future(GPR_CLOCK_REALTIME), NULL);
    if (event.type == GRPC_QUEUE_SHUTDOWN)
      break;
    if (event.type == GRPC_OP_COMPLETE && !finish_call(c, event.tag))
      grpc_completion_queue_shutdown(c->cq);
  }
  return NULL;
}

grpc_byte_buffer **bench_make_requests(uint32_t k, uint32_t ef,
                                      const matrix *queries) {
  grpc_byte_buffer **requests = bench_malloc(queries->rows * sizeof *requests);
  Qdrant__SearchParams params = QDRANT__SEARCH_PARAMS__INIT;
  if (ef > 0) {
    params._hnsw_ef_case = QDRANT__SEARCH_PARAMS___HNSW_EF_HNSW_EF;
    params.hnsw_ef = ef;
  }
  for (size_t i = 0; i < queries->rows; i++) {
    Qdrant__SearchPoints search = QDRANT__SEARCH_POINTS__INIT;
    search.collection_name = BENCH_COLLECTION;
    search.vector = queries->data + i * queries->dim;
    search.n_vector = queries->dim;
    search.limit = k;
    search.params = &params;
    size_t size = protobuf_c_message_get_packed_size(&search.base);
    grpc_slice slice = grpc_slice_malloc(size);
    protobuf_c_message_pack(&search.base, GRPC_SLICE_START_PTR(slice));
    requests[i] = grpc_raw_byte_buffer_create(&slice, 1);
    grpc_slice_unref(slice);
  }
  return requests;
}

void bench_free_requests(grpc_byte_buffer **requests, size_t n) {
  for (size_t i = 0; i < n; i++)
    grpc_byte_buffer_destroy(requests[i]);
  free(requests);
}

/* Opens one client connection with a local subchannel pool, so that it
 * gets its own TCP connection.  Unless `default_args` is set, it also
 * turns off three features that this client does not use and that cost
 * CPU on every call.  The retry filter buffers each sent message for a
 * possible retry.  BDP probing adds ping frames.  The minimal stack
 * leaves out per-message compression and deadline checks, and these
 * calls have neither a compressed message nor a deadline. */
static grpc_channel *open_channel(int port, grpc_channel_credentials *creds,
                                  int default_args) {
  char target[64];
  snprintf(target, sizeof target, "127.0.0.1:%d", port);
  grpc_arg args[4];
  const char *keys[4] = {GRPC_ARG_USE_LOCAL_SUBCHANNEL_POOL,
                         GRPC_ARG_ENABLE_RETRIES, GRPC_ARG_HTTP2_BDP_PROBE,
                         GRPC_ARG_MINIMAL_STACK};
  const int values[4] = {1, 0, 0, 1};
  for (int i = 0; i < 4; i++) {
    args[i].type = GRPC_ARG_INTEGER;
    args[i].key = (char *)keys[i];
    args[i].value.integer = values[i];
  }
  grpc_channel_args channel_args = {default_args ? 1 : 4, args};
  return grpc_channel_create(target, creds, &channel_args);
}

double bench_grpc_recall(int port, grpc_channel_credentials *creds,
                         int default_args, grpc_byte_buffer **requests,
                         const bench_truth *t, samples *latencies,
                         samples *handler_times) {
  client c;
  memset(&c, 0, sizeof c);
  c.cq = grpc_completion_queue_create_for_next(NULL);
  c.requests = requests;
  c.n_requests = t->n_queries;
  c.method = grpc_slice_from_static_string("/qdrant.Points/Search");
  slot s;
  memset(&s, 0, sizeof s);
  s.channel = open_channel(port, creds, default_args);

  double sum = 0;
  uint64_t found[BENCH_MAX_K];
  for (size_t q = 0; q < t->n_queries; q++) {
    start_call(&c, &s);
    grpc_event event = grpc_completion_queue_next(
        c.cq, gpr_inf_future(GPR_CLOCK_REALTIME), NULL);
    samples_add(latencies, (bench_now() - s.started) * 1e6);
    if (event.type != GRPC_OP_COMPLETE || s.status != GRPC_STATUS_OK ||
        s.response == NULL) {
      report_failure(&s);
      exit(1);
    }
    grpc_byte_buffer_reader reader;
    grpc_byte_buffer_reader_init(&reader, s.response);
    grpc_slice raw = grpc_byte_buffer_reader_readall(&reader);
    grpc_byte_buffer_reader_destroy(&reader);
    Qdrant__SearchResponse *response = qdrant__search_response__unpack(
        NULL, GRPC_SLICE_LENGTH(raw), GRPC_SLICE_START_PTR(raw));
    grpc_slice_unref(raw);
    if (response == NULL) {
      fprintf(stderr, "grpc_bench: undecodable SearchResponse\n");
      exit(1);
    }
    size_t n =
        response->n_result < BENCH_MAX_K ? response->n_result : BENCH_MAX_K;
    for (size_t i = 0; i < n; i++)
      found[i] = response->result[i]->id ? response->result[i]->id->num : 0;
    sum += bench_recall(t, q, found, n);
    samples_add(handler_times, response->time * 1e6);
    qdrant__search_response__free_unpacked(response, NULL);

    grpc_call_unref(s.call);
    grpc_byte_buffer_destroy(s.request);
    grpc_byte_buffer_destroy(s.response);
    grpc_metadata_array_destroy(&s.initial_metadata);
    grpc_metadata_array_destroy(&s.trailing_metadata);
    grpc_slice_unref(s.details);
  }
  grpc_channel_destroy(s.channel);
  grpc_completion_queue_shutdown(c.cq);
  while (
      grpc_completion_queue_next(c.cq, gpr_inf_future(GPR_CLOCK_REALTIME), NULL)
          .type != GRPC_QUEUE_SHUTDOWN) {
  }
  grpc_completion_queue_destroy(c.cq);
  return sum / (double)t->n_queries;
}

static double self_cpu(void) {
  struct rusage usage;
  getrusage(RUSAGE_SELF, &usage);
  return (double)usage.ru_utime.tv_sec + (double)usage.ru_utime.tv_usec / 1e6 +
         (double)usage.ru_stime.tv_sec + (double)usage.ru_stime.tv_usec / 1e6;
}

void bench_run_grpc(const grpc_row_config *config,
                    grpc_byte_buffer **requests, size_t n_requests,
                    int connections, row_result *out) {
  client c;
  memset(&c, 0, sizeof c);
  pthread_mutex_init(&c.lock, NULL);
  c.cq = grpc_completion_queue_create_for_next(NULL);
  c.requests = requests;
  c.n_requests = n_requests;
  c.method = grpc_slice_from_static_string("/qdrant.Points/Search");
  c.n_slots = connections;
  c.slots = calloc((size_t)connections, sizeof *c.slots);
  if (c.slots == NULL) {
    fprintf(stderr, "grpc_bench: out of memory\n");
    exit(1);
  }
  for (int i = 0; i < connections; i++) {
    c.slots[i].channel =
        open_channel(config->port, config->creds, config->default_args);
    c.slots[i].next_query = (size_t)i * 7919;
  }

  double seconds = config->seconds;
  double warmup = seconds / 10 > 0.5 ? seconds / 10 : 0.5;
  double start = bench_now();
  c.measure_from = start + warmup;
  c.until = c.measure_from + seconds;
  c.in_flight = connections;
  for (int i = 0; i < connections; i++)
    start_call(&c, &c.slots[i]);

  pthread_t threads[BENCH_MAX_CLIENT_THREADS];
  for (int t = 0; t < config->client_threads; t++)
    pthread_create(&threads[t], NULL, client_main, &c);

  struct timespec pause = {(time_t)warmup,
                           (long)((warmup - (double)(time_t)warmup) * 1e9)};
  nanosleep(&pause, NULL);
  pthread_mutex_lock(&c.lock);
  size_t calls_before = c.latencies.count;
  pthread_mutex_unlock(&c.lock);
  double client_before = self_cpu(), server_before, workers_before;
  bench_process_cpu(config->server_pid, "strata-worker", &server_before,
                    &workers_before);
  double cpu_start = bench_now();
  for (int t = 0; t < config->client_threads; t++)
    pthread_join(threads[t], NULL);
  double client_used = self_cpu() - client_before;
  double server_after, workers_after;
  bench_process_cpu(config->server_pid, "strata-worker", &server_after,
                    &workers_after);
  double cpu_wall = bench_now() - cpu_start;
  double server_used = server_after - server_before;
  size_t calls = c.latencies.count - calls_before;

  samples_sort(&c.latencies);
  *out = (row_result){
      .qps = (double)c.latencies.count / seconds,
      .p50 = samples_quantile(&c.latencies, 0.5),
      .p99 = samples_quantile(&c.latencies, 0.99),
      .p999 = samples_quantile(&c.latencies, 0.999),
      .client_cpu = client_used / cpu_wall,
      .server_cpu = server_used / cpu_wall,
      .worker_cpu = (workers_after - workers_before) / cpu_wall,
      .cpu_us_per_op =
          calls > 0 ? (client_used + server_used) * 1e6 / (double)calls : 0,
      .server_us_per_op = calls > 0 ? server_used * 1e6 / (double)calls : 0,
      .operations = c.latencies.count,
      .errors = c.errors};
  if (c.errors)
    fprintf(stderr, "grpc_bench: %lu calls failed\n", c.errors);

  for (int i = 0; i < connections; i++)
    grpc_channel_destroy(c.slots[i].channel);
  grpc_completion_queue_destroy(c.cq);
  free(c.slots);
  free(c.latencies.values);
  pthread_mutex_destroy(&c.lock);
}
