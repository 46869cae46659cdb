/*
 * Server plumbing on gRPC core's C API: the method table, the life of a
 * call, API keys, and start and stop.
 *
 * Life of a call.  Every call is an api_ctx used as the completion-queue
 * tag, in one of two phases:
 *
 *   REQUESTED  a grpc_server_request_registered_call (or, for methods not
 *              in the table, grpc_server_request_call) is pending;
 *   FINISHING  the one batch that replies to the call is in flight:
 *              initial metadata, the message, the status, and RECV_CLOSE.
 *
 * When a REQUESTED tag completes, the worker first requests the next call
 * of the same method, so a method never runs out of pending requests,
 * then runs the handler and starts the FINISHING batch.  When that batch
 * completes the context is freed.  Registered methods ask gRPC to read
 * the request with the call (GRPC_SRM_PAYLOAD_READ_INITIAL_BYTE_BUFFER),
 * so no call needs more than one batch.  Calls to unknown methods get
 * UNIMPLEMENTED.  Without a pending grpc_server_request_call they would
 * hang until the client's deadline.
 *
 * Threads.  One completion queue is shared by every worker: gRPC hands
 * each event to whichever worker is free, which balances load whatever
 * the number of client connections (a queue per thread ties a connection
 * to one thread).  Handlers call the engine directly on the worker.
 *
 * Shutdown, in this order, because a batch started on a queue that is
 * already shut down aborts inside gRPC:
 *   1. grpc_server_shutdown_and_notify: no new calls; pending requests
 *      complete with ok=0 and are freed; calls in flight go on.
 *   2. wait until the calls in flight are done, cancelling those left
 *      after the grace period, then for the shutdown tag;
 *   3. wait until no context is live, then shut the queue down, let the
 *      workers drain it and join them;
 *   4. destroy the server and the queue, grpc_shutdown_blocking().
 */
#define _GNU_SOURCE /* pthread_setname_np */
#include <errno.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <grpc/byte_buffer.h>
#include <grpc/byte_buffer_reader.h>
#include <grpc/grpc_security.h>
#include <grpc/support/alloc.h>
#include <grpc/support/log.h>
#include <grpc/support/time.h>

#include "internal.h"
#include "strata_server.h"

/* Pending registered requests kept per method, per worker thread. */
#define REQUESTS_PER_METHOD_PER_THREAD 2
/* Pending requests for unknown methods, per worker thread. */
#define UNKNOWN_REQUESTS_PER_THREAD 2
/* Lines a second that failed calls may add to the log. */
#define ERROR_LINES_PER_SECOND 20

const api_method api_methods[] = {
    {"/qdrant.Qdrant/HealthCheck", &qdrant__health_check_request__descriptor,
     api_health_check, 0},
    {"/qdrant.Collections/Get",
     &qdrant__get_collection_info_request__descriptor, api_collections_get, 0},
    {"/qdrant.Collections/List", &qdrant__list_collections_request__descriptor,
     api_collections_list, 0},
    {"/qdrant.Collections/Create", &qdrant__create_collection__descriptor,
     api_collections_create, 1},
    {"/qdrant.Collections/Delete", &qdrant__delete_collection__descriptor,
     api_collections_delete, 1},
    {"/qdrant.Collections/CollectionExists",
     &qdrant__collection_exists_request__descriptor, api_collections_exists, 0},
    {"/qdrant.Points/Upsert", &qdrant__upsert_points__descriptor,
     api_points_upsert, 1},
    {"/qdrant.Points/Delete", &qdrant__delete_points__descriptor,
     api_points_delete, 1},
    {"/qdrant.Points/Get", &qdrant__get_points__descriptor, api_points_get, 0},
    {"/qdrant.Points/Scroll", &qdrant__scroll_points__descriptor,
     api_points_scroll, 0},
    {"/qdrant.Points/Count", &qdrant__count_points__descriptor,
     api_points_count, 0},
    {"/qdrant.Points/Search", &qdrant__search_points__descriptor,
     api_points_search, 0},
    {"/qdrant.Points/SearchBatch", &qdrant__search_batch_points__descriptor,
     api_points_search_batch, 0},
    {"/qdrant.Points/Query", &qdrant__query_points__descriptor,
     api_points_query, 0},
    {"/qdrant.Points/QueryBatch", &qdrant__query_batch_points__descriptor,
     api_points_query_batch, 0},
    {"/qdrant.Points/SetPayload", &qdrant__set_payload_points__descriptor,
     api_points_set_payload, 1},
    {"/qdrant.Points/OverwritePayload", &qdrant__set_payload_points__descriptor,
     api_points_overwrite_payload, 1},
    {"/qdrant.Points/DeletePayload", &qdrant__delete_payload_points__descriptor,
     api_points_delete_payload, 1},
    {"/qdrant.Points/ClearPayload", &qdrant__clear_payload_points__descriptor,
     api_points_clear_payload, 1},
    {"/qdrant.Points/CreateFieldIndex",
     &qdrant__create_field_index_collection__descriptor,
     api_points_create_field_index, 1},
    {"/qdrant.Points/DeleteFieldIndex",
     &qdrant__delete_field_index_collection__descriptor,
     api_points_delete_field_index, 1},
};
const size_t api_n_methods = sizeof api_methods / sizeof api_methods[0];

