/*
 * grpc_bench: search throughput and latency through strata serve's gRPC
 * server on loopback, next to the same searches in-process.
 *
 * The collection contains either the vectors of an fvecs file (--base,
 * with queries from --queries, e.g. GloVe-100) or seeded random vectors.
 * With --data DIR it is built once into DIR and reused by later runs.
 * Without it, a scratch directory is built and removed.
 *
 * A run has three parts:
 *   1. in-process: one pass over the queries for recall@k against exact
 *      search, then strata_search() in a loop on 1 thread and on
 *      --server-threads threads;
 *   2. the server: a child process forked at start opens the database
 *      once this process has closed it, and serves it with
 *      strata_server_start() on 127.0.0.1, as `strata serve` does;
 *   3. gRPC: one pass over the queries for recall, then this process
 *      drives the server with its own gRPC core client, C connections
 *      each with one Points/Search call in flight (a closed loop), for
 *      each connection count of --connections.
 *
 * Both sides request the same HNSW beam width: strata_search_request.ef
 * in-process and SearchParams.hnsw_ef over gRPC.  The client and the
 * server share the machine's cores, as they do when a client runs next
 * to the database.  Each gRPC row reports the CPU time of both processes.
 *
 * Each connection is its own channel with a local subchannel pool, so
 * that gRPC opens one TCP connection per channel instead of sharing one.
 * All calls complete on one client completion queue, polled by
 * --client-threads threads.
 */
#define _GNU_SOURCE /* nftw, pthread_setname_np */
#include <errno.h>
#include <ftw.h>
#include <getopt.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/utsname.h>
#include <time.h>
#include <unistd.h>

#include <grpc/byte_buffer.h>
#include <grpc/byte_buffer_reader.h>
#include <grpc/grpc.h>
#include <grpc/grpc_security.h>
#include <grpc/support/alloc.h>
#include <grpc/support/time.h>

#include "bench_data.h"
#include "bench_server.h"
#include "points.pb-c.h"
#include "strata.h"

#define MAX_CONNECTIONS 256
/* Query vectors of the random mode. */
#define RANDOM_QUERIES 1000

typedef struct options {
  size_t points; /* random mode: points; fvecs mode: 0 for the whole file */
  uint32_t dim;
  uint32_t k;
  uint32_t ef;
  uint32_t m;
  uint32_t ef_construct;
  double seconds;
  int server_threads;
  int client_threads;
  int connection_counts[8];
  int n_connection_counts;
  const char *scratch;
  const char *data;    /* NULL: a scratch directory, removed at the end */
  const char *base;    /* fvecs file of the points, or NULL for random */
  const char *queries; /* fvecs file of the queries */
} options;

/* Latencies of one run, in microseconds. */
typedef struct samples {
  double *values;
  size_t count, cap;
} samples;

