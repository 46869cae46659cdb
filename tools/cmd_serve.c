/*
 * strata serve: run the Qdrant-compatible gRPC server on a database until
 * SIGTERM or SIGINT, then finish the calls in flight and close it.
 */
#include <pthread.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "strata_server.h"

/* How long calls in flight may run after a stop signal before they are
 * cancelled. */
#define SHUTDOWN_GRACE_MS 10000

static const char serve_help[] =
    "usage: strata serve [options]\n"
    "\n"
    "Serves the database over gRPC with Qdrant's API (package qdrant,\n"
    "services Qdrant, Collections and Points) until SIGTERM or SIGINT.\n"
    "Settings come from the defaults, then --config, then the environment\n"
    "(STRATA_DATA, STRATA_HOST, STRATA_PORT, STRATA_API_KEY,\n"
    "STRATA_READ_ONLY_API_KEY), then these options; later ones win.\n"
    "\n"
    "Options:\n"
    "  --data DIR              database directory (default ./strata-data)\n"
    "  --host ADDR             address to listen on (default 127.0.0.1)\n"
    "  --port N                TCP port, 0 for any free one (default 6334)\n"
    "  --config FILE           JSON object of settings: data, host, port,\n"
    "                          api_key, read_only_api_key, tls_cert, "
    "tls_key,\n"
    "                          threads, max_message_mb\n"
    "  --api-key K             require K in the api-key metadata of every "
    "call\n"
    "  --read-only-api-key K   also accept K, for calls that do not write\n"
    "  --tls-cert FILE         serve TLS with this PEM certificate chain\n"
    "  --tls-key FILE          and this PEM private key\n"
    "  --threads N             worker threads (default: one per CPU)\n"
    "  --max-message-mb N      largest request in MiB (default 32)\n"
    "\n"
    "The listening port is logged on stderr at start.\n";

static const cli_option_spec serve_options[] = {
    {"host", 1},
    {"port", 1},
    {"config", 1},
    {"api-key", 1},
    {"read-only-api-key", 1},
    {"tls-cert", 1},
    {"tls-key", 1},
    {"threads", 1},
    {"max-message-mb", 1},
    {NULL, 0},
};

/* Applies the command-line options over the settings; flag names use
 * '-' where setting names use '_'. */
static int apply_flags(const cli_args *args, strata_server_settings *s) {
  for (size_t i = 0; i < args->n_options; i++) {
    const cli_option *o = &args->options[i];
    char name[64], error[512];
    if (strcmp(o->name, "config") == 0)
      continue;
    snprintf(name, sizeof name, "%s", o->name);
    for (char *p = name; *p != '\0'; p++)
      if (*p == '-')
        *p = '_';
    if (strata_server_settings_set(s, name, o->value, error, sizeof error) != 0)
      return cli_usage("serve", "%s", error);
  }
  return 0;
}

/* Writes the engine's warnings (e.g. an index rebuilt after damage) as
 * server log lines. */
static void log_engine(void *context, const char *message) {
  strata_server_log("engine: %s", message);
}

static int is_set(const char *text) { return text != NULL && text[0] != '\0'; }

static int count_collections(strata_db *db) {
  char **names = NULL;
  int n = 0;
  if (strata_collection_list(db, &names) != STRATA_OK)
    return -1;
  while (names[n] != NULL)
    n++;
  strata_names_free(names);
  return n;
}

int cmd_serve(int argc, char **argv) {
  cli_args args;
  strata_server_settings settings;
  char error[512];
  int rc = 0;

  if (cli_parse(argc, argv, serve_options, serve_help, &args) != 0)
    return CLI_EXIT_USAGE;
  if (args.n_positional > 0) {
    rc = cli_usage("serve", "unexpected argument \"%s\"", args.positional[0]);
    cli_args_free(&args);
    return rc;
  }

  /* Settings: defaults < file < environment < flags. */
  strata_server_settings_init(&settings);
  const char *config = cli_get(&args, "config");
  if (config != NULL && strata_server_settings_load_file(
                            &settings, config, error, sizeof error) != 0)
    rc = cli_usage("serve", "%s", error);
  if (rc == 0 &&
      strata_server_settings_load_env(&settings, error, sizeof error) != 0)
    rc = cli_usage("serve", "%s", error);
  if (rc == 0)
    rc = apply_flags(&args, &settings);
  cli_args_free(&args);
  if (rc != 0) {
    strata_server_settings_free(&settings);
    return rc;
  }

  /* Block the stop signals before gRPC starts its threads, so that they
   * inherit the mask and only sigwait() below receives the signals. */
  sigset_t stop_signals;
  sigemptyset(&stop_signals);
  sigaddset(&stop_signals, SIGTERM);
  sigaddset(&stop_signals, SIGINT);
  pthread_sigmask(SIG_BLOCK, &stop_signals, NULL);

  strata_open_options open_options = {.create_if_missing = 1,
                                      .log = log_engine};
  strata_db *db = NULL;
  if (strata_open(settings.data_dir, &open_options, &db) != STRATA_OK) {
    strata_server_log("error: cannot open database %s: %s", settings.data_dir,
                      strata_last_error());
    strata_server_settings_free(&settings);
    return CLI_EXIT_FAILURE;
  }

  strata_server_config server_config = {
      .host = settings.host,
      .port = settings.port,
      .threads = settings.threads,
      .max_message_bytes = (size_t)settings.max_message_mb << 20,
      .api_key = settings.api_key,
      .read_only_api_key = settings.read_only_api_key,
      .tls_cert_file = settings.tls_cert,
      .tls_key_file = settings.tls_key,
  };
  strata_server *server = NULL;
  if (strata_server_start(db, &server_config, &server, error, sizeof error) !=
      STRATA_OK) {
    /* The library's message names the address, and the flags that change
     * it belong to this command. */
    const char *hint = "";
    if (strstr(error, "cannot listen on") != NULL)
      hint = "; choose another address with --host and --port (or "
             "STRATA_HOST and STRATA_PORT)";
    strata_server_log("error: cannot start the server: %s%s", error, hint);
    strata_close(db);
    strata_server_settings_free(&settings);
    return CLI_EXIT_FAILURE;
  }
  strata_server_log("started: listening on %s port %d (%s), data %s, %d "
                    "collections, API key %s, read-only key %s",
                    settings.host, strata_server_port(server),
                    is_set(settings.tls_cert) ? "TLS" : "plaintext",
                    settings.data_dir, count_collections(db),
                    is_set(settings.api_key) ? "required" : "off",
                    is_set(settings.read_only_api_key) ? "on" : "off");

  int signal_number = 0;
  sigwait(&stop_signals, &signal_number);
  strata_server_log("stopping on %s: finishing calls in flight",
                    signal_number == SIGINT ? "SIGINT" : "SIGTERM");
  unsigned long long calls = strata_server_calls(server);
  strata_server_stop(server, SHUTDOWN_GRACE_MS);
  strata_close(db);
  strata_server_log("stopped after %llu calls; database %s closed", calls,
                    settings.data_dir);
  strata_server_settings_free(&settings);
  return 0;
}