typedef enum ctx_phase { PHASE_REQUESTED, PHASE_FINISHING } ctx_phase;

/* A completion-queue tag: a call context or the shutdown marker. */
typedef enum tag_kind { TAG_CALL, TAG_SHUTDOWN } tag_kind;

typedef struct api_ctx {
  tag_kind kind; /* first, so a tag's kind can be read through any type */
  ctx_phase phase;
  strata_server *server;
  size_t method; /* index in api_methods, or api_n_methods when unknown */
  grpc_call *call;
  gpr_timespec deadline;
  grpc_metadata_array metadata;
  grpc_byte_buffer *request;
  grpc_call_details details; /* unknown methods only */
  grpc_byte_buffer *response;
  grpc_slice status_details;
  int status_details_set;
  int cancelled;
} api_ctx;

struct strata_server {
  strata_db *db;
  grpc_server *grpc;
  grpc_completion_queue *cq;
  void **registrations; /* one per api_methods entry */
  pthread_t *workers;
  int n_workers;
  int port;
  char *api_key;
  char *read_only_api_key;

  pthread_mutex_t lock;
  pthread_cond_t changed;
  int live_calls; /* contexts with a call from gRPC, not yet freed */
  int shutting_down;
  int shutdown_done;
  unsigned long long calls;
  time_t log_second;            /* error-line rate limit: current second, */
  int log_lines;                /* lines written in it, */
  unsigned long log_suppressed; /* and lines left out since the last */

  tag_kind shutdown_tag;
};

/* ------------------------------------------------------------------ */
/* Logging                                                              */

void strata_server_log(const char *format, ...) {
  char stamp[32], message[1024];
  struct timespec now;
  struct tm tm;
  va_list args;

  clock_gettime(CLOCK_REALTIME, &now);
  gmtime_r(&now.tv_sec, &tm);
  strftime(stamp, sizeof stamp, "%Y-%m-%dT%H:%M:%S", &tm);
  va_start(args, format);
  vsnprintf(message, sizeof message, format, args);
  va_end(args);
  for (char *p = message; *p != '\0'; p++)
    if (*p == '\n' || *p == '\r')
      *p = ' ';
  /* One fprintf per line, so that lines of two threads do not mix. */
  fprintf(stderr, "%s.%03ldZ strata: %s\n", stamp, now.tv_nsec / 1000000,
          message);
}

/* gRPC core's own log lines (gpr_log, at GRPC_VERBOSITY, by default
 * errors only) go through strata_server_log, so that the log has one
 * format.  The first strata_server_start installs this for the whole
 * process, replacing any other gpr log function.  While a thread binds
 * the listening port, its lines are kept in bind_log instead, because
 * strata_server_start reports a failure there in one line of its own. */
static __thread char *bind_log;
static __thread size_t bind_log_size;

static void log_from_grpc(gpr_log_func_args *args) {
  if (bind_log != NULL) {
    size_t used = strlen(bind_log);
    if (used + 1 < bind_log_size)
      snprintf(bind_log + used, bind_log_size - used, "%s%s",
               used > 0 ? "; " : "", args->message);
    return;
  }
  strata_server_log("grpc %s: %s (%s:%d)",
                    gpr_log_severity_string(args->severity), args->message,
                    args->file, args->line);
}

static void install_grpc_log(void) { gpr_set_log_function(log_from_grpc); }

/* Copies the operating system's reason (e.g. "Address already in use")
 * out of gRPC's error text into `reason`; returns 0 when there is none. */
