/*
 * Settings of `strata serve`: defaults, a JSON configuration file, the
 * STRATA_* environment variables and command-line flags, applied in that
 * order through one setter so that each source validates alike.
 */
#include <errno.h>
#include <jansson.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "strata_server.h"

#define DEFAULT_DATA_DIR "./strata-data"

void strata_server_settings_init(strata_server_settings *settings) {
  memset(settings, 0, sizeof *settings);
  settings->data_dir = strdup(DEFAULT_DATA_DIR);
  settings->host = strdup(STRATA_SERVER_DEFAULT_HOST);
  settings->port = STRATA_SERVER_DEFAULT_PORT;
  settings->max_message_mb = STRATA_SERVER_DEFAULT_MAX_MESSAGE_MB;
}

void strata_server_settings_free(strata_server_settings *settings) {
  free(settings->data_dir);
  free(settings->host);
  free(settings->api_key);
  free(settings->read_only_api_key);
  free(settings->tls_cert);
  free(settings->tls_key);
  memset(settings, 0, sizeof *settings);
}

static int parse_int(const char *name, const char *value, long min, long max,
                     int *out, char *error, size_t error_size) {
  char *end;
  errno = 0;
  long n = strtol(value, &end, 10);
  if (errno != 0 || end == value || *end != '\0' || n < min || n > max) {
    snprintf(error, error_size, "%s \"%s\" is not an integer from %ld to %ld",
             name, value, min, max);
    return -1;
  }
  *out = (int)n;
  return 0;
}

static int replace(char **field, const char *value, char *error,
                   size_t error_size) {
  char *copy = strdup(value);
  if (copy == NULL) {
    snprintf(error, error_size, "out of memory");
    return -1;
  }
  free(*field);
  *field = copy;
  return 0;
}

int strata_server_settings_set(strata_server_settings *s, const char *name,
                               const char *value, char *error,
                               size_t error_size) {
  if (strcmp(name, "port") == 0)
    return parse_int(name, value, 0, 65535, &s->port, error, error_size);
  if (strcmp(name, "threads") == 0)
    return parse_int(name, value, 0, 1024, &s->threads, error, error_size);
  if (strcmp(name, "max_message_mb") == 0)
    return parse_int(name, value, 1, 2047, &s->max_message_mb, error,
                     error_size);

  struct {
    const char *name;
    char **field;
  } strings[] = {
      {"data", &s->data_dir},     {"host", &s->host},
      {"api_key", &s->api_key},   {"read_only_api_key", &s->read_only_api_key},
      {"tls_cert", &s->tls_cert}, {"tls_key", &s->tls_key},
  };
  for (size_t i = 0; i < sizeof strings / sizeof strings[0]; i++) {
    if (strcmp(name, strings[i].name) != 0)
      continue;
    if ((strcmp(name, "data") == 0 || strcmp(name, "host") == 0) &&
        value[0] == '\0') {
      snprintf(error, error_size, "%s must not be empty", name);
      return -1;
    }
    return replace(strings[i].field, value, error, error_size);
  }
  snprintf(error, error_size,
           "unknown setting \"%s\"; the settings are data, host, port, "
           "api_key, read_only_api_key, tls_cert, tls_key, threads, "
           "max_message_mb",
           name);
  return -1;
}

int strata_server_settings_load_file(strata_server_settings *settings,
                                     const char *path, char *error,
                                     size_t error_size) {
  json_error_t json_error;
  json_t *root = json_load_file(path, JSON_REJECT_DUPLICATES, &json_error);
  if (root == NULL) {
    snprintf(error, error_size,
             "cannot read configuration \"%s\": %s (line "
             "%d)",
             path, json_error.text, json_error.line);
    return -1;
  }
  if (!json_is_object(root)) {
    json_decref(root);
    snprintf(error, error_size, "configuration \"%s\" is not a JSON object",
             path);
    return -1;
  }

  const char *key;
  json_t *value;
  int rc = 0;
  json_object_foreach(root, key, value) {
    char text[32], detail[400];
    const char *as_text;
    if (json_is_string(value)) {
      as_text = json_string_value(value);
    } else if (json_is_integer(value)) {
      snprintf(text, sizeof text, "%lld", (long long)json_integer_value(value));
      as_text = text;
    } else {
      snprintf(error, error_size,
               "configuration \"%s\": %s must be a string or an integer", path,
               key);
      rc = -1;
      break;
    }
    if (strata_server_settings_set(settings, key, as_text, detail,
                                   sizeof detail) != 0) {
      snprintf(error, error_size, "configuration \"%s\": %s", path, detail);
      rc = -1;
      break;
    }
  }
  json_decref(root);
  return rc;
}

int strata_server_settings_load_env(strata_server_settings *settings,
                                    char *error, size_t error_size) {
  static const struct {
    const char *variable;
    const char *name;
  } variables[] = {
      {"STRATA_DATA", "data"},
      {"STRATA_HOST", "host"},
      {"STRATA_PORT", "port"},
      {"STRATA_API_KEY", "api_key"},
      {"STRATA_READ_ONLY_API_KEY", "read_only_api_key"},
  };
  for (size_t i = 0; i < sizeof variables / sizeof variables[0]; i++) {
    const char *value = getenv(variables[i].variable);
    char detail[400];
    if (value == NULL || value[0] == '\0')
      continue;
    if (strata_server_settings_set(settings, variables[i].name, value, detail,
                                   sizeof detail) != 0) {
      snprintf(error, error_size, "environment variable %s: %s",
               variables[i].variable, detail);
      return -1;
    }
  }
  return 0;
}
