/*
 * grpc_bench: search throughput and latency through strata serve's gRPC
 * server on loopback, next to the same searches in-process.
 *
 * The collection contains either the vectors of an fvecs file (--base,
 * with queries from --queries, e.g. GloVe-100) or seeded random vectors.
 * With --data DIR it is built once into DIR and reused by later runs.
 * Without it, a scratch directory is built and removed.
 *
 * A run has these parts:
 *   1. this process builds or opens the database and, for each beam
 *      width (ef), makes one pass over the queries for recall@k against
 *      exact search.  With --target-recall it first searches for the
 *      smallest ef that reaches that recall and adds it to the list;
 *   2. the server: a child process forked at start opens the database
 *      once this process has closed it, and serves it with
 *      strata_server_start() on 127.0.0.1, as `strata serve` does;
 *   3. one pass over the queries through gRPC per ef, for recall;
 *   4. --rounds rounds.  Each round runs, for each ef, the in-process
 *      rows (strata_search() in a loop on 1 thread and on
 *      --server-threads threads, run by the server process on the
 *      database it serves, while no call is in flight) and one gRPC row
 *      per connection count.  Odd rounds run the in-process rows first,
 *      even rounds the gRPC rows, so that a slow drift of the load on the
 *      machine does not favour one side;
 *   5. a summary per ef, per round and as the median over rounds.  It
 *      gives gRPC QPS as a share of in-process QPS, the same share by
 *      CPU time per operation, and the 1-connection p99 against the
 *      in-process 1-thread p99.
 *
 * Both sides request the same HNSW beam width: strata_search_request.ef
 * in-process and SearchParams.hnsw_ef over gRPC.  The client and the
 * server share the machine's cores, as they do when a client runs next
 * to the database.  Each gRPC row reports the CPU time of both processes.
 *
 * The client is this process, on gRPC core's C API (bench_client.c).
 * Each connection keeps one call in flight (a closed loop).  All calls
 * complete on one completion queue, polled by --client-threads threads.
 */
#define _GNU_SOURCE /* nftw */
#include <errno.h>
#include <ftw.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/utsname.h>
#include <unistd.h>

#include <grpc/byte_buffer.h>
#include <grpc/grpc.h>
#include <grpc/grpc_security.h>

#include "bench_client.h"
#include "bench_data.h"
#include "bench_local.h"
#include "bench_server.h"
#include "strata.h"

#define MAX_CONNECTIONS 256
/* Exit status when --pin cannot split the CPUs.  ctest counts it as a
 * skipped test (SKIP_RETURN_CODE). */
#define PIN_IMPOSSIBLE 77
#define MAX_LIST 8    /* entries of --connections and --ef */
#define MAX_ROUNDS 50 /* --rounds */
/* Beam widths tried by --target-recall, and the k limit of searches. */
#define MAX_EF 1024
#define MAX_K BENCH_MAX_K
/* Rounding error allowed when recall, a sum of per-query fractions, is
 * compared with --target-recall. */
#define RECALL_TOLERANCE 1e-9
/* Query vectors of the random mode. */
#define RANDOM_QUERIES 1000
/* The latency target at 1 connection: gRPC p99 at most in-process p99
 * plus this many microseconds. */
#define P99_MARGIN_US 500.0

typedef struct options {
  size_t points; /* random mode: points; fvecs mode: 0 for the whole file */
  uint32_t dim;
  uint32_t k;
  uint32_t efs[MAX_LIST];
  int n_efs;
  double target_recall; /* 0: no search for an ef */
  uint32_t m;
  uint32_t ef_construct;
  double seconds;
  int rounds;
  int server_threads;
  int client_threads;
  int connection_counts[MAX_LIST];
  int n_connection_counts;
  int default_channel_args; /* client channels with gRPC's defaults */
  int pin; /* whether server and client run on separate CPUs (--pin) */
  const char *scratch;
  const char *data;    /* NULL: a scratch directory, removed at the end */
  const char *base;    /* fvecs file of the points, or NULL for random */
  const char *queries; /* fvecs file of the queries */
} options;

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

static void print_table_header(void) {
  printf("| round | ef | mode | conns | QPS | p50 (us) | p99 (us) | p99.9 (us) "
         "| client CPU | server CPU (workers) | CPU us/op (client + server) "
         "| load |\n"
         "| ---: | ---: | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: "
         "| ---: | ---: |\n");
}

