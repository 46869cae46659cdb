/*
 * grpc_bench: search throughput and latency through strata serve's gRPC
 * server on loopback, next to the same searches in-process.
 *
 * One process builds a collection of seeded random vectors in a scratch
 * directory and measures strata_search() called directly.  It then
 * starts the server (strata_server_start) on 127.0.0.1 and drives it with
 * its own gRPC core client: C connections, each with one Points/Search
 * call in flight at a time (a closed loop), for 1, 8 and 32 connections.  The
 * client and the server share the machine's cores, as they do when a
 * client runs next to the database.
 *
 * Each connection is its own channel with a local subchannel pool, so
 * that gRPC opens one TCP connection per channel instead of sharing one.
 * All calls complete on one client completion queue, polled by
 * --client-threads threads.
 */
#define _XOPEN_SOURCE 700 /* nftw */
#include <errno.h>
#include <ftw.h>
#include <getopt.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/utsname.h>
#include <time.h>
#include <unistd.h>

#include <grpc/byte_buffer.h>
#include <grpc/grpc.h>
#include <grpc/grpc_security.h>
#include <grpc/support/alloc.h>
#include <grpc/support/time.h>

#include "points.pb-c.h"
#include "strata.h"
#include "strata_server.h"

#define MAX_CONNECTIONS 256