static int os_error_of(const char *grpc_text, char *reason, size_t size) {
  const char *key = "os_error:\"";
  const char *start = strstr(grpc_text, key);
  if (start == NULL)
    return 0;
  start += strlen(key);
  const char *end = strchr(start, '"');
  if (end == NULL || end == start)
    return 0;
  size_t len = (size_t)(end - start);
  if (len >= size)
    len = size - 1;
  memcpy(reason, start, len);
  reason[len] = '\0';
  return 1;
}

static const char *status_name(grpc_status_code code) {
  static const char *const names[] = {"OK",
                                      "CANCELLED",
                                      "UNKNOWN",
                                      "INVALID_ARGUMENT",
                                      "DEADLINE_EXCEEDED",
                                      "NOT_FOUND",
                                      "ALREADY_EXISTS",
                                      "PERMISSION_DENIED",
                                      "RESOURCE_EXHAUSTED",
                                      "FAILED_PRECONDITION",
                                      "ABORTED",
                                      "OUT_OF_RANGE",
                                      "UNIMPLEMENTED",
                                      "INTERNAL",
                                      "UNAVAILABLE",
                                      "DATA_LOSS",
                                      "UNAUTHENTICATED"};
  if ((unsigned)code < sizeof names / sizeof names[0])
    return names[code];
  return "UNKNOWN";
}

/* ------------------------------------------------------------------ */
/* Helpers for handlers                                                 */

grpc_status_code api_fail(api_call *call, grpc_status_code code,
                          const char *format, ...) {
  va_list args;
  va_start(args, format);
  vsnprintf(call->error, sizeof call->error, format, args);
  va_end(args);
  return code;
}

grpc_status_code api_fail_engine(api_call *call, strata_status status) {
  grpc_status_code code;
  switch (status) {
  case STRATA_ERR_INVALID_ARGUMENT:
    code = GRPC_STATUS_INVALID_ARGUMENT;
    break;
  case STRATA_ERR_NOT_FOUND:
    code = GRPC_STATUS_NOT_FOUND;
    break;
  case STRATA_ERR_ALREADY_EXISTS:
    code = GRPC_STATUS_ALREADY_EXISTS;
    break;
  case STRATA_ERR_NO_MEMORY:
    code = GRPC_STATUS_RESOURCE_EXHAUSTED;
    break;
  case STRATA_ERR_LOCKED:
    code = GRPC_STATUS_UNAVAILABLE;
    break;
  default:
    code = GRPC_STATUS_INTERNAL;
    break;
  }
  const char *message = strata_last_error();
  if (message[0] == '\0')
    message = strata_strerror(status);
  /* Engine messages quote names, possibly cut inside a UTF-8 sequence;
   * clients fail to decode invalid UTF-8 in a status message. */
  api_printable(message, call->error, sizeof call->error);
  return code;
}

int api_deadline_passed(const api_call *call) {
  gpr_timespec now = gpr_now(call->deadline.clock_type);
  return gpr_time_cmp(call->deadline, now) < 0;
}

void api_clock_start(struct timespec *start) {
  clock_gettime(CLOCK_MONOTONIC, start);
}

double api_elapsed(const struct timespec *start) {
  struct timespec now;
  clock_gettime(CLOCK_MONOTONIC, &now);
  return (double)(now.tv_sec - start->tv_sec) +
         (double)(now.tv_nsec - start->tv_nsec) / 1e9;
}

/* ------------------------------------------------------------------ */
/* API keys                                                             */

/* Compares a received key with a configured one in time that depends
 * only on their lengths, so that timing does not reveal a prefix. */
static int key_equals(const grpc_slice *received, const char *expected) {
  size_t received_len = GRPC_SLICE_LENGTH(*received);
  size_t expected_len = strlen(expected);
  const uint8_t *r = GRPC_SLICE_START_PTR(*received);
  unsigned diff = received_len != expected_len;
  size_t n = received_len > expected_len ? received_len : expected_len;
  for (size_t i = 0; i < n; i++) {
    uint8_t a = i < received_len ? r[i] : 0;
    uint8_t b = i < expected_len ? (uint8_t)expected[i] : 0;
    diff |= (unsigned)(a ^ b);
  }
  return diff == 0;
}

/* Checks the `api-key` metadata against the configured keys.  Without
 * keys every call passes; with any key, a call needs one of them, and
 * the read-only key does not admit methods that write. */