static void samples_add(samples *s, double value) {
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

/* Returns the q-quantile (0..1) of sorted values, nearest rank. */
static double quantile(const samples *s, double q) {
  if (s->count == 0)
    return 0;
  size_t rank = (size_t)(q * (double)s->count);
  if (rank >= s->count)
    rank = s->count - 1;
  return s->values[rank];
}

static double now_seconds(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

static double load_average(void) {
  double one = -1;
  FILE *f = fopen("/proc/loadavg", "r");
  if (f != NULL) {
    if (fscanf(f, "%lf", &one) != 1)
      one = -1;
    fclose(f);
  }
  return one;
}

/* CPU seconds spent during a row: by the client (this process), by the
 * server process, and by the server's worker threads.  In-process rows
 * fill only `client`, with this process's CPU time. */
typedef struct cpu_use {
  double client, server, workers;
} cpu_use;

/* Prints a table row.  `wall` is the time over which `cpu` was measured
 * and `operations` the searches or calls completed in it. */
static void print_row(const char *mode, int connections, const samples *s,
                      double elapsed, const cpu_use *cpu, double wall,
                      size_t operations, int has_server) {
  if (s->count > 0)
    qsort(s->values, s->count, sizeof *s->values, compare_double);
  char cpu_text[96];
  double per_operation =
      operations > 0 ? (cpu->client + cpu->server) * 1e6 / (double)operations
                     : 0;
  if (has_server)
    snprintf(cpu_text, sizeof cpu_text, "%.2f | %.2f (%.2f) | %.0f",
             cpu->client / wall, cpu->server / wall, cpu->workers / wall,
             per_operation);
  else
    snprintf(cpu_text, sizeof cpu_text, "%.2f | - | %.0f", cpu->client / wall,
             per_operation);
  printf("| %-22s | %5d | %9.0f | %8.1f | %8.1f | %8.1f | %s | %.1f |\n", mode,
         connections, (double)s->count / elapsed, quantile(s, 0.5),
         quantile(s, 0.99), quantile(s, 0.999), cpu_text, load_average());
  fflush(stdout);
}

/* ------------------------------------------------------------------ */
/* Data                                                                 */

/* Points of the collection: the fvecs base file or random vectors. */
static matrix make_points(const options *o) {
  if (o->base != NULL)
    return bench_read_fvecs(o->base, o->points);
  return bench_random_matrix(o->points, o->dim, 0x9E3779B97F4A7C15ULL);
}

static matrix make_queries(const options *o, uint32_t dim) {
  if (o->queries != NULL) {
    matrix q = bench_read_fvecs(o->queries, 0);
    if (q.dim != dim) {
      fprintf(stderr, "grpc_bench: queries have dimension %u, points %u\n",
              q.dim, dim);
      exit(1);
    }
    return q;
  }
  return bench_random_matrix(RANDOM_QUERIES, dim, 0xD1B54A32D192ED03ULL);
}

/* Runs every query once, in order, and returns the recall@k; adds each
 * search's latency in microseconds to `latencies`. */
static double local_recall(strata_db *db, const options *o,
                           const matrix *queries, const bench_truth *t,
                           samples *latencies) {
  double sum = 0;
  uint64_t found[1024];
  for (size_t q = 0; q < queries->rows; q++) {
    strata_search_request request = {.query = queries->data + q * queries->dim,
                                     .dim = queries->dim,
                                     .k = o->k,
                                     .ef = o->ef};
    strata_records *hits = NULL;
    double start = now_seconds();
    if (strata_search(db, BENCH_COLLECTION, &request, &hits) != STRATA_OK)
      bench_fail_strata("search");
    samples_add(latencies, (now_seconds() - start) * 1e6);
    size_t n = hits->count < 1024 ? hits->count : 1024;
    for (size_t i = 0; i < n; i++)
      found[i] = hits->items[i].id.num;
    sum += bench_recall(t, q, found, n);
    strata_records_free(hits);
  }
  return sum / (double)queries->rows;
}

static double self_cpu(void) {
  struct rusage usage;
  getrusage(RUSAGE_SELF, &usage);
  return (double)usage.ru_utime.tv_sec + (double)usage.ru_utime.tv_usec / 1e6 +
         (double)usage.ru_stime.tv_sec + (double)usage.ru_stime.tv_usec / 1e6;
}

/* ------------------------------------------------------------------ */
/* In-process search                                                    */

typedef struct local_worker {
  strata_db *db;
  const options *o;
  const matrix *queries;
  size_t first_query;
  double until;
  samples latencies;
} local_worker;

static void *local_main(void *arg) {
  local_worker *w = arg;
  const matrix *queries = w->queries;
  for (size_t i = w->first_query; now_seconds() < w->until; i++) {
    strata_search_request request = {
        .vector_name = "",
        .query = queries->data + (i % queries->rows) * queries->dim,
        .dim = queries->dim,
        .k = w->o->k,
        .ef = w->o->ef};
    strata_records *hits = NULL;
    double start = now_seconds();
    if (strata_search(w->db, BENCH_COLLECTION, &request, &hits) != STRATA_OK)
      bench_fail_strata("search");
    samples_add(&w->latencies, (now_seconds() - start) * 1e6);
    strata_records_free(hits);
  }
  return NULL;
}

static void run_local(strata_db *db, const options *o, const matrix *queries,
                      int threads) {
  local_worker workers[MAX_CONNECTIONS];
  pthread_t ids[MAX_CONNECTIONS];
  samples all = {0};
  double cpu_before = self_cpu();
  double start = now_seconds();

  for (int t = 0; t < threads; t++) {
    workers[t] = (local_worker){
        db, o, queries, (size_t)t * 7919, start + o->seconds, {0}};
    pthread_create(&ids[t], NULL, local_main, &workers[t]);
  }
  for (int t = 0; t < threads; t++) {
    pthread_join(ids[t], NULL);
    for (size_t i = 0; i < workers[t].latencies.count; i++)
      samples_add(&all, workers[t].latencies.values[i]);
    free(workers[t].latencies.values);
  }
  double elapsed = now_seconds() - start;
  cpu_use used = {self_cpu() - cpu_before, 0, 0};
  char mode[64];
  snprintf(mode, sizeof mode, "in-process, %d thread%s", threads,
           threads > 1 ? "s" : "");
  print_row(mode, threads, &all, elapsed, &used, elapsed, all.count, 0);
  free(all.values);
}

/* ------------------------------------------------------------------ */
/* gRPC client                                                          */

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
  s->started = now_seconds();
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
  double done = now_seconds();
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

static grpc_byte_buffer **make_requests(const options *o,
                                        const matrix *queries) {
  grpc_byte_buffer **requests = bench_malloc(queries->rows * sizeof *requests);
  Qdrant__SearchParams params = QDRANT__SEARCH_PARAMS__INIT;
  if (o->ef > 0) {
    params._hnsw_ef_case = QDRANT__SEARCH_PARAMS___HNSW_EF_HNSW_EF;
    params.hnsw_ef = o->ef;
  }
  for (size_t i = 0; i < queries->rows; i++) {
    Qdrant__SearchPoints search = QDRANT__SEARCH_POINTS__INIT;
    search.collection_name = BENCH_COLLECTION;
    search.vector = queries->data + i * queries->dim;
    search.n_vector = queries->dim;
    search.limit = o->k;
    search.params = &params;
    size_t size = protobuf_c_message_get_packed_size(&search.base);
    grpc_slice slice = grpc_slice_malloc(size);
    protobuf_c_message_pack(&search.base, GRPC_SLICE_START_PTR(slice));
    requests[i] = grpc_raw_byte_buffer_create(&slice, 1);
    grpc_slice_unref(slice);
  }
  return requests;
}

static grpc_channel *open_channel(int port, grpc_channel_credentials *creds) {
  char target[64];
  snprintf(target, sizeof target, "127.0.0.1:%d", port);
  grpc_arg arg;
  arg.type = GRPC_ARG_INTEGER;
  arg.key = GRPC_ARG_USE_LOCAL_SUBCHANNEL_POOL;
  arg.value.integer = 1;
  grpc_channel_args args = {1, &arg};
  return grpc_channel_create(target, creds, &args);
}

/* Sends every query once, in order, on one connection, and returns the
 * recall@k of the responses.  Adds each call's latency to `latencies` and
 * the handler time that the server reports in SearchResponse.time to
 * `handler_times`, both in microseconds. */
static double grpc_recall(int port, grpc_channel_credentials *creds,
                          grpc_byte_buffer **requests, const bench_truth *t,
                          samples *latencies, samples *handler_times) {
  client c;
  memset(&c, 0, sizeof c);
  c.cq = grpc_completion_queue_create_for_next(NULL);
  c.requests = requests;
  c.n_requests = t->n_queries;
  c.method = grpc_slice_from_static_string("/qdrant.Points/Search");
  slot s;
  memset(&s, 0, sizeof s);
  s.channel = open_channel(port, creds);

  double sum = 0;
  uint64_t found[1024];
  for (size_t q = 0; q < t->n_queries; q++) {
    start_call(&c, &s);
    grpc_event event = grpc_completion_queue_next(
        c.cq, gpr_inf_future(GPR_CLOCK_REALTIME), NULL);
    samples_add(latencies, (now_seconds() - s.started) * 1e6);
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
    size_t n = response->n_result < 1024 ? response->n_result : 1024;
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

static void run_grpc(const server_process *server, int port,
                     grpc_channel_credentials *creds, const options *o,
                     grpc_byte_buffer **requests, size_t n_requests,
                     int connections) {
  client c;
  memset(&c, 0, sizeof c);
  pthread_mutex_init(&c.lock, NULL);
  c.cq = grpc_completion_queue_create_for_next(NULL);
  c.requests = requests;
  c.n_requests = n_requests;
  c.method = grpc_slice_from_static_string("/qdrant.Points/Search");
  c.n_slots = connections;
  c.slots = calloc((size_t)connections, sizeof *c.slots);
  for (int i = 0; i < connections; i++) {
    c.slots[i].channel = open_channel(port, creds);
    c.slots[i].next_query = (size_t)i * 7919;
  }

  /* A warm-up of a tenth of the run (at least 0.5 s) is not measured,
   * nor is its CPU time. */
  double warmup = o->seconds / 10 > 0.5 ? o->seconds / 10 : 0.5;
  double start = now_seconds();
  c.measure_from = start + warmup;
  c.until = c.measure_from + o->seconds;
  c.in_flight = connections;
  for (int i = 0; i < connections; i++)
    start_call(&c, &c.slots[i]);

  pthread_t threads[16];
  for (int t = 0; t < o->client_threads; t++)
    pthread_create(&threads[t], NULL, client_main, &c);

  struct timespec pause = {(time_t)warmup,
                           (long)((warmup - (double)(time_t)warmup) * 1e9)};
  nanosleep(&pause, NULL);
  cpu_use before, after;
  pthread_mutex_lock(&c.lock);
  size_t calls_before = c.latencies.count;
  pthread_mutex_unlock(&c.lock);
  before.client = self_cpu();
  bench_process_cpu(server->pid, "strata-worker", &before.server,
                    &before.workers);
  double cpu_start = now_seconds();
  for (int t = 0; t < o->client_threads; t++)
    pthread_join(threads[t], NULL);
  after.client = self_cpu();
  bench_process_cpu(server->pid, "strata-worker", &after.server,
                    &after.workers);
  double cpu_wall = now_seconds() - cpu_start;
  cpu_use used = {after.client - before.client, after.server - before.server,
                  after.workers - before.workers};

  char mode[64];
  snprintf(mode, sizeof mode, "gRPC Search%s",
           c.errors ? " (with errors)" : "");
  print_row(mode, connections, &c.latencies, o->seconds, &used, cpu_wall,
            c.latencies.count - calls_before, 1);
  if (c.errors)
    fprintf(stderr, "grpc_bench: %lu calls failed\n", c.errors);

  for (int i = 0; i < connections; i++)
    grpc_channel_destroy(c.slots[i].channel);
  grpc_completion_queue_destroy(c.cq);
  free(c.slots);
  free(c.latencies.values);
  pthread_mutex_destroy(&c.lock);
}

/* ------------------------------------------------------------------ */
/* Main                                                                 */

static const char usage[] =
    "usage: grpc_bench [options]\n"
    "  --base FILE         fvecs file of the points (default: random "
    "points)\n"
    "  --queries FILE      fvecs file of the queries (with --base)\n"
    "  --points N          random points (default 20000); with --base, load\n"
    "                      only the first N rows (default all)\n"
    "  --dim N             dimension of random vectors (default 128)\n"
    "  --data DIR          keep the database in DIR/db and the exact results\n"
    "                      in DIR/truth-*.bin, and reuse both in later runs\n"
    "                      (default: a scratch directory, removed at exit)\n"
    "  --m N               HNSW links per node (default 16)\n"
    "  --ef-construct N    HNSW build beam width (default 100)\n"
    "  --ef N              HNSW search beam width, for in-process and gRPC\n"
    "                      search alike (default 100)\n"
    "  --k N               neighbours per search (default 10)\n"
    "  --seconds S         measured seconds per row (default 5)\n"
    "  --server-threads N  server worker threads, and in-process threads of\n"
    "                      the second row (default 2)\n"
    "  --client-threads N  client completion-queue threads (default 1)\n"
    "  --connections LIST  comma-separated connection counts (default "
    "1,8,32)\n"
    "  --scratch DIR       parent of the scratch database (default /tmp)\n";

static void parse_options(int argc, char **argv, options *o) {
  static const struct option long_options[] = {
      {"points", required_argument, NULL, 'p'},
      {"dim", required_argument, NULL, 'd'},
      {"k", required_argument, NULL, 'k'},
      {"ef", required_argument, NULL, 'e'},
      {"m", required_argument, NULL, 'm'},
      {"ef-construct", required_argument, NULL, 'E'},
      {"seconds", required_argument, NULL, 's'},
      {"server-threads", required_argument, NULL, 'S'},
      {"client-threads", required_argument, NULL, 'C'},
      {"connections", required_argument, NULL, 'c'},
      {"scratch", required_argument, NULL, 't'},
      {"data", required_argument, NULL, 'D'},
      {"base", required_argument, NULL, 'b'},
      {"queries", required_argument, NULL, 'q'},
      {"help", no_argument, NULL, 'h'},
      {NULL, 0, NULL, 0}};
  *o = (options){.points = 0,
                 .dim = 128,
                 .k = 10,
                 .ef = 100,
                 .m = 16,
                 .ef_construct = 100,
                 .seconds = 5.0,
                 .server_threads = 2,
                 .client_threads = 1,
                 .connection_counts = {1, 8, 32},
                 .n_connection_counts = 3,
                 .scratch = "/tmp"};
  int points_set = 0;
  int opt;
  while ((opt = getopt_long(argc, argv, "", long_options, NULL)) != -1) {
    switch (opt) {
    case 'p':
      o->points = strtoull(optarg, NULL, 10);
      points_set = 1;
      break;
    case 'd':
      o->dim = (uint32_t)strtoul(optarg, NULL, 10);
      break;
    case 'k':
      o->k = (uint32_t)strtoul(optarg, NULL, 10);
      break;
    case 'e':
      o->ef = (uint32_t)strtoul(optarg, NULL, 10);
      break;
    case 'm':
      o->m = (uint32_t)strtoul(optarg, NULL, 10);
      break;
    case 'E':
      o->ef_construct = (uint32_t)strtoul(optarg, NULL, 10);
      break;
    case 's':
      o->seconds = strtod(optarg, NULL);
      break;
    case 'S':
      o->server_threads = atoi(optarg);
      break;
    case 'C':
      o->client_threads = atoi(optarg);
      break;
    case 'c': {
      o->n_connection_counts = 0;
      char *copy = strdup(optarg), *save = NULL;
      for (char *part = strtok_r(copy, ",", &save);
           part != NULL && o->n_connection_counts < 8;
           part = strtok_r(NULL, ",", &save))
        o->connection_counts[o->n_connection_counts++] = atoi(part);
      free(copy);
      break;
    }
    case 't':
      o->scratch = optarg;
      break;
    case 'D':
      o->data = optarg;
      break;
    case 'b':
      o->base = optarg;
      break;
    case 'q':
      o->queries = optarg;
      break;
    case 'h':
      fputs(usage, stdout);
      exit(0);
    default:
      fputs(usage, stderr);
      exit(2);
    }
  }
  if (o->base == NULL && !points_set)
    o->points = 20000;
  int valid = (o->base != NULL || o->points > 0) && o->dim > 0 &&
              o->dim <= STRATA_MAX_DIM && o->k > 0 && o->k <= 1024 &&
              o->seconds > 0 && o->server_threads > 0 &&
              o->server_threads <= MAX_CONNECTIONS && o->client_threads > 0 &&
              o->client_threads <= 16 &&
              (o->base == NULL) == (o->queries == NULL);
  for (int i = 0; i < o->n_connection_counts; i++)
    valid &= o->connection_counts[i] > 0 &&
             o->connection_counts[i] <= MAX_CONNECTIONS;
  if (!valid || o->n_connection_counts == 0) {
    fprintf(stderr,
            "grpc_bench: invalid option value (--base and --queries go "
            "together; k is at most 1024)\n%s",
            usage);
    exit(2);
  }
}

static int remove_entry(const char *path, const struct stat *st, int type,
                        struct FTW *ftw) {
  (void)st;
  (void)type;
  (void)ftw;
  return remove(path);
}

static void print_once(const char *path, double recall, samples *s) {
  qsort(s->values, s->count, sizeof *s->values, compare_double);
  printf("| %s | %.4f | %.1f | %.1f | %.1f |\n", path, recall, quantile(s, 0.5),
         quantile(s, 0.9), quantile(s, 0.99));
}

static void print_header(const options *o, const matrix *points,
                         const matrix *queries, double load_seconds,
                         int loaded) {
  struct utsname host;
  uname(&host);
  long cpus = sysconf(_SC_NPROCESSORS_ONLN);
  printf("grpc_bench: %zu points (%s), dim %u, Cosine, HNSW m %u "
         "ef_construct %u (%s in %.1f s); %zu queries, k %u, ef %u; %.1f s "
         "per row; %s %s, %ld CPUs; server threads %d, client threads %d\n\n",
         points->rows, o->base ? o->base : "random", points->dim, o->m,
         o->ef_construct, loaded ? "loaded" : "reused", load_seconds,
         queries->rows, o->k, o->ef, o->seconds, host.sysname, host.machine,
         cpus, o->server_threads, o->client_threads);
}

int main(int argc, char **argv) {
  options o;
  parse_options(argc, argv, &o);

  char dir[4096], db_dir[4200], truth_path[4300];
  if (o.data != NULL) {
    snprintf(dir, sizeof dir, "%s", o.data);
    if (mkdir(dir, 0777) != 0 && errno != EEXIST) {
      fprintf(stderr, "grpc_bench: cannot create %s: %s\n", dir,
              strerror(errno));
      return 1;
    }
  } else {
    snprintf(dir, sizeof dir, "%s/grpc-bench-XXXXXX", o.scratch);
    if (mkdtemp(dir) == NULL) {
      fprintf(stderr, "grpc_bench: cannot create a directory in %s: %s\n",
              o.scratch, strerror(errno));
      return 1;
    }
  }
  snprintf(db_dir, sizeof db_dir, "%s/db", dir);

  /* Fork before any thread exists: the engine and gRPC start threads,
   * and a child forked later would lack them. */
  server_process server = bench_fork_server(db_dir, o.server_threads);

  matrix points = make_points(&o);
  matrix queries = make_queries(&o, points.dim);
  snprintf(truth_path, sizeof truth_path, "%s/truth-k%u-q%zu.bin", dir, o.k,
           queries.rows);

  strata_db *db = NULL;
  strata_open_options open_options = {.create_if_missing = 1};
  if (strata_open(db_dir, &open_options, &db) != STRATA_OK)
    bench_fail_strata("open");
  double t0 = now_seconds();
  strata_hnsw_config hnsw = {.m = o.m, .ef_construct = o.ef_construct};
  int loaded = bench_ensure_collection(db, &hnsw, &points, db_dir);
  double load_seconds = now_seconds() - t0;
  free(points.data);
  points.data = NULL;

  bench_truth exact;
  bench_load_truth(db, &queries, o.k, truth_path, &exact);
  print_header(&o, &points, &queries, load_seconds, loaded);
  samples local_once = {0};
  double recall_local = local_recall(db, &o, &queries, &exact, &local_once);

  printf("| mode                   | conns |       QPS | p50 (us) | p99 (us) "
         "| p99.9 (us) | client CPU | server CPU (workers) | CPU us/op | load "
         "|\n");
  printf("| ---------------------- | ----: | --------: | -------: | -------: "
         "| ---------: | ---: | ---: | ---: | ---: |\n");
  run_local(db, &o, &queries, 1);
  if (o.server_threads > 1)
    run_local(db, &o, &queries, o.server_threads);
  strata_close(db);

  int port = bench_start_server(&server);
  grpc_init();
  grpc_channel_credentials *creds = grpc_insecure_credentials_create();
  grpc_byte_buffer **requests = make_requests(&o, &queries);
  samples grpc_once = {0}, handler_once = {0};
  double recall_grpc =
      grpc_recall(port, creds, requests, &exact, &grpc_once, &handler_once);
  for (int i = 0; i < o.n_connection_counts; i++)
    run_grpc(&server, port, creds, &o, requests, queries.rows,
             o.connection_counts[i]);

  printf("\nOne pass over the %zu queries, one at a time (latency in us):\n\n"
         "| path | recall@%u | p50 | p90 | p99 |\n"
         "| --- | ---: | ---: | ---: | ---: |\n",
         queries.rows, o.k);
  print_once("in-process strata_search", recall_local, &local_once);
  print_once("gRPC: server handler (SearchResponse.time)", recall_grpc,
             &handler_once);
  print_once("gRPC: client round trip", recall_grpc, &grpc_once);
  free(local_once.values);
  free(grpc_once.values);
  free(handler_once.values);
  printf("\nCPU columns: cores used (CPU seconds per second) by the client "
         "process (in-process rows: this process) and by the server process, "
         "whose worker threads are in brackets.  CPU us/op: CPU time of both "
         "processes per search or call.  load: the 1-minute load average "
         "after the row.\n");

  for (size_t i = 0; i < queries.rows; i++)
    grpc_byte_buffer_destroy(requests[i]);
  free(requests);
  free(queries.data);
  free(exact.ids);
  grpc_channel_credentials_release(creds);
  grpc_shutdown_blocking();
  bench_stop_server(&server);

  if (o.data == NULL && nftw(dir, remove_entry, 16, FTW_DEPTH | FTW_PHYS) != 0)
    fprintf(stderr, "grpc_bench: could not remove %s\n", dir);
  return 0;
}