typedef struct options {
  size_t points;
  uint32_t dim;
  uint32_t k;
  double seconds;
  int server_threads;
  int client_threads;
  int connection_counts[8];
  int n_connection_counts;
  const char *scratch;
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

static void print_row(const char *mode, int connections, const samples *s,
                      double elapsed) {
  if (s->count > 0)
    qsort(s->values, s->count, sizeof *s->values, compare_double);
  printf("| %-22s | %5d | %9.0f | %8.1f | %8.1f | %8.1f |\n", mode, connections,
         (double)s->count / elapsed, quantile(s, 0.5), quantile(s, 0.99),
         quantile(s, 0.999));
  fflush(stdout);
}

/* Deterministic uniform floats in [-1, 1) (xorshift64*). */
static float next_float(uint64_t *state) {
  *state ^= *state >> 12;
  *state ^= *state << 25;
  *state ^= *state >> 27;
  uint64_t r = *state * 2685821657736338717ULL;
  return (float)((double)(r >> 11) / 9007199254740992.0 * 2.0 - 1.0);
}

static void fail_strata(const char *what) {
  fprintf(stderr, "grpc_bench: %s: %s\n", what, strata_last_error());
  exit(1);
}

/* ------------------------------------------------------------------ */
/* Data                                                                 */

static void load_points(strata_db *db, const options *o) {
  strata_vector_config vector = {
      .name = "", .dim = o->dim, .distance = STRATA_DISTANCE_COSINE};
  strata_collection_config config = {.vectors = &vector, .n_vectors = 1};
  if (strata_collection_create(db, "bench", &config) != STRATA_OK)
    fail_strata("create");

  enum { BATCH = 1000 };
  float *data = malloc((size_t)BATCH * o->dim * sizeof *data);
  strata_named_vector *vectors = calloc(BATCH, sizeof *vectors);
  strata_point *points = calloc(BATCH, sizeof *points);
  if (data == NULL || vectors == NULL || points == NULL) {
    fprintf(stderr, "grpc_bench: out of memory\n");
    exit(1);
  }
  uint64_t state = 0x9E3779B97F4A7C15ULL;
  for (size_t first = 0; first < o->points; first += BATCH) {
    size_t n = o->points - first < BATCH ? o->points - first : BATCH;
    for (size_t i = 0; i < n; i++) {
      for (uint32_t d = 0; d < o->dim; d++)
        data[i * o->dim + d] = next_float(&state);
      vectors[i] = (strata_named_vector){
          .name = "", .data = data + i * o->dim, .dim = o->dim};
      points[i] = (strata_point){.id = strata_id_num(first + i),
                                 .vectors = &vectors[i],
                                 .n_vectors = 1};
    }
    if (strata_upsert(db, "bench", points, n, NULL) != STRATA_OK)
      fail_strata("upsert");
  }
  free(data);
  free(vectors);
  free(points);
}

/* Query vectors, drawn from another seed than the points. */
static float *make_queries(const options *o, size_t n) {
  float *queries = malloc(n * o->dim * sizeof *queries);
  uint64_t state = 0xD1B54A32D192ED03ULL;
  for (size_t i = 0; queries != NULL && i < n * o->dim; i++)
    queries[i] = next_float(&state);
  return queries;
}

/* ------------------------------------------------------------------ */
/* In-process search                                                    */

typedef struct local_worker {
  strata_db *db;
  const options *o;
  const float *queries;
  size_t n_queries;
  double until;
  samples latencies;
} local_worker;

static void *local_main(void *arg) {
  local_worker *w = arg;
  for (size_t i = 0; now_seconds() < w->until; i++) {
    strata_search_request request = {.vector_name = "",
                                     .query = w->queries +
                                              (i % w->n_queries) * w->o->dim,
                                     .dim = w->o->dim,
                                     .k = w->o->k};
    strata_records *hits = NULL;
    double start = now_seconds();
    if (strata_search(w->db, "bench", &request, &hits) != STRATA_OK)
      fail_strata("search");
    samples_add(&w->latencies, (now_seconds() - start) * 1e6);
    strata_records_free(hits);
  }
  return NULL;
}

static void run_local(strata_db *db, const options *o, const float *queries,
                      size_t n_queries, int threads) {
  local_worker workers[MAX_CONNECTIONS];
  pthread_t ids[MAX_CONNECTIONS];
  samples all = {0};
  double start = now_seconds();

  for (int t = 0; t < threads; t++) {
    workers[t] =
        (local_worker){db, o, queries, n_queries, start + o->seconds, {0}};
    pthread_create(&ids[t], NULL, local_main, &workers[t]);
  }
  for (int t = 0; t < threads; t++) {
    pthread_join(ids[t], NULL);
    for (size_t i = 0; i < workers[t].latencies.count; i++)
      samples_add(&all, workers[t].latencies.values[i]);
    free(workers[t].latencies.values);
  }
  print_row("in-process search", threads, &all, now_seconds() - start);
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
    if (c->errors == 1) {
      char *text = grpc_slice_to_c_string(s->details);
      fprintf(stderr, "grpc_bench: call failed: status %d: %s\n",
              (int)s->status, text);
      gpr_free(text);
    }
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

static grpc_byte_buffer **make_requests(const options *o, const float *queries,
                                        size_t n) {
  grpc_byte_buffer **requests = calloc(n, sizeof *requests);
  for (size_t i = 0; requests != NULL && i < n; i++) {
    Qdrant__SearchPoints search = QDRANT__SEARCH_POINTS__INIT;
    search.collection_name = "bench";
    search.vector = (float *)(queries + i * o->dim);
    search.n_vector = o->dim;
    search.limit = o->k;
    size_t size = protobuf_c_message_get_packed_size(&search.base);
    grpc_slice slice = grpc_slice_malloc(size);
    protobuf_c_message_pack(&search.base, GRPC_SLICE_START_PTR(slice));
    requests[i] = grpc_raw_byte_buffer_create(&slice, 1);
    grpc_slice_unref(slice);
  }
  return requests;
}

static void run_grpc(int port, const options *o, grpc_byte_buffer **requests,
                     size_t n_requests, int connections) {
  char target[64];
  snprintf(target, sizeof target, "127.0.0.1:%d", port);
  grpc_arg arg;
  arg.type = GRPC_ARG_INTEGER;
  arg.key = GRPC_ARG_USE_LOCAL_SUBCHANNEL_POOL;
  arg.value.integer = 1;
  grpc_channel_args args = {1, &arg};
  grpc_channel_credentials *creds = grpc_insecure_credentials_create();

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
    c.slots[i].channel = grpc_channel_create(target, creds, &args);
    c.slots[i].next_query = (size_t)i * 7919;
  }

  /* A warm-up of a tenth of the run (at least 0.5 s) is not measured. */
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
  for (int t = 0; t < o->client_threads; t++)
    pthread_join(threads[t], NULL);

  char mode[64];
  snprintf(mode, sizeof mode, "gRPC Search%s",
           c.errors ? " (with errors)" : "");
  print_row(mode, connections, &c.latencies, o->seconds);
  if (c.errors)
    fprintf(stderr, "grpc_bench: %lu calls failed\n", c.errors);

  for (int i = 0; i < connections; i++)
    grpc_channel_destroy(c.slots[i].channel);
  grpc_completion_queue_destroy(c.cq);
  grpc_channel_credentials_release(creds);
  free(c.slots);
  free(c.latencies.values);
  pthread_mutex_destroy(&c.lock);
}

/* ------------------------------------------------------------------ */
/* Main                                                                 */

static const char usage[] =
    "usage: grpc_bench [options]\n"
    "  --points N          points in the collection (default 20000)\n"
    "  --dim N             vector dimension (default 128)\n"
    "  --k N               neighbours per search (default 10)\n"
    "  --seconds S         measured seconds per row (default 5)\n"
    "  --server-threads N  server worker threads (default 2)\n"
    "  --client-threads N  client completion-queue threads (default 1)\n"
    "  --connections LIST  comma-separated connection counts (default "
    "1,8,32)\n"
    "  --scratch DIR       parent of the temporary database (default "
    "/tmp)\n";

static void parse_options(int argc, char **argv, options *o) {
  static const struct option long_options[] = {
      {"points", required_argument, NULL, 'p'},
      {"dim", required_argument, NULL, 'd'},
      {"k", required_argument, NULL, 'k'},
      {"seconds", required_argument, NULL, 's'},
      {"server-threads", required_argument, NULL, 'S'},
      {"client-threads", required_argument, NULL, 'C'},
      {"connections", required_argument, NULL, 'c'},
      {"scratch", required_argument, NULL, 't'},
      {"help", no_argument, NULL, 'h'},
      {NULL, 0, NULL, 0}};
  *o = (options){20000, 128, 10, 5.0, 2, 1, {1, 8, 32}, 3, "/tmp"};
  int opt;
  while ((opt = getopt_long(argc, argv, "", long_options, NULL)) != -1) {
    switch (opt) {
    case 'p':
      o->points = strtoull(optarg, NULL, 10);
      break;
    case 'd':
      o->dim = (uint32_t)strtoul(optarg, NULL, 10);
      break;
    case 'k':
      o->k = (uint32_t)strtoul(optarg, NULL, 10);
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
    case 'h':
      fputs(usage, stdout);
      exit(0);
    default:
      fputs(usage, stderr);
      exit(2);
    }
  }
  int valid = o->points > 0 && o->dim > 0 && o->dim <= STRATA_MAX_DIM &&
              o->k > 0 && o->seconds > 0 && o->server_threads > 0 &&
              o->client_threads > 0 && o->client_threads <= 16;
  for (int i = 0; i < o->n_connection_counts; i++)
    valid &= o->connection_counts[i] > 0 &&
             o->connection_counts[i] <= MAX_CONNECTIONS;
  if (!valid || o->n_connection_counts == 0) {
    fprintf(stderr, "grpc_bench: invalid option value\n%s", usage);
    exit(2);
  }
}

static int remove_entry(const char *path, const struct stat *st, int type,
                        struct FTW *ftw) {
  return remove(path);
}

int main(int argc, char **argv) {
  options o;
  parse_options(argc, argv, &o);

  char dir[4096];
  snprintf(dir, sizeof dir, "%s/grpc-bench-XXXXXX", o.scratch);
  if (mkdtemp(dir) == NULL) {
    fprintf(stderr, "grpc_bench: cannot create a directory in %s: %s\n",
            o.scratch, strerror(errno));
    return 1;
  }
  strata_db *db = NULL;
  if (strata_open(dir, NULL, &db) != STRATA_OK)
    fail_strata("open");
  double t0 = now_seconds();
  load_points(db, &o);

  struct utsname host;
  uname(&host);
  long cpus = sysconf(_SC_NPROCESSORS_ONLN);
  printf("grpc_bench: %zu points, dim %u, Cosine, k=%u, %.1f s per row; "
         "%s %s, %ld CPUs; server threads %d, client threads %d; load "
         "%.1f s\n\n",
         o.points, o.dim, o.k, o.seconds, host.sysname, host.machine, cpus,
         o.server_threads, o.client_threads, now_seconds() - t0);
  printf("| mode                   | conns |       QPS | p50 (us) | p99 (us) "
         "| p99.9 (us) |\n");
  printf("| ---------------------- | ----: | --------: | -------: | -------: "
         "| ---------: |\n");

  enum { N_QUERIES = 1000 };
  float *queries = make_queries(&o, N_QUERIES);
  run_local(db, &o, queries, N_QUERIES, 1);
  if (o.server_threads > 1)
    run_local(db, &o, queries, N_QUERIES, o.server_threads);

  strata_server_config config = {
      "127.0.0.1", 0, o.server_threads, 64 << 20, NULL, NULL, NULL, NULL};
  strata_server *server = NULL;
  char error[256];
  if (strata_server_start(db, &config, &server, error, sizeof error) !=
      STRATA_OK) {
    fprintf(stderr, "grpc_bench: cannot start the server: %s\n", error);
    return 1;
  }
  grpc_init(); /* the client's own reference to the library */
  grpc_byte_buffer **requests = make_requests(&o, queries, N_QUERIES);
  for (int i = 0; i < o.n_connection_counts; i++)
    run_grpc(strata_server_port(server), &o, requests, N_QUERIES,
             o.connection_counts[i]);
  for (size_t i = 0; i < N_QUERIES; i++)
    grpc_byte_buffer_destroy(requests[i]);
  free(requests);
  free(queries);

  strata_server_stop(server, 1000);
  grpc_shutdown_blocking();
  strata_close(db);
  if (nftw(dir, remove_entry, 16, FTW_DEPTH | FTW_PHYS) != 0)
    fprintf(stderr, "grpc_bench: could not remove %s\n", dir);
  return 0;
}