static grpc_status_code check_api_key(const strata_server *server,
                                      const api_ctx *ctx, int writes,
                                      api_call *call) {
  if (server->api_key == NULL && server->read_only_api_key == NULL)
    return GRPC_STATUS_OK;

  const grpc_slice *received = NULL;
  for (size_t i = 0; i < ctx->metadata.count; i++)
    if (grpc_slice_str_cmp(ctx->metadata.metadata[i].key, "api-key") == 0)
      received = &ctx->metadata.metadata[i].value;
  if (received == NULL)
    return api_fail(call, GRPC_STATUS_UNAUTHENTICATED,
                    "missing api-key metadata: this server requires an API "
                    "key");

  if (server->api_key != NULL && key_equals(received, server->api_key))
    return GRPC_STATUS_OK;
  if (server->read_only_api_key != NULL &&
      key_equals(received, server->read_only_api_key)) {
    if (!writes)
      return GRPC_STATUS_OK;
    return api_fail(call, GRPC_STATUS_PERMISSION_DENIED,
                    "the read-only API key does not allow %s; use the API "
                    "key",
                    call->method_name);
  }
  return api_fail(call, GRPC_STATUS_UNAUTHENTICATED,
                  "invalid api-key: it matches no key of this server");
}

/* ------------------------------------------------------------------ */
/* Calls                                                                */

static void ctx_free(api_ctx *ctx) {
  strata_server *server = ctx->server;
  int had_call = ctx->call != NULL;

  if (ctx->call != NULL)
    grpc_call_unref(ctx->call);
  grpc_metadata_array_destroy(&ctx->metadata);
  if (ctx->method == api_n_methods)
    grpc_call_details_destroy(&ctx->details);
  if (ctx->request != NULL)
    grpc_byte_buffer_destroy(ctx->request);
  if (ctx->response != NULL)
    grpc_byte_buffer_destroy(ctx->response);
  if (ctx->status_details_set)
    grpc_slice_unref(ctx->status_details);
  free(ctx);

  if (had_call) {
    pthread_mutex_lock(&server->lock);
    server->live_calls--;
    pthread_cond_broadcast(&server->changed);
    pthread_mutex_unlock(&server->lock);
  }
}

/* Requests the next call of method `method` (api_n_methods for calls to
 * unknown methods).  Does nothing once the server is shutting down. */
static void request_call(strata_server *server, size_t method) {
  pthread_mutex_lock(&server->lock);
  int stop = server->shutting_down;
  pthread_mutex_unlock(&server->lock);
  if (stop)
    return;

  api_ctx *ctx = calloc(1, sizeof *ctx);
  if (ctx == NULL) {
    strata_server_log("error: out of memory requesting a call");
    return;
  }
  ctx->kind = TAG_CALL;
  ctx->phase = PHASE_REQUESTED;
  ctx->server = server;
  ctx->method = method;
  grpc_metadata_array_init(&ctx->metadata);

  grpc_call_error err;
  if (method == api_n_methods) {
    grpc_call_details_init(&ctx->details);
    err = grpc_server_request_call(server->grpc, &ctx->call, &ctx->details,
                                   &ctx->metadata, server->cq, server->cq, ctx);
  } else {
    err = grpc_server_request_registered_call(
        server->grpc, server->registrations[method], &ctx->call, &ctx->deadline,
        &ctx->metadata, &ctx->request, server->cq, server->cq, ctx);
  }
  if (err != GRPC_CALL_OK) {
    strata_server_log("error: requesting a call failed (gRPC error %d)",
                      (int)err);
    ctx->call = NULL;
    ctx_free(ctx);
  }
}

/* Decodes the request, checks key and deadline, and runs the handler.
 * Sets ctx->response on success; returns the status. */