static void print_row(int round, uint32_t ef, const char *mode,
                      int connections, const row_result *r, int has_server) {
  char server_text[48], per_op_text[48];
  if (has_server) {
    snprintf(server_text, sizeof server_text, "%.2f (%.2f)", r->server_cpu,
             r->worker_cpu);
    snprintf(per_op_text, sizeof per_op_text, "%.0f (%.0f + %.0f)",
             r->cpu_us_per_op, r->cpu_us_per_op - r->server_us_per_op,
             r->server_us_per_op);
  } else {
    snprintf(server_text, sizeof server_text, "-");
    snprintf(per_op_text, sizeof per_op_text, "%.0f", r->cpu_us_per_op);
  }
  printf("| %d | %u | %s | %d | %.0f | %.1f | %.1f | %.1f | %.2f | %s | %s "
         "| %.1f |\n",
         round, ef, mode, connections, r->qps, r->p50, r->p99, r->p999,
         r->client_cpu, server_text, per_op_text, load_average());
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

static matrix make_queries(const options *o) {
  if (o->queries != NULL)
    return bench_read_fvecs(o->queries, 0);
  return bench_random_matrix(RANDOM_QUERIES, o->dim, 0xD1B54A32D192ED03ULL);
}

/* Runs every query once, in order, with beam width `ef`, and returns the
 * recall@k.  Adds each search's latency in microseconds to `latencies`
 * unless it is NULL. */
static double local_recall(strata_db *db, uint32_t k, uint32_t ef,
                           const matrix *queries, const bench_truth *t,
                           samples *latencies) {
  double sum = 0;
  uint64_t found[MAX_K];
  for (size_t q = 0; q < queries->rows; q++) {
    strata_search_request request = {.query = queries->data + q * queries->dim,
                                     .dim = queries->dim,
                                     .k = k,
                                     .ef = ef};
    strata_records *hits = NULL;
    double start = bench_now();
    if (strata_search(db, BENCH_COLLECTION, &request, &hits) != STRATA_OK)
      bench_fail_strata("search");
    if (latencies != NULL)
      samples_add(latencies, (bench_now() - start) * 1e6);
    size_t n = hits->count < MAX_K ? hits->count : MAX_K;
    for (size_t i = 0; i < n; i++)
      found[i] = hits->items[i].id.num;
    sum += bench_recall(t, q, found, n);
    strata_records_free(hits);
  }
  return sum / (double)queries->rows;
}

/* Returns the smallest ef in [k, MAX_EF] whose in-process recall@k
 * reaches `target`, printing each ef tried, or 0 when MAX_EF does not
 * reach it.  The bisection assumes that recall grows with ef.  For HNSW
 * that is close to true but not exact, so a smaller ef may also reach
 * the target. */
static uint32_t find_ef(strata_db *db, uint32_t k, double target,
                        const matrix *queries, const bench_truth *t) {
  uint32_t low = k, high = MAX_EF;
  double recall = local_recall(db, k, high, queries, t, NULL);
  printf("ef search for recall@%u >= %.3f: ef %u recall %.4f", k, target,
         high, recall);
  if (recall < target - RECALL_TOLERANCE) {
    printf("; not reached\n\n");
    return 0;
  }
  /* Invariant: ef `high` reaches the target, and every ef tried below
   * `low` missed it. */
  while (low < high) {
    uint32_t middle = low + (high - low) / 2;
    recall = local_recall(db, k, middle, queries, t, NULL);
    printf(", ef %u recall %.4f", middle, recall);
    if (recall >= target - RECALL_TOLERANCE)
      high = middle;
    else
      low = middle + 1;
  }
  printf("; chosen ef %u\n\n", high);
  return high;
}

/* ------------------------------------------------------------------ */
/* Rounds and summary                                                   */

/* Results of one round at one ef: in-process on 1 thread and on
 * --server-threads threads, then one gRPC row per connection count. */
typedef struct round_result {
  row_result local_one, local_all;
  row_result grpc[MAX_LIST];
} round_result;

static void run_local_rows(const server_process *server, const options *o,
                           int round, uint32_t ef, round_result *r) {
  bench_server_run_local(server, o->k, ef, 1, o->seconds, &r->local_one);
  print_row(round, ef, "in-process, 1 thread", 1, &r->local_one, 0);
  if (o->server_threads > 1) {
    bench_server_run_local(server, o->k, ef, o->server_threads, o->seconds,
                           &r->local_all);
    char mode[64];
    snprintf(mode, sizeof mode, "in-process, %d threads", o->server_threads);
    print_row(round, ef, mode, o->server_threads, &r->local_all, 0);
  } else {
    r->local_all = r->local_one;
  }
}

static void run_grpc_rows(const server_process *server, int port,
                          grpc_channel_credentials *creds, const options *o,
                          int round, uint32_t ef, grpc_byte_buffer **requests,
                          size_t n_requests, round_result *r) {
  grpc_row_config config = {.port = port,
                            .creds = creds,
                            .default_args = o->default_channel_args,
                            .client_threads = o->client_threads,
                            .seconds = o->seconds,
                            .server_pid = server->pid};
  for (int i = 0; i < o->n_connection_counts; i++) {
    bench_run_grpc(&config, requests, n_requests, o->connection_counts[i],
                   &r->grpc[i]);
    print_row(round, ef, r->grpc[i].errors ? "gRPC Search (with errors)"
                                           : "gRPC Search",
              o->connection_counts[i], &r->grpc[i], 1);
  }
}

static double median(double *values, int n) {
  samples s = {values, (size_t)n, (size_t)n};
  samples_sort(&s);
  if (n == 0)
    return 0;
  return n % 2 ? values[n / 2] : (values[n / 2 - 1] + values[n / 2]) / 2;
}

/* Prints, for one ef, the gRPC rows against the in-process rows round by
 * round, with the medians over the rounds.  One connection is compared
 * with in-process search on 1 thread, more connections with in-process
 * search on --server-threads threads. */
static void print_summary(const options *o, uint32_t ef,
                          round_result rounds[][MAX_LIST]) {
  int column = -1; /* index of the ef in rounds[r] */
  for (int e = 0; e < o->n_efs; e++)
    if (o->efs[e] == ef)
      column = e;

  for (int i = 0; i < o->n_connection_counts; i++) {
    double qps_ratio[MAX_ROUNDS], cpu_ratio[MAX_ROUNDS],
        server_ratio[MAX_ROUNDS];
    int single = o->connection_counts[i] == 1;
    int threads = single ? 1 : o->server_threads;
    printf("\nef %u, gRPC at %d connection%s against in-process on %d "
           "thread%s:\n\n"
           "| round | in-process QPS | gRPC QPS | QPS ratio | in-process "
           "CPU us/op | gRPC CPU us/op (server) | CPU ratio | server CPU "
           "ratio |\n"
           "| ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |\n",
           ef, o->connection_counts[i],
           o->connection_counts[i] > 1 ? "s" : "", threads,
           threads > 1 ? "s" : "");
    for (int r = 0; r < o->rounds; r++) {
      const round_result *rr = &rounds[r][column];
      const row_result *local = single ? &rr->local_one : &rr->local_all;
      qps_ratio[r] = rr->grpc[i].qps / local->qps;
      cpu_ratio[r] = local->cpu_us_per_op / rr->grpc[i].cpu_us_per_op;
      server_ratio[r] = local->cpu_us_per_op / rr->grpc[i].server_us_per_op;
      printf("| %d | %.0f | %.0f | %.2f | %.0f | %.0f (%.0f) | %.2f | %.2f "
             "|\n",
             r + 1, local->qps, rr->grpc[i].qps, qps_ratio[r],
             local->cpu_us_per_op, rr->grpc[i].cpu_us_per_op,
             rr->grpc[i].server_us_per_op, cpu_ratio[r], server_ratio[r]);
    }
    printf("| median | | | %.2f | | | %.2f | %.2f |\n",
           median(qps_ratio, o->rounds), median(cpu_ratio, o->rounds),
           median(server_ratio, o->rounds));
  }

  for (int i = 0; i < o->n_connection_counts; i++) {
    if (o->connection_counts[i] != 1)
      continue;
    double difference[MAX_ROUNDS];
    int met = 0;
    printf("\nef %u, p99 at 1 connection against in-process on 1 thread "
           "(target: at most %.0f us more):\n\n"
           "| round | in-process p99 (us) | gRPC p99 (us) | difference (us) "
           "| met |\n"
           "| ---: | ---: | ---: | ---: | --- |\n",
           ef, P99_MARGIN_US);
    for (int r = 0; r < o->rounds; r++) {
      const round_result *rr = &rounds[r][column];
      difference[r] = rr->grpc[i].p99 - rr->local_one.p99;
      met += difference[r] <= P99_MARGIN_US;
      printf("| %d | %.1f | %.1f | %.1f | %s |\n", r + 1, rr->local_one.p99,
             rr->grpc[i].p99, difference[r],
             difference[r] <= P99_MARGIN_US ? "yes" : "no");
    }
    printf("| median | | | %.1f | met in %d of %d rounds |\n",
           median(difference, o->rounds), met, o->rounds);
  }
}

/* ------------------------------------------------------------------ */
/* Main                                                                 */

static const char usage[] =
    "usage: grpc_bench [options]\n"
    "  --base FILE          fvecs file of the points (default: random "
    "points)\n"
    "  --queries FILE       fvecs file of the queries (with --base)\n"
    "  --points N           random points (default 20000); with --base, "
    "load\n"
    "                       only the first N rows (default all)\n"
    "  --dim N              dimension of random vectors (default 128)\n"
    "  --data DIR           keep the database in DIR/db and the exact "
    "results\n"
    "                       in DIR/truth-*.bin, and reuse both in later "
    "runs\n"
    "                       (default: a scratch directory, removed at exit)\n"
    "  --m N                HNSW links per node (default 16)\n"
    "  --ef-construct N     HNSW build beam width (default 100)\n"
    "  --ef LIST            comma-separated HNSW search beam widths, for\n"
    "                       in-process and gRPC search alike (default 100)\n"
    "  --target-recall R    also measure at the smallest ef (k to 1024) "
    "whose\n"
    "                       in-process recall@k reaches R, found by "
    "bisection\n"
    "                       (default 0: off)\n"
    "  --k N                neighbours per search (default 10)\n"
    "  --seconds S          measured seconds per row (default 3)\n"
    "  --rounds N           rounds of in-process and gRPC rows, alternating\n"
    "                       which side goes first (default 3)\n"
    "  --server-threads N   server worker threads, and in-process threads of\n"
    "                       the second in-process row (default 2)\n"
    "  --client-threads N   client completion-queue threads (default 1)\n"
    "  --connections LIST   comma-separated connection counts (default "
    "1,8,32)\n"
    "  --default-channel-args  open client channels with gRPC's default\n"
    "                       arguments, keeping retries, BDP probing and the\n"
    "                       full filter stack (default: all three off)\n"
    "  --pin                run the server process on the first N CPUs\n"
    "                       (N = --server-threads) and the client on the\n"
    "                       others, so that the load generator takes no CPU\n"
    "                       time from the server or the in-process rows;\n"
    "                       needs more CPUs than server threads (exit\n"
    "                       status 77 otherwise)\n"
    "  --scratch DIR        parent of the scratch database (default /tmp)\n";

/* Parses a comma-separated list of positive integers, each at most
 * `maximum`, into `values`.  Returns the number parsed, or -1 when an
 * entry is invalid or the list is longer than MAX_LIST. */
static int parse_list(const char *text, long maximum, long *values) {
  int n = 0;
  const char *p = text;
  for (;;) {
    char *end;
    errno = 0;
    long value = strtol(p, &end, 10);
    if (end == p || errno != 0 || value <= 0 || value > maximum ||
        n == MAX_LIST || (*end != ',' && *end != '\0'))
      return -1;
    values[n++] = value;
    if (*end == '\0')
      return n;
    p = end + 1;
  }
}

static void parse_options(int argc, char **argv, options *o) {
  static const struct option long_options[] = {
      {"points", required_argument, NULL, 'p'},
      {"dim", required_argument, NULL, 'd'},
      {"k", required_argument, NULL, 'k'},
      {"ef", required_argument, NULL, 'e'},
      {"target-recall", required_argument, NULL, 'R'},
      {"m", required_argument, NULL, 'm'},
      {"ef-construct", required_argument, NULL, 'E'},
      {"seconds", required_argument, NULL, 's'},
      {"rounds", required_argument, NULL, 'r'},
      {"server-threads", required_argument, NULL, 'S'},
      {"client-threads", required_argument, NULL, 'C'},
      {"connections", required_argument, NULL, 'c'},
      {"default-channel-args", no_argument, NULL, 'A'},
      {"pin", no_argument, NULL, 'P'},
      {"scratch", required_argument, NULL, 't'},
      {"data", required_argument, NULL, 'D'},
      {"base", required_argument, NULL, 'b'},
      {"queries", required_argument, NULL, 'q'},
      {"help", no_argument, NULL, 'h'},
      {NULL, 0, NULL, 0}};
  *o = (options){.points = 0,
                 .dim = 128,
                 .k = 10,
                 .efs = {100},
                 .n_efs = 1,
                 .m = 16,
                 .ef_construct = 100,
                 .seconds = 3.0,
                 .rounds = 3,
                 .server_threads = 2,
                 .client_threads = 1,
                 .connection_counts = {1, 8, 32},
                 .n_connection_counts = 3,
                 .scratch = "/tmp"};
  int points_set = 0, valid = 1;
  long list[MAX_LIST];
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
      o->n_efs = parse_list(optarg, MAX_EF, list);
      valid &= o->n_efs > 0;
      for (int i = 0; i < o->n_efs; i++)
        o->efs[i] = (uint32_t)list[i];
      break;
    case 'R':
      o->target_recall = strtod(optarg, NULL);
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
    case 'r':
      o->rounds = atoi(optarg);
      break;
    case 'S':
      o->server_threads = atoi(optarg);
      break;
    case 'C':
      o->client_threads = atoi(optarg);
      break;
    case 'c':
      o->n_connection_counts = parse_list(optarg, MAX_CONNECTIONS, list);
      valid &= o->n_connection_counts > 0;
      for (int i = 0; i < o->n_connection_counts; i++)
        o->connection_counts[i] = (int)list[i];
      break;
    case 'A':
      o->default_channel_args = 1;
      break;
    case 'P':
      o->pin = 1;
      break;
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
  valid &= (o->base != NULL || o->points > 0) && o->dim > 0 &&
           o->dim <= STRATA_MAX_DIM && o->k > 0 && o->k <= MAX_K &&
           o->seconds > 0 && o->rounds > 0 && o->rounds <= MAX_ROUNDS &&
           o->target_recall >= 0 && o->target_recall <= 1 &&
           o->server_threads > 0 && o->server_threads <= MAX_CONNECTIONS &&
           o->client_threads > 0 &&
           o->client_threads <= BENCH_MAX_CLIENT_THREADS &&
           (o->base == NULL) == (o->queries == NULL);
  if (!valid) {
    fprintf(stderr,
            "grpc_bench: invalid option value (--base and --queries go "
            "together; lists have at most %d positive entries; ef is at "
            "most %d, k at most %d, rounds at most %d)\n%s",
            MAX_LIST, MAX_EF, MAX_K, MAX_ROUNDS, usage);
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

static void print_once(uint32_t ef, const char *path, double recall,
                       samples *s) {
  samples_sort(s);
  printf("| %u | %s | %.4f | %.1f | %.1f | %.1f |\n", ef, path, recall,
         samples_quantile(s, 0.5), samples_quantile(s, 0.9),
         samples_quantile(s, 0.99));
}

static void print_header(const options *o, const matrix *points,
                         const matrix *queries, double load_seconds,
                         int loaded) {
  struct utsname host;
  uname(&host);
  long cpus = sysconf(_SC_NPROCESSORS_ONLN);
  printf("grpc_bench: %zu points (%s), dim %u, Cosine, HNSW m %u "
         "ef_construct %u (%s in %.1f s); %zu queries, k %u; %d rounds of "
         "%.1f s per row; %s %s, %ld CPUs; server threads %d, client "
         "threads %d; load %.1f\n\n",
         points->rows, o->base ? o->base : "random", points->dim, o->m,
         o->ef_construct, loaded ? "loaded" : "reused", load_seconds,
         queries->rows, o->k, o->rounds, o->seconds, host.sysname,
         host.machine, cpus, o->server_threads, o->client_threads,
         load_average());
}

/* Writes the CPUs of `set` as a comma-separated list. */
static void cpu_list(const cpu_set_t *set, char *out, size_t size) {
  size_t used = 0;
  out[0] = '\0';
  for (int cpu = 0; cpu < CPU_SETSIZE && used < size; cpu++)
    if (CPU_ISSET(cpu, set))
      used += (size_t)snprintf(out + used, size - used, "%s%d",
                               used > 0 ? "," : "", cpu);
}

/* Adds `ef` to the list unless it is there or the list is full. */
static void add_ef(options *o, uint32_t ef) {
  for (int i = 0; i < o->n_efs; i++)
    if (o->efs[i] == ef)
      return;
  if (o->n_efs < MAX_LIST)
    o->efs[o->n_efs++] = ef;
}

int main(int argc, char **argv) {
  options o;
  parse_options(argc, argv, &o);
  cpu_set_t server_cpus, client_cpus;
  if (o.pin &&
      bench_split_cpus(o.server_threads, &server_cpus, &client_cpus) != 0) {
    fprintf(stderr,
            "grpc_bench: --pin needs more CPUs than the %d server thread%s, "
            "and this process may run on %d; lower --server-threads\n",
            o.server_threads, o.server_threads > 1 ? "s" : "",
            CPU_COUNT(&server_cpus) + CPU_COUNT(&client_cpus));
    return PIN_IMPOSSIBLE;
  }

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

  /* The server process runs the in-process rows on these queries too. */
  matrix queries = make_queries(&o);

  /* Fork before any thread exists: the engine and gRPC start threads,
   * and a child forked later would lack them. */
  server_process server = bench_fork_server(
      db_dir, o.server_threads, &queries, o.pin ? &server_cpus : NULL);

  int failed = 0;
  matrix points = make_points(&o);
  if (queries.dim != points.dim) {
    fprintf(stderr, "grpc_bench: queries have dimension %u, points %u\n",
            queries.dim, points.dim);
    free(points.data);
    failed = 1;
    goto stop;
  }
  snprintf(truth_path, sizeof truth_path, "%s/truth-k%u-q%zu.bin", dir, o.k,
           queries.rows);

  strata_db *db = NULL;
  strata_open_options open_options = {.create_if_missing = 1};
  if (strata_open(db_dir, &open_options, &db) != STRATA_OK)
    bench_fail_strata("open");
  double t0 = bench_now();
  strata_hnsw_config hnsw = {.m = o.m, .ef_construct = o.ef_construct};
  int loaded = bench_ensure_collection(db, &hnsw, &points, db_dir);
  double load_seconds = bench_now() - t0;
  free(points.data);
  points.data = NULL;

  bench_truth exact;
  bench_load_truth(db, &queries, o.k, truth_path, &exact);
  print_header(&o, &points, &queries, load_seconds, loaded);
  if (o.target_recall > 0) {
    uint32_t ef = find_ef(db, o.k, o.target_recall, &queries, &exact);
    if (ef > 0)
      add_ef(&o, ef);
  }

  /* One pass per ef, one query at a time, for recall and latency. */
  double recall_local[MAX_LIST];
  samples local_once[MAX_LIST];
  memset(local_once, 0, sizeof local_once);
  for (int e = 0; e < o.n_efs; e++)
    recall_local[e] =
        local_recall(db, o.k, o.efs[e], &queries, &exact, &local_once[e]);
  strata_close(db);

  /* Pinned only now, so that building the collection and the exact
   * results above could use every CPU, but before gRPC starts its
   * threads and the gRPC rows start. */
  if (o.pin) {
    if (bench_pin_process(&client_cpus) != 0) {
      perror("grpc_bench: sched_setaffinity");
      for (int e = 0; e < o.n_efs; e++)
        free(local_once[e].values);
      free(exact.ids);
      failed = 1;
      goto stop;
    }
    char server_list[256], client_list[256];
    cpu_list(&server_cpus, server_list, sizeof server_list);
    cpu_list(&client_cpus, client_list, sizeof client_list);
    printf("Pinned: the server process (gRPC and in-process rows) on CPU%s "
           "%s, the client process on CPU%s %s.\n\n",
           CPU_COUNT(&server_cpus) > 1 ? "s" : "", server_list,
           CPU_COUNT(&client_cpus) > 1 ? "s" : "", client_list);
  }

  int port = bench_start_server(&server);
  grpc_init();
  grpc_channel_credentials *creds = grpc_insecure_credentials_create();
  grpc_byte_buffer **requests[MAX_LIST];
  double recall_grpc[MAX_LIST];
  samples grpc_once[MAX_LIST], handler_once[MAX_LIST];
  memset(grpc_once, 0, sizeof grpc_once);
  memset(handler_once, 0, sizeof handler_once);
  for (int e = 0; e < o.n_efs; e++) {
    requests[e] = bench_make_requests(o.k, o.efs[e], &queries);
    recall_grpc[e] =
        bench_grpc_recall(port, creds, o.default_channel_args, requests[e],
                          &exact, &grpc_once[e], &handler_once[e]);
  }

  /* Both paths run the same search, so their recall must be equal. */
  for (int e = 0; e < o.n_efs; e++)
    if (recall_grpc[e] < recall_local[e] - RECALL_TOLERANCE ||
        recall_grpc[e] > recall_local[e] + RECALL_TOLERANCE) {
      fprintf(stderr,
              "grpc_bench: at ef %u, recall@%u is %.4f over gRPC but %.4f "
              "in-process; the server did not run the same search\n",
              o.efs[e], o.k, recall_grpc[e], recall_local[e]);
      failed = 1;
    }

  static round_result rounds[MAX_ROUNDS][MAX_LIST];
  print_table_header();
  for (int r = 0; r < o.rounds; r++) {
    int local_first = r % 2 == 0;
    for (int e = 0; e < o.n_efs; e++) {
      round_result *rr = &rounds[r][e];
      if (local_first)
        run_local_rows(&server, &o, r + 1, o.efs[e], rr);
      run_grpc_rows(&server, port, creds, &o, r + 1, o.efs[e], requests[e],
                    queries.rows, rr);
      if (!local_first)
        run_local_rows(&server, &o, r + 1, o.efs[e], rr);
      for (int i = 0; i < o.n_connection_counts; i++)
        failed |= rr->grpc[i].errors > 0;
    }
  }

  /* Every thread, including those gRPC and the engine started during
   * the rows, must have stayed on its side. */
  if (o.pin && (bench_check_pinned(getpid(), &client_cpus, "client") != 0 ||
                bench_check_pinned(server.pid, &server_cpus, "server") != 0))
    failed = 1;

  printf("\nOne pass over the %zu queries, one at a time (latency in us):\n\n"
         "| ef | path | recall@%u | p50 | p90 | p99 |\n"
         "| ---: | --- | ---: | ---: | ---: | ---: |\n",
         queries.rows, o.k);
  for (int e = 0; e < o.n_efs; e++) {
    print_once(o.efs[e], "in-process strata_search", recall_local[e],
               &local_once[e]);
    print_once(o.efs[e], "gRPC: server handler (SearchResponse.time)",
               recall_grpc[e], &handler_once[e]);
    print_once(o.efs[e], "gRPC: client round trip", recall_grpc[e],
               &grpc_once[e]);
    free(local_once[e].values);
    free(grpc_once[e].values);
    free(handler_once[e].values);
  }
  for (int e = 0; e < o.n_efs; e++)
    print_summary(&o, o.efs[e], rounds);
  printf("\nCPU columns: cores used (CPU seconds per second) by the "
         "searching threads (in-process rows) or the client process (gRPC "
         "rows), and by the server process, whose worker threads are in "
         "brackets.  CPU us/op: CPU time of both processes per search or "
         "call, split in brackets into the client's and the server's.  "
         "QPS ratio: gRPC QPS over in-process QPS.  CPU ratio: in-process "
         "CPU us/op over gRPC CPU us/op (client and server), an estimate "
         "of the QPS ratio when client and server share the CPUs and "
         "nothing else runs.  Server CPU ratio: the same over the "
         "server's CPU us/op alone, an estimate of the QPS ratio when the "
         "client has CPUs of its own (--pin).  load: the 1-minute load "
         "average after the row.\n");

  for (int e = 0; e < o.n_efs; e++)
    bench_free_requests(requests[e], queries.rows);
  free(exact.ids);
  grpc_channel_credentials_release(creds);
  grpc_shutdown_blocking();
stop:
  bench_stop_server(&server);
  free(queries.data);

  if (o.data == NULL && nftw(dir, remove_entry, 16, FTW_DEPTH | FTW_PHYS) != 0)
    fprintf(stderr, "grpc_bench: could not remove %s\n", dir);
  return failed;
}
