/*
 * strata_server.h: a gRPC server that speaks Qdrant's API (package
 * `qdrant`) over a Strata database.
 *
 * The server runs on gRPC core's C API.  Calls arrive on one completion
 * queue that a pool of worker threads polls, and each worker runs the
 * handler of the call it takes to completion (the engine's reads run in
 * parallel, its writes one at a time).  See api/README.md for the RPCs
 * served and the requests rejected.
 */
#ifndef STRATA_SERVER_H
#define STRATA_SERVER_H

#include <stddef.h>

#include "strata.h"

/* The Qdrant API level that HealthCheck reports as its version, so that
 * Qdrant clients accept the server without a compatibility warning. */
#define STRATA_SERVER_QDRANT_VERSION "1.18.0"

#define STRATA_SERVER_DEFAULT_HOST "127.0.0.1"
#define STRATA_SERVER_DEFAULT_PORT 6334
#define STRATA_SERVER_DEFAULT_MAX_MESSAGE_MB 32

typedef struct strata_server strata_server;

/* Settings of a server.  Strings are borrowed for the duration of
 * strata_server_start(); the server copies what it keeps. */
typedef struct strata_server_config {
  const char *host;         /* address to bind, e.g. "127.0.0.1" or "::1" */
  int port;                 /* 0 picks a free port; see strata_server_port() */
  int threads;              /* worker threads; 0 means one per online CPU */
  size_t max_message_bytes; /* largest request accepted, after gzip */
  const char *api_key;      /* NULL or "": no key required */
  const char *read_only_api_key; /* NULL or "": none */
  const char *tls_cert_file;     /* PEM; both or neither with the key */
  const char *tls_key_file;
} strata_server_config;

/* Starts serving `db` (which must stay open until strata_server_stop()
 * returns).  On failure returns STRATA_ERR_INVALID_ARGUMENT (bad
 * settings), STRATA_ERR_IO (the address cannot be bound, TLS files
 * unreadable) or STRATA_ERR_NO_MEMORY, and writes the reason into
 * `error` (`error_size` bytes). */
strata_status strata_server_start(strata_db *db,
                                  const strata_server_config *config,
                                  strata_server **out, char *error,
                                  size_t error_size);

/* Returns the TCP port the server listens on. */
int strata_server_port(const strata_server *server);

/* Returns the number of calls the server received so far. */
unsigned long long strata_server_calls(const strata_server *server);

/* Stops accepting calls, lets calls in flight finish (cancelling them
 * after `grace_ms` milliseconds), joins the workers and frees the
 * server.  The database is left open for the caller to close. */
void strata_server_stop(strata_server *server, int grace_ms);

/* Settings of `strata serve`, gathered from a JSON file, the
 * environment and the command line (later sources override earlier
 * ones).  Strings are malloc'd and owned by the struct. */
typedef struct strata_server_settings {
  char *data_dir;
  char *host;
  char *api_key;
  char *read_only_api_key;
  char *tls_cert;
  char *tls_key;
  int port;
  int threads;
  int max_message_mb;
} strata_server_settings;

/* Sets the defaults: ./strata-data, 127.0.0.1, 6334, one thread per CPU,
 * 32 MiB messages, no keys, no TLS. */
void strata_server_settings_init(strata_server_settings *settings);
void strata_server_settings_free(strata_server_settings *settings);

/* Sets one setting by name: data, host, port, api_key,
 * read_only_api_key, tls_cert, tls_key, threads, max_message_mb.
 * Returns -1 and writes the reason into `error` on an unknown name or an
 * invalid value. */
int strata_server_settings_set(strata_server_settings *settings,
                               const char *name, const char *value, char *error,
                               size_t error_size);

/* Reads a JSON object of settings, e.g. {"port": 6334, "api_key": "k"};
 * keys are the names above.  Returns -1 with the reason on failure. */
int strata_server_settings_load_file(strata_server_settings *settings,
                                     const char *path, char *error,
                                     size_t error_size);

/* Applies STRATA_DATA, STRATA_HOST, STRATA_PORT, STRATA_API_KEY and
 * STRATA_READ_ONLY_API_KEY when they are set and not empty. */
int strata_server_settings_load_env(strata_server_settings *settings,
                                    char *error, size_t error_size);

/* Writes one log line to stderr: an ISO 8601 UTC timestamp, "strata:",
 * and the formatted message.  Safe from any thread. */
void strata_server_log(const char *format, ...)
    __attribute__((format(printf, 1, 2)));

#endif