static grpc_status_code run_handler(api_ctx *ctx, api_call *call) {
  const api_method *method = &api_methods[ctx->method];
  ProtobufCMessage *request = NULL;
  ProtobufCMessage *response = NULL;
  grpc_byte_buffer_reader reader;
  grpc_slice raw = grpc_empty_slice();
  grpc_status_code code;

  code = check_api_key(ctx->server, ctx, method->writes, call);
  if (code != GRPC_STATUS_OK)
    return code;
  if (api_deadline_passed(call))
    return api_fail(call, GRPC_STATUS_DEADLINE_EXCEEDED,
                    "the deadline passed before the call started");

  /* Read the whole message; the reader also inflates gzip. */
  if (ctx->request != NULL) {
    if (!grpc_byte_buffer_reader_init(&reader, ctx->request))
      return api_fail(call, GRPC_STATUS_INVALID_ARGUMENT,
                      "the request message could not be decompressed");
    raw = grpc_byte_buffer_reader_readall(&reader);
    grpc_byte_buffer_reader_destroy(&reader);
  }
  const uint8_t *bytes = GRPC_SLICE_START_PTR(raw);
  size_t len = GRPC_SLICE_LENGTH(raw);
  if (api_check_depth(method->input, bytes, len, 0) != 0) {
    grpc_slice_unref(raw);
    return api_fail(call, GRPC_STATUS_INVALID_ARGUMENT,
                    "the request is not a valid %s message, or nests "
                    "messages deeper than %d levels",
                    method->input->name, API_MAX_MESSAGE_DEPTH);
  }
  request = protobuf_c_message_unpack(method->input, NULL, len, bytes);
  grpc_slice_unref(raw);
  if (request == NULL)
    return api_fail(call, GRPC_STATUS_INVALID_ARGUMENT,
                    "the request is not a valid %s message",
                    method->input->name);

  code = method->handler(call, request, &response);
  protobuf_c_message_free_unpacked(request, NULL);
  if (code != GRPC_STATUS_OK)
    return code;

  /* Serialize the response into one slice. */
  size_t size = protobuf_c_message_get_packed_size(response);
  grpc_slice out = grpc_slice_malloc(size);
  protobuf_c_message_pack(response, GRPC_SLICE_START_PTR(out));
  ctx->response = grpc_raw_byte_buffer_create(&out, 1);
  grpc_slice_unref(out);
  return GRPC_STATUS_OK;
}

/* Sends the reply to a call in one batch.  The context is freed when
 * the batch completes. */
static void finish_call(api_ctx *ctx, grpc_status_code code,
                        const char *message) {
  grpc_op ops[4];
  size_t n = 0;

  memset(ops, 0, sizeof ops);
  ops[n].op = GRPC_OP_SEND_INITIAL_METADATA;
  n++;
  if (code == GRPC_STATUS_OK && ctx->response != NULL) {
    ops[n].op = GRPC_OP_SEND_MESSAGE;
    ops[n].data.send_message.send_message = ctx->response;
    n++;
  }
  ops[n].op = GRPC_OP_SEND_STATUS_FROM_SERVER;
  ops[n].data.send_status_from_server.status = code;
  if (code != GRPC_STATUS_OK) {
    ctx->status_details = grpc_slice_from_copied_string(message);
    ctx->status_details_set = 1;
    ops[n].data.send_status_from_server.status_details = &ctx->status_details;
  }
  n++;
  ops[n].op = GRPC_OP_RECV_CLOSE_ON_SERVER;
  ops[n].data.recv_close_on_server.cancelled = &ctx->cancelled;
  n++;

  ctx->phase = PHASE_FINISHING;
  grpc_call_error err = grpc_call_start_batch(ctx->call, ops, n, ctx, NULL);
  if (err != GRPC_CALL_OK) {
    strata_server_log("error: starting the reply batch failed (gRPC error "
                      "%d)",
                      (int)err);
    ctx_free(ctx);
  }
}

/* Logs a failed call, at most ERROR_LINES_PER_SECOND lines a second; the
 * lines left out are counted in the next line that is written. */
static void log_call_error(strata_server *server, const char *method,
                           grpc_status_code code, const char *message) {
  struct timespec now;
  clock_gettime(CLOCK_MONOTONIC, &now);
  pthread_mutex_lock(&server->lock);
  if (now.tv_sec != server->log_second) {
    server->log_second = now.tv_sec;
    server->log_lines = 0;
  }
  int write = server->log_lines < ERROR_LINES_PER_SECOND;
  unsigned long suppressed = 0;
  if (write) {
    server->log_lines++;
    suppressed = server->log_suppressed;
    server->log_suppressed = 0;
  } else {
    server->log_suppressed++;
  }
  pthread_mutex_unlock(&server->lock);

  if (!write)
    return;
  if (suppressed > 0)
    strata_server_log("%s failed: %s: %s (%lu earlier error lines left out)",
                      method, status_name(code), message, suppressed);
  else
    strata_server_log("%s failed: %s: %s", method, status_name(code), message);
}

/* Handles a call that has just arrived. */
static void start_call(api_ctx *ctx) {
  strata_server *server = ctx->server;
  api_call call;
  grpc_status_code code;
  char path[256];

  memset(&call, 0, sizeof call);
  call.db = server->db;

  pthread_mutex_lock(&server->lock);
  server->live_calls++;
  server->calls++;
  pthread_mutex_unlock(&server->lock);

  /* Keep a request pending for this method before working on the call. */
  request_call(server, ctx->method);

  if (ctx->method == api_n_methods) {
    char *method = grpc_slice_to_c_string(ctx->details.method);
    api_printable(method, path, sizeof path);
    gpr_free(method);
    call.method_name = path;
    code = api_fail(&call, GRPC_STATUS_UNIMPLEMENTED,
                    "method %s is not implemented by this server", path);
  } else {
    call.method_name = api_methods[ctx->method].path;
    call.deadline = ctx->deadline;
    code = run_handler(ctx, &call);
  }

  if (code != GRPC_STATUS_OK)
    log_call_error(server, call.method_name, code, call.error);
  finish_call(ctx, code, call.error);
  api_arena_free(&call.arena);
}

static void *worker_main(void *arg) {
  strata_server *server = arg;
  /* Named so that top, perf and /proc/PID/task distinguish workers from
   * gRPC's own threads. */
  pthread_setname_np(pthread_self(), "strata-worker");
  for (;;) {
    grpc_event event = grpc_completion_queue_next(
        server->cq, gpr_inf_future(GPR_CLOCK_REALTIME), NULL);
    if (event.type == GRPC_QUEUE_SHUTDOWN)
      break;
    if (event.type != GRPC_OP_COMPLETE)
      continue;

    if (*(tag_kind *)event.tag == TAG_SHUTDOWN) {
      pthread_mutex_lock(&server->lock);
      server->shutdown_done = 1;
      pthread_cond_broadcast(&server->changed);
      pthread_mutex_unlock(&server->lock);
      continue;
    }

    api_ctx *ctx = event.tag;
    if (ctx->phase == PHASE_FINISHING) {
      ctx_free(ctx);
    } else if (!event.success) {
      /* The request was cancelled by shutdown: no call arrived. */
      if (ctx->call != NULL) {
        grpc_call_unref(ctx->call);
        ctx->call = NULL;
      }
      ctx_free(ctx);
    } else {
      start_call(ctx);
    }
  }
  return NULL;
}

/* ------------------------------------------------------------------ */
/* Start and stop                                                       */

static char *read_file(const char *path, char *error, size_t error_size) {
  FILE *f = fopen(path, "rb");
  if (f == NULL) {
    snprintf(error, error_size, "cannot open \"%s\": %s", path,
             strerror(errno));
    return NULL;
  }
  size_t cap = 4096, len = 0;
  char *buf = malloc(cap);
  while (buf != NULL) {
    size_t got = fread(buf + len, 1, cap - len - 1, f);
    len += got;
    if (got == 0)
      break;
    if (len + 1 == cap) {
      char *bigger = cap < (16u << 20) ? realloc(buf, cap * 2) : NULL;
      if (bigger == NULL) {
        free(buf);
        buf = NULL;
        break;
      }
      buf = bigger;
      cap *= 2;
    }
  }
  int failed = ferror(f);
  fclose(f);
  if (buf == NULL || failed) {
    free(buf);
    snprintf(error, error_size, "cannot read \"%s\" (at most 16 MiB)", path);
    return NULL;
  }
  buf[len] = '\0';
  return buf;
}

static grpc_server_credentials *
make_credentials(const strata_server_config *config, char *error,
                 size_t error_size) {
  int has_cert = config->tls_cert_file && config->tls_cert_file[0];
  int has_key = config->tls_key_file && config->tls_key_file[0];
  if (!has_cert && !has_key)
    return grpc_insecure_server_credentials_create();
  if (!has_cert || !has_key) {
    snprintf(error, error_size,
             "TLS needs both a certificate and a key file; only the %s was "
             "given",
             has_cert ? "certificate" : "key");
    return NULL;
  }

  char *cert = read_file(config->tls_cert_file, error, error_size);
  char *key = cert ? read_file(config->tls_key_file, error, error_size) : NULL;
  grpc_server_credentials *creds = NULL;
  if (cert != NULL && key != NULL) {
    grpc_ssl_pem_key_cert_pair pair = {key, cert};
    creds = grpc_ssl_server_credentials_create(NULL, &pair, 1, 0, NULL);
    if (creds == NULL)
      snprintf(error, error_size,
               "TLS certificate \"%s\" or key \"%s\" is not valid PEM",
               config->tls_cert_file, config->tls_key_file);
  }
  free(cert);
  free(key);
  return creds;
}

static void server_free(strata_server *server) {
  if (server->grpc != NULL)
    grpc_server_destroy(server->grpc);
  if (server->cq != NULL)
    grpc_completion_queue_destroy(server->cq);
  free(server->registrations);
  free(server->workers);
  free(server->api_key);
  free(server->read_only_api_key);
  pthread_mutex_destroy(&server->lock);
  pthread_cond_destroy(&server->changed);
  free(server);
  grpc_shutdown_blocking();
}

static char *copy_key(const char *key) {
  return key != NULL && key[0] != '\0' ? strdup(key) : NULL;
}

strata_status strata_server_start(strata_db *db,
                                  const strata_server_config *config,
                                  strata_server **out, char *error,
                                  size_t error_size) {
  if (config->port < 0 || config->port > 65535) {
    snprintf(error, error_size, "port %d is out of range 0 to 65535",
             config->port);
    return STRATA_ERR_INVALID_ARGUMENT;
  }
  if (config->max_message_bytes == 0 || config->max_message_bytes > INT32_MAX) {
    snprintf(error, error_size,
             "maximum message size %zu is out of range 1 to %d bytes",
             config->max_message_bytes, INT32_MAX);
    return STRATA_ERR_INVALID_ARGUMENT;
  }

  static pthread_once_t log_once = PTHREAD_ONCE_INIT;
  pthread_once(&log_once, install_grpc_log);
  grpc_init();
  strata_server *server = calloc(1, sizeof *server);
  if (server == NULL) {
    grpc_shutdown_blocking();
    snprintf(error, error_size, "out of memory");
    return STRATA_ERR_NO_MEMORY;
  }
  pthread_mutex_init(&server->lock, NULL);
  pthread_cond_init(&server->changed, NULL);
  server->db = db;
  server->shutdown_tag = TAG_SHUTDOWN;
  server->api_key = copy_key(config->api_key);
  server->read_only_api_key = copy_key(config->read_only_api_key);
  server->n_workers = config->threads;
  if (server->n_workers <= 0) {
    long cpus = sysconf(_SC_NPROCESSORS_ONLN);
    server->n_workers = cpus > 0 ? (int)cpus : 1;
  }
  server->registrations = calloc(api_n_methods, sizeof(void *));
  server->workers = calloc((size_t)server->n_workers, sizeof(pthread_t));
  if (server->registrations == NULL || server->workers == NULL) {
    server_free(server);
    snprintf(error, error_size, "out of memory");
    return STRATA_ERR_NO_MEMORY;
  }

  /* Reuseport off, so a second server cannot bind the same port and
   * share its connections. */
  grpc_arg args[2];
  args[0].type = GRPC_ARG_INTEGER;
  args[0].key = GRPC_ARG_ALLOW_REUSEPORT;
  args[0].value.integer = 0;
  args[1].type = GRPC_ARG_INTEGER;
  args[1].key = GRPC_ARG_MAX_RECEIVE_MESSAGE_LENGTH;
  args[1].value.integer = (int)config->max_message_bytes;
  grpc_channel_args channel_args = {2, args};

  server->grpc = grpc_server_create(&channel_args, NULL);
  server->cq = grpc_completion_queue_create_for_next(NULL);
  grpc_server_register_completion_queue(server->grpc, server->cq, NULL);
  for (size_t i = 0; i < api_n_methods; i++)
    server->registrations[i] = grpc_server_register_method(
        server->grpc, api_methods[i].path, NULL,
        GRPC_SRM_PAYLOAD_READ_INITIAL_BYTE_BUFFER, 0);

  grpc_server_credentials *creds = make_credentials(config, error, error_size);
  if (creds == NULL) {
    server_free(server);
    return STRATA_ERR_IO;
  }
  const char *host = config->host && config->host[0]
                         ? config->host
                         : STRATA_SERVER_DEFAULT_HOST;
  char address[300];
  if (strchr(host, ':') != NULL && host[0] != '[')
    snprintf(address, sizeof address, "[%s]:%d", host, config->port);
  else
    snprintf(address, sizeof address, "%s:%d", host, config->port);
  char grpc_text[2048] = "", reason[128];
  bind_log = grpc_text;
  bind_log_size = sizeof grpc_text;
  server->port = grpc_server_add_http2_port(server->grpc, address, creds);
  bind_log = NULL;
  grpc_server_credentials_release(creds);
  if (server->port == 0) {
    if (os_error_of(grpc_text, reason, sizeof reason))
      snprintf(error, error_size, "cannot listen on %s: %s", address, reason);
    else
      snprintf(error, error_size,
               "cannot listen on %s: the address is in use or cannot be "
               "resolved",
               address);
    server_free(server);
    return STRATA_ERR_IO;
  }

  grpc_server_start(server->grpc);
  for (int t = 0; t < server->n_workers; t++) {
    for (size_t m = 0; m < api_n_methods; m++)
      for (int r = 0; r < REQUESTS_PER_METHOD_PER_THREAD; r++)
        request_call(server, m);
    for (int r = 0; r < UNKNOWN_REQUESTS_PER_THREAD; r++)
      request_call(server, api_n_methods);
  }
  for (int t = 0; t < server->n_workers; t++) {
    if (pthread_create(&server->workers[t], NULL, worker_main, server) != 0) {
      snprintf(error, error_size, "cannot start worker thread %d", t);
      server->n_workers = t;
      strata_server_stop(server, 0);
      return STRATA_ERR_NO_MEMORY;
    }
  }
  *out = server;
  return STRATA_OK;
}

int strata_server_port(const strata_server *server) { return server->port; }

unsigned long long strata_server_calls(const strata_server *server) {
  strata_server *s = (strata_server *)server;
  pthread_mutex_lock(&s->lock);
  unsigned long long calls = s->calls;
  pthread_mutex_unlock(&s->lock);
  return calls;
}

/* Waits on the server's condition until `*flag` is set or `timeout_ms`
 * pass (negative: no limit).  Returns 1 when the flag was set. */
static int wait_flag(strata_server *server, const int *flag, int expect_zero,
                     int timeout_ms) {
  struct timespec until;
  clock_gettime(CLOCK_REALTIME, &until);
  if (timeout_ms >= 0) {
    until.tv_sec += timeout_ms / 1000;
    until.tv_nsec += (long)(timeout_ms % 1000) * 1000000L;
    if (until.tv_nsec >= 1000000000L) {
      until.tv_sec++;
      until.tv_nsec -= 1000000000L;
    }
  }
  pthread_mutex_lock(&server->lock);
  int rc = 0;
  while ((expect_zero ? *flag != 0 : *flag == 0) && rc == 0) {
    if (timeout_ms < 0)
      pthread_cond_wait(&server->changed, &server->lock);
    else
      rc = pthread_cond_timedwait(&server->changed, &server->lock, &until);
  }
  int done = expect_zero ? *flag == 0 : *flag != 0;
  pthread_mutex_unlock(&server->lock);
  return done;
}

void strata_server_stop(strata_server *server, int grace_ms) {
  if (server == NULL)
    return;

  /* 1 and 2: stop accepting calls, let those in flight finish. */
  pthread_mutex_lock(&server->lock);
  server->shutting_down = 1;
  pthread_mutex_unlock(&server->lock);
  grpc_server_shutdown_and_notify(server->grpc, server->cq,
                                  &server->shutdown_tag);
  if (server->n_workers == 0) {
    /* No worker polls the queue (start failed): drain it here. */
    for (;;) {
      grpc_event event = grpc_completion_queue_next(
          server->cq,
          gpr_time_add(gpr_now(GPR_CLOCK_MONOTONIC),
                       gpr_time_from_millis(100, GPR_TIMESPAN)),
          NULL);
      if (event.type != GRPC_OP_COMPLETE)
        break;
      if (*(tag_kind *)event.tag == TAG_CALL)
        ctx_free(event.tag);
    }
  } else {
    if (!wait_flag(server, &server->live_calls, 1, grace_ms))
      strata_server_log("cancelling calls still running after %d ms", grace_ms);
    /* Besides cancelling, this disconnects idle clients at once, where
     * the shutdown tag alone waits about 5 s for them (gRPC 1.51). */
    grpc_server_cancel_all_calls(server->grpc);
    wait_flag(server, &server->shutdown_done, 0, -1);
  }

  /* 3: no context may start a batch once the queue is shut down. */
  wait_flag(server, &server->live_calls, 1, -1);
  grpc_completion_queue_shutdown(server->cq);
  for (int t = 0; t < server->n_workers; t++)
    pthread_join(server->workers[t], NULL);
  if (server->n_workers == 0)
    while (grpc_completion_queue_next(server->cq,
                                      gpr_inf_future(GPR_CLOCK_REALTIME), NULL)
               .type != GRPC_QUEUE_SHUTDOWN) {
    }

  /* 4. */
  server_free(server);
}
